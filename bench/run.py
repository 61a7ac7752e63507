#!/usr/bin/env python3
"""Holt's benchmark, side by side with An Otter Wiki on the same corpus and machine.

    python3 bench/run.py [--workdir DIR] [--quick] [--with-otterwiki]

(or `./dev.sh bench ...`, which builds the release binary first.)

Both systems are measured by the same code: this driver imports the reference kit's
`bench_otterwiki.py` (in ../shared/bench) and uses its wrk runner, probes, CPU and memory
meters. Holt serves the corpus after `holt import`; the scenarios hit the same pages from the
corpus manifest:

  page     /, small, 4 median, large, nested page        (wrk, 16 and 64 connections)
  history  the hottest page and 3 typical pages          (wrk, 16 and 64)
  search   the common search word                        (wrk, 16 and 64)
  index    the page index                                (wrk, 4 and 16)
  saves    sequential edits through the editor form      (p50, p99 of the POST)
  start    process start -> first 200 on /               (cold start), idle RSS

Results go to DIR/holt-results.json and DIR/comparison.md. With --with-otterwiki the reference
benchmark runs in the same invocation (gunicorn, 2 sync workers) and the table shows ratios.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
sys.path.insert(0, SHARED)
import bench_otterwiki as ow  # noqa: E402  (the reference kit's measuring code)

HOLT = os.path.join(ROOT, "target", "release", "holt")
# An Otter Wiki serves one wiki: Holt is measured the same way (its single-wiki mode), so the
# import, reindex and server all work on the one wiki without host names.
os.environ["HOLT_MODE"] = "single"


def log(*a):
    ow.log(*a)


class Holt:
    """A release `holt serve` on a data directory holding the imported corpus."""

    def __init__(self, data, port, env=None):
        self.data, self.port, self.proc, self.env = data, port, None, env or {}

    def start(self):
        if not ow.port_free(self.port):
            raise SystemExit("port %d is busy" % self.port)
        logf = open(os.path.join(self.data, "holt.log"), "ab")
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(
            [HOLT, "--data", self.data, "serve", "--listen", "%s:%d" % (ow.HOST, self.port)],
            stdout=subprocess.DEVNULL, stderr=logf, stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOLT_LOG="holt=warn", **self.env))
        logf.close()

    def wait_ready(self, path="/", timeout=120):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("holt exited, see %s/holt.log" % self.data)
            try:
                st, _, _, _ = ow.http_req(self.port, "GET", path, timeout=30)
                if st == 200:
                    return time.perf_counter() - self.t_start
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("holt did not answer within %ds" % timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def holt_saves(port, pages, n):
    """n sequential saves through the editor form, like the reference's `saves`: only the POST
    (one git commit, 303) is timed; the base revision comes from the editor beforehand."""
    import re
    t_save, t_edit = [], []
    content = {}
    for i in range(n):
        page = pages[i % len(pages)]
        q = urllib.parse.quote(page)
        st, _, body, dt = ow.http_req(port, "GET", "/%s/-/edit" % q)
        if st != 200:
            raise RuntimeError("editor %s -> %d" % (page, st))
        t_edit.append(dt * 1000)
        base = re.search(rb'name="base" value="([0-9a-f]{40})"', body).group(1).decode()
        if page not in content:
            content[page] = ow.http_req(port, "GET", "/%s/-/raw" % q)[2].decode()
        text = content[page] + "\n\nBenchmark edit %d: %s\n" % (i, time.time())
        form = urllib.parse.urlencode({"content": text, "base": base, "message": "benchmark edit %d" % i}).encode()
        st, _, body, dt = ow.http_req(port, "POST", "/%s/-/edit" % q, body=form,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        if st != 303:
            raise RuntimeError("save %s -> %d %s" % (page, st, body[:300]))
        t_save.append(dt * 1000)

    def stats(v):
        return {"n": len(v), "min_ms": min(v), "p50_ms": ow.pct(v, 50), "p90_ms": ow.pct(v, 90),
                "p99_ms": ow.pct(v, 99), "max_ms": max(v), "mean_ms": statistics.mean(v)}
    return {"editor_get": stats(t_edit), "save_post": stats(t_save)}


def scenarios_for(manifest, conns=None):
    t = manifest["targets"]
    q = urllib.parse.quote
    pages = ["/"] + ["/" + q(p) for p in [t["small"]] + t["median"] + [t["large"], t["nested"]]]
    history = ["/%s/-/history" % q(p) for p in [t["history_hot"]] + t["history_typical"]]
    scenarios = {
        "page": (pages, [16, 64]),
        "history": (history, [16, 64]),
        "search": (["/-/search?q=%s" % q(t["search_common"])], [16, 64]),
        "index": (["/-/index"], [4, 16]),
    }
    if conns:
        scenarios = {k: (v[0], conns) for k, v in scenarios.items()}
    probes = [
        ("page:home", "/"), ("page:small", pages[1]), ("page:median", pages[2]),
        ("page:large", pages[6]), ("page:nested", pages[7]),
        ("history:hot", history[0]), ("history:typical", history[1]),
        ("search:common", scenarios["search"][0][0]),
        ("search:rare", "/-/search?q=%s" % q(t["search_rare"])),
        ("index", "/-/index"), ("changelog", "/-/changelog"),
        ("source:raw median", "/%s/-/source?raw" % q(t["median"][0])),
        ("blame:median", "/%s/-/blame" % q(t["median"][0])),
        ("healthz", "/-/healthz"),
    ]
    save_pages = [t["median"][0], t["median"][1], t["small"], t["median"][2], t["nested"]]
    return scenarios, probes, save_pages


def bench_holt(a, workdir, manifest, cache=True):
    """Imports the corpus and measures Holt; `cache=False` turns the response cache off."""
    if not os.path.exists(HOLT):
        raise SystemExit("no release build at %s; run ./dev.sh bench" % HOLT)
    log("=== Holt, response cache %s ===" % ("on" if cache else "off"))
    data = os.path.join(workdir, "holt-data")
    shutil.rmtree(data, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([HOLT, "--data", data, "import", a.repo], check=True,
                   stderr=subprocess.DEVNULL)
    import_s = time.perf_counter() - t0
    log("holt import of the corpus: %.2fs" % import_s)
    t0 = time.perf_counter()
    subprocess.run([HOLT, "--data", data, "reindex"], check=True, stderr=subprocess.DEVNULL)
    reindex_s = time.perf_counter() - t0
    log("holt reindex: %.2fs" % reindex_s)

    scenarios, probes, save_pages = scenarios_for(manifest, a.conns)
    res = {"import_s": import_s, "reindex_s": reindex_s, "cold_start_s": [], "runs": []}
    srv = Holt(data, a.port, {} if cache else {"HOLT_CACHE__RESPONSE_BYTES": "0"})
    try:
        for i in range(a.runs):
            srv.start()
            res["cold_start_s"].append(srv.wait_ready("/"))
            log("cold start %d: %.1f ms" % (i + 1, res["cold_start_s"][-1] * 1000))
            srv.stop()
        srv.start()
        srv.wait_ready("/")
        time.sleep(2)
        res["mem_idle"] = ow.tree_mem(srv.proc.pid)
        log("idle RSS: %.1f MiB" % (res["mem_idle"]["rss_kb"] / 1024))
        all_paths = sorted({p for v in scenarios.values() for p in v[0]})
        ow.check_urls(a.port, all_paths)
        ow.warm(a.port, all_paths, 2)
        ow.wait_idle(srv.proc.pid)
        res["probes"] = {}
        for name, path in probes:
            res["probes"][name] = ow.probe(a.port, path, a.probe_n)
            log("probe %-20s p50 %7.2f ms  %7d B" % (name, res["probes"][name]["p50_ms"], res["probes"][name]["bytes"]))
        for run in range(a.runs):
            for name, (paths, conns) in scenarios.items():
                for c in conns:
                    r = ow.run_wrk(workdir, a.port, paths, c, a.duration, srv.proc.pid, a.quiet_wait)
                    r.update({"scenario": name, "run": run + 1})
                    res["runs"].append(r)
                    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
                    log("run %d %-8s c=%-3d %9.1f req/s  p50 %6.2f ms  p99 %6.2f ms  err %d  cpu %.3f ms/req  rss %d MiB" % (
                        run + 1, name, c, r["rps"], r["lat_p50_us"] / 1000, r["lat_p99_us"] / 1000, errors,
                        r["server_cpu_ms_per_req"] or 0, (r["rss_peak_kb"] or 0) // 1024))
        res["mem_after_load"] = ow.tree_mem(srv.proc.pid)
        res["saves"] = []
        for run in range(a.save_runs):
            with ow.LoadMeter(srv.proc.pid) as m:
                s = holt_saves(a.port, save_pages, a.saves)
            s["server_cpu_ms_per_save"] = 1000 * m.server_cpu_s / a.saves
            res["saves"].append(s)
            log("saves run %d: POST p50 %.2f ms p99 %.2f ms" % (run + 1, s["save_post"]["p50_ms"], s["save_post"]["p99_ms"]))
        res["mem_after_saves"] = ow.tree_mem(srv.proc.pid)
    finally:
        srv.stop()
    return res


def best_rps(runs, scenario):
    """The best throughput of a scenario over its connection counts (median over runs)."""
    by_conns = {}
    for r in runs:
        if r["scenario"] == scenario:
            by_conns.setdefault(r["conns"], []).append(r["rps"])
    return max(statistics.median(v) for v in by_conns.values()) if by_conns else None


def summarize(holt, uncached, other):
    """A table of Holt (cached and uncached) against the reference, with ratios."""
    def ratio(h, o, better):
        if h is None or o is None or h <= 0 or o <= 0:
            return "—"
        return "%.0f×" % (h / o if better == "higher" else o / h)

    def fmt(v, unit):
        return "—" if v is None else ("%.1f %s" % (v, unit) if v < 1000 else "%.0f %s" % (v, unit))

    def median_of(res, f):
        return f(res) if res else None

    rows = []
    for name, target in [("page", 300), ("history", 300), ("search", 100), ("index", 100)]:
        rows.append(("%s view throughput" % name, best_rps(holt["runs"], name),
                     median_of(uncached, lambda r: best_rps(r["runs"], name)),
                     median_of(other, lambda r: best_rps(r["runs"], name)), "req/s", "higher", "≥ %d×" % target))
    save = lambda r: statistics.median(s["save_post"]["p50_ms"] for s in r["saves"])
    rows.append(("save p50", save(holt), median_of(uncached, save), median_of(other, save), "ms", "lower", "≥ 10× faster"))
    cold = lambda r: statistics.median(r["cold_start_s"]) * 1000
    rows.append(("cold start", cold(holt), median_of(uncached, cold), median_of(other, cold), "ms", "lower", "< 100 ms"))
    rss = lambda r: r["mem_idle"]["rss_kb"] / 1024
    rows.append(("idle RSS", rss(holt), median_of(uncached, rss), median_of(other, rss), "MiB", "lower", "< 40 MiB"))
    lines = ["| measure | Holt | Holt, no response cache | An Otter Wiki | ratio (cached) | ratio (uncached) | target |",
             "|---|---|---|---|---|---|---|"]
    for label, h, u, o, unit, better, target in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(h, unit), fmt(u, unit), fmt(o, unit), ratio(h, o, better), ratio(u, o, better), target))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    p.add_argument("--repo", help="corpus repository (default: generated into the workdir)")
    p.add_argument("--manifest")
    p.add_argument("--port", type=int, default=8781)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--conns", help="comma list of connection counts for every scenario")
    p.add_argument("--saves", type=int, default=100)
    p.add_argument("--save-runs", type=int, default=2)
    p.add_argument("--probe-n", type=int, default=20)
    p.add_argument("--quiet-wait", type=float, default=0)
    p.add_argument("--quick", action="store_true", help="1 run of 5 s, 20 saves (a smoke run)")
    p.add_argument("--with-otterwiki", action="store_true", help="run the reference benchmark too, same corpus")
    p.add_argument("--no-uncached", action="store_true", help="skip the second Holt pass without the response cache")
    a = p.parse_args()
    if a.quick:
        a.runs, a.duration, a.saves, a.save_runs, a.probe_n = 1, 5, 20, 1, 10
    a.conns = [int(c) for c in a.conns.split(",")] if a.conns else None
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    if not a.repo:
        a.repo = os.path.join(workdir, "corpus-repo")
        a.manifest = os.path.join(workdir, "corpus-manifest.json")
        if not os.path.isdir(a.repo):
            subprocess.run([sys.executable, os.path.join(SHARED, "gen_corpus.py"), "--out", a.repo,
                            "--manifest", a.manifest], check=True)
    manifest = json.load(open(a.manifest))
    # Same priority handling as the reference, so both run under the same conditions.
    if os.geteuid() == 0:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -10)
        except OSError:
            pass

    holt = bench_holt(a, workdir, manifest)
    uncached = None if a.no_uncached else bench_holt(a, workdir, manifest, cache=False)
    json.dump({"cached": holt, "uncached": uncached}, open(os.path.join(workdir, "holt-results.json"), "w"), indent=1)
    other = None
    if a.with_otterwiki:
        subprocess.run([sys.executable, os.path.join(SHARED, "bench_otterwiki.py"), "setup", "--workdir", workdir], check=True)
        args = [sys.executable, os.path.join(SHARED, "bench_otterwiki.py"), "bench", "--workdir", workdir,
                "--repo", a.repo, "--manifest", a.manifest, "--workers", "2", "--runs", str(a.runs),
                "--duration", str(a.duration), "--saves", str(a.saves), "--save-runs", str(a.save_runs),
                "--probe-n", str(min(a.probe_n, 5)), "--quiet-wait", str(a.quiet_wait)]
        if a.conns:
            args += ["--conns", ",".join(map(str, a.conns))]
        subprocess.run(args, check=True)
        other = json.load(open(os.path.join(workdir, "results.json")))["variants"]["2"]
    table = summarize(holt, uncached, other)
    m = ow.machine()
    header = "Run %s on %d CPUs (%s); %d runs of %d s, wrk -t1 on the same host.\n\n" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), m["cpus"], m["cpu_model"], a.runs, a.duration)
    text = header + table + "\n"
    open(os.path.join(workdir, "comparison.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
