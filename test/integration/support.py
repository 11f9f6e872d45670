"""support.py: helpers shared by the foundation integration tests.

Raw-socket requests (for slow, partial and malformed requests that
http.client cannot send), polling with a deadline, process checks through
/proc, and a /metrics parser that knows each family's type so the tests can
tell counters from gauges.
"""

import calendar
import ctypes
import json
import os
import re
import socket
import sys
import time

import httpwire

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402,F401  (re-exported for the tests)


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate() until it returns a true value; return it, or raise."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError as e:  # the server may be between states
            last_error = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last error: %s)"
                         % (timeout, what, last_error))


def wait_all_workers_ready(srv, count, exclude=(), timeout=10):
    """Wait until `count` workers are in state ready, none of them with a pid in exclude.
    (/readyz alone is not enough: after warm-up it is 200 while any worker serves.)"""
    def ready():
        workers = [w for w in srv.status()["workers"]
                   if w["state"] == "ready" and w["pid"] and w["pid"] not in exclude]
        return len(workers) == count
    return wait_for(ready, timeout, what="%d ready workers" % count)


def wait_connections_closed(srv, timeout=5):
    """Wait until worker 0 counts no open connection: the harness's start-up
    probes may still count for a moment, and a test that then waits for
    "one connection" must be counting its own."""
    return wait_for(lambda: srv.status()["workers"][0]["connections"] == 0, timeout,
                    what="the start-up probes closed")


def wait_requests_total(srv, scrape, expected, timeout=5):
    """Wait until http_requests_total sums to expected: a worker counts a request
    just after writing its response, so a client can be a moment ahead of it.
    Returns the last (values, types); raises with the last sum if it never matches."""
    last = {}

    def settled():
        values, types = scrape(srv)
        last["scrape"] = (values, types)
        last["sum"] = requests_total(values)
        return last["sum"] == expected
    try:
        wait_for(settled, timeout, interval=0.05, what="http_requests_total == %d" % expected)
    except AssertionError:
        raise AssertionError("http_requests_total is %s, expected %d" % (last.get("sum"), expected))
    return last["scrape"]


def wait_stable_requests_total(srv, scrape, quiet=0.3, timeout=5):
    """The request count once it has not moved for `quiet` seconds (start-up probes done)."""
    deadline = time.monotonic() + timeout
    values, types = scrape(srv)
    while True:
        time.sleep(quiet)
        again, types = scrape(srv)
        if requests_total(again) == requests_total(values) or time.monotonic() > deadline:
            return again, types
        values = again


def pid_alive(pid):
    """True while any thread of process pid is still running (not a zombie).
    The main thread of a killed multi-threaded process can show as a zombie
    while its other threads still exit and hold its descriptors."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except (FileNotFoundError, ProcessLookupError):
        return False
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if stat[stat.rindex(")") + 2] not in ("Z", "X"):
            return True
    return False


def connect(port, timeout=5.0):
    """A TCP connection to 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(sock, timeout=5.0):
    """Read one HTTP response: (status, headers dict lower-case, body bytes).
    Raises AssertionError if the connection closes before a full response."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers = httpwire.parse_head(head)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed inside a body")
        rest += chunk
    return status, headers, rest[:length]


def raw_request(port, data, timeout=5.0):
    """Send raw bytes on a new connection and read one response."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return read_response(s, timeout)


def closed_by_peer(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout; False if the
    connection is still open then. Data received is discarded."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def parse_metrics(text):
    """Parse Prometheus text: ({series: value}, {family: type})."""
    values, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line)
        if not m:
            raise AssertionError("unparsable metrics line: %r" % line)
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values, types


def family_of(series, types):
    """The family a series belongs to (histogram suffixes stripped)."""
    name = series.split("{", 1)[0]
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return name[: -len(suffix)]
    return name


def monotonic_series(values, types):
    """The series that must never decrease: counters and histogram parts."""
    return {k: v for k, v in values.items()
            if types.get(family_of(k, types)) in ("counter", "histogram")}


def requests_total(values):
    """Sum of http_requests_total over every label set."""
    return sum(v for k, v in values.items() if k.startswith("http_requests_total{"))


def log_events(text, msg, **fields):
    """The JSON log lines with this msg and these field values."""
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("msg") == msg and all(obj.get(k) == v for k, v in fields.items()):
            out.append(obj)
    return out


def log_time(event):
    """A log line's ts as Unix seconds."""
    ts = event["ts"]  # 2026-11-29T14:37:37.011Z
    base = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return base + int(ts[20:23]) / 1000.0


def become_subreaper():
    """Make this process the reaper of orphaned descendants (a conduitd
    started by USR2 outlives the supervisor we started), so that they can
    be waited for and leave no zombie. False where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap(pid):
    """Collect pid's exit status if it became our child; never blocks."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
