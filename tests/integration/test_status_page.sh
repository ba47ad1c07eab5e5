#!/usr/bin/env bash
# test_status_page.sh - the status page (src/serve/assets) in a real browser
# against a real eddy: `eddy demo --http 127.0.0.1:PORT` (no Kafka needed).
#
# Waits until /v1/status lists a service with requests in its last 5 minutes
# and 3 windows of series, and a red one (the demo's payment incident), then
# loads / in Debian's headless Chromium with --dump-dom (a
# virtual-time budget lets the page fetch and render) while a curl loop
# snapshots /v1/status every 0.1 s. Asserts, on the dumped DOM:
#   - no error banner and no uncaught script error (console);
#   - the cards (article.service[data-service][data-state], in page order)
#     with their alert lists equal the services of a snapshot taken with the
#     same `now` (#services[data-now]): same names, same order, same state,
#     same firing alerts (a snapshot of the same `now`, because the demo moves
#     a minute of event time every 2 s and the state changes with it);
#   - the drill-down (#service=S in the URL, S = payment-service if listed)
#     is open and its endpoint rows are between the endpoints of
#     /v1/query?by=endpoint&service=S&last=15m fetched before and after, its
#     tenant rows (at most 20, at least min(20, tenants before)) are all
#     in the by=tenant_id answer after, and both tables are sorted by errors,
#     descending.
# Screenshots (1280x1000) of both views go to OUT_DIR:
# $EDDY_TEST_OUTPUT, default <dir of EDDY_BIN>/test-output/test_status_page.
# Work files (DOM dumps, logs, snapshots) live in /tmp/eddy-test_status_page.*,
# removed on success, kept and named on failure.
#
# STATUS_PAGE_FIXTURE=1 runs against tests/integration/status_fixture/serve.py
# (canned answers) instead of eddy: for working on the page only, never in
# `make test`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
eddy="${EDDY_BIN:-$root/build/eddy}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
out_dir="${EDDY_TEST_OUTPUT:-$(dirname "$eddy")/test-output}/test_status_page"
fixture="${STATUS_PAGE_FIXTURE:-0}"
name=test_status_page
work="$(mktemp -d "/tmp/eddy-$name.XXXXXX")"
server_pid=""
snap_pid=""
ok=0

cleanup() {
    local status=$?
    [[ -z "$snap_pid" ]] || { kill "$snap_pid" 2>/dev/null || true; wait "$snap_pid" 2>/dev/null || true; }
    [[ -z "$server_pid" ]] || { kill -KILL "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
    if ((ok && status == 0)); then rm -rf "$work"; else echo "$name: files kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "FAIL $name: $*"
    [[ ! -f "$work/server.log" ]] || { echo "--- last lines of $work/server.log"; tail -n 15 "$work/server.log"; }
    exit 1
}
log() { echo "$name: $*"; }

[[ -x "$chromium" ]] || fail "no Chromium at $chromium (scripts/deps.sh installs it)"
command -v curl >/dev/null || fail "curl is missing (scripts/deps.sh installs it)"
mkdir -p "$out_dir" "$work/snapshots"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

if [[ "$fixture" == 1 ]]; then
    log "DEVELOPMENT MODE: canned answers of status_fixture/serve.py, not eddy"
    # STATUS_PAGE_FIXTURE_ARGS: e.g. "--fail /v1/query" or "--assets DIR"
    # shellcheck disable=SC2086
    python3 "$root/tests/integration/status_fixture/serve.py" --port "$port" \
        ${STATUS_PAGE_FIXTURE_ARGS:-} >"$work/server.log" 2>&1 &
else
    [[ -x "$eddy" ]] || fail "no eddy binary at $eddy"
    # the demo finds topologies/ from the working directory; DEMO_SECONDS
    # bounds it should this script be killed before its trap runs
    (cd "$root" && DEMO_SECONDS=300 exec "$eddy" demo --http "127.0.0.1:$port") >"$work/server.log" 2>&1 &
fi
server_pid=$!
log "server pid $server_pid on $base"

# until a service has requests in its last 5 minutes and 3 windows in its
# series, and one is red (the demo's payment incident, event minutes 5-8:
# about 12 s after the start), 60 s at most
deadline=$((SECONDS + 60))
until curl -sf --max-time 2 "$base/v1/status" >"$work/status.json" 2>/dev/null &&
    python3 - "$work/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
svcs = s.get("services") or []
ok = any((v.get("last_5m") or {}).get("requests", 0) > 0 and len(v.get("series") or []) >= 3
         for v in svcs) and any(v.get("state") == "red" for v in svcs)
sys.exit(0 if ok else 1)
EOF
do
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before /v1/status had data (does this eddy support 'demo --http'?)"
    ((SECONDS < deadline)) ||
        fail "/v1/status had no services with data, or none red, within 60 s: $(head -c 300 "$work/status.json" 2>/dev/null)"
    sleep 0.5
done
log "/v1/status has data: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["services"]), "services,", ", ".join(v["name"] + " " + v["state"] for v in s["services"]))' "$work/status.json")"

# browse URL OUT_PREFIX: --dump-dom into OUT_PREFIX.html, console and
# Chromium's log into OUT_PREFIX.log, then a screenshot OUT_PREFIX.png
browse() {
    local url=$1 prefix=$2 mode
    for mode in dom shot; do
        rm -rf "$work/profile"
        # shellcheck disable=SC2054 # --window-size takes W,H
        local args=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
                    --user-data-dir="$work/profile" --window-size=1280,1000
                    --virtual-time-budget=5000 --enable-logging=stderr --v=0)
        if [[ $mode == dom ]]; then
            timeout --kill-after=5 60 "$chromium" "${args[@]}" --dump-dom "$url" \
                >"$prefix.html" 2>"$prefix.log" || fail "chromium --dump-dom $url failed (see $prefix.log)"
        else
            timeout --kill-after=5 60 "$chromium" "${args[@]}" --screenshot="$prefix.png" "$url" \
                >/dev/null 2>>"$prefix.log" || fail "chromium --screenshot $url failed (see $prefix.log)"
        fi
    done
    if grep -E ':CONSOLE[:(]' "$prefix.log" | grep -q -E 'Uncaught|Unhandled'; then
        grep -E ':CONSOLE[:(]' "$prefix.log" | head -n 5
        fail "script error on $url"
    fi
    [[ "$(head -c 8 "$prefix.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
        fail "the screenshot $prefix.png is not a PNG"
}

snapshots() {
    local i=0
    while :; do
        curl -sf --max-time 2 "$base/v1/status" -o "$work/snapshots/$(printf '%06d' $i).json" || true
        i=$((i + 1))
        sleep 0.1
    done
}

# 1. the service cards
snapshots &
snap_pid=$!
browse "$base/" "$work/status"
kill "$snap_pid" 2>/dev/null || true
wait "$snap_pid" 2>/dev/null || true
snap_pid=""
cp "$work/status.png" "$out_dir/status.png"

python3 - "$work/status.html" "$work/snapshots" <<'EOF' || fail "the service cards do not match /v1/status (above)"
import glob, json, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cards, self.now, self.banner = [], None, None
        self.in_banner = self.in_alert_list = self.in_alert = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if a.get("id") == "services":
            self.now = a.get("data-now")
        elif a.get("id") == "banner":
            self.banner = None if "hidden" in a else ""
            self.in_banner = "hidden" not in a
        elif tag == "article" and "service" in cls:
            self.cards.append([a.get("data-service"), a.get("data-state"), []])
        elif tag == "li" and self.cards and self.in_alert_list:
            self.in_alert = True
        if tag == "ul":
            self.in_alert_list = "alerts" in cls
    def handle_endtag(self, tag):
        if tag == "div":
            self.in_banner = False
        if tag == "li":
            self.in_alert = False
    def handle_data(self, data):
        if self.in_banner:
            self.banner += data
        if self.in_alert:
            self.cards[-1][2].append(data.strip())

page = Page()
page.feed(open(sys.argv[1], encoding="utf-8").read())
if page.banner is not None:
    sys.exit(f"the page shows an error banner: {page.banner!r}")
if not page.cards or page.now is None:
    sys.exit(f"no service cards in the page ({len(page.cards)} cards, data-now {page.now})")
got = [(n, s, tuple(a)) for n, s, a in page.cards]
snaps = []
for path in sorted(glob.glob(sys.argv[2] + "/*.json")):
    try:
        snaps.append(json.load(open(path)))
    except ValueError:
        pass  # cut short when the loop was killed
same_now = [s for s in snaps if str(s.get("now")) == page.now]
print(f"test_status_page: {len(got)} cards, data-now {page.now}; {len(snaps)} snapshots, "
      f"{len(same_now)} with that now")
if not same_now:
    sys.exit(f"no /v1/status snapshot has now={page.now} "
             f"(snapshots: {sorted({s.get('now') for s in snaps})})")
want = [[(v["name"], v["state"], tuple(v.get("alerts") or [])) for v in s["services"]] for s in same_now]
if got not in want:
    print("page:     ", got)
    print("snapshot: ", want[-1])
    sys.exit(1)
print("test_status_page: cards = " + ", ".join(f"{n} {s}" + (f" {list(a)}" if a else "") for n, s, a in got))
EOF

# 2. the drill-down, opened by the URL hash
key=$(python3 -c '
import json, sys, urllib.parse
svcs = json.load(open(sys.argv[1]))["services"]
pick = next((v for v in svcs if v["name"] == "payment-service"), svcs[0])
print(urllib.parse.urlencode(pick.get("key") or {"service": pick["name"]}, quote_via=urllib.parse.quote))
' "$work/status.json")
for by in endpoint tenant_id; do
    curl -sf --max-time 5 "$base/v1/query?by=$by&last=15m&$key" >"$work/before-$by.json" ||
        fail "/v1/query?by=$by&last=15m&$key failed: $(curl -s --max-time 5 "$base/v1/query?by=$by&last=15m&$key")"
done
browse "$base/#$key" "$work/drill"
for by in endpoint tenant_id; do
    curl -sf --max-time 5 "$base/v1/query?by=$by&last=15m&$key" >"$work/after-$by.json" ||
        fail "/v1/query?by=$by&last=15m&$key failed after the page loaded"
done
cp "$work/drill.png" "$out_dir/drill.png"

python3 - "$work" <<'EOF' || fail "the drill-down does not match /v1/query (above)"
import json, sys
from html.parser import HTMLParser
work = sys.argv[1]

class Drill(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open, self.banner, self.box, self.rows, self.cell = None, None, None, {}, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "drill":
            self.open = "hidden" not in a
        elif a.get("id") == "banner":
            self.banner = None if "hidden" in a else a
        elif (a.get("id") or "").startswith("drill-") and a.get("id") != "drill-title" \
                and a.get("id") != "drill-close":
            self.box = a["id"][len("drill-"):]
            self.rows[self.box] = []
        elif tag == "tr" and "data-group" in a and self.box:
            self.rows[self.box].append([a["data-group"]])
        elif tag in ("td", "th") and self.box and self.rows[self.box]:
            self.cell = ""
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[self.box][-1].append(self.cell.strip())
            self.cell = None
    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

page = Drill()
page.feed(open(f"{work}/drill.html", encoding="utf-8").read())
if not page.open:
    sys.exit("the drill-down panel is not open")
if page.banner is not None:
    sys.exit("the page shows an error banner: " + open(f"{work}/drill.html").read().split('id="banner"')[1][:300])
bad = False
for by, limit in (("endpoint", None), ("tenant_id", 20)):
    rows = page.rows.get(by) or []
    groups = [r[0] for r in rows]
    def keys(name):
        return {str(r["group"].get(by)) if r["group"].get(by) is not None else "(none)"
                for r in json.load(open(f"{work}/{name}-{by}.json"))["rows"]}
    before, after = keys("before"), keys("after")
    # columns: [group, name, requests, errors, error rate, p95, p99]
    errors = [int(r[3].replace(",", "")) for r in rows]
    print(f"test_status_page: drill-down by {by}: {len(rows)} rows "
          f"(query: {len(before)} before, {len(after)} after); top: {groups[:3]}")
    want_min = min(limit, len(before)) if limit else len(before)
    if not rows or len(set(groups)) != len(groups):
        print(f"  no rows, or a repeated row: {groups}"); bad = True
    if limit and len(rows) > limit:
        print(f"  {len(rows)} rows, more than {limit}"); bad = True
    if len(rows) < want_min or not set(groups) <= after or (not limit and not before <= set(groups)):
        print(f"  rows {sorted(groups)} not between {sorted(before)} and {sorted(after)}"); bad = True
    if errors != sorted(errors, reverse=True):
        print(f"  not sorted by errors, descending: {errors}"); bad = True
sys.exit(1 if bad else 0)
EOF

ok=1
echo "PASS $name: cards and drill-down match the API; screenshots in $out_dir"
