#!/usr/bin/env python3
"""cache_refusal.py: a cache that cannot go stale (store/cache.h, "Trust").
A private Redis stays connected but refuses writes, first at maxmemory
(maxmemory 1, noeviction: every write is an OOM error, reads still answer),
then as a read-only replica of a dead master (READONLY). In both, an edit and
a delete are answered while their invalidations fail, and 10 of 10 anonymous
reads (spread over both workers) return the new article and 404 for the
deleted one. The workers stop trusting the cache (one distrust episode, one
log line per streak, conduitd_cache_trusted 0) and trust it again, with fresh
data, once an epoch bump succeeds. A Redis restart (reconnect) and all of the
above never run KEYS or SCAN (INFO commandstats).
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, wait_for  # noqa: E402

apilib.require_services()
R = apilib.PrivateRedis()
SRV = apilib.server(redis_url=R.url, env={"CONDUIT_CACHE_TTL": "60"})
A = apilib.Api(SRV)
STATE = {}


def hits():
    return metric(A.metrics(), "conduitd_cache_requests_total", result="hit") or 0.0


def episodes():
    return metric(A.metrics(), "conduitd_cache_distrust_episodes_total")


def trusted():
    return metric(A.metrics(), "conduitd_cache_trusted")


def get_article(slug):
    return A.get("/api/articles/" + slug)


def warm(slug):
    """Read until the answer comes from the cache, so there is an entry to go stale."""
    def served_from_cache():
        before = hits()
        A.expect(get_article(slug), 200, "GET article")
        return hits() > before

    wait_for(served_from_cache, 30, "article %s never served from the cache" % slug, interval=0.2)


def distrust_lines(since):
    out = []
    for line in SRV.output()[since:].splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            if "cache no longer trusted" in doc.get("msg", ""):
                out.append(doc)
    return out


def dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_reconnect_first():
    # A Redis restart: the workers reconnect (and bump the epoch); later checks of
    # commandstats cover that handshake.
    u = A.register("crf")
    STATE["user"] = u
    wait_for(lambda: trusted() == 1, 20, "conduitd_cache_trusted 1 at start")
    A.check(episodes() == 0, "no distrust episode at start (got %r)" % episodes())
    R.stop()
    R.start()
    wait_for(lambda: metric(A.metrics(), "conduitd_dependency_up", dependency="redis") == 1
             and trusted() == 1, 30, "reconnected and trusted after a Redis restart")


def refusing_writes(what, refuse, restore):
    u = STATE["user"]
    edited = A.create_article(u, body="old")["slug"]
    deleted = A.create_article(u, body="doomed")["slug"]
    warm(edited)
    warm(deleted)
    before = episodes()
    log_at = len(SRV.output())
    refuse()
    try:
        # Redis really refuses writes and still answers reads.
        try:
            R.command("SET", "conduit:test:probe", "x")
            A.check(False, "%s: Redis still accepts writes" % what)
        except AssertionError as e:
            A.check("redis error" in str(e), "%s: unexpected %s" % (what, e))
        A.check(R.command("GET", CACHE_EPOCH) is not None, "%s: Redis does not answer reads" % what)
        A.expect(A.put("/api/articles/" + edited, {"article": {"body": "new"}},
                       token=u["token"]), 200, "%s: edit" % what)
        A.expect(A.delete("/api/articles/" + deleted, token=u["token"]), 204, "%s: delete" % what)
        fresh = 0
        for _ in range(10):
            r = get_article(edited)
            if r.status == 200 and A.json(r)["article"]["body"] == "new":
                fresh += 1
        A.check(fresh == 10, "%s: %d of 10 anonymous reads returned the edited article" % (what, fresh))
        gone = sum(1 for _ in range(10) if get_article(deleted).status == 404)
        A.check(gone == 10, "%s: %d of 10 anonymous reads of the deleted article were 404"
                % (what, gone))
        A.check(trusted() == 0, "%s: conduitd_cache_trusted should be 0" % what)
        A.check(episodes() == before + 1, "%s: distrust episodes %r -> %r, expected one more"
                % (what, before, episodes()))
        wait_for(lambda: len(distrust_lines(log_at)) >= 1, 5, "%s: a distrust log line" % what)
        # Bump retries and write probes keep failing meanwhile: still one line, one episode.
        import time
        time.sleep(2.5)
        lines = distrust_lines(log_at)
        A.check(len(lines) == 1, "%s: %d distrust log lines in one streak, expected 1: %r"
                % (what, len(lines), lines))
        A.check(episodes() == before + 1, "%s: more than one episode in one streak" % what)
    finally:
        restore()
    wait_for(lambda: trusted() == 1, 20, "%s: cache trusted again once Redis accepts writes" % what)
    for _ in range(10):
        r = get_article(edited)
        A.check(A.json(r)["article"]["body"] == "new", "%s: stale article after recovery" % what)
        A.expect_error(get_article(deleted), 404, "article", "not found",
                       "%s: deleted article served after recovery" % what)
    warm(edited)  # the cache is in use again
    A.check(A.json(get_article(edited))["article"]["body"] == "new", "%s: stale hit" % what)


CACHE_EPOCH = "conduit:v1:epoch"


def test_maxmemory_refuses_writes():
    def refuse():
        R.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        R.command("CONFIG", "SET", "maxmemory", "1")

    def restore():
        R.command("CONFIG", "SET", "maxmemory", "0")

    refusing_writes("maxmemory", refuse, restore)


def test_read_only_replica_refuses_writes():
    port = dead_port()

    def refuse():
        R.command("REPLICAOF", "127.0.0.1", str(port))

    def restore():
        R.command("REPLICAOF", "NO", "ONE")

    refusing_writes("read-only replica", refuse, restore)


def test_no_keys_or_scan():
    stats = R.command("INFO", "commandstats").decode()
    calls = {}
    for line in stats.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            calls[name[len("cmdstat_"):]] = int(rest.split(",")[0].split("=")[1])
    print("     commands since the restart: %s" % ", ".join(
        "%s=%d" % kv for kv in sorted(calls.items())), flush=True)
    A.check("evalsha" in calls, "commandstats look wrong (no evalsha): %r" % calls)
    for bad in ("keys", "scan", "flushall", "flushdb"):
        A.check(bad not in calls, "conduitd ran %s (%d times)" % (bad.upper(), calls.get(bad, 0)))


if __name__ == "__main__":
    with R:
        apilib.run([test_reconnect_first, test_maxmemory_refuses_writes,
                    test_read_only_replica_refuses_writes, test_no_keys_or_scan], SRV, budget=240)
