#!/usr/bin/env python3
"""bench/compare/check.py - result comparison and latency figures of
bench/compare-kstreams (Python 3 standard library only).

  check.py results EDDY KSTREAMS [--skip-service S] [--expect-requests N]
      EDDY and KSTREAMS hold one result value per line (JSON, eddy's layout:
      aggregation, window.start/end, key.service, final, metrics). Only final
      results count; rows of service S (the flush records) are left out. Fails
      (exit 1, listing up to 20 differences) unless both hold exactly the same
      (window start, window end, service) rows, each once, with equal requests
      and errors, latency_avg within 1e-9 relative and latency_p95/latency_p99
      within 1e-9 relative. Both engines use the same DDSketch mapping, so their
      quantiles come from the same bin; glibc's exp() and Java's Math.exp()
      differ in the last bit for some bins (about 0.2%), adjacent bins differ
      by 2%. With --expect-requests, the requests of all rows must sum to N
      (every input event in exactly one closed window). Prints one summary
      line.

  check.py latency INPUT RECEIVED GRACE_MS
      INPUT: "PARTITION<TAB>OFFSET<TAB>APPEND_MS<TAB>JSON" per input record
      (kcat -f '%p\\t%o\\t%T\\t%s\\n' on a topic with LogAppendTime).
      RECEIVED: "RECEIVE_MS<TAB>PARTITION<TAB>OFFSET<TAB>JSON" per output
      record (Tool consume, read_committed). For each final result of window
      [start, end) of service S: S's input partition P (every service must sit
      in one partition), the closing record = the first record of P, in offset
      order, after which P's stream time (largest event time so far) is >=
      end + grace (the moment both engines may close the window), and
      latency = RECEIVE_MS - APPEND_MS(closing record). Prints
      "n=.. p50_ms=.. p99_ms=.. max_ms=.." (nearest-rank percentiles).
"""
import bisect
import json
import math
import sys
from datetime import datetime


def load_results(path, skip_service):
    rows = {}
    dups = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            r = json.loads(line)
            if not r.get("final"):
                continue
            service = r["key"]["service"]
            if service == skip_service:
                continue
            k = (r["window"]["start"], r["window"]["end"], service)
            if k in rows:
                dups.append(k)
            rows[k] = r["metrics"]
    return rows, dups


def rel_diff(a, b):
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def cmd_results(args):
    skip, expect = None, None
    paths = []
    it = iter(args)
    for a in it:
        if a == "--skip-service":
            skip = next(it)
        elif a == "--expect-requests":
            expect = int(next(it))
        else:
            paths.append(a)
    if len(paths) != 2:
        sys.exit("usage: check.py results EDDY KSTREAMS [--skip-service S] [--expect-requests N]")
    (e, e_dups), (k, k_dups) = (load_results(p, skip) for p in paths)
    problems = [f"eddy emitted {d} more than once" for d in e_dups]
    problems += [f"kstreams emitted {d} more than once" for d in k_dups]
    problems += [f"only eddy has {w}" for w in sorted(e.keys() - k.keys())]
    problems += [f"only kstreams has {w}" for w in sorted(k.keys() - e.keys())]
    worst = {"latency_avg": 0.0, "latency_p95": 0.0, "latency_p99": 0.0}
    for w in sorted(e.keys() & k.keys()):
        em, km = e[w], k[w]
        for m in ("requests", "errors"):
            if em.get(m) != km.get(m):
                problems.append(f"{w} {m}: eddy {em.get(m)} kstreams {km.get(m)}")
        for m in worst:
            d = rel_diff(em.get(m), km.get(m))
            worst[m] = max(worst[m], d)
            if not d <= 1e-9:
                problems.append(f"{w} {m}: eddy {em.get(m)} kstreams {km.get(m)}")
    if not e:
        problems.append("no final result at all")
    total = sum(m["requests"] for m in e.values())
    if expect is not None and total != expect:
        problems.append(f"eddy's windows hold {total} requests, the input {expect} events")
    if problems:
        print(f"results DIFFER ({len(problems)} problems):")
        for p in problems[:20]:
            print("  " + p)
        sys.exit(1)
    print(f"results identical: {len(e)} windows, {total} requests; worst relative "
          f"difference avg {worst['latency_avg']:.1e}, p95 {worst['latency_p95']:.1e}, "
          f"p99 {worst['latency_p99']:.1e}")


def epoch_ms(rfc3339):
    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def cmd_latency(args):
    if len(args) != 3:
        sys.exit("usage: check.py latency INPUT RECEIVED GRACE_MS")
    input_path, received_path, grace = args[0], args[1], int(args[2])
    # per partition, in offset order: running max of event time, append time
    parts = {}
    home = {}  # service -> partition
    with open(input_path, encoding="utf-8") as f:
        for line in f:
            p, off, append, value = line.rstrip("\n").split("\t", 3)
            ev = json.loads(value)
            p = int(p)
            if home.setdefault(ev["service"], p) != p:
                sys.exit(f"service {ev['service']} is in partitions {home[ev['service']]} and {p}")
            parts.setdefault(p, []).append((int(off), epoch_ms(ev["timestamp"]), int(append)))
    stream_time, append_ms = {}, {}
    for p, recs in parts.items():
        recs.sort()
        run, st = [], -math.inf
        for _, t, _ in recs:
            st = max(st, t)
            run.append(st)
        stream_time[p] = run
        append_ms[p] = [a for _, _, a in recs]
    lat = []
    with open(received_path, encoding="utf-8") as f:
        for line in f:
            recv, _, _, value = line.rstrip("\n").split("\t", 3)
            r = json.loads(value)
            if not r.get("final"):
                continue
            p = home[r["key"]["service"]]
            close_at = epoch_ms(r["window"]["end"]) + grace
            i = bisect.bisect_left(stream_time[p], close_at)
            if i == len(stream_time[p]):
                sys.exit(f"result {r['window']} {r['key']} before its window could close")
            lat.append(int(recv) - append_ms[p][i])
    if not lat:
        sys.exit("no final result received")
    lat.sort()

    def pct(q):
        return lat[max(0, math.ceil(q * len(lat)) - 1)]

    print(f"n={len(lat)} p50_ms={pct(0.50)} p99_ms={pct(0.99)} max_ms={lat[-1]}")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("results", "latency"):
        sys.exit("usage: check.py results|latency ...")
    (cmd_results if sys.argv[1] == "results" else cmd_latency)(sys.argv[2:])


if __name__ == "__main__":
    main()
