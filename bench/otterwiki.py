#!/usr/bin/env python3
"""An Otter Wiki on the benchmark corpus, measured the way run.py measures Holt.

    python3 bench/otterwiki.py setup
    python3 bench/otterwiki.py bench [--repo DIR --manifest FILE] [--workers 2] [--quick]
                                     [--runs N] [--duration S] [--conns C,..] [--saves N] ...

An Otter Wiki (PyPI `otterwiki`, a Flask application) is what Holt is compared with. `setup`
makes a venv in target/bench/otterwiki-venv and installs bench/otterwiki-requirements.txt into
it (every package pinned with its sha256: `pip install --require-hashes --no-deps
--only-binary=:all:`); it does nothing when that file has not changed since.

`bench` serves a copy of the corpus repository (generated into the work directory unless --repo
is given) under gunicorn, 2 sync workers by default, on 127.0.0.1, with anonymous read and write
(so saves need no account) and a SECRET_KEY made for the run. It then measures, with measure.py,
the scenarios run.py measures on Holt, at An Otter Wiki's URLs for the same pages
(`/{page}`, `/{page}/history`, `/-/search/{word}`, `/-/index`; saves are POST `/{page}/save`
with the editor's CSRF token), with the same connection counts and durations: restart to the
first 200 on `/`, RSS 3 s after start, per-URL probes, wrk load and sequential saves. Results go
to WORKDIR/otterwiki-results.json; run.py calls bench() itself with --with-otterwiki.
"""

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse

import corpus
import measure

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUIREMENTS = os.path.join(HERE, "otterwiki-requirements.txt")
VENV = os.path.join(ROOT, "target", "bench", "otterwiki-venv")


# An Otter Wiki's URL for each thing the scenarios request.
URLS = measure.Urls(history="/{page}/history", search="/-/search/{word}",
                    raw="/{page}/source?raw", blame="/{page}/blame")


def venv_bin(name):
    return os.path.join(VENV, "bin", name)


def setup():
    """The venv with the pinned requirements; redone only when the requirements change."""
    with open(REQUIREMENTS, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(VENV, "requirements.sha256")
    if os.path.exists(stamp) and open(stamp).read() == digest:
        return
    python = shutil.which("python3.11") or sys.executable
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                         stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    if out != "True":
        raise SystemExit("the pinned wheels are for CPython 3.11; install python3.11")
    measure.log("installing An Otter Wiki into %s" % VENV)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", VENV], check=True)
    subprocess.run([venv_bin("python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "--require-hashes", "--no-deps",
                    "--only-binary=:all:", "-r", REQUIREMENTS], check=True)
    with open(stamp, "w") as f:
        f.write(digest)


def versions():
    code = ("import importlib.metadata as m, json, platform; print(json.dumps("
            "{p: m.version(p) for p in ['otterwiki', 'gunicorn', 'Flask', 'GitPython']} | "
            "{'python': platform.python_version()}))")
    return json.loads(subprocess.run([venv_bin("python"), "-c", code], stdout=subprocess.PIPE,
                                     check=True).stdout)


def prepare(workdir, repo):
    """A run directory with a copy of the corpus, the settings and An Otter Wiki's database."""
    rundir = os.path.join(workdir, "otterwiki-run")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    copy = os.path.join(rundir, "repo")
    shutil.copytree(repo, copy, symlinks=True)
    os.sync()  # as for Holt's copies: on disk before the measures begin
    settings = {
        "REPOSITORY": copy,
        "SECRET_KEY": secrets.token_hex(32),
        "SITE_NAME": "Benchmark",
        "READ_ACCESS": "ANONYMOUS",
        "WRITE_ACCESS": "ANONYMOUS",
        "ATTACHMENT_ACCESS": "ANONYMOUS",
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(rundir, "db.sqlite"),
        "LOG_LEVEL": "WARNING",
    }
    with open(os.path.join(rundir, "settings.cfg"), "w") as f:
        f.writelines("%s = %r\n" % item for item in settings.items())
    env = server_env(rundir)
    # The schema is made once here: gunicorn's workers would race to create it.
    subprocess.run([venv_bin("python"), "-c", "import otterwiki.server"], env=env, cwd=rundir,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rundir


def server_env(rundir):
    return dict(os.environ, OTTERWIKI_SETTINGS=os.path.join(rundir, "settings.cfg"),
                GIT_AUTHOR_NAME="Benchmark", GIT_AUTHOR_EMAIL="bench@localhost",
                GIT_COMMITTER_NAME="Benchmark", GIT_COMMITTER_EMAIL="bench@localhost")


def server(rundir, port, workers):
    argv = [venv_bin("gunicorn"), "--workers", str(workers), "--worker-class", "sync",
            "--bind", "%s:%d" % (measure.HOST, port), "--timeout", "120",
            "--log-level", "warning", "otterwiki.server:app"]
    return measure.Server(argv, port, os.path.join(rundir, "gunicorn.log"),
                          env=server_env(rundir), cwd=rundir)


def _cookies(jar, headers):
    for name, value in headers:
        if name.lower() == "set-cookie":
            key, _, rest = value.split(";", 1)[0].partition("=")
            jar[key.strip()] = rest.strip()
    return "; ".join("%s=%s" % kv for kv in jar.items())


def saves(port, pages, n):
    """n sequential saves through the editor's form, like Holt's: only the POST (one git
    commit, 302) is timed. Each page's editor is opened once, for the session cookie and the
    CSRF token (valid for the session), and its Markdown fetched once."""
    jar, cookie, token, text = {}, "", None, {}
    editor, posts = [], []
    for i in range(n):
        page = pages[i % len(pages)]
        q = urllib.parse.quote(page)
        if page not in text:
            r = measure.request(port, "GET", "/%s/edit" % q, headers={"Cookie": cookie} if jar else {})
            if r.status != 200:
                raise RuntimeError("editor of %s -> %d" % (page, r.status))
            editor.append(r.seconds * 1000)
            cookie = _cookies(jar, r.headers)
            token = re.search(rb'name="csrf_token" value="([^"]+)"', r.body).group(1).decode()
            raw = measure.request(port, "GET", "/%s/source?raw" % q, headers={"Cookie": cookie})
            # ?raw ends with a reference comment of An Otter Wiki's own: not page text
            text[page] = raw.body.decode().rsplit("\n[]: # (", 1)[0]
        form = urllib.parse.urlencode({
            "csrf_token": token, "commit": "benchmark edit %d" % i, "cursor_line": "0",
            "cursor_ch": "0", "content": text[page] + "\n\nBenchmark edit %d.\n" % i}).encode()
        r = measure.request(port, "POST", "/%s/save" % q, body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        if r.status != 302:
            raise RuntimeError("save of %s -> %d: %s" % (page, r.status, r.body[:300]))
        posts.append(r.seconds * 1000)
        cookie = _cookies(jar, r.headers)
    return {"save_post": measure.latency_stats(posts), "editor_get": measure.latency_stats(editor)}


def commit_count(repo):
    return int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"],
                              stdout=subprocess.PIPE, check=True).stdout)


def bench(workdir, repo, targets, a):
    """Measures An Otter Wiki (options `a` as in measure.add_load_options, plus port and
    workers); returns the results."""
    setup()
    rundir = prepare(workdir, repo)
    measure.log("=== An Otter Wiki, gunicorn with %d sync workers ===" % a.workers)
    loads, probes = measure.scenarios(targets, URLS, a.conns)
    res = {"engine": "An Otter Wiki", "versions": versions(), "workers": a.workers,
           "restart_s": [], "saves": []}
    srv = server(rundir, a.port, a.workers)
    try:
        srv.start()  # as for Holt: the first start is not a restart
        res["first_start_s"] = srv.wait_ready("/")
        measure.log("first start: %.0f ms to the first 200" % (res["first_start_s"] * 1000))
        srv.stop()
        for i in range(a.runs):
            srv.start()
            res["restart_s"].append(srv.wait_ready("/"))
            measure.log("restart %d: %.0f ms to the first 200" % (i + 1, res["restart_s"][-1] * 1000))
            srv.stop()
        srv.start()
        srv.wait_ready("/")
        time.sleep(3)
        res["rss_after_start"] = measure.tree_memory(srv.pid)
        measure.log("RSS 3 s after start: %.1f MiB" % (res["rss_after_start"]["rss_kb"] / 1024))
        # The first page index on a fresh database renders every page for its TOC cache.
        res["first_index_s"] = measure.get_ok(a.port, "/-/index", timeout=600).seconds
        paths = sorted({p for paths, _ in loads.values() for p in paths})
        measure.check_ok(a.port, paths)
        measure.warm(a.port, paths, 2 * a.workers)
        measure.wait_idle(srv.pid)
        res["probes"] = measure.run_probes(a.port, probes, a.probe_n)
        res["runs"] = measure.run_scenarios(workdir, a.port, srv.pid, loads, a.runs, a.duration)
        res["mem_after_load"] = measure.tree_memory(srv.pid)
        before = commit_count(os.path.join(rundir, "repo"))
        for run in range(a.save_runs):
            with measure.CpuMeter(srv.pid) as meter:
                s = saves(a.port, measure.save_pages(targets), a.saves)
            s["server_cpu_ms_per_save"] = 1000 * meter.server_cpu_s / a.saves
            res["saves"].append(s)
            measure.log("saves run %d: POST p50 %.1f ms, p99 %.1f ms" % (
                run + 1, s["save_post"]["p50_ms"], s["save_post"]["p99_ms"]))
        res["save_commits"] = commit_count(os.path.join(rundir, "repo")) - before
        res["mem_after_saves"] = measure.tree_memory(srv.pid)
    finally:
        srv.stop()
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install An Otter Wiki into target/bench/otterwiki-venv")
    b = sub.add_parser("bench", help="measure it on the corpus")
    b.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"))
    b.add_argument("--repo", help="the corpus repository (default: generated into the workdir)")
    b.add_argument("--manifest", help="its manifest (needed with --repo)")
    b.add_argument("--port", type=int, default=8780)
    b.add_argument("--workers", type=int, default=2)
    measure.add_load_options(b)
    a = p.parse_args()
    if a.command == "setup":
        setup()
        print(json.dumps(versions(), indent=1))
        return
    measure.apply_load_options(a)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    repo, manifest = corpus.ensure(workdir, a.repo, a.manifest)
    res = bench(workdir, repo, manifest["targets"], a)
    res["machine"], res["corpus_head"] = measure.machine(), manifest["head"]
    out = os.path.join(workdir, "otterwiki-results.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    measure.log("wrote", out)


if __name__ == "__main__":
    main()
