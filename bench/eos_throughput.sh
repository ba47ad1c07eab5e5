#!/usr/bin/env bash
# Kafka-mode throughput, exactly-once versus at-least-once, measured in one
# run on the same input; then restore speed; commit latency from the engine's
# progress lines.
#   bench/eos_throughput.sh [BUILD_DIR [COUNT]]      (default build, 500000)
# Needs a running broker (scripts/kafka start; EDDY_BOOTSTRAP, else
# 127.0.0.1:9092; EDDY_KAFKA_PORT/EDDY_KAFKA_DIR when it is not the default
# one). COUNT service-log events (duplicates, late, malformed; 2000 events/s
# of event time) go into one 4-partition topic, partitioned by service as in
# the crash-safety tests (tests/integration/lib.sh), BEFORE eddy starts; then
# for each mode one instance of the test topology (its own group and output
# topics) drains the backlog. Time = from its last "task: partition P ready"
# log line to the moment the marker ending every partition is on the
# read_committed DLQ (so the figure excludes start-up and includes the final
# commit; resolution about 1 s). Each mode's output is compared with local
# runs, as in the tests. Finally the exactly-once instance restarts on a wiped
# state directory and its changelog reads give the restore speed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
count=${2:-500000}
export EDDY_BIN="$build/eddy"
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
source "$root/tests/integration/lib.sh"

ts() { date -d "$1" +%s.%N; } # log timestamp -> epoch seconds

eos_init bench_eos
base=$EOS_NAME
eos_gen "$count" 2000 21 1
input="$base-in"
EOS_TOPIC=$input
timeout 120 "$eos_kafka" create-topic "$input" --partitions "$EOS_PARTITIONS" >/dev/null
t0=$(date +%s.%N)
eos_produce_all 0
eos_log "produced $count events in $(echo "$(date +%s.%N) - $t0" | bc) s"
eos_check_input

declare -A rate
for mode in exactly_once at_least_once; do
    EOS_NAME="$base-${mode//_/-}"
    eos_topology "$mode"
    sed -i "s|^  topic: $EOS_NAME-in\$|  topic: $input|" "$EOS_DIR/topology.yaml"
    EOS_TOPIC=$input
    eos_expected >/dev/null
    eos_start "$mode"
    eos_wait_ready "$mode" "$EOS_PARTITIONS"
    ready=$(ts "$(eos_since_start "$mode" | grep 'task: partition [0-9]* ready' | tail -n 1 |
                  cut -d' ' -f1)")
    eos_wait_chunk 0 600
    done_at=$(date +%s.%N)
    secs=$(echo "$done_at - $ready" | bc)
    rate[$mode]=$(echo "$count / $secs" | bc)
    eos_wait_output 120
    eos_compare >/dev/null
    sleep 10 # one more progress line with the final commit counters
    eos_log "$mode: $count events in $secs s = ${rate[$mode]} events/s; $(eos_stats "$mode" | sed "s/^[0-9]* records\/s, //")"
    eos_term "$mode"
done

# restore: the exactly-once instance on a wiped state directory
EOS_NAME="$base-exactly-once"
eos_topology exactly_once
sed -i "s|^  topic: $EOS_NAME-in\$|  topic: $input|" "$EOS_DIR/topology.yaml"
rm -rf "$EOS_DIR/state-exactly_once"
eos_start exactly_once
eos_wait_ready exactly_once "$EOS_PARTITIONS" 300
eos_log "restore after wiping the state: $(eos_restore_summary exactly_once)"
eos_since_start exactly_once | grep -E 'kafka: read .*dedup-changelog' | sed 's/.*kafka: /    /'
eos_term exactly_once

printf '%-14s %10s %12s\n' mode events events/s
for mode in exactly_once at_least_once; do
    printf '%-14s %10d %12d\n' "$mode" "$count" "${rate[$mode]}"
    echo "kind=throughput engine=eddy_kafka_${mode/exactly_once/eos} label=\"eddy Kafka, ${mode//_/ }\" events_per_s=${rate[$mode]}"
done
eos_pass "throughput measured"
