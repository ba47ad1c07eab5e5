#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_eos_kill9.sh - three Kafka-mode instances share a 4-partition input of
# 40k service-log events (5% duplicates, 2% late up to 3 min, 0.5% malformed),
# produced in 20 chunks while they run. Mid-stream one instance is killed with
# SIGKILL, stays dead for 4 s (its partitions move to the others once its
# session times out; its open transaction is aborted), and is restarted with
# the same instance id and state directory; as soon as it is assigned
# partitions again (while it restores them) it is killed once more, then
# restarted for good. The read_committed output must
# then hold every closed window and alert exactly once, byte-equal to local
# runs over each partition's records, and every dead letter exactly once.
# The model and the helpers: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_eos_kill9
eos_topology
eos_gen 40000 50 11 20
eos_expected
eos_create_input

# the victim b commits every 2 s, so when it is killed its open transaction
# almost surely holds results, dead letters and changelog records
eos_start a --commit-interval-ms 300
eos_start b --commit-interval-ms 2000
eos_start c --commit-interval-ms 300
eos_wait_assigned a b c
eos_produce_all 0.5 0 7
# chunks 0..7 are produced; the victim is in the middle of processing them
eos_kill9 b
committed_at_kill=$(eos_count_results)
dlq_at_kill=$(eos_count_dlq)
eos_produce_all 0.5 8 9
sleep 4
eos_start b --commit-interval-ms 2000
# kill it again in the middle of restoring a task: once the first store of
# the first partition it gets is restored, while the next ones are read
eos_wait_log b 'kafka: read .*-meta-changelog\[' 40
eos_kill9 b
during_restore=$(eos_since_start_killed b | grep -c 'task: partition [0-9]* ready' || true)
eos_produce_all 0.5 10 11
eos_start b --commit-interval-ms 2000
eos_produce_all 0.5 12 14
eos_wait_assigned b # the restarted instance takes part again
eos_produce_all 0.5 15 19
eos_check_input
eos_wait_output 150
eos_compare
eos_log "second kill of b: it had opened $during_restore task(s) since its restart"
eos_log "when b was first killed $committed_at_kill results and $dlq_at_kill dead letters were" \
    "committed; read_uncommitted now shows $(eos_count_results read_uncommitted) results and" \
    "$(eos_count_dlq read_uncommitted) dead letters (aborted ones included)"
for id in a b c; do
    eos_log "$id: $(eos_stats "$id")"
done
eos_pass "kill -9 of one of three instances mid-stream: output exactly once"
