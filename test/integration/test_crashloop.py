#!/usr/bin/env python3
"""test_crashloop.py: the crash-loop breaker (issue 3, behaviour 2).

- Workers that cannot start (exit status 2) are not respawned in a tight
  loop. The condition is a real one: a DATABASE_URL that does not parse
  makes every worker's API start fail, so each worker exits with status 2.
  The supervisor stays up, answers the admin endpoints, reports the slots
  as backing off (/status, conduitd_crash_loop, conduitd_workers{state}),
  counts restarts{reason="config"}, fails /readyz (no slot has had a ready
  worker yet), waits the capped delay (30 s) before trying again, and still
  stops promptly on SIGTERM. Skips (77) if this build's API accepts any
  DATABASE_URL at start-up.
- After the warm-up, /readyz fails only when no worker serves: one slot
  whose workers keep dying (killed as fast as they start) backs off
  exponentially, shows in /status and conduitd_crash_loop, while /readyz
  stays 200 on the strength of the other worker; once every slot is down
  /readyz says "no worker is serving"; when the deaths stop, the slots come
  back and /readyz is 200 again.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402


def test_config_exit_backs_off():
    srv = harness.Server(workers=2, env={"DATABASE_URL": "this is not a connection string"},
                         args=["--access-log", "off"])
    srv.start(wait_api=False)
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and '"status":2' not in srv.output():
            time.sleep(0.05)
        if '"status":2' not in srv.output():
            srv.stop()
            harness.skip("workers of this build start with an unparsable DATABASE_URL")
        st = support.wait_for(
            lambda: (lambda s: s if s["restarts"]["config"] == 2 else None)(srv.status()), 5,
            what="both slots to report a config failure")
        assert all(w["state"] == "backoff" and w["pid"] == 0 for w in st["workers"]), st
        assert all(w["respawn_in_ms"] > 20000 for w in st["workers"]), st["workers"]
        assert st["ready"] is False and st["crash_loop"] == 2 and st["warm"] is False
        assert srv.get("/healthz", admin=True).status == 200
        r = srv.get("/readyz", admin=True)
        assert r.status == 503 and r.json()["status"] == "not ready"
        assert r.json()["reason"].startswith("starting"), r.json()
        values, _ = support.parse_metrics(srv.metrics_text())
        assert values["conduitd_crash_loop"] == 2
        assert values['conduitd_workers{state="backoff"}'] == 2
        assert values['conduitd_worker_restarts_total{reason="config"}'] == 2
        assert values["conduitd_ready"] == 0
        # No tight loop: nothing is started again within the next seconds.
        starts = srv.output().count('"msg":"worker started"')
        time.sleep(1.5)
        assert srv.output().count('"msg":"worker started"') == starts == 2
        assert '"msg":"worker respawn delayed"' in srv.output()
        assert '"delay_ms":30000' in srv.output()
        # Nothing to drain: a stop is immediate.
        started = time.monotonic()
        assert srv.stop(signal.SIGTERM, timeout=10) == 0
        assert time.monotonic() - started < 3
        srv.check_clean()
    finally:
        srv.kill()


def kill_slot_workers(srv, slots_to_kill, seen):
    """SIGKILL the live workers of these slots; remember their pids."""
    for w in srv.status()["workers"]:
        if w["slot"] in slots_to_kill and w["pid"] and w["pid"] not in seen:
            seen.add(w["pid"])
            try:
                os.kill(w["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_readiness_after_warmup():
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        killed = set()
        # Slot 1 crash-loops: every worker it starts is killed at once.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kill_slot_workers(srv, {1}, killed)
            st = srv.status()
            w1 = [w for w in st["workers"] if w["slot"] == 1][0]
            if w1["state"] == "backoff" and w1["quick_deaths"] >= 3:
                break
            time.sleep(0.005)
        assert w1["state"] == "backoff" and w1["respawn_in_ms"] > 0, w1
        # The other worker serves, so the pod stays ready.
        r = srv.get("/readyz", admin=True)
        assert r.status == 200, r
        assert st["crash_loop"] == 1 and st["ready"] is True, st
        values, _ = support.parse_metrics(srv.metrics_text())
        assert values["conduitd_crash_loop"] >= 1 and values["conduitd_ready"] == 1
        assert srv.get("/healthz").status == 200
        # Now every slot: once no worker serves, /readyz fails and says why.
        deadline = time.monotonic() + 15
        body = None
        while time.monotonic() < deadline:
            kill_slot_workers(srv, {0, 1}, killed)
            r = srv.get("/readyz", admin=True)
            if r.status == 503:
                body = r.json()
                break
            time.sleep(0.005)
        assert body == {"status": "not ready", "reason": "no worker is serving"}, body
        assert srv.get("/healthz", admin=True).status == 200
        # The deaths stop: the slots come back after their delays.
        srv.wait_ready(timeout=15)
        support.wait_for(lambda: all(w["state"] == "ready" for w in srv.status()["workers"]),
                         15, what="both slots ready again")
        st = srv.status()
        assert st["restarts"]["signal"] == len(killed), (st["restarts"], len(killed))


if __name__ == "__main__":
    harness.run_tests([test_config_exit_backs_off, test_readiness_after_warmup])
