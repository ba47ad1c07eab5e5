#!/usr/bin/env bash
# Runs every unit test binary (tests/unit/test_*.c) built in BUILD_DIR.
# A test binary fails on a failed assertion, a crash, or any sanitizer report
# in its output: Criterion runs tests in child processes and does not turn a
# LeakSanitizer report of a child into a failure, so the output is checked.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for src in "$root"/tests/unit/test_*.c; do
  name=$(basename "$src" .c)
  bin="$build/$name"
  if [ ! -x "$bin" ]; then
    echo "unit $name: FAILED (not built)"; failed=$((failed + 1)); continue
  fi
  if (cd "$root" && "$bin" --jobs 1) >"$log" 2>&1 &&
     ! grep -qE "ERROR: (Leak|Address)Sanitizer|runtime error:" "$log"; then
    echo "unit $name: ok ($(grep -oE 'Tested: [0-9]+' "$log" | tail -1))"
    passed=$((passed + 1))
  else
    echo "unit $name: FAILED"; tail -40 "$log"; failed=$((failed + 1))
  fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
