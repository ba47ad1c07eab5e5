#!/usr/bin/env python3
"""Independent reference for the golden tests.

Recomputes, from the raw input and the topology, what eddy must output, with
plain Python (json module, exact lists of values) and none of eddy's code:
dead letters (offset and reason), deduplication, stream time, tumbling and
hopping windows with grace, aggregation filters (where), every metric, and
patterns (sequence rules per key within a span of event time). Then compares
with eddy's output files:
  - the dead letters: same (offset, reason) pairs, exactly;
  - the final results: the same (aggregation, window, key) rows; count,
    count_if, sum, min, max, avg and ratio exactly (to 1e-9 relative);
    quantile within 1% of the exact lower-rank value; distinct exact up to
    256 values, else within 4%; each sketch's "<metric>_error" bound;
    top_k exactly (the same values in the same order, counts exact, weight
    sums to 1e-9 relative; error 0: every row here has at most 1024
    values); arg_max and arg_min exactly (ties: the smallest field);
  - the pattern matches: the same set of (pattern, key, matched, start, end,
    counts, captured) as the documented semantics give (event-time order
    behind a watermark of stream time - grace, greedy steps, one match per
    record, at most 64 partial matches per key);
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
import heapq
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


COMPILED = {}


def evaluate(expr, scope, tables):
    code = COMPILED.get(expr)
    if code is None:
        code = COMPILED[expr] = compile(expr, "<expr>", "eval")
    names = dict(scope)
    for name, table in tables.items():
        names[name] = TableRef(table, scope)
    try:
        return eval(code, {"__builtins__": {}}, names)
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


def split_args(text):
    """Top-level comma split (commas inside parentheses or quotes stay)."""
    args, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    return args + [text[start:].strip()]


def metric_call(text):
    """(kind, arg, param): quantile's q; top_k's (K, weight or None);
    arg_max's and arg_min's field."""
    m = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", text)
    name, args = m.group(1), split_args(m.group(2).strip())
    if name == "quantile":
        return name, args[0], float(args[1])
    if name == "top_k":
        weight = args[2][len("by:"):].strip() if len(args) == 3 else None
        return name, args[0], (int(args[1]), weight)
    if name in ("arg_max", "arg_min"):
        return name, args[0], args[1]
    return name, args[0], None


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def normalise(v):
    """top_k and arg_max values: an integral float is the int (1.0 is 1)."""
    if isinstance(v, float) and v == math.floor(v) and abs(v) < 2 ** 63:
        return int(v)
    return v


def value_key(v):
    """eddy's order of values: booleans, then numbers, then strings."""
    if isinstance(v, bool):
        return (0, v)
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, v.encode("utf-8", "surrogateescape"))


def top_k(values, weights, k):
    """[{"value", "count"|"sum"}] of the k largest, ties by value; weights
    None for the count form."""
    totals = {}
    for v, w in zip(values, weights if weights is not None else [None] * len(values)):
        if v is None or isinstance(v, float) and not math.isfinite(v):
            continue
        if weights is not None and (not is_number(w) or w < 0):
            continue
        v = normalise(v)
        totals[v] = totals.get(v, 0) + (1 if w is None else w)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], value_key(item[0])))[:k]
    label = "count" if weights is None else "sum"
    return [{"value": v, label: c} for v, c in ranked]


def arg_extreme(kind, values, fields):
    """The field of the largest (arg_max) or smallest (arg_min) value; ties
    take the smallest field."""
    pairs = [(v, normalise(f)) for v, f in zip(values, fields) if is_number(v) and f is not None
             and not (isinstance(f, float) and not math.isfinite(f))]
    if not pairs:
        return None
    best = (max if kind == "arg_max" else min)(v for v, _ in pairs)
    return min((f for v, f in pairs if v == best), key=value_key)


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
    if kind == "top_k":
        return (isinstance(got, list) and len(got) == len(expected) and all(
            list(e) == list(g) and e["value"] == g["value"] and type(e["value"]) is type(g["value"])
            and close_enough("sum", list(e.values())[1], list(g.values())[1])
            for e, g in zip(expected, got)))
    if kind in ("arg_max", "arg_min"):
        return expected == got and type(expected) is type(got)
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


def truthy(v):
    """eddy's truthiness: bool true or a non-zero number."""
    return v is True or (is_number(v) and v != 0)


def times_range(text):
    """`times`: N, N+ or N..M -> (min, max)."""
    text = str(text if text is not None else 1)
    if text.endswith("+"):
        return int(text[:-1]), 1000000
    if ".." in text:
        lo, hi = text.split("..")
        return int(lo), int(hi)
    return int(text), int(text)


def match_ident(doc):
    """What a match is compared by: hashable, times in ms."""
    return (doc["pattern"], json.dumps(doc["key"], sort_keys=True), doc["matched"],
            rfc3339_ms(doc["start"]), rfc3339_ms(doc["end"]), json.dumps(doc["counts"]),
            json.dumps(doc["captured"], sort_keys=True))


class Pattern:
    """One pattern, per docs/topology.md "patterns": relevant records wait
    for the watermark (stream time - grace) and are matched in (event time,
    arrival) order; per key, partial matches take records greedily."""

    MAX_PARTIALS = 64

    def __init__(self, spec, grace, tables):
        self.name, self.key, self.grace, self.tables = spec["name"], spec["key"], grace, tables
        self.within = duration(spec["within"])
        self.emit_timeouts = spec.get("timeout", "drop") == "emit"
        self.steps = [(step.get("name", f"step{i + 1}"), str(step["where"]), *times_range(step.get("times")),
                       step.get("capture") or []) for i, step in enumerate(spec["sequence"])]
        self.waiting, self.arrivals = [], 0  # (ts, arrival, scope)
        self.partials = {}  # key -> [partial]; partial: dict(step, counts, first, last, captured)
        self.deadlines = []  # (first + within, arrival, key) of every partial started
        self.emitted = []

    def matches(self, step, scope):
        return truthy(evaluate(self.steps[step][1], scope, self.tables))

    def add(self, scope, ts, stream_time):
        """False when the record is relevant and late."""
        if not any(self.matches(i, scope) for i in range(len(self.steps))):
            return True
        watermark = stream_time - self.grace
        if ts < watermark:
            return False
        self.waiting.append((ts, self.arrivals, scope))
        self.arrivals += 1
        self.advance(watermark)
        return True

    def advance(self, watermark):
        self.waiting.sort(key=lambda w: (w[0], w[1]))
        while self.waiting and self.waiting[0][0] <= watermark:
            ts, arrival, scope = self.waiting.pop(0)
            self.expire(ts)
            self.match(ts, (ts, arrival), scope)
        self.expire(watermark)

    def finish(self):
        self.advance(float("inf"))
        self.expire(float("inf"))

    def held(self, key, partial):
        return any(p is partial for p in self.partials.get(key, []))

    def expire(self, now):
        """Ends the partial matches whose span is over at watermark @now,
        oldest first."""
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, key = heapq.heappop(self.deadlines)
            for partial in list(self.partials.get(key, [])):
                if partial["first"][0] + self.within <= now and self.held(key, partial):
                    self.end(key, partial)

    def complete(self, partial):
        return partial["step"] == len(self.steps) - 1 and partial["counts"][-1] >= self.steps[-1][2]

    def end(self, key, partial, timed_out=True):
        """The partial match is over: a match when its last step has its
        minimum; else emitted as timed out (timeout: emit) or dropped (and
        always dropped when the 64-partials bound ends it)."""
        self.partials[key] = [p for p in self.partials[key] if p is not partial]
        if self.complete(partial):
            self.emit(key, partial, True)
        elif self.emit_timeouts and timed_out:
            self.emit(key, partial, False, discard=False)

    def emit(self, key, partial, matched, discard=True):
        if matched and discard:  # one match per record
            self.partials[key] = [p for p in self.partials[key] if p["first"] > partial["last"]]
        counts = {self.steps[i][0]: c for i, c in enumerate(partial["counts"])}
        captured = {self.steps[i][0]: dict(zip(self.steps[i][4], partial["captured"][i]))
                    for i in range(len(self.steps)) if self.steps[i][4] and partial["counts"][i] > 0}
        self.emitted.append(match_ident({
            "pattern": self.name, "key": dict(zip(self.key, key)), "matched": matched,
            "start": ms_text(partial["first"][0]), "end": ms_text(partial["last"][0]),
            "counts": counts, "captured": captured}))

    def take(self, partial, step, order, scope):
        partial["counts"][step] += 1
        partial["captured"][step] = [scope.get(f) for f in self.steps[step][4]]
        partial["last"] = order

    def match(self, ts, order, scope):
        key = tuple(scope.get(k) for k in self.key)
        partials = self.partials.setdefault(key, [])
        completed = False
        for partial in list(partials):
            if not self.held(key, partial):
                continue
            step = partial["step"]
            _, _, lo, hi, _ = self.steps[step]
            if self.matches(step, scope) and partial["counts"][step] < hi:
                self.take(partial, step, order, scope)
            elif (partial["counts"][step] >= lo and step + 1 < len(self.steps)
                  and self.matches(step + 1, scope)):
                partial["step"] = step + 1
                self.take(partial, step + 1, order, scope)
            else:
                continue
            if partial["step"] == len(self.steps) - 1 and partial["counts"][-1] == self.steps[-1][3]:
                self.partials[key] = [p for p in self.partials[key] if p is not partial]
                self.emit(key, partial, True)
                completed = True
        if completed or not self.matches(0, scope):
            return
        if len(self.partials[key]) == self.MAX_PARTIALS:
            self.end(key, self.partials[key][0], timed_out=False)  # the oldest
        partial = {"step": 0, "counts": [0] * len(self.steps), "first": order, "last": order,
                   "captured": [[] for _ in self.steps]}
        self.take(partial, 0, order, scope)
        self.partials[key].append(partial)
        heapq.heappush(self.deadlines, (ts + self.within, order[1], key))
        if self.steps[0][3] == 1 and len(self.steps) == 1:
            self.partials[key] = [p for p in self.partials[key] if p is not partial]
            self.emit(key, partial, True)


def ms_text(ms):
    dt = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


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
        where = str(agg["where"]) if "where" in agg else None
        aggs.append((agg["name"], agg.get("group_by", []), size, advance, metrics, {}, where))
    opener = gzip.open if input_path.endswith(".gz") else open
    dead, stream_time, seen = {}, -1, {}
    matchers = [Pattern(spec, grace, tables) for spec in topo.get("patterns") or []]
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
        for name, group_by, size, advance, metrics, windows, where in aggs:
            if name in sources and sources[name] not in accepted:
                continue
            if where is not None and not truthy(evaluate(where, scope, tables)):
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
        for matcher in matchers:
            late_for += not matcher.add(scope, ts, stream_time)
        if late_for:
            dead[offset] = "late"
    for matcher in matchers:
        matcher.finish()
    failures = 0

    got_dead = {}
    for line in open(dead_path):
        d = json.loads(line)
        got_dead[d["source"]["offset"]] = d["reason"]
    if got_dead != dead:
        diff = sorted(set(got_dead.items()) ^ set(dead.items()))[:10]
        print(f"reference: dead letters differ (offset, reason) first: {diff}")
        failures += 1

    rows, alerts, matches = {}, [], []
    for line in open(results_path):
        doc = json.loads(line)
        if "alert" in doc:
            alerts.append(doc)
        elif "pattern" in doc:
            matches.append(doc)
        elif doc["final"]:
            start = rfc3339_ms(doc["window"]["start"])
            rows[(doc["aggregation"], start, json.dumps(doc["key"]))] = doc
    checked = 0
    for name, group_by, size, advance, metrics, windows, _ in aggs:
        for (start, key), scopes in windows.items():
            ident = (name, start, json.dumps(dict(zip(group_by, key)), separators=(",", ":")))
            doc = rows.pop((name, start, json.dumps(dict(zip(group_by, key)))), None)
            if doc is None:
                print(f"reference: missing result {ident}")
                failures += 1
                continue
            for mname, kind, arg, q in metrics:
                values = [True] * len(scopes) if kind == "count" else [evaluate(arg, s, tables) for s in scopes]
                if kind == "top_k":
                    weights = None if q[1] is None else [evaluate(q[1], s, tables) for s in scopes]
                    expected = top_k(values, weights, q[0])
                elif kind in ("arg_max", "arg_min"):
                    expected = arg_extreme(kind, values, [evaluate(q, s, tables) for s in scopes])
                else:
                    expected = exact_metric(kind, values, q)
                got = doc["metrics"][mname]
                if not close_enough(kind, expected, got):
                    print(f"reference: {ident} {mname}: expected {expected}, eddy says {got}")
                    failures += 1
                if kind in ("quantile", "distinct", "top_k"):
                    bound = (0 if expected is None or kind == "top_k" else 0.01 if kind == "quantile"
                             else 0 if expected <= 256 else 1.04 / 128)
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
    sizes = {name: size for name, _, size, _, _, _, _ in aggs}
    for alert in topo.get("alerts") or []:
        on = alert["on"] if "on" in alert else alert[True]  # YAML 1.1 reads `on` as true
        by_agg.setdefault(on, []).append(alert)
        if "burn_rate" in alert:
            burns[alert["name"]] = BurnRate(alert["burn_rate"], sizes[on])
    for line in open(results_path):
        doc = json.loads(line)
        if "alert" in doc or "pattern" in doc or not doc["final"]:
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

    expected_matches = sorted(m for matcher in matchers for m in matcher.emitted)
    got_matches = sorted(match_ident(m) for m in matches)
    if got_matches != expected_matches:
        missing = sorted(set(expected_matches) - set(got_matches))[:3]
        extra = sorted(set(got_matches) - set(expected_matches))[:3]
        print(f"reference: pattern matches differ ({len(expected_matches)} expected, eddy says "
              f"{len(got_matches)}): missing {missing}, unexpected {extra}")
        failures += 1

    print(f"reference: {checked} metric values, {len(dead)} dead letters, {len(expected_alerts)} alerts, "
          f"{len(expected_matches)} pattern matches checked; {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
