#!/usr/bin/env python3
"""test_logs.py: the log is one JSON object per line on stderr.

Every line of a run (start, requests, a worker killed and replaced, a
graceful stop) parses as a JSON object with ts, level, pid, proc and msg;
the supervisor's events carry their fields; the access log line has the
method, route template, status, duration, request id and worker; and
--access-log off silences it.
"""

import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402


def parse_lines(text):
    events = []
    for line in text.splitlines():
        obj = json.loads(line)  # raises on anything that is not JSON
        assert isinstance(obj, dict), line
        for key in ("ts", "level", "pid", "proc", "msg"):
            assert key in obj, (key, line)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", obj["ts"]), obj["ts"]
        assert obj["level"] in ("debug", "info", "warn", "error"), obj
        events.append(obj)
    return events


def test_json_lines_and_events():
    srv = harness.Server(workers=2, args=["--access-log", "on"])
    with srv:
        srv.wait_ready()
        r = srv.get("/healthz", headers={"X-Request-Id": "test-req-42"})
        assert r.status == 200 and r.headers["x-request-id"] == "test-req-42"
        assert srv.get("/api/articles/some-slug/nothing/here").status == 404
        victim = srv.status()["workers"][0]
        os.kill(victim["pid"], signal.SIGKILL)
        support.wait_for(lambda: srv.status()["workers"][0]["pid"] not in (0, victim["pid"]), 3,
                         what="the replacement")
        srv.wait_ready()
        assert srv.stop() == 0
        events = parse_lines(srv.output())

    sup = [e for e in events if e["proc"] == "supervisor"]
    started = [e for e in sup if e["msg"] == "worker started"]
    assert len(started) >= 3, started
    for e in started:
        assert {"slot", "pid", "generation"} <= set(e), e
    exited = [e for e in sup if e["msg"] == "worker exited"]
    killed = [e for e in exited if e["pid"] == victim["pid"]]
    assert len(killed) == 1 and killed[0]["signal"] == "SIGKILL", killed
    assert killed[0]["reason"] == "signal" and killed[0]["level"] == "warn"
    assert killed[0]["slot"] == victim["slot"] and "ran_ms" in killed[0]
    # At the stop, each remaining worker exits 0 when asked.
    asked = [e for e in exited if e["reason"] == "asked"]
    assert len(asked) == 2 and all(e["status"] == 0 for e in asked), asked

    access = [e for e in events if e["msg"] == "request"]
    mine = [e for e in access if e["request_id"] == "test-req-42"]
    assert len(mine) == 1, access
    a = mine[0]
    assert a["proc"] == "worker" and a["method"] == "GET" and a["route"] == "/healthz"
    assert a["status"] == 200 and a["duration_ms"] >= 0 and "slot" in a
    notfound = [e for e in access if e["status"] == 404]
    assert notfound and notfound[0]["route"] == "unmatched", notfound


def test_access_log_off():
    with harness.Server(workers=1, args=["--access-log", "off"]) as srv:
        for _ in range(5):
            srv.get("/healthz")
        events = parse_lines(srv.output())
        assert not [e for e in events if e["msg"] == "request"]


if __name__ == "__main__":
    harness.run_tests([test_json_lines_and_events, test_access_log_off])
