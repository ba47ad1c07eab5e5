#!/usr/bin/env bash
# Hot keys and repartitioning: one tenant sends about half of all traffic.
# A per-tenant aggregation on input keyed by service must go through a
# repartition topic; eddy ships partial aggregates (combined per window, key
# and commit), not records, so the task owning the hot tenant receives a
# handful of partials per commit instead of half of the events.
# Prints, per partition: input records, repartition records received, and
# the hot tenant's share of each. Needs a broker (scripts/kafka start).
#   bench/skew.sh [BUILD_DIR] [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-300000}
root=$(cd "$(dirname "$0")/.." && pwd)
eddy="$root/$build/eddy"
bootstrap=${EDDY_BOOTSTRAP:-127.0.0.1:9092}
run="skew$$"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; cp "$work/eddy.log" /tmp/skew-eddy.log 2>/dev/null; rm -rf "$work"' EXIT
"$root/scripts/kafka" create-topic "$run-logs" --partitions 4 >/dev/null
cat > "$work/skew.yaml" <<YAML
name: $run
source:
  topic: $run-logs
  key: [service]
  timestamp: {field: timestamp, format: rfc3339}
  fields: {service: string, tenant_id: string, status_code: int, latency_ms: number}
grace: 1m
aggregations:
  - name: tenant_1m
    group_by: [tenant_id]
    window: {tumbling: 1m}
    metrics: {requests: count(), p95: 'quantile(latency_ms, 0.95)'}
YAML
"$eddy" gen service-logs --count "$count" --event-rate 2000 --skew 2.2 --topic "$run-logs" \
    --bootstrap "$bootstrap"
start=$(date +%s.%N)
"$eddy" run "$work/skew.yaml" --bootstrap "$bootstrap" --state-dir "$work/state" \
    --instance a 2>"$work/eddy.log" &
pid=$!
# the engine logs its rate every 10 s: wait for the first idle interval (at most 120 s)
for _ in $(seq 120); do
  sleep 1
  grep -q "info engine: 0 records/s" "$work/eddy.log" && break
done
end=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
echo "input: $count events over 4 partitions; one tenant's share of the input:"
kcat -C -b "$bootstrap" -t "$run-logs" -e -q -f '%s\n' | grep -o '"tenant_id":"[^"]*"' | sort | uniq -c | sort -rn | head -3
printf "%-10s %14s %20s\n" partition input_records repartition_records
for p in 0 1 2 3; do
  in=$(kcat -C -b "$bootstrap" -t "$run-logs" -p $p -e -q -f 'x\n' | wc -l)
  rp=$(kcat -C -b "$bootstrap" -t "$run-tenant_1m-repartition" -p $p -e -q -f 'x\n' | wc -l)
  printf "%-10s %14d %20d\n" $p "$in" "$rp"
done
echo "elapsed until idle: $(echo "$end - $start" | bc) s"
grep "records/s, " "$work/eddy.log" | head -3
