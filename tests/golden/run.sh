#!/usr/bin/env bash
# Golden tests: each directory tests/golden/<case>/ holds
#   topology        one line: the topology path, relative to the project root
#   input.*         the checked-in input (plain, .gz or .lz4)
#   expected.jsonl.gz  the exact expected results and alerts (gzip -9n: they
#                   are large and compress ~10x)
#   expected.dlq.jsonl  the exact expected dead letters
# Runs eddy over the input and compares both outputs byte for byte, then checks
# them against tests/golden/reference.py, an independent Python implementation
# of the semantics (so a wrong expectation cannot be checked in unnoticed).
# With --update, rewrites the expected files instead (review the diff!).
set -uo pipefail
eddy=${1:?usage: run.sh EDDY_BINARY [--update]}
update=${2:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
eddy=$(cd "$(dirname "$eddy")" && pwd)/$(basename "$eddy")
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dir in "$root"/tests/golden/*/; do
  name=$(basename "$dir")
  [ -f "$dir/topology" ] || continue
  topology="$root/$(head -1 "$dir/topology")"
  input=$(cd "$dir" && ls input.* 2>/dev/null | head -1)
  # relative input path: dead letters name it, and must not depend on the checkout
  if ! (cd "$dir" && "$eddy" run "$topology" --input "$input" --output "$tmp/$name.out" \
        --dlq "$tmp/$name.dlq" 2>"$tmp/$name.log"); then
    echo "golden $name: FAILED (eddy exited non-zero)"; cat "$tmp/$name.log"
    failed=$((failed + 1)); continue
  fi
  if [ "$update" = "--update" ]; then
    gzip -9n <"$tmp/$name.out" >"$dir/expected.jsonl.gz"; cp "$tmp/$name.dlq" "$dir/expected.dlq.jsonl"
    echo "golden $name: updated"; continue
  fi
  gzip -dc "$dir/expected.jsonl.gz" >"$tmp/$name.expected"
  if cmp -s "$tmp/$name.out" "$tmp/$name.expected" && cmp -s "$tmp/$name.dlq" "$dir/expected.dlq.jsonl"; then
    echo "golden $name: ok ($(wc -l < "$tmp/$name.expected") results, $(wc -l < "$dir/expected.dlq.jsonl") dead letters)"
    # the expectation itself is checked against an independent reference
    if /usr/bin/python3 "$root/tests/golden/reference.py" "$topology" "$dir/$input" "$tmp/$name.out" "$tmp/$name.dlq"; then
      passed=$((passed + 1))
    else
      echo "golden $name: FAILED (output disagrees with tests/golden/reference.py)"
      failed=$((failed + 1))
    fi
  else
    echo "golden $name: FAILED"
    diff "$tmp/$name.expected" "$tmp/$name.out" | head -20
    diff <(cat "$dir/expected.dlq.jsonl") "$tmp/$name.dlq" | head -20
    failed=$((failed + 1))
  fi
done
[ "$update" = "--update" ] && exit 0
echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
