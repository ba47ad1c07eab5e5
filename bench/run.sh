#!/usr/bin/env bash
# `make bench`: every benchmark of eddy, each against a baseline measured in
# the same run (these machines are shared and noisy: compare ratios).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== aggregates and sketches (bench_agg)"
"$build/bench_agg"
[ -x "$build/bench_state" ] && { echo "== RocksDB state (bench_state)"; "$build/bench_state"; }
echo "== local mode, whole topologies, and the codec (bench/local)"
"$root/bench/local" "$build" 1000000
echo "== Kafka mode (starts the single-node broker when none runs)"
"$root/scripts/kafka" start >/dev/null
echo "-- exactly once vs at least once, one instance over a backlog (bench/eos_throughput.sh)"
"$root/bench/eos_throughput.sh" "$build" 500000
echo "-- a hot tenant through the repartition topic (bench/skew.sh)"
"$root/bench/skew.sh" "$build" 300000
echo "== interactive queries on a busy topology (bench/query_latency.sh)"
"$root/bench/query_latency.sh" "$build" 30 50000
