#!/usr/bin/env python3
"""ratelimit.py: login and registration are rate-limited per client address
(CONDUIT_RATE_LIMIT_AUTH per CONDUIT_RATE_LIMIT_WINDOW): the request over the
limit gets 429 with Retry-After and a JSON error, other endpoints are not
limited, a spoofed X-Forwarded-For does not reset the count, and the limit
lifts after Retry-After. Runs its own Redis (redis-server) so no
other test's logins count against it; the database is DATABASE_URL.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, uid  # noqa: E402

apilib.require_services()
LIMIT = 3
WINDOW = 10
R = apilib.PrivateRedis()
SRV = apilib.server(redis_url=R.url, env={"CONDUIT_RATE_LIMIT_AUTH": str(LIMIT),
                                          "CONDUIT_RATE_LIMIT_WINDOW": str(WINDOW)})
A = apilib.Api(SRV)
USER = {}


def reset_counters():
    """Forget every count so each test starts from zero, early enough in a
    window for the test's sequence to end in it."""
    apilib.rate_window_start(WINDOW, 6)
    R.command("FLUSHALL")


def login(password=None, headers=None):
    return A.post("/api/users/login", {"user": {
        "email": USER["email"], "password": password or USER["password"]}}, headers=headers)


def check_429(r, what):
    A.expect_error(r, 429, None, None, what)
    ra = r.headers.get("retry-after")
    A.check(ra is not None and ra.isdigit() and 1 <= int(ra) <= WINDOW,
            "%s: Retry-After %r is not a number of seconds in 1..%d" % (what, ra, WINDOW))
    return int(ra)


def test_login_limit():
    USER.update(A.register("rl"))
    reset_counters()
    before = metric(A.metrics(), "conduitd_rate_limited_total") or 0.0
    A.expect(login(), 200, "login 1")
    A.expect(login(), 200, "login 2")
    # A failed attempt counts as an attempt.
    A.expect_error(login(password="wrongpassword"), 401, "credentials", "invalid", "login 3")
    ra = check_429(login(), "login 4 (over the limit of %d)" % LIMIT)
    # Still limited, and a client-chosen X-Forwarded-For does not change the address.
    check_429(login(), "login 5")
    check_429(login(headers={"X-Forwarded-For": "203.0.113.%d" % (os.getpid() % 250)}),
              "login with a spoofed X-Forwarded-For")
    # Other endpoints are not limited.
    A.expect(A.get("/api/tags"), 200, "tags while limited")
    A.expect(A.get("/api/user", token=USER["token"]), 200, "GET /user while limited")
    after = metric(A.metrics(), "conduitd_rate_limited_total") or 0.0
    A.check(after - before >= 3, "conduitd_rate_limited_total grew by %s, expected >= 3"
            % (after - before))
    # Every key the server keeps in Redis expires.
    for key in R.command("KEYS", "*"):
        ttl = R.command("TTL", key)
        A.check(ttl > 0, "redis key %r has no expiry (TTL %s)" % (key, ttl))
    # The limit lifts once Retry-After has passed.
    time.sleep(ra + 0.5)
    A.expect(login(), 200, "login after Retry-After")


def test_registration_limit():
    reset_counters()
    names = []
    for i in range(LIMIT + 1):
        n = "rlr%d_%s" % (i, uid())
        names.append(n)
        r = A.post("/api/users", {"user": {"username": n, "email": n + "@test.com",
                                           "password": "password123"}})
        if i < LIMIT:
            A.expect(r, 201, "registration %d" % (i + 1))
        else:
            check_429(r, "registration %d (over the limit)" % (i + 1))
    A.expect_error(A.get("/api/profiles/" + names[-1]), 404, "profile", "not found",
                   "the refused registration created no user")


if __name__ == "__main__":
    with R:
        apilib.run([test_login_limit, test_registration_limit], SRV, budget=120)
