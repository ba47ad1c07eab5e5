#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_eos_restore.sh - restores of one Kafka-mode instance's state, over a
# 4-partition input of 40k service-log events (duplicates, late and malformed
# events) produced in 10 chunks. Two runs (separate topics and groups):
#  (a) wiped: the instance commits the first half, stops with SIGTERM, its
#      state directory is deleted, it restarts, must restore every store of
#      every partition from its changelog from offset 0 (log lines
#      "restore: <changelog>[p]: N records from offset 0") and take each
#      partition's stream time from its committed input offset (the meta
#      changelog holds none), then process the second half;
#  (b) kept: the instance (committing every 2 s) commits the first half, is
#      killed with SIGKILL in the middle of the next chunk with a
#      transaction open, restarts on the state directory from
#      before the crash: it must not restore any store from offset 0 (the
#      RocksDB checkpoint is valid: only the changelog tail after it is read);
# each time the read_committed output must hold every closed window and alert
# exactly once, byte-equal to local runs over each partition's records, and
# every dead letter exactly once. Model and helpers: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_eos_restore
eos_gen 40000 50 13 10
base=$EOS_NAME

# (a) ---------------------------------------------------------------------
EOS_NAME="$base-wiped"
eos_topology
eos_expected
eos_create_input
eos_start a
eos_wait_assigned a
eos_produce_all 0.3 0 4
eos_wait_chunk 4 60
eos_term a
rm -rf "$EOS_DIR/state-a"
eos_start a
eos_wait_ready a "$EOS_PARTITIONS"
# every non-empty changelog partition (meta, dedup, the two aggregations
# and the alert state: at least 4 stores x 4 partitions) read from offset 0
read -r nonempty reread from0 < <(eos_since_start a | awk '
    /kafka: read .*-changelog\[[0-9]+\]: [0-9]+ records in/ {
        if ($NF + 0 > 0) { nonempty++; for (i = 1; i < NF; i++) if ($(i + 1) == "records" && $(i + 2) == "in" && $i + 0 > 0) reread++ }
    }
    /restore: .*-changelog\[[0-9]+\]: [1-9][0-9]* records from offset 0 / { from0++ }
    END { print nonempty + 0, reread + 0, from0 + 0 }')
eos_log "restored: $(eos_restore_summary a)"
((nonempty >= 4 * EOS_PARTITIONS && reread == nonempty && from0 == nonempty)) ||
    eos_fail "(a) after wiping the state: of $nonempty non-empty changelog partitions," \
        "$reread were read with records and $from0 restored from offset 0 (want all)"
# the stream times came back with the committed input offsets (their
# metadata): the meta changelog holds the fingerprints and no stream time
n_st=$(eos_since_start a | grep -c -E 'task: partition [0-9]+ ready in .* \(stream time [0-9]+\)')
((n_st == EOS_PARTITIONS)) ||
    eos_fail "(a) after wiping the state, $n_st of $EOS_PARTITIONS tasks came back with a stream time"
meta_keys=$(timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$EOS_NAME-meta-changelog" -o beginning -e -q \
    -f '%k\n' -X isolation.level=read_committed 2>>"$EOS_DIR/kcat.stderr" | sort -u | tr '\n' ' ')
[[ $meta_keys == *fingerprint:meta* && $meta_keys != *stream_time* ]] ||
    eos_fail "(a) the meta changelog's keys are: $meta_keys (want fingerprints, no stream_time)"
eos_produce_all 0.3 5 9
eos_check_input
eos_wait_output 120
eos_compare
eos_log "(a) wiped state: restored $from0 store partitions from their changelogs," \
    "stream times from the committed offsets"
eos_term a
mv "$EOS_DIR/a.log" "$EOS_DIR/wiped-a.log.txt"

# (b) ---------------------------------------------------------------------
EOS_NAME="$base-kept"
eos_topology
eos_create_input
# commits every 2 s: the kill lands with a transaction open (its changelog
# records after the checkpoint are aborted and must be skipped on restore)
eos_start a --commit-interval-ms 2000
eos_wait_assigned a
eos_produce_all 0.3 0 4
eos_wait_chunk 4 60
eos_produce_chunk 5
sleep 1
eos_kill9 a
eos_start a --commit-interval-ms 2000
eos_wait_ready a "$EOS_PARTITIONS"
eos_log "restored: $(eos_restore_summary a)"
from0=$(eos_since_start a | grep -c 'restore: .*records from offset 0 ' || true)
((from0 == 0)) ||
    eos_fail "(b) with the state directory kept, $from0 store partitions were restored" \
        "from offset 0 instead of from the local checkpoint"
eos_produce_all 0.3 6 9
eos_check_input
eos_wait_output 120
eos_compare
eos_log "(b) kept state after kill -9: no store restored from scratch"
eos_pass "wiped state restored from the changelogs, kept state from its checkpoint:" \
    "output exactly once both times"
