#!/usr/bin/env python3
"""bench/supervision.py: process supervision side by side (issue 11, point 5).

Runs the same scenarios against conduitd, nginx (nginx-light, `return 200`)
and gunicorn (Debian's, sync workers, a one-route WSGI app), 2 workers each,
under `wrk -t1 -c16` on GET /healthz, and prints a Markdown table:

  worker killed     SIGKILL one worker 2 s into a 5 s run: failed requests
                    (wrk's socket errors + non-2xx), median of RUNS runs
  worker hung       SIGSTOP one worker 2 s into a 9 s run, worker timeout 2 s
                    (conduitd --worker-timeout 2, gunicorn --timeout 2; nginx
                    has none): seconds until a new worker process appears
                    (polled every 20 ms), and failed requests
  reload x3         HUP at 1.5, 2.5 and 3.5 s of a 6 s run: failed requests
  scale up/down     TTIN at 1.5 s, TTOU at 3.5 s of a 6 s run: workers after
                    each, failed requests (nginx: no such signals)
  stop, in flight   a POST whose body is half sent, then the graceful stop
                    (conduitd TERM, nginx QUIT, gunicorn TERM), then the rest
                    of the body: the answer it gets, and the seconds until
                    the master exits
  master killed     SIGKILL the master: whether workers still answer 1 s
                    later, and the seconds until no worker is left (up to 20)

Environment: CONDUITD (default ./conduitd), RUNS (3), SERVERS ("nginx
gunicorn conduitd"). Needs wrk, nginx, gunicorn. Loopback only; bounded: about
(5 * RUNS + 9 + 6 + 6 + 25) s per server at most.
"""

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RUNS = int(os.environ.get("RUNS", "3"))
CONDUITD = os.environ.get("CONDUITD", "./conduitd")
SERVERS = os.environ.get("SERVERS", "nginx gunicorn conduitd").split()

NGINX_CONF = """daemon off;
master_process on;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} default_server;
        location / {{
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}
    }}
}}
"""

WSGI_APP = '''def app(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        environ["wsgi.input"].read(n)
    body = b'{"status":"ok"}'
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(pid):
    """Pids of pid's child processes."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return sorted(set(out))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def answers(port, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    graceful = signal.SIGTERM
    scales = True
    timeout_flag = True

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.proc = None

    def start(self):
        # A free port can be taken by another process before we bind it:
        # try again on a new one.
        for _ in range(3):
            if self._start_once():
                return
            self.port = free_port()
        raise SystemExit("%s did not start (see %s.log)" % (self.name, self.name))

    def _start_once(self):
        self.proc = subprocess.Popen(self.command(), stdout=self.log(), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if answers(self.port) and len(self.workers()) >= 2:
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def log(self):
        return open(os.path.join(self.tmp, self.name + ".log"), "ab")

    def env(self):
        return dict(os.environ)

    def workers(self):
        return children(self.proc.pid)

    def stop(self):
        if self.proc is None:
            return
        for w in self.workers():
            try:
                os.kill(w, signal.SIGCONT)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for w in list(self._orphans()):
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        self.proc = None

    def _orphans(self):
        return []


class Nginx(Server):
    name = "nginx"
    graceful = signal.SIGQUIT
    scales = False
    timeout_flag = False

    def command(self):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=self.tmp, port=self.port))
        return ["nginx", "-p", self.tmp, "-c", conf]


class Gunicorn(Server):
    name = "gunicorn"

    def command(self):
        with open(os.path.join(self.tmp, "app.py"), "w") as f:
            f.write(WSGI_APP)
        return ["gunicorn", "--workers", "2", "--worker-class", "sync", "--timeout", "2",
                "--graceful-timeout", "10", "--bind", "127.0.0.1:%d" % self.port,
                "--chdir", self.tmp, "--log-level", "warning", "app:app"]


class Conduitd(Server):
    name = "conduitd"

    def command(self):
        return [CONDUITD, "--listen", "127.0.0.1:%d" % self.port,
                "--admin-listen", "127.0.0.1:%d" % free_port(), "--workers", "2",
                "--worker-timeout", "2", "--access-log", "off", "--log-level", "warn", "--dev"]

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CONDUIT_") and k not in ("DATABASE_URL", "REDIS_URL")}
        return env


def wrk(port, seconds):
    """Start wrk -t1 -c16 on /healthz; returns the Popen (stdout piped)."""
    return subprocess.Popen(["wrk", "-t1", "-c16", "-d%ds" % seconds, "--timeout", "3s",
                             "http://127.0.0.1:%d/healthz" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def failed(proc):
    out = proc.communicate()[0].decode(errors="replace")
    n = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        n += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        n += int(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    return n, int(m.group(1)) if m else 0


def scenario_kill(srv):
    runs = []
    for _ in range(RUNS):
        srv.start()
        load = wrk(srv.port, 5)
        time.sleep(2)
        os.kill(srv.workers()[0], signal.SIGKILL)
        runs.append(failed(load)[0])
        srv.stop()
    return "%d failed (runs: %s)" % (statistics.median(runs), ", ".join(map(str, runs)))


def scenario_hang(srv):
    srv.start()
    load = wrk(srv.port, 9)
    time.sleep(2)
    before = set(srv.workers())
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGSTOP)
    t0 = time.monotonic()
    took = None
    while time.monotonic() - t0 < 6:
        if set(srv.workers()) - before:
            took = time.monotonic() - t0
            break
        time.sleep(0.02)
    n, _ = failed(load)
    try:
        os.kill(victim, signal.SIGCONT)
    except OSError:
        pass
    srv.stop()
    if took is None:
        return "not replaced in 6 s, %d failed" % n
    return "replaced after %.1f s, %d failed" % (took, n)


def scenario_reload(srv):
    srv.start()
    load = wrk(srv.port, 6)
    for at in (1.5, 1.0, 1.0):
        time.sleep(at)
        srv.proc.send_signal(signal.SIGHUP)
    n, _ = failed(load)
    srv.stop()
    return "%d failed" % n


def scenario_scale(srv):
    if not srv.scales:
        return "no TTIN/TTOU (edit worker_processes, reload)"
    srv.start()
    load = wrk(srv.port, 6)
    time.sleep(1.5)
    srv.proc.send_signal(signal.SIGTTIN)
    time.sleep(2)
    up = len(srv.workers())
    srv.proc.send_signal(signal.SIGTTOU)
    time.sleep(2)
    down = len(srv.workers())
    n, _ = failed(load)
    srv.stop()
    return "2 -> %d -> %d workers, %d failed" % (up, down, n)


def scenario_stop_in_flight(srv):
    srv.start()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"POST /healthz HTTP/1.1\r\nHost: b\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 10\r\n\r\n12345")
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.proc.send_signal(srv.graceful)
    time.sleep(0.5)
    try:
        s.sendall(b"67890")
        data = s.recv(64)
        got = data.split(b"\r\n")[0].decode(errors="replace") if data else "closed"
    except OSError as e:
        got = type(e).__name__
    s.close()
    try:
        srv.proc.wait(timeout=15)
        exit_s = "master gone after %.1f s" % (time.monotonic() - t0)
    except subprocess.TimeoutExpired:
        exit_s = "master still there after 15 s"
    srv.stop()
    return "%s; %s" % (got.replace("HTTP/1.1 ", ""), exit_s)


def scenario_master_killed(srv):
    srv.start()
    workers = srv.workers()
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    t0 = time.monotonic()
    gone = None
    while time.monotonic() - t0 < 20:
        if not any(alive(w) for w in workers):
            gone = time.monotonic() - t0
            break
        time.sleep(0.005)
        if time.monotonic() - t0 >= 1:
            break
    time.sleep(max(0.0, 1 - (time.monotonic() - t0)))
    serving = answers(srv.port)
    while gone is None and time.monotonic() - t0 < 20:
        if not any(alive(w) for w in workers):
            gone = time.monotonic() - t0
            break
        time.sleep(0.01)
    for w in workers:
        try:
            os.kill(w, signal.SIGKILL)
        except OSError:
            pass
    srv.proc = None
    state = "orphans still answer 1 s later" if serving else "no answer 1 s later"
    if gone is None:
        return "%s; workers still there after 20 s" % state
    return "%s; workers gone after %.2f s" % (state, gone)


SCENARIOS = [
    ("SIGKILL one worker under load (median of %d)" % RUNS, scenario_kill),
    ("hung worker (SIGSTOP, timeout 2 s)", scenario_hang),
    ("HUP x3 under load", scenario_reload),
    ("TTIN then TTOU under load", scenario_scale),
    ("graceful stop, request body half sent", scenario_stop_in_flight),
    ("SIGKILL the master", scenario_master_killed),
]


def main():
    classes = {"nginx": Nginx, "gunicorn": Gunicorn, "conduitd": Conduitd}
    results = {}
    with tempfile.TemporaryDirectory(prefix="supervision-") as tmp:
        for name in SERVERS:
            d = os.path.join(tmp, name)
            os.makedirs(d)
            srv = classes[name](d)
            results[name] = []
            for label, fn in SCENARIOS:
                try:
                    r = fn(srv)
                finally:
                    srv.stop()
                print("supervision: %s: %s: %s" % (name, label, r), file=sys.stderr, flush=True)
                results[name].append(r)
    print("| scenario | " + " | ".join(SERVERS) + " |")
    print("| --- |" + " --- |" * len(SERVERS))
    for i, (label, _) in enumerate(SCENARIOS):
        print("| %s | %s |" % (label, " | ".join(results[n][i] for n in SERVERS)))


if __name__ == "__main__":
    main()
