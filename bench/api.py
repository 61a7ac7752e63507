#!/usr/bin/env python3
"""The plugin paths against the native page view, side by side in one run.

    python3 bench/api.py [--quick] [--workdir DIR] [--duration S] [--runs N] [--conns C]

(or `./dev.sh bench-api`, which builds the release binary and the plugins first). The binary is
$HOLT_BIN, or target/release/holt.

Holt serves the benchmark corpus (bench/corpus.py, 500 pages) in single-wiki mode, and wrk
(measure.wrk: -t1, the same connections and duration for each) fetches the same 4 median pages
six ways:

  native       GET /{page}                        the rendered page, from the response cache
  rest         GET /api/v1/pages/{page}           the REST API plugin's answer, from the cache
  mcp          POST /mcp  tools/call read_note    the MCP server; the mcp-tools plugin's answer
                                                  from the tool cache
  native-raw, rest-raw, mcp-raw                   the same with the caches off: the page is
                                                  rendered, the component instantiated and
                                                  run, every time

Both plugins declare `cacheable-reads`, so the host keeps their answers to reads until the
wiki changes, as it keeps rendered pages. Semantic search is switched off here: its background
worker would otherwise embed the freshly imported corpus during the measurements. Results go
to DIR/api-results.json and DIR/api-comparison.md, with each path's throughput as a ratio of
the native view's, cached against cached and uncached against uncached.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
import urllib.parse

import corpus
import measure

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Holt reads every HOLT_* variable as a setting and refuses unknown ones: HOLT_BIN is ours.
HOLT = os.environ.pop("HOLT_BIN", None) or os.path.join(ROOT, "target", "release", "holt")
ENV = dict(os.environ, HOLT_MODE="single", HOLT_SEMANTIC__ENABLED="false", HOLT_LOG="holt=warn")
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}


def read_note(page):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "read_note", "arguments": {"path": page}}})


def views(pages):
    """Each way of reading the pages, as wrk requests (method, path, body, headers)."""
    q = urllib.parse.quote
    cached = {
        "native": [("GET", "/" + q(p), "", {}) for p in pages],
        "rest": [("GET", "/api/v1/pages/" + q(p), "", {}) for p in pages],
        "mcp": [("POST", "/mcp", read_note(p), MCP_HEADERS) for p in pages],
    }
    return dict(cached, **{name + "-raw": requests for name, requests in cached.items()})


def check(port, name, requests):
    """Every request answers (and warms what it touches)."""
    for method, path, body, headers in requests:
        r = measure.request(port, method, path, body=body.encode() or None, headers=headers)
        if r.status != 200 or b'"isError":true' in r.body:
            raise SystemExit("%s %s answered %d: %s" % (name, path, r.status, r.body[:300]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 run of 5 s per path")
    a = p.parse_args()
    if a.quick:
        a.runs, a.duration = 1, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    if not os.path.exists(HOLT):
        raise SystemExit("no Holt binary at %s; run ./dev.sh bench-api, or set HOLT_BIN" % HOLT)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    repo, manifest = corpus.ensure(workdir)
    data = os.path.join(workdir, "api-data")
    shutil.rmtree(data, ignore_errors=True)
    imported = subprocess.run([HOLT, "--data", data, "import", repo], env=ENV,
                              stderr=subprocess.PIPE)
    if imported.returncode:
        raise SystemExit("holt import failed: %s" % imported.stderr.decode())

    results = {}
    for name, requests in views(manifest["targets"]["median"][:4]).items():
        env = dict(ENV, HOLT_CACHE__RESPONSE_BYTES="0") if name.endswith("-raw") else ENV
        argv = [HOLT, "--data", data, "serve", "--listen", "%s:%d" % (measure.HOST, a.port)]
        srv = measure.Server(argv, a.port, os.path.join(data, "serve.log"), env=env)
        srv.start()
        try:
            srv.wait_ready("/-/healthz")
            check(a.port, name, requests)
            results[name] = []
            for run in range(a.runs):
                r = measure.wrk(workdir, a.port, requests, a.conns, a.duration, srv.pid)
                if r["errors"]:
                    raise SystemExit("%s: %d requests failed" % (name, r["errors"]))
                results[name].append(r)
                measure.log("%-10s run %d: %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms" % (
                    name, run + 1, r["rps"], r["lat_p50_us"] / 1000, r["lat_p99_us"] / 1000))
        finally:
            srv.stop()

    rps = {name: statistics.median(r["rps"] for r in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(r["lat_p50_us"] for r in runs) / 1000 for name, runs in results.items()}
    lines = [
        "Run %s on %d CPUs; %d run(s) of %d s, wrk -t1 -c%d, 4 median pages of the corpus, "
        "single-wiki mode.\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                 os.cpu_count(), a.runs, a.duration, a.conns),
        "| path | cached req/s | p50 | vs native | uncached req/s | p50 | vs native |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("native", "rest", "mcp"):
        raw = name + "-raw"
        lines.append("| %s | %.0f | %.2f ms | %.2f× | %.0f | %.2f ms | %.2f× |" % (
            name, rps[name], p50[name], rps[name] / rps["native"],
            rps[raw], p50[raw], rps[raw] / rps["native-raw"]))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(workdir, "api-results.json"), "w") as f:
        json.dump({"runs": results, "rps": rps, "machine": measure.machine()}, f, indent=1)
    with open(os.path.join(workdir, "api-comparison.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
