"""harness.py: start the real conduitd for integration tests.

Each test file makes its own Server: free loopback ports, its own environment,
stderr captured to a file. start() polls the admin /healthz and the API
/healthz and fails fast (with the server's stderr) if the process died.
stop() sends a signal and waits; check_clean() fails on sanitizer reports.

Tests import it with:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import harness
and exit through harness.skip() (automake's 77) when a dependency is missing.
Only loopback addresses are ever used.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def skip(why):
    """Exit with automake's SKIP status and say why."""
    print("SKIP: " + why)
    sys.exit(SKIP)


def binary():
    """Path of the conduitd under test (CONDUITD, else ./conduitd)."""
    path = os.environ.get("CONDUITD") or os.path.abspath("conduitd")
    if not os.access(path, os.X_OK):
        skip("conduitd binary not found (set CONDUITD): " + path)
    return path


def srcdir():
    """The source tree (CONDUIT_SRCDIR, else the parent of test/)."""
    return os.environ.get("CONDUIT_SRCDIR") or os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))


def require_env(*names):
    """Skip unless every named environment variable is set (e.g. DATABASE_URL)."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        skip("not set: " + ", ".join(missing) + " (run `script/services start`)")


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


class Response:
    """A response: status, headers (lower-case names) and body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:200])


class Server:
    """One conduitd process on free loopback ports."""

    def __init__(self, workers=2, args=None, env=None, with_services=False, dev=True):
        self.workers = workers
        self.args = list(args or [])
        self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.env = dict(os.environ)
        # Never inherit a developer's shell settings by accident.
        for k in list(self.env):
            if k.startswith("CONDUIT_") and k not in ("CONDUIT_SRCDIR", "CONDUIT_BUILDDIR"):
                del self.env[k]
        if not with_services:
            self.env.pop("DATABASE_URL", None)
            self.env.pop("REDIS_URL", None)
        self.env.setdefault("JWT_SECRET", "integration-test-secret-0123456789")
        if not dev:
            self.env.pop("JWT_SECRET", None)
        self.env.update(env or {})
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="conduitd-", suffix=".log", delete=False)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self):
        return [binary(), "--listen", "127.0.0.1:%d" % self.port,
                "--admin-listen", "127.0.0.1:%d" % self.admin_port,
                "--workers", str(self.workers)] + self.args

    def start(self, timeout=15.0, wait_api=True):
        """Start and wait until admin and API answer /healthz."""
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("conduitd exited with %s during start:\n%s"
                                     % (self.proc.returncode, self.output()))
            try:
                ok = self.get("/healthz", admin=True, timeout=1).status == 200
                if ok and wait_api:
                    ok = self.get("/healthz", timeout=1).status == 200
                if ok:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError("conduitd did not become healthy in %.0fs:\n%s"
                             % (timeout, self.output()))

    def wait_ready(self, timeout=10.0):
        """Wait until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz", admin=True, timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("not ready after %.0fs:\n%s" % (timeout, self.output()))

    def request(self, method, path, body=None, headers=None, admin=False, timeout=10):
        """One request on a fresh connection."""
        port = self.admin_port if admin else self.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return Response(resp.status, hdrs, data)
        finally:
            conn.close()

    def get(self, path, admin=False, timeout=10, headers=None):
        return self.request("GET", path, admin=admin, timeout=timeout, headers=headers)

    def status(self):
        """The admin /status document."""
        return self.get("/status", admin=True).json()

    def worker_pids(self):
        """Pids of live workers, by slot order."""
        return [w["pid"] for w in self.status()["workers"] if w.get("pid")]

    def metrics_text(self):
        return self.get("/metrics", admin=True).body.decode()

    def metrics(self):
        """Parse /metrics into {'name{labels}': float}."""
        out = {}
        for line in self.metrics_text().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for exit; returns the exit status (raises on timeout)."""
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=None, timeout=30):
        """Signal (default SIGTERM) and wait; returns the exit status."""
        # (A default of signal.SIGTERM would name the method above, not the module.)
        if sig is None:
            sig = signal.SIGTERM
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("conduitd did not exit within %ss of signal %s" % (timeout, sig))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        """Everything conduitd wrote to stdout and stderr so far."""
        self.log.flush()
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def check_clean(self):
        """Fail if a sanitizer reported anything."""
        out = self.output()
        for marker in SANITIZER_MARKERS:
            if marker in out:
                raise AssertionError("sanitizer report in conduitd output:\n" + out[-8000:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop(timeout=30)
        finally:
            self.kill()
        if exc[0] is None:
            self.check_clean()
        os.unlink(self.log.name)
        return False


def run_tests(tests):
    """Run test functions in order; print 'N passed, M failed'; exit 0/1."""
    passed = failed = 0
    for fn in tests:
        started = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %s (%.1fs)" % (fn.__name__, time.monotonic() - started), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
