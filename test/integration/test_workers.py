#!/usr/bin/env python3
"""test_workers.py: worker replacement and the supervisor's death.

- a worker killed with SIGKILL is replaced within 1 s, in the same slot, and
  the other worker keeps serving, on a keep-alive connection it already had
  and on new connections;
- successive quick deaths of one slot back off, and /status says so;
- a SIGKILLed supervisor leaves no worker behind (all gone within 2 s) and
  the API port is free again;
- TTIN adds a worker and TTOU retires one gracefully.
"""

import http.client
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402


def slots(server):
    return {w["slot"]: w for w in server.status()["workers"]}


def test_sigkill_worker_replaced():
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        # A keep-alive connection, served by one worker.
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b'{"status":"ok"}'
        # Which worker holds it: the one with an open connection.
        holder = support.wait_for(
            lambda: [w for w in srv.status()["workers"] if w.get("connections") == 1],
            5, what="a worker holding our connection")[0]
        victim = [w for w in srv.status()["workers"] if w["slot"] != holder["slot"]][0]

        killed_at = time.time()
        os.kill(victim["pid"], signal.SIGKILL)
        # The other worker keeps serving: our keep-alive connection...
        for _ in range(20):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            resp.read()
        # ...and new connections.
        for _ in range(50):
            assert srv.get("/healthz", timeout=5).status == 200
        conn.close()

        def replaced():
            w = slots(srv).get(victim["slot"])
            return w if w and w["pid"] not in (0, victim["pid"]) else None
        new = support.wait_for(replaced, 3, interval=0.01, what="a replacement worker")
        # When the replacement was forked, by the supervisor's own clock
        # (independent of how fast this test polls).
        started = support.log_events(srv.output(), "worker started", pid=new["pid"])
        assert len(started) == 1, started
        took = support.log_time(started[0]) - killed_at
        assert took < 1.0, "replacement took %.3fs" % took
        assert not support.pid_alive(victim["pid"])
        assert new["generation"] == victim["generation"]
        support.wait_for(lambda: slots(srv)[victim["slot"]]["state"] == "ready", 5,
                         what="the replacement to be ready")
        srv.wait_ready()
        st = srv.status()
        assert st["restarts"]["signal"] == 1, st["restarts"]
        assert "signal" in srv.output() and '"reason":"signal"' in srv.output()


def test_quick_deaths_back_off():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        first = slots(srv)[0]["pid"]
        # First death: replaced at once. Second quick death: a delay.
        os.kill(first, signal.SIGKILL)
        second = support.wait_for(
            lambda: slots(srv)[0]["pid"] not in (0, first) and slots(srv)[0]["pid"], 3,
            what="the first replacement")
        os.kill(second, signal.SIGKILL)
        support.wait_for(lambda: slots(srv)[0]["quick_deaths"] >= 2, 3,
                         what="two quick deaths recorded")
        text = srv.output()
        assert '"msg":"worker respawn delayed"' in text, text[-2000:]
        third = support.wait_for(
            lambda: slots(srv)[0]["pid"] not in (0, first, second) and slots(srv)[0]["pid"], 5,
            what="the delayed replacement")
        assert third
        srv.wait_ready()
        assert srv.get("/healthz").status == 200


def test_supervisor_sigkill_leaves_no_worker():
    srv = harness.Server(workers=2, args=["--access-log", "off"])
    srv.start()
    try:
        srv.wait_ready()
        pids = srv.worker_pids()
        assert len(pids) == 2
        srv.proc.kill()
        srv.proc.wait(timeout=5)
        killed_at = time.monotonic()
        # Every worker gone and the port free, within 2 s.
        support.wait_for(lambda: not any(support.pid_alive(p) for p in pids)
                         and harness.port_is_free(srv.port), 2.0, interval=0.01,
                         what="every worker to exit and the port to be free")
        took = time.monotonic() - killed_at
        assert took <= 2.0, "took %.2fs" % took
        # Free indeed: we can bind it ourselves.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", srv.port))
            s.listen(1)
        srv.check_clean()
    finally:
        srv.kill()


def test_ttin_ttou():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        srv.signal(signal.SIGTTIN)
        support.wait_for(lambda: len([w for w in srv.status()["workers"]
                                      if w["state"] == "ready"]) == 2, 5,
                         what="a second ready worker")
        assert srv.status()["workers_configured"] == 2
        srv.wait_ready()
        gone = max(srv.status()["workers"], key=lambda w: w["slot"])
        srv.signal(signal.SIGTTOU)
        # Draining, then gone and reaped: only slot 0 is left.
        st = support.wait_for(
            lambda: (lambda s: s if [w["slot"] for w in s["workers"]] == [0] else None)(
                srv.status()), 5, what="the retired worker to be reaped")
        assert not support.pid_alive(gone["pid"])
        assert st["workers_configured"] == 1
        # Retiring is not a failure.
        assert sum(st["restarts"].values()) == 0, st["restarts"]
        srv.wait_ready()
        assert srv.get("/healthz").status == 200


if __name__ == "__main__":
    harness.run_tests([test_sigkill_worker_replaced, test_quick_deaths_back_off,
                       test_supervisor_sigkill_leaves_no_worker, test_ttin_ttou])
