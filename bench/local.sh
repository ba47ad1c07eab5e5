#!/usr/bin/env bash
# Local-mode throughput of each topology in topologies/ over COUNT generated
# events, against a baseline measured in the same run on the same file: the
# time `wc -l` takes to read it (the cost of touching the bytes at all).
# Prints events/s, ns/event, the ratio to the baseline and the peak RSS.
#   bench/local.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"
eddy="$build/eddy"
now() { date +%s.%N; }

declare -A kind=([service-health]=service-logs [unique-users]=frames)
declare -A genopts=([service-health]="--event-rate 2000 --dup-rate 0.01 --late-rate 0.01 --max-late 3m --malformed-rate 0.001"
                    [unique-users]="--event-rate 2000 --frame-bytes 2048 --users 100000 --late-rate 0.001 --max-late 10s")
printf "%-16s %10s %12s %10s %14s %10s %8s\n" topology events seconds ns/event events/s vs_wc_-l rss_mb
for topo in service-health unique-users; do
  data="$out/$topo-$count.jsonl"
  [ -s "$data" ] || "$eddy" gen "${kind[$topo]}" --count "$count" ${genopts[$topo]} --output "$data"
  cat "$data" > /dev/null  # warm the page cache for both runs
  t0=$(now); wc -l "$data" > /dev/null; t1=$(now)
  /usr/bin/time -f "%M" -o "$out/rss" "$eddy" run "$root/topologies/$topo.yaml" --input "$data" \
      --output /dev/null --dlq /dev/null 2>"$out/$topo.log"
  t2=$(now)
  awk -v n="$count" -v b="$(echo "$t1 - $t0" | bc)" -v e="$(echo "$t2 - $t1" | bc)" \
      -v rss="$(tail -1 "$out/rss")" -v t="$topo" \
      'BEGIN { printf "%-16s %10d %12.3f %10.1f %14.0f %9.1fx %8.1f\n", t, n, e, e*1e9/n, n/e, e/b, rss/1024 }'
done
