#!/usr/bin/env bash
# tests/integration/run.sh BUILD_DIR — runs eddy's integration tests against a
# real Kafka broker.
#
# For every tests/integration/test_*.c it runs the executable of the same name
# found under BUILD_DIR (one at a time, `--jobs 1`); a source without a built
# executable counts as a failure. Then it runs every executable
# tests/integration/test_*.sh (the Kafka-mode crash-safety tests, see lib.sh)
# with EDDY_BIN=BUILD_DIR/eddy, one at a time, each bounded by the same
# timeout; a script passes when it exits 0. The broker comes from scripts/kafka: if a
# cluster is already fully running it is used and left running, otherwise this
# script starts a single node and stops it on exit. EDDY_BOOTSTRAP defaults to
# the cluster's bootstrap list. Exit status 0 only if every test passed; the
# last line reads "integration: N passed, N failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kafka="$root/scripts/kafka"
test_timeout="${EDDY_INTEGRATION_TIMEOUT:-600}"

if [[ $# -ne 1 || ! -d "$1" ]]; then
    echo "usage: tests/integration/run.sh BUILD_DIR" >&2
    exit 2
fi
build_dir="$(cd "$1" && pwd)"

started_here=0
cleanup() {
    if ((started_here)); then
        "$kafka" stop || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if "$kafka" status >/dev/null 2>&1; then
    echo "integration: using the running Kafka cluster ($("$kafka" bootstrap))"
else
    started_here=1
    "$kafka" start
fi
export EDDY_BOOTSTRAP="${EDDY_BOOTSTRAP:-$("$kafka" bootstrap)}"

passed=0
failed=0
failures=()
shopt -s nullglob
for source in "$root"/tests/integration/test_*.c; do
    name="$(basename "$source" .c)"
    exe="$(find "$build_dir" -type f -name "$name" -perm -u+x -print -quit)"
    if [[ -z "$exe" ]]; then
        echo "integration: FAIL $name (no executable named $name under $build_dir)"
        failed=$((failed + 1))
        failures+=("$name")
        continue
    fi
    echo "integration: RUN  $name"
    t0=$SECONDS
    status=0
    timeout --kill-after=10 "$test_timeout" "$exe" --jobs 1 || status=$?
    if ((status == 0)); then
        echo "integration: PASS $name ($((SECONDS - t0)) s)"
        passed=$((passed + 1))
    else
        echo "integration: FAIL $name (exit $status after $((SECONDS - t0)) s)"
        failed=$((failed + 1))
        failures+=("$name")
    fi
done

export EDDY_BIN="${EDDY_BIN:-$build_dir/eddy}"
for script in "$root"/tests/integration/test_*.sh; do
    [[ -x "$script" ]] || continue
    name="$(basename "$script")"
    echo "integration: RUN  $name"
    t0=$SECONDS
    status=0
    timeout --kill-after=10 "$test_timeout" "$script" || status=$?
    if ((status == 0)); then
        echo "integration: PASS $name ($((SECONDS - t0)) s)"
        passed=$((passed + 1))
    else
        echo "integration: FAIL $name (exit $status after $((SECONDS - t0)) s)"
        failed=$((failed + 1))
        failures+=("$name")
    fi
done

if ((passed + failed == 0)); then
    echo "integration: no tests/integration/test_*.c or test_*.sh found" >&2
    exit 1
fi
((failed == 0)) || echo "integration: failed: ${failures[*]}"
echo "integration: $passed passed, $failed failed"
((failed == 0))
