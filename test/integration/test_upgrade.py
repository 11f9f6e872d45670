#!/usr/bin/env python3
"""test_upgrade.py: binary upgrade on SIGUSR2 and socket activation (issue 3,
behaviour 4).

- USR2 under load: the supervisor execs its binary (the same one here: the
  test builds nothing new) with the listening sockets (LISTEN_FDS,
  LISTEN_PID, LISTEN_FDNAMES=api:admin); the new supervisor adopts them,
  starts its workers and says it is ready; the old one then drains its
  workers and exits 0. Nothing fails meanwhile, the new supervisor answers
  /status on the same admin port (another pid, sockets "inherited", the
  generation one above the old one's), and stops cleanly on SIGTERM.
- A new binary that cannot come up leaves the old one serving: with an
  invalid setting in the config file the new process exits 2 at once; with
  workers that cannot start (an unparsable DATABASE_URL) it gives up by
  itself and exits 1. Either way the old supervisor logs the failure,
  counts it in conduitd_upgrades_total{result="failed"}, keeps its workers,
  and every admin answer comes from it (the new process never opened the
  shared admin port).
- Socket activation: conduitd started with LISTEN_FDS (no names: matched by
  address) serves the sockets it was given, including a connection that was
  queued before it started.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
import support  # noqa: E402
from support import harness  # noqa: E402


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def make_config(text):
    f = tempfile.NamedTemporaryFile("w", prefix="conduitd-", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def terminate(pid, timeout=15):
    """SIGTERM a process that is not our child and wait until it is gone."""
    if not support.pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    support.wait_for(lambda: not support.pid_alive(pid), timeout,
                     what="process %d to exit after SIGTERM" % pid)
    support.reap(pid)


def test_usr2_upgrade_under_load():
    cfg = make_config("CONDUIT_ACCESS_LOG=off\n")
    srv = harness.Server(workers=2, args=["--config", cfg])
    new_pid = None
    try:
        srv.start()
        srv.wait_ready()
        old_pid = srv.proc.pid
        old_workers = srv.worker_pids()
        st = srv.status()
        assert st["pid"] == old_pid and st["sockets"] == {"api": "bound", "admin": "bound"}, st
        load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=2).start()
        try:
            load.wait_ok(200)
            load.phase("upgrade")
            srv.signal(signal.SIGUSR2)
            # The old supervisor exits 0 once the new one is ready and its
            # own workers have drained.
            assert srv.proc.wait(timeout=30) == 0, srv.output()[-3000:]
            load.wait_ok(300)
            st = srv.status()
            new_pid = st["pid"]
            load.phase("after")
            load.wait_ok(200)
        finally:
            load.stop()
        print(load.report())
        assert new_pid != old_pid
        assert st["sockets"] == {"api": "inherited", "admin": "inherited"}, st
        assert st["generation"] == 2, st["generation"]
        assert not set(srv.worker_pids()) & set(old_workers)
        assert all(w["generation"] == 2 for w in st["workers"])
        support.wait_for(lambda: not any(support.pid_alive(p) for p in old_workers), 5,
                         what="the old workers to be gone")
        assert load.failures() == 0, load.report()
        out = srv.output()
        assert support.log_events(out, "binary upgrade: started the new binary", new_pid=new_pid)
        assert support.log_events(out, "binary upgrade: ready; told the old supervisor",
                                  pid=new_pid)
        adopted = support.log_events(out, "adopted an inherited listening socket", pid=new_pid)
        assert sorted(e["role"] for e in adopted) == ["admin", "api"], adopted
        stopped = support.log_events(out, "conduitd stopped", pid=old_pid)
        assert stopped and stopped[0]["graceful"] is True, stopped
        srv.wait_ready()
        values, _ = support.parse_metrics(srv.metrics_text())
        assert values["conduitd_generation"] == 2
        # A second upgrade from the new supervisor works the same way.
        os.kill(new_pid, signal.SIGUSR2)
        third = support.wait_for(
            lambda: (lambda s: s["pid"] if s["pid"] not in (old_pid, new_pid) else None)(
                srv.status()), 15, what="a third supervisor")
        support.wait_for(lambda: not support.pid_alive(new_pid), 15,
                         what="the second supervisor to exit")
        support.reap(new_pid)
        new_pid = third
        assert srv.status()["generation"] == 3
        assert srv.get("/healthz").status == 200
        terminate(new_pid)
        assert harness.port_is_free(srv.port) and harness.port_is_free(srv.admin_port)
        srv.check_clean()
    finally:
        if new_pid is not None and support.pid_alive(new_pid):
            os.kill(new_pid, signal.SIGKILL)
            support.wait_for(lambda: not support.pid_alive(new_pid), 5, what="the kill")
        if new_pid is not None:
            support.reap(new_pid)
        srv.kill()
        os.unlink(cfg)


def failed_upgrade(config_after, new_status):
    """USR2 with a config that stops the new binary from coming up."""
    cfg = make_config("CONDUIT_ACCESS_LOG=off\n")
    srv = harness.Server(workers=2, args=["--config", cfg])
    try:
        srv.start()
        srv.wait_ready()
        pid = srv.proc.pid
        workers = sorted(srv.worker_pids())
        write(cfg, config_after)
        load = loadgen.Load(srv.port, new_threads=2, keepalive_threads=1).start()
        try:
            load.wait_ok(100)
            srv.signal(signal.SIGUSR2)
            answered_by = set()

            def failed():
                st = srv.status()
                answered_by.add(st["pid"])
                return st if st["upgrade"]["failed"] == 1 else None
            st = support.wait_for(failed, 20, what="the upgrade to fail")
            new = support.log_events(srv.output(), "binary upgrade: started the new binary")
            assert len(new) == 1, new
            support.wait_for(lambda: not support.pid_alive(new[0]["new_pid"]), 10,
                             what="the new binary to exit")
            load.wait_ok(100)
        finally:
            load.stop()
        print(load.report())
        assert load.failures() == 0, load.report()
        assert answered_by == {pid}, answered_by
        assert srv.proc.poll() is None, "the old supervisor exited"
        assert st["upgrade"]["state"] == "none" and st["pid"] == pid
        assert sorted(srv.worker_pids()) == workers
        srv.wait_ready()
        out = srv.output()
        failed_log = support.log_events(out, "binary upgrade failed; this supervisor keeps serving")
        assert len(failed_log) == 1, out[-3000:]
        gone = support.log_events(out, "binary upgrade: the new supervisor exited")
        assert gone and ("status %d" % new_status) in gone[0]["why"], gone
        values, _ = support.parse_metrics(srv.metrics_text())
        assert values['conduitd_upgrades_total{result="failed"}'] == 1
        assert values['conduitd_upgrades_total{result="ok"}'] == 0
        assert srv.stop() == 0
        srv.check_clean()
        return out
    finally:
        srv.kill()
        os.unlink(cfg)


def test_usr2_invalid_config_keeps_old():
    out = failed_upgrade("CONDUIT_ACCESS_LOG=off\nCONDUIT_WORKERS=lots\n", 2)
    assert "CONDUIT_WORKERS: invalid value" in out


def test_usr2_workers_cannot_start_keeps_old():
    out = failed_upgrade("CONDUIT_ACCESS_LOG=off\nDATABASE_URL=this is not a connection string\n",
                         1)
    assert support.log_events(out, "binary upgrade: the new binary's workers cannot start; "
                              "giving up, the old supervisor keeps serving")


# Runs in the child: put the passed sockets at fds 3 and 4, name our own pid
# in LISTEN_PID and become conduitd (exec keeps the pid).
LAUNCHER = """
import os, sys
a, b = int(os.environ.pop("T_API_FD")), int(os.environ.pop("T_ADMIN_FD"))
a2, b2 = os.dup(a), os.dup(b)
os.dup2(a2, 3); os.dup2(b2, 4)
for fd in (a, b, a2, b2):
    if fd > 4:
        os.close(fd)
os.set_inheritable(3, True)
os.set_inheritable(4, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "2"
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_socket_activation():
    srv = harness.Server(workers=2, args=["--access-log", "off"])
    api = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    adm = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    queued = None
    try:
        # The "service manager" binds both sockets; the admin one first, so
        # the descriptor order does not give the roles away.
        for s, port in ((adm, srv.admin_port), (api, srv.port)):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(64)
        # A client connects before conduitd exists: its connection waits in
        # the queue of the socket conduitd will be given.
        queued = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        queued.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        env = dict(srv.env, T_API_FD=str(adm.fileno()), T_ADMIN_FD=str(api.fileno()))
        # Swapped on purpose: fd 3 is the admin socket, fd 4 the API one;
        # without names conduitd must match them by address.
        srv.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER] + srv.command(), env=env,
                                    stdout=srv.log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, pass_fds=(api.fileno(),
                                                                        adm.fileno()))
        # Our copies are not needed any more: conduitd holds the sockets.
        api.close()
        adm.close()
        status, _, body = support.read_response(queued, timeout=10)
        assert status == 200 and body == b'{"status":"ok"}', (status, body)
        support.wait_for(lambda: srv.get("/healthz", admin=True, timeout=2).status == 200, 10,
                         what="the admin port")
        srv.wait_ready()
        st = srv.status()
        assert st["sockets"] == {"api": "inherited", "admin": "inherited"}, st
        assert st["pid"] == srv.proc.pid
        for _ in range(20):
            assert srv.get("/healthz").status == 200
        adopted = support.log_events(srv.output(), "adopted an inherited listening socket")
        assert {(e["fd"], e["role"]) for e in adopted} == {(3, "admin"), (4, "api")}, adopted
        assert all(e["matches_setting"] for e in adopted)
        assert srv.stop() == 0
        assert harness.port_is_free(srv.port)
        srv.check_clean()
    finally:
        if queued is not None:
            queued.close()
        api.close()
        adm.close()
        srv.kill()


if __name__ == "__main__":
    support.become_subreaper()
    harness.run_tests([test_usr2_upgrade_under_load, test_usr2_invalid_config_keeps_old,
                       test_usr2_workers_cannot_start_keeps_old, test_socket_activation])
