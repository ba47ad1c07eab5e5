#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_backfill.sh - `eddy backfill` against a real broker (docs/backfill.md).
#
# Input: 60k service-log events (duplicates, malformed events) over 100
# minutes of event time ending about an hour ago, produced by `eddy gen
# --topic --record-time event` into a 4-partition topic keyed by service, each
# record's Kafka timestamp being the generator's clock (the newest event time
# so far).
# Topology: tests/integration/data/backfill.yaml (an aggregation by service,
# computed where records arrive; one by region, through a repartition topic;
# an alert).
#  1. the live topology (`eddy run`) processes all of it; its output topics
#     are dumped (partition, offset, key, value of every record);
#  2. `eddy backfill --from T1 --to T2` (version 2), throttled so that it
#     takes a while, is killed with SIGKILL once it has logged a progress
#     line between 10% and 89%, then restarted with the same version: it must
#     restore its state, finish and exit 0;
#  3. the read_committed .v2 outputs must hold exactly the final rows and
#     alerts of a local-mode run (`eddy run --input`) over the records whose
#     Kafka timestamp is in [T1, T2) (all windows, including those a live run
#     keeps open, since a bounded backfill flushes at the end), each once,
#     byte-equal; the .v2 dead letters exactly the local ones;
#  4. the progress lines have the documented form, never go backwards within
#     a run, and reach 100%;
#  5. the live output topics are byte-identical to their dump from step 1;
#  6. running the finished backfill again exits 0 and adds no output;
#  7. an open-ended backfill (version 3, no --to) logs "backfill caught up:
#     live from here", keeps running, and stops cleanly on SIGTERM.
# Helpers and conventions: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_backfill
command -v jq >/dev/null || eos_fail "jq is needed"

sed -e "s|@NAME@|$EOS_NAME|g" "$eos_root/tests/integration/data/backfill.yaml" \
    >"$EOS_DIR/topology.yaml"
"$EOS_EDDY" validate "$EOS_DIR/topology.yaml" >/dev/null || eos_fail "the topology does not validate"
EOS_TOPIC="$EOS_NAME-in"
EOS_DLQ="$EOS_NAME-dlq" # the live one (eos_count_dlq)
live_topics=("$EOS_NAME-service_1m" "$EOS_NAME-region_1m" "$EOS_NAME-alerts" "$EOS_NAME-dlq")
v2_results=("$EOS_NAME-service_1m.v2" "$EOS_NAME-region_1m.v2" "$EOS_NAME-alerts.v2")
v2_dlq="$EOS_NAME-dlq.v2"

# event time: 100 minutes starting 160 minutes ago (whole minutes), so the
# records' timestamps are recent (topic retention) and all in the past
start_s=$(( ($(date +%s) - 9600) / 60 * 60 ))
start=$(date -u -d "@$start_s" +%Y-%m-%dT%H:%M:%SZ)
t1_s=$((start_s + 1200))
t2_s=$((start_s + 4800))
t1=$(date -u -d "@$t1_s" +%Y-%m-%dT%H:%M:%SZ)
t2=$(date -u -d "@$t2_s" +%Y-%m-%dT%H:%M:%SZ)

eos_create_input
"$EOS_EDDY" gen service-logs --count 60000 --event-rate 10 --start "$start" --seed 29 \
    --dup-rate 0.05 --malformed-rate 0.005 --topic "$EOS_TOPIC" --record-time event \
    --bootstrap "$EOS_BOOTSTRAP" \
    2>"$EOS_DIR/gen.log" || eos_fail "eddy gen --topic failed"
eos_log "produced 60000 events from $start; backfill range [$t1, $t2)"

# --- the input as produced, and the expected backfill output ---------------
timeout 120 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_TOPIC" -o beginning -e -q \
    -f '%T %p %o %s\n' >"$EOS_DIR/input.txt" 2>>"$EOS_DIR/kcat.stderr"
n_input=$(wc -l <"$EOS_DIR/input.txt")
((n_input == 60000)) || eos_fail "read back $n_input input records, expected 60000"
# every record's timestamp is the generator's clock: non-decreasing in each
# partition, and equal to the event time of non-duplicate, well-formed events
awk '{ if ($1 < last[$2]) bad++; last[$2] = $1 } END { exit (bad ? 1 : 0) }' "$EOS_DIR/input.txt" ||
    eos_fail "record timestamps go backwards within a partition"
first=$(awk 'NR == 1 || $1 < min { min = $1 } END { print min }' "$EOS_DIR/input.txt")
((first == start_s * 1000)) || eos_fail "the first record's timestamp is $first, not $start"
# the default, --record-time send: every record stamped with the time it
# was sent, whatever --start says (it used to be --start for all of them,
# which the broker's retention then deleted)
timeout 120 "$eos_kafka" create-topic "$EOS_NAME-sendtime" --partitions 1 >/dev/null ||
    eos_fail "cannot create topic $EOS_NAME-sendtime"
sent_from=$(($(date +%s%3N) - 1000))
"$EOS_EDDY" gen service-logs --count 300 --start 2025-04-30T10:00:00Z --seed 3 \
    --topic "$EOS_NAME-sendtime" --bootstrap "$EOS_BOOTSTRAP" 2>>"$EOS_DIR/gen.log" ||
    eos_fail "eddy gen --topic (record time send) failed"
sent_to=$(($(date +%s%3N) + 1000))
timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_NAME-sendtime" -o beginning -e -q -f '%T\n' \
    >"$EOS_DIR/sendtime.txt" 2>>"$EOS_DIR/kcat.stderr"
awk -v lo="$sent_from" -v hi="$sent_to" '$1 < lo || $1 > hi { bad++ }
    END { exit (NR == 300 && !bad ? 0 : 1) }' "$EOS_DIR/sendtime.txt" ||
    eos_fail "--record-time send: $(wc -l <"$EOS_DIR/sendtime.txt") records, timestamps" \
        "$(sort -n "$EOS_DIR/sendtime.txt" | sed -n '1p;$p' | tr '\n' ' ')" \
        "not within [$sent_from, $sent_to]"
# the input in timestamp order (per partition: offset order), so that a
# local run sees no record late; and the records of [T1, T2)
sort -s -k1,1n -k2,2n -k3,3n "$EOS_DIR/input.txt" >"$EOS_DIR/input.sorted"
cut -d' ' -f4- "$EOS_DIR/input.sorted" >"$EOS_DIR/all.jsonl"
awk -v a=$((t1_s * 1000)) -v b=$((t2_s * 1000)) '$1 >= a && $1 < b' "$EOS_DIR/input.sorted" |
    cut -d' ' -f4- >"$EOS_DIR/range.jsonl"
n_range=$(wc -l <"$EOS_DIR/range.jsonl")
"$EOS_EDDY" run "$EOS_DIR/topology.yaml" --input "$EOS_DIR/range.jsonl" \
    --output "$EOS_DIR/local.out" --dlq "$EOS_DIR/local.dlq" 2>"$EOS_DIR/local.stderr" ||
    eos_fail "the local run failed"
eos_keep_final <"$EOS_DIR/local.out" | LC_ALL=C sort >"$EOS_DIR/expected.results"
jq -c '[.reason, .detail, .raw]' "$EOS_DIR/local.dlq" | LC_ALL=C sort >"$EOS_DIR/expected.dlq"
n_expected=$(wc -l <"$EOS_DIR/expected.results")
((n_expected > 100)) || eos_fail "the local run emitted only $n_expected final rows"
eos_log "expected: $n_range records in range -> $n_expected final rows and alerts," \
    "$(wc -l <"$EOS_DIR/expected.dlq") dead letters"

# --- 1. the live topology over everything ------------------------------------
dump_live() { # dump_live FILE: every record of the live outputs, uncommitted ones too
    local t
    : >"$1"
    for t in "${live_topics[@]}"; do
        timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q \
            -f "$t %p %o %k %s\n" 2>>"$EOS_DIR/kcat.stderr" >>"$1" || true
    done
}
"$EOS_EDDY" run "$EOS_DIR/topology.yaml" --input "$EOS_DIR/all.jsonl" \
    --output /dev/null --dlq "$EOS_DIR/all.dlq" 2>/dev/null || eos_fail "local run over all failed"
n_live_dlq=$(wc -l <"$EOS_DIR/all.dlq")
eos_start live
deadline=$((SECONDS + 120))
until (($(eos_count_dlq) == n_live_dlq)); do
    ((SECONDS < deadline)) || eos_fail "the live run did not dead-letter all $n_live_dlq records"
    eos_check_alive
    sleep 1
done
dump_live "$EOS_DIR/live.before"
while :; do # until two dumps 2 s apart are equal
    sleep 2
    dump_live "$EOS_DIR/live.again"
    cmp -s "$EOS_DIR/live.before" "$EOS_DIR/live.again" && break
    mv "$EOS_DIR/live.again" "$EOS_DIR/live.before"
    ((SECONDS < deadline)) || eos_fail "the live outputs do not settle"
done
eos_log "live run done: $(wc -l <"$EOS_DIR/live.before") records on its output topics"

# --- 2. backfill, kill -9 halfway, restart ------------------------------------
# bf_start ID [ARGS...]: like eos_start, for `eddy backfill` version 2
bf_start() {
    local id=$1
    shift
    echo "=== start $(date -u +%H:%M:%S)" >>"$EOS_DIR/$id.log"
    "$EOS_EDDY" backfill "$EOS_DIR/topology.yaml" --from "$t1" --to "$t2" \
        --bootstrap "$EOS_BOOTSTRAP" --state-dir "$EOS_DIR/state-$id" --instance "$id" \
        "${EOS_X[@]}" "$@" >>"$EOS_DIR/$id.log" 2>&1 &
    EOS_PIDS[$id]=$!
    eos_log "started backfill $id (pid ${EOS_PIDS[$id]})"
}
# bf_wait ID TIMEOUT_S: the backfill must exit 0 in time
bf_wait() {
    local id=$1 pid=${EOS_PIDS[$1]} status=0 t
    for ((t = 0; t < $2 * 10; t++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && eos_fail "backfill $id did not finish within $2 s"
    wait "$pid" || status=$?
    unset "EOS_PIDS[$id]"
    ((status == 0)) || eos_fail "backfill $id exited with status $status"
}
progress_re='backfill: ([0-9]+)% \([0-9.]+[kMG]? of [0-9.]+[kMG]? records\), [0-9.]+[kMG]? records/s, ETA ([0-9]+ s|[0-9]+ min [0-9]+ s|[0-9]+ h [0-9]+ min|\?)$'

# slow fetches (the broker holds each for 300 ms) so that it is killed halfway
bf_start bf -X consumer.fetch.min.bytes=100000000 -X consumer.fetch.wait.max.ms=300 \
    -X consumer.max.partition.fetch.bytes=16384
deadline=$((SECONDS + 90))
# (grep -c, not -q, after a pipe: an early exit would fail the pipeline)
until (($(eos_since_start bf | grep -E -- "$progress_re" | grep -c -E 'backfill: ([1-8][0-9])% ') > 0)); do
    ((SECONDS < deadline)) || eos_fail "backfill logged no progress between 10% and 89% in 90 s"
    eos_alive bf || eos_fail "the backfill exited before it was killed (too fast to kill halfway?)"
    sleep 0.1
done
eos_kill9 bf
eos_since_start_killed bf >"$EOS_DIR/bf.first.log"
killed_at=$(grep -E -o 'backfill: [0-9]+%' "$EOS_DIR/bf.first.log" | tail -n 1)
eos_log "killed the backfill at '$killed_at'"
bf_start bf
bf_wait bf 180
eos_since_start bf >"$EOS_DIR/bf.second.log"
# it resumed: its tasks came back with the stream times committed before
grep -q -E 'task: partition [0-9]+ ready in .* \(stream time [0-9]+\)' "$EOS_DIR/bf.second.log" ||
    eos_fail "the restarted backfill restored no state (it did not resume)"
grep -q 'backfill: complete:' "$EOS_DIR/bf.second.log" || eos_fail "no 'backfill: complete' line"

# --- 3. the .v2 output --------------------------------------------------------
for t in "${v2_results[@]}"; do
    timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f '%s\n' \
        -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" || true
done | eos_keep_final | LC_ALL=C sort >"$EOS_DIR/actual.results"
timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$v2_dlq" -o beginning -e -q -f '%s\n' \
    -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" |
    jq -c '[.reason, .detail, .raw]' | LC_ALL=C sort >"$EOS_DIR/actual.dlq"
compare_v2() {
    if ! cmp -s "$EOS_DIR/expected.results" "$EOS_DIR/actual.results"; then
        echo "$EOS_TEST: .v2 results differ (< local only, > backfill only;" \
            "$(uniq -d "$EOS_DIR/actual.results" | wc -l) duplicated):"
        diff "$EOS_DIR/expected.results" "$EOS_DIR/actual.results" | grep '^[<>]' |
            cut -c1-300 | head -n 20 || true
        eos_fail "the .v2 output is not the local run over [T1, T2) exactly once"
    fi
    cmp -s "$EOS_DIR/expected.dlq" "$EOS_DIR/actual.dlq" ||
        eos_fail "the .v2 dead letters differ from the local run's"
}
compare_v2
eos_log ".v2 output equal to the local run: $n_expected final rows and alerts," \
    "$(wc -l <"$EOS_DIR/actual.dlq") dead letters, each once"

# --- 4. progress lines ----------------------------------------------------------
check_progress() { # check_progress LINES_FILE WHAT: form, monotonic, 100% at the end
    local lines
    lines=$(grep -E -o -- "$progress_re" "$1" | sed -E 's/backfill: ([0-9]+)%.*/\1/' || true)
    [[ -n "$lines" ]] || eos_fail "$2: no progress line of the documented form"
    echo "$lines" | awk 'NR > 1 && $1 < last { bad = 1 } { last = $1 } END { exit bad }' ||
        eos_fail "$2: progress went backwards: $(echo "$lines" | tr '\n' ' ')"
    echo "$lines" | tail -n 1
}
check_progress "$EOS_DIR/bf.first.log" "first run" >/dev/null
last=$(check_progress "$EOS_DIR/bf.second.log" "restarted run")
((last == 100)) || eos_fail "the restarted backfill's progress ended at $last%, not 100%"
example=$(grep -E -o -- "$progress_re" "$EOS_DIR/bf.first.log" | sed -n 1p)
eos_log "progress lines: $(grep -c -E -- "$progress_re" "$EOS_DIR/bf.log") in all, e.g. '$example'"

# --- 5. the live outputs were not touched ---------------------------------------
dump_live "$EOS_DIR/live.after"
cmp -s "$EOS_DIR/live.before" "$EOS_DIR/live.after" ||
    eos_fail "the live output topics changed during the backfill"
eos_check_alive

# --- 6. a finished backfill run again: nothing more --------------------------
bf_start bf
bf_wait bf 120
for t in "${v2_results[@]}"; do
    timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f '%s\n' \
        -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" || true
done | eos_keep_final | LC_ALL=C sort >"$EOS_DIR/actual.results"
compare_v2
eos_log "a finished backfill started again exits 0 and adds nothing"

# --- 7. open-ended: catch up, then live ----------------------------------------
echo "=== start $(date -u +%H:%M:%S)" >>"$EOS_DIR/open.log"
"$EOS_EDDY" backfill "$EOS_DIR/topology.yaml" --from "$t1" --version 3 \
    --bootstrap "$EOS_BOOTSTRAP" --state-dir "$EOS_DIR/state-open" --instance open \
    "${EOS_X[@]}" >>"$EOS_DIR/open.log" 2>&1 &
EOS_PIDS[open]=$!
eos_wait_log open 'backfill caught up: live from here' 120
sleep 3
eos_alive open || eos_fail "the open-ended backfill stopped after catching up"
eos_term open
grep -q "created topic '$EOS_NAME-service_1m.v3'" "$EOS_DIR/open.log" ||
    eos_fail "the open-ended backfill did not write to version 3's topics"
dump_live "$EOS_DIR/live.after"
cmp -s "$EOS_DIR/live.before" "$EOS_DIR/live.after" ||
    eos_fail "the live output topics changed during the open-ended backfill"

eos_pass "backfill [T1, T2) killed at ${killed_at#backfill: } and restarted: .v2 output equal" \
    "to the local run over the range, live outputs untouched, open-ended run caught up"
