#!/usr/bin/env python3
"""e2e-smoke.py: end-to-end check of a deployed conduitd through its public URL.

    python3 test/deploy/e2e-smoke.py BASE_URL        (BASE_URL without /api)
    python3 test/deploy/e2e-smoke.py --traffic SECONDS [--rate R] BASE_URL

The deploy workflow runs it against staging right after the rollout (.github/workflows/deploy.yml);
a failure makes the workflow roll the deployment back. It walks one user's story through the real
stack (load balancer, conduitd, PostgreSQL, Redis): register, read the current user, create an
article, read it back by slug and in the author's feed, comment, favorite, then delete the article
and check that it is gone. Every user and article it creates has a unique name, and it deletes the
article it wrote. Python 3 standard library only; bounded by a timeout per request and a retry
budget for the first request (a fresh rollout behind a load balancer).

Prints one line per step and "e2e: N passed, M failed"; exits 1 if any step failed.

--traffic: read-only API traffic (GET /api/tags, /api/articles, one article) at R requests per
second (default 2) for SECONDS, for the rollout guard to judge the new version by: staging has
no other traffic, and the guard's error and latency triggers need at least 0.5 requests per
second of the version (docs/rollback.md). It judges nothing itself; it prints "traffic: N
requests, by status ..." and exits 1 only if no request got an answer at all.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid

TIMEOUT = 10  # seconds per request


class Client:
    """A minimal JSON client for the Conduit API under BASE_URL/api."""

    def __init__(self, base):
        self.base = base.rstrip("/") + "/api"
        self.token = None

    def call(self, method, path, body=None):
        """Send one request; return (status, parsed JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Token " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


def traffic(base, seconds, rate):
    """Send read-only GETs at `rate` per second for `seconds`; the exit status."""
    c = Client(base)
    paths = ["/tags", "/articles?limit=10", "/articles?limit=10&offset=10"]
    try:
        status, body = c.call("GET", "/articles?limit=1")
    except (urllib.error.URLError, OSError):
        status, body = None, None
    slug = (((body or {}).get("articles") or [{}])[0] or {}).get("slug") if status == 200 else None
    if slug:
        paths.append("/articles/" + slug)
    by_status = {}
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        try:
            status, _ = c.call("GET", paths[n % len(paths)])
        except (urllib.error.URLError, OSError):
            status = "error"
        by_status[status] = by_status.get(status, 0) + 1
        n += 1
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
    answered = sum(v for k, v in by_status.items() if k != "error")
    print("traffic: %d requests in %ds, by status %s" % (
        n, time.monotonic() - start, ", ".join("%s: %d" % (k, v) for k, v in sorted(
            by_status.items(), key=lambda kv: str(kv[0])))), flush=True)
    return 0 if answered else 1


def main(argv):
    """Run the story (or --traffic) against the base URL; return the exit status."""
    if len(argv) >= 3 and argv[1] == "--traffic":
        args = argv[2:]
        try:
            seconds = float(args.pop(0))
            rate = 2.0
            if args[:1] == ["--rate"]:
                rate = float(args[1])
                args = args[2:]
        except (IndexError, ValueError):
            args = []
        if len(args) == 1 and args[0].startswith(("http://", "https://")) and seconds > 0 \
                and 0 < rate <= 50:
            return traffic(args[0], seconds, rate)
        print("usage: e2e-smoke.py --traffic SECONDS [--rate R (<= 50)] BASE_URL", file=sys.stderr)
        return 2
    if len(argv) != 2 or not argv[1].startswith(("http://", "https://")):
        print("usage: e2e-smoke.py BASE_URL (http[s]://host[:port], without /api)", file=sys.stderr)
        return 2
    c = Client(argv[1])
    results = []

    def step(name, ok, detail=""):
        ok = bool(ok)
        results.append(ok)
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + detail))
        return ok

    # The first request may meet a load balancer that is still adding the new pods.
    status, body = None, None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body = c.call("GET", "/tags")
            if status == 200:
                break
        except (urllib.error.URLError, OSError) as err:
            body = str(err)
        time.sleep(2)
    if not step("GET /api/tags", status == 200 and isinstance((body or {}).get("tags"), list),
                "status %s, body %r" % (status, body)):
        print("e2e: %d passed, %d failed" % (results.count(True), results.count(False)))
        return 1

    name = "e2e" + uuid.uuid4().hex[:12]
    status, body = c.call("POST", "/users", {"user": {
        "username": name, "email": name + "@example.com", "password": "e2e-" + uuid.uuid4().hex}})
    user = (body or {}).get("user") or {}
    step("register", status in (200, 201) and user.get("username") == name and user.get("token"),
         "status %s, body %r" % (status, body))
    c.token = user.get("token")

    status, body = c.call("GET", "/user")
    step("current user", status == 200 and ((body or {}).get("user") or {}).get("username") == name,
         "status %s" % status)

    title = "E2E smoke " + uuid.uuid4().hex[:8]
    status, body = c.call("POST", "/articles", {"article": {
        "title": title, "description": "deploy check", "body": "written by e2e-smoke.py",
        "tagList": ["e2e"]}})
    article = (body or {}).get("article") or {}
    slug = article.get("slug")
    step("create article", status in (200, 201) and article.get("title") == title and slug,
         "status %s, body %r" % (status, body))
    if slug:
        status, body = c.call("GET", "/articles/" + slug)
        step("read article by slug", status == 200
             and ((body or {}).get("article") or {}).get("title") == title, "status %s" % status)

        status, body = c.call("GET", "/articles?author=" + name)
        listed = [a.get("slug") for a in (body or {}).get("articles") or []]
        step("list articles by author", status == 200 and slug in listed,
             "status %s, slugs %r" % (status, listed))

        status, body = c.call("POST", "/articles/%s/comments" % slug,
                              {"comment": {"body": "e2e comment"}})
        step("comment", status in (200, 201)
             and ((body or {}).get("comment") or {}).get("body") == "e2e comment", "status %s" % status)

        status, body = c.call("POST", "/articles/%s/favorite" % slug)
        fav = (body or {}).get("article") or {}
        step("favorite", status == 200 and fav.get("favorited") is True
             and fav.get("favoritesCount") == 1, "status %s, body %r" % (status, body))

        status, _ = c.call("DELETE", "/articles/" + slug)
        step("delete article", status in (200, 204), "status %s" % status)

        status, _ = c.call("GET", "/articles/" + slug)
        step("deleted article is gone", status == 404, "status %s" % status)

    c.token = None
    status, body = c.call("GET", "/user")
    step("no token, no user", status == 401, "status %s" % status)

    failed = results.count(False)
    print("e2e: %d passed, %d failed" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
