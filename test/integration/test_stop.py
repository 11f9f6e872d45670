#!/usr/bin/env python3
"""test_stop.py: stopping the server.

- SIGTERM while a request is in flight (its body still arriving slowly):
  readiness turns false at once, the admin port keeps answering, the
  request completes with Connection: close, an idle keep-alive connection
  is closed, and the supervisor exits 0;
- a second SIGTERM during the drain is a fast stop: prompt exit;
- past --shutdown-timeout the supervisor kills what is left and exits 0.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402

SLOW_HEAD = (b"POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: 10\r\n\r\n")


def start_slow_request(port):
    """A request whose head and half its body have arrived; the rest is
    still to come. Returns the socket."""
    s = support.connect(port)
    s.sendall(SLOW_HEAD + b"12345")
    return s


def test_sigterm_lets_inflight_request_finish():
    with harness.Server(workers=1) as srv:
        srv.wait_ready()
        idle = support.connect(srv.port)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = support.read_response(idle)
        assert status == 200 and headers.get("connection") == "keep-alive", headers
        slow = start_slow_request(srv.port)
        # Let the worker read what was sent so far.
        support.wait_for(lambda: srv.status()["workers"][0]["connections"] == 2, 5,
                         what="both connections accepted")

        srv.signal(signal.SIGTERM)
        # Readiness turns false at once (as soon as the loop sees the
        # signal), and the admin port still answers.
        ready = support.wait_for(
            lambda: (lambda r: r if r.status == 503 else None)(
                srv.get("/readyz", admin=True, timeout=2)), 1, what="/readyz 503")
        assert ready.json()["status"] == "not ready"
        assert srv.status()["draining"] is True
        # The idle keep-alive connection is closed by the drain.
        assert support.closed_by_peer(idle, 3), "idle keep-alive connection left open"
        idle.close()
        # The slow request is still being waited for: the server is alive.
        time.sleep(0.5)
        assert srv.proc.poll() is None, "exited with a request in flight"
        assert srv.get("/healthz", admin=True, timeout=2).status == 200

        slow.sendall(b"67890")
        status, headers, body = support.read_response(slow)
        assert status == 404, (status, body)
        assert headers.get("connection") == "close", headers
        assert b'"errors"' in body
        assert support.closed_by_peer(slow, 3)
        slow.close()

        assert srv.wait(timeout=10) == 0
        text = srv.output()
        assert '"msg":"graceful stop"' in text
        assert '"graceful":true' in text, text[-3000:]
        assert '"reason":"asked"' in text, "worker exit not logged as asked"


def test_second_sigterm_is_fast():
    with harness.Server(workers=2, args=["--shutdown-timeout", "60"]) as srv:
        srv.wait_ready()
        pids = srv.worker_pids()
        slow = start_slow_request(srv.port)
        support.wait_for(lambda: sum(w.get("connections", 0)
                                     for w in srv.status()["workers"]) == 1, 5,
                         what="the slow connection accepted")
        srv.signal(signal.SIGTERM)
        time.sleep(0.3)
        assert srv.proc.poll() is None, "a graceful stop must wait for the slow request"
        started = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert srv.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
        assert not any(support.pid_alive(p) for p in pids)
        assert '"msg":"fast stop"' in srv.output()
        slow.close()


def test_shutdown_timeout_kills_leftovers():
    with harness.Server(workers=1, args=["--shutdown-timeout", "1",
                                         "--body-timeout-ms", "60000"]) as srv:
        srv.wait_ready()
        pid = srv.worker_pids()[0]
        support.wait_connections_closed(srv)
        slow = start_slow_request(srv.port)
        support.wait_for(lambda: srv.status()["workers"][0]["connections"] == 1, 5,
                         what="the slow connection accepted")
        started = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0
        took = time.monotonic() - started
        assert took >= 0.9, "exited before the deadline (%.2fs)" % took
        assert not support.pid_alive(pid)
        text = srv.output()
        assert '"msg":"shutdown timeout: killing the workers left"' in text, text[-2000:]
        slow.close()


if __name__ == "__main__":
    harness.run_tests([test_sigterm_lets_inflight_request_finish, test_second_sigterm_is_fast,
                       test_shutdown_timeout_kills_leftovers])
