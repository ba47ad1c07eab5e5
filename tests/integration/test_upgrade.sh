#!/usr/bin/env bash
# Safe topology upgrades against the real broker: state written by one
# topology is refused by an incompatible one (exit 2, naming the store and
# --reset-store), accepted after --reset-store rebuilt the stores, and
# accepted again on the next plain start (the new fingerprints were saved).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
eddy=${EDDY_BIN:-$root/build/eddy}
bootstrap=${EDDY_BOOTSTRAP:-127.0.0.1:9092}
run="upg$$"
dir=$(mktemp -d /tmp/eddy-upgrade.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL test_upgrade: $*"; for f in "$dir"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }

"$root/scripts/kafka" create-topic "$run-logs" --partitions 2 >/dev/null
sed -e "s/^name: service-health/name: $run/" -e "s/  topic: service-logs/  topic: $run-logs/" \
    -e "s/output: {topic: \(.*\)}/output: {topic: $run-\1}/" \
    -e "s|file: services.yaml|file: $root/topologies/services.yaml|" \
    "$root/topologies/service-health.yaml" > "$dir/v1.yaml"
# v2 adds a metric to every aggregation: their stores change layout
sed 's/      requests: count()/      requests: count()\n      bytes_sum: sum(bytes_out)/' \
    "$dir/v1.yaml" > "$dir/v2.yaml"
"$eddy" gen service-logs --count 3000 --event-rate 20 --topic "$run-logs" --bootstrap "$bootstrap"

start() { # TOPOLOGY LOG [args]: starts eddy in the background
  local topo=$1 log=$2; shift 2
  "$eddy" run "$topo" --bootstrap "$bootstrap" --state-dir "$dir/state" --instance a \
      -X consumer.session.timeout.ms=6000 "$@" >"$dir/$log" 2>&1 &
  pid=$!
}
wait_log() { # LOG PATTERN SECONDS
  for _ in $(seq "$3"); do grep -q "$2" "$dir/$1" && return 0; sleep 1; done
  return 1
}
stop() { kill -TERM "$pid"; timeout 30 tail --pid="$pid" -f /dev/null || fail "eddy did not stop"; wait "$pid" || true; pid=""; }

start "$dir/v1.yaml" v1.log
wait_log v1.log "partition 1 ready" 60 || fail "v1 did not start"
wait_log v1.log "info engine: 0 records/s" 40 || fail "v1 did not finish the input"
stop

# the incompatible topology is refused, naming the store and the way out
start "$dir/v2.yaml" v2-refused.log
if ! timeout 60 tail --pid="$pid" -f /dev/null; then fail "v2 was not refused"; fi
set +e; wait "$pid"; rc=$?; set -e; pid=""
[ "$rc" -eq 2 ] || fail "v2 exited $rc, expected 2"
grep -q "store 'service_1m' (partition [01]) was written by an incompatible topology" \
    "$dir/v2-refused.log" || fail "no message naming the store"
grep -q -- "--reset-store service_1m" "$dir/v2-refused.log" || fail "no --reset-store hint"
"$eddy" diff "$dir/v1.yaml" "$dir/v2.yaml" > "$dir/diff.txt" && fail "eddy diff exited 0"
grep -q "^rebuild store service_1m" "$dir/diff.txt" || fail "eddy diff does not say service_1m is rebuilt"

# --reset-store rebuilds them; the next plain start accepts the state
start "$dir/v2.yaml" v2-reset.log --reset-store service_1m --reset-store endpoint_1m \
    --reset-store tenant_endpoint_1m --reset-store region_tier_1m
wait_log v2-reset.log "partition 1 ready" 60 || fail "v2 with --reset-store did not start"
grep -q "resetting store 'service_1m'" "$dir/v2-reset.log" || fail "no reset logged"
sleep 3
stop
start "$dir/v2.yaml" v2-again.log
wait_log v2-again.log "partition 1 ready" 60 || fail "v2 was refused after the reset"
grep -q "incompatible" "$dir/v2-again.log" && fail "v2 still reported incompatible state"
stop
echo "PASS test_upgrade: incompatible state refused (exit 2), rebuilt with --reset-store, accepted afterwards"
