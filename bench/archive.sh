#!/usr/bin/env bash
# bench/archive.sh [EVENTS [BUILD_DIR]]: what archiving costs (issue 7), in
# local mode over EVENTS service-log events (default 1000000) through
# topologies/service-health.yaml, three ways in the same run, each twice
# (best of two): without archives (the baseline), with service_1m archived
# (partition_by [service, date]) and with service_1m plus the cleaned raw
# stream (partition_by [date]). Reported per way: events/s, peak RSS, Parquet
# files and bytes written, and the throughput ratio to the baseline.
# Last line: kind=archive events= base_eps= agg_eps= raw_eps= agg_ratio= raw_ratio= raw_mb=
set -euo pipefail
events=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
eddy=$build/eddy
tmp=$(mktemp -d /tmp/eddy-bench-archive.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$eddy" gen service-logs --count "$events" --event-rate 2000 --output "$tmp/in.jsonl" 2>/dev/null
topo=$root/topologies/service-health.yaml
sed "s|file: services.yaml|file: $root/topologies/services.yaml|" "$topo" >"$tmp/base.yaml"
sed "s|^    output: {topic: service-health-1m}|&\n    archive: {path: $tmp/lake, partition_by: [service, date]}|" \
    "$tmp/base.yaml" >"$tmp/agg.yaml"
sed "s|^grace: 2m|&\narchive: {path: $tmp/lake, partition_by: [date]}|" "$tmp/agg.yaml" >"$tmp/raw.yaml"

# run NAME: prints "events_per_s rss_mb files mb" (best of two)
run() {
    local best=0 rss=0 i secs kb eps
    for i in 1 2; do
        rm -rf "$tmp/lake"
        /usr/bin/time -f "%e %M" -o "$tmp/$1.time" "$eddy" run "$tmp/$1.yaml" \
            --input "$tmp/in.jsonl" --output /dev/null --dlq /dev/null 2>"$tmp/$1.log"
        read -r secs kb <"$tmp/$1.time"
        eps=$(awk -v n="$events" -v s="$secs" 'BEGIN { printf "%d", n / (s > 0 ? s : 0.001) }')
        if ((eps > best)); then best=$eps rss=$((kb / 1024)); fi
    done
    local files=0 mb=0
    if [[ -d "$tmp/lake" ]]; then
        files=$(find "$tmp/lake" -name '*.parquet' | wc -l)
        mb=$(du -sm "$tmp/lake" | cut -f1)
    fi
    echo "$best $rss $files $mb"
}
read -r base_eps base_rss _ _ < <(run base)
read -r agg_eps agg_rss agg_files agg_mb < <(run agg)
read -r raw_eps raw_rss raw_files raw_mb < <(run raw)
printf '%-28s %10s %8s %7s %8s %6s\n' way events/s rss_mb files lake_mb ratio
printf '%-28s %10d %8d %7d %8d %6s\n' "no archive (baseline)" "$base_eps" "$base_rss" 0 0 1.00
for w in agg raw; do
    eps=${w}_eps rss=${w}_rss files=${w}_files mb=${w}_mb
    printf '%-28s %10d %8d %7d %8d %6s\n' \
        "$([[ $w == agg ]] && echo "service_1m archived" || echo "service_1m + raw archived")" \
        "${!eps}" "${!rss}" "${!files}" "${!mb}" \
        "$(awk -v a="${!eps}" -v b="$base_eps" 'BEGIN { printf "%.2f", a / b }')"
done
echo "kind=archive events=$events base_eps=$base_eps agg_eps=$agg_eps raw_eps=$raw_eps" \
    "agg_ratio=$(awk -v a="$agg_eps" -v b="$base_eps" 'BEGIN { printf "%.2f", a / b }')" \
    "raw_ratio=$(awk -v a="$raw_eps" -v b="$base_eps" 'BEGIN { printf "%.2f", a / b }')" \
    "raw_mb=$raw_mb"
