"""apilib.py: shared helpers for the Conduit API integration tests (test/api/).

What it relies on: test/harness.py (the lead's harness: starts the real conduitd
on free loopback ports), the environment (DATABASE_URL, REDIS_URL from
`script/services start`; CONDUITD, CONDUIT_SRCDIR from `make check`), and for
the outage tests the Debian packages' redis-server and PostgreSQL binaries,
run privately in a temporary directory on a free port (PostgreSQL as the
`postgres` user through runuser when we are root, since initdb refuses root).

Every test file: builds an Api around one conduitd of its own, runs its test
functions through run(), which stops the server, fails on sanitizer reports
and exits with automake's status (0 pass, 1 fail, 77 skip). A watchdog ends
the file after its time budget, killing what it started.

Python 3 standard library only.
"""

import base64
import glob
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402  (test/harness.py, owned by the lead)

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PASSWORD = "password123"

# Everything started by this process, killed by the watchdog on timeout.
_started = []


def uid():
    """A short id unique across runs and across concurrent test files."""
    return "%x%04x%03x" % (int(time.time() * 1000) % 0xFFFFFFFFF, os.getpid() % 0xFFFF,
                           random.randrange(0x1000))


def srcdir():
    return harness.srcdir()


def watchdog(seconds):
    """End the whole file after `seconds`: kill what it started, exit 1."""

    def expire(signum, frame):
        print("FAIL: time budget of %ds exceeded; stopping" % seconds, flush=True)
        for thing in reversed(_started):
            try:
                thing.kill()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        os._exit(1)

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)


def require_services():
    """Skip (77) unless DATABASE_URL and REDIS_URL are set."""
    harness.require_env("DATABASE_URL", "REDIS_URL")
    harness.binary()


def migrate(database_url=None, timeout=60):
    """Run `conduitd migrate` against database_url (default DATABASE_URL)."""
    env = dict(os.environ)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env["CONDUIT_MIGRATIONS_DIR"] = os.path.join(srcdir(), "migrations")
    p = subprocess.run([harness.binary(), "migrate"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("conduitd migrate exited %d:\n%s"
                             % (p.returncode, p.stdout.decode(errors="replace")[-4000:]))


def server(env=None, workers=2, database_url=None, redis_url=None):
    """A harness.Server for the API, not yet started.

    Defaults: the services from the environment, access log off, and a high
    auth rate limit, because every test file's logins come from 127.0.0.1 and
    share one Redis; the rate-limit test sets its own limit on its own Redis.
    redis_url="" runs without Redis.
    """
    full = {
        "CONDUIT_MIGRATIONS_DIR": os.path.join(srcdir(), "migrations"),
        "CONDUIT_ACCESS_LOG": "off",
        "CONDUIT_RATE_LIMIT_AUTH": "100000",
    }
    if database_url is not None:
        full["DATABASE_URL"] = database_url
    if redis_url is not None:
        full["REDIS_URL"] = redis_url
    full.update(env or {})
    srv = harness.Server(workers=workers, env=full, with_services=True)
    if redis_url == "":
        srv.env.pop("REDIS_URL", None)
    _started.append(srv)
    return srv


def run(tests, srv, budget=120):
    """Migrate srv's database, start srv, run the tests in order, stop srv
    and everything else the file started; exit 0/1 (or 77)."""
    watchdog(budget)
    if srv.env.get("DATABASE_URL"):
        migrate(srv.env["DATABASE_URL"])
    code = 1
    try:
        with srv:
            try:
                harness.run_tests(tests)
            except SystemExit as e:
                code = e.code
    finally:
        # Whatever else the file started (its private Redis or PostgreSQL,
        # other servers): a private Redis left running outlived every run.
        for thing in reversed(_started):
            try:
                thing.kill()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
    sys.exit(code)


class Api:
    """A client of one conduitd's API port that remembers its last exchange."""

    def __init__(self, srv):
        self.srv = srv
        self.last = None

    def call(self, method, path, body=None, token=None, headers=None, scheme="Token",
             timeout=15):
        """One request; body may be a dict/list (sent as JSON) or bytes/str."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "%s %s" % (scheme, token)
        if isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes):
            hdrs.setdefault("Content-Type", "application/json")
        r = self.srv.request(method, path, body=body, headers=hdrs, timeout=timeout)
        self.last = (method, path, hdrs, body, r)
        return r

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def describe(self):
        """The last request and response, as written into a bug report."""
        if self.last is None:
            return "(no request)"
        method, path, hdrs, body, r = self.last
        b = body if body is None or len(body) < 600 else body[:600] + b"..."
        return ("request: %s %s headers=%r body=%r\nresponse: %d headers=%r body=%r"
                % (method, path, hdrs, b, r.status, r.headers, r.body[:800]))

    # ---- assertions -----------------------------------------------------
    def expect(self, r, status, what=""):
        """Assert the status (an int or a tuple of ints); return the JSON body or None."""
        ok = r.status in status if isinstance(status, tuple) else r.status == status
        if not ok:
            raise AssertionError("%s: expected %s, got %d\n%s"
                                 % (what or "status", status, r.status, self.describe()))
        if r.status == 204:
            if r.body:
                raise AssertionError("%s: 204 with a body\n%s" % (what, self.describe()))
            return None
        return self.json(r, what)

    def json(self, r, what=""):
        ctype = r.headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            raise AssertionError("%s: content-type %r is not JSON\n%s"
                                 % (what, ctype, self.describe()))
        try:
            return json.loads(r.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("%s: body is not JSON (%s)\n%s" % (what, e, self.describe()))

    def expect_error(self, r, status, field=None, message=None, what=""):
        """Assert an error response {"errors":{field:[message,...]}} with this status."""
        doc = self.expect(r, status, what)
        errs = doc.get("errors") if isinstance(doc, dict) else None
        if not isinstance(errs, dict) or not errs:
            raise AssertionError("%s: no errors object\n%s" % (what, self.describe()))
        for k, v in errs.items():
            if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
                raise AssertionError("%s: errors.%s is not a list of strings\n%s"
                                     % (what, k, self.describe()))
        if field is not None:
            if field not in errs:
                raise AssertionError("%s: errors has no %r\n%s" % (what, field, self.describe()))
            if message is not None and errs[field][0] != message:
                raise AssertionError("%s: errors.%s[0] is %r, expected %r\n%s"
                                     % (what, field, errs[field][0], message, self.describe()))
        return errs

    def check(self, cond, what):
        """Assert cond, with the last exchange in the message."""
        if not cond:
            raise AssertionError("%s\n%s" % (what, self.describe()))

    # ---- common steps -----------------------------------------------------
    def register(self, prefix="u", password=PASSWORD):
        """Register a fresh user; returns dict(username, email, password, token)."""
        name = "%s_%s" % (prefix, uid())
        u = {"username": name, "email": name + "@test.com", "password": password}
        doc = self.expect(self.post("/api/users", {"user": u}), 201, "register " + name)
        u["token"] = doc["user"]["token"]
        return u

    def login(self, user):
        doc = self.expect(self.post("/api/users/login", {"user": {
            "email": user["email"], "password": user["password"]}}), 200, "login")
        return doc["user"]["token"]

    def create_article(self, user, title=None, tags=None, description="desc", body="body"):
        art = {"title": title or "Title " + uid(), "description": description, "body": body}
        if tags is not None:
            art["tagList"] = tags
        doc = self.expect(self.post("/api/articles", {"article": art}, token=user["token"]),
                          201, "create article")
        return doc["article"]

    def metrics(self):
        return self.srv.metrics()


def metric(m, name, **labels):
    """Sum of the series `name` whose labels include `labels` (parsed harness metrics)."""
    total = 0.0
    found = False
    for key, value in m.items():
        n, _, rest = key.partition("{")
        if n != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
            found = True
    return total if found else None


def psql(query=None, url=None, stdin=None, timeout=300):
    """Run query (or the SQL on stdin) with psql against url (default
    DATABASE_URL); its unaligned output, stripped. Fails the test on error."""
    cmd = ["psql", url or os.environ["DATABASE_URL"], "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    if query is not None:
        cmd += ["-c", query]
    p = subprocess.run(cmd, input=stdin.encode() if stdin else None,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("psql failed: %s" % p.stderr.decode(errors="replace")[-2000:])
    return p.stdout.decode().strip()


# Each kept count (folded + deltas, migrations 0003 and 0009) next to
# count(*) of its filter, in one statement (one snapshot): the columns
# kind, ref, truth and kept of every count that is wrong, as
# "SELECT ... FROM kept_count_mismatch" appended to it (counts.py,
# online_migrate.py). Kind 4 (0011) counts changes to article_tags, not a
# filter: it has no count(*) to match.
KEPT_COUNT_MISMATCH = """
WITH truth AS (
    SELECT 0 AS kind, 0::bigint AS ref, count(*) AS n FROM articles
    UNION ALL SELECT 1, tag_id, count(*) FROM article_tags GROUP BY tag_id
    UNION ALL SELECT 2, author_id, count(*) FROM articles GROUP BY author_id
    UNION ALL SELECT 3, user_id, count(*) FROM favorites GROUP BY user_id),
kept AS (
    SELECT kind, ref, sum(n) AS n FROM (
        SELECT kind, ref, n FROM article_counts
        UNION ALL SELECT kind, ref, n FROM article_count_deltas) k
    WHERE kind <> 4
    GROUP BY kind, ref),
kept_count_mismatch AS (
    SELECT COALESCE(t.kind, k.kind) AS kind, COALESCE(t.ref, k.ref) AS ref,
           COALESCE(t.n, 0) AS truth, COALESCE(k.n, 0) AS kept
    FROM truth t FULL JOIN kept k ON k.kind = t.kind AND k.ref = t.ref
    WHERE COALESCE(t.n, 0) <> COALESCE(k.n, 0))
"""


def rate_window_start(window_s, need_s):
    """Rate limits count in fixed windows (the epoch second // window_s): a
    sequence that runs past a window's end starts counting again, and its
    429 never comes. Unless need_s seconds of this window remain, sleep into
    the next one (server and tests share the clock)."""
    left = window_s - time.time() % window_s
    if left < need_s:
        time.sleep(left + 0.05)


def wait_for(cond, timeout, what, interval=0.1):
    """Poll cond() until it is truthy; returns its value or fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except (OSError, AssertionError, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("%s: not true after %.0fs (last: %r)" % (what, timeout, last))


# ---- JWT, for the token abuse tests --------------------------------------
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    """(header dict, payload dict, signature bytes) of a compact JWT."""
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def jwt_sign(header, payload, secret, alg="sha256"):
    """A compact JWT of these dicts, HMAC-signed with secret."""
    signing = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), signing.encode(), getattr(hashlib, alg)).digest()
    return signing + "." + b64url(sig)


# ---- private Redis and PostgreSQL instances, for the outage tests -----------
class _Private:
    """A server of our own in a temporary directory on a free loopback port."""

    kind = ""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="conduit-%s-" % self.kind)
        os.chmod(self.dir, 0o755)
        self.port = harness.free_port()
        _started.append(self)

    def kill(self):
        """Stop and remove the directory (best effort, for cleanup)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False


class PrivateRedis(_Private):
    """redis-server in the foreground, no persistence: a restart starts empty."""

    kind = "redis"

    def __init__(self):
        if shutil.which("redis-server") is None:
            harness.skip("redis-server not installed (script/bootstrap installs it)")
        super().__init__()
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.command("PING") == "PONG", 10, "private redis answers PING")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # in case a test left it stopped
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def command(self, *args):
        return redis_command(self.port, *args)


def _pg_bin():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    return None


class PrivatePostgres(_Private):
    """A PostgreSQL cluster of our own (initdb refuses root: runs as `postgres`),
    with the role and database of DATABASE_URL's usual shape (conduit/conduit)."""

    kind = "postgres"

    def __init__(self):
        self.bin = _pg_bin()
        if self.bin is None:
            harness.skip("PostgreSQL server binaries not found under /usr/lib/postgresql")
        if os.getuid() == 0 and shutil.which("runuser") is None:
            harness.skip("runuser not found: cannot run initdb as postgres")
        super().__init__()
        self.data = os.path.join(self.dir, "pgdata")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.initialised = False

    @property
    def url(self):
        return "postgresql://conduit:conduit@127.0.0.1:%d/conduit" % self.port

    def _run(self, *cmd, timeout=120):
        argv = list(cmd)
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        if p.returncode != 0:
            log = ""
            if os.path.exists(self.logfile):
                with open(self.logfile, errors="replace") as f:
                    log = f.read()[-3000:]
            raise AssertionError("%s exited %d:\n%s\n%s" % (" ".join(cmd), p.returncode,
                                                             p.stdout.decode(errors="replace"), log))

    def start(self):
        if not self.initialised:
            os.mkdir(self.data, 0o700)
            open(self.logfile, "a").close()
            if os.getuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
                shutil.chown(self.logfile, "postgres", "postgres")
            self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                      "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\n"
                        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                        "max_connections = 100\n" % self.port)
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
                  "-t", "60", "start")
        if not self.initialised:
            psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-X", "-q",
                    "-v", "ON_ERROR_STOP=1"]
            subprocess.run(psql + ["-c", "CREATE ROLE conduit LOGIN PASSWORD 'conduit'",
                                   "-c", "CREATE DATABASE conduit OWNER conduit"],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           timeout=60)
            self.initialised = True
        return self

    def stop(self):
        if self.initialised and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                      "stop")


def redis_command(port, *args, timeout=5):
    """Send one command in RESP and return the decoded reply (minimal client)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return _resp_read(f)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise AssertionError("redis error: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise AssertionError("unexpected redis reply %r" % line)
