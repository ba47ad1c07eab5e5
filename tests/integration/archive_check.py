"""archive_check.py - checks an eddy archive (Parquet, Hive layout) with two
independent readers, pyarrow and DuckDB, against what eddy wrote to Kafka.

usage: archive_check.py LAKE RESULTS AGG[,AGG...] [--events LOCAL_LAKE]

LAKE     the archive root written by the Kafka-mode instances
RESULTS  the read_committed output topics' final results, one JSON per line
AGG      aggregations archived under LAKE/<AGG>
--events also compare LAKE/events with LOCAL_LAKE/events (local-mode runs
         over the same records): the same multiset of rows

Every row of every aggregation archive must equal one final result of the
topic (window, key, every metric), with nothing missing and nothing doubled,
in both readers. Every visible file must be complete (its footer read), carry
its task and offsets in its metadata as in its name, and the offset ranges of
one task's files must not overlap. Prints one line per check; exits 1 on the
first failure.
"""
import collections
import datetime
import glob
import json
import math
import os
import re
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
NAME = re.compile(r"^part-(.+)-(-?\d+)-(-?\d+)(-s\d+)?\.parquet$")


def fail(msg):
    print(f"archive_check: FAIL {msg}")
    sys.exit(1)


def ms(ts):
    if ts is None:
        return None
    if isinstance(ts, str):
        ts = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=datetime.timezone.utc)
    return round((ts - EPOCH).total_seconds() * 1000)


def norm(v):
    """A comparable form of a value: NaN and None as None, timestamps in ms."""
    if isinstance(v, datetime.datetime):
        return ms(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def check_files(lake, archive):
    """Every visible file is complete, named after its metadata; ranges of a
    task's seals do not overlap. Returns the number of files."""
    files = sorted(glob.glob(os.path.join(lake, archive, "**", "*.parquet"), recursive=True))
    seals = collections.defaultdict(set)
    for f in files:
        m = NAME.match(os.path.basename(f))
        if not m:
            fail(f"{f}: not named part-<task>-<first>-<last>.parquet")
        meta = pq.read_metadata(f).metadata or {}
        meta = {k.decode(): v.decode() for k, v in meta.items()}
        want = {"eddy.archive": archive, "eddy.task": m.group(1),
                "eddy.first_offset": m.group(2), "eddy.last_offset": m.group(3)}
        for k, v in want.items():
            if meta.get(k) != v:
                fail(f"{f}: metadata {k}={meta.get(k)!r}, name says {v!r}")
        seals[m.group(1)].add((int(m.group(2)), int(m.group(3))))
    for task, ranges in seals.items():
        prev = None
        for first, last in sorted(ranges):
            if first > last:
                continue  # an empty range: no input consumed since the previous file
            if prev is not None and first <= prev[1]:
                fail(f"{archive}: task {task} has overlapping files {prev} and {(first, last)}")
            prev = (first, last)
    return len(files), sum(len(r) for r in seals.values())


def lake_rows(lake, archive):
    """Rows of the archive as (columns, pyarrow rows, duckdb rows)."""
    path = os.path.join(lake, archive)
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    cols = table.column_names
    arrow = [tuple(norm(r[c]) for c in cols) for r in table.to_pylist()]
    con = duckdb.connect()
    cur = con.execute(
        f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true)")
    dcols = [d[0] for d in cur.description]
    order = [dcols.index(c) for c in cols]
    duck = [tuple(norm(r[i]) for i in order) for r in cur.fetchall()]
    return cols, arrow, duck


def result_row(res, cols):
    """The row a final result of the topic becomes in the archive."""
    out = []
    metrics, key = res["metrics"], res["key"]
    for c in cols:
        if c == "window_start":
            out.append(ms(res["window"]["start"]))
        elif c == "window_end":
            out.append(ms(res["window"]["end"]))
        elif c == "date":
            out.append(res["window"]["start"][:10])
        elif c == "revision":
            out.append(res.get("revision", 0))
        elif c in key:
            out.append(key[c])
        elif c in metrics:
            v = metrics[c]
            out.append(json.dumps(v, separators=(",", ":")) if isinstance(v, list) else v)
        else:
            fail(f"column {c} is neither a window, a key nor a metric of {res}")
    return tuple(out)


def compare(what, got, want):
    g, w = collections.Counter(got), collections.Counter(want)
    if g == w:
        return
    missing = w - g
    extra = g - w
    fail(f"{what}: {sum(missing.values())} rows missing, {sum(extra.values())} rows extra or "
         f"doubled; e.g. missing {list(missing)[:2]}, extra {list(extra)[:2]}")


def main():
    args = sys.argv[1:]
    events = None
    if "--events" in args:
        i = args.index("--events")
        events = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__)
        sys.exit(2)
    lake, results, aggs = args[0], args[1], args[2].split(",")
    by_agg = collections.defaultdict(list)
    for line in open(results):
        r = json.loads(line)
        if "aggregation" in r and r.get("final"):
            by_agg[r["aggregation"]].append(r)
    for agg in aggs:
        n_files, n_seals = check_files(lake, agg)
        cols, arrow, duck = lake_rows(lake, agg)
        # partition columns come back as strings from the directory names
        want = []
        for r in by_agg[agg]:
            row = result_row(r, cols)
            want.append(tuple(str(v) if c in ("service", "date") and v is not None else v
                              for c, v in zip(cols, row)))
        arrow = [tuple(str(v) if c in ("service", "date") and v is not None else v
                       for c, v in zip(cols, row)) for row in arrow]
        duck = [tuple(str(v) if c in ("service", "date") and v is not None else v
                      for c, v in zip(cols, row)) for row in duck]
        if not want:
            fail(f"{agg}: the topic has no final result")
        compare(f"{agg} (pyarrow) vs topic", arrow, want)
        compare(f"{agg} (duckdb) vs topic", duck, want)
        print(f"archive_check: {agg}: {len(want)} rows in {n_files} files ({n_seals} seals) equal "
              f"the topic's final results in pyarrow and duckdb")
    if events:
        n_files, n_seals = check_files(lake, "events")
        cols, arrow, duck = lake_rows(lake, "events")
        lcols, larrow, _ = lake_rows(events, "events")
        if sorted(cols) != sorted(lcols):
            fail(f"events: columns {cols} vs local {lcols}")
        reorder = [lcols.index(c) for c in cols]
        local = [tuple(r[i] for i in reorder) for r in larrow]
        compare("events (pyarrow) vs local runs", arrow, local)
        compare("events (duckdb) vs local runs", duck, local)
        print(f"archive_check: events: {len(local)} rows in {n_files} files ({n_seals} seals) "
              f"equal the local runs' in pyarrow and duckdb")
    print("archive_check: ok")


if __name__ == "__main__":
    main()
