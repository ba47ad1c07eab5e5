#!/usr/bin/env bash
# bench/history.sh [FRAMES [BUILD_DIR]]: two years of history through
# topologies/unique-users.yaml in local mode (issue 6: history at full speed,
# bounded memory).
#
# Generates FRAMES 2-KB frames (default 1000000) spread over two years of event
# time (2024-11-25 .. 2026-11-25, one frame every ~63 s) and, as the baseline
# measured in the same run, the same number of frames at 1000 per second of
# event time (17 minutes). Each goes through eddy three ways: an lz4 file on
# stdin, a gzip file, and the plain file. Reported per run: frames/s, input
# MB/s (uncompressed), peak RSS (/usr/bin/time) and the result rows emitted
# (the two-year history closes ~1M minute windows, 17.5k hours and 730 days as
# stream time advances; the dense one 17 minutes).
# Last line: kind=history frames= span_days= lz4_frames_per_s= rss_mb=
#            dense_lz4_frames_per_s= dense_rss_mb= ratio=
set -euo pipefail
frames=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
eddy=$build/eddy
tmp=$(mktemp -d /tmp/eddy-history.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
span_s=$((730 * 86400))
rate=$(awk -v n="$frames" -v s="$span_s" 'BEGIN { printf "%.9f", n / s }')
"$eddy" gen frames --count "$frames" --event-rate "$rate" --start 2024-11-25T00:00:00Z \
    --output "$tmp/history.jsonl" 2>/dev/null
"$eddy" gen frames --count "$frames" --event-rate 1000 --start 2024-11-25T00:00:00Z \
    --output "$tmp/dense.jsonl" 2>/dev/null
for f in history dense; do
    lz4 -q -f "$tmp/$f.jsonl" "$tmp/$f.jsonl.lz4"
    gzip -1 -c "$tmp/$f.jsonl" >"$tmp/$f.jsonl.gz"
done
bytes=$(stat -c %s "$tmp/history.jsonl")

# run NAME INPUT_ARGS...: prints "frames_per_s rss_mb rows"
run() {
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$eddy" run "$root/topologies/unique-users.yaml" \
        "$@" --output "$tmp/$name.out" --dlq "$tmp/$name.dlq" 2>"$tmp/$name.log"
    read -r secs rss_kb <"$tmp/$name.time"
    awk -v n="$frames" -v s="$secs" -v r="$rss_kb" -v rows="$(wc -l <"$tmp/$name.out")" \
        'BEGIN { printf "%.0f %.0f %d\n", n / s, r / 1024, rows }'
}
printf '%-22s %12s %8s %8s %10s\n' input frames/s MB/s rss_mb rows
for f in history dense; do
    for how in lz4-stdin gzip plain; do
        case $how in
        lz4-stdin) read -r fps rss rows < <(run "$f-$how" --input - <"$tmp/$f.jsonl.lz4") ;;
        gzip) read -r fps rss rows < <(run "$f-$how" --input "$tmp/$f.jsonl.gz") ;;
        plain) read -r fps rss rows < <(run "$f-$how" --input "$tmp/$f.jsonl") ;;
        esac
        mbs=$(awk -v f="$fps" -v b="$bytes" -v n="$frames" 'BEGIN { printf "%.0f", f * b / n / 1e6 }')
        printf '%-22s %12s %8s %8s %10s\n' "$f $how" "$fps" "$mbs" "$rss" "$rows"
        declare "fps_${f}_${how//-/_}=$fps" "rss_${f}_${how//-/_}=$rss"
    done
done
# the two-year history and the dense file must count the same frames
for f in history dense; do
    dead=$(wc -l <"$tmp/$f-plain.dlq")
    [[ $dead == 0 ]] || { echo "history: $dead dead letters for $f" >&2; exit 1; }
done
echo "kind=history frames=$frames span_days=730 lz4_frames_per_s=$fps_history_lz4_stdin" \
    "rss_mb=$rss_history_lz4_stdin dense_lz4_frames_per_s=$fps_dense_lz4_stdin" \
    "dense_rss_mb=$rss_dense_lz4_stdin" \
    "ratio=$(awk -v a="$fps_history_lz4_stdin" -v b="$fps_dense_lz4_stdin" 'BEGIN { printf "%.2f", a / b }')"
