#!/usr/bin/env python3
"""bodymem.py: memory per request stays bounded under big JSON bodies.

64 concurrent requests with 1 MiB bodies, each one big array under an
unknown field, against 2 workers: logins (with --max-body raised to 2 MiB so
that the HTTP core lets them in and the JSON layer's own bound is what
holds), article creations at the normal --max-body (the JSON layer's value
count refuses the array before cJSON builds a tree), and profile updates
whose array of long strings stays under the value count (parsed, fields
copied out, the tree freed before the database wait). Every answer is a
4xx or 2xx (no 5xx), no worker dies, and every worker's peak resident
memory (VmHWM in /proc) stays at or below 64 MB. Under AddressSanitizer
(shadow memory, a quarantine of freed blocks) the memory bound is reported,
not enforced. Loopback only, bounded in count and time. Needs DATABASE_URL
and REDIS_URL (else SKIP)."""

import http.client
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402

apilib.require_services()
MIB = 1 << 20
CLIENTS = 64
LIMIT_KB = 64 * 1024
SRV = apilib.server(workers=2, env={"CONDUIT_MAX_BODY": str(2 * MIB)})
A = apilib.Api(SRV)


def numbers_array(prefix, size):
    """prefix + a JSON array of 1s filling size bytes + closing braces."""
    head = prefix.encode() + b"["
    tail = b"1]}}"
    n = (size - len(head) - len(tail)) // 2
    return head + b"1," * n + tail


def blast(method, path, body, token=None):
    """Send body to path from CLIENTS connections at once; return statuses."""
    statuses = [None] * CLIENTS
    start = threading.Barrier(CLIENTS)

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", SRV.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            if token:
                headers["Authorization"] = "Token " + token
            start.wait(30)
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            statuses[i] = r.status
        except Exception as e:  # noqa: BLE001 - recorded and reported below
            statuses[i] = "error: %r" % e
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return statuses


def asan_build():
    """Is the binary built with AddressSanitizer (its runtime is linked in)?"""
    with open(apilib.harness.binary(), "rb") as f:
        return b"__asan_init" in f.read()


ASAN = asan_build()


def peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def check_round(what, statuses, want, pids):
    bad = [s for s in statuses if s not in want]
    A.check(not bad, "%s: expected only %s, got %s" % (what, want, sorted(set(map(str, bad)))))
    A.check(SRV.worker_pids() == pids, "%s: a worker died (%s -> %s)"
            % (what, pids, SRV.worker_pids()))
    peaks = [peak_kb(p) for p in pids]
    print("%s: workers' VmHWM %s kB" % (what, peaks), flush=True)
    A.check(ASAN or all(p <= LIMIT_KB for p in peaks), "%s: a worker peaked above 64 MB: %s kB"
            % (what, peaks))


def test_big_bodies_bounded():
    u = A.register("mem")
    pids = SRV.worker_pids()
    A.check(len(pids) == 2, "two workers: %s" % pids)
    login = numbers_array('{"user":{"email":%s,"password":"password123","junk":'
                          % json.dumps(u["email"]), MIB)
    check_round("64 logins of 1 MiB", blast("POST", "/api/users/login", login), (413,), pids)
    article = numbers_array('{"article":{"title":"t","description":"d","body":"b","junk":',
                            MIB - 1024)
    check_round("64 article creations of 1 MiB",
                blast("POST", "/api/articles", article, token=u["token"]), (413,), pids)
    strings = ('{"user":{"bio":"big body","junk":['
               + ",".join(['"' + "s" * 1000 + '"'] * 1000) + ']}}').encode()
    A.check(len(strings) > 1000 * 1000 and len(strings) < MIB, "body size %d" % len(strings))
    check_round("64 profile updates of 1 MB (parsed)",
                blast("PUT", "/api/user", strings, token=u["token"]), (200,), pids)
    doc = A.expect(A.get("/api/user", token=u["token"]), 200, "still served")
    A.check(doc["user"]["bio"] == "big body", "the update applied: %r" % doc)


if __name__ == "__main__":
    apilib.run([test_big_bodies_bounded], SRV, budget=240)
