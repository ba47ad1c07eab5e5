#!/usr/bin/env bash
# bench/query_latency.sh BUILD [SECONDS] [RATE]: interactive-query latency on
# a busy topology. The service-health topology runs in local mode with --http
# over generated logs paced at RATE events/s (default 50000) with one minute
# of event time per wall second, so after 20 s the serving view holds the 20
# minutes of its retention, every 1-minute aggregation included (the tenant x
# endpoint drill-down has thousands of keys per minute). For SECONDS (default
# 30) a client loops over the drill-down queries of the status page (last
# 15 minutes by tenant and by endpoint of one service, the status itself) and
# /healthz as the baseline of the same server, and prints p50/p95/max of each
# (curl's time_total) and the ratio of each p95 to /healthz's.
set -euo pipefail
build=${1:?usage: query_latency.sh BUILD [SECONDS] [RATE]}
secs=${2:-30}
rate=${3:-50000}
root=$(cd "$(dirname "$0")/.." && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
count=$((rate * (secs + 30)))
"$build/eddy" gen service-logs --count "$count" --rate "$rate" --event-rate $((rate / 60)) \
    --dup-rate 0.01 --skew 1.1 2>/dev/null |
    "$build/eddy" run "$root/topologies/service-health.yaml" --input - --output /dev/null \
        --dlq /dev/null --http "127.0.0.1:$port" 2>"$tmp/eddy.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 20 # the view fills its 20 minutes of retention
svc=payment-service
declare -A urls=(
    [healthz]="/healthz"
    [status]="/v1/status"
    [by_tenant_15m]="/v1/query?by=tenant_id&service=$svc&last=15m"
    [by_endpoint_15m]="/v1/query?by=endpoint&service=$svc&last=15m"
)
end=$((SECONDS + secs))
while ((SECONDS < end)); do
    for name in "${!urls[@]}"; do
        curl -s -o /dev/null -w "$name %{time_total}\n" "http://127.0.0.1:$port${urls[$name]}" \
            >>"$tmp/times"
    done
done
rows=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "eddy_serving_rows" {print $2}')
events=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "eddy_events_in_total" {print $2}')
echo "query latency: $events events in, $rows rows in the serving view, $(wc -l <"$tmp/times") requests"
python3 - "$tmp/times" <<'PY'
import sys
t = {}
for line in open(sys.argv[1]):
    n, v = line.split()
    t.setdefault(n, []).append(float(v) * 1000)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
base = pct(t["healthz"], 0.95)
for n in sorted(t):
    v = t[n]
    print(f"  {n:16s} n={len(v):4d} p50={pct(v, .5):8.2f} ms p95={pct(v, .95):8.2f} ms "
          f"max={max(v):8.2f} ms  p95/healthz={pct(v, .95) / base:6.1f}x")
PY
