#!/usr/bin/env python3
"""test_socket_activation.py: conduitd under systemd-socket-activate
(Debian's systemd package; no systemd as PID 1 needed), the way
conduitd.socket runs it.

- Activation: systemd-socket-activate holds the API socket and starts
  conduitd on the first connection (LISTEN_FDS=1, LISTEN_FDNAMES=api); that
  first connection, made before conduitd existed, is answered, and /status
  shows the API socket as inherited.
- Restart under load with zero refused connections: systemd-socket-activate
  execs its command once and cannot restart it, so the command is
  test/systemd/socket-holder.sh, which keeps the socket (as systemd does for
  a service with a .socket unit) and starts conduitd again whenever it
  exits. conduitd is stopped with TERM (what `systemctl restart` sends)
  twice under load; every connection made meanwhile waits in the socket's
  queue and is answered by the next conduitd: 0 refused, 0 failed.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import loadgen  # noqa: E402
import support  # noqa: E402
from support import harness  # noqa: E402

HOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "socket-holder.sh")


class ActivatedServer(harness.Server):
    """conduitd started by systemd-socket-activate on the API port (through
    socket-holder.sh when restartable). The admin port is bound by conduitd."""

    def __init__(self, restartable, **kw):
        super().__init__(**kw)
        self.restartable = restartable
        self.pids_file = tempfile.NamedTemporaryFile(prefix="conduitd-holder-", delete=False).name
        self.env["HOLDER_PIDS"] = self.pids_file

    def command(self):
        # systemd-socket-activate passes on only the variables named by -E.
        keep = [k for k in self.env if k in ("PATH", "HOLDER_PIDS", "JWT_SECRET",
                                             "DATABASE_URL", "REDIS_URL")
                or k.startswith(("CONDUIT_", "ASAN_", "UBSAN_", "LSAN_"))]
        cmd = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % self.port, "--fdname=api"]
        for k in keep:
            cmd += ["-E", k]
        if self.restartable:
            cmd.append(HOLDER)
        return cmd + super().command()

    def start_activated(self):
        """Start, activate with one connection made before conduitd exists,
        wait until ready."""
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        status = first_request(self.port)
        assert status == 200, "the activating request got %d:\n%s" % (status, self.output()[-3000:])
        self.wait_ready(15)

    def holder_pids(self):
        try:
            with open(self.pids_file) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def cleanup(self):
        self.kill()
        for pid in self.holder_pids():
            if support.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if os.path.exists(self.pids_file):
            os.unlink(self.pids_file)


def first_request(port, timeout=15):
    """GET /healthz on a connection made before any conduitd exists (the
    connection that activates the service); returns the response status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = support.connect(port, timeout=timeout)
            break
        except ConnectionRefusedError:
            # systemd-socket-activate itself has not bound yet.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, _, _ = support.read_response(sock, timeout)
    return status


def test_first_connection_activates():
    srv = ActivatedServer(restartable=False, workers=1)
    try:
        srv.start_activated()
        st = srv.status()
        assert st["sockets"]["api"] == "inherited", st["sockets"]
        assert st["pid"] == srv.proc.pid, "conduitd is not the process systemd-socket-activate exec'd"
        assert srv.stop(timeout=30) == 0, srv.output()[-3000:]
        srv.check_clean()
    finally:
        srv.cleanup()


def test_restart_under_load_refuses_nothing():
    srv = ActivatedServer(restartable=True, workers=2, args=["--access-log", "off"])
    load = None
    try:
        srv.start_activated()
        load = loadgen.Load(srv.port, new_threads=3, keepalive_threads=2).start()
        load.wait_ok(200)
        supervisors = []
        for n in range(2):
            load.phase("restart %d" % (n + 1))
            old = srv.status()["pid"]
            supervisors.append(old)
            os.kill(old, signal.SIGTERM)  # systemctl restart: TERM, wait, start again
            support.wait_for(lambda: not support.pid_alive(old), 30,
                             what="conduitd %d to exit after TERM" % old)

            def new_ready():
                try:
                    st = srv.status()
                except (OSError, ValueError):
                    return False
                return st["pid"] != old and srv.get("/readyz", admin=True).status == 200
            support.wait_for(new_ready, 30, interval=0.05, what="the restarted conduitd ready")
            st = srv.status()
            assert st["sockets"]["api"] == "inherited", st["sockets"]
            load.wait_ok(200)
        load.phase("after")
        load.wait_ok(200)
        load.stop()
        report = load.report()
        print(report)
        totals = load.totals()
        across = load.ok([p for p in load.counts if p.startswith("restart")])
        assert totals["refused"] == 0, "%d connections refused\n%s" % (totals["refused"], report)
        assert load.failures() == 0, "%d requests failed\n%s" % (load.failures(), report)
        assert across >= 400, "too few requests across the restarts (%d)" % across
        pids = srv.holder_pids()
        assert len(pids) == 3 and len(set(pids)) == 3, "conduitd starts: %r" % pids
        assert supervisors == pids[:2], (supervisors, pids)
        assert srv.stop(timeout=40) == 0, srv.output()[-3000:]
        srv.check_clean()
    finally:
        if load is not None:
            load.stopping.set()
        srv.cleanup()


if __name__ == "__main__":
    if not shutil.which("systemd-socket-activate"):
        harness.skip("systemd-socket-activate not installed (Debian package systemd)")
    harness.run_tests([test_first_connection_activates, test_restart_under_load_refuses_nothing])
