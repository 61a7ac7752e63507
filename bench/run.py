#!/usr/bin/env python3
"""Holt's benchmark and its contract, side by side with An Otter Wiki on the same corpus.

    python3 bench/run.py [--quick] [--with-otterwiki] [--workdir DIR] [--no-uncached]
                         [--runs N] [--duration S] [--conns C,..] [--saves N] [--save-runs N]

(or `./dev.sh bench ...`, which builds the release binary first). The binary is $HOLT_BIN, or
target/release/holt. Holt runs in single-wiki mode, as An Otter Wiki serves one wiki.

The corpus (bench/corpus.py: 500 pages, 2,000 commits) is imported into one data directory,
which is reindexed and, when the semantic-search model is installed, given its full semantic
index (`holt reindex --semantic`). Each pass serves a copy of that directory, so every pass
starts from the same, quiet state. The scenarios (measure.scenarios) request the pages the
corpus manifest names:

  page     /, small, 4 median, large, nested page      (wrk -t1, 16 and 64 connections)
  history  the hottest page and 3 typical pages        (16 and 64)
  search   the common search word                      (16 and 64)
  index    the page index                              (4 and 16)
  saves    sequential edits through the editor form    (p50 and p99 of the POST)
  restart  process start -> first 200 on /             (median of the runs)
  memory   RSS 3 s after start, before any semantic query; RSS after one semantic query

Passes: Holt with its response cache, Holt without it (HOLT_CACHE__RESPONSE_BYTES=0), Holt
during a full semantic reindex (semantic.sqlite removed, so the server re-embeds every page
while the saves and a 16-connection page-view run are measured), and with --with-otterwiki
An Otter Wiki (bench/otterwiki.py) with the same code, pages, connections and durations.

Results: WORKDIR/holt-results.json, and WORKDIR/comparison.md, the contract table (also
printed): each measure against its target, with a verdict (met, MISSED, not measured).
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

import corpus
import measure
import otterwiki

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Holt reads every HOLT_* variable as a setting and refuses unknown ones: HOLT_BIN is ours.
HOLT = os.environ.pop("HOLT_BIN", None) or os.path.join(ROOT, "target", "release", "holt")
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
SEMANTIC_QUERY = "/api/v1/semantic-search?q=how+do+I+restart+the+cache&n=5"
WIKI = os.path.join("wikis", "demo")  # the one wiki of single-wiki mode, in a data directory
os.environ["HOLT_MODE"] = "single"
log = measure.log


# Holt's URL for each thing the scenarios request.
URLS = measure.Urls(history="/{page}/-/history", search="/-/search?q={word}",
                    raw="/{page}/-/source?raw", blame="/{page}/-/blame")


def semantic_installed():
    """Whether the model is there; points Holt at the checkout's copy when it is."""
    if os.environ.get("HOLT_SEMANTIC__MODEL_DIR"):
        return True
    if os.path.exists(os.path.join(MODEL, "model.onnx")):
        os.environ["HOLT_SEMANTIC__MODEL_DIR"] = MODEL
        return True
    return False


def holt(data, *args):
    """A `holt --data DATA ...` command; returns its seconds."""
    start = time.perf_counter()
    done = subprocess.run([HOLT, "--data", data, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if done.returncode:
        raise SystemExit("holt %s failed: %s" % (" ".join(args), done.stderr.decode()[-2000:]))
    return time.perf_counter() - start


def prepare(workdir, repo, semantic, reuse=False):
    """One data directory with the corpus imported, indexed and (with the model) embedded.
    `reuse`: keep the one made before by the same binary from the same corpus and model."""
    data = os.path.join(workdir, "holt-prepared")
    made_by = json.dumps({"holt": [os.path.getsize(HOLT), os.path.getmtime(HOLT)],
                          "corpus": subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"],
                                                   stdout=subprocess.PIPE).stdout.decode(),
                          "semantic": semantic, "model": os.environ.get("HOLT_SEMANTIC__PRECISION")})
    stamp = os.path.join(workdir, "holt-prepared.json")
    if reuse and os.path.isdir(data) and os.path.exists(stamp) and open(stamp).read() == made_by:
        log("reusing the prepared data directory %s" % data)
        return data, json.load(open(stamp + ".times"))
    if os.path.exists(stamp):
        os.remove(stamp)
    shutil.rmtree(data, ignore_errors=True)
    times = {"import_s": holt(data, "import", repo), "reindex_s": holt(data, "reindex")}
    log("holt import: %.2f s, holt reindex: %.2f s" % (times["import_s"], times["reindex_s"]))
    if semantic:
        log("holt reindex --semantic (embeds every page; a minute or two) ...")
        times["reindex_semantic_s"] = holt(data, "reindex", "--semantic")
        log("holt reindex --semantic: %.1f s" % times["reindex_semantic_s"])
    with open(stamp, "w") as f:
        f.write(made_by)
    with open(stamp + ".times", "w") as f:
        json.dump(times, f)
    return data, times


def copy_of(prepared, workdir, name):
    """A fresh copy of the prepared data directory, on disk before the pass begins: otherwise
    the first saves' flushes would write out the whole copy."""
    data = os.path.join(workdir, name)
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(prepared, data, symlinks=True)
    os.sync()
    return data


def server(data, port, env=None):
    argv = [HOLT, "--data", data, "serve", "--listen", "%s:%d" % (measure.HOST, port)]
    return measure.Server(argv, port, os.path.join(data, "holt.log"),
                          env=dict(os.environ, HOLT_LOG="holt=warn", **(env or {})))


def reindex_status(port):
    """The semantic queue: {enabled, pending, pages, chunks, ...}."""
    body = json.loads(measure.get_ok(port, "/api/v1/reindex/status").body)
    return body.get("semantic", body)


def saves(port, pages, n):
    """n sequential saves through the editor form: only the POST (one git commit, 303) is
    timed; the base revision comes from the editor, opened before each save."""
    editor, posts, text = [], [], {}
    for i in range(n):
        page = pages[i % len(pages)]
        q = urllib.parse.quote(page)
        r = measure.get_ok(port, "/%s/-/edit" % q)
        editor.append(r.seconds * 1000)
        base = re.search(rb'name="base" value="([0-9a-f]{40})"', r.body).group(1).decode()
        if page not in text:
            text[page] = measure.get_ok(port, "/%s/-/raw" % q).body.decode()
        form = urllib.parse.urlencode({"content": text[page] + "\n\nBenchmark edit %d.\n" % i,
                                       "base": base, "message": "benchmark edit %d" % i}).encode()
        r = measure.request(port, "POST", "/%s/-/edit" % q, body=form,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if r.status != 303:
            raise RuntimeError("save of %s -> %d: %s" % (page, r.status, r.body[:300]))
        posts.append(r.seconds * 1000)
    return {"save_post": measure.latency_stats(posts), "editor_get": measure.latency_stats(editor)}


def memory_after_start(srv, port, semantic):
    """RSS 3 s after start, before any semantic query; then, with the model, RSS 2 s after one
    semantic query (the model loaded, the corpus's vectors in memory)."""
    res = {}
    time.sleep(3)
    res["rss_after_start"] = measure.tree_memory(srv.pid)
    log("RSS 3 s after start: %.1f MiB" % (res["rss_after_start"]["rss_kb"] / 1024))
    if not semantic:
        return res
    res["semantic_status"] = reindex_status(port)
    r = measure.get_ok(port, SEMANTIC_QUERY)
    res["semantic_query"] = {"ms": r.seconds * 1000, "results": len(json.loads(r.body)["results"])}
    time.sleep(2)
    res["rss_after_semantic_query"] = measure.tree_memory(srv.pid)
    log("semantic query: %.0f ms, %d results; RSS 2 s later: %.1f MiB" % (
        res["semantic_query"]["ms"], res["semantic_query"]["results"],
        res["rss_after_semantic_query"]["rss_kb"] / 1024))
    return res


def bench_holt(a, workdir, prepared, targets, semantic, cache):
    """One pass on a copy of the prepared data directory; `cache=False` turns the response
    cache off."""
    name = "holt-cached" if cache else "holt-uncached"
    log("=== Holt, response cache %s ===" % ("on" if cache else "off"))
    srv = server(copy_of(prepared, workdir, name), a.port,
                 None if cache else {"HOLT_CACHE__RESPONSE_BYTES": "0"})
    loads, probes = measure.scenarios(targets, URLS, a.conns)
    res = {"restart_s": [], "saves": []}
    try:
        # The first start on a data directory compiles the plugins into its cache; a restart
        # (what the contract measures) loads them from there.
        srv.start()
        res["first_start_s"] = srv.wait_ready("/")
        log("first start: %.1f ms to the first 200 (compiles the plugins)" % (res["first_start_s"] * 1000))
        srv.stop()
        for i in range(a.runs):
            srv.start()
            res["restart_s"].append(srv.wait_ready("/"))
            log("restart %d: %.1f ms to the first 200" % (i + 1, res["restart_s"][-1] * 1000))
            srv.stop()
        srv.start()
        srv.wait_ready("/")
        res.update(memory_after_start(srv, a.port, semantic))
        paths = sorted({p for paths, _ in loads.values() for p in paths})
        measure.check_ok(a.port, paths)
        measure.warm(a.port, paths, 4)
        measure.wait_idle(srv.pid)
        res["probes"] = measure.run_probes(a.port, probes, a.probe_n)
        res["runs"] = measure.run_scenarios(workdir, a.port, srv.pid, loads, a.runs, a.duration)
        res["mem_after_load"] = measure.tree_memory(srv.pid)
        for run in range(a.save_runs):
            with measure.CpuMeter(srv.pid) as meter:
                s = saves(a.port, measure.save_pages(targets), a.saves)
            s["server_cpu_ms_per_save"] = 1000 * meter.server_cpu_s / a.saves
            res["saves"].append(s)
            log("saves run %d: POST p50 %.2f ms, p99 %.2f ms" % (
                run + 1, s["save_post"]["p50_ms"], s["save_post"]["p99_ms"]))
        res["mem_after_saves"] = measure.tree_memory(srv.pid)
    finally:
        srv.stop()
    return res


def bench_during_reindex(a, workdir, prepared, targets):
    """Saves and page views while the server re-embeds the whole corpus: the prepared data
    directory without its semantic store, so Holt queues every page on start."""
    log("=== Holt during a full semantic reindex ===")
    data = copy_of(prepared, workdir, "holt-reindex")
    for suffix in ("", "-wal", "-shm"):
        path = os.path.join(data, WIKI, "semantic.sqlite" + suffix)
        if os.path.exists(path):
            os.remove(path)
    srv = server(data, a.port)
    loads, _ = measure.scenarios(targets, URLS)
    try:
        srv.start()
        srv.wait_ready("/")
        # At start Holt finds the wiki's store empty and queues every page, in the background.
        deadline = time.perf_counter() + 30
        while reindex_status(a.port)["pending"] == 0 and time.perf_counter() < deadline:
            time.sleep(0.05)
        res = {"pending": [reindex_status(a.port)["pending"]]}
        log("reindex queue: %d pages pending" % res["pending"][0])
        res["saves"] = saves(a.port, measure.save_pages(targets), a.saves)
        res["pending"].append(reindex_status(a.port)["pending"])
        # As in the other passes, the pages are served once before they are measured (the
        # saves changed the wiki, so none is in the response cache).
        measure.warm(a.port, loads["page"][0], 4)
        res["page"] = measure.wrk(workdir, a.port, loads["page"][0], 16, a.duration, srv.pid,
                                  drain=False)
        res["pending"].append(reindex_status(a.port)["pending"])
    finally:
        srv.stop()
    res["valid"] = res["pending"][0] > 0 and res["pending"][-1] > 0
    log("during the reindex: save p50 %.2f ms, p99 %.2f ms; page views %.0f req/s, p99 %.2f ms; "
        "pending %s" % (res["saves"]["save_post"]["p50_ms"], res["saves"]["save_post"]["p99_ms"],
                        res["page"]["rps"], res["page"]["lat_p99_us"] / 1000,
                        " -> ".join(map(str, res["pending"]))))
    if not res["valid"]:
        log("the reindex was not running throughout the measurements: they are not valid")
    return res


# ---------------------------------------------------------------------------- the contract

def save_p50(res):
    return statistics.median(s["save_post"]["p50_ms"] for s in res["saves"])


def restart_ms(res):
    return statistics.median(res["restart_s"]) * 1000


def mib(key):
    return lambda res: res[key]["rss_kb"] / 1024 if key in res else None


def verdict(ok):
    return "not measured" if ok is None else ("met" if ok else "MISSED")


def row(label, unit, holts, other, target, judge, ratios=None):
    """One measure: Holt's figures (with and without the response cache, or only the first),
    An Otter Wiki's, and a verdict for each Holt figure."""
    ratios = ratios or [None] * len(holts)
    return {"label": label, "unit": unit, "values": holts + [None] * (2 - len(holts)) + [other],
            "ratios": ratios, "target": target,
            "verdicts": [verdict(None if h is None else judge(h, r)) for h, r in zip(holts, ratios)]}


def ratio_row(label, unit, holts, other, factor, higher):
    """Target: Holt `factor` times An Otter Wiki's throughput, or `factor` times faster."""
    ratios = [None if h is None or other is None else (h / other if higher else other / h)
              for h in holts]
    return row(label, unit, holts, other, "≥ %d× An Otter Wiki%s" % (factor, "" if higher else ", faster"),
               lambda h, r: None if r is None else r >= factor, ratios)


def limit_row(label, unit, holts, other, limit):
    """Target: below an absolute limit."""
    return row(label, unit, holts, other, "< %g %s" % (limit, unit), lambda h, r: h < limit)


def contract(cached, uncached, during, other):
    """The rows of the contract table."""
    def each(f):
        return [f(cached), f(uncached) if uncached else None]

    def of_other(f):
        return f(other) if other else None

    rows = []
    for scenario, label, factor in [("page", "page view", 300), ("history", "history", 300),
                                    ("search", "search", 100), ("index", "page index", 100)]:
        rps = lambda res: measure.best_rps(res["runs"], scenario)  # noqa: E731
        rows.append(ratio_row(label + " throughput", "req/s", each(rps), of_other(rps), factor, True))
    rows.append(ratio_row("save p50", "ms", each(save_p50), of_other(save_p50), 10, False))
    valid = bool(during and during["valid"])
    rows.append(ratio_row("save p50 during a full semantic reindex", "ms",
                          [during["saves"]["save_post"]["p50_ms"] if valid else None],
                          of_other(save_p50), 10, False))
    rows.append(limit_row("page-view p99 during the reindex, 16 connections", "ms",
                          [during["page"]["lat_p99_us"] / 1000 if valid else None], None, 5))
    rows.append(limit_row("restart to first 200 on /", "ms", each(restart_ms),
                          of_other(restart_ms), 50))
    rss = mib("rss_after_start")
    rows.append(limit_row("RSS 3 s after start, before any semantic query", "MiB", each(rss),
                          of_other(rss), 40))
    rows.append(limit_row("RSS with the model and the corpus's vectors loaded", "MiB",
                          each(mib("rss_after_semantic_query")), None, 150))
    return rows


def fmt(value, unit):
    if value is None:
        return "—"
    if unit == "req/s":
        return "%.1f req/s" % value if value < 100 else "{:,.0f} req/s".format(value)
    return "%.2f %s" % (value, unit) if value < 10 else "%.1f %s" % (value, unit)


def table(rows):
    lines = ["| measure | Holt | Holt, no response cache | An Otter Wiki | ratio | target | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratios = [("%.0f×" % x if x >= 10 else "%.1f×" % x) if x is not None else "—"
                  for x in r["ratios"]]
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], *(fmt(v, r["unit"]) for v in r["values"]), " / ".join(ratios), r["target"],
            " / ".join(r["verdicts"])))
    return "\n".join(lines)


def notes(a, results, semantic):
    prep, during = results["prepare"], results["during_reindex"]
    lines = ["Ratio and verdict: for Holt with its response cache / without it (one figure: the "
             "cached server only). Throughput is a scenario's best connection count, the median of "
             "its runs; a ratio is Holt's advantage (req/s ÷ req/s, or ms ÷ ms for saves)."]
    if not a.with_otterwiki:
        lines.append("An Otter Wiki was not run (--with-otterwiki): its ratios are not measured.")
    first = [("Holt", results["cached"]), ("An Otter Wiki", results["otterwiki"])]
    lines.append("First start on the data, before the restarts: %s." % ", ".join(
        "%s %.0f ms" % (name, res["first_start_s"] * 1000) for name, res in first
        if res and "first_start_s" in res) + " (Holt's compiles its plugins into the data "
        "directory's cache.)")
    lines.append("Prepared data: holt import %.1f s, holt reindex %.1f s%s." % (
        prep["import_s"], prep["reindex_s"],
        ", holt reindex --semantic %.0f s" % prep["reindex_semantic_s"] if semantic else ""))
    if not semantic:
        lines.append("The semantic-search model is not installed (tools/model/fetch.sh): the "
                     "reindex pass and the RSS with the model were not measured.")
    else:
        p = during["page"]
        lines.append(
            "During the reindex: pages pending %s (before the saves, after them, after the page "
            "views): %s. Saves p50 %.2f ms, p99 %.2f ms; page views at 16 connections %.0f req/s, "
            "p99 %.2f ms." % (
                " → ".join(map(str, during["pending"])),
                "the reindex ran throughout" if during["valid"] else
                "NOT VALID, the queue was empty when they began or before they ended",
                during["saves"]["save_post"]["p50_ms"], during["saves"]["save_post"]["p99_ms"],
                p["rps"], p["lat_p99_us"] / 1000))
    return "\n\n".join(lines)


def holt_version():
    return subprocess.run([HOLT, "--version"], stdout=subprocess.PIPE, check=True).stdout.decode().strip()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    p.add_argument("--repo", help="the corpus repository (default: generated into the workdir)")
    p.add_argument("--manifest", help="its manifest (needed with --repo)")
    p.add_argument("--port", type=int, default=8781)
    p.add_argument("--otterwiki-port", type=int, default=8780)
    p.add_argument("--otterwiki-workers", type=int, default=2)
    p.add_argument("--with-otterwiki", action="store_true", help="measure An Otter Wiki too")
    p.add_argument("--no-uncached", action="store_true", help="skip the pass without the response cache")
    measure.add_load_options(p)
    a = p.parse_args()
    measure.apply_load_options(a)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    if not os.path.exists(HOLT):
        raise SystemExit("no Holt binary at %s; run ./dev.sh bench, or set HOLT_BIN" % HOLT)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    if os.geteuid() == 0:  # driver, servers and wrk alike: other work on the host disturbs less
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    started = time.time()
    repo, manifest = corpus.ensure(workdir, a.repo, a.manifest)
    targets = manifest["targets"]
    semantic = semantic_installed()
    if not semantic:
        log("semantic search: the model is not installed (models/all-MiniLM-L6-v2/model.onnx, or "
            "$HOLT_SEMANTIC__MODEL_DIR): skipping the reindex pass and the RSS with the model")
    prepared, prep = prepare(workdir, repo, semantic)
    results = {"machine": measure.machine(), "holt": {"binary": HOLT, "version": holt_version()},
               "corpus_head": manifest["head"], "semantic": semantic, "prepare": prep,
               "params": {k: getattr(a, k) for k in ("runs", "duration", "conns", "saves",
                                                     "save_runs", "probe_n", "quick")}}
    results["cached"] = bench_holt(a, workdir, prepared, targets, semantic, cache=True)
    results["uncached"] = (None if a.no_uncached else
                           bench_holt(a, workdir, prepared, targets, semantic, cache=False))
    results["during_reindex"] = bench_during_reindex(a, workdir, prepared, targets) if semantic else None
    results["otterwiki"] = None
    if a.with_otterwiki:
        ow = argparse.Namespace(**{**vars(a), "port": a.otterwiki_port,
                                   "workers": a.otterwiki_workers})
        results["otterwiki"] = otterwiki.bench(workdir, repo, targets, ow)
    results["seconds"] = time.time() - started
    m = results["machine"]
    header = ("Run %s on %d CPUs (%s); %s; %d run(s) of %d s per scenario, wrk -t1 on the same "
              "host; corpus HEAD %s; %s; the whole run took %.0f min." % (
                  time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), m["cpus"], m["cpu_model"],
                  results["holt"]["version"], a.runs, a.duration, manifest["head"][:12],
                  "An Otter Wiki %s, gunicorn with %d sync workers" % (
                      results["otterwiki"]["versions"]["otterwiki"], a.otterwiki_workers)
                  if a.with_otterwiki else "without An Otter Wiki", results["seconds"] / 60))
    rows = contract(results["cached"], results["uncached"], results["during_reindex"],
                    results["otterwiki"])
    results["contract"] = rows
    with open(os.path.join(workdir, "holt-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    text = "%s\n\n%s\n\n%s\n" % (header, table(rows), notes(a, results, semantic))
    with open(os.path.join(workdir, "comparison.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
