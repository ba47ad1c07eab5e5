#!/usr/bin/env python3
"""serve.py - a stand-in for eddy's HTTP server, for developing the status page.

Serves src/serve/assets at /, /app.js and /style.css, and canned answers of
docs/http.md: /v1/status (status.json) and /v1/query?by=endpoint|tenant_id
&service=S (query_<by>.json, keyed by service). Anything else is a 404, a
query it has no answer for a 400, both with {"error": ...} like eddy.

    serve.py [--port N] [--assets DIR] [--fail PATH_PREFIX]...

--port 0 (the default) picks a free port; the first line on stdout is
"port N". --assets serves the page from another directory (default
src/serve/assets). --fail makes every request whose path starts with the prefix
answer 503, to see the page's error banner. Not used by the committed tests:
test_status_page.sh runs against the real eddy.
"""
import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(HERE, "..", "..", "..", "src", "serve", "assets")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    fail = []
    assets = ASSETS

    def send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        args = parse_qs(url.query)
        if any(url.path.startswith(p) for p in self.fail):
            return self.send(503, {"error": "no instance could answer (fixture --fail)"})
        if url.path in ("/", "/app.js", "/style.css"):
            name = "index.html" if url.path == "/" else url.path[1:]
            with open(os.path.join(self.assets, name), "rb") as f:
                return self.send(200, f.read(), TYPES[os.path.splitext(name)[1]])
        if url.path == "/v1/status":
            return self.send(200, load("status.json"))
        if url.path == "/v1/query":
            by = args.get("by", [""])[0]
            service = args.get("service", [""])[0]
            path = os.path.join(HERE, f"query_{by}.json")
            if by not in ("endpoint", "tenant_id") or not os.path.exists(path):
                return self.send(400, {"error": f"no aggregation groups by '{by}'"})
            answer = load(f"query_{by}.json").get(service)
            if answer is None:
                answer = {"by": [by], "filter": {"service": [service]}, "rows": []}
            return self.send(200, answer)
        return self.send(404, {"error": f"no such path: {url.path}"})

    def log_message(self, fmt, *args):
        sys.stderr.write("serve.py: " + fmt % args + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--assets", default=ASSETS)
    ap.add_argument("--fail", action="append", default=[])
    opts = ap.parse_args()
    Handler.fail = opts.fail
    Handler.assets = opts.assets
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
