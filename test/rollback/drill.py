#!/usr/bin/env python3
"""drill.py: the rollback drill, against real processes on loopback.

Each run starts a real Prometheus (Debian's `prometheus`: its own config and TSDB in a temporary
directory, scrape and rule evaluation every 1s, the shipped monitoring/rules/conduitd.rules.yml)
scraping two conduitd: one with CONDUIT_RELEASE=v1 (the old version) and one with
CONDUIT_RELEASE=v2 (the new one). Both use the real PostgreSQL (DATABASE_URL), v2 through a
TCP proxy owned by the drill. A load client sends API traffic to both; a prober plays the
kubelet, asking each /readyz every second. Then script/rollout-guard watches v2 twice at once:
through Prometheus's HTTP API, and (no-Prometheus mode) by scraping the two /metrics itself.
kubectl is test/rollback/kubectl-standin, which records the commands it gets and plays a
Deployment at revision 6 whose last good revision (recorded by an earlier promote) is 5.

  run A "failure":  after a few healthy evaluations the proxy is cut, so v2's database is
                    unreachable and its API answers 503. Both guards must decide "roll back",
                    call `rollout undo --to-revision=5` (the last good revision, not "the previous") and
                    `rollout status`, and exit 1. The time from the cut to
                    each guard's undo is measured and printed.
  run B "healthy":  nothing fails. Both guards must decide "promote", exit 0, and record
                    revision 6 as the last good one (an annotation), undoing nothing. A guard
                    watching a version no pod runs has no data: it rolls back to revision 5
                    (exit 1), and with --no-data inconclusive ends "inconclusive" (exit 3)
                    calling no kubectl.
  run C "crash":    v2's workers are killed as fast as they start (as a build that segfaults
                    would die). Both guards must roll back on ConduitdWorkerCrashLoop or
                    ConduitdReadinessFailing. Needs neither PostgreSQL nor the API.

What is shortened, honestly: the guard runs with --rate-window 10s --for 5s --interval 1s (the
shipped rules say 5m and 2m). The expressions it evaluates are the shipped recording rules'
(inlined, only the [5m] range rewritten) and the thresholds are the shipped ones. Prometheus
itself evaluates the shipped rules unchanged; the drill checks their per-version series exist
on the real scraped labels, and that every dashboard query is valid PromQL there.

Needs: prometheus and the built conduitd (CONDUITD), else exits 77 (skip). Run A needs
DATABASE_URL (script/services start) and the Conduit API; without them it is reported skipped
(and run B sends only GET /healthz). Bounded: about two minutes, every loop has a deadline.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402  (test/harness.py, the lead's)

SRC = harness.srcdir()
RULES = os.path.join(SRC, "monitoring", "rules", "conduitd.rules.yml")
GUARD = os.path.join(SRC, "script", "rollout-guard")
STANDIN = os.path.join(HERE, "kubectl-standin")
DASHBOARD = os.path.join(SRC, "monitoring", "dashboards", "conduitd.json")

GUARD_ARGS = ["--rate-window", "10s", "--for", "5s", "--interval", "1s",
              "--deployment", "conduitd", "--namespace", "drill", "--revision", "6"]
HEALTHY_BEFORE_CUT_S = 6  # the guards see healthy evaluations first
WINDOW_A = "45s"          # guard window of the failing run (it must decide well before)
WINDOW_B = "25s"          # guard window of the healthy run (it runs to the end)
API_PATHS = ["/api/tags", "/api/articles?limit=5", "/api/tags", "/healthz"]


class Checks:
    """Named pass/fail results; prints each, then 'drill: N passed, M failed'."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return ok


class Prometheus:
    """A real Prometheus on a free loopback port, TSDB in a temporary directory."""

    def __init__(self, targets, workdir):
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=workdir)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: conduitd\n    static_configs:\n"
                    "      - targets: [%s]\n" % (json.dumps(RULES),
                                                  ", ".join("'%s'" % t for t in targets)))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited: " + self.output())
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("prometheus not ready in 30s: " + self.output())

    def output(self):
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def query(self, expr):
        """Instant query; (status, result list or error text)."""
        data = urllib.parse.urlencode({"query": expr}).encode()
        try:
            with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=5) as r:
                body = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode() or "{}")
        if body.get("status") == "success":
            return "success", body["data"]["result"]
        return "error", body.get("error", str(body))

    def by_version(self, expr):
        status, result = self.query(expr)
        if status != "success":
            return {}
        return {s["metric"].get("version", ""): float(s["value"][1]) for s in result}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class DbProxy:
    """A TCP proxy to PostgreSQL that the drill can cut: it closes every connection it carries
    and its listening socket, so the database is unreachable through it (connection refused)."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.cut_done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.cut_done:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.cut_done = True
            self.sock.close()
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class Load:
    """Bounded API traffic to each server (two threads each) and kubelet-like /readyz probes."""

    def __init__(self, servers, paths, rate_per_server=25.0, max_seconds=150):
        self.paths = paths
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.codes = {s: {} for s in servers}
        self.lock = threading.Lock()
        self.threads = []
        for s in servers:
            for i in range(2):
                self.threads.append(threading.Thread(
                    target=self._client, args=(s, 2.0 / rate_per_server, i), daemon=True))
            self.threads.append(threading.Thread(target=self._prober, args=(s,), daemon=True))
        for t in self.threads:
            t.start()

    def _running(self):
        return not self.stop_event.is_set() and time.monotonic() < self.deadline

    def _client(self, server, pause, offset):
        conn = None
        i = offset
        while self._running():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                code = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                code = "error"
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.codes[server][code] = self.codes[server].get(code, 0) + 1
            self.stop_event.wait(pause)
        if conn is not None:
            conn.close()

    def _prober(self, server):
        while self._running():
            try:
                server.get("/readyz", admin=True, timeout=2)
            except OSError:
                pass
            self.stop_event.wait(1.0)

    def snapshot(self):
        with self.lock:
            return {s: dict(c) for s, c in self.codes.items()}

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=10)


class Guard:
    """One rollout-guard process with its own stand-in kubectl log."""

    def __init__(self, name, args, workdir):
        self.name = name
        self.standin_log = os.path.join(workdir, "kubectl-%s.log" % name)
        self.out_path = os.path.join(workdir, "guard-%s.log" % name)
        env = dict(os.environ, KUBECTL=STANDIN, STANDIN_LOG=self.standin_log)
        env.pop("GITHUB_ACTIONS", None)
        self.out = open(self.out_path, "w", encoding="utf-8")
        self.started = time.time()
        self.proc = subprocess.Popen([sys.executable, GUARD] + args, env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.out.close()

    def output(self):
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def commands(self):
        """[(unix time, argument string)] the stand-in kubectl recorded."""
        if not os.path.exists(self.standin_log):
            return []
        out = []
        with open(self.standin_log, encoding="utf-8") as f:
            for line in f:
                t, _, args = line.rstrip("\n").partition(" ")
                out.append((float(t), args))
        return out


def migrate(db_url):
    """Apply the migrations (the API needs its tables)."""
    env = dict(os.environ, DATABASE_URL=db_url)
    env.setdefault("CONDUIT_MIGRATIONS_DIR", os.path.join(SRC, "migrations"))
    proc = subprocess.run([harness.binary(), "migrate"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError("conduitd migrate failed: %s%s" % (proc.stdout, proc.stderr))


def wait_for(cond, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


def dashboard_exprs():
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    return exprs


def kill_workers_loop(server, stop, deadline):
    """Kill every worker of server as soon as it appears, until stop is set; kills counted."""
    kills = 0
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            pids = [w["pid"] for w in server.status()["workers"] if w.get("pid")]
        except (OSError, ValueError, KeyError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, 9)
                kills += 1
            except OSError:
                pass
        stop.wait(0.2)
    return kills


def run(name, failure, checks, workdir, db_url):
    """One drill run; failure is "db", "crash" or None. Returns {guard: seconds to undo}."""
    print("== run %s: %s" % (name, {
        "db": "v2's database made unreachable while load runs",
        "crash": "v2's workers killed as they start while load runs",
        None: "nothing fails"}[failure]), flush=True)
    proxy = None
    new_env = {"CONDUIT_RELEASE": "v2", "CONDUIT_ACCESS_LOG": "off"}
    if db_url:
        parsed = urllib.parse.urlsplit(db_url)
        proxy = DbProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432)
        userinfo = parsed.netloc.rpartition("@")[0]
        new_env["DATABASE_URL"] = urllib.parse.urlunsplit(parsed._replace(
            netloc="%s127.0.0.1:%d" % (userinfo + "@" if userinfo else "", proxy.port)))
    old = harness.Server(workers=2, with_services=bool(db_url),
                         env={"CONDUIT_RELEASE": "v1", "CONDUIT_ACCESS_LOG": "off"})
    new = harness.Server(workers=2, with_services=bool(db_url), env=new_env)
    for s in (old, new):
        s.env.pop("REDIS_URL", None)  # no cache: every API read goes to PostgreSQL
    paths = API_PATHS if db_url else ["/healthz"]
    prom = load = None
    guards = []
    measured = {}
    stop_killer = threading.Event()
    try:
        old.start()
        new.start()
        old.wait_ready()
        new.wait_ready()
        if db_url:
            for s, label in ((old, "v1"), (new, "v2")):
                if not wait_for(lambda s=s: s.get("/api/tags").status == 200, 15):
                    raise AssertionError("%s does not answer GET /api/tags with 200 before the "
                                         "drill: %r\n%s" % (label, s.get("/api/tags"),
                                                            s.output()[-3000:]))
        prom = Prometheus(["127.0.0.1:%d" % old.admin_port, "127.0.0.1:%d" % new.admin_port],
                          workdir)
        load = Load([old, new], paths)
        # Enough samples for a 10s rate window of both versions.
        ok = wait_for(lambda: len(prom.by_version(
            "sum by (version) (rate(http_requests_total[10s]) * on (instance, job) "
            "group_left (version) conduitd_build_info)")) == 2, 20)
        checks.check("%s: Prometheus scrapes v1 and v2 with their version labels" % name, ok)
        window = WINDOW_A if failure else WINDOW_B
        guards = [
            # --match as the deploy workflow passes it (here on a label the targets have).
            Guard(name + "-prometheus", ["--prometheus", prom.url, "--version", "v2",
                                         "--match", 'job="conduitd"',
                                         "--window", window] + GUARD_ARGS, workdir),
            Guard(name + "-scrape", ["--version", "v2", "--window", window,
                                     "--metrics-url", "http://127.0.0.1:%d/metrics" % old.admin_port,
                                     "--metrics-url", "http://127.0.0.1:%d/metrics" % new.admin_port]
                  + GUARD_ARGS, workdir),
        ]
        if not failure:
            # A version no pod runs: no data, so not verified. By default rolled back; with
            # --no-data inconclusive neither promoted nor rolled back.
            guards.append(Guard(name + "-nodata", ["--prometheus", prom.url, "--version", "v9",
                                                   "--window", "3s"] + GUARD_ARGS, workdir))
            guards.append(Guard(name + "-idle", ["--prometheus", prom.url, "--version", "v9",
                                                 "--no-data", "inconclusive",
                                                 "--window", "3s"] + GUARD_ARGS, workdir))
        t_fail = None
        before = {}
        if failure:
            time.sleep(HEALTHY_BEFORE_CUT_S)
            before = load.snapshot()
            t_fail = time.time()
            if failure == "db":
                proxy.cut()
            else:
                threading.Thread(target=kill_workers_loop, daemon=True, args=(
                    new, stop_killer, time.monotonic() + 60)).start()
            print("   %s: failure started %.1fs after the guards" % (
                name, t_fail - guards[0].started), flush=True)
        limit = parse_seconds(window) + 30
        results = {g.name: g.wait(limit) for g in guards}
        stop_killer.set()
        after = load.snapshot()

        # The shipped recording rules, evaluated by Prometheus itself on the real labels.
        rec = prom.by_version("conduitd_version:http_requests:rate5m")
        checks.check("%s: shipped recording rules give per-version series" % name,
                     set(rec) >= {"v1", "v2"}, "conduitd_version:http_requests:rate5m %s"
                     % {k: round(v, 1) for k, v in rec.items()})
        # The metrics-health alerts select conduitd's targets by job name: both are up here.
        status, up = prom.query('up{job=~"(.+/)?conduitd"} == 1')
        checks.check("%s: the metrics-health rules' target selector sees both targets up" % name,
                     status == "success" and len(up) == 2, "%s %s" % (status, up))
        status, absent = prom.query('absent(up{job=~"(.+/)?conduitd"} == 1)')
        checks.check("%s: ConduitdMetricsAbsent's expression is empty while scraped" % name,
                     status == "success" and not absent, "%s %s" % (status, absent))
        old_bad = sum(v for k, v in after[old].items() if k != 200)
        checks.check("%s: v1 answers every request 200" % name, old_bad == 0, str(after[old]))
        if failure == "db":
            ratio = prom.by_version("conduitd_version:http_5xx_ratio:rate5m")
            checks.check("%s: recorded 5xx ratio shows v2 failing and v1 not" % name,
                         ratio.get("v2", 0) > 0.05 and ratio.get("v1", 1) == 0,
                         str({k: round(v, 3) for k, v in ratio.items()}))
            new_503 = after[new].get(503, 0) - before[new].get(503, 0)
            checks.check("%s: v2 answers 503 once its database is unreachable" % name,
                         new_503 > 0, "v2's answers: before the cut %s, at the end %s"
                         % (before[new], after[new]))
        if failure == "crash":
            loop = prom.by_version("conduitd_version:crash_loop:max")
            checks.check("%s: recorded crash-loop series shows v2 backing off, v1 not" % name,
                         loop.get("v2", 0) > 0 and loop.get("v1", 1) == 0, str(loop))
        if failure:
            # Every dashboard query is valid PromQL on the real Prometheus.
            errors, empty = [], []
            for title, expr in dashboard_exprs():
                q = (expr.replace("$__rate_interval", "10s").replace("$job", ".*")
                     .replace("$namespace", ".*"))
                status, result = prom.query(q)
                if status != "success":
                    errors.append("%s: %s" % (title, result))
                elif not result:
                    empty.append(title)
            checks.check("%s: every dashboard query runs on the real Prometheus" % name,
                         not errors, "; ".join(errors) or "%d queries" % len(dashboard_exprs()))
            if empty:
                print("   note: dashboard queries without data in this run: %s"
                      % "; ".join(sorted(set(empty))), flush=True)

        expected = {"db": r"ConduitdHighErrorRatio",
                    "crash": r"(ConduitdWorkerCrashLoop|ConduitdReadinessFailing)"}
        for g in guards:
            out = g.output()
            cmds = g.commands()
            code = results[g.name]
            print("   --- decision log of %s (exit %s)" % (g.name, code))
            for line in out.splitlines():
                print("   | " + line)
            rollouts = [a.split(" --timeout")[0] for _, a in cmds if a.startswith("rollout ")]
            undo_to_last_good = [
                "rollout undo deployment/conduitd -n drill --to-revision=5",
                "rollout status deployment/conduitd -n drill"]
            if failure:
                undo = [(t, a) for t, a in cmds if a.startswith("rollout undo")]
                checks.check("%s: guard decides roll back (exit 1)" % g.name, code == 1,
                             "exit %s" % code)
                checks.check("%s: guard ran `rollout undo --to-revision=5` (last good) then "
                             "`rollout status`" % g.name, rollouts == undo_to_last_good,
                             "; ".join(rollouts))
                checks.check("%s: the breach named is the expected trigger of v2" % g.name,
                             re.search(r"DECISION: roll back: %s: v2 " % expected[failure], out)
                             is not None)
                healthy = re.findall(r"eval #\d+ t\+\d+s v2: error_ratio\[\S+ \S+\] ok;", out)
                checks.check("%s: guard judged v2 healthy before the failure" % g.name,
                             len(healthy) >= 2, "%d healthy evaluations" % len(healthy))
                if undo:
                    measured[g.name] = undo[0][0] - t_fail
            elif g.name.endswith("-nodata"):
                checks.check("%s: a version without data is rolled back to the last good "
                             "revision (exit 1)" % g.name, code == 1 and rollouts ==
                             undo_to_last_good and "unverified: no series of version v9" in out,
                             "exit %s, commands %s" % (code, rollouts))
            elif g.name.endswith("-idle"):
                checks.check("%s: with --no-data inconclusive: exit 3, no kubectl" % g.name,
                             code == 3 and not cmds and "INCONCLUSIVE" in out,
                             "exit %s, commands %s" % (code, cmds))
            else:
                checks.check("%s: guard decides promote (exit 0)" % g.name, code == 0,
                             "exit %s" % code)
                annotate = [a for _, a in cmds if a.startswith("annotate ")]
                checks.check("%s: records revision 6 as the last good one, undoes nothing"
                             % g.name, not rollouts and len(annotate) == 1 and
                             "conduitd.io/last-good-template-hash=hash-6 "
                             "conduitd.io/last-good-revision=6 conduitd.io/last-good-version=v2"
                             in annotate[0], "; ".join(rollouts + annotate))
                checks.check("%s: PROMOTE logged" % g.name,
                             re.search(r"PROMOTE: v2 healthy", out) is not None)
        return measured
    finally:
        stop_killer.set()
        if load:
            load.stop()
        for g in guards:
            if g.proc.poll() is None:
                g.proc.kill()
                g.proc.wait()
        if prom:
            prom.stop()
        for s in (new, old):
            try:
                s.stop(timeout=30)
            finally:
                s.kill()
            s.check_clean()
        if proxy:
            proxy.cut()


def parse_seconds(text):
    return float(text.rstrip("s"))


def main():
    if not shutil.which("prometheus"):
        harness.skip("prometheus not installed (Debian package `prometheus`)")
    harness.binary()
    db_url = os.environ.get("DATABASE_URL")
    why_no_a = None
    if not db_url:
        why_no_a = "DATABASE_URL not set (script/services start)"
    else:
        try:
            migrate(db_url)
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            print("FAIL migrations: %s" % e)
            print("drill: 0 passed, 1 failed")
            return 1
        probe = harness.Server(workers=1, with_services=True, env={"CONDUIT_RELEASE": "probe"})
        probe.env.pop("REDIS_URL", None)
        with probe:
            status = probe.get("/api/tags").status
        if status != 200:
            why_no_a = "the Conduit API does not serve GET /api/tags (%d) in this build" % status
            db_url = None
    checks = Checks()
    skipped = 0
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="rollback-drill-")
    measured = {}
    try:
        for name, failure in (("A", "db"), ("B", None), ("C", "crash")):
            if failure == "db" and why_no_a:
                print("== run A: SKIPPED: " + why_no_a, flush=True)
                skipped += 1
                continue
            try:
                measured[name] = run(name, failure, checks, workdir,
                                     db_url if failure != "crash" else None)
            except AssertionError as e:
                checks.check("run %s ran" % name, False, str(e))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for run_name, per_guard in sorted(measured.items()):
        for guard, seconds in sorted(per_guard.items()):
            print("drill: run %s: failure start -> undo decision: %.1f s (%s; guard "
                  "--rate-window 10s --for 5s --interval 1s)" % (run_name, seconds, guard))
    print("drill: took %.0f s" % (time.monotonic() - started))
    print("drill: %d passed, %d failed%s" % (checks.passed, checks.failed,
                                             ", %d skipped" % skipped if skipped else ""))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
