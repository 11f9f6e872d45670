#!/usr/bin/env python3
"""hashing.py: password hashing does not stop a worker from serving. With one
worker, two clients log in back to back (each login hashes a password) while a
third sends GET /api/tags: every tags request and every login succeeds. No
timing assertion here; bench/hash_stall.py measures the p99 latencies.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402

apilib.require_services()
SRV = apilib.server(workers=1)
A = apilib.Api(SRV)


def test_tags_keep_answering_during_logins():
    u = A.register("hash")
    stop = threading.Event()
    logins = {"ok": 0, "bad": []}

    def login_loop():
        while not stop.is_set() and logins["ok"] < 400:
            try:
                r = SRV.request("POST", "/api/users/login", body={"user": {
                    "email": u["email"], "password": u["password"]}}, timeout=30)
                if r.status == 200:
                    logins["ok"] += 1
                else:
                    logins["bad"].append(r.status)
            except OSError as e:
                logins["bad"].append(repr(e))

    threads = [threading.Thread(target=login_loop) for _ in range(2)]
    for th in threads:
        th.start()
    tags_ok = 0
    tags_bad = []
    try:
        time.sleep(0.2)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and tags_ok < 5000:
            try:
                r = SRV.request("GET", "/api/tags", timeout=30)
                if r.status == 200:
                    tags_ok += 1
                else:
                    tags_bad.append(r.status)
            except OSError as e:
                tags_bad.append(repr(e))
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    print("     %d GET /api/tags and %d logins succeeded together" % (tags_ok, logins["ok"]),
          flush=True)
    A.check(not tags_bad, "GET /api/tags failed during logins: %r" % tags_bad[:5])
    A.check(not logins["bad"], "logins failed: %r" % logins["bad"][:5])
    A.check(tags_ok > 0 and logins["ok"] > 0, "nothing ran concurrently")


if __name__ == "__main__":
    apilib.run([test_tags_keep_answering_during_logins], SRV, budget=90)
