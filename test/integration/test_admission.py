#!/usr/bin/env python3
"""test_admission.py: the worker's admission control (issue 11, points 1 and
3; issue 10 point 2's caps per worker).

- A burst of 16 connections over 2 workers ends with no worker holding more
  than ceil(16 / 2) + 1 of them, in all but at most one of 8 bursts (a
  descheduled peer can leave one burst to a single worker; without the fair
  share from the scoreboard most bursts go over).
- A burst already waiting in the accept queue is shared by counting the
  queue in the fair share: each worker pauses accepting about once (at
  most n/4 pauses for n = 64), and neither holds more than ceil(n / 2) + 1.
- --max-connections: one worker at a ceiling of 4 answers requests on the
  connections above it 503 with Retry-After and Connection: close (closed
  gracefully: the client reads the answer), counted as
  conduitd_requests_shed_total{reason="connections"}; the 4 below it are
  served and kept alive.
- --max-in-flight: with PostgreSQL behind it and a budget of 1, requests
  that arrive together are partly answered 503 + Retry-After with the
  overloaded body before any database work, counted as reason "in_flight";
  the others are served.
- --db-queue-timeout-ms: a query that waited longer for a database
  connection is answered 503 + Retry-After unsent (reason "db_queue"), and
  every query's wait lands in conduitd_db_queue_wait_seconds.
- --shed-delay-ms holds a refusal's answer for the delay.
- Held refusals that fall due together (the worker stopped past their due
  time) are answered at most 16 a millisecond: 256 of them leave the rest
  for the next millisecond 15 times (conduitd_refusal_pacing_waits_total),
  none when answered all at once.
- Repeat refusals (the default --shed-repeat-ms 1000): with the budget held
  by a request blocked on a table lock, the first refusal on a connection
  comes at once, a second sent at once on the same connection is not
  answered before a new connection's first refusal, and comes about the
  Retry-After interval after the first; a retry after waiting the interval
  is refused at once again.
"""

import math
import os
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def open_burst(port, n):
    """n connections opened as fast as possible, each sending one request."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    for s in socks:
        s.sendall(REQUEST)
    return socks


def read_head(sock, timeout=5.0):
    status, headers, _ = support.read_response(sock, timeout=timeout)
    return status, headers


def sample(srv, series):
    """The value of one series in the server's /metrics."""
    values, _ = support.parse_metrics(srv.metrics_text())
    return values[series]


def shed(srv, reason):
    return sample(srv, 'conduitd_requests_shed_total{reason="%s"}' % reason)


def answered_and_counted(srv, socks):
    """Each of socks answered 200; then the open connections of each live
    worker (from /status) once they add up to len(socks)."""
    for s in socks:
        status, _ = read_head(s)
        assert status == 200, status
    n = len(socks)
    return support.wait_for(
        lambda: (lambda c: c if sum(c) == n else None)(
            [w.get("connections", 0) for w in srv.status()["workers"] if w.get("pid")]),
        5, what="all %d connections counted" % n)


def test_burst_spreads_over_workers():
    n, workers, bursts = 16, 2, 8
    limit = math.ceil(n / workers) + 1
    with harness.Server(workers=workers, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        shares = []
        for _ in range(bursts):
            socks = open_burst(srv.port, n)
            shares.append(max(answered_and_counted(srv, socks)))
            for s in socks:
                s.close()
            support.wait_connections_closed(srv)
        print("busiest worker's share per burst of %d: %s (limit %d)" % (n, shares, limit))
        # One burst of the eight may go over: a worker that nobody else
        # relieves within ADMISSION_HOLD_MAX_MS (25 ms) takes what waits, and
        # a descheduled peer does that now and then (seen once in a
        # distcheck: 8, 14, 8, 8, 8, 8, 8, 8). Without the fair share most
        # bursts go over (16, 16, 15, 9, 16, 16, 16, 16 and 14, 8, 11, 9, 10,
        # 10, 9, 12 in two runs), so this still fails without it.
        assert sum(1 for s in shares if s > limit) <= 1, shares


def test_queued_burst_taken_in_a_few_pauses():
    """A burst already waiting in the accept queue (both workers stopped
    while it connects, as busy workers leave it) is shared by counting the
    queue: each worker takes its share and pauses about once. Without the
    queue in the share, every accept past the first put a worker over the
    share of what it could see: one pause per connection, one connection
    per hand-over (about 400 a second with busy workers)."""
    n, workers = 64, 2
    limit = math.ceil(n / workers) + 1
    with harness.Server(workers=workers, args=["--access-log", "off",
                                               "--worker-timeout", "30"]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        pids = [w["pid"] for w in srv.status()["workers"] if w.get("pid")]
        assert len(pids) == workers, pids
        before = sample(srv, "conduitd_accept_pauses_total")
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            socks = open_burst(srv.port, n)
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        counts = answered_and_counted(srv, socks)
        pauses = sample(srv, "conduitd_accept_pauses_total") - before
        print("queued burst of %d: connections per worker %s, accept pauses %d"
              % (n, counts, pauses))
        assert max(counts) <= limit, (counts, limit)
        assert pauses <= n // 4, pauses
        for s in socks:
            s.close()


def test_connection_ceiling_closes_gracefully():
    with harness.Server(workers=1, args=["--access-log", "off", "--max-connections", "4"]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        socks = open_burst(srv.port, 8)
        answers, refused_socks = [], []
        for s in socks:
            status, headers = read_head(s)
            answers.append((status, headers.get("retry-after"), headers.get("connection")))
            if status != 200:
                refused_socks.append(s)
        print(answers)
        served = [a for a in answers if a[0] == 200]
        refused = [a for a in answers if a[0] != 200]
        assert len(served) == 4, answers
        assert all(a[2] != "close" for a in served), answers
        assert len(refused) == 4, answers
        assert all(a == (503, "1", "close") for a in refused), answers
        # Closed by us after the answer (FIN, not a reset).
        closed = sum(1 for s in refused_socks if support.closed_by_peer(s, 2))
        assert closed == 4, closed
        assert shed(srv, "connections") == 4
        assert shed(srv, "in_flight") == 0, shed(srv, "in_flight")
        for s in socks:
            s.close()


def article_requests(port, n, slug):
    req = ("GET /api/articles/%s HTTP/1.1\r\nHost: t\r\n\r\n" % slug).encode()
    socks = [support.connect(port) for _ in range(n)]
    for s in socks:
        s.sendall(req)
    out = []
    for s in socks:
        out.append(support.read_response(s, timeout=5))
        s.close()
    return out


def migrate():
    """Bring the test database's schema up to date (conduitd migrate)."""
    env = dict(os.environ)
    env["CONDUIT_MIGRATIONS_DIR"] = os.path.join(harness.srcdir(), "migrations")
    p = subprocess.run([harness.binary(), "migrate"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0, p.stdout.decode(errors="replace")


def test_in_flight_budget_refuses_before_work():
    if not os.environ.get("DATABASE_URL"):
        print("skipped: no DATABASE_URL (script/test starts PostgreSQL)")
        return
    migrate()
    with harness.Server(workers=1, with_services=True,
                        args=["--access-log", "off", "--max-in-flight", "1", "--cache-ttl", "0"]
                        ) as srv:
        srv.wait_ready()
        support.wait_for(lambda: srv.get("/api/articles/no-such-article").status == 404, 10,
                         what="the database")
        before, _ = support.parse_metrics(srv.metrics_text())
        queries_before = before["conduitd_db_query_duration_seconds_count"]
        answers = article_requests(srv.port, 32, "no-such-article")
        statuses = [a[0] for a in answers]
        refused = [a for a in answers if a[0] == 503]
        print("statuses:", statuses)
        assert statuses.count(404) >= 1, statuses
        assert refused, statuses
        assert set(statuses) <= {404, 503}, statuses
        for status, headers, body in refused:
            assert headers.get("retry-after") == "1", headers
            assert b"overloaded" in body, body
        assert shed(srv, "in_flight") == len(refused)
        after, _ = support.parse_metrics(srv.metrics_text())
        # Refusals sent no query.
        assert (after["conduitd_db_query_duration_seconds_count"] - queries_before
                == statuses.count(404)), (after, statuses)


def test_db_queue_timeout_sheds_stale_waits():
    if not os.environ.get("DATABASE_URL"):
        print("skipped: no DATABASE_URL (script/test starts PostgreSQL)")
        return
    migrate()
    # One connection, one query at a time: 64 requests at once queue up; a
    # wait over 1 ms is shed before the query is sent. The in-flight budget
    # (default 32) is raised so that all 64 reach the queue.
    with harness.Server(workers=1, with_services=True,
                        args=["--access-log", "off", "--cache-ttl", "0", "--db-pool", "1",
                              "--db-queue-timeout-ms", "1", "--max-in-flight", "128"]) as srv:
        srv.wait_ready()
        support.wait_for(lambda: srv.get("/api/articles/no-such-article").status == 404, 10,
                         what="the database")
        before, _ = support.parse_metrics(srv.metrics_text())
        shed_before = shed(srv, "db_queue")  # the probes above may have been shed
        answers = article_requests(srv.port, 64, "no-such-article")
        statuses = [a[0] for a in answers]
        print("404: %d, 503: %d" % (statuses.count(404), statuses.count(503)))
        refused = [a for a in answers if a[0] == 503]
        assert refused and statuses.count(404) >= 1, statuses
        for status, headers, body in refused:
            assert headers.get("retry-after") == "1" and b"overloaded" in body, (headers, body)
        after, _ = support.parse_metrics(srv.metrics_text())
        assert shed(srv, "db_queue") - shed_before == len(refused), (shed(srv, "db_queue"),
                                                                     shed_before, len(refused))
        assert shed(srv, "in_flight") == 0, shed(srv, "in_flight")
        sent = (after["conduitd_db_query_duration_seconds_count"]
                - before["conduitd_db_query_duration_seconds_count"])
        assert sent == statuses.count(404), (sent, statuses)
        waits = (after["conduitd_db_queue_wait_seconds_count"]
                 - before["conduitd_db_queue_wait_seconds_count"])
        assert waits == 64, waits


def test_held_refusals_do_not_use_the_budget():
    if not os.environ.get("DATABASE_URL"):
        print("skipped: no DATABASE_URL (script/test starts PostgreSQL)")
        return
    migrate()
    with harness.Server(workers=1, with_services=True,
                        args=["--access-log", "off", "--cache-ttl", "0", "--max-in-flight", "1",
                              "--shed-delay-ms", "1500"]) as srv:
        srv.wait_ready()
        support.wait_for(lambda: srv.get("/api/articles/no-such-article").status == 404, 10,
                         what="the database")
        req = b"GET /api/articles/no-such-article HTTP/1.1\r\nHost: t\r\n\r\n"
        burst = [support.connect(srv.port) for _ in range(16)]
        for s in burst:
            s.sendall(req)
        time.sleep(0.3)  # the refusals are held now
        held = shed(srv, "in_flight")
        assert held > 0, held
        # A request while they are held is worked on: they are no work.
        t0 = time.monotonic()
        status, _, _ = support.raw_request(srv.port, req)
        assert status == 404 and time.monotonic() - t0 < 1.0, status
        statuses = [support.read_response(s, timeout=5)[0] for s in burst]
        assert statuses.count(503) == held, (statuses, held)
        for s in burst:
            s.close()


def test_shed_delay_holds_the_refusal():
    with harness.Server(workers=1, args=["--access-log", "off", "--max-connections", "1",
                                         "--shed-delay-ms", "300"]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        keep = support.connect(srv.port)
        keep.sendall(REQUEST)
        assert read_head(keep)[0] == 200
        t0 = time.monotonic()
        extra = support.connect(srv.port)
        extra.sendall(REQUEST)
        status, headers = read_head(extra)
        took = time.monotonic() - t0
        print("refused after %.3fs" % took)
        assert status == 503 and headers.get("retry-after") == "1", (status, headers)
        assert took >= 0.3, took
        keep.close()
        extra.close()


def test_refusals_due_together_are_paced():
    # 256 refusals held for --shed-delay-ms; the worker stopped (SIGSTOP)
    # past their due time, so on SIGCONT all of them are due at once. They
    # are answered at most 16 a millisecond: the worker leaves the rest for
    # the next millisecond 15 times (256 / 16 - 1), counted in
    # conduitd_refusal_pacing_waits_total. Answered all at once, it stays 0.
    n, delay_s = 256, 1.0
    with harness.Server(workers=1, args=["--access-log", "off", "--max-connections", "1",
                                         "--shed-delay-ms", str(int(delay_s * 1000))]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        keep = support.connect(srv.port)
        keep.sendall(REQUEST)
        assert read_head(keep)[0] == 200
        before_shed = shed(srv, "connections")
        before = sample(srv, "conduitd_refusal_pacing_waits_total")
        burst = open_burst(srv.port, n)
        t0 = time.monotonic()
        support.wait_for(lambda: shed(srv, "connections") - before_shed == n, 10,
                         what="all %d refusals held" % n)
        held_after = time.monotonic() - t0
        pid = [w["pid"] for w in srv.status()["workers"] if w.get("pid")][0]
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(delay_s + 0.3)
        finally:
            os.kill(pid, signal.SIGCONT)
        statuses = [read_head(s, timeout=10)[0] for s in burst]
        assert statuses == [503] * n, sorted(set(statuses))
        waits = sample(srv, "conduitd_refusal_pacing_waits_total") - before
        print("held within %.3fs; the worker left due refusals for the next millisecond %d times"
              % (held_after, waits))
        # Refusals that fell due before the SIGSTOP (a slow start) come in
        # smaller groups; at least half of them were due together.
        assert 8 <= waits <= n // 16 - 1, waits
        keep.close()
        for s in burst:
            s.close()


class TableLock:
    """An ACCESS EXCLUSIVE lock on a table of the test database, held by a
    psql session until release(): queries on the table wait for it."""

    def __init__(self, table):
        self.proc = subprocess.Popen(["psql", os.environ["DATABASE_URL"], "-X", "-q", "-v",
                                      "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.proc.stdin.write(("BEGIN;\nLOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n"
                               "SELECT 'locked';\n" % table).encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        while line and b"locked" not in line:
            line = self.proc.stdout.readline()
        assert b"locked" in line, "psql did not take the lock"

    def release(self):
        if self.proc.poll() is None:
            self.proc.communicate(b"COMMIT;\n", timeout=10)


def read_refusal(sock):
    """Read a 503 + Retry-After: 1 from sock; its body and when it came."""
    status, headers, body = support.read_response(sock, timeout=10)
    assert status == 503 and headers.get("retry-after") == "1", (status, headers)
    return body, time.monotonic()


def test_repeat_refusal_waits_for_retry_after():
    if not os.environ.get("DATABASE_URL"):
        print("skipped: no DATABASE_URL (script/test starts PostgreSQL)")
        return
    migrate()
    req = b"GET /api/articles/no-such-article HTTP/1.1\r\nHost: t\r\n\r\n"
    # Default --shed-repeat-ms and --shed-delay-ms; a budget of one request.
    with harness.Server(workers=1, with_services=True,
                        args=["--access-log", "off", "--cache-ttl", "0", "--max-in-flight", "1"]
                        ) as srv:
        srv.wait_ready()
        support.wait_for(lambda: srv.get("/api/articles/no-such-article").status == 404, 10,
                         what="the database")
        lock = TableLock("articles")
        try:
            # The budget's one request waits for the lock.
            busy = support.connect(srv.port)
            busy.sendall(req)
            support.wait_for(lambda: support.parse_metrics(srv.metrics_text())[0]
                             ["http_requests_in_flight"] == 1, 5,
                             what="the request waiting for the lock")
            # First refusal on a connection: at once.
            repeat = support.connect(srv.port, timeout=10)
            t0 = time.monotonic()
            repeat.sendall(req)
            body, first = read_refusal(repeat)
            print("first refusal after %.3fs" % (first - t0))
            assert b"overloaded" in body, body
            assert first - t0 < 0.8, first - t0
            # Its client retries at once, ignoring Retry-After: held.
            repeat.sendall(req)
            # Meanwhile a new connection's first refusal is still immediate,
            # and the repeat has not been answered when it comes.
            fresh = support.connect(srv.port, timeout=10)
            t1 = time.monotonic()
            fresh.sendall(req)
            _, t_fresh = read_refusal(fresh)
            print("new connection's refusal after %.3fs" % (t_fresh - t1))
            assert t_fresh - t1 < 0.8, t_fresh - t1
            ready, _, _ = select.select([repeat], [], [], 0)
            assert not ready, "the repeat refusal was answered before the hold"
            _, second = read_refusal(repeat)
            print("repeat refusal %.3fs after the first" % (second - first))
            assert second - first >= 0.8, second - first
            # A client that waits the Retry-After is refused at once again.
            time.sleep(1.1)
            t2 = time.monotonic()
            repeat.sendall(req)
            _, third = read_refusal(repeat)
            print("refusal after waiting Retry-After: %.3fs" % (third - t2))
            assert third - t2 < 0.8, third - t2
            assert shed(srv, "in_flight") == 4, shed(srv, "in_flight")
        finally:
            lock.release()
        status, _, _ = support.read_response(busy, timeout=10)
        assert status == 404, status
        for s in (busy, repeat, fresh):
            s.close()


if __name__ == "__main__":
    harness.run_tests([test_burst_spreads_over_workers, test_queued_burst_taken_in_a_few_pauses,
                       test_connection_ceiling_closes_gracefully,
                       test_in_flight_budget_refuses_before_work,
                       test_db_queue_timeout_sheds_stale_waits,
                       test_held_refusals_do_not_use_the_budget,
                       test_shed_delay_holds_the_refusal,
                       test_refusals_due_together_are_paced,
                       test_repeat_refusal_waits_for_retry_after])
