#!/usr/bin/env bash
# test_dashboards.sh - static checks of the monitoring files in docker/
# against the metrics eddy serves (docs/http.md, the table under /metrics).
#
# Asserts:
#   - docker/prometheus.yml parses as YAML and has the scrape job "eddy" on
#     /metrics every 5 s with at least one host:port target;
#   - the Grafana provisioning files parse and point at the dashboard path;
#   - docker/grafana/dashboard.json parses; panel ids are unique; every
#     non-row panel has a datasource, its targets too, each the dashboard's
#     ${datasource} variable (a datasource variable of type prometheus);
#   - every PromQL expression (targets and query variables) is balanced, uses
#     only metric names of the doc's table (histograms: with _bucket, _sum or
#     _count), only labels those metrics have (plus job, instance, le for
#     histograms, and the target labels of prometheus.yml), job="eddy" only,
#     and histogram_quantile only over _bucket series;
#   - the dashboard covers the metrics the operators look at first (list
#     `required` below).
# With promtool on the PATH it also runs `promtool check config` and checks
# every expression (Grafana variables substituted) as a recording rule; it
# is not required. No network, no Kafka, about a second.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name=test_dashboards
work="$(mktemp -d "/tmp/eddy-$name.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 - "$root" "$work" <<'EOF' || { echo "FAIL $name"; exit 1; }
import json, os, re, sys
import yaml

root, work = sys.argv[1], sys.argv[2]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond

# -- the metrics table of docs/http.md
metrics = {}  # name -> (type, set of labels)
for line in open(os.path.join(root, "docs/http.md"), encoding="utf-8"):
    m = re.match(r"\|\s*`(eddy_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", line)
    if m:
        metrics[m.group(1)] = (m.group(2), set(re.findall(r"`([a-z_]+)`", m.group(3))))
check(len(metrics) >= 10, f"docs/http.md: found only {len(metrics)} metrics in the table")
series = {}  # series name -> metric name
for name, (kind, _) in metrics.items():
    series[name] = name
    if kind == "histogram":
        for suffix in ("_bucket", "_sum", "_count"):
            series[name + suffix] = name

# -- prometheus.yml
prom = yaml.safe_load(open(os.path.join(root, "docker/prometheus.yml")))
jobs = {j.get("job_name"): j for j in (prom or {}).get("scrape_configs") or []}
target_labels = set()
if check("eddy" in jobs, f"prometheus.yml: no scrape job 'eddy' (jobs: {list(jobs)})"):
    job = jobs["eddy"]
    check(job.get("metrics_path", "/metrics") == "/metrics", "prometheus.yml: job eddy: metrics_path is not /metrics")
    check(job.get("scrape_interval") == "5s", f"prometheus.yml: job eddy: scrape_interval {job.get('scrape_interval')!r}, not 5s")
    targets = [t for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
    check(targets and all(re.fullmatch(r"[A-Za-z0-9.\-]+:\d+", t) for t in targets),
          f"prometheus.yml: job eddy: targets {targets} are not host:port")
    for sc in job.get("static_configs") or []:
        target_labels |= set((sc.get("labels") or {}).keys())

# -- Grafana provisioning
prov = os.path.join(root, "docker/grafana/provisioning")
ds = yaml.safe_load(open(os.path.join(prov, "datasources/prometheus.yml")))
check(any(d.get("type") == "prometheus" for d in ds.get("datasources") or []),
      "provisioning/datasources: no prometheus data source")
dp = yaml.safe_load(open(os.path.join(prov, "dashboards/eddy.yml")))
check(any((p.get("options") or {}).get("path") for p in dp.get("providers") or []),
      "provisioning/dashboards: no provider with a path")

# -- the dashboard
dash = json.load(open(os.path.join(root, "docker/grafana/dashboard.json")))
variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
dsvar = variables.get("datasource") or {}
check(dsvar.get("type") == "datasource" and dsvar.get("query") == "prometheus",
      "dashboard: no datasource variable 'datasource' of type prometheus")
DS = {"type": "prometheus", "uid": "${datasource}"}

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels") or [])

exprs = []  # (where, expr)
ids = []
panels = list(all_panels(dash.get("panels") or []))
check(panels, "dashboard: no panels")
for p in panels:
    where = f"panel {p.get('id')} {p.get('title')!r}"
    ids.append(p.get("id"))
    check(isinstance(p.get("id"), int), f"{where}: id is not an integer")
    check(p.get("title"), f"{where}: no title")
    check(isinstance(p.get("gridPos"), dict), f"{where}: no gridPos")
    if p.get("type") == "row":
        continue
    check(p.get("datasource") == DS, f"{where}: datasource {p.get('datasource')!r}, not {DS}")
    check(p.get("targets"), f"{where}: no targets")
    for t in p.get("targets") or []:
        check(t.get("datasource") == DS, f"{where} target {t.get('refId')}: datasource {t.get('datasource')!r}")
        check(t.get("expr"), f"{where} target {t.get('refId')}: no expr")
        exprs.append((f"{where} target {t.get('refId')}", t.get("expr") or ""))
dups = sorted({i for i in ids if ids.count(i) > 1})
check(not dups, f"dashboard: panel ids used more than once: {dups}")
for v in variables.values():
    if v.get("type") == "query":
        q = v.get("query")
        exprs.append((f"variable {v['name']}", q.get("query") if isinstance(q, dict) else q))
        if v.get("definition"):
            exprs.append((f"variable {v['name']} definition", v["definition"]))

# -- PromQL: metric names and labels, without a parser: strings, durations
# and label matchers are taken apart, what remains are function names (an
# identifier before "("), keywords, label lists of by/without/on/ignoring,
# numbers and metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}
used = set()
for where, expr in exprs:
    if not check(isinstance(expr, str) and expr.strip(), f"{where}: empty expression"):
        continue
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in pairs.values():
            if not stack or stack.pop() != ch:
                stack = ["unbalanced"]
                break
    check(not stack, f"{where}: unbalanced brackets in {expr!r}")
    jobs_used = re.findall(r'\bjob\s*=~?\s*"([^"]*)"', expr)
    check(all(j == "eddy" for j in jobs_used), f"{where}: job {jobs_used}, not the scrape job eddy")
    labels = set()
    # label_values(metric{...}, label): the label is a label
    lv = re.match(r"\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$", expr)
    if lv:
        expr, labels = lv.group(1), {lv.group(2)}
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels |= {l.strip() for l in clause.split(",") if l.strip()}
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = []
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if m.group(2) or m.group(1).lower() in KEYWORDS:
            continue
        names.append(m.group(1))
    bad = [n for n in names if n not in series]
    check(names, f"{where}: no metric name in {expr!r}")
    check(not bad, f"{where}: not metrics of docs/http.md: {bad} in {expr!r}")
    allowed = {"job", "instance"} | target_labels
    for n in names:
        if n in series:
            kind, own = metrics[series[n]]
            used.add(series[n])
            allowed |= own | ({"le"} if kind == "histogram" else set())
    check(labels <= allowed, f"{where}: labels {sorted(labels - allowed)} are not labels of {names}")
    for q in re.findall(r"histogram_quantile\s*\(\s*[\d.]+\s*,(.*)", expr):
        check("_bucket" in q and re.search(r"\bby\s*\([^)]*\ble\b", q),
              f"{where}: histogram_quantile without a _bucket series summed by le")

required = ["eddy_events_in_total", "eddy_dead_letters_total", "eddy_late_records_total",
            "eddy_duplicates_total", "eddy_commit_duration_seconds", "eddy_consumer_lag",
            "eddy_restore_remaining_records", "eddy_window_state_rows", "eddy_freshness_seconds",
            "eddy_assigned_partitions", "eddy_ready"]
missing = [m for m in required if m not in used]
check(not missing, f"dashboard: no panel for {missing}")
check(all(m in metrics for m in required), f"docs/http.md: lacks {[m for m in required if m not in metrics]}")

# expressions for promtool, Grafana's variables replaced
with open(os.path.join(work, "rules.yml"), "w") as f:
    rules = [{"record": f"eddy:check_{i}", "expr": e.replace("$__rate_interval", "1m")
              .replace("$instance", ".*")}
             for i, (w, e) in enumerate(exprs) if not w.startswith("variable")]
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)

for e in errors:
    print("test_dashboards:", e)
print(f"test_dashboards: {len(metrics)} metrics in docs/http.md, {len(panels)} panels, "
      f"{len(exprs)} expressions using {len(used)} metrics; {len(errors)} problems")
sys.exit(1 if errors else 0)
EOF

if command -v promtool >/dev/null; then
    promtool check config "$root/docker/prometheus.yml" || { echo "FAIL $name: promtool check config"; exit 1; }
    promtool check rules "$work/rules.yml" || { echo "FAIL $name: promtool rejects a dashboard expression"; exit 1; }
else
    echo "$name: promtool not installed, its checks skipped"
fi
echo "PASS $name"
