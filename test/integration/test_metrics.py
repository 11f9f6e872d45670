#!/usr/bin/env python3
"""test_metrics.py: the admin /metrics and /readyz under worker deaths.

- no counter (nor histogram bucket, _sum or _count) in /metrics ever goes
  down while workers are killed and replaced, and the requests counted
  match the requests sent;
- every /readyz answer is counted in conduitd_readiness_checks_total;
- gauges: conduitd_workers{state}, conduitd_ready and open connections
  follow what is happening, and /readyz fails once a stop begins;
- conduitd_listen_queue_depth counts connections no worker has accepted.
(test_promtool.py runs `promtool check metrics` on the page.)
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402


def scrape(srv):
    return support.parse_metrics(srv.metrics_text())


def check_not_lower(before, after, where):
    for series, value in before.items():
        assert series in after, "%s: series %s disappeared" % (where, series)
        assert after[series] >= value, "%s: %s went down: %s -> %s" % (
            where, series, value, after[series])


def test_counters_never_decrease_across_kills():
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        # The harness's start-up probes of the API /healthz count too.
        values, types = support.wait_stable_requests_total(srv, scrape)
        prev = support.monotonic_series(values, types)
        base = support.requests_total(values)
        sent = 0
        for round_no in range(4):
            for i in range(25):
                path = "/healthz" if i % 5 else "/missing/%d" % i
                srv.get(path)
                sent += 1
            values, types = support.wait_requests_total(srv, scrape, base + sent)
            now = support.monotonic_series(values, types)
            check_not_lower(prev, now, "round %d after traffic" % round_no)
            prev = now

            victim = srv.status()["workers"][round_no % 2]
            os.kill(victim["pid"], signal.SIGKILL)
            # Scrape while the worker is dead, reaped or being replaced.
            for _ in range(5):
                values, types = scrape(srv)
                now = support.monotonic_series(values, types)
                check_not_lower(prev, now, "round %d during replacement" % round_no)
                prev = now
            support.wait_all_workers_ready(srv, 2, exclude=(victim["pid"],))
            values, types = scrape(srv)
            now = support.monotonic_series(values, types)
            check_not_lower(prev, now, "round %d after replacement" % round_no)
            assert support.requests_total(values) == base + sent, (
                support.requests_total(values), base, sent)
            prev = now
        restarts = values['conduitd_worker_restarts_total{reason="signal"}']
        assert restarts == 4, restarts
        assert values['http_requests_total{method="GET",route="/healthz",code="200"}'] == base + 80
        assert values['http_requests_total{method="GET",route="unmatched",code="404"}'] == 20
        assert values['http_request_duration_seconds_count{route="/healthz"}'] == base + 80
        assert values['http_request_duration_seconds_bucket{route="/healthz",le="+Inf"}'] == (
            base + 80)
        assert values["http_connections_accepted_total"] >= sent
        assert values["process_cpu_seconds_total"] > 0
        assert values["process_resident_memory_bytes"] > 0


def test_readiness_checks_counted():
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        values, _ = scrape(srv)
        ok0 = values['conduitd_readiness_checks_total{result="ok"}']
        fail0 = values['conduitd_readiness_checks_total{result="fail"}']
        for _ in range(7):
            assert srv.get("/readyz", admin=True).status == 200
        values, _ = scrape(srv)
        assert values['conduitd_readiness_checks_total{result="ok"}'] == ok0 + 7
        assert values['conduitd_readiness_checks_total{result="fail"}'] == fail0
        assert values["conduitd_ready"] == 1
        assert values['conduitd_workers{state="ready"}'] == 2
        assert values["conduitd_generation"] == 1
        assert values["process_start_time_seconds"] > 1e9
        build = [k for k in values if k.startswith("conduitd_build_info{")]
        assert len(build) == 1 and 'version="' in build[0] and 'revision="' in build[0], build


def test_readyz_fails_while_draining():
    with harness.Server(workers=1, args=["--shutdown-timeout", "10"]) as srv:
        srv.wait_ready()
        support.wait_connections_closed(srv)
        slow = support.connect(srv.port)
        slow.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
        support.wait_for(lambda: srv.status()["workers"][0]["connections"] == 1, 5,
                         what="the slow connection accepted")
        values, _ = scrape(srv)
        assert values["http_connections_open"] == 1
        fail0 = values['conduitd_readiness_checks_total{result="fail"}']
        srv.signal(signal.SIGTERM)
        r = support.wait_for(lambda: srv.get("/readyz", admin=True).status == 503 and True, 2,
                             what="/readyz 503")
        assert r
        values, _ = scrape(srv)
        assert values["conduitd_ready"] == 0
        assert values['conduitd_workers{state="draining"}'] == 1
        assert values['conduitd_readiness_checks_total{result="fail"}'] >= fail0 + 1
        slow.sendall(b"cd")
        status, _, _ = support.read_response(slow)
        assert status == 404
        slow.close()
        assert srv.wait(timeout=10) == 0


def test_listen_queue_depth():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        values, _ = scrape(srv)
        assert values["conduitd_listen_queue_depth"] == 0
        pid = srv.worker_pids()[0]
        os.kill(pid, signal.SIGSTOP)
        waiting = []
        try:
            waiting = [support.connect(srv.port) for _ in range(5)]
            values, _ = scrape(srv)
            assert values["conduitd_listen_queue_depth"] == 5, values["conduitd_listen_queue_depth"]
        finally:
            os.kill(pid, signal.SIGCONT)
        for s in waiting:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert support.read_response(s)[0] == 200
            s.close()
        values, _ = scrape(srv)
        assert values["conduitd_listen_queue_depth"] == 0


if __name__ == "__main__":
    harness.run_tests([test_counters_never_decrease_across_kills, test_readiness_checks_counted,
                       test_readyz_fails_while_draining, test_listen_queue_depth])
