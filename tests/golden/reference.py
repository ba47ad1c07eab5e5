#!/usr/bin/env python3
"""Independent reference for the golden tests.

Recomputes, from the raw input and the topology, what eddy must output, with
plain Python (json module, exact lists of values) and none of eddy's code:
dead letters (offset and reason), deduplication, stream time, tumbling and
hopping windows with grace, and every metric. Then compares with eddy's
output files:
  - the dead letters: same (offset, reason) pairs, exactly;
  - the final results: the same (aggregation, window, key) rows; count,
    count_if, sum, min, max, avg and ratio exactly (to 1e-9 relative);
    quantile within 1% of the exact lower-rank value; distinct exact up to
    256 values, else within 4%; each sketch's "<metric>_error" bound;
  - the alerts: the firing/resolved sequence per (alert, key) that the
    alert conditions give on eddy's own final rows; for burn_rate alerts
    (multiwindow, multi-burn-rate, Google SRE workbook) also the severity,
    the budget and every burn rate (to 1e-9 relative), recomputed from the
    (bad, total) of each key's windows, missing windows counting zero.
Supports the subset of the topology language the shipped topologies use.
Usage: reference.py TOPOLOGY INPUT RESULTS DEAD_LETTERS
"""
import datetime
import gzip
import json
import math
import re
import sys

import yaml

UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def duration(text):
    text = str(text)
    if text == "0":
        return 0
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text))


def rfc3339_ms(text):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        dt = datetime.datetime(y, mo, d, h, mi, min(s, 59), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    ms = int(dt.timestamp()) * 1000 + (1000 if s == 60 else 0)
    if m.group(7):
        ms += int((m.group(7)[1:] + "000")[:3])
    tz = m.group(8)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        ms -= sign * (int(tz[1:3]) * 3600000 + int(tz[4:6]) * 60000)
    return ms


def is_type(value, typ):
    if typ == "string":
        return isinstance(value, str)
    if typ == "bool":
        return isinstance(value, bool)
    if typ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def lookup(doc, path):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


class Table:
    def __init__(self, rows, key):
        self.rows = {str(r[key]): r for r in rows}
        self.key = key


class TableRef:
    def __init__(self, table, scope):
        self.table, self.scope = table, scope

    def __getattr__(self, column):
        row = self.table.rows.get(str(self.scope.get(self.table.key)))
        return None if row is None else row.get(column)


def evaluate(expr, scope, tables):
    names = dict(scope)
    for name, table in tables.items():
        names[name] = TableRef(table, scope)
    try:
        return eval(expr, {"__builtins__": {}}, names)
    except TypeError:
        return None


def load_fields(topo):
    fields = []
    for name, spec in topo["source"]["fields"].items():
        if isinstance(spec, str):
            spec = {"type": spec}
        fields.append((name, spec.get("path", name), spec["type"], spec.get("required", True)))
    return fields


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def decode(line, fields, ts_field, ts_format):
    try:  # RFC 8259: no NaN or Infinity
        doc = json.loads(line, parse_constant=reject_constant)
    except ValueError:
        return "malformed_json", None, None
    if not isinstance(doc, dict):
        return "malformed_json", None, None
    scope = {}
    for name, path, typ, required in fields:
        value = lookup(doc, path)
        if value is None:
            if required:
                return "missing_field", None, None
        elif not is_type(value, typ):
            return "wrong_type", None, None
        scope[name] = value
    raw_ts = lookup(doc, ts_field)
    if ts_format == "rfc3339":
        ts = rfc3339_ms(raw_ts) if isinstance(raw_ts, str) else None
    elif isinstance(raw_ts, (int, float)) and not isinstance(raw_ts, bool):
        ts = math.floor(raw_ts * 1000) if ts_format == "unix_s" else int(raw_ts)
    else:
        ts = None
    if ts is None or ts < 0:
        return "bad_timestamp", None, None
    return None, scope, ts


def metric_call(text):
    m = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", text)
    name, args = m.group(1), m.group(2).strip()
    if name == "quantile":
        arg, q = args.rsplit(",", 1)
        return name, arg.strip(), float(q)
    return name, args, None


def exact_metric(kind, arg_values, q):
    nums = [v for v in arg_values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if kind == "count":
        return len(arg_values)
    if kind == "count_if":
        return sum(1 for v in arg_values if v is True or (isinstance(v, (int, float)) and not isinstance(v, bool) and v != 0))
    if kind == "ratio":
        hits = sum(1 for v in arg_values if v is True)
        return hits / len(arg_values) if arg_values else None
    if kind == "sum":
        return sum(nums)
    if kind == "avg":
        return sum(nums) / len(nums) if nums else None
    if kind in ("min", "max"):
        return (min if kind == "min" else max)(nums) if nums else None
    if kind == "quantile":
        return sorted(nums)[math.floor(q * (len(nums) - 1))] if nums else None
    if kind == "distinct":
        return len({json.dumps(v) for v in arg_values if v is not None})
    raise ValueError(kind)


def close_enough(kind, expected, got):
    if expected is None or got is None:
        return expected is got
    if kind == "quantile":
        return abs(got - expected) <= 0.01 * abs(expected) + 1e-9
    if kind == "distinct":
        return got == expected if expected <= 256 else abs(got - expected) <= 0.04 * expected
    return abs(got - expected) <= 1e-9 * max(1.0, abs(expected))


DEFAULT_BURN_WINDOWS = [{"long": "1h", "short": "5m", "factor": 14.4, "severity": "page"},
                        {"long": "6h", "short": "30m", "factor": 6, "severity": "ticket"}]


def duration_name(ms):
    """eddy's duration text: 5m, 1h, 1h30m, 250ms."""
    parts = []
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts) or "0s"


class BurnRate:
    """One burn_rate alert: per key, (bad, total) by window start."""

    def __init__(self, spec, size):
        self.total, self.bad = spec["total"], spec["bad"]
        self.budget = str(spec["budget"])
        self.size = size
        self.pairs = [(duration(w["long"]), duration(w["short"]), float(w["factor"]), str(w["severity"]))
                      for w in spec.get("windows") or DEFAULT_BURN_WINDOWS]
        self.spans = []  # report order: each pair's short, then long
        for long_ms, short_ms, _, _ in self.pairs:
            for span in (short_ms, long_ms):
                if span not in self.spans:
                    self.spans.append(span)
        self.windows, self.newest, self.firing = {}, {}, {}

    def on_row(self, doc, tables):
        """The (state, severity, budget, rates) transition the row causes, or None."""
        key, start = json.dumps(doc["key"]), rfc3339_ms(doc["window"]["start"])
        if start < self.newest.get(key, start):
            return None  # an older window (late corrections)
        self.newest[key] = start
        counts = self.windows.setdefault(key, {})
        metrics = doc["metrics"]
        counts[start] = (metrics[self.bad] or 0, metrics[self.total] or 0)
        budget = evaluate(self.budget, dict(doc["key"], **metrics), tables)
        if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not budget > 0:
            budget = None
        rates = {}
        for span in self.spans:
            bad = total = 0.0
            for j in range(span // self.size):  # newest first
                b, t = counts.get(start - j * self.size, (0, 0))
                bad, total = bad + b, total + t
            rates[duration_name(span)] = None if budget is None else bad / total / budget if total > 0 else 0
        holding = [severity for long_ms, short_ms, factor, severity in self.pairs
                   if budget is not None and rates[duration_name(long_ms)] >= factor
                   and rates[duration_name(short_ms)] >= factor]
        if holding and key not in self.firing:
            self.firing[key] = holding[0]
            return "firing", holding[0], budget, rates
        if not holding and key in self.firing:
            return "resolved", self.firing.pop(key), budget, rates
        return None


def same_burn(expected, got):
    """(severity, budget, rates) equal, numbers to 1e-9 relative."""
    def close(a, b):
        if a is None or b is None:
            return a is b
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    (es, eb, er), (gs, gb, gr) = expected, got
    return (es == gs and close(eb, gb) and list(er) == list(gr)
            and all(close(er[k], gr[k]) for k in er))


def main(topology_path, input_path, results_path, dead_path):
    topo = yaml.safe_load(open(topology_path))
    base = topology_path.rsplit("/", 1)[0]
    tables = {name: Table(yaml.safe_load(open(f"{base}/{spec['file']}")), spec["key"])
              for name, spec in (topo.get("tables") or {}).items()}
    fields = load_fields(topo)
    ts_spec = topo["source"]["timestamp"]
    grace = duration(topo.get("grace", 0))
    dedup = topo.get("dedup")
    aggs, sources, resolved = [], {}, {}
    for agg in topo["aggregations"]:
        win = agg["window"]
        size = duration(win.get("tumbling") or win.get("hopping"))
        advance = duration(win["advance"]) if "advance" in win else size
        if "from" in win:  # a rollup: the events its source (transitively) accepted
            source = resolved[win["from"]]
            agg = dict(agg, group_by=source.get("group_by", []), metrics=source["metrics"])
            sources[agg["name"]] = sources.get(win["from"], win["from"])
        resolved[agg["name"]] = agg
        metrics = [(name, *metric_call(call)) for name, call in agg["metrics"].items()]
        aggs.append((agg["name"], agg.get("group_by", []), size, advance, metrics, {}))
    opener = gzip.open if input_path.endswith(".gz") else open
    dead, stream_time, seen = {}, -1, {}
    for offset, raw in enumerate(opener(input_path, "rb")):
        line = raw.decode("utf-8", "surrogateescape").rstrip("\n").rstrip("\r")
        if not line:
            continue
        reason, scope, ts = decode(line, fields, ts_spec["field"], ts_spec.get("format", "rfc3339"))
        if reason:
            dead[offset] = reason
            continue
        stream_time = max(stream_time, ts)
        if dedup:
            rid = scope.get(dedup["field"])
            if rid is not None:
                key = json.dumps(rid)
                if key in seen and seen[key] >= stream_time - duration(dedup["within"]):
                    continue
                seen[key] = max(ts, seen.get(key, ts))
        for name, expr in (topo.get("derive") or {}).items():
            scope[name] = evaluate(str(expr), scope, tables)
        late_for, accepted = 0, set()
        for name, group_by, size, advance, metrics, windows in aggs:
            if name in sources and sources[name] not in accepted:
                continue
            key = tuple(scope.get(g) for g in group_by)
            start, open_windows = ts // advance * advance, 0
            while start > ts - size and start >= 0:
                if start + size + grace > stream_time or name in sources:
                    windows.setdefault((start, key), []).append(scope)
                    open_windows += 1
                start -= advance
            if open_windows:
                accepted.add(name)
            late_for += open_windows == 0 and name not in sources
        if late_for:
            dead[offset] = "late"
    failures = 0

    got_dead = {}
    for line in open(dead_path):
        d = json.loads(line)
        got_dead[d["source"]["offset"]] = d["reason"]
    if got_dead != dead:
        diff = sorted(set(got_dead.items()) ^ set(dead.items()))[:10]
        print(f"reference: dead letters differ (offset, reason) first: {diff}")
        failures += 1

    rows, alerts = {}, []
    for line in open(results_path):
        doc = json.loads(line)
        if "alert" in doc:
            alerts.append(doc)
        elif doc["final"]:
            start = rfc3339_ms(doc["window"]["start"])
            rows[(doc["aggregation"], start, json.dumps(doc["key"]))] = doc
    checked = 0
    for name, group_by, size, advance, metrics, windows in aggs:
        for (start, key), scopes in windows.items():
            ident = (name, start, json.dumps(dict(zip(group_by, key)), separators=(",", ":")))
            doc = rows.pop((name, start, json.dumps(dict(zip(group_by, key)))), None)
            if doc is None:
                print(f"reference: missing result {ident}")
                failures += 1
                continue
            for mname, kind, arg, q in metrics:
                values = [True] * len(scopes) if kind == "count" else [evaluate(arg, s, tables) for s in scopes]
                expected = exact_metric(kind, values, q)
                got = doc["metrics"][mname]
                if not close_enough(kind, expected, got):
                    print(f"reference: {ident} {mname}: expected {expected}, eddy says {got}")
                    failures += 1
                if kind in ("quantile", "distinct"):
                    bound = 0.01 if kind == "quantile" else (0 if expected <= 256 else 1.04 / 128)
                    if abs(doc["metrics"].get(mname + "_error", -1) - bound) > 1e-12:
                        print(f"reference: {ident} {mname}_error: expected {bound}, eddy says "
                              f"{doc['metrics'].get(mname + '_error')}")
                        failures += 1
                checked += 1
    for extra in list(rows)[:5]:
        print(f"reference: unexpected result {extra}")
        failures += 1

    firing, expected_alerts, expected_burns = set(), [], []
    by_agg, burns = {}, {}
    sizes = {name: size for name, _, size, _, _, _ in aggs}
    for alert in topo.get("alerts") or []:
        on = alert["on"] if "on" in alert else alert[True]  # YAML 1.1 reads `on` as true
        by_agg.setdefault(on, []).append(alert)
        if "burn_rate" in alert:
            burns[alert["name"]] = BurnRate(alert["burn_rate"], sizes[on])
    for line in open(results_path):
        doc = json.loads(line)
        if "alert" in doc or not doc["final"]:
            continue
        for alert in by_agg.get(doc["aggregation"], []):
            if alert["name"] in burns:
                change = burns[alert["name"]].on_row(doc, tables)
                if change:
                    expected_alerts.append((alert["name"], change[0], doc["window"]["start"], json.dumps(doc["key"])))
                    expected_burns.append(change[1:])
                continue
            scope = dict(doc["key"], **doc["metrics"])
            cond = evaluate(str(alert["when"]), scope, tables) is True
            ident = (alert["name"], json.dumps(doc["key"]))
            if cond != (ident in firing):
                (firing.add if cond else firing.discard)(ident)
                expected_alerts.append((alert["name"], "firing" if cond else "resolved", doc["window"]["start"], json.dumps(doc["key"])))
    got_alerts = [(a["alert"], a["state"], a["window"]["start"], json.dumps(a["key"])) for a in alerts]
    if got_alerts != expected_alerts:
        print(f"reference: alerts differ: expected {expected_alerts[:5]}..., eddy says {got_alerts[:5]}...")
        failures += 1
    got_burns = [(a["severity"], a["budget"], a["burn_rates"]) for a in alerts if a["alert"] in burns]
    if len(got_burns) != len(expected_burns) or not all(map(same_burn, expected_burns, got_burns)):
        print(f"reference: burn-rate alerts differ: expected {expected_burns[:3]}..., eddy says {got_burns[:3]}...")
        failures += 1

    print(f"reference: {checked} metric values, {len(dead)} dead letters, {len(expected_alerts)} alerts checked; {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
