#!/usr/bin/env python3
"""test_recycle.py: recycling workers after --max-requests (issue 3,
behaviour 6).

- With --max-requests 30 --max-requests-jitter 10, each worker asks to be
  replaced once it has answered its budget, a number from 30 to 40 drawn
  per worker (the log says which); the supervisor starts the replacement
  first and retires the old worker once the replacement is ready (with no
  free slot it waits, the old worker serving on), so two workers are ready
  at every moment and /readyz never fails; each recycled
  worker's exit counts as conduitd_worker_restarts_total{reason="recycle"}
  (and nothing else is counted); under a steady load of new and keep-alive
  connections no request fails.
- Off by default: without the flag a worker serves on and on.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
import support  # noqa: E402
from support import harness  # noqa: E402

MAX, JITTER = 30, 10


def settled(srv):
    """True when two status reads 0.3 s apart show the same restarts and
    exactly the two workers, both ready (no replacement or retiree)."""
    before = srv.status()
    time.sleep(0.3)
    after = srv.status()
    workers = [w for w in after["workers"] if w.get("pid")]
    return (before["restarts"] == after["restarts"] and len(workers) == 2
            and all(w["state"] == "ready" for w in workers))


def test_max_requests_recycles_gracefully():
    with harness.Server(workers=2, args=["--access-log", "off", "--max-requests", str(MAX),
                                         "--max-requests-jitter", str(JITTER)]) as srv:
        srv.wait_ready()
        samples, readyz = [], []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                try:
                    st = srv.status()
                    samples.append(sum(1 for w in st["workers"] if w["state"] == "ready"))
                    readyz.append(srv.get("/readyz", admin=True, timeout=2).status)
                except OSError as e:
                    readyz.append(repr(e))
                time.sleep(0.01)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Slow the clients a little so that recycling keeps pace (each
        # replacement takes a fork and a tick).
        load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=2, pause=0.002).start()
        try:
            support.wait_for(lambda: srv.status()["restarts"]["recycle"] >= 6, 30, interval=0.1,
                             what="six recycled workers")
            load.phase("after")
            load.wait_ok(100)
        finally:
            load.stop()
            stop.set()
            watcher.join(5)
        # A recycle asked for just before the load stopped may still be on
        # its way: let it end, so that the status, the log and the metrics
        # read below count the same events (under the sanitizers a late exit
        # once made the log hold one more than the status read before it).
        support.wait_for(lambda: settled(srv), 15, interval=0.1,
                         what="no recycle in progress")
        print(load.report())
        print("ready workers seen: min %d max %d over %d samples"
              % (min(samples), max(samples), len(samples)))
        assert load.failures() == 0, load.report()
        assert set(readyz) == {200}, [r for r in readyz if r != 200][:5]
        assert min(samples) >= 2, samples
        st = srv.status()
        assert st["restarts"]["recycle"] >= 6
        assert sum(st["restarts"].values()) == st["restarts"]["recycle"], st["restarts"]
        out = srv.output()
        asked = support.log_events(out, "worker served its max requests, asking for a replacement")
        budgets = [e["requests"] for e in asked]
        print("budgets drawn: %s" % budgets)
        assert len(asked) >= 6 and all(MAX <= b <= MAX + JITTER for b in budgets), budgets
        assert len(set(budgets)) > 1, "the jitter drew the same budget every time: %s" % budgets
        # Replacement first, old worker retired once it is ready (the last
        # ones may still be on their way when the load stops).
        complete = 0
        for e in asked:
            starting = support.log_events(out, "recycling a worker: starting its replacement",
                                          pid=e["pid"])
            retiring = support.log_events(out, "worker retiring", pid=e["pid"])
            if not starting or not retiring:
                continue
            rep = [s for s in support.log_events(out, "worker started",
                                                 slot=starting[0]["replacement_slot"])
                   if support.log_time(s) >= support.log_time(starting[0])]
            assert rep, starting
            assert retiring[0]["why"] == "recycle: replacement ready", retiring
            assert support.log_time(retiring[0]) >= support.log_time(rep[0])
            complete += 1
        assert complete >= 6, complete
        exits = [e for e in support.log_events(out, "worker exited") if e["reason"] == "recycle"]
        assert len(exits) == st["restarts"]["recycle"] and all(e["status"] == 0 for e in exits)
        assert all(e["level"] == "info" for e in exits)
        values, _ = support.parse_metrics(srv.metrics_text())
        assert values['conduitd_worker_restarts_total{reason="recycle"}'] == st["restarts"][
            "recycle"]


def test_recycling_off_by_default():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        pid = srv.worker_pids()[0]
        for _ in range(300):
            assert srv.get("/healthz").status == 200
        time.sleep(0.4)  # a tick or two
        st = srv.status()
        assert srv.worker_pids() == [pid] and st["restarts"]["recycle"] == 0, st
        assert st["workers"][0]["requests"] >= 300
        assert "max requests" not in srv.output()


if __name__ == "__main__":
    harness.run_tests([test_max_requests_recycles_gracefully, test_recycling_off_by_default])
