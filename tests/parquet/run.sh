#!/usr/bin/env bash
# Parquet reader tests: BUILD_DIR/parquet_write_cases (tests/parquet/write_cases.c)
# writes files with eddy's Parquet writer (src/sink/parquet.c) plus the rows a
# reader must find in them, and tests/parquet/check.py reads them back with
# pyarrow, duckdb and its own decoder of the footer and pages (docs/parquet.md).
# The checkers run in the venv of scripts/pyenv (made on first use, from PyPI).
# Under an ASan build, any sanitizer report of the writer is a failure.
# Ends with "parquet: N passed, M failed" (check.py's counts); exits non-zero
# on any failure.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

finish() { # passed failed
    echo "parquet: $1 passed, $2 failed"
    [ "$2" -eq 0 ] && [ "$1" -gt 0 ]
    exit $?
}

if ! python=$("$root/scripts/pyenv"); then
    echo "parquet: FAILED (no Python venv with pyarrow, duckdb and lz4; see scripts/pyenv)"
    finish 0 1
fi
bin="$build/parquet_write_cases"
if [ ! -x "$bin" ]; then
    echo "parquet: FAILED ($bin is not built; configure with -DEDDY_TESTS=ON)"
    finish 0 1
fi
if ! "$bin" "$tmp/out" >"$tmp/write.log" 2>&1 ||
   grep -qE "ERROR: (Leak|Address)Sanitizer|runtime error:" "$tmp/write.log"; then
    echo "parquet: FAILED (write_cases)"; tail -40 "$tmp/write.log"
    finish 0 1
fi
"$python" "$root/tests/parquet/check.py" "$tmp/out" | tee "$tmp/check.log"
status=${PIPESTATUS[0]}
counts=$(tail -1 "$tmp/check.log" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
if [ -z "$counts" ]; then
    echo "parquet: FAILED (check.py exited $status without its summary line)"
    finish 0 1
fi
read -r passed failed <<<"$counts"
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
finish "$passed" "$failed"
