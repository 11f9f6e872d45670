#!/usr/bin/env python3
"""test_promtool.py: `promtool check metrics` accepts the admin /metrics page
after API traffic of several kinds (200, 404, 405, 501) and a worker's death.
Skips (77) when promtool (Debian package prometheus) is not installed.
"""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import harness  # noqa: E402


def test_promtool_accepts_metrics():
    promtool = shutil.which("promtool")
    with harness.Server(workers=2, args=["--access-log", "off"]) as srv:
        srv.wait_ready()
        for path in ("/healthz", "/nope", "/healthz"):
            srv.get(path)
        srv.request("DELETE", "/healthz")
        support.raw_request(srv.port, b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n")
        os.kill(srv.worker_pids()[0], signal.SIGKILL)
        srv.wait_ready()
        text = srv.metrics_text()
        check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        assert check.returncode == 0, "promtool: %s\n%s" % (check.stdout.decode(), text)
        assert 'code="405"' in text and 'code="404"' in text


if __name__ == "__main__":
    if shutil.which("promtool") is None:
        harness.skip("promtool not installed (apt-get install prometheus)")
    harness.run_tests([test_promtool_accepts_metrics])
