#!/usr/bin/env bash
# Stream-table joins against a compacted topic (tables: with topic:) on the
# real broker. A derive looks a latency threshold up in a topic table
# (is_slow: latency_ms > services.latency_threshold_ms) and an aggregation
# counts slow requests per service and minute. The test changes the table
# while eddy runs and checks the exact counts per window on the
# read_committed output:
#   window 10:00  auth threshold 200, search 800  (bootstrapped from the topic)
#   window 10:01  auth threshold 400              (an update while running)
#   window 10:02  search tombstoned: its lookups are NULL (not slow, not known)
#   window 10:03  auth threshold 100, written while eddy was stopped, with the
#                 window's input: the restarted instance reads the table to
#                 its end before it processes a record
# and, in local mode, that --bootstrap reads the topic and that without it a
# topic table holds its file's rows.
#
# Env: EDDY_BIN (default build/eddy), EDDY_BOOTSTRAP (default 127.0.0.1:9092),
# EDDY_KAFKA_PORT/EDDY_KAFKA_DIR for scripts/kafka create-topic.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
eddy=${EDDY_BIN:-$root/build/eddy}
bootstrap=${EDDY_BOOTSTRAP:-127.0.0.1:9092}
run="ktbl$$"
dir=$(mktemp -d /tmp/eddy-ktable.XXXXXX)
pid=""
ok=0
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    if [ "$ok" = 1 ]; then rm -rf "$dir"; else echo "test_ktable: files kept in $dir"; fi
}
trap cleanup EXIT
fail() {
    echo "FAIL test_ktable: $*"
    for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
    exit 1
}

ref="$run-services-ref"
logs="$run-logs"
out="$run-out"
"$root/scripts/kafka" create-topic "$ref" --partitions 2 --config cleanup.policy=compact \
    >/dev/null || fail "cannot create $ref"
"$root/scripts/kafka" create-topic "$logs" --partitions 1 >/dev/null || fail "cannot create $logs"

cat >"$dir/topology.yaml" <<EOF
name: $run
processing: exactly_once
source:
  topic: $logs
  key: [service]
  timestamp: {field: ts, format: rfc3339}
  fields: {service: string, latency_ms: number}
grace: 0s
tables:
  services:
    topic: $ref
    key: service
    columns: {latency_threshold_ms: int, owner: string}
    file: services.yaml
derive:
  is_slow: latency_ms > services.latency_threshold_ms
  has_row: services.latency_threshold_ms >= 0
aggregations:
  - name: slow_1m
    group_by: [service]
    window: {tumbling: 1m}
    metrics:
      requests: count()
      slow: count_if(is_slow)
      known: count_if(has_row)
    output: {topic: $out}
EOF
# the file: used until the topic is read (and in local mode without --bootstrap)
cat >"$dir/services.yaml" <<EOF
- {service: auth, latency_threshold_ms: 50, owner: file}
- {service: filesvc, latency_threshold_ms: 1}
EOF
"$eddy" validate "$dir/topology.yaml" >"$dir/validate.txt" || fail "the topology does not validate"
grep -q "^table services: 2 rows keyed by service, columns \[service, latency_threshold_ms, owner\]" \
    "$dir/validate.txt" || fail "validate: $(grep '^table' "$dir/validate.txt")"

# KEY|JSON lines; an empty JSON is a tombstone (kcat -Z: empty -> NULL)
table_put() {
    printf '%s\n' "$@" | timeout 30 kcat -b "$bootstrap" -P -t "$ref" -K '|' -Z \
        || fail "cannot produce to $ref"
}
# SERVICE MINUTE LATENCY...: one record per latency, seconds 1, 2, ...
input() {
    local service=$1 minute=$2 s=0 l
    shift 2
    for l in "$@"; do
        s=$((s + 1))
        printf '{"service":"%s","ts":"2025-05-01T10:%s:%02dZ","latency_ms":%s}\n' \
            "$service" "$minute" "$s" "$l"
    done
}
produce() { timeout 30 kcat -b "$bootstrap" -P -t "$logs" -K '\t' -l "$1" || fail "cannot produce $1"; }
# keyed by service (source.key): KEY<TAB>VALUE
keyed() { jq -r '[.service, (. | tojson)] | @tsv' "$1" >"$1.keyed"; produce "$1.keyed"; }

# results of window MINUTE as "service requests slow known" lines, sorted
window() {
    timeout 30 kcat -b "$bootstrap" -C -t "$out" -o beginning -e -q -f '%s\n' \
        -X isolation.level=read_committed 2>/dev/null |
        jq -r --arg start "2025-05-01T10:$1:00Z" \
            'select(.window.start == $start and .final) |
             "\(.key.service) \(.metrics.requests) \(.metrics.slow) \(.metrics.known)"' |
        LC_ALL=C sort
}
# MINUTE EXPECTED: waits up to 60 s for window MINUTE's results to be exactly EXPECTED
expect_window() {
    local got=""
    for _ in $(seq 60); do
        got=$(window "$1")
        [ "$got" = "$2" ] && return 0
        [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && fail "eddy exited"
        sleep 1
    done
    fail "window 10:$1: got [$got], expected [$2]"
}
start() { # LOG
    "$eddy" run "$dir/topology.yaml" --bootstrap "$bootstrap" --state-dir "$dir/state" \
        --instance a -X consumer.session.timeout.ms=6000 >"$dir/$1" 2>&1 &
    pid=$!
}
wait_log() { # LOG PATTERN SECONDS [MIN_COUNT]
    for _ in $(seq $(($3 * 10))); do
        [ "$(grep -c -E "$2" "$dir/$1" || true)" -ge "${4:-1}" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "eddy exited"
        sleep 0.1
    done
    fail "$1: no line matching '$2' (x${4:-1}) within $3 s"
}
stop() {
    kill -TERM "$pid"
    timeout 30 tail --pid="$pid" -f /dev/null || fail "eddy did not stop"
    wait "$pid" || fail "eddy exited $? after SIGTERM"
    pid=""
}
applied='table services: 1 update from .* applied'

# -- window 10:00: the table as bootstrapped -------------------------------
table_put 'auth|{"latency_threshold_ms": 200, "owner": "identity", "extra": [1]}' \
    'search|{"latency_threshold_ms": 800}'
start run1.log
wait_log run1.log "table services: 2 rows from $ref in [0-9.]+ s" 60
wait_log run1.log "partition 0 ready" 60
input auth 00 100 150 250 300 500 >"$dir/w0.jsonl"
input search 00 700 900 >>"$dir/w0.jsonl"
input tick 01 1 >>"$dir/w0.jsonl" # closes 10:00 (grace 0)
keyed "$dir/w0.jsonl"
expect_window 00 "auth 5 3 5
search 2 1 2"

# -- window 10:01: auth's threshold changes while eddy runs ----------------
table_put 'auth|{"latency_threshold_ms": 400, "owner": "identity"}'
wait_log run1.log "$applied" 30
input auth 01 100 150 250 300 500 >"$dir/w1.jsonl"
input search 01 700 900 >>"$dir/w1.jsonl"
input tick 02 1 >>"$dir/w1.jsonl"
keyed "$dir/w1.jsonl"
expect_window 01 "auth 5 1 5
search 2 1 2
tick 1 0 0"

# -- window 10:02: a tombstone deletes search's row ------------------------
sleep 1.1 # apply lines are logged at most once a second
table_put 'search|'
wait_log run1.log "$applied \(0 put, 1 tombstones" 30
input auth 02 450 >"$dir/w2.jsonl"
input search 02 700 900 1000 >>"$dir/w2.jsonl"
input tick 03 1 >>"$dir/w2.jsonl"
keyed "$dir/w2.jsonl"
expect_window 02 "auth 1 1 1
search 3 0 0
tick 1 0 0"
stop

# -- window 10:03: table and input change while eddy is down ----------------
table_put 'auth|{"latency_threshold_ms": 100}'
input auth 03 100 150 250 >"$dir/w3.jsonl"
input tick 04 1 >>"$dir/w3.jsonl"
keyed "$dir/w3.jsonl"
start run2.log
expect_window 03 "auth 3 2 3
tick 1 0 0"
# rows: auth (search was deleted; the file's rows are gone once the topic is read)
bootstrapped=$(grep -n -m1 -E "table services: 1 row from $ref in" "$dir/run2.log" | cut -d: -f1)
ready=$(grep -n -m1 "partition 0 ready" "$dir/run2.log" | cut -d: -f1)
[ -n "$bootstrapped" ] && [ -n "$ready" ] && [ "$bootstrapped" -lt "$ready" ] ||
    fail "run2: the table was not read ($bootstrapped) before the input partition opened ($ready)"
grep -q "1 row of $dir/services.yaml not on $ref: dropped" "$dir/run2.log" ||
    fail "run2: no line about the file rows dropped"
stop

# -- local mode: with --bootstrap the topic, without it the file -------------
input auth 00 40 60 150 >"$dir/local.jsonl"
input filesvc 00 5 >>"$dir/local.jsonl"
"$eddy" run "$dir/topology.yaml" --input "$dir/local.jsonl" --bootstrap "$bootstrap" \
    >"$dir/local-topic.out" 2>"$dir/local-topic.log" || fail "local run with --bootstrap failed"
got=$(jq -r '"\(.key.service) \(.metrics.requests) \(.metrics.slow) \(.metrics.known)"' \
    "$dir/local-topic.out" | LC_ALL=C sort | tr '\n' ';')
[ "$got" = "auth 3 1 3;filesvc 1 0 0;" ] || fail "local with --bootstrap: $got"
"$eddy" run "$dir/topology.yaml" --input "$dir/local.jsonl" \
    >"$dir/local-file.out" 2>"$dir/local-file.log" || fail "local run without --bootstrap failed"
got=$(jq -r '"\(.key.service) \(.metrics.requests) \(.metrics.slow) \(.metrics.known)"' \
    "$dir/local-file.out" | LC_ALL=C sort | tr '\n' ';')
[ "$got" = "auth 3 2 3;filesvc 1 1 1;" ] || fail "local without --bootstrap: $got"
grep -q "table services: topic $ref not read (no --bootstrap): 2 rows from" \
    "$dir/local-file.log" || fail "local without --bootstrap: no 'not read' line"

ok=1
echo "PASS test_ktable: slow counts per window follow the table topic (bootstrap, update," \
    "tombstone, restart with changes made while down); local mode reads the topic with" \
    "--bootstrap and the file without"
