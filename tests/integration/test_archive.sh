#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_archive.sh - the archive sink (Parquet, Hive layout) in Kafka mode,
# effectively once across crashes. The crash-safety topology of lib.sh with
# archives on both aggregations (service_1m by service and date, endpoint_1m
# by date) and on the cleaned raw stream (by service and date), all rolling
# every second. Two instances share a 4-partition input of 40k service-log
# events (duplicates, late and malformed ones), produced in 20 chunks; one is
# killed with SIGKILL twice mid-stream and restarted with its state dir.
# Then, read by two independent readers (pyarrow and DuckDB, from PyPI via
# scripts/pyenv) every archived aggregate row must equal one final result on
# the read_committed output topic, none missing, none doubled; the raw
# archive must hold exactly the rows of local-mode runs over the same
# records; every visible file is complete and named after its task and
# offsets, which no two files of a task share; `eddy archive prune` removes
# the day. The model and the helpers: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=$("$eos_root/scripts/pyenv") || { echo "FAIL test_archive: no Python venv (scripts/pyenv)"; exit 1; }

eos_init test_archive
eos_topology
# archives in the topology; LAKE is substituted per use
sed -e "s|^    output: {topic: $EOS_NAME-service-1m}|&\n    archive: {path: LAKE, format: parquet, partition_by: [service, date], roll: 1s}|" \
    -e "s|^    output: {topic: $EOS_NAME-endpoint-1m}|&\n    archive: {path: LAKE, partition_by: [date], roll: 1s}|" \
    -e "s|^grace: 2m|&\narchive: {path: LAKE, partition_by: [service, date], roll: 1s}|" \
    "$EOS_DIR/topology.yaml" >"$EOS_DIR/topology.yaml.in"
(($(grep -c LAKE "$EOS_DIR/topology.yaml.in") == 3)) || eos_fail "could not add the archives"
sed "s|LAKE|$EOS_DIR/lake-local|" "$EOS_DIR/topology.yaml.in" >"$EOS_DIR/topology.yaml"
eos_gen 40000 50 11 20
eos_expected # local runs: expected outputs, and the raw archive in lake-local
sed "s|LAKE|$EOS_DIR/lake|" "$EOS_DIR/topology.yaml.in" >"$EOS_DIR/topology.yaml"
"$EOS_EDDY" validate "$EOS_DIR/topology.yaml" >/dev/null || eos_fail "the archive topology does not validate"
eos_create_input

port_a=$(eos_free_port)
eos_start a --http "127.0.0.1:$port_a"
eos_start b
eos_wait_assigned a b
eos_produce_all 0.5 0 6
eos_kill9 b
eos_produce_all 0.5 7 9
eos_start b
eos_wait_assigned b
eos_produce_all 0.5 10 13
eos_kill9 b
sleep 2
eos_start b
eos_produce_all 0.5 14 19
eos_check_input
eos_wait_output 150
eos_compare

# every row reaches the lake once its file is sealed (1 s) and committed
want=$(grep -c '^{"aggregation":"service_1m"' "$EOS_DIR/actual.results" || true)
deadline=$((SECONDS + 60))
while :; do
    got=$("$PY" -c 'import sys, pyarrow.dataset as ds
try: print(ds.dataset(sys.argv[1], format="parquet", partitioning="hive").count_rows())
except Exception: print(0)' "$EOS_DIR/lake/service_1m")
    ((got < want)) || break
    ((SECONDS < deadline)) || eos_fail "the archive of service_1m holds $got of $want rows after 60 s"
    eos_check_alive
    sleep 1
done
sleep 2 # a doubled file would show now
metrics=$(curl -s "http://127.0.0.1:$port_a/metrics")
files_a=$(awk '$1 == "eddy_archive_files_total" { print $2 }' <<<"$metrics")
errors_a=$(awk '$1 == "eddy_archive_errors_total" { print $2 }' <<<"$metrics")
((${files_a:-0} > 0 && ${errors_a:-1} == 0)) ||
    eos_fail "instance a's /metrics: eddy_archive_files_total '$files_a', eddy_archive_errors_total '$errors_a'"
eos_log "instance a published $files_a files (eddy_archive_files_total), 0 errors"
eos_term a
eos_term b
eos_log "lake: $(find "$EOS_DIR/lake" -name '*.parquet' | wc -l) files," \
    "$(find "$EOS_DIR/lake" -name '.*' -type f | wc -l) leftover temporary files of killed writers"
"$PY" "$eos_root/tests/integration/archive_check.py" "$EOS_DIR/lake" "$EOS_DIR/actual.results" \
    service_1m,endpoint_1m --events "$EOS_DIR/lake-local" || eos_fail "the archive is not the output"

# retention: the input's day is older than a day by now
"$EOS_EDDY" archive prune "$EOS_DIR/lake" --older-than 1d >"$EOS_DIR/prune.out" ||
    eos_fail "archive prune failed"
left=$(find "$EOS_DIR/lake" -name '*.parquet' | wc -l)
((left == 0)) || eos_fail "archive prune left $left files: $(cat "$EOS_DIR/prune.out")"
eos_log "$(cat "$EOS_DIR/prune.out")"
eos_pass "archives of two aggregations and the raw stream, two kill -9: every row exactly once in pyarrow and duckdb"
