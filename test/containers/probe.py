#!/usr/bin/env python3
"""probe.py: the HTTP side of the containers stage (test/containers/check.sh):
requests to conduitd in a container through its port published on the
host's loopback. Plain sockets and urllib, no retries behind our back.

  probe.py wait-ready ADMIN_PORT SECONDS
  probe.py api-write API_PORT STATE       register, create an article, read it;
                                          the user and the slug go to STATE (JSON)
  probe.py api-read API_PORT STATE        log in as STATE's user, read its article
  probe.py graceful-stop API_PORT ADMIN_PORT -- CMD
                                          a request in flight (its body half sent)
                                          while CMD stops the container: once TERM
                                          has arrived (/readyz 503) the rest is sent;
                                          the request must be answered with
                                          Connection: close, CMD must exit 0, and
                                          the container be gone under 5 s after TERM
  probe.py hup-under-load API_PORT ADMIN_PORT SECONDS -- CMD
                                          bounded load on API_PORT; CMD sends HUP;
                                          a new generation must become ready with
                                          0 failed requests

Exit 0 when the check holds, 1 when it does not (with the reason on stderr).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import httpwire  # noqa: E402
import loadgen  # noqa: E402

SLOW_HEAD = (b"POST /no/such/route HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Content-Length: 10\r\n\r\n")


def fail(msg):
    print("probe: " + msg, file=sys.stderr)
    sys.exit(1)


def call(port, method, path, body=None, token=None, timeout=15):
    """One JSON request: (status, parsed body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Token " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


def get_json(port, path, timeout=2):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(admin_port, seconds):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % admin_port, timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.2)
    fail("admin port %d: /readyz not 200 within %ss (last: %s)" % (admin_port, seconds, last))


def api_write(port, state_file):
    name = "ct%d%d" % (os.getpid(), int(time.time() * 1000) % 100000)
    user = {"username": name, "email": name + "@example.com", "password": "containers-pass-1"}
    st, doc = call(port, "POST", "/api/users", {"user": user})
    if st != 201:
        fail("register: HTTP %d %r" % (st, doc))
    token = doc["user"]["token"]
    art = {"title": "Kept across down and up " + name, "description": "containers stage",
           "body": "written through compose", "tagList": ["containers"]}
    st, doc = call(port, "POST", "/api/articles", {"article": art}, token=token)
    if st != 201:
        fail("create article: HTTP %d %r" % (st, doc))
    slug = doc["article"]["slug"]
    st, doc = call(port, "GET", "/api/articles/" + slug)
    if st != 200 or doc["article"]["title"] != art["title"]:
        fail("read article %s: HTTP %d %r" % (slug, st, doc))
    with open(state_file, "w") as f:
        json.dump({"user": user, "slug": slug, "title": art["title"]}, f)
    print("probe: registered %s, created and read article %s" % (name, slug))


def api_read(port, state_file):
    with open(state_file) as f:
        state = json.load(f)
    user = state["user"]
    st, doc = call(port, "POST", "/api/users/login",
                   {"user": {"email": user["email"], "password": user["password"]}})
    if st != 200:
        fail("login as %s: HTTP %d %r" % (user["username"], st, doc))
    st, doc = call(port, "GET", "/api/articles/" + state["slug"], token=doc["user"]["token"])
    if st != 200 or doc["article"]["title"] != state["title"]:
        fail("read article %s: HTTP %d %r" % (state["slug"], st, doc))
    print("probe: logged in as %s and read article %s" % (user["username"], state["slug"]))


def read_response(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head: %r" % data)
        data += chunk
    head, _, _ = data.partition(b"\r\n\r\n")
    return httpwire.parse_head(head)


def readyz_status(admin_port):
    """/readyz's status, or None when the admin port does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % admin_port, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return None


def graceful_stop(port, admin_port, cmd):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(SLOW_HEAD + b"12345")
    time.sleep(0.5)  # let a worker (behind docker-proxy) read what was sent
    stopper = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # TERM has reached conduitd when readiness turns false (the admin port
    # keeps answering during the drain). The stop command itself may take a
    # while to get there (Compose v1 is a Python program).
    deadline = time.monotonic() + 20
    while readyz_status(admin_port) == 200:
        if stopper.poll() is not None or time.monotonic() > deadline:
            fail("%s: readiness never turned false while the request was in flight (rc %s)"
                 % (" ".join(cmd), stopper.poll()))
        time.sleep(0.05)
    term_seen = time.monotonic()
    if stopper.poll() is not None:
        fail("%s returned before the request in flight was answered (rc %d)"
             % (" ".join(cmd), stopper.returncode))
    try:
        sock.sendall(b"67890")
        status, headers = read_response(sock, 5)
    except (OSError, AssertionError) as e:
        stopper.wait(60)
        fail("the request in flight was not answered during the stop: %s" % e)
    finally:
        sock.close()
    try:
        out = stopper.communicate(timeout=30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        stopper.kill()
        fail("%s did not return within 30 s" % " ".join(cmd))
    elapsed = time.monotonic() - term_seen
    print("probe: in-flight request answered %d (Connection: %s); %s exited %d, %.1f s after TERM"
          % (status, headers.get("connection"), " ".join(cmd), stopper.returncode, elapsed))
    if status != 404 or headers.get("connection") != "close":
        fail("expected 404 with Connection: close, got %d %r" % (status, headers))
    if stopper.returncode != 0:
        fail("%s exited %d: %s" % (" ".join(cmd), stopper.returncode, out))
    if elapsed >= 5.0:
        fail("the stop took %.1f s after TERM (limit 5 s): not a graceful TERM but the KILL "
             "after the grace period?" % elapsed)


def hup_under_load(port, admin_port, seconds, cmd):
    before = get_json(admin_port, "/status")["generation"]
    load = loadgen.Load(port, new_threads=2, keepalive_threads=2, path="/api/tags", pause=0.005)
    load.start()
    try:
        load.wait_ok(100, timeout=20)
        load.phase("reload")
        rc = subprocess.call(cmd)
        if rc != 0:
            fail("%s exited %d" % (" ".join(cmd), rc))
        deadline = time.monotonic() + 30
        while True:
            st = get_json(admin_port, "/status")
            workers = st["workers"]
            if (st["generation"] > before and workers
                    and all(w["state"] == "ready" and w["generation"] == st["generation"]
                            for w in workers)):
                break
            if time.monotonic() > deadline:
                fail("no new ready generation 30 s after HUP: %r" % st)
            time.sleep(0.1)
        load.phase("after")
        time.sleep(seconds)
    finally:
        load.stop()
    report = load.report()
    print(report)
    failures, ok = load.failures(), load.ok()
    print("probe: HUP reload from generation %d to %d: %d requests ok, %d failed"
          % (before, st["generation"], ok, failures))
    if failures:
        fail("%d requests failed during the reload" % failures)
    if load.ok(["reload", "after"]) < 50:
        fail("too few requests during and after the reload to judge (%d)"
             % load.ok(["reload", "after"]))


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    what, args = argv[1], argv[2:]
    cmd = args[args.index("--") + 1:] if "--" in args else []
    if what == "wait-ready":
        wait_ready(int(args[0]), float(args[1]))
    elif what == "api-write":
        api_write(int(args[0]), args[1])
    elif what == "api-read":
        api_read(int(args[0]), args[1])
    elif what == "graceful-stop":
        graceful_stop(int(args[0]), int(args[1]), cmd)
    elif what == "hup-under-load":
        hup_under_load(int(args[0]), int(args[1]), float(args[2]), cmd)
    else:
        fail("unknown check %r" % what)


if __name__ == "__main__":
    main(sys.argv)
