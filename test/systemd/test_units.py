#!/usr/bin/env python3
"""test_units.py: the systemd units that `make install` installs
(systemd/conduitd.service, made from its .in, and systemd/conduitd.socket).

- `systemd-analyze verify` accepts both, with ExecStart pointed at the
  conduitd under test (verify checks that the binary exists) and the man
  page of Documentation= found in the source tree (when man is installed);
  any warning about our files is a failure;
- `systemd-analyze security --offline=yes` rates the service's exposure at
  2.0 or below (the hardening is there: a unit without it rates 9.6);
- the service matches what conduitd does: Type=notify only if the binary
  knows NOTIFY_SOCKET (it does not: Type=exec), ExecReload sends HUP,
  KillSignal is TERM (the graceful stop), TimeoutStopSec above the default
  drain deadline, exit status 2 (bad configuration) not restarted;
- the socket hands over one stream socket named "api", the name
  supervisor/listen.c adopts.

Needs systemd-analyze (Debian's systemd package), not systemd as PID 1.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

DRAIN_DEFAULT = 25  # CONDUIT_SHUTDOWN_TIMEOUT's default (README, Configuration)


def unit_files():
    """(service text, socket text) of the units the build made."""
    build = os.environ.get("CONDUIT_BUILDDIR") or os.getcwd()
    service = os.path.join(build, "systemd", "conduitd.service")
    socket_unit = os.path.join(harness.srcdir(), "systemd", "conduitd.socket")
    if not os.path.exists(service):
        raise AssertionError("the build made no %s" % service)
    with open(service) as f, open(socket_unit) as g:
        return f.read(), g.read()


def settings(text):
    """KEY=VALUE lines of a unit (the last one of each key wins)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def staged_units(workdir):
    """Copies of both units in workdir, ExecStart pointed at the binary under test."""
    service, socket_unit = unit_files()
    service = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + harness.binary(), service)
    with open(os.path.join(workdir, "conduitd.service"), "w") as f:
        f.write(service)
    with open(os.path.join(workdir, "conduitd.socket"), "w") as f:
        f.write(socket_unit)
    return os.path.join(workdir, "conduitd.service"), os.path.join(workdir, "conduitd.socket")


def analyze(args, workdir):
    env = dict(os.environ)
    if shutil.which("man"):
        man8 = os.path.join(workdir, "man", "man8")
        os.makedirs(man8, exist_ok=True)
        shutil.copy(os.path.join(harness.srcdir(), "docs", "conduitd.8"), man8)
        env["MANPATH"] = os.path.join(workdir, "man")
    else:
        args = args[:1] + ["--man=no"] + args[1:]
    return subprocess.run(["systemd-analyze"] + args, cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                          universal_newlines=True)


def test_systemd_analyze_verify():
    with tempfile.TemporaryDirectory() as d:
        service, socket_unit = staged_units(d)
        r = analyze(["verify", service, socket_unit], d)
        ours = [line for line in r.stdout.splitlines() if "conduitd" in line]
        assert r.returncode == 0 and not ours, "systemd-analyze verify (exit %d):\n%s" % (
            r.returncode, r.stdout)


def test_hardening_exposure():
    with tempfile.TemporaryDirectory() as d:
        service, _ = staged_units(d)
        r = analyze(["security", "--offline=yes", service], d)
        m = re.search(r"Overall exposure level for conduitd\.service: ([0-9.]+)", r.stdout)
        assert m, "no exposure level in:\n" + r.stdout[-2000:]
        assert float(m.group(1)) <= 2.0, "exposure %s > 2.0:\n%s" % (m.group(1), r.stdout[-4000:])


def test_service_matches_conduitd():
    service, _ = unit_files()
    s = settings(service)
    with open(harness.binary(), "rb") as f:
        speaks_notify = b"NOTIFY_SOCKET" in f.read()
    unit_type = s.get("Type", ["simple"])[-1]
    if speaks_notify:
        assert unit_type == "notify", "conduitd speaks sd_notify: Type=%s" % unit_type
    else:
        assert unit_type in ("exec", "simple"), (
            "Type=%s, but conduitd does not speak sd_notify (no NOTIFY_SOCKET in it)" % unit_type)
    assert re.search(r"kill -HUP \$MAINPID", s.get("ExecReload", [""])[-1]), s.get("ExecReload")
    assert s.get("KillSignal", ["SIGTERM"])[-1] == "SIGTERM", s.get("KillSignal")
    assert s.get("KillMode", ["control-group"])[-1] == "mixed", "KillMode=%s: TERM must reach " \
        "the supervisor alone, which drains its workers" % s.get("KillMode")
    assert int(s["TimeoutStopSec"][-1]) > DRAIN_DEFAULT, s.get("TimeoutStopSec")
    assert "2" in s.get("RestartPreventExitStatus", [""])[-1].split(), \
        "exit status 2 (bad configuration) must not be restarted in a loop"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "DynamicUser"):
        assert s.get(key, ["no"])[-1] == "yes", "%s is not yes" % key
    assert s.get("ProtectSystem", [""])[-1] == "strict", s.get("ProtectSystem")
    assert s.get("RestrictAddressFamilies"), "no RestrictAddressFamilies"


def test_socket_names_api():
    _, socket_unit = unit_files()
    s = settings(socket_unit)
    assert len(s.get("ListenStream", [])) == 1, s.get("ListenStream")
    assert s.get("FileDescriptorName") == ["api"], s.get("FileDescriptorName")
    assert s.get("Service") == ["conduitd.service"], s.get("Service")
    assert s.get("ReusePort", ["no"])[-1] == "no", "SO_REUSEPORT: per-socket queues lose connections"


if __name__ == "__main__":
    if not shutil.which("systemd-analyze"):
        harness.skip("systemd-analyze not installed (Debian package systemd)")
    harness.run_tests([test_systemd_analyze_verify, test_hardening_exposure,
                       test_service_matches_conduitd, test_socket_names_api])
