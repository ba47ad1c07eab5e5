#!/usr/bin/env bash
# shellcheck disable=SC2119 # helpers with optional arguments, called without
# test_serve_kafka.sh - interactive queries across instances on the real
# broker. Two Kafka-mode instances with --http share a 4-partition input of
# 20k service-log events; each owns some partitions and publishes its address
# and partitions in <name>-instances. Once the output is complete:
#   - /readyz is 200 on both, /healthz too;
#   - /v1/query by service over the whole input, asked of either instance,
#     answers "asked":2,"answered":2 and byte-identical JSON, whose per-service
#     request and error counts equal the sums of the local-mode results;
#   - /v1/windows/service_1m?service=S (one key's windows) equals S's final
#     rows of the local runs, window by window;
#   - the events_in counters of the two /metrics sum to the records produced;
#   - a bad request gets 400 with a JSON error, an unknown aggregation 404.
# Model and helpers: tests/integration/lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_serve_kafka
eos_topology
# keep every window queryable: the flush record is far in the future
echo 'serve: {retention: 3650d}' >>"$EOS_DIR/topology.yaml"
eos_gen 20000 50 21 4
eos_expected
eos_create_input

port_a=$(eos_free_port)
port_b=$(eos_free_port)
while [[ $port_b == "$port_a" ]]; do port_b=$(eos_free_port); done
eos_start a --http "127.0.0.1:$port_a"
# b listens on every address and tells its peers to use a host name
eos_start b --http "0.0.0.0:$port_b" --advertise "localhost:$port_b"
eos_wait_assigned a b
eos_produce_all 0 0 3
eos_check_input
eos_wait_output 120
eos_compare

get() { curl -s -o "$2" -w '%{http_code}' "$1"; }

for port in "$port_a" "$port_b"; do
    [[ $(get "http://127.0.0.1:$port/readyz" "$EOS_DIR/ready.json") == 200 ]] ||
        eos_fail "/readyz on $port: $(cat "$EOS_DIR/ready.json")"
    [[ $(get "http://127.0.0.1:$port/healthz" "$EOS_DIR/health.json") == 200 ]] ||
        eos_fail "/healthz on $port: $(cat "$EOS_DIR/health.json")"
done

# expected per service from the local runs: requests and errors summed, and
# the end of the last data window (the flush window is left out)
python3 - "$EOS_DIR/expected.results" >"$EOS_DIR/expected.totals" <<'EOF'
import json, sys
tot, end = {}, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("aggregation") != "service_1m" or "alert" in r:
        continue
    s = r["key"]["service"]
    t = tot.setdefault(s, [0, 0])
    t[0] += r["metrics"]["requests"]
    t[1] += r["metrics"]["errors"]
    from datetime import datetime
    e = int(datetime.fromisoformat(r["window"]["end"].replace("Z", "+00:00")).timestamp() * 1000)
    end = max(end, e)
print(end)
for s in sorted(tot):
    print(s, tot[s][0], tot[s][1])
EOF
to=$(head -1 "$EOS_DIR/expected.totals")
query="/v1/query?agg=service_1m&by=service&from=0&to=$to"
# the directory is read every second: wait until both see each other
deadline=$((SECONDS + 30))
while :; do
    get "http://127.0.0.1:$port_a$query" "$EOS_DIR/q.a.json" >/dev/null || true
    get "http://127.0.0.1:$port_b$query" "$EOS_DIR/q.b.json" >/dev/null || true
    if grep -q '"answered":2' "$EOS_DIR/q.a.json" && grep -q '"answered":2' "$EOS_DIR/q.b.json"; then
        break
    fi
    ((SECONDS < deadline)) || eos_fail "instances never answered together: $(head -c 300 "$EOS_DIR/q.a.json")"
    sleep 1
done
cmp -s "$EOS_DIR/q.a.json" "$EOS_DIR/q.b.json" ||
    eos_fail "a and b answer the same query differently"
# b's directory record carries the advertised address, which a reached it by
eos_kcat -C -t "$EOS_NAME-instances" -o beginning -e -q -f '%s\n' \
    -X isolation.level=read_committed >"$EOS_DIR/instances.jsonl" 2>/dev/null || true
grep -q "\"localhost:$port_b\"" "$EOS_DIR/instances.jsonl" ||
    eos_fail "the directory does not advertise b as localhost:$port_b: $(tail -c 400 "$EOS_DIR/instances.jsonl")"
python3 - "$EOS_DIR/q.a.json" >"$EOS_DIR/actual.totals" <<'EOF'
import json, sys
q = json.load(open(sys.argv[1]))
assert q["instances"] == {"asked": 2, "answered": 2}, q["instances"]
print(q["to"])
for r in q["rows"]:  # sorted by group values
    print(r["group"]["service"], r["metrics"]["requests"], r["metrics"]["errors"])
EOF
diff "$EOS_DIR/expected.totals" "$EOS_DIR/actual.totals" ||
    eos_fail "merged query totals differ from the local runs"
eos_log "query by service, asked of a and of b: $(($(wc -l <"$EOS_DIR/actual.totals") - 1)) services, totals equal to the local runs"

# one key's windows, from the instance that does not own it or does
svc=$(sed -n 2p "$EOS_DIR/expected.totals" | cut -d' ' -f1)
get "http://127.0.0.1:$port_b/v1/windows/service_1m?service=$svc&from=0&to=$to" \
    "$EOS_DIR/w.json" >/dev/null
python3 - "$EOS_DIR/expected.results" "$EOS_DIR/w.json" "$svc" <<'EOF' || eos_fail "/v1/windows differs from the local runs"
import json, sys
from datetime import datetime
ms = lambda s: int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
want = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("aggregation") == "service_1m" and "alert" not in r and r["key"]["service"] == sys.argv[3]:
        want[ms(r["window"]["start"])] = (r["metrics"]["requests"], r["metrics"]["errors"],
                                          r["metrics"]["latency_p95"])
got = {}
for r in json.load(open(sys.argv[2]))["rows"]:
    got[r["window_start"]] = (r["metrics"]["requests"], r["metrics"]["errors"],
                              r["metrics"]["latency_p95"])
if want != got:
    print("want", sorted(want.items())[:5], "got", sorted(got.items())[:5])
    sys.exit(1)
print(f"{len(got)} windows of {sys.argv[3]} equal, p95 included")
EOF

produced=$(cat "$EOS_DIR"/p*.jsonl | wc -l)
in_a=$(curl -s "http://127.0.0.1:$port_a/metrics" | awk '$1 == "eddy_events_in_total" {print $2}')
in_b=$(curl -s "http://127.0.0.1:$port_b/metrics" | awk '$1 == "eddy_events_in_total" {print $2}')
((in_a + in_b == produced)) ||
    eos_fail "events_in a=$in_a + b=$in_b != $produced records produced"
eos_log "/metrics: events_in a=$in_a b=$in_b (sum = $produced produced)"

code=$(get "http://127.0.0.1:$port_a/v1/query?agg=service_1m&by=nope" "$EOS_DIR/e.json")
[[ $code == 400 ]] && jq -e '.error | test("nope")' "$EOS_DIR/e.json" >/dev/null ||
    eos_fail "bad by= gave $code $(cat "$EOS_DIR/e.json")"
code=$(get "http://127.0.0.1:$port_a/v1/query?agg=nope" "$EOS_DIR/e.json")
[[ $code == 404 ]] || eos_fail "unknown aggregation gave $code"
eos_pass "queries answered by either instance, merged across both, equal to local runs"
