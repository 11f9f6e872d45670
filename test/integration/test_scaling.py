#!/usr/bin/env python3
"""test_scaling.py: TTIN / TTOU (issue 3, behaviour 5): nothing queued on
the shared socket is lost when a worker retires.

- Deterministic: both workers are stopped (SIGSTOP) while 40 clients
  connect and send their request, so all 40 wait in the API socket's one
  accept queue (conduitd_listen_queue_depth says 40). TTOU retires slot 1;
  its worker is let run alone until it has drained and exited (it may
  answer a few queued connections first). The rest are still queued after
  it is gone; slot 0's worker, resumed, answers them. All 40 get 200.
  (With one socket per worker, SO_REUSEPORT as nginx does, the retiring
  worker's queue would be reset with it.)
- Under load: TTOU twice and TTIN twice while new and keep-alive clients
  run; no request fails and the worker count follows.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
import support  # noqa: E402
from support import harness  # noqa: E402

QUEUED = 40


def depth(srv):
    values, _ = support.parse_metrics(srv.metrics_text())
    return values["conduitd_listen_queue_depth"]


def test_retiring_worker_loses_nothing_queued():
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        slots = {w["slot"]: w["pid"] for w in srv.status()["workers"]}
        keep, leave = slots[0], slots[1]
        clients = []
        os.kill(keep, signal.SIGSTOP)
        os.kill(leave, signal.SIGSTOP)
        try:
            for _ in range(QUEUED):
                s = support.connect(srv.port, timeout=15)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                clients.append(s)
            support.wait_for(lambda: depth(srv) == QUEUED, 5, what="%d queued" % QUEUED)
            srv.signal(signal.SIGTTOU)
            support.wait_for(lambda: any(w["slot"] == 1 and w["retiring"]
                                         for w in srv.status()["workers"]), 5,
                             what="slot 1 retiring")
            os.kill(leave, signal.SIGCONT)
            support.wait_for(lambda: [w["slot"] for w in srv.status()["workers"]] == [0], 10,
                             what="the retired worker to exit and be reaped")
            assert not support.pid_alive(leave)
            left = depth(srv)
            print("queued %d; answered by the retiring worker %d; still queued after it left %d"
                  % (QUEUED, QUEUED - left, left))
            assert 0 < left <= QUEUED, left
        finally:
            os.kill(keep, signal.SIGCONT)
        statuses = [support.read_response(s, timeout=10)[0] for s in clients]
        for s in clients:
            s.close()
        assert statuses == [200] * QUEUED, statuses
        assert depth(srv) == 0
        st = srv.status()
        assert sum(st["restarts"].values()) == 0, st["restarts"]
        assert st["workers_configured"] == 1


def test_ttin_ttou_under_load():
    with harness.Server(workers=3, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=2).start()

        def ready_count(n):
            return lambda: len([w for w in srv.status()["workers"]
                                if w["state"] == "ready"]) == n and len(
                srv.status()["workers"]) == n
        try:
            load.wait_ok(200)
            for sig, n in ((signal.SIGTTOU, 2), (signal.SIGTTOU, 1), (signal.SIGTTIN, 2),
                           (signal.SIGTTIN, 3)):
                load.phase(signal.Signals(sig).name)
                srv.signal(sig)
                support.wait_for(ready_count(n), 10, what="%d ready workers" % n)
                load.wait_ok(200)
        finally:
            load.stop()
        print(load.report())
        assert load.failures() == 0, load.report()
        st = srv.status()
        assert st["workers_configured"] == 3 and sum(st["restarts"].values()) == 0, st
        srv.wait_ready()


if __name__ == "__main__":
    harness.run_tests([test_retiring_worker_loses_nothing_queued, test_ttin_ttou_under_load])
