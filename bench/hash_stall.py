#!/usr/bin/env python3
"""hash_stall.py: does password hashing stall a worker's other connections?

Starts one conduitd with ONE worker (test/harness.py; DATABASE_URL and
REDIS_URL from the environment; CONDUITD, else _build/default/conduitd),
registers a user, then measures GET /api/tags latency on a keep-alive
connection twice for --seconds each: alone, and while --login-clients clients
log in back to back (each login hashes a password with argon2id). Prints both
p50/p99 and the difference; hashing off the event loop keeps the p99 within a
few milliseconds. A figure, not a test: nothing here fails on a number.

    bench/hash_stall.py [--seconds 5] [--login-clients 1]
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test"))
import harness  # noqa: E402


def percentile(values, p):
    v = sorted(values)
    return v[max(0, int(len(v) * p / 100.0 + 0.5) - 1)] if v else float("nan")


def measure_tags(port, seconds):
    """Sequential GET /api/tags on one keep-alive connection: latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(lat) < 200000:
        t0 = time.perf_counter()
        conn.request("GET", "/api/tags")
        r = conn.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            raise SystemExit("hash_stall: GET /api/tags answered %d" % r.status)
    conn.close()
    return lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--login-clients", type=int, default=1)
    args = ap.parse_args()
    harness.require_env("DATABASE_URL")
    if not os.environ.get("CONDUITD"):
        os.environ["CONDUITD"] = os.path.join(ROOT, "_build", "default", "conduitd")
    srv = harness.Server(workers=1, with_services=True, env={
        "CONDUIT_MIGRATIONS_DIR": os.path.join(ROOT, "migrations"),
        "CONDUIT_ACCESS_LOG": "off", "CONDUIT_RATE_LIMIT_AUTH": "1000000",
        "CONDUIT_LOG_LEVEL": "warn"})
    with srv:
        name = "stall_%x_%d" % (int(time.time() * 1000), os.getpid())
        user = {"username": name, "email": name + "@bench.test", "password": "password123"}
        r = srv.request("POST", "/api/users", body={"user": user})
        if r.status != 201:
            raise SystemExit("hash_stall: register answered %d: %r" % (r.status, r.body[:200]))
        body = json.dumps({"user": {"email": user["email"], "password": user["password"]}})
        measure_tags(srv.port, 1.0)  # warm-up
        alone = measure_tags(srv.port, args.seconds)

        stop = threading.Event()
        logins = [0]
        failures = []

        def login_loop():
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            while not stop.is_set():
                conn.request("POST", "/api/users/login", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    logins[0] += 1
                else:
                    failures.append(r.status)
            conn.close()

        threads = [threading.Thread(target=login_loop) for _ in range(args.login_clients)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            started = time.monotonic()
            count_before = logins[0]
            busy = measure_tags(srv.port, args.seconds)
            rate = (logins[0] - count_before) / (time.monotonic() - started)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
    if failures:
        raise SystemExit("hash_stall: logins failed: %r" % failures[:5])
    a50, a99 = percentile(alone, 50), percentile(alone, 99)
    b50, b99 = percentile(busy, 50), percentile(busy, 99)
    print("hash_stall: one worker; GET /api/tags p50 %.2f ms, p99 %.2f ms alone (%d requests)"
          % (a50, a99, len(alone)))
    print("hash_stall: with %d login client(s) (%.1f logins/s): p50 %.2f ms, p99 %.2f ms "
          "(%d requests)" % (args.login_clients, rate, b50, b99, len(busy)))
    print("hash_stall: p99 difference %+.2f ms" % (b99 - a99))


if __name__ == "__main__":
    main()
