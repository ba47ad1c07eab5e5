#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_eos_3brokers.sh - Kafka mode on its own three-broker KRaft cluster
# (scripts/kafka start --nodes 3 on ports EOS_KAFKA3_PORT.. (default 19092),
# data in a temp dir; the single-node broker of the other tests is left
# alone). Input topic with replication 3 (min.insync.replicas 2); eddy makes
# its internal topics with replication min(3, brokers) = 3. Two instances
# process a 4-partition input of 40k service-log events (duplicates, late and
# malformed events) produced in 20 chunks; mid-stream broker 2 is stopped
# (partition leaders, maybe the group or transaction coordinator move) and
# later started again. Both instances must keep running, and the
# read_committed output must hold every closed window and alert exactly once,
# byte-equal to local runs over each partition's records, and every dead
# letter exactly once. The cluster is stopped on exit. Model and helpers:
# tests/integration/lib.sh.
set -euo pipefail

export EDDY_KAFKA_PORT="${EOS_KAFKA3_PORT:-19092}"
EDDY_KAFKA_DIR="$(mktemp -d /tmp/eddy-kafka3.XXXXXX)"
export EDDY_KAFKA_DIR
EOS_BOOTSTRAP="127.0.0.1:$EDDY_KAFKA_PORT,127.0.0.1:$((EDDY_KAFKA_PORT + 2)),127.0.0.1:$((EDDY_KAFKA_PORT + 4))"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_eos_3brokers
EOS_CLEANUP+=("timeout 60 '$eos_kafka' stop >/dev/null 2>&1; rm -rf '$EDDY_KAFKA_DIR'")
timeout 150 "$eos_kafka" start --nodes 3 >"$EOS_DIR/kafka-start.log" 2>&1 ||
    { cat "$EOS_DIR/kafka-start.log"; eos_fail "cannot start a 3-node cluster on port $EDDY_KAFKA_PORT"; }
eos_log "3-node cluster up on $EOS_BOOTSTRAP"

eos_topology
eos_gen 40000 50 14 20
eos_expected
eos_create_input --replication 3 --config min.insync.replicas=2

eos_start a
eos_start b
eos_wait_assigned a b
eos_produce_all 0.3 0 6
eos_wait_chunk 3 60
timeout 60 "$eos_kafka" stop-node 2 >"$EOS_DIR/kafka-stop-node.log" 2>&1 ||
    eos_fail "cannot stop broker 2"
eos_log "broker 2 stopped mid-stream"
eos_produce_all 0.3 7 12
eos_wait_chunk 12 90 # processing went on with two brokers
eos_check_alive
timeout 120 "$eos_kafka" start-node 2 >"$EOS_DIR/kafka-start-node.log" 2>&1 ||
    eos_fail "cannot restart broker 2"
eos_log "broker 2 back"
eos_produce_all 0.3 13 19
eos_check_input
eos_wait_output 150
eos_compare
# every topic of the run (input, changelogs, outputs, DLQ) has 3 replicas
timeout 30 kcat -b "$EOS_BOOTSTRAP" -L >"$EOS_DIR/metadata.txt" 2>/dev/null ||
    eos_fail "cannot read the cluster metadata"
replicas=$(awk -v pre="\"$EOS_NAME-" '
    /^  topic "/ { mine = index($2, pre) == 1; if (mine) topics++ }
    mine && /partition [0-9]+, leader/ {
        r = $0; sub(/.*replicas: /, "", r); sub(/, isrs.*/, "", r)
        print split(r, a, ",")
    }
    END { print "topics", topics + 0 > "/dev/stderr" }' "$EOS_DIR/metadata.txt" 2>"$EOS_DIR/topics.txt" |
    sort -u | tr '\n' ' ')
eos_log "$(cat "$EOS_DIR/topics.txt") topics of this run, replica counts seen: $replicas"
[[ "$replicas" == "3 " ]] || eos_fail "not every partition of the run's topics has 3 replicas"
for id in a b; do
    eos_log "$id: $(eos_stats "$id")"
done
eos_pass "one of three brokers down mid-stream: processing went on, output exactly once"
