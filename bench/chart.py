#!/usr/bin/env python3
"""bench/chart.py RESULTS [-o OUT.png] [--title TEXT]: charts benchmark results.

RESULTS is any text file ('-' = stdin), e.g. the output of `make bench`
(bench/run.sh): only lines holding a `kind=throughput` or `kind=latency` token
are read, everything else is ignored. Such a line is whitespace-separated
key=value tokens (shell quoting allowed: label="eddy local, 1M events");
tokens without '=' are ignored, so a line may carry a prefix.

  kind=throughput engine=ENGINE events_per_s=N [label=TEXT]
      one bar of the throughput chart (events/s). ENGINE names the engine:
      eddy_local, eddy_kafka_eos, eddy_kafka_alo, kafka_streams (any other
      word is shown as is, '_' as ' '); label, when given, is shown instead.
      A later line with the same engine and label replaces an earlier one.
  kind=latency engine=ENGINE target_rate=N p50_ms= p90_ms= p99_ms= p999_ms=
               max_ms= [upd_p50_ms= upd_p90_ms= upd_p99_ms= upd_p999_ms=
               upd_max_ms=] [rate=N] [label=TEXT]
      one series of the latency chart: end-to-end latency at each percentile
      (the last line of bench/latency.sh has this form). The upd_* values
      (bench/latency.sh: from the moment the update could exist to readable)
      are drawn as a dashed series beside it. A later line with the same
      engine, label and target_rate replaces an earlier one. Missing
      percentiles are skipped.

Writes a PNG (default bench-results.png): the throughput bars on the left,
the latency percentiles (log scale, ms) on the right; either panel is left
out when the file has no line of its kind. Needs matplotlib (Debian:
python3-matplotlib); when the python3 on PATH lacks it, this re-runs itself
with /usr/bin/python3.
"""
import argparse
import os
import shlex
import sys

try:
    import matplotlib
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("chart.py: matplotlib is missing (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

ENGINES = {
    "eddy_local": "eddy local",
    "eddy_kafka_eos": "eddy Kafka EOS",
    "eddy_kafka_alo": "eddy Kafka at-least-once",
    "kafka_streams": "Kafka Streams",
}
PERCENTILES = [("p50", "p50_ms"), ("p90", "p90_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms"),
               ("max", "max_ms")]


def parse(lines):
    """Returns (throughput rows, latency rows) as lists of dicts, in file order."""
    throughput, latency = {}, {}
    for number, line in enumerate(lines, 1):
        if "kind=throughput" not in line and "kind=latency" not in line:
            continue
        try:
            tokens = shlex.split(line)
        except ValueError as e:
            sys.exit(f"chart.py: line {number}: {e}")
        row = dict(t.split("=", 1) for t in tokens if "=" in t)
        if row.get("kind") not in ("throughput", "latency"):
            continue
        if "engine" not in row:
            sys.exit(f"chart.py: line {number}: no engine=")
        key = (row["engine"], row.get("label"))
        if row["kind"] == "throughput":
            if "events_per_s" not in row:
                sys.exit(f"chart.py: line {number}: no events_per_s=")
            throughput.pop(key, None)
            throughput[key] = row
        else:
            key += (row.get("target_rate"),)
            latency.pop(key, None)
            latency[key] = row
    return list(throughput.values()), list(latency.values())


def number(row, key, line_kind):
    try:
        return float(row[key])
    except ValueError:
        sys.exit(f"chart.py: {line_kind} line of {row['engine']}: {key}={row[key]} is not a number")


def name(row):
    return row.get("label") or ENGINES.get(row["engine"], row["engine"].replace("_", " "))


def si(value):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def draw_throughput(ax, rows):
    names = [name(r) for r in rows]
    values = [number(r, "events_per_s", "throughput") for r in rows]
    bars = ax.bar(range(len(rows)), values, color=[f"C{i}" for i in range(len(rows))])
    ax.set_xticks(range(len(rows)), names, rotation=15 if len(rows) > 3 else 0, ha="center")
    ax.bar_label(bars, [si(v) for v in values], padding=2)
    ax.set_ylabel("events/s")
    ax.set_title("Throughput")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: si(v)))
    ax.set_ylim(0, max(values) * 1.15 if values else 1)
    pad = max(3 - len(rows), 0) / 2  # one or two bars stay bar-shaped
    ax.set_xlim(-0.6 - pad, len(rows) - 0.4 + pad)
    ax.grid(axis="y", alpha=0.3)


def series(row, prefix):
    xs, ys = [], []
    for i, (_, key) in enumerate(PERCENTILES):
        if prefix + key in row:
            xs.append(i)
            ys.append(max(number(row, prefix + key, "latency"), 0.01))
    return xs, ys


def draw_latency(ax, rows):
    annotate = len(rows) <= 2  # more series: the numbers would overlap
    for i, row in enumerate(rows):
        label = name(row)
        if "target_rate" in row:
            label += f" @ {si(number(row, 'target_rate', 'latency'))} ev/s"
        xs, ys = series(row, "")
        ax.plot(xs, ys, "o-", color=f"C{i}", label=f"{label}: produced → readable")
        for x, y in zip(xs, ys) if annotate else ():
            ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=8, color=f"C{i}")
        xs, ys = series(row, "upd_")
        if xs:
            ax.plot(xs, ys, "s--", color=f"C{i}", alpha=0.6,
                    label=f"{label}: update possible → readable")
        for x, y in zip(xs, ys) if annotate else ():
            ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, -12),
                        ha="center", fontsize=8, color=f"C{i}", alpha=0.8)
    ax.set_xticks(range(len(PERCENTILES)), [p for p, _ in PERCENTILES])
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("ms")
    ax.set_title("End-to-end latency")
    ax.grid(which="both", axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)


def main():
    ap = argparse.ArgumentParser(description="Chart benchmark results (see the module doc).")
    ap.add_argument("results", help="results file, '-' for stdin")
    ap.add_argument("-o", "--output", default="bench-results.png", help="PNG to write")
    ap.add_argument("--title", default=None, help="figure title")
    args = ap.parse_args()
    if args.results == "-":
        lines = sys.stdin.read().splitlines()
    else:
        with open(args.results, encoding="utf-8") as f:
            lines = f.read().splitlines()
    throughput, latency = parse(lines)
    panels = [p for p in (("throughput", throughput), ("latency", latency)) if p[1]]
    if not panels:
        sys.exit("chart.py: no kind=throughput or kind=latency line in " + args.results)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.5 + 0.15 * len(latency)), squeeze=False)
    for ax, (kind, rows) in zip(axes[0], panels):
        (draw_throughput if kind == "throughput" else draw_latency)(ax, rows)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"chart.py: wrote {args.output} ({len(throughput)} throughput, "
          f"{len(latency)} latency series)")


if __name__ == "__main__":
    main()
