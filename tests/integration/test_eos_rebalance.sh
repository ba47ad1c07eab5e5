#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_eos_rebalance.sh - one Kafka-mode instance starts alone on a
# 4-partition input of 40k service-log events (duplicates, late and malformed
# events) produced in 20 chunks; once it has committed a quarter of the input
# two more instances join (eager rebalance: every partition is revoked,
# committed and reassigned, and tasks move to the newcomers, which restore
# them from the changelogs); later one of them leaves cleanly with SIGTERM (it
# must commit and exit 0 within 60 s) and its partitions move back. The
# read_committed output must hold every closed window and alert exactly once,
# byte-equal to local runs over each partition's records, and every dead
# letter exactly once. Model and helpers: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_eos_rebalance
eos_topology
eos_gen 40000 50 12 20
eos_expected
eos_create_input

eos_start a
eos_wait_assigned a
eos_produce_all 0.3 0 4
eos_wait_chunk 4 60 # a alone has processed and committed chunks 0..4
eos_start b
eos_start c
eos_produce_all 0.3 5 8
eos_wait_assigned b c
eos_produce_all 0.3 9 12
eos_wait_chunk 12 60 # the three of them have committed chunks 0..12
eos_term c
eos_produce_all 0.3 13 19
eos_check_input
eos_wait_output 150
eos_compare
moved=$(eos_since_start b | grep -c 'restore: .*records from offset' || true)
eos_log "the newcomer b restored $moved store partition(s) from changelogs"
((moved > 0)) || eos_fail "instance b took over partitions without restoring any state"
for id in a b c; do
    eos_log "$id: $(eos_stats "$id")"
done
eos_pass "1 -> 3 -> 2 instances: output exactly once"
