#!/usr/bin/env python3
"""pg_outage.py: PostgreSQL goes away and comes back. On a private PostgreSQL
(initdb in a temporary directory, on a port of its own, so the other tests'
database is not disturbed) and without Redis (so every read needs the
database): while it is down every API request gets 503 with Retry-After and a
JSON error without internal text, workers stay up, /readyz stays 200, the
metrics and the log say so; a stream of requests across the stop sees only
answers (no reset, no 500); after it restarts the same workers serve again by
themselves. Needs DATABASE_URL and REDIS_URL (else SKIP: the same switch as
the other API tests)."""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, uid, wait_for  # noqa: E402

apilib.require_services()
PG = apilib.PrivatePostgres()
SRV = apilib.server(database_url=PG.url, redis_url="", workers=2,
                    env={"CONDUIT_STATEMENT_TIMEOUT_MS": "4000"})
A = apilib.Api(SRV)
STATE = {}
LEAKS = ("postgres", "libpq", "pq", "sql", "connection refused", "could not connect",
         "server closed", "fatal", "socket", "errno", "terminating", "127.0.0.1")


def pg_up():
    return metric(A.metrics(), "conduitd_dependency_up", dependency="postgres")


def restarts():
    return metric(A.metrics(), "conduitd_worker_restarts_total") or 0.0


def requests_to_try():
    """(method, path, body, token, what) covering reads and writes of every kind."""
    u, slug = STATE["user"], STATE["slug"]
    t = u["token"]
    return [
        ("GET", "/api/articles/" + slug, None, None, "get article"),
        ("GET", "/api/articles", None, None, "list"),
        ("GET", "/api/articles/feed", None, t, "feed"),
        ("GET", "/api/tags", None, None, "tags"),
        ("GET", "/api/profiles/" + u["username"], None, None, "profile"),
        ("GET", "/api/user", None, t, "current user"),
        ("GET", "/api/articles/%s/comments" % slug, None, None, "comments"),
        ("POST", "/api/users/login", {"user": {"email": u["email"], "password": u["password"]}},
         None, "login"),
        ("POST", "/api/users", {"user": {"username": "pgo_" + uid(), "email": "pgo_%s@t.com" % uid(),
                                         "password": "password123"}}, None, "register"),
        ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b"}}, t,
         "create article"),
        ("PUT", "/api/articles/" + slug, {"article": {"body": "down"}}, t, "update article"),
        ("POST", "/api/articles/%s/favorite" % slug, None, t, "favorite"),
        ("PUT", "/api/user", {"user": {"bio": "down"}}, t, "update user"),
    ]


def check_503(r, what):
    A.expect_error(r, 503, None, None, what)
    ra = r.headers.get("retry-after", "")
    A.check(ra.isdigit() and int(ra) >= 1, "%s: Retry-After %r is not a positive integer"
            % (what, ra))
    text = r.body.decode(errors="replace").lower()
    for word in LEAKS:
        A.check(word not in text, "%s: the 503 body leaks internal text (%r)" % (what, word))


def test_serves_before_outage():
    u = A.register("pgo")
    STATE["user"] = u
    STATE["slug"] = A.create_article(u, tags=["pgo_" + uid()])["slug"]
    for method, path, body, token, what in requests_to_try():
        r = A.call(method, path, body=body, token=token)
        A.check(200 <= r.status < 300, "%s before the outage: %d" % (what, r.status))
    wait_for(lambda: pg_up() == 1, 10, "conduitd_dependency_up{postgres} = 1")
    STATE["pids"] = sorted(SRV.worker_pids())
    STATE["restarts"] = restarts()
    STATE["status_up"] = json.dumps(SRV.status().get("dependencies", {}).get("postgres"))


def test_blocked_queries_time_out_without_blocking_workers():
    # A lock holds every query on articles for 9 s. Requests that need the table get
    # 503 once CONDUIT_STATEMENT_TIMEOUT_MS (4 s) cancels them; meanwhile the workers,
    # whose queries are asynchronous, keep answering everything else at once.
    locker = subprocess.Popen(
        ["psql", PG.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
         "BEGIN; LOCK TABLE articles IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(9); COMMIT;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.7)  # the lock is taken
        A.check(locker.poll() is None, "psql holding the lock exited early: %r"
                % (locker.stderr.read() if locker.poll() is not None else b""))
        blocked = []

        def read_article():
            blocked.append(SRV.request("GET", "/api/articles/" + STATE["slug"], timeout=20))

        threads = [threading.Thread(target=read_article) for _ in range(4)]
        for th in threads:
            th.start()
        time.sleep(0.2)
        # While 4 requests wait on the lock, both workers answer requests that need no
        # locked table: 20 new connections, spread over the workers by the kernel.
        for i in range(20):
            try:
                r = SRV.request("GET", "/healthz", timeout=3)
            except OSError as e:
                raise AssertionError("GET /healthz %d hung while queries waited on a lock "
                                     "(a worker blocked on PostgreSQL?): %r" % (i, e))
            A.check(r.status == 200, "/healthz during blocked queries: %d" % r.status)
            r = SRV.request("GET", "/api/user", timeout=3)
            A.check(r.status == 401, "GET /api/user without token during blocked queries: %d"
                    % r.status)
        for th in threads:
            th.join(30)
        A.check(len(blocked) == 4, "blocked requests did not all finish")
        for r in blocked:
            A.last = ("GET", "/api/articles/" + STATE["slug"], {}, None, r)
            check_503(r, "query cancelled by statement_timeout")
    finally:
        locker.wait(30)
    # The lock is gone: the same read works again, on the same workers.
    A.expect(A.get("/api/articles/" + STATE["slug"]), 200, "after the lock")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")


def test_outage_gives_503():
    errors_before = metric(A.metrics(), "conduitd_db_errors_total") or 0.0
    log_before = len(SRV.output())
    PG.stop()
    STATE["stopped"] = True
    for _ in range(2):  # twice: the first finds the break, the second the reconnecting pool
        for method, path, body, token, what in requests_to_try():
            started = time.monotonic()
            r = A.call(method, path, body=body, token=token, timeout=20)
            check_503(r, what + " while PostgreSQL is down")
            A.check(time.monotonic() - started < 12, "%s: the 503 took %.1fs" %
                    (what, time.monotonic() - started))
    A.expect(A.get("/healthz"), 200, "API /healthz during the outage")
    A.check(SRV.get("/readyz", admin=True).status == 200, "/readyz must stay 200 (a database "
            "outage must not take every pod out of service)")
    wait_for(lambda: pg_up() == 0, 15, "conduitd_dependency_up{postgres} = 0 during the outage")
    errors_after = metric(A.metrics(), "conduitd_db_errors_total")
    A.check(errors_after is not None and errors_after > errors_before,
            "conduitd_db_errors_total did not grow (%s -> %s)" % (errors_before, errors_after))
    st = json.dumps(SRV.status().get("dependencies", {}).get("postgres"))
    A.check(st != STATE["status_up"], "/status dependencies.postgres unchanged by the outage: "
            + st)
    logged = [line for line in SRV.output()[log_before:].splitlines() if line.startswith("{")]
    bad = [line for line in logged
           if json.loads(line).get("level") in ("warn", "warning", "error")]
    A.check(bad, "no warn/error log line about the outage")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced during the outage")
    A.check(restarts() == STATE["restarts"], "conduitd_worker_restarts_total grew")


def answer_not_503(method, path, body, token, what, timeout=30):
    """The first answer that is not a 503 (a pool connection may still be backing off)."""
    deadline = time.monotonic() + timeout
    while True:
        r = A.call(method, path, body=body, token=token)
        if r.status != 503 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_recovers_without_restart():
    PG.start()
    STATE["stopped"] = False
    wait_for(lambda: A.get("/api/articles/" + STATE["slug"]).status == 200, 30,
             "GET article answers 200 again after PostgreSQL restarted")
    # Every connection of every worker's pool comes back: many requests, all fine.
    for _ in range(3):
        for method, path, body, token, what in requests_to_try():
            r = answer_not_503(method, path, body, token, what)
            A.check(200 <= r.status < 300, "%s after recovery: %d" % (what, r.status))
    A.login(STATE["user"])
    wait_for(lambda: pg_up() == 1, 15, "conduitd_dependency_up{postgres} = 1 after recovery")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")
    A.check(restarts() == STATE["restarts"], "conduitd_worker_restarts_total grew")


def test_stop_mid_stream():
    # Clients keep sending while PostgreSQL stops and starts: each request gets an answer,
    # either the real one or a 503; never a reset, a timeout or a 500.
    slug = STATE["slug"]
    stop = threading.Event()
    seen = {}
    problems = []

    def client():
        while not stop.is_set():
            try:
                r = A.srv.request("GET", "/api/articles/" + slug, timeout=20)
                seen[r.status] = seen.get(r.status, 0) + 1
                if r.status not in (200, 503):
                    problems.append("status %d: %r" % (r.status, r.body[:200]))
                elif r.status == 503:
                    json.loads(r.body)
            except (OSError, ValueError) as e:
                problems.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.5)
        PG.stop()
        time.sleep(1.5)
        PG.start()
        wait_for(lambda: A.get("/api/articles/" + slug).status == 200, 30, "recovered")
        time.sleep(0.5)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    print("     statuses seen across the stop: %r" % seen, flush=True)
    A.check(not problems, "bad answers across the stop: %r" % problems[:5])
    A.check(seen.get(200, 0) > 0, "no successful request around the stop")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")


if __name__ == "__main__":
    with PG:
        apilib.run([test_serves_before_outage,
                    test_blocked_queries_time_out_without_blocking_workers, test_outage_gives_503,
                    test_recovers_without_restart, test_stop_mid_stream], SRV, budget=240)
