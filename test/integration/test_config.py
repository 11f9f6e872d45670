#!/usr/bin/env python3
"""test_config.py: configuration at start-up.

- --check-config: 0 and "configuration ok" for good settings; exit 2 and one
  line naming the setting for a bad flag, a bad environment variable or a
  bad config file line;
- serving with a bad value exits 2 with one line before anything listens
  (the API port is held by the test, so an attempt to bind would fail
  differently);
- JWT_SECRET is required unless --dev, which generates one and says so, and
  must be at least 32 bytes (else exit 2 before listening; --dev exempt);
- --version and --help; a config file's settings take effect; a port in use
  is a clear error.
"""

import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402

# Long enough to serve with (JWT_SECRET needs 32 bytes or more).
SECRET = "config-test-secret-0123456789abcdef"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("CONDUIT_") or k in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL"))}
    env.update(extra)
    return env


def run(args, env, timeout=10):
    return subprocess.run([harness.binary()] + args, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def one_line(text):
    lines = [l for l in text.decode().splitlines() if l.strip()]
    assert len(lines) == 1, "expected one line, got %r" % lines
    return lines[0]


def test_check_config():
    env = clean_env(JWT_SECRET=SECRET)
    r = run(["--check-config"], env)
    assert r.returncode == 0 and b"configuration ok" in r.stdout, r
    cases = [
        (["--check-config", "--workers", "lots"], env, "--workers"),
        (["--check-config", "--listen", "1.2.3:80"], env, "--listen"),
        (["--check-config"], clean_env(JWT_SECRET=SECRET, CONDUIT_LOG_LEVEL="chatty"),
         "CONDUIT_LOG_LEVEL"),
        (["--check-config"], clean_env(JWT_SECRET=SECRET, CONDUIT_SHUTDOWN_TIMEOUT="-5"),
         "CONDUIT_SHUTDOWN_TIMEOUT"),
        (["--check-config", "--access-log", "sometimes"], env, "--access-log"),
        (["--check-config", "--bogus-flag"], env, "--bogus-flag"),
        (["--check-config"], clean_env(), "JWT_SECRET"),
        (["--check-config"], clean_env(JWT_SECRET="short"), "JWT_SECRET"),
    ]
    for args, e, name in cases:
        r = run(args, e)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        line = one_line(r.stderr)
        assert name in line, (name, line)
        assert line.startswith("conduitd: "), line


def test_config_file():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("# workers and release from a file\nCONDUIT_WORKERS=3\nCONDUIT_RELEASE=file-r1\n")
        good = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("CONDUIT_WORKERS=3\nCONDUIT_BACKLOG=huge\n")
        bad = f.name
    try:
        r = run(["--check-config", "--config", bad], clean_env(JWT_SECRET=SECRET))
        assert r.returncode == 2
        line = one_line(r.stderr)
        assert bad + ":2: CONDUIT_BACKLOG" in line, line
        with harness.Server(workers=1, args=["--config", good, "--access-log", "off"]) as srv:
            # The flag (--workers 1 from the harness) beats the file; the
            # file's release shows in /status and the build info.
            srv.wait_ready()
            st = srv.status()
            assert len(st["workers"]) == 1, st["workers"]
            assert st["release"] == "file-r1"
            assert 'version="file-r1"' in srv.metrics_text()
    finally:
        os.unlink(good)
        os.unlink(bad)


def test_bad_value_exits_before_listening():
    port, admin = harness.free_port(), harness.free_port()
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        for args, env, name in [
            (["--workers", "0"], clean_env(JWT_SECRET=SECRET), "--workers"),
            ([], clean_env(JWT_SECRET=SECRET, CONDUIT_MAX_BODY="1MB"), "CONDUIT_MAX_BODY"),
            ([], clean_env(), "JWT_SECRET"),
            ([], clean_env(JWT_SECRET="31-bytes-is-one-short-0123456789"[:31]), "JWT_SECRET"),
        ]:
            r = run(["--listen", "127.0.0.1:%d" % port, "--admin-listen",
                     "127.0.0.1:%d" % admin] + args, env)
            assert r.returncode == 2, (args, r.returncode, r.stderr)
            line = one_line(r.stderr)
            assert name in line and "bind" not in line, line
            # Nothing ever listened on the admin port either.
            assert harness.port_is_free(admin)
        # With good settings, a port in use is a runtime error naming it.
        r = run(["--listen", "127.0.0.1:%d" % port, "--admin-listen", "127.0.0.1:%d" % admin],
                clean_env(JWT_SECRET=SECRET))
        assert r.returncode == 1, r
        assert "CONDUIT_LISTEN" in r.stderr.decode() and "bind" in r.stderr.decode(), r.stderr
    finally:
        holder.close()


def test_dev_mode_generates_secret():
    srv = harness.Server(workers=1, dev=False, args=["--dev", "--access-log", "off"])
    with srv:
        srv.wait_ready()
        assert "generated JWT_SECRET" in srv.output()
    srv2 = harness.Server(workers=1, dev=False, env={"CONDUIT_DEV": "1"})
    with srv2:
        srv2.wait_ready()


def test_version_and_help():
    r = run(["--version"], clean_env())
    assert r.returncode == 0 and r.stdout.startswith(b"conduitd "), r
    r = run(["--help"], clean_env())
    assert r.returncode == 0
    for flag in (b"--listen", b"--admin-listen", b"--workers", b"--shutdown-timeout",
                 b"--log-level", b"--access-log", b"--check-config", b"migrate"):
        assert flag in r.stdout, flag


if __name__ == "__main__":
    harness.run_tests([test_check_config, test_config_file, test_bad_value_exits_before_listening,
                       test_dev_mode_generates_secret, test_version_and_help])
