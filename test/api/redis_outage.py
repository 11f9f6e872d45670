#!/usr/bin/env python3
"""redis_outage.py: Redis goes away and comes back. With a private Redis
(redis-server on a port of its own) and the shared PostgreSQL: while Redis
is down the API keeps serving fresh data from PostgreSQL, rate limits fail
open, /metrics says conduitd_dependency_up{dependency="redis"} 0 and counts
the errors; when Redis is back the workers reconnect by themselves (limits and
cache work again). A frozen Redis (SIGSTOP) must not hang requests, and the
writes made while it was unreachable are not hidden by its old cache entries
once it answers again. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, wait_for  # noqa: E402

apilib.require_services()
LIMIT = 2
R = apilib.PrivateRedis()
SRV = apilib.server(redis_url=R.url, env={"CONDUIT_RATE_LIMIT_AUTH": str(LIMIT),
                                          "CONDUIT_RATE_LIMIT_WINDOW": "60",
                                          "CONDUIT_CACHE_TTL": "60"})
A = apilib.Api(SRV)
STATE = {}


def redis_up():
    return metric(A.metrics(), "conduitd_dependency_up", dependency="redis")


def hits():
    return metric(A.metrics(), "conduitd_cache_requests_total", result="hit") or 0.0


def login():
    u = STATE["user"]
    return A.post("/api/users/login", {"user": {"email": u["email"], "password": u["password"]}})


def article():
    return A.expect(A.get("/api/articles/" + STATE["slug"]), 200, "get article")["article"]


def check_limit_enforced(what):
    apilib.rate_window_start(60, 20)
    R.command("FLUSHALL")
    for i in range(LIMIT):
        A.expect(login(), 200, "%s: login %d" % (what, i + 1))
    r = login()
    A.check(r.status == 429, "%s: login %d should be rate-limited (429), got %d"
            % (what, LIMIT + 1, r.status))


def check_cache_hits(what):
    before = hits()
    for _ in range(6):
        article()
    A.check(hits() > before, what + ": no cache hit on repeated reads")


def test_before_outage():
    u = A.register("rdo")
    STATE["user"] = u
    STATE["slug"] = A.create_article(u, body="v0")["slug"]
    wait_for(lambda: redis_up() == 1, 10, "conduitd_dependency_up{redis} = 1")
    check_limit_enforced("Redis up")
    check_cache_hits("Redis up")
    STATE["pids"] = sorted(SRV.worker_pids())


def test_redis_down_serves_from_postgres():
    errors_before = metric(A.metrics(), "conduitd_redis_errors_total") or 0.0
    log_before = len(SRV.output())
    article()  # cached now
    R.stop()
    u = STATE["user"]
    for i in range(3):
        started = time.monotonic()
        a = article()
        A.check(time.monotonic() - started < 5, "a read took %.1fs with Redis down"
                % (time.monotonic() - started))
        A.expect(A.put("/api/articles/" + STATE["slug"], {"article": {"body": "down%d" % i}},
                       token=u["token"]), 200, "update with Redis down")
        a = article()
        A.check(a["body"] == "down%d" % i, "read after update with Redis down: %r" % a["body"])
    A.expect(A.get("/api/tags"), 200, "tags with Redis down")
    A.expect(A.get("/api/profiles/" + u["username"]), 200, "profile with Redis down")
    A.expect(A.get("/api/articles?limit=5"), 200, "list with Redis down")
    # Limits fail open: more logins than the limit all succeed.
    for i in range(LIMIT + 3):
        A.expect(login(), 200, "login %d with Redis down (limits fail open)" % (i + 1))
    A.register("rdo_down")
    wait_for(lambda: redis_up() == 0, 15, "conduitd_dependency_up{redis} = 0 while Redis is down")
    errors_after = metric(A.metrics(), "conduitd_redis_errors_total")
    A.check(errors_after is not None and errors_after > errors_before,
            "conduitd_redis_errors_total did not grow (%s -> %s)" % (errors_before, errors_after))
    A.check(SRV.get("/readyz", admin=True).status == 200, "/readyz must stay 200")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")
    # The log says so: a warn or error line from a worker.
    lines = [json.loads(x) for x in SRV.output()[log_before:].splitlines() if x.startswith("{")]
    A.check(any(x.get("level") in ("warn", "warning", "error") and x.get("proc") == "worker"
                for x in lines), "no worker warn/error log line about Redis going away")


def test_redis_back_reconnects():
    R.start()
    wait_for(lambda: redis_up() == 1, 30, "conduitd_dependency_up{redis} = 1 after restart")
    # Every worker uses Redis again: the limit holds and reads hit the cache.
    check_limit_enforced("Redis back")
    check_cache_hits("Redis back")
    A.check(article()["body"] == "down2", "fresh article after Redis came back")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")


def test_frozen_redis_does_not_hang_or_go_stale():
    u = STATE["user"]
    R.command("FLUSHALL")
    A.expect(A.put("/api/articles/" + STATE["slug"], {"article": {"body": "before freeze"}},
                   token=u["token"]), 200, "update")
    for _ in range(6):
        A.check(article()["body"] == "before freeze", "read before freeze")
    pid = R.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = A.put("/api/articles/" + STATE["slug"], {"article": {"body": "during freeze"}},
                  token=u["token"], timeout=30)
        A.expect(r, 200, "update while Redis is frozen")
        for _ in range(3):
            A.check(article()["body"] == "during freeze", "read while Redis is frozen")
        A.expect(login(), 200, "login while Redis is frozen")
        took = time.monotonic() - started
        print("     requests against a frozen Redis took %.1fs in all" % took, flush=True)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Redis answers again with the entry cached before the freeze: it must not be served.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        A.check(article()["body"] == "during freeze",
                "stale article served after Redis thawed (its cache predates the update)")
        time.sleep(0.2)
    wait_for(lambda: redis_up() == 1, 30, "conduitd_dependency_up{redis} = 1 after the freeze")
    for _ in range(5):
        A.check(article()["body"] == "during freeze", "stale article after Redis reconnected")
    A.check(sorted(SRV.worker_pids()) == STATE["pids"], "workers were replaced")


if __name__ == "__main__":
    with R:
        apilib.run([test_before_outage, test_redis_down_serves_from_postgres,
                    test_redis_back_reconnects, test_frozen_redis_does_not_hang_or_go_stale],
                   SRV, budget=240)
