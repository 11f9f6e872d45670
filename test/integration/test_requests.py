#!/usr/bin/env python3
"""test_requests.py: malformed, oversized and slow requests on the API port.

Each bad request gets its status (400, 414, 431, 413, 501, 505) or its
timeout (408 or a silent close) and its connection is closed, while a
client on another connection keeps being served by the same (single)
worker. The requests show up in /metrics with their codes. Unknown paths
get a JSON 404 and a known path with the wrong method a 405 with Allow.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402

ARGS = ["--access-log", "off", "--max-request-line", "1024", "--max-header-bytes", "4096",
        "--max-headers", "16", "--max-body", "1000", "--header-timeout-ms", "400",
        "--body-timeout-ms", "400", "--idle-timeout-ms", "400"]


def good_client(srv):
    """A keep-alive connection with one answered request on it."""
    s = support.connect(srv.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, _ = support.read_response(s)
    assert status == 200
    return s


def still_serving(sock):
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, body = support.read_response(sock)
    assert status == 200 and body == b'{"status":"ok"}', (status, body)


def expect_status_and_close(srv, data, status):
    with support.connect(srv.port) as s:
        s.sendall(data)
        got, headers, body = support.read_response(s)
        assert got == status, (data[:60], got, body)
        assert headers.get("content-type", "").startswith("application/json"), headers
        assert b'"errors"' in body, body
        assert support.closed_by_peer(s, 3), "connection left open after %d" % status


def test_bad_requests_get_their_status():
    # The good client's idle timeout must not fire between its requests.
    with harness.Server(workers=1, args=ARGS[:-2] + ["--idle-timeout-ms", "10000"]) as srv:
        good = good_client(srv)
        cases = [
            (b"\x16\x03\x01garbage\r\n\r\n", 400),
            (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) +
             b"\r\n", 431),
            (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n", 431),
            (b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
            (b"BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 501),
            (b"GET /healthz HTTP/3.0\r\nHost: t\r\n\r\n", 505),
            # RFC 9112 framing (the full list is in common/http_parse.c)
            (b"GET /healthz HTTP/1.1\r\n\r\n", 400),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A:\r\n\tContent-Length: 5\r\n\r\nhello", 400),
            (b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n 5\r\n\r\nhello", 400),
        ]
        for data, status in cases:
            expect_status_and_close(srv, data, status)
            still_serving(good)
        good.close()
        values, _ = support.parse_metrics(srv.metrics_text())
        codes = {}
        for k, v in values.items():
            if k.startswith("http_requests_total{"):
                code = k.split('code="')[1].split('"')[0]
                codes[code] = codes.get(code, 0) + v
        for _, status in cases:
            assert codes.get(str(status), 0) >= 1, (status, codes)


def test_slow_clients_time_out():
    with harness.Server(workers=1, args=ARGS) as srv:
        # A head that never completes: 408 or closed, within the limit.
        slow_head = support.connect(srv.port)
        slow_head.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        # A body that never completes.
        slow_body = support.connect(srv.port)
        slow_body.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nab")
        # An idle keep-alive connection.
        idle = good_client(srv)
        started = time.monotonic()
        # Meanwhile others are served by the same worker.
        for _ in range(5):
            assert srv.get("/healthz", timeout=2).status == 200
        for sock, what in ((slow_head, "slow head"), (slow_body, "slow body"), (idle, "idle")):
            assert support.closed_by_peer(sock, 3), "%s connection never closed" % what
            sock.close()
        took = time.monotonic() - started
        assert took < 3, "timeouts took %.1fs" % took
        assert srv.get("/healthz").status == 200
        # Our side is closed now; the worker drops each connection once it
        # reads that close (a loaded machine may take a moment).
        support.wait_for(lambda: srv.status()["workers"][0]["connections"] == 0, 3,
                         what="the worker to drop every connection")


def test_slow_head_gets_408():
    with harness.Server(workers=1, args=ARGS) as srv:
        with support.connect(srv.port) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            status, _, body = support.read_response(s, timeout=3)
            assert status == 408, (status, body)


def test_routing_errors_are_json():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        r = srv.get("/no/such/thing")
        assert r.status == 404 and r.headers["content-type"] == "application/json", r
        assert r.json() == {"errors": {"path": ["not found"]}}
        r = srv.request("DELETE", "/healthz")
        assert r.status == 405, r
        assert "GET" in r.headers["allow"] and "DELETE" not in r.headers["allow"], r.headers
        assert "method" in r.json()["errors"]
        r = srv.request("HEAD", "/healthz")
        assert r.status == 200 and r.body == b"", r
        assert r.headers["content-length"] == "15"
        for h in ("date", "content-type", "x-request-id"):
            assert h in r.headers, h


if __name__ == "__main__":
    harness.run_tests([test_bad_requests_get_their_status, test_slow_clients_time_out,
                       test_slow_head_gets_408, test_routing_errors_are_json])
