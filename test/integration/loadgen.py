"""loadgen.py: a steady stream of requests against conduitd, counting every
outcome, for the resilience tests (reload, upgrade, scaling, recycling, hung
workers, zero-drop).

Two kinds of client threads, both plain sockets so that every failure is
seen as it happens (no library retries behind our back):
- "new": a new TCP connection per request (connect, send, read, close);
- "keepalive": one connection reused for request after request, replaced
  when the server answers with "Connection: close".

Every request's outcome is counted under the current phase (set by the
test with phase()): ok (2xx), status (non-2xx), refused, reset, eof (the
connection closed before a complete response), timeout, other.

A keep-alive client behaves as HTTP clients do (urllib3, Go's net/http,
browsers; RFC 9112 section 9.3.1): before reusing an idle connection it
checks whether the server has closed it (then it reconnects, counted as
"stale"), and when a request on a reused connection fails before any byte
of a response arrives, it retries that request once on a new connection
(counted as "retried"; the retry's own outcome is what counts). These are
reported separately and are not failures; a failure on a fresh connection,
after part of a response, or of a retry, is.

Bounded: every socket operation has a timeout; stop() joins the threads.
"""

import select
import socket
import threading
import time

import httpwire

OUTCOMES = ("ok", "status", "refused", "reset", "eof", "timeout", "other")
FAILURES = ("status", "refused", "reset", "eof", "timeout", "other")
NOTES = ("stale", "retried")
REQUEST = b"GET %s HTTP/1.1\r\nHost: loadgen\r\nUser-Agent: loadgen\r\n\r\n"


class Failure(Exception):
    """A request failed: kind is an outcome name; before_response is True
    when no byte of a response had arrived."""

    def __init__(self, kind, detail, before_response):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind
        self.before_response = before_response


def read_response(sock):
    """Read one response; returns (status, keep_alive). Raises Failure."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failure("eof", "closed before a response head (%d bytes)" % len(data),
                              not data)
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status, headers = httpwire.parse_head(head)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failure("eof", "closed inside a body", False)
            rest += chunk
        return status, headers.get("connection", "keep-alive").lower() != "close"
    except socket.timeout:
        raise Failure("timeout", "no response in time", not data)
    except ConnectionResetError as e:
        raise Failure("reset", str(e), not data)
    except OSError as e:
        raise Failure("other", repr(e), not data)


def closed_by_server(sock):
    """True when an idle keep-alive connection was closed by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Load:
    """Client threads sending GET requests to 127.0.0.1:port until stop()."""

    def __init__(self, port, new_threads=2, keepalive_threads=2, path="/healthz", timeout=10.0,
                 pause=0.0):
        self.port = port
        self.path = path
        self.timeout = timeout
        self.pause = pause
        self.request = REQUEST % path.encode()
        self.lock = threading.Lock()
        self.counts = {}
        self.samples = {}
        self.current = "start"
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run_new, daemon=True)
                        for _ in range(new_threads)]
        self.threads += [threading.Thread(target=self.run_keepalive, daemon=True)
                         for _ in range(keepalive_threads)]

    def phase(self, name):
        """Count the outcomes from now on under name."""
        with self.lock:
            self.current = name

    def count(self, kind, detail=""):
        with self.lock:
            per = self.counts.setdefault(self.current, dict.fromkeys(OUTCOMES + NOTES, 0))
            per[kind] += 1
            if detail and kind not in ("ok",):
                self.samples.setdefault((self.current, kind), detail)

    def connect(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        except ConnectionRefusedError as e:
            raise Failure("refused", str(e), True)
        except socket.timeout:
            raise Failure("timeout", "connect", True)
        except OSError as e:
            raise Failure("other", "connect: %r" % e, True)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def once(self, sock):
        """Send one request on sock and read the answer: (status, keep_alive)."""
        try:
            sock.sendall(self.request)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Failure("reset", "send: %r" % e, True)
        except OSError as e:
            raise Failure("other", "send: %r" % e, True)
        return read_response(sock)

    def record(self, status):
        if 200 <= status < 300:
            self.count("ok")
        else:
            self.count("status", "HTTP %d" % status)

    def run_new(self):
        while not self.stopping.is_set():
            try:
                sock = self.connect()
                try:
                    status, _ = self.once(sock)
                finally:
                    sock.close()
                self.record(status)
            except Failure as f:
                self.count(f.kind, "new connection: " + str(f))
            if self.pause:
                time.sleep(self.pause)

    def run_keepalive(self):
        sock = None
        while not self.stopping.is_set():
            reused = sock is not None
            if reused and closed_by_server(sock):
                self.count("stale")
                sock.close()
                sock, reused = None, False
            try:
                if sock is None:
                    sock = self.connect()
                status, keep = self.once(sock)
            except Failure as f:
                if sock is not None:
                    sock.close()
                sock = None
                if not (reused and f.before_response):
                    self.count(f.kind, "keep-alive (%s, %s): %s" % (
                        "reused" if reused else "fresh",
                        "before response" if f.before_response else "mid-response", f))
                    continue
                # The server closed the idle connection as the request went
                # out: retry once on a new connection (RFC 9112 9.3.1).
                self.count("retried", str(f))
                try:
                    sock = self.connect()
                    status, keep = self.once(sock)
                except Failure as g:
                    if sock is not None:
                        sock.close()
                    sock = None
                    self.count(g.kind, "retry: " + str(g))
                    continue
            self.record(status)
            if not keep:
                sock.close()
                sock = None
            if self.pause:
                time.sleep(self.pause)
        if sock is not None:
            sock.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, "load threads did not stop"
        return self

    def totals(self, phases=None):
        """Outcome counts summed over phases (all when None)."""
        out = dict.fromkeys(OUTCOMES + NOTES, 0)
        with self.lock:
            for name, per in self.counts.items():
                if phases is None or name in phases:
                    for k, v in per.items():
                        out[k] += v
        return out

    def failures(self, phases=None):
        t = self.totals(phases)
        return sum(t[k] for k in FAILURES)

    def ok(self, phases=None):
        return self.totals(phases)["ok"]

    def wait_ok(self, n, timeout=10.0):
        """Wait until n more requests have succeeded (the stream is flowing)."""
        target = self.ok() + n
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ok() >= target:
                return
            time.sleep(0.01)
        raise AssertionError("the load did not make %d more successful requests in %.0fs: %r"
                             % (n, timeout, self.counts))

    def report(self, phases=None):
        """A table of the counts per phase, for the test's output."""
        names = [p for p in self.counts if phases is None or p in phases]
        cols = OUTCOMES + NOTES
        lines = ["%-28s %s" % ("phase", " ".join("%8s" % c for c in cols))]
        with self.lock:
            for name in names:
                per = self.counts[name]
                lines.append("%-28s %s" % (name, " ".join("%8d" % per[c] for c in cols)))
            for (name, kind), detail in sorted(self.samples.items()):
                if phases is None or name in phases:
                    lines.append("  e.g. %s/%s: %s" % (name, kind, detail[:160]))
        return "\n".join(lines)
