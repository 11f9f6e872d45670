#!/usr/bin/env python3
"""test_zero_drop.py: the proof under load (issue 3), in the style of Puma's
restart_does_not_drop_connections.

A steady stream of GET /healthz requests runs the whole time (3 threads
opening a new connection per request, 3 threads reusing keep-alive
connections; loadgen.py) while the test, in turn:

  hup1..hup3   sends SIGHUP three times (a new generation each time)
  ttou, ttin   retires a worker, then adds one
  recycle      reloads into --max-requests 300 (+ jitter 100) and waits for
               six recycled workers, then reloads without it
  usr2         upgrades the binary (the same one, re-executed) with SIGUSR2;
               the old supervisor exits once the new one is ready
  after        a last stretch on the new supervisor

Every request's outcome is counted per phase. Target: zero failed requests
(no reset, no refused connection, no non-2xx, no timeout) in every one of
these phases. Keep-alive connections that the server closed while idle are
counted apart ("stale": seen closed before reuse; "retried": the request
met the close and was retried once, as HTTP clients do for a reused
connection that answers nothing, RFC 9112 9.3.1); they are printed, and
are not failures. A retiring worker keeps idle connections for a short
grace (HTTP_DRAIN_IDLE_GRACE_MS) and answers a request arriving meanwhile
with Connection: close, so with this steady load both counts are normally
0; a request sent exactly as a grace ends can still meet the close.

SIGKILL of a worker is reported separately, with two counts:
- in flight: the stream's requests that failed while one worker was killed
  under load (requests that worker had accepted), and, deterministically,
  requests the test put in flight on the victim before killing it;
- queued: requests waiting in the shared accept queue when the worker was
  killed (every worker stopped meanwhile, so nothing could take them):
  target zero, asserted.
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

ZERO_PHASES = ["warmup", "hup1", "hup2", "hup3", "ttou", "ttin", "recycle", "recycle-off",
               "usr2", "after"]
QUEUED, IN_FLIGHT = 12, 3


class Target:
    """The supervisor to signal and ask: changes with the upgrade."""

    def __init__(self, srv):
        self.srv = srv
        self.pid = srv.proc.pid

    def signal(self, sig):
        os.kill(self.pid, sig)

    def status(self):
        st = self.srv.status()
        assert st["pid"] == self.pid, "answered by %d, expected %d" % (st["pid"], self.pid)
        return st


def settled(t, gen, workers):
    """True when only generation gen runs, with this many ready workers."""
    st = t.status()
    ws = st["workers"]
    return (st["generation"] == gen and not st["reload"]["in_progress"] and len(ws) == workers
            and all(w["generation"] == gen and w["state"] == "ready" for w in ws))


def write_config(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def probe_sigkill(srv, t):
    """With the load paused: IN_FLIGHT requests in flight on the victim and
    QUEUED requests waiting in the accept queue when the victim is killed.
    Returns (in-flight failed, queued failed)."""
    victim, other = [w["pid"] for w in t.status()["workers"]]
    inflight, queued = [], []
    os.kill(other, signal.SIGSTOP)
    try:
        # Only the victim accepts: these requests are in flight on it (their
        # bodies are still to come).
        for _ in range(IN_FLIGHT):
            s = support.connect(srv.port, timeout=10)
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
            inflight.append(s)
        # All accepted (by the victim: the other worker is stopped) once the
        # queue is empty. (Its connection count would also include
        # connections of the load still lingering.)
        support.wait_for(lambda: support.parse_metrics(srv.metrics_text())[0][
            "conduitd_listen_queue_depth"] == 0, 5, what="the victim to accept the requests")
        time.sleep(0.05)
        os.kill(victim, signal.SIGSTOP)
        # Nobody accepts now: these wait in the shared queue.
        for _ in range(QUEUED):
            s = support.connect(srv.port, timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            queued.append(s)
        seen = []
        try:
            support.wait_for(lambda: seen.append(support.parse_metrics(srv.metrics_text())[0][
                "conduitd_listen_queue_depth"]) or seen[-1] == QUEUED, 5,
                what="%d queued" % QUEUED)
        except AssertionError as e:
            raise AssertionError("%s; depth seen %s; workers %s" % (
                e, sorted(set(seen)), t.status()["workers"]))
        os.kill(victim, signal.SIGKILL)
        support.wait_for(lambda: not support.pid_alive(victim), 5, what="the victim to die")
    finally:
        os.kill(other, signal.SIGCONT)

    def failed(socks, finish=b""):
        n = 0
        for s in socks:
            try:
                if finish:
                    s.sendall(finish)
                status, _, _ = support.read_response(s, timeout=10)
                n += 0 if 200 <= status < 300 else 1
            except (AssertionError, OSError):
                n += 1
            finally:
                s.close()
        return n
    return failed(inflight, b"cd"), failed(queued)


def test_zero_drop():
    cfg = tempfile.NamedTemporaryFile("w", prefix="conduitd-", suffix=".conf", delete=False)
    cfg.close()
    base = "CONDUIT_ACCESS_LOG=off\n"
    write_config(cfg.name, base)
    srv = harness.Server(workers=2, args=["--config", cfg.name])
    loads, new_pid = [], None
    try:
        srv.start()
        srv.wait_ready()
        t = Target(srv)
        load = loadgen.Load(srv.port, new_threads=3, keepalive_threads=3).start()
        loads.append(load)
        load.phase("warmup")
        load.wait_ok(300)
        gen = 1
        for k in (1, 2, 3):
            load.phase("hup%d" % k)
            t.signal(signal.SIGHUP)
            gen += 1
            support.wait_for(lambda: settled(t, gen, 2), 15, what="generation %d" % gen)
            load.wait_ok(300)
        load.phase("ttou")
        t.signal(signal.SIGTTOU)
        support.wait_for(lambda: settled(t, gen, 1), 15, what="one worker")
        load.wait_ok(300)
        load.phase("ttin")
        t.signal(signal.SIGTTIN)
        support.wait_for(lambda: settled(t, gen, 2), 15, what="two workers")
        load.wait_ok(300)

        load.phase("recycle")
        write_config(cfg.name, base + "CONDUIT_MAX_REQUESTS=300\nCONDUIT_MAX_REQUESTS_JITTER=100\n")
        t.signal(signal.SIGHUP)
        gen += 1
        support.wait_for(lambda: t.status()["restarts"]["recycle"] >= 6, 30, interval=0.1,
                         what="six recycled workers")
        recycled = t.status()["restarts"]["recycle"]
        load.phase("recycle-off")
        write_config(cfg.name, base)
        t.signal(signal.SIGHUP)
        gen += 1
        support.wait_for(lambda: settled(t, gen, 2), 15, what="generation %d" % gen)
        load.wait_ok(300)

        # SIGKILL under load: only what the victim had accepted may fail.
        load.phase("sigkill")
        victim = t.status()["workers"][0]
        os.kill(victim["pid"], signal.SIGKILL)
        support.wait_for(lambda: settled(t, gen, 2) and victim["pid"] not in [
            w["pid"] for w in t.status()["workers"]], 10, what="the replacement")
        load.wait_ok(300)
        load.stop()
        # The same with a known number of requests in flight and queued.
        probe_inflight, probe_queued = probe_sigkill(srv, t)
        support.wait_for(lambda: settled(t, gen, 2), 10, what="the probe's replacement")

        load = loadgen.Load(srv.port, new_threads=3, keepalive_threads=3).start()
        loads.append(load)
        load.phase("usr2")
        load.wait_ok(300)
        t.signal(signal.SIGUSR2)
        assert srv.proc.wait(timeout=30) == 0, srv.output()[-3000:]
        new_pid = srv.status()["pid"]
        t.pid = new_pid
        gen += 1
        support.wait_for(lambda: settled(t, gen, 2), 15, what="the new supervisor's workers")
        load.phase("after")
        load.wait_ok(300)
        load.stop()

        phases = {}
        for ld in loads:
            for name in ld.counts:
                phases.setdefault(name, ld)
        print("\n".join(ld.report() for ld in loads))
        zero = dict.fromkeys(loadgen.OUTCOMES + loadgen.NOTES, 0)
        for ld in loads:
            for k, v in ld.totals([p for p in ZERO_PHASES if p in ld.counts]).items():
                zero[k] += v
        killed = loads[0].totals(["sigkill"])
        failed_zero = sum(zero[k] for k in loadgen.FAILURES)
        killed_failed = sum(killed[k] for k in loadgen.FAILURES)
        print("ZERO-DROP SUMMARY")
        print("  HUP x3, TTOU, TTIN, recycling (%d workers), USR2: %d requests ok, %d failed "
              "(keep-alive closed while idle: %d seen before reuse, %d retried once)"
              % (recycled, zero["ok"], failed_zero, zero["stale"], zero["retried"]))
        print("  SIGKILL of a worker under load: %d requests ok, %d failed (in flight on the "
              "killed worker), %d keep-alive retried" % (killed["ok"], killed_failed,
                                                         killed["retried"]))
        print("  SIGKILL probe: in flight on the victim %d of %d failed; queued in the accept "
              "queue %d of %d failed" % (probe_inflight, IN_FLIGHT, probe_queued, QUEUED))
        for p in ZERO_PHASES:
            ld = phases[p]
            assert ld.failures([p]) == 0, "phase %s:\n%s" % (p, ld.report([p]))
            assert ld.ok([p]) >= 300, (p, ld.ok([p]))
        assert probe_queued == 0, "queued connections were lost"
        assert probe_inflight == IN_FLIGHT, "in-flight requests on a killed worker survived?"
        # Each client thread has at most one request in flight.
        assert killed_failed <= 6, loads[0].report(["sigkill"])
        terminate_at = time.monotonic()
        os.kill(new_pid, signal.SIGTERM)
        support.wait_for(lambda: not support.pid_alive(new_pid), 30,
                         what="the upgraded supervisor to stop")
        support.reap(new_pid)
        print("stopped in %.2fs" % (time.monotonic() - terminate_at))
        srv.check_clean()
    finally:
        for ld in loads:
            ld.stopping.set()
        if new_pid is not None and support.pid_alive(new_pid):
            os.kill(new_pid, signal.SIGKILL)
            support.wait_for(lambda: not support.pid_alive(new_pid), 5, what="the kill")
        if new_pid is not None:
            support.reap(new_pid)
        srv.kill()
        os.unlink(cfg.name)


if __name__ == "__main__":
    support.become_subreaper()
    harness.run_tests([test_zero_drop])
