#!/usr/bin/env bash
# bench/restore.sh [COUNT [BUILD_DIR]]: restore speed of eddy in Kafka mode.
#
# Needs the broker of scripts/kafka (EDDY_KAFKA_PORT/EDDY_KAFKA_DIR when it is
# not the default one). COUNT generated service logs (default 2000000) go to
# a fresh 4-partition topic; one instance of bench/restore.d/users_1d.yaml
# (per-user daily windows: ~1.3M changelog records for 2M events) drains it
# and stops; then a second instance starts on an empty state directory and
# restores every store partition from its changelog. Reported:
#   restore   changelog records restored / the sum of the per-partition
#             restore times the engine logs ("restore: T[P]: N records from
#             offset O in S s"), and the time from launch to /readyz 200;
#   baseline  kcat reading the same changelog topics to /dev/null in the same
#             run (read_committed, one process per topic): what fetching
#             alone costs on this machine.
# Last line: kind=restore records= seconds= records_per_s= ready_s=
#            kcat_records_per_s= ratio=
set -euo pipefail
count=${1:-2000000}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
kafka="$root/scripts/kafka"
"$kafka" status >/dev/null || { echo "restore: no broker: run scripts/kafka start" >&2; exit 1; }
bootstrap=$("$kafka" bootstrap)
name="restore-$(date +%s)-$$"
tmp=$(mktemp -d "/tmp/$name.XXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "restore: $*" >&2; }

"$kafka" create-topic "$name-in" --partitions 4 >/dev/null
sed -e "s/NAME/$name/g" -e "s/INPUT/$name-in/" "$root/bench/restore.d/users_1d.yaml" \
    >"$tmp/topology.yaml"
"$build/eddy" gen service-logs --count "$count" --seed 1 --start 2026-01-01T00:00:00Z \
    --topic "$name-in" --bootstrap "$bootstrap" 2>"$tmp/gen.log"
log "produced $count events to $name-in"

start() { # LOG: an instance on $tmp/state with --http
    "$build/eddy" run "$tmp/topology.yaml" --bootstrap "$bootstrap" --state-dir "$tmp/state" \
        --instance a --http "127.0.0.1:$port" >"$tmp/$1" 2>&1 &
    pid=$!
}
metric() { curl -sf "127.0.0.1:$port/metrics" 2>/dev/null | awk -v m="$1" '$1 == m { print $2 }'; }
stop() { kill -TERM "$pid"; wait "$pid" || { log "eddy failed, see $tmp/$1"; exit 1; }; pid=""; }

start drain.log
deadline=$((SECONDS + 600))
until [[ "$(metric eddy_events_in_total)" == "$count" ]]; do
    ((SECONDS < deadline)) || { log "drain did not finish in 600 s"; exit 1; }
    sleep 0.2
done
stop drain.log
log "drained; restarting on an empty state directory"

rm -rf "$tmp/state"
t0=$(date +%s.%N)
start restore.log
until curl -sf "127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { log "eddy exited, see $tmp/restore.log"; exit 1; }
    sleep 0.02
done
t1=$(date +%s.%N)
stop restore.log
read -r records seconds < <(awk '/ restore: .* records from offset / {
        for (i = 1; i <= NF; i++) { if ($i == "records") n += $(i - 1); if ($i == "in") s += $(i + 1) }
    } END { printf "%d %.3f\n", n, s }' "$tmp/restore.log")
((records > 0)) || { log "no restore lines in $tmp/restore.log"; exit 1; }

# baseline: the same changelog topics read by kcat (every partition of a
# topic in one process, short fetch waits so that the end is seen quickly)
changelogs=$(grep -o " restore: [^ ]*\[" "$tmp/restore.log" | sed 's/ restore: //; s/\[$//' | sort -u)
k0=$(date +%s.%N)
for topic in $changelogs; do
    kcat -b "$bootstrap" -C -t "$topic" -o beginning -e -q -X isolation.level=read_committed \
        -X fetch.wait.max.ms=10 -f '\n'
done | wc -l >"$tmp/kcat.count"
k1=$(date +%s.%N)
awk -v n="$records" -v s="$seconds" -v t0="$t0" -v t1="$t1" -v kn="$(cat "$tmp/kcat.count")" \
    -v k0="$k0" -v k1="$k1" 'BEGIN {
    rate = n / s; krate = kn / (k1 - k0)
    printf "eddy restored %d records in %.2f s of restores (%.0f records/s), ready %.2f s after launch\n", n, s, rate, t1 - t0
    printf "kcat read %d records of the same partitions in %.2f s (%.0f records/s)\n", kn, k1 - k0, krate
    printf "kind=restore records=%d seconds=%.3f records_per_s=%.0f ready_s=%.2f kcat_records_per_s=%.0f ratio=%.2f\n", n, s, rate, t1 - t0, krate, rate / krate
}'
