#!/usr/bin/env bash
# Runs every libFuzzer harness built in BUILD_DIR for SECONDS each, starting
# from its seed corpus in tests/fuzz/corpus/<name>/. Any crash, leak or
# timeout fails the run; the reproducer is left in tests/fuzz/out/.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS}
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
n=0
for fz in "$build"/fuzz_*; do
  [ -x "$fz" ] || continue
  name=$(basename "$fz"); name=${name#fuzz_}
  corpus=$(mktemp -d)
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$corpus/"
  echo "fuzz $name: ${secs}s"
  if ! "$fz" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$out/$name-" -print_final_stats=0 "$corpus" >"$out/$name.log" 2>&1; then
    tail -40 "$out/$name.log"
    echo "fuzz $name: FAILED (see $out/$name.log)"
    rm -rf "$corpus"
    exit 1
  fi
  grep -E "^#[0-9]+.*DONE" "$out/$name.log" | tail -1 || true
  rm -rf "$corpus"
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "fuzz: no harness built in $build" >&2
  exit 1
fi
echo "fuzz: $n harnesses ran clean"
