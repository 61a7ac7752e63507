"""The measuring code of Holt's benchmark kit, shared by run.py, api.py and otterwiki.py.

Holt and An Otter Wiki are measured by this one module, with the same scenarios, the same load
generator settings and the same meters, so a difference in the figures is a difference between
the engines and not between two harnesses. Standard library only; it reads /proc (Linux).

  request()         one HTTP request on a fresh connection: status, headers, body, latency
  latency_stats()   n, min, p50, p90, p99, max and mean of a list of milliseconds
  Server            a server process: start, time to its first 200, stop (its whole tree)
  tree_memory()     RSS and PSS of a process and its descendants
  CpuMeter          server CPU seconds (and other load on the host) over a block
  wrk()             `wrk -t1 -cN -dS --latency` over a list of requests, parsed
  probe(), warm(), check_ok(), wait_idle(), port_free(), machine()
  scenarios()       the load scenarios and probes, given an engine's URLs, and the options
                    (add_load_options) that set their runs, durations and connections
"""

import collections
import http.client
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HOST = "127.0.0.1"
USER_AGENT = "holt-bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(*parts):
    print("[%s]" % time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- HTTP

Response = collections.namedtuple("Response", "status headers body seconds")


def request(port, method, path, body=None, headers=None, timeout=60):
    """One request on a fresh connection (An Otter Wiki's gunicorn closes every connection,
    so both engines are asked the same way). `headers` of the answer: a list of pairs."""
    sent = {"User-Agent": USER_AGENT}
    sent.update(headers or {})
    start = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        data = answer.read()
        return Response(answer.status, answer.getheaders(), data, time.perf_counter() - start)
    finally:
        connection.close()


def get_ok(port, path, timeout=60):
    """GET that must answer 200."""
    r = request(port, "GET", path, timeout=timeout)
    if r.status != 200:
        raise RuntimeError("GET %s -> %d: %s" % (path, r.status, r.body[:300]))
    return r


# ---------------------------------------------------------------------------- statistics

def percentile(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, -(-p * len(ordered) // 100) - 1))
    return ordered[int(rank)]


def latency_stats(ms):
    return {"n": len(ms), "min_ms": min(ms), "p50_ms": percentile(ms, 50),
            "p90_ms": percentile(ms, 90), "p99_ms": percentile(ms, 99), "max_ms": max(ms),
            "mean_ms": statistics.mean(ms)}


# ---------------------------------------------------------------------------- processes

def _stat(pid):
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def descendants(pid):
    children = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children[int(fields[1])].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kb(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(pid):
    """RSS and PSS (KiB) of a process and all its descendants (gunicorn's workers, say)."""
    pids = [pid] + descendants(pid)
    return {"rss_kb": sum(_status_kb("/proc/%d/status" % p, "VmRSS:") for p in pids),
            "pss_kb": sum(_status_kb("/proc/%d/smaps_rollup" % p, "Pss:") for p in pids),
            "procs": len(pids)}


def tree_cpu_seconds(pid):
    """User and system CPU of a process and its live descendants, with their reaped children."""
    ticks = 0
    for p in [pid] + descendants(pid):
        fields = _stat(p)
        if fields:
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


def _host_busy_seconds():
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _own_cpu_seconds():
    """This driver and its reaped children (wrk)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter:
    """Over a `with` block: the server tree's CPU seconds, and the cores used on average by
    everything that is neither the server nor this driver and wrk (other work on the host)."""

    def __init__(self, server_pid):
        self.pid = server_pid

    def __enter__(self):
        self.t0, self.server0 = time.perf_counter(), tree_cpu_seconds(self.pid)
        self.host0, self.own0 = _host_busy_seconds(), _own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        seconds = max(time.perf_counter() - self.t0, 1e-6)
        self.server_cpu_s = tree_cpu_seconds(self.pid) - self.server0
        own = _own_cpu_seconds() - self.own0
        self.other_load_cores = max(
            0.0, _host_busy_seconds() - self.host0 - self.server_cpu_s - own) / seconds
        return False


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not busy
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """A server process this kit starts and stops, with its log in `log_path`."""

    def __init__(self, argv, port, log_path, env=None, cwd=None):
        self.argv, self.port, self.log_path = argv, port, log_path
        self.env, self.cwd, self.proc = env, cwd, None

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        if not port_free(self.port):
            raise SystemExit("port %d on %s is busy" % (self.port, HOST))
        with open(self.log_path, "ab") as logf:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)

    def wait_ready(self, path="/", timeout=180):
        """Seconds from the process start to the first 200 on `path`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited; see %s" % (self.argv[0], self.log_path))
            try:
                if request(self.port, "GET", path, timeout=30).status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("no 200 on %s within %d s; see %s" % (path, timeout, self.log_path))

    def stop(self):
        """SIGTERM (then SIGKILL) to the server, then SIGKILL to any of its descendants that
        outlived it, each by its PID and start time (never a PID that was reused)."""
        if not self.proc or self.proc.poll() is not None:
            return
        tree = [(p, _stat(p)[19]) for p in descendants(self.proc.pid) if _stat(p)]
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for p, started in tree:
            fields = _stat(p)
            if fields and fields[19] == started:
                os.kill(p, signal.SIGKILL)
        for _ in range(200):
            if port_free(self.port):
                break
            time.sleep(0.05)


def wait_idle(pid, limit=300):
    """Waits until the server tree used < 5 % of a core for a second (requests queued by a
    finished load run are served). Returns the seconds waited."""
    start, before = time.perf_counter(), tree_cpu_seconds(pid)
    while time.perf_counter() - start < limit:
        time.sleep(1)
        now = tree_cpu_seconds(pid)
        if now - before < 0.05:
            break
        before = now
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- load

# wrk rotates through the requests of a file, one a line: method, path, body (may be empty),
# then any number of "Name: value" headers, separated by tabs.
# wrk rotates through the requests of a file, one a line: method, path, body (may be empty),
# then any number of "Name: value" headers, separated by tabs. They are built in init(), after
# wrk has set its Host header.
WRK_LUA = r"""
local requests, i = {}, 0
init = function(args)
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
    local headers = {["User-Agent"] = "holt-bench"}
    for k = 4, #f do
      local name, value = f[k]:match("^([^:]+):%s*(.*)$")
      headers[name] = value
    end
    local body = f[3]
    if body == nil or body == "" then body = nil end
    requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""

UNITS_US = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def _us(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(out):
    """Requests, req/s, latency (mean, p50, p75, p90, p99, max in µs) and errors of wrk's
    report (run with --latency)."""
    r = {"requests": int(re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", out, re.M).group(1)),
         "rps": float(re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M).group(1))}
    mean, _, worst = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M).groups()
    r["lat_mean_us"], r["lat_max_us"] = _us(mean), _us(worst)
    for p, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M):
        r["lat_p%s_us" % p] = _us(value)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["err_connect"], r["err_read"], r["err_write"], r["err_timeout"] = (
        map(int, m.groups()) if m else (0, 0, 0, 0))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["err_status"] = int(m.group(1)) if m else 0
    r["errors"] = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] + r["err_status"]
    return r


def wrk(workdir, port, requests, conns, duration, server_pid, drain=True):
    """One `wrk -t1 -c{conns} -d{duration}s --latency` run rotating through `requests` (paths,
    or (method, path, body, {headers}) tuples), with the server's CPU per request and peak RSS
    meanwhile. `drain`: afterwards wait until the server has served what was queued."""
    lua = os.path.join(workdir, "rotate.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    listing = os.path.join(workdir, "wrk-requests.txt")
    with open(listing, "w") as f:
        for req in requests:
            method, path, body, headers = ("GET", req, "", {}) if isinstance(req, str) else req
            f.write("\t".join([method, path, body] + ["%s: %s" % h for h in headers.items()]) + "\n")
    peak, stop = [0], threading.Event()

    def sample_rss():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_memory(server_pid)["rss_kb"])
            stop.wait(0.5)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    try:
        with CpuMeter(server_pid) as meter:
            out = subprocess.run(
                ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--latency", "--timeout", "30s",
                 "-s", lua, "http://%s:%d/" % (HOST, port)],
                env=dict(os.environ, WRK_REQUESTS=listing), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=duration + 60).stdout.decode()
    finally:
        stop.set()
        sampler.join()
    try:
        r = parse_wrk(out)
    except AttributeError:
        raise RuntimeError("wrk's report was not understood:\n" + out)
    r.update(conns=conns, duration_s=duration, rss_peak_kb=peak[0],
             server_cpu_ms_per_req=1000 * meter.server_cpu_s / r["requests"] if r["requests"] else None,
             other_load_cores=meter.other_load_cores,
             drain_s=wait_idle(server_pid) if drain else None)
    return r


def probe(port, path, n):
    """n sequential GETs on an otherwise idle server."""
    ms, size = [], 0
    for _ in range(n):
        r = get_ok(port, path)
        ms.append(r.seconds * 1000)
        size = len(r.body)
    return {"path": path, "n": n, "min_ms": min(ms), "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99), "bytes": size}


def check_ok(port, paths):
    for path in paths:
        get_ok(port, path, timeout=300)


def warm(port, paths, parallel, rounds=2):
    """Each path `parallel` times at once, twice: every worker of a pre-forking server (a busy
    one does not accept) serves each path before the measurements."""
    for _ in range(rounds):
        for path in paths:
            threads = [threading.Thread(target=request, args=(port, "GET", path))
                       for _ in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "mem_mib": _status_kb("/proc/meminfo", "MemTotal:") // 1024,
            "kernel": platform.release(), "python": platform.python_version()}


# ---------------------------------------------------------------------------- scenarios

class Urls:
    """An engine's URL for each thing the scenarios request, from templates naming `{page}`
    (a page's path, quoted) or `{word}`; the home page is `/` everywhere."""

    def __init__(self, **templates):
        self.templates = templates

    def _url(self, what, **values):
        return self.templates[what].format(**{k: urllib.parse.quote(v) for k, v in values.items()})

    def page(self, path):
        return "/" if path == "home" else "/" + urllib.parse.quote(path)

    def history(self, path):
        return self._url("history", page=path)

    def search(self, word):
        return self._url("search", word=word)

    def raw(self, path):
        return self._url("raw", page=path)

    def blame(self, path):
        return self._url("blame", page=path)

    def index(self):
        return "/-/index"

    def changelog(self):
        return "/-/changelog"

    def health(self):
        return "/-/healthz"


def add_load_options(parser):
    """The options that set how long and how hard every engine is loaded."""
    parser.add_argument("--runs", type=int, default=3, help="runs of each load scenario")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--conns", help="connection counts for every scenario, such as 16,64 "
                                        "(default: 16 and 64; the page index 4 and 16)")
    parser.add_argument("--saves", type=int, default=100, help="sequential saves in each run")
    parser.add_argument("--save-runs", type=int, default=2)
    parser.add_argument("--probe-n", type=int, default=10, help="sequential GETs of each probe")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 run of 5 s, 20 saves")


def apply_load_options(a):
    if a.quick:
        a.runs, a.duration, a.saves, a.save_runs, a.probe_n = 1, 5, 20, 1, 5
    a.conns = [int(c) for c in a.conns.split(",")] if a.conns else None


LOADS = {"page": [16, 64], "history": [16, 64], "search": [16, 64], "index": [4, 16]}


def scenarios(targets, urls, conns=None):
    """The load scenarios {name: (paths, connection counts)} and the probes [(name, path)] for
    an engine whose URLs `urls` makes (page, history, search, index, changelog, raw, blame,
    health). The page index gets fewer connections: An Otter Wiki takes about a second per
    index, and 64 queued connections would outlast a run. `conns` overrides every count."""
    pages = [urls.page("home")] + [urls.page(p) for p in
                                   [targets["small"]] + targets["median"] + [targets["large"], targets["nested"]]]
    history = [urls.history(p) for p in [targets["history_hot"]] + targets["history_typical"]]
    paths = {"page": pages, "history": history, "search": [urls.search(targets["search_common"])],
             "index": [urls.index()]}
    loads = {name: (paths[name], conns or LOADS[name]) for name in LOADS}
    median = targets["median"][0]
    probes = [("page:home", pages[0]), ("page:small", pages[1]), ("page:median", pages[2]),
              ("page:large", pages[6]), ("page:nested", pages[7]), ("history:hot", history[0]),
              ("history:typical", history[1]), ("search:common", paths["search"][0]),
              ("search:rare", urls.search(targets["search_rare"])), ("index", urls.index()),
              ("changelog", urls.changelog()), ("source:raw median", urls.raw(median)),
              ("blame:median", urls.blame(median)), ("health", urls.health())]
    return loads, probes


def save_pages(targets):
    """The pages the sequential-save scenario edits, in turn."""
    return [targets["median"][0], targets["median"][1], targets["small"], targets["median"][2],
            targets["nested"]]


def run_scenarios(workdir, port, server_pid, loads, runs, duration):
    """Every load scenario at each of its connection counts, `runs` times; logged as it goes."""
    results = []
    for run in range(1, runs + 1):
        for name, (paths, conns) in loads.items():
            for c in conns:
                r = wrk(workdir, port, paths, c, duration, server_pid)
                r.update(scenario=name, run=run)
                results.append(r)
                log("run %d %-8s c=%-3d %9.1f req/s  p50 %7.2f ms  p99 %7.2f ms  err %d  "
                    "cpu %.2f ms/req  rss %d MiB  other load %.2f cores" % (
                        run, name, c, r["rps"], r["lat_p50_us"] / 1000, r["lat_p99_us"] / 1000,
                        r["errors"], r["server_cpu_ms_per_req"] or 0, r["rss_peak_kb"] // 1024,
                        r["other_load_cores"]))
    return results


def run_probes(port, probes, n):
    results = {}
    for name, path in probes:
        results[name] = probe(port, path, n)
        log("probe %-18s p50 %8.2f ms  p99 %8.2f ms  %8d B" % (
            name, results[name]["p50_ms"], results[name]["p99_ms"], results[name]["bytes"]))
    return results


def best_rps(runs, scenario):
    """A scenario's throughput at its best connection count (the median over the runs)."""
    by_conns = collections.defaultdict(list)
    for r in runs:
        if r["scenario"] == scenario:
            by_conns[r["conns"]].append(r["rps"])
    return max(statistics.median(v) for v in by_conns.values()) if by_conns else None
