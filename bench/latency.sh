#!/usr/bin/env bash
# bench/latency.sh [RATE [SECONDS [BUILD_DIR]]]: end-to-end latency of eddy in
# Kafka mode, exactly once, at a fixed input rate (default 100000 events/s for
# 60 s after 5 s of warm-up; build dir default build/).
#
# Needs the broker of scripts/kafka (EDDY_KAFKA_PORT/EDDY_KAFKA_DIR when it is
# not the default one). Every run uses fresh topics: input <name>-in (4
# partitions, PARTITIONS=N to change), output <name>-out, where <name> is
# latency-<epoch>-<pid>. One eddy instance runs bench/latency.d/service_1m.yaml
# (service-health's per-service aggregation, emit {updates: 1s}) with the
# default commit interval of 100 ms (COMMIT_MS=N to change) and --http
# (TOPOLOGY=FILE runs another topology with the same NAME/INPUT placeholders
# and a service_1m-like aggregation writing to NAME-out, e.g.
# bench/latency.d/service_1m_500ms.yaml: updates every 500 ms).
# Once it is ready, bench_latency (bench/bench_latency.c) produces generated
# service logs with live timestamps at RATE events/s and every 10 ms a probe
# event of a new service "probe-<n>" stamped with its send time t, and reads
# the output topic read_committed: r = when the probe's first result row
# arrived. Over the probes sent after the warm-up it reports
#   latency       r - t  event produced -> result readable: what a dashboard
#                        reading the output sees. Includes the wait for the
#                        next 1 s boundary of stream time, since an update
#                        is emitted only when stream time crosses a multiple
#                        of 1 s (on average 500 ms, at most 1 s);
#   after_update  r - U  where U is the earliest moment the update holding
#                        the probe can exist: that boundary, or t itself when
#                        the probe is the record of its partition that
#                        crosses a boundary (bench_latency knows: it
#                        partitions every record itself). eddy's own share,
#                        from U to readable: input fetch, processing, the
#                        rest of the commit interval, the transaction commit,
#                        the reader's fetch. Probes of one partition that
#                        wait for the same boundary share one update, so
#                        this has about 4 distinct values per second.
# plus the achieved input rate (producer side, and what eddy read), eddy's CPU
# (cores, over the measured period) and peak RSS, the broker's and the load
# generator's CPU (they share the machine), eddy's commit duration from
# /metrics (eddy_commit_duration_seconds: mean, and the histogram bucket that
# holds p50/p99) and its input lag when the load stopped. KEEP_DIR=DIR keeps
# the per-probe samples (bench_latency --samples), eddy's log and /metrics.
# Last line, machine-readable (bench/chart.py reads it):
#   kind=latency engine=eddy_kafka_eos target_rate= rate= p50_ms= p90_ms=
#   p99_ms= p999_ms= max_ms= upd_p50_ms= upd_p99_ms= upd_max_ms= missing=
#   eddy_cpu= eddy_rss_mb= commit_avg_ms=
set -euo pipefail
rate=${1:-100000}
secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${3:-$root/build}" && pwd)
warmup=${WARMUP:-5}
partitions=${PARTITIONS:-4}
commit_ms=${COMMIT_MS:-100}
kafka="$root/scripts/kafka"
"$kafka" status >/dev/null || { echo "latency: no broker: run scripts/kafka start" >&2; exit 1; }
bootstrap=$("$kafka" bootstrap)
name="latency-$(date +%s)-$$"
tmp=$(mktemp -d "/tmp/$name.XXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
eddy_pid=""
cleanup() {
    [[ -n "$eddy_pid" ]] && kill "$eddy_pid" 2>/dev/null && wait "$eddy_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "latency: $*" >&2; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
metrics() { curl -sf "http://127.0.0.1:$port/metrics"; }

timeout 120 "$kafka" create-topic "$name-in" --partitions "$partitions" >/dev/null
sed "s/NAME/$name/g; s/INPUT/$name-in/" "${TOPOLOGY:-$root/bench/latency.d/service_1m.yaml}" \
    >"$tmp/topology.yaml"
# the updates interval, for bench_latency's after_update (1s, 500ms, ...)
update_ms=$(sed -nE 's/.*updates: *([0-9]+)(ms|s)\b.*/\1 \2/p' "$tmp/topology.yaml" | head -1 |
    awk '{print $2 == "s" ? $1 * 1000 : $1}')
update_ms=${update_ms:-1000}
"$build/eddy" run "$tmp/topology.yaml" --bootstrap "$bootstrap" --state-dir "$tmp/state" \
    --instance a --commit-interval-ms "$commit_ms" --http "127.0.0.1:$port" 2>"$tmp/eddy.log" &
eddy_pid=$!
for ((i = 0; i < 600; i++)); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 "$eddy_pid" 2>/dev/null || { cat "$tmp/eddy.log" >&2; exit 1; }
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { log "eddy not ready after 120 s"; exit 1; }
broker_pid=$(cat "${EDDY_KAFKA_DIR:-/tmp/eddy-kafka}/node-1.pid" 2>/dev/null || echo 0)
log "eddy ready ($name, $partitions partitions); $rate events/s for $warmup + $secs s"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

"$build/bench_latency" --bootstrap "$bootstrap" --input "$name-in" --output "$name-out" \
    --rate "$rate" --seconds "$secs" --warmup "$warmup" --samples "$tmp/samples" \
    --update-ms "$update_ms" \
    >"$tmp/bench.out" 2>"$tmp/bench.log" &
bench_pid=$!
# measured period: from the end of the warm-up until probes stop (to ~0.1 s)
until grep -qs 'load started' "$tmp/bench.log"; do
    kill -0 "$bench_pid" 2>/dev/null || { cat "$tmp/bench.log" >&2; exit 1; }
    sleep 0.05
done
sleep "$warmup"
metrics >"$tmp/metrics.0"
t0=$(date +%s.%N)
e0=$(cpu_ticks "$eddy_pid") b0=$(cpu_ticks "$broker_pid") g0=$(cpu_ticks "$bench_pid")
sleep "$secs"
metrics >"$tmp/metrics.1"
t1=$(date +%s.%N)
e1=$(cpu_ticks "$eddy_pid") b1=$(cpu_ticks "$broker_pid") g1=$(cpu_ticks "$bench_pid")
wait "$bench_pid" || { cat "$tmp/bench.log" "$tmp/bench.out" >&2; log "bench_latency failed"; exit 1; }
load1=$(cut -d' ' -f1-3 /proc/loadavg)
rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$eddy_pid/status")
kill "$eddy_pid"
wait "$eddy_pid" || true
eddy_pid=""
grep -q 'ERROR\|error' "$tmp/eddy.log" && { log "eddy logged errors:"; grep -i error "$tmp/eddy.log" | head >&2; }
if [[ -n "${KEEP_DIR:-}" ]]; then # per-probe samples, logs and metrics for a closer look
    mkdir -p "$KEEP_DIR"
    cp "$tmp"/{samples,eddy.log,bench.out,bench.log,metrics.0,metrics.1,topology.yaml} "$KEEP_DIR"
fi
echo "machine: $(nproc) cores, load average $load0 before, $load1 after (others' work counts too)"

python3 - "$tmp" "$t0" "$t1" "$((e1 - e0))" "$((b1 - b0))" "$((g1 - g0))" "$(getconf CLK_TCK)" \
    "$rss_kb" "$rate" "$commit_ms" "$partitions" <<'PY'
import re, sys
tmp, t0, t1, de, db, dg, tck, rss_kb, target, commit_ms, partitions = sys.argv[1:]
secs = float(t1) - float(t0)

def parse(path):
    m = {}
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        k, v = line.rsplit(None, 1)
        m[k] = float(v)
    return m

m0, m1 = parse(f'{tmp}/metrics.0'), parse(f'{tmp}/metrics.1')
d = lambda k: m1.get(k, 0) - m0.get(k, 0)

def hist(name):
    """count, mean (ms), and the upper bounds (ms) of the buckets holding p50 and p99"""
    n, s = d(f'{name}_count'), d(f'{name}_sum')
    buckets = sorted((float('inf') if le == '+Inf' else float(le), d(k))
                     for k in m1 for le in re.findall(rf'^{name}_bucket{{le="([^"]+)"}}$', k))
    def q(p):
        for le, c in buckets:
            if c >= p * n:
                return f'<= {le * 1000:g} ms' if le != float('inf') else '> 300 s'
        return 'n/a'
    return n, (s / n * 1000 if n else float('nan')), q(.5), q(.99)

res = dict(kv.split('=', 1) for kv in open(f'{tmp}/bench.out').read().split('RESULT ', 1)[1].split())
for line in open(f'{tmp}/bench.out'):
    if not line.startswith('RESULT'):
        print(line.rstrip())
cn, cmean, c50, c99 = hist('eddy_commit_duration_seconds')
fn, fmean, f50, f99 = hist('eddy_freshness_seconds')
lag = sum(v for k, v in m1.items() if k.startswith('eddy_consumer_lag'))
eddy_in = d('eddy_events_in_total') / secs
cpu = lambda ticks: int(ticks) / int(tck) / secs
print(f'eddy read {eddy_in:.0f} records/s (probes included); input lag when the load stopped: '
      f'{lag:.0f} records over {partitions} partitions')
print(f'cpu (cores, over {secs:.1f} s): eddy {cpu(de):.2f}, broker {cpu(db):.2f}, '
      f'load generator + reader {cpu(dg):.2f}; eddy peak RSS {int(rss_kb) / 1024:.0f} MB')
print(f'commits ({commit_ms} ms interval): {cn:.0f}, mean {cmean:.1f} ms, p50 {c50}, p99 {c99}')
if fn:
    print(f'freshness of final rows (commit - window end): n={fn:.0f} mean {fmean:.0f} ms')
keys = ['p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'max_ms', 'upd_p50_ms', 'upd_p90_ms',
        'upd_p99_ms', 'upd_p999_ms', 'upd_max_ms', 'missing', 'probes']
print(f'kind=latency engine=eddy_kafka_eos target_rate={target} rate={float(res["rate"]):.0f} '
      f'eddy_rate={eddy_in:.0f} ' + ' '.join(f'{k}={res[k]}' for k in keys) +
      f' eddy_cpu={cpu(de):.2f} eddy_rss_mb={int(rss_kb) / 1024:.0f} commit_avg_ms={cmean:.1f}'
      f' lag_end={lag:.0f}')
PY
