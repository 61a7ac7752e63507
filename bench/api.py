#!/usr/bin/env python3
"""The plugin paths against the native page view, side by side in one run.

    python3 bench/api.py [--workdir DIR] [--duration S] [--runs N] [--conns C]

(or `./dev.sh bench-api`, which builds the release binary and the plugins first.)

Holt serves the benchmark corpus (../shared/bench, 500 pages) in single-wiki mode, and wrk
(-t1, the same connections and duration for each) fetches the same median pages six ways:

  native       GET /{page}                        the rendered page, from the response cache
  rest         GET /api/v1/pages/{page}           the REST API plugin's answer, from the cache
  mcp          POST /mcp  tools/call read_note    the MCP server; the mcp-tools plugin's answer
                                                  from the tool cache
  native-raw, rest-raw, mcp-raw                   the same with the caches off: the page is
                                                  rendered, the component instantiated and
                                                  run, every time

Both plugins declare `cacheable-reads`, so the host keeps their answers to reads until the
wiki changes, as it keeps rendered pages. Results go to DIR/api-results.json and
DIR/api-comparison.md, with each path's throughput as a ratio of the native view's, cached
against cached and uncached against uncached.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
HOLT = os.path.join(ROOT, "target", "release", "holt")

# wrk rotates over requests read from a file: METHOD, path and (for POST) a JSON body per line.
WRK_LUA = r"""
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    local method, path, body = line:match("^(%S+)\t(%S+)\t?(.*)$")
    local headers = {}
    if body ~= nil and body ~= "" then
      headers["Content-Type"] = "application/json"
      headers["Accept"] = "application/json, text/event-stream"
      headers["MCP-Protocol-Version"] = "2025-06-18"
    else
      body = nil
    end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("WRKJSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, \"non_2xx\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
"""


def log(*a):
    print("api-bench:", *a, file=sys.stderr, flush=True)


def start(data, port, env):
    proc = subprocess.Popen(
        [HOLT, "--data", data, "serve", "--listen", "127.0.0.1:%d" % port],
        env=dict(os.environ, HOLT_MODE="single", **env),
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "serve.log"), "ab"))
    for _ in range(600):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/-/healthz" % port, timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("holt did not start; see %s/serve.log" % data)


def fetch(port, method, path, body=None):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                     data=body.encode() if body else None)
    if body:
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json, text/event-stream")
        request.add_header("MCP-Protocol-Version", "2025-06-18")
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, r.read()


def wrk(workdir, port, requests, conns, duration):
    lua = os.path.join(workdir, "api.lua")
    open(lua, "w").write(WRK_LUA)
    listing = os.path.join(workdir, "api-requests.txt")
    open(listing, "w").write("\n".join("\t".join(r) for r in requests) + "\n")
    out = subprocess.run(
        ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--timeout", "30s", "-s", lua,
         "http://127.0.0.1:%d/" % port],
        env=dict(os.environ, WRK_REQUESTS=listing), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=duration + 60).stdout.decode()
    m = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError("wrk output not understood:\n" + out)
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    if r["non_2xx"]:
        raise RuntimeError("%d responses were not 200" % r["non_2xx"])
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--conns", type=int, default=16)
    a = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    if not os.path.exists(HOLT):
        raise SystemExit("no release build at %s; run ./dev.sh bench-api" % HOLT)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    repo = os.path.join(workdir, "corpus-repo")
    manifest_path = os.path.join(workdir, "corpus-manifest.json")
    if not os.path.isdir(repo):
        subprocess.run([sys.executable, os.path.join(SHARED, "gen_corpus.py"), "--out", repo,
                        "--manifest", manifest_path], check=True)
    targets = json.load(open(manifest_path))["targets"]
    pages = targets["median"][:4]
    data = os.path.join(workdir, "api-data")
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run([HOLT, "--data", data, "import", repo], check=True, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, HOLT_MODE="single"))

    q = lambda page: urllib.parse.quote(page)
    read_note = lambda page: json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                         "params": {"name": "read_note", "arguments": {"path": page}}})
    views = {
        "native": [("GET", "/" + q(page)) for page in pages],
        "rest": [("GET", "/api/v1/pages/" + q(page)) for page in pages],
        "mcp": [("POST", "/mcp", read_note(page)) for page in pages],
    }
    paths = dict(views)
    paths.update({name + "-raw": requests for name, requests in views.items()})
    results = {name: [] for name in paths}
    for name, requests in paths.items():
        env = {"HOLT_CACHE__RESPONSE_BYTES": "0"} if name.endswith("-raw") else {}
        proc = start(data, a.port, env)
        try:
            for request in requests:  # every request answers, and warms what it touches
                status, body = fetch(a.port, *request)
                if status != 200 or (name == "mcp" and b'"isError":true' in body):
                    raise SystemExit("%s %s answered %d: %s" % (name, request[1], status, body[:300]))
            for run in range(a.runs):
                r = wrk(workdir, a.port, requests, a.conns, a.duration)
                results[name].append(r)
                log("%-10s run %d: %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms" % (
                    name, run + 1, r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000))
        finally:
            proc.terminate()
            proc.wait()

    rps = {name: statistics.median(r["rps"] for r in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(r["p50_us"] for r in runs) / 1000 for name, runs in results.items()}
    lines = [
        "Run %s on %d CPUs; %d runs of %d s, wrk -t1 -c%d, 4 median pages of the corpus, single-wiki mode.\n"
        % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), a.runs, a.duration, a.conns),
        "| path | cached req/s | p50 | vs native | uncached req/s | p50 | vs native |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in views:
        raw = name + "-raw"
        lines.append("| %s | %.0f | %.2f ms | %.2f× | %.0f | %.2f ms | %.2f× |" % (
            name, rps[name], p50[name], rps[name] / rps["native"],
            rps[raw], p50[raw], rps[raw] / rps["native-raw"]))
    text = "\n".join(lines) + "\n"
    json.dump({"runs": results, "rps": rps}, open(os.path.join(workdir, "api-results.json"), "w"), indent=1)
    open(os.path.join(workdir, "api-comparison.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
