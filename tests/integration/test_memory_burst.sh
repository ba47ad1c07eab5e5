#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_memory_burst.sh - the memory budget (memory_limit) against a burst of
# key cardinality, with a real broker.
#
# The topology groups service logs by [user_id, endpoint] (a 50k user pool:
# almost every event is its own group key, about 10x the keys of a
# per-[service, endpoint] or per-tenant aggregation) in 1-minute windows
# with a DDSketch per row. MEM_EVENTS events (default 300k) at 2500 events/s
# of event time make two windows of ~150k keys each; a flush record per
# partition, days later, closes both. Two runs over the same 2-partition
# input topic, one after the other (separate groups, outputs and state):
#   (a) without memory_limit: the in-memory window state grows with the
#       keys (its peak RSS is logged for comparison);
#   (b) with memory_limit: 64MB: window rows are evicted to RocksDB after
#       commits, early commits and, if needed, paused fetching keep the task
#       state under half the limit.
# RSS (ps -o rss) is sampled every second. Asserts: (b) never dies, its peak
# RSS stays below 64MB + MEM_OVERHEAD_MB (default 56: code, libraries,
# librdkafka and RocksDB threads and their arenas, malloc fragmentation, and
# the output and changelog records of one commit interval in flight; 48 was
# set from one 97 MB run, and on 2026-11-26 the build of the day before
# peaked at 106-112 MB here, the current one at 102-115 MB), it
# logged evictions, and its read_committed final results are byte-equal (as
# sorted multisets) to those of (a). MEM_LIMIT_MB and MEM_EMIT vary the
# budget and the emit mode (with updates and a small budget, the state left
# after an eviction is over the budget: input is paused and throttled).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_memory_burst
events=${MEM_EVENTS:-300000}
limit_mb=${MEM_LIMIT_MB:-64}
emit=${MEM_EMIT:-final} # e.g. "{updates: 30s}": rows waiting for updates are not evictable
overhead_mb=${MEM_OVERHEAD_MB:-56}
topic="$EOS_NAME-in"
partitions=2

"$EOS_EDDY" gen service-logs --count "$events" --event-rate 2500 --seed 3 \
    --output "$EOS_DIR/input.jsonl"
flush=$(head -n 1 "$EOS_DIR/input.jsonl" |
        sed -E "s/\"timestamp\":\"[^\"]*\"/\"timestamp\":\"$EOS_FLUSH_TIME\"/")

# mem_topology NAME LIMIT: $EOS_DIR/NAME.yaml (LIMIT empty: none)
mem_topology() {
    {
        echo "name: $1"
        [[ -z "$2" ]] || echo "memory_limit: $2"
        cat <<EOF
source:
  topic: $topic
  format: json
  timestamp: {field: timestamp, format: rfc3339}
  fields:
    service: string
    latency_ms: number
    endpoint: {type: string, required: false}
    user_id: {type: string, required: false}
aggregations:
  - name: user_endpoint_1m
    group_by: [user_id, endpoint]
    window: {tumbling: 1m}
    emit: $emit
    metrics:
      requests: count()
      latency_p95: quantile(latency_ms, 0.95)
      latency_max: max(latency_ms)
    output: {topic: $1-out}
EOF
    } >"$EOS_DIR/$1.yaml"
    "$EOS_EDDY" validate "$EOS_DIR/$1.yaml" >"$EOS_DIR/$1.validate" ||
        eos_fail "topology $1 does not validate"
}

mem_results() {
    timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$1-out" -o beginning -e -q -f '%s\n' \
        -X isolation.level=read_committed 2>/dev/null | grep -F -v "$EOS_FLUSH_WINDOW" |
        eos_keep_final || true
}

# mem_run ID: runs topology ID until its output is complete (the count of
# final results unchanged for 6 s, and equal to WANT when set), sampling its
# RSS every second; sets PEAK_KB, RUN_S, GOT.
mem_run() {
    local id=$1 want=${2:-} deadline last=-1 stable=0 rss pid t0
    t0=$SECONDS
    "$EOS_EDDY" run "$EOS_DIR/$id.yaml" --bootstrap "$EOS_BOOTSTRAP" \
        --state-dir "$EOS_DIR/state-$id" --instance a >"$EOS_DIR/$id.log" 2>&1 &
    pid=$!
    EOS_PIDS[$id]=$pid
    PEAK_KB=0
    deadline=$((SECONDS + 300))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || eos_fail "run $id died (see $EOS_DIR/$id.log)"
        rss=$(ps -o rss= -p "$pid" | tr -d ' ')
        ((rss > PEAK_KB)) && PEAK_KB=$rss
        if ((SECONDS % 3 == 0)); then
            GOT=$(mem_results "$id" | wc -l)
            if ((GOT > 0 && GOT == last)) && [[ -z "$want" || "$GOT" == "$want" ]]; then
                stable=$((stable + 1))
                if ((stable >= 2)); then break; fi
            else
                stable=0
            fi
            last=$GOT
        fi
        sleep 1
    done
    ((stable >= 2)) || eos_fail "run $id: output incomplete after 300 s ($GOT results)"
    RUN_S=$((SECONDS - t0))
    rss=$(ps -o rss= -p "$pid" | tr -d ' ')
    ((rss > PEAK_KB)) && PEAK_KB=$rss
    kill -TERM "$pid"
    wait "$pid" || eos_fail "run $id exited with status $? after SIGTERM"
    unset "EOS_PIDS[$id]"
    mem_results "$id" | LC_ALL=C sort >"$EOS_DIR/$id.results"
}

timeout 120 "$eos_kafka" create-topic "$topic" --partitions "$partitions" >/dev/null ||
    eos_fail "cannot create topic $topic"
timeout 120 kcat -b "$EOS_BOOTSTRAP" -P -t "$topic" -l -X enable.idempotence=true \
    "$EOS_DIR/input.jsonl" || eos_fail "cannot produce the input"
for ((p = 0; p < partitions; p++)); do
    echo "$flush" | timeout 60 kcat -b "$EOS_BOOTSTRAP" -P -t "$topic" -p "$p" ||
        eos_fail "cannot produce the flush record"
done

mem_topology "$EOS_NAME-full" ""
mem_topology "$EOS_NAME-limited" "${limit_mb}MB"
grep -qx "memory_limit: $((limit_mb << 20)) bytes" "$EOS_DIR/$EOS_NAME-limited.validate" ||
    eos_fail "eddy validate does not print the memory limit"

mem_run "$EOS_NAME-full"
full_peak=$PEAK_KB full_s=$RUN_S full_n=$GOT
eos_log "(a) no memory_limit: peak RSS $((full_peak / 1024)) MB, $full_n results, ${full_s} s"
mem_run "$EOS_NAME-limited" "$full_n"
lim_peak=$PEAK_KB lim_s=$RUN_S
eos_log "(b) memory_limit ${limit_mb}MB: peak RSS $((lim_peak / 1024)) MB, $GOT results, ${lim_s} s"
evicted=$(grep -c 'memory: .*evicted' "$EOS_DIR/$EOS_NAME-limited.log" || true)
counts=$(grep -o '([0-9]* evictions, [0-9]* early commits, [0-9]* pauses so far)' \
         "$EOS_DIR/$EOS_NAME-limited.log" | tail -n 1 || true)
pauses=$(grep -c 'memory: .*pausing input' "$EOS_DIR/$EOS_NAME-limited.log" || true)
eos_log "(b) last eviction log: ${counts:-none}; $pauses pauses logged"
((evicted > 0)) || eos_fail "the limited run never evicted"
((lim_peak < (limit_mb + overhead_mb) * 1024)) ||
    eos_fail "peak RSS $((lim_peak / 1024)) MB over ${limit_mb}MB + ${overhead_mb}MB"
cmp -s "$EOS_DIR/$EOS_NAME-full.results" "$EOS_DIR/$EOS_NAME-limited.results" || {
    diff "$EOS_DIR/$EOS_NAME-full.results" "$EOS_DIR/$EOS_NAME-limited.results" | head -n 10
    eos_fail "results with and without memory_limit differ"
}
eos_pass "peak RSS $((lim_peak / 1024)) MB with memory_limit ${limit_mb}MB" \
    "($((full_peak / 1024)) MB without), results identical ($full_n)"
