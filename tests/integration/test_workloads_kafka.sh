#!/usr/bin/env bash
# test_workloads_kafka.sh - the workload topologies in Kafka mode, exactly
# once, against a real broker: topologies/viewing-events.yaml (nested fields,
# top_k, the binge pattern) and topologies/ecommerce.yaml (hopping windows,
# weighted top_k, the funnel alert), each over its golden input
# (tests/golden/<name>/input.jsonl.gz, 30k events) on a one-partition topic.
# The instance is killed with SIGKILL after the first half has committed and
# restarted on the same state directory; then the second half and a flush
# record one day later go in. The read_committed output must equal a local
# run over the same records, row for row: every final window row, alert and
# pattern match exactly once (pattern state and top_k summaries survive the
# crash through their changelogs), except the rows of the flush record's own
# windows, which only the local run's end of input closes. Integers and
# strings must be equal; non-integral numbers within 1e-9 relative (a float
# sum of a repartitioned aggregation adds per-commit partial sums, in another
# order than the local run).
# Needs scripts/kafka's broker (EDDY_BOOTSTRAP, EDDY_KAFKA_PORT as elsewhere).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

eos_init test_workloads_kafka
root=$eos_root

# flush LINE_FILE OUT: the last record again, one day later, for user "flush"
flush_record() {
    python3 - "$1" >"$2" <<'EOF'
import datetime, json, sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ts = last["ts"]
if isinstance(ts, (int, float)):
    last["ts"] = ts + 86400000
else:
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ") + datetime.timedelta(days=1)
    last["ts"] = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
if isinstance(last.get("user"), dict):
    last["user"]["id"] = "flush"
else:
    last["user_id"] = "flush"
print(json.dumps(last, separators=(",", ":")))
EOF
}

# compare EXPECTED_LOCAL KAFKA FLUSH_FILE: exact multiset equality, leaving out
# local rows whose window holds the flush record's time and matches of "flush"
compare_outputs() {
    python3 - "$1" "$2" "$3" <<'EOF'
import collections, datetime, json, sys
def ms(v):
    if isinstance(v, (int, float)):
        return int(v)
    return int(datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S%z" if "." not in v else "%Y-%m-%dT%H:%M:%S.%f%z")
               .timestamp() * 1000)
flush = json.loads(open(sys.argv[3]).read())
fts = ms(flush["ts"])
def keep_local(row):
    d = json.loads(row)
    w = d.get("window")
    if w and ms(w["start"].replace("Z", "+00:00")) <= fts < ms(w["end"].replace("Z", "+00:00")):
        return False
    if "flush" in json.dumps(d.get("key", {})):
        return False
    return True
def final(row):
    d = json.loads(row)
    return d.get("final", True) is True
def close(a, b):
    """Equal JSON values; non-integral numbers within 1e-9 relative: a sum of
    non-integers over a repartitioned aggregation adds the partial sums of
    each commit, in another order than a local run (docs/topology.md)."""
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b
def ident(d):
    return json.dumps([d.get("aggregation"), d.get("pattern"), d.get("alert"), d.get("state"),
                       d.get("window"), d.get("key"), d.get("start"), d.get("end")], sort_keys=True)
def rows(path, keep):
    out = collections.defaultdict(list)
    for r in open(path).read().splitlines():
        if r and final(r) and keep(r):
            d = json.loads(r)
            out[ident(d)].append(d)
    return out
local = rows(sys.argv[1], keep_local)
kafka = rows(sys.argv[2], lambda r: True)
nl = sum(len(v) for v in local.values())
nk = sum(len(v) for v in kafka.values())
bad = []
for k in set(local) | set(kafka):
    a, b = local.get(k, []), kafka.get(k, [])
    if len(a) != len(b) or not all(any(close(x, y) for y in b) for x in a):
        bad.append((k, a[:1], b[:1]))
inexact = sum(1 for k in local if k in kafka and local[k] != kafka[k])
print(f"local {nl} rows, kafka {nk} rows, {len(bad)} differ, {inexact} equal only within 1e-9")
for k, a, b in bad[:3]:
    print("local:", json.dumps(a)[:300], "kafka:", json.dumps(b)[:300])
sys.exit(0 if not bad and nl else 1)
EOF
}

for topo in viewing-events ecommerce; do
    name="$EOS_NAME-$topo"
    dir="$EOS_DIR/$topo"
    mkdir -p "$dir"
    # every topic of the topology gets the run's prefix
    sed -e "s/^name: .*/name: $name/" -e "s/\(topic: *\)\([A-Za-z0-9._-]*\)/\1$name-\2/" \
        "$root/topologies/$topo.yaml" >"$dir/topology.yaml"
    sed -i "s|file: *\(topologies/[^ ,}]*\)|file: $root/\1|" "$dir/topology.yaml"
    "$EOS_EDDY" validate "$dir/topology.yaml" >/dev/null || eos_fail "$topo: renamed topology does not validate"
    input=$(awk '/^source:/ { s = 1 } s && /topic:/ { print $2; exit }' "$dir/topology.yaml")
    mapfile -t outputs < <(grep -o "output: {topic: [A-Za-z0-9._-]*" "$dir/topology.yaml" |
        awk '{ print $3 }' | sort -u)
    zcat "$root/tests/golden/$topo/input.jsonl.gz" >"$dir/all.jsonl"
    flush_record "$dir/all.jsonl" "$dir/flush.jsonl"
    total=$(wc -l <"$dir/all.jsonl")
    head -n $((total / 2)) "$dir/all.jsonl" >"$dir/half1.jsonl"
    tail -n +$((total / 2 + 1)) "$dir/all.jsonl" >"$dir/half2.jsonl"
    cat "$dir/all.jsonl" "$dir/flush.jsonl" >"$dir/local-in.jsonl"
    "$EOS_EDDY" run "$dir/topology.yaml" --input "$dir/local-in.jsonl" --output "$dir/local.out" \
        --dlq "$dir/local.dlq" 2>"$dir/local.log" || eos_fail "$topo: local run failed"

    "$root/scripts/kafka" create-topic "$input" --partitions 1 >/dev/null
    port=$(eos_free_port)
    start() {
        "$EOS_EDDY" run "$dir/topology.yaml" --bootstrap "$EOS_BOOTSTRAP" --state-dir "$dir/state" \
            --instance a --replication 1 --commit-interval-ms 200 -X session.timeout.ms=6000 \
            --http "127.0.0.1:$port" >>"$dir/eddy.log" 2>&1 &
        pid=$!
    }
    events_in() {
        curl -sf "127.0.0.1:$port/metrics" 2>/dev/null |
            awk '$1 == "eddy_events_in_total" { print $2 }'
    }
    start
    eos_kcat -P -t "$input" -l "$dir/half1.jsonl"
    deadline=$((SECONDS + 120))
    until [[ "$(events_in)" == "$((total / 2))" ]]; do
        ((SECONDS < deadline)) || eos_fail "$topo: the first half was not read in 120 s"
        kill -0 "$pid" 2>/dev/null || eos_fail "$topo: eddy exited (see $dir/eddy.log)"
        sleep 0.2
    done
    sleep 1 # a few commits (200 ms) past the first half
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    eos_log "$topo: killed after the first half; restarting on the same state"
    start
    eos_kcat -P -t "$input" -l "$dir/half2.jsonl"
    eos_kcat -P -t "$input" -l "$dir/flush.jsonl"
    # until the output stops growing for 3 s after every input record was read
    : >"$dir/kafka.out"
    deadline=$((SECONDS + 180))
    last=-1
    stable=0
    while ((stable < 3)); do
        ((SECONDS < deadline)) || eos_fail "$topo: output did not settle in 180 s"
        kill -0 "$pid" 2>/dev/null || eos_fail "$topo: eddy exited (see $dir/eddy.log)"
        : >"$dir/kafka.out"
        for t in "${outputs[@]}"; do
            timeout 60 kcat -b "$EOS_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f '%s\n' \
                -X isolation.level=read_committed 2>/dev/null >>"$dir/kafka.out" || true
        done
        n=$(wc -l <"$dir/kafka.out")
        if ((n == last && n > 0)); then stable=$((stable + 1)); else stable=0; fi
        last=$n
        sleep 1
    done
    kill -TERM "$pid"
    wait "$pid" || eos_fail "$topo: eddy did not stop cleanly"
    if ! result=$(compare_outputs "$dir/local.out" "$dir/kafka.out" "$dir/flush.jsonl"); then
        eos_fail "$topo: Kafka output differs from the local run: $result"
    fi
    eos_log "$topo: $result"
done
eos_pass
