#!/usr/bin/env python3
"""Where Holt's memory goes: a breakdown of its resident set on the benchmark corpus.

    python3 bench/memory.py [--workdir DIR]        (or ./dev.sh bench-memory)

The release binary ($HOLT_BIN, or target/release/holt) serves copies of one prepared data
directory (the corpus of bench/corpus.py imported, indexed and, with the model installed,
embedded), in single-wiki mode, in these states:

  semantic off          [semantic] enabled = false, 3 s after start
  no plugins            every plugin switched off, 3 s after start
  start                 the defaults, 3 s after start (the model is not loaded yet)
  warm                  the same server after every page, its history and a search were asked
                        for once (the response cache, SQLite's page caches and the templates
                        filled)
  warm, no cache        the same in a server without the response cache
  semantic query        the warm server after two semantic queries (the model loaded, the
                        wiki's vectors in memory, ONNX Runtime's buffers made)

For each state it reads /proc/PID/smaps and sums the resident KiB of each kind of mapping (the
holt executable, ONNX Runtime's library, other shared libraries, anonymous memory: heap, thread
stacks, allocator arenas). The differences between the states give each part's share; the
vector index's own size is computed from the passage count (384 f32s and the passage's
breadcrumb and snippet each). Written to WORKDIR/memory.md and printed; the figures go into
docs/memory.md.
"""

import argparse
import json
import os
import shutil
import time

import corpus
import measure
import run

log = measure.log


def smaps(pid):
    """Resident KiB by kind of mapping: {exe, onnxruntime, libs, files, anon}."""
    exe = os.path.realpath("/proc/%d/exe" % pid)
    kinds = {"exe": 0, "onnxruntime": 0, "libs": 0, "files": 0, "anon": 0}
    kind = "anon"
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                path = head[5] if len(head) > 5 else ""
                if path == exe:
                    kind = "exe"
                elif "libonnxruntime" in path:
                    kind = "onnxruntime"
                elif ".so" in path:
                    kind = "libs"
                elif path.startswith("/"):
                    kind = "files"
                else:
                    kind = "anon"  # [heap], [stack], anonymous mappings
            elif head[0] == "Rss:":
                kinds[kind] += int(head[1])
    kinds["total"] = sum(kinds.values())
    return kinds


def warm(port, manifest):
    """Every page and its history once, and a search: what a day's readers would touch."""
    for page in manifest["pages"]:
        measure.get_ok(port, run.URLS.page(page["path"]))
        measure.get_ok(port, run.URLS.history(page["path"]))
    measure.get_ok(port, run.URLS.search(manifest["targets"]["search_common"]))
    measure.get_ok(port, run.URLS.index())


def settle():
    time.sleep(3)


def state(name, srv, port):
    s = smaps(srv.pid)
    log("%-16s RSS %6.1f MiB (exe %.1f, ONNX Runtime %.1f, libs %.1f, files %.1f, anon %.1f)" % (
        name, s["total"] / 1024, s["exe"] / 1024, s["onnxruntime"] / 1024, s["libs"] / 1024,
        s["files"] / 1024, s["anon"] / 1024))
    return s


def serve(prepared, workdir, name, port, env=None, config=None):
    data = run.copy_of(prepared, workdir, name)
    srv = run.server(data, port, env)
    if config:
        srv.argv[1:1] = ["--config", config]
    # The first start compiles the plugins into the data directory's cache: measured are
    # restarts, which load them from there.
    srv.start()
    srv.wait_ready("/")
    srv.stop()
    srv.start()
    srv.wait_ready("/")
    return srv


def no_plugins_config(workdir):
    path = os.path.join(workdir, "memory-no-plugins.toml")
    with open(path, "w") as f:
        for plugin in ("bootstrap", "admin-hiding", "rest-api", "mcp-tools"):
            f.write("[plugins.%s]\nenabled = false\n" % plugin)
    return path


def mib(kb):
    return "%.1f MiB" % (kb / 1024)


def report(states, vectors_kb, chunks, semantic):
    st = states
    rows = [
        ("executable code and data (the holt binary, file-backed)", st["start"]["exe"]),
        ("shared libraries other than ONNX Runtime", st["start"]["libs"]),
        ("the plugins: wasmtime engine, compiled components, instance pools (start − no plugins)",
         st["start"]["total"] - st["no plugins"]["total"]),
        ("semantic search idle, the model not loaded (start − semantic off)",
         st["start"]["total"] - st["semantic off"]["total"]),
        ("heap and stacks at start (anonymous)", st["start"]["anon"]),
        ("after reading every page: the response cache (warm − warm, no cache)",
         st["warm"]["total"] - st["warm, no cache"]["total"]),
        ("after reading every page: SQLite page caches, templates, allocator (warm, no cache − start)",
         st["warm, no cache"]["total"] - st["start"]["total"]),
    ]
    if semantic:
        q = st["semantic query"]
        model = q["total"] - st["warm"]["total"] - vectors_kb
        rows += [
            ("ONNX Runtime's library, once loaded (file-backed)", q["onnxruntime"]),
            ("the model, its tokenizer and ONNX Runtime's buffers (semantic query − warm − vectors − library)",
             model - q["onnxruntime"]),
            ("the wiki's vector index: %d passages × (384 f32 + breadcrumb and snippet)" % chunks,
             vectors_kb),
        ]
    lines = ["| state | RSS | holt | ONNX Runtime | other libraries | other files | anonymous |",
             "|---|---|---|---|---|---|---|"]
    for name, s in st.items():
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            name, mib(s["total"]), mib(s["exe"]), mib(s["onnxruntime"]), mib(s["libs"]),
            mib(s["files"]), mib(s["anon"])))
    lines += ["", "| part | resident |", "|---|---|"]
    lines += ["| %s | %s |" % (label, mib(kb)) for label, kb in rows]
    return "\n".join(lines)


def vector_index_kb(data):
    """The in-memory size of the wiki's vector index, from its store: per passage 384 f32s,
    its breadcrumb and snippet, and the row's bookkeeping (about 64 bytes)."""
    import sqlite3
    db = sqlite3.connect(os.path.join(data, run.WIKI, "semantic.sqlite"))
    try:
        n, chars = db.execute("SELECT count(*), coalesce(sum(length(heading) + length(text)), 0) "
                              "FROM chunks").fetchone()
    finally:
        db.close()
    return n, (n * (384 * 4 + 64) + chars) / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=os.path.join(run.ROOT, "target", "bench"))
    p.add_argument("--port", type=int, default=8782)
    a = p.parse_args()
    if not os.path.exists(run.HOLT):
        raise SystemExit("no Holt binary at %s; run ./dev.sh bench-memory, or set HOLT_BIN" % run.HOLT)
    workdir = os.path.abspath(a.workdir)
    os.makedirs(workdir, exist_ok=True)
    repo, manifest = corpus.ensure(workdir, None, None)
    semantic = run.semantic_installed()
    prepared, _ = run.prepare(workdir, repo, semantic, reuse=True)
    states = {}
    srv = serve(prepared, workdir, "memory-off", a.port, {"HOLT_SEMANTIC__ENABLED": "false"})
    settle()
    states["semantic off"] = state("semantic off", srv, a.port)
    srv.stop()
    srv = serve(prepared, workdir, "memory-no-plugins", a.port, config=no_plugins_config(workdir))
    settle()
    states["no plugins"] = state("no plugins", srv, a.port)
    srv.stop()
    srv = serve(prepared, workdir, "memory-nocache", a.port, {"HOLT_CACHE__RESPONSE_BYTES": "0"})
    warm(a.port, manifest)
    settle()
    nocache = state("warm, no cache", srv, a.port)
    srv.stop()
    srv = serve(prepared, workdir, "memory", a.port)
    try:
        settle()
        states["start"] = state("start", srv, a.port)
        warm(a.port, manifest)
        settle()
        states["warm"] = state("warm", srv, a.port)
        states["warm, no cache"] = nocache
        if semantic:
            for _ in range(2):
                measure.get_ok(a.port, run.SEMANTIC_QUERY)
            settle()
            states["semantic query"] = state("semantic query", srv, a.port)
    finally:
        srv.stop()
    chunks, vectors_kb = vector_index_kb(prepared) if semantic else (0, 0)
    text = ("Holt %s, the benchmark corpus (%d pages), single-wiki mode, release build; resident "
            "memory from /proc/PID/smaps.\n\n%s\n" % (
                run.holt_version(), len(manifest["pages"]), report(states, vectors_kb, chunks, semantic)))
    with open(os.path.join(workdir, "memory.md"), "w") as f:
        f.write(text)
    with open(os.path.join(workdir, "memory.json"), "w") as f:
        json.dump({"states": states, "vectors_kb": vectors_kb, "chunks": chunks}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
