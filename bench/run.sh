#!/usr/bin/env bash
# `make bench`: every benchmark of eddy, each against a baseline measured in
# the same run (these machines are shared and noisy: compare ratios).
# Everything is also written to bench/out/results.txt, and bench/chart.py
# draws bench/out/chart.png from its kind=throughput / kind=latency lines.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bench/out"
exec > >(tee "$root/bench/out/results.txt") 2>&1
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== aggregates and sketches (bench_agg)"
"$build/bench_agg"
echo "== the dedup store alone: mean cost and the longest single call (bench_dedup)"
"$build/bench_dedup"
[ -x "$build/bench_state" ] && { echo "== RocksDB state (bench_state)"; "$build/bench_state"; }
echo "== local mode, whole topologies, and the codec (bench/local)"
"$root/bench/local" "$build" 1000000
echo "== two years of history vs 17 minutes of the same frames (bench/history.sh)"
"$root/bench/history.sh" 1000000 "$build"
echo "== what archiving to Parquet costs (bench/archive.sh)"
"$root/bench/archive.sh" 1000000 "$build"
echo "== Kafka mode (starts the single-node broker when none runs)"
"$root/scripts/kafka" start >/dev/null
echo "-- exactly once vs at least once, one instance over a backlog (bench/eos_throughput.sh)"
"$root/bench/eos_throughput.sh" "$build" 500000
echo "-- a hot tenant through the repartition topic (bench/skew.sh)"
"$root/bench/skew.sh" "$build" 300000
echo "-- restore after losing the state (bench/restore.sh)"
"$root/bench/restore.sh" 2000000 "$build"
echo "== interactive queries on a busy topology (bench/query_latency.sh)"
"$root/bench/query_latency.sh" "$build" 30 50000
echo "-- end-to-end latency at a fixed rate, exactly once (bench/latency.sh)"
"$root/bench/latency.sh" 100000 60 "$build"
echo "-- the same with updates every 500 ms (bench/latency.d/service_1m_500ms.yaml)"
TOPOLOGY="$root/bench/latency.d/service_1m_500ms.yaml" "$root/bench/latency.sh" 100000 60 "$build"
echo "-- side by side with Kafka Streams (bench/compare-kstreams)"
EDDY_BUILD="$build" "$root/bench/compare-kstreams" 2
echo "== chart"
python3 "$root/bench/chart.py" "$root/bench/out/results.txt" -o "$root/bench/out/chart.png"
