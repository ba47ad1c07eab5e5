# shellcheck shell=bash
# tests/integration/lib.sh - shared helpers of the Kafka-mode crash-safety
# tests (tests/integration/test_eos_*.sh). Source it after `set -euo pipefail`.
#
# The model these tests check against. Kafka mode runs one task per input
# partition; a task's output depends only on the records of its partition, in
# offset order. So the tests
#   - route every service to one fixed partition of a 4-partition input topic
#     (EOS_MAP below; records without a readable service go by line number),
#     so that no group key of the topology (data/eos.yaml: aggregations by
#     service and by [service, endpoint]) spans partitions;
#   - end every partition file with one "flush" record a few days after the
#     input (service of that partition, its own window), so every real window
#     closes in Kafka mode too (Kafka mode never sees an end of input);
#   - compute the expected output with one LOCAL-mode run per partition file:
#     same records in the same order, so same stream time, same dedup, same
#     late records. The flush record's own window is dropped from it (local
#     mode closes it at end of input, Kafka mode never does);
#   - produce partition file P into partition P of an empty topic, so a line's
#     0-based line number is its Kafka offset;
#   - read the outputs back with an independent reader (kcat,
#     isolation.level=read_committed), keep results with "final":true and
#     alerts, and compare them as sorted multisets with the local results:
#     every window exactly once, byte-equal lines. Dead letters compare as the
#     multiset of (partition, offset, reason, detail, raw).
#
# Files of one test run live in EOS_DIR (/tmp/eddy-eos-<test>.XXXXXX), removed
# when the test passes, kept (and named in the output) when it fails.
# Every eddy started with eos_start is SIGKILLed by the EXIT trap; every wait
# is bounded.

eos_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
eos_kafka="$eos_root/scripts/kafka"
EOS_EDDY="${EDDY_BIN:-$eos_root/build/eddy}"
EOS_PARTITIONS=4
# the start of the generator's event time is 2025-04-30T10:00:00Z; the flush
# records sit far after any input these tests generate
EOS_FLUSH_TIME="2025-05-10T00:00:00.000Z"
EOS_FLUSH_WINDOW='"start":"2025-05-10T00:00:00Z"'
# eddy properties of every instance: quick failure detection, so that a killed
# instance's partitions move and its open transaction aborts within seconds
EOS_X=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500
       -X transaction.timeout.ms=10000)

declare -gA EOS_PIDS=()
EOS_CLEANUP=() # extra commands run by the EXIT trap (after the eddy kills)
EOS_OK=0

eos_log() { echo "$EOS_TEST: $*"; }

# eos_init TEST: run id, work dir, traps.
eos_init() {
    EOS_TEST=$1
    [[ -x "$EOS_EDDY" ]] || { echo "FAIL $EOS_TEST: no eddy binary at $EOS_EDDY"; exit 1; }
    EOS_BOOTSTRAP="${EOS_BOOTSTRAP:-${EDDY_BOOTSTRAP:-127.0.0.1:9092}}"
    EOS_NAME="eos-${EOS_TEST#test_eos_}-$$-$(date +%s)"
    EOS_NAME="${EOS_NAME//_/-}"
    EOS_DIR="$(mktemp -d "/tmp/eddy-${EOS_TEST}.XXXXXX")"
    EOS_T0=$SECONDS
    trap eos_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    eos_log "run $EOS_NAME, files in $EOS_DIR, bootstrap $EOS_BOOTSTRAP"
}

eos_cleanup() {
    local status=$? id
    for id in "${!EOS_PIDS[@]}"; do
        kill -KILL "${EOS_PIDS[$id]}" 2>/dev/null || true
        wait "${EOS_PIDS[$id]}" 2>/dev/null || true
    done
    local c
    for c in "${EOS_CLEANUP[@]}"; do
        eval "$c" || true
    done
    if ((EOS_OK && status == 0)) && [[ -z "${EOS_KEEP:-}" ]]; then
        rm -rf "$EOS_DIR"
    else
        echo "$EOS_TEST: files kept in $EOS_DIR"
    fi
}

eos_fail() {
    echo "FAIL $EOS_TEST: $*"
    local f
    for f in "$EOS_DIR"/*.log; do
        [[ -f "$f" ]] || continue
        echo "--- last lines of $f"
        tail -n 15 "$f"
    done
    exit 1
}

eos_pass() {
    EOS_OK=1
    echo "PASS $EOS_TEST: $* ($((SECONDS - EOS_T0)) s)"
}

# eos_topology [PROCESSING]: writes $EOS_DIR/topology.yaml from data/eos.yaml.
eos_topology() {
    local processing=${1:-exactly_once}
    sed -e "s|@NAME@|$EOS_NAME|g" -e "s|@TABLE@|$eos_root/topologies/services.yaml|g" \
        -e "s|@PROCESSING@|$processing|g" "$eos_root/tests/integration/data/eos.yaml" \
        >"$EOS_DIR/topology.yaml"
    "$EOS_EDDY" validate "$EOS_DIR/topology.yaml" >/dev/null ||
        eos_fail "the test topology does not validate"
    EOS_TOPIC="$EOS_NAME-in"
    EOS_OUTPUTS=("$EOS_NAME-service-1m" "$EOS_NAME-endpoint-1m" "$EOS_NAME-alerts")
    EOS_DLQ="$EOS_NAME-dlq"
}

# eos_gen COUNT EVENT_RATE SEED [CHUNKS]: input split into partition files
# $EOS_DIR/pP.jsonl (each ending with its flush record) and each of those into
# CHUNKS consecutive chunk files $EOS_DIR/pP.cNN.
eos_gen() {
    local count=$1 rate=$2 seed=$3 chunks=${4:-1} p
    "$EOS_EDDY" gen service-logs --count "$count" --event-rate "$rate" --seed "$seed" \
        --dup-rate 0.05 --late-rate 0.02 --max-late 3m --malformed-rate 0.005 \
        --output "$EOS_DIR/all.jsonl"
    # EOS_MAP: search, checkout -> 0; auth, payment -> 1; catalog,
    # notification -> 2; user, inventory -> 3 (about a quarter of traffic each)
    awk -v dir="$EOS_DIR" -v n="$EOS_PARTITIONS" -v flush="$EOS_FLUSH_TIME" '
        BEGIN {
            part["search-service"] = 0; part["checkout-service"] = 0
            part["auth-service"] = 1; part["payment-service"] = 1
            part["catalog-service"] = 2; part["notification-service"] = 2
            part["user-service"] = 3; part["inventory-service"] = 3
            first["0"] = "search-service"; first["1"] = "auth-service"
            first["2"] = "catalog-service"; first["3"] = "user-service"
        }
        {
            p = (NR - 1) % n
            if (match($0, /^\{"service":"[a-z-]+"/)) {
                s = substr($0, 13, RLENGTH - 13)
                if (s in part) p = part[s]
            }
            print > (dir "/p" p ".jsonl")
        }
        END {
            for (p = 0; p < n; p++)
                printf "{\"service\":\"%s\",\"timestamp\":\"%s\",\"status_code\":200," \
                       "\"latency_ms\":1,\"request_id\":\"flush-%d\",\"endpoint\":\"/flush\"}\n",
                       first[p ""], flush, p > (dir "/p" p ".jsonl")
        }' "$EOS_DIR/all.jsonl"
    # chunks, each ending with a marker line (malformed: a dead letter whose
    # appearance on the read_committed DLQ proves its chunk committed)
    EOS_CHUNKS=$chunks
    local i c
    for ((p = 0; p < EOS_PARTITIONS; p++)); do
        split -n "l/$chunks" -d -a 2 "$EOS_DIR/p$p.jsonl" "$EOS_DIR/p$p.c"
        for ((i = 0; i < chunks; i++)); do
            printf -v c '%02d' "$i"
            echo "eos-marker c$c p$p" >>"$EOS_DIR/p$p.c$c"
        done
        cat "$EOS_DIR/p$p.c"* >"$EOS_DIR/p$p.jsonl"
    done
}

# eos_expected: local-mode runs per partition file -> $EOS_DIR/expected.results
# (final results and alerts, sorted) and $EOS_DIR/expected.dlq (sorted
# [partition, offset, reason, detail, raw]).
eos_expected() {
    local p
    : >"$EOS_DIR/expected.results.unsorted"
    : >"$EOS_DIR/expected.dlq.unsorted"
    for ((p = 0; p < EOS_PARTITIONS; p++)); do
        "$EOS_EDDY" run "$EOS_DIR/topology.yaml" --input "$EOS_DIR/p$p.jsonl" \
            --output "$EOS_DIR/local-p$p.out" --dlq "$EOS_DIR/local-p$p.dlq" \
            2>>"$EOS_DIR/local.stderr" || eos_fail "local run over partition $p failed"
        grep -F -v "$EOS_FLUSH_WINDOW" "$EOS_DIR/local-p$p.out" | eos_keep_final \
            >>"$EOS_DIR/expected.results.unsorted" || true
        jq -c --argjson p "$p" '[$p, .source.offset, .reason, .detail, .raw]' \
            "$EOS_DIR/local-p$p.dlq" >>"$EOS_DIR/expected.dlq.unsorted"
    done
    LC_ALL=C sort "$EOS_DIR/expected.results.unsorted" >"$EOS_DIR/expected.results"
    LC_ALL=C sort "$EOS_DIR/expected.dlq.unsorted" >"$EOS_DIR/expected.dlq"
    EOS_EXPECTED_RESULTS=$(wc -l <"$EOS_DIR/expected.results")
    EOS_EXPECTED_DLQ=$(wc -l <"$EOS_DIR/expected.dlq")
    ((EOS_EXPECTED_RESULTS > 0)) || eos_fail "the local runs closed no window"
    eos_log "expected: $EOS_EXPECTED_RESULTS final results and alerts," \
        "$EOS_EXPECTED_DLQ dead letters ($(grep -c '"late"' "$EOS_DIR/expected.dlq" || true) late)"
}

# final results and alerts only
eos_keep_final() { grep -E '"final":true|^\{"alert":' || true; }

eos_kcat() { kcat -b "$EOS_BOOTSTRAP" "$@"; }

# eos_free_port: a TCP port of 127.0.0.1 nobody listens on now (the kernel's
# pick; a random one may be a client connection's ephemeral port).
eos_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# eos_create_input: the 4-partition input topic (replication: scripts/kafka's
# default for the cluster in EDDY_KAFKA_PORT/EDDY_KAFKA_DIR).
eos_create_input() {
    timeout 120 "$eos_kafka" create-topic "$EOS_TOPIC" --partitions "$EOS_PARTITIONS" "$@" \
        >/dev/null || eos_fail "cannot create topic $EOS_TOPIC"
}

# eos_produce_chunk I: chunk I of every partition file into its partition.
eos_produce_chunk() {
    local i p f
    printf -v i '%02d' "$1"
    for ((p = 0; p < EOS_PARTITIONS; p++)); do
        f="$EOS_DIR/p$p.c$i"
        [[ -s "$f" ]] || continue
        timeout 60 kcat -b "$EOS_BOOTSTRAP" -P -t "$EOS_TOPIC" -p "$p" -l \
            -X enable.idempotence=true "$f" 2>"$EOS_DIR/kcat-produce.stderr" || {
            tail -n 5 "$EOS_DIR/kcat-produce.stderr"
            eos_fail "kcat could not produce $f to ${EOS_TOPIC}[$p]"
        }
    done
}

# eos_produce_all [PAUSE_S [FIRST [LAST]]]: chunks FIRST..LAST (default: all)
# in order, PAUSE_S seconds after each but the last.
eos_produce_all() {
    local pause=${1:-0} first=${2:-0} last=${3:-$((EOS_CHUNKS - 1))} i
    for ((i = first; i <= last; i++)); do
        eos_produce_chunk "$i"
        ((i == last)) || sleep "$pause"
    done
}

# eos_wait_chunk I TIMEOUT_S: waits until the markers of chunk I of every
# partition are on the read_committed DLQ (so chunks 0..I are processed and
# committed).
eos_wait_chunk() {
    local i deadline n
    printf -v i '%02d' "$1"
    deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        n=$(timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_DLQ" -o beginning -e -q -f '%s\n' \
            -X isolation.level=read_committed 2>/dev/null | grep -c "eos-marker c$i p" || true)
        ((n < EOS_PARTITIONS)) || return 0
        eos_check_alive
        sleep 1
    done
    eos_fail "chunk $i was not committed within $2 s ($n of $EOS_PARTITIONS markers)"
}

# eos_check_input: every partition holds exactly its file (offset = line).
eos_check_input() {
    local p want got
    for ((p = 0; p < EOS_PARTITIONS; p++)); do
        want=$(wc -l <"$EOS_DIR/p$p.jsonl")
        got=$(timeout 30 kcat -b "$EOS_BOOTSTRAP" -Q -t "$EOS_TOPIC:$p:-1" 2>/dev/null |
              awk '{print $NF}')
        [[ "$got" == "$want" ]] ||
            eos_fail "input partition $p ends at offset '$got', expected $want (lines)"
    done
}

# eos_start ID [ARGS...]: one Kafka-mode instance in the background, its log
# in $EOS_DIR/ID.log (appended across restarts), its state in
# $EOS_DIR/state-ID.
eos_start() {
    local id=$1
    shift
    echo "=== start $(date -u +%H:%M:%S)" >>"$EOS_DIR/$id.log"
    "$EOS_EDDY" run "$EOS_DIR/topology.yaml" --bootstrap "$EOS_BOOTSTRAP" \
        --state-dir "$EOS_DIR/state-$id" --instance "$id" "${EOS_X[@]}" "$@" \
        >>"$EOS_DIR/$id.log" 2>&1 &
    EOS_PIDS[$id]=$!
    eos_log "started instance $id (pid ${EOS_PIDS[$id]})"
}

eos_alive() { kill -0 "${EOS_PIDS[$1]}" 2>/dev/null; }

# eos_kill9 ID
eos_kill9() {
    local id=$1
    eos_alive "$id" || eos_fail "instance $id died before it was killed"
    kill -KILL "${EOS_PIDS[$id]}"
    wait "${EOS_PIDS[$id]}" 2>/dev/null || true
    unset "EOS_PIDS[$id]"
    echo "=== kill -9 $(date -u +%H:%M:%S)" >>"$EOS_DIR/$id.log"
    eos_log "killed instance $id with SIGKILL"
}

# eos_term ID [TIMEOUT_S]: SIGTERM, then the instance must exit 0 in time.
eos_term() {
    local id=$1 limit=${2:-60} pid status=0 t
    pid=${EOS_PIDS[$id]}
    eos_alive "$id" || eos_fail "instance $id died before it was stopped"
    kill -TERM "$pid"
    for ((t = 0; t < limit * 10; t++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && eos_fail "instance $id did not exit within $limit s of SIGTERM"
    wait "$pid" || status=$?
    unset "EOS_PIDS[$id]"
    ((status == 0)) || eos_fail "instance $id exited with status $status after SIGTERM"
    eos_log "instance $id stopped cleanly with SIGTERM"
}

# eos_since_start ID: the log lines of the instance's latest start.
eos_since_start() {
    awk '/^=== start/ { n = 0; delete l; next } { l[++n] = $0 } END { for (i = 1; i <= n; i++) print l[i] }' \
        "$EOS_DIR/$1.log"
}

# eos_since_start_killed ID: like eos_since_start, for an instance killed
# since (the lines between its latest start and the kill).
eos_since_start_killed() {
    awk '/^=== start/ { n = 0; delete l; next } /^=== kill/ { k = n } { l[++n] = $0 } END { for (i = 1; i <= k; i++) print l[i] }' \
        "$EOS_DIR/$1.log"
}

# eos_wait_log ID REGEX TIMEOUT_S: waits until the instance, since its latest
# start, has logged a line matching REGEX (polled every 0.1 s).
eos_wait_log() {
    local deadline=$((SECONDS + $3))
    until eos_since_start "$1" | grep -q -E -- "$2"; do
        ((SECONDS < deadline)) || eos_fail "instance $1 logged no line matching '$2' within $3 s"
        eos_check_alive
        sleep 0.1
    done
}

# eos_wait_assigned ID...: waits (30 s at most) until each instance, since its
# latest start, has opened a task of an input partition.
eos_wait_assigned() {
    local id deadline=$((SECONDS + 30))
    for id in "$@"; do
        until eos_since_start "$id" | grep -q 'task: partition [0-9]* ready'; do
            ((SECONDS < deadline)) || eos_fail "instance $id got no input partition within 30 s"
            eos_check_alive
            sleep 0.5
        done
    done
}

# eos_wait_ready ID N [TIMEOUT_S]: waits until the instance, since its latest
# start, has opened tasks for N distinct input partitions.
eos_wait_ready() {
    local id=$1 want=$2 limit=${3:-60} deadline n
    deadline=$((SECONDS + limit))
    while :; do
        n=$(eos_since_start "$id" | { grep -o 'task: partition [0-9]* ready' || true; } |
            sort -u | wc -l)
        ((n < want)) || return 0
        ((SECONDS < deadline)) ||
            eos_fail "instance $id opened $n of $want input partitions within $limit s"
        eos_check_alive
        sleep 0.5
    done
}

# eos_restore_summary ID: changelog reads since the instance's latest start:
# "R records from S store partitions in T s (R/T records/s)".
eos_restore_summary() {
    eos_since_start "$1" |
        awk '/kafka: read .*-changelog\[[0-9]+\]: [0-9]+ records in/ {
                 for (i = 1; i <= NF; i++) {
                     if ($i == "records" && $(i + 1) == "in") { r += $(i - 1); t += $(i + 2) }
                 }
                 n++
             }
             END { printf "%d records from %d store partitions in %.1f s (%.0f records/s)\n",
                          r, n, t, (t > 0 ? r / t : 0) }'
}

# eos_count_results [ISOLATION]: final results and alerts on the outputs now
# (read_committed by default).
eos_count_results() {
    local t n=0 c
    for t in "${EOS_OUTPUTS[@]}"; do
        c=$(timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f '%s\n' \
            -X "isolation.level=${1:-read_committed}" 2>/dev/null | eos_keep_final | wc -l)
        n=$((n + c))
    done
    echo "$n"
}

# eos_count_dlq [ISOLATION]: dead letters on the DLQ now.
eos_count_dlq() {
    timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_DLQ" -o beginning -e -q -f '%s\n' \
        -X "isolation.level=${1:-read_committed}" 2>/dev/null | wc -l
}

# eos_check_alive: every started instance still runs.
eos_check_alive() {
    local id
    for id in "${!EOS_PIDS[@]}"; do
        eos_alive "$id" || eos_fail "instance $id exited unexpectedly"
    done
}

# eos_read_output: read_committed outputs -> $EOS_DIR/actual.results (final
# results and alerts, sorted) and $EOS_DIR/actual.dlq; sets EOS_GOT_RESULTS,
# EOS_GOT_DLQ.
eos_read_output() {
    local t
    : >"$EOS_DIR/actual.results.unsorted"
    for t in "${EOS_OUTPUTS[@]}"; do
        timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f '%s\n' \
            -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" |
            eos_keep_final >>"$EOS_DIR/actual.results.unsorted" || true
    done
    timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_DLQ" -o beginning -e -q -f '%s\n' \
        -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" |
        jq -c '[.source.partition, .source.offset, .reason, .detail, .raw]' \
        >"$EOS_DIR/actual.dlq.unsorted" || true
    LC_ALL=C sort "$EOS_DIR/actual.results.unsorted" >"$EOS_DIR/actual.results"
    LC_ALL=C sort "$EOS_DIR/actual.dlq.unsorted" >"$EOS_DIR/actual.dlq"
    EOS_GOT_RESULTS=$(wc -l <"$EOS_DIR/actual.results")
    EOS_GOT_DLQ=$(wc -l <"$EOS_DIR/actual.dlq")
}

# eos_wait_output TIMEOUT_S: polls the outputs until they hold the expected
# number of final results and dead letters and stay so for one more poll
# (so extra records would show), or the time is up; instances must stay alive.
eos_wait_output() {
    local limit=$1 deadline stable=0
    deadline=$((SECONDS + limit))
    while ((SECONDS < deadline)); do
        eos_read_output
        if ((EOS_GOT_RESULTS == EOS_EXPECTED_RESULTS && EOS_GOT_DLQ == EOS_EXPECTED_DLQ)); then
            stable=$((stable + 1))
            if ((stable >= 2)); then return 0; fi
        else
            stable=0
            # more than expected is wrong already: compare now
            if ((EOS_GOT_RESULTS > EOS_EXPECTED_RESULTS)); then return 0; fi
        fi
        eos_check_alive
        sleep 2
    done
    eos_log "output incomplete after $limit s: $EOS_GOT_RESULTS of $EOS_EXPECTED_RESULTS" \
        "results, $EOS_GOT_DLQ of $EOS_EXPECTED_DLQ dead letters"
}

# eos_compare: the read_committed outputs against the local runs.
eos_compare() {
    local bad=0 dups
    dups=$(uniq -d "$EOS_DIR/actual.results" | wc -l)
    if ! cmp -s "$EOS_DIR/expected.results" "$EOS_DIR/actual.results"; then
        bad=1
        echo "$EOS_TEST: results differ: $EOS_GOT_RESULTS read_committed vs" \
            "$EOS_EXPECTED_RESULTS local; $dups duplicated lines (< local only, > Kafka only):"
        diff "$EOS_DIR/expected.results" "$EOS_DIR/actual.results" | grep '^[<>]' |
            cut -c1-400 | head -n 20 || true
    fi
    if ! cmp -s "$EOS_DIR/expected.dlq" "$EOS_DIR/actual.dlq"; then
        bad=1
        echo "$EOS_TEST: dead letters differ: $EOS_GOT_DLQ read_committed vs" \
            "$EOS_EXPECTED_DLQ local (< local only, > Kafka only):"
        diff "$EOS_DIR/expected.dlq" "$EOS_DIR/actual.dlq" | grep '^[<>]' | cut -c1-300 |
            head -n 20 || true
    fi
    ((bad == 0)) || eos_fail "read_committed output is not the local result exactly once"
    eos_log "outputs equal: $EOS_GOT_RESULTS final results and alerts, $EOS_GOT_DLQ dead" \
        "letters, each exactly once, byte-equal to the local runs"
}

# eos_stats ID: the instance's last progress line (records/s, commits, latency).
eos_stats() {
    local line
    line=$(grep -E 'records/s, [0-9]+ commits' "$EOS_DIR/$1.log" | tail -n 1 |
           sed -e 's/.*engine: //' -e 's/; tasks since opened.*//' || true)
    echo "${line:-(no progress line yet: it ran less than 10 s)}"
}
