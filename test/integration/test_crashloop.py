#!/usr/bin/env python3
"""test_crashloop.py: workers that cannot start (exit status 2) are not
respawned in a tight loop.

The condition is a real one: a DATABASE_URL that does not parse makes
every worker's API start fail, so each worker exits with status 2. The
supervisor stays up, answers the admin endpoints, reports the slots as
backing off (/status, conduitd_crash_loop, conduitd_workers{state}),
counts restarts{reason="config"}, fails /readyz, waits the capped delay
(30 s) before trying again, and still stops promptly on SIGTERM.

Skips (77) if this build's API accepts any DATABASE_URL at start-up.
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
        assert st["ready"] is False
        assert srv.get("/healthz", admin=True).status == 200
        r = srv.get("/readyz", admin=True)
        assert r.status == 503 and r.json()["status"] == "not ready"
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


if __name__ == "__main__":
    harness.run_tests([test_config_exit_backs_off])
