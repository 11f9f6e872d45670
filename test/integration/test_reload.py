#!/usr/bin/env python3
"""test_reload.py: graceful reload on SIGHUP (issue 3, behaviour 3).

- HUP re-reads the --config file and starts a new generation with the new
  settings (here 2 -> 3 workers and the access log turned off) while a load
  runs; the old workers are retired only once every new one is ready, no
  request fails, and /status and conduitd_generation show generation 2.
- An old worker finishes the request it has in flight: a request whose body
  is still arriving when HUP comes is answered (with Connection: close)
  after the new generation took over.
- An invalid configuration changes nothing: the same workers keep serving,
  the log names the bad setting, conduitd_reloads_total{result="failed"}
  counts it.
- New workers that cannot start (an unparsable DATABASE_URL makes each exit
  with status 2) do not take the old generation down: the reload is given up
  at once, the old workers keep serving, the generation stays, and the
  failure is not counted as crash-loop restarts; fixing the file and
  sending HUP again works.
- A reload to more workers than there are free slots proceeds in steps
  (2 -> 6 workers in a scoreboard of 6 slots: an old worker retires each
  time a new one is ready), without a failed request; more workers than the
  scoreboard has slots is refused and changes nothing.
- A HUP that changes --listen keeps the running address and says so.
"""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
import support  # noqa: E402
from support import harness  # noqa: E402


class Config:
    """A --config file the test rewrites."""

    def __init__(self, text):
        f = tempfile.NamedTemporaryFile("w", prefix="conduitd-", suffix=".conf", delete=False)
        f.close()
        self.path = f.name
        self.write(text)

    def write(self, text):
        with open(self.path + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.path + ".tmp", self.path)

    def remove(self):
        os.unlink(self.path)


def generation(srv):
    return srv.status()["generation"]


def wait_reload_done(srv, gen, workers, timeout=15):
    """Wait until generation gen serves alone with this many workers."""
    def done():
        st = srv.status()
        ws = st["workers"]
        if st["generation"] != gen or st["reload"]["in_progress"]:
            return None
        if len(ws) != workers or any(w["generation"] != gen or w["state"] != "ready"
                                     for w in ws):
            return None
        return st
    return support.wait_for(done, timeout, what="generation %d alone with %d workers"
                            % (gen, workers))


def file_server(cfg, text):
    """A Server whose settings all come from the config file (flags would
    win over the file, and the harness passes --listen and --workers)."""
    srv = harness.Server()
    srv.command = lambda: [harness.binary(), "--config", cfg.path]
    cfg.write("CONDUIT_LISTEN=127.0.0.1:%d\nCONDUIT_ADMIN_LISTEN=127.0.0.1:%d\n%s"
              % (srv.port, srv.admin_port, text))
    return srv


def test_hup_starts_new_generation_under_load():
    cfg = Config("")
    srv = file_server(cfg, "CONDUIT_WORKERS=2\nCONDUIT_ACCESS_LOG=on\n")
    try:
        with srv:
            srv.wait_ready()
            old = {w["pid"]: w for w in srv.status()["workers"]}
            assert len(old) == 2 and generation(srv) == 1
            load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=2).start()
            try:
                load.wait_ok(200)
                cfg.write("CONDUIT_LISTEN=127.0.0.1:%d\nCONDUIT_ADMIN_LISTEN=127.0.0.1:%d\n"
                          "CONDUIT_WORKERS=3\nCONDUIT_ACCESS_LOG=off\n" % (srv.port, srv.admin_port))
                load.phase("reload")
                srv.signal(signal.SIGHUP)
                st = wait_reload_done(srv, 2, 3)
                load.wait_ok(200)
            finally:
                load.stop()
            print(load.report())
            assert load.failures() == 0, load.report()
            new = {w["pid"] for w in st["workers"]}
            assert not new & set(old), (old, new)
            support.wait_for(lambda: not any(support.pid_alive(p) for p in old), 10,
                             what="the old workers to exit")
            assert st["reload"]["ok"] == 1 and st["reload"]["failed"] == 0, st["reload"]
            assert sum(st["restarts"].values()) == 0, st["restarts"]
            assert st["workers_configured"] == 3
            values, _ = support.parse_metrics(srv.metrics_text())
            assert values["conduitd_generation"] == 2
            assert values['conduitd_reloads_total{result="ok"}'] == 1
            assert values['conduitd_workers{state="ready"}'] == 3
            out = srv.output()
            # Old workers were retired only after every new one was ready.
            done = support.log_events(out, "reload complete: the new generation serves, the old "
                                      "one drains")
            assert len(done) == 1, out[-3000:]
            for pid in old:
                retiring = support.log_events(out, "worker retiring", pid=pid)
                assert retiring and retiring[0]["why"] == "reload", retiring
                assert support.log_time(retiring[0]) >= support.log_time(
                    support.log_events(out, "reload: starting a new generation")[0])
                exited = support.log_events(out, "worker exited", pid=pid)
                assert exited and exited[0]["reason"] == "asked", exited
            # The new settings apply: the new generation writes no access log.
            gen2 = {w["pid"] for w in st["workers"]}
            before = out.count('"msg":"request"')
            for _ in range(20):
                assert srv.get("/healthz").status == 200
            lines = [e for e in support.log_events(srv.output(), "request") if e["pid"] in gen2]
            assert not lines, lines[:3]
            assert srv.output().count('"msg":"request"') == before
    finally:
        cfg.remove()


def test_old_worker_finishes_in_flight_request():
    cfg = Config("CONDUIT_ACCESS_LOG=off\n")
    try:
        with harness.Server(workers=1, args=["--config", cfg.path]) as srv:
            srv.wait_ready()
            old = srv.worker_pids()[0]
            support.wait_connections_closed(srv)
            slow = support.connect(srv.port)
            slow.sendall(b"POST /no/such HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
            support.wait_for(lambda: srv.status()["workers"][0]["connections"] == 1, 5,
                             what="the slow request accepted")
            srv.signal(signal.SIGHUP)
            st = support.wait_for(
                lambda: (lambda s: s if s["generation"] == 2 and any(
                    w["pid"] == old and w["state"] == "draining" for w in s["workers"])
                    else None)(srv.status()), 10, what="generation 2 with the old worker draining")
            assert support.pid_alive(old)
            assert srv.get("/healthz").status == 200  # the new worker serves
            time.sleep(0.5)
            assert support.pid_alive(old), "the old worker left with a request in flight"
            slow.sendall(b"67890")
            status, headers, body = support.read_response(slow)
            assert status == 404 and headers.get("connection") == "close", (status, headers)
            slow.close()
            support.wait_for(lambda: not support.pid_alive(old), 5, what="the old worker to exit")
            assert sum(st["restarts"].values()) == 0
    finally:
        cfg.remove()


def test_invalid_config_changes_nothing():
    cfg = Config("CONDUIT_ACCESS_LOG=off\n")
    try:
        with harness.Server(workers=2, args=["--config", cfg.path]) as srv:
            srv.wait_ready()
            pids = sorted(srv.worker_pids())
            cfg.write("CONDUIT_ACCESS_LOG=off\nCONDUIT_SHUTDOWN_TIMEOUT=soon\n")
            srv.signal(signal.SIGHUP)
            support.wait_for(lambda: srv.status()["reload"]["failed"] == 1, 5,
                             what="the reload to fail")
            err = support.log_events(srv.output(), "reload failed: invalid configuration; the "
                                     "current generation keeps serving")
            assert len(err) == 1 and "CONDUIT_SHUTDOWN_TIMEOUT" in err[0]["error"], err
            assert err[0]["level"] == "error"
            time.sleep(0.3)
            st = srv.status()
            assert st["generation"] == 1 and sorted(srv.worker_pids()) == pids, st
            assert srv.get("/healthz").status == 200
            values, _ = support.parse_metrics(srv.metrics_text())
            assert values['conduitd_reloads_total{result="failed"}'] == 1
            assert values["conduitd_generation"] == 1
            srv.wait_ready()
    finally:
        cfg.remove()


def test_new_workers_failing_keep_old_generation():
    cfg = Config("CONDUIT_ACCESS_LOG=off\n")
    try:
        with harness.Server(workers=2, args=["--config", cfg.path]) as srv:
            srv.wait_ready()
            pids = sorted(srv.worker_pids())
            load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=1).start()
            try:
                load.wait_ok(100)
                cfg.write("CONDUIT_ACCESS_LOG=off\nDATABASE_URL=this is not a connection string\n")
                srv.signal(signal.SIGHUP)
                support.wait_for(lambda: srv.status()["reload"]["failed"] == 1, 10,
                                 what="the reload to be given up")
                # Every worker of the failed generation goes away.
                support.wait_for(lambda: sorted(srv.worker_pids()) == pids, 10,
                                 what="only the old workers left")
                load.wait_ok(100)
                st = srv.status()
                assert st["generation"] == 1 and not st["reload"]["in_progress"], st
                assert all(w["generation"] == 1 and w["state"] == "ready"
                           for w in st["workers"]), st["workers"]
                assert st["crash_loop"] == 0
                srv.wait_ready()
                out = srv.output()
                failed = support.log_events(out, "reload failed; the current generation keeps "
                                            "serving")
                assert len(failed) == 1 and failed[0]["failed_generation"] == 2, failed
                assert "cannot start" in failed[0]["why"]
                assert '"exit_status":2' in out
                # One new worker's exit ended the reload; the others' exits
                # are not counted as restarts (the failure is counted once,
                # in conduitd_reloads_total).
                assert st["restarts"]["config"] == 1, st["restarts"]
                # Fixed: the next HUP works.
                cfg.write("CONDUIT_ACCESS_LOG=off\n")
                srv.signal(signal.SIGHUP)
                wait_reload_done(srv, 3, 2)
                load.wait_ok(100)
            finally:
                load.stop()
            print(load.report())
            assert load.failures() == 0, load.report()
            values, _ = support.parse_metrics(srv.metrics_text())
            assert values["conduitd_generation"] == 3
            assert values['conduitd_reloads_total{result="ok"}'] == 1
            assert values['conduitd_reloads_total{result="failed"}'] == 1
    finally:
        cfg.remove()


def test_reload_grows_in_steps():
    cfg = Config("")
    srv = file_server(cfg, "CONDUIT_WORKERS=2\nCONDUIT_ACCESS_LOG=off\n")
    head = "CONDUIT_LISTEN=127.0.0.1:%d\nCONDUIT_ADMIN_LISTEN=127.0.0.1:%d\nCONDUIT_ACCESS_LOG=off\n"
    try:
        with srv:
            srv.wait_ready()
            load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=1).start()
            try:
                load.wait_ok(100)
                cfg.write(head % (srv.port, srv.admin_port) + "CONDUIT_WORKERS=6\n")
                srv.signal(signal.SIGHUP)
                wait_reload_done(srv, 2, 6)
                load.wait_ok(100)
                # The scoreboard has 6 slots (twice 2, at least 2 + 4).
                cfg.write(head % (srv.port, srv.admin_port) + "CONDUIT_WORKERS=7\n")
                srv.signal(signal.SIGHUP)
                support.wait_for(lambda: srv.status()["reload"]["failed"] == 1, 5,
                                 what="the reload to be refused")
                load.wait_ok(100)
            finally:
                load.stop()
            print(load.report())
            assert load.failures() == 0, load.report()
            out = srv.output()
            early = [e for e in support.log_events(out, "worker retiring")
                     if e["why"] == "reload: making room for the new generation"]
            assert len(early) == 2, early
            refused = support.log_events(out, "reload failed: more workers than the scoreboard "
                                         "has slots; restart (or USR2) to grow this far; the "
                                         "current generation keeps serving")
            assert len(refused) == 1 and refused[0]["slots"] == 6, refused
            st = srv.status()
            assert st["generation"] == 2 and len(st["workers"]) == 6, st
            assert sum(st["restarts"].values()) == 0, st["restarts"]
    finally:
        cfg.remove()


def test_listen_change_needs_restart():
    cfg = Config("")
    srv = file_server(cfg, "CONDUIT_WORKERS=1\nCONDUIT_ACCESS_LOG=off\n")
    try:
        with srv:
            srv.wait_ready()
            other = harness.free_port()
            cfg.write("CONDUIT_LISTEN=127.0.0.1:%d\nCONDUIT_ADMIN_LISTEN=127.0.0.1:%d\n"
                      "CONDUIT_WORKERS=1\nCONDUIT_ACCESS_LOG=off\nCONDUIT_BACKLOG=77\n"
                      % (other, srv.admin_port))
            srv.signal(signal.SIGHUP)
            wait_reload_done(srv, 2, 1)
            warn = support.log_events(srv.output(), "reload: this setting needs a restart or a "
                                      "binary upgrade (USR2); keeping it")
            got = {w["setting"]: w for w in warn}
            assert set(got) == {"CONDUIT_LISTEN", "CONDUIT_BACKLOG"}, warn
            assert got["CONDUIT_LISTEN"]["running"] == "127.0.0.1:%d" % srv.port
            assert got["CONDUIT_LISTEN"]["configured"] == "127.0.0.1:%d" % other
            assert got["CONDUIT_BACKLOG"]["configured"] == "77"
            # The other settings applied (a new generation serves), on the
            # running address; nothing listens on the new one.
            assert srv.get("/healthz").status == 200
            assert harness.port_is_free(other)
    finally:
        cfg.remove()


if __name__ == "__main__":
    harness.run_tests([test_hup_starts_new_generation_under_load,
                       test_old_worker_finishes_in_flight_request,
                       test_invalid_config_changes_nothing,
                       test_new_workers_failing_keep_old_generation,
                       test_reload_grows_in_steps, test_listen_change_needs_restart])
