#!/usr/bin/env python3
"""seed.py: fill a conduitd with the benchmark dataset through its own API.

    bench/seed.py BASE_URL OUT.json [--users 50 --articles 500 --comments 5000]

Registers the users (so their passwords are real argon2 hashes and they can
log in), then creates the articles (three tags each from a pool of 20, so the
tag list and ?tag= have something to do), the comments, favorites (about four
per article) and follows (each user follows ten others). Writes OUT.json with
what the load scripts need: every slug, every username, and a token of a user
whose feed is full. Uses keep-alive connections from a few threads; every
request must succeed, or it stops with the failing exchange.

Relies on: a conduitd whose auth rate limit is high enough for 50
registrations from one address (the bench sets CONDUIT_RATE_LIMIT_AUTH).
Python 3 standard library only.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

TAGS = ["tag%02d" % i for i in range(20)]


class Client:
    """One keep-alive connection."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = None

    def call(self, method, path, body=None, token=None, expect=200):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Token " + token
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        if r.status != expect:
            raise SystemExit("seed: %s %s -> %d (expected %d): %r"
                             % (method, path, r.status, expect, raw[:300]))
        return json.loads(raw) if raw else None


def parallel(base, jobs, fn, threads=4):
    """Run fn(client, job) for every job over `threads` keep-alive clients."""
    lock = threading.Lock()
    it = iter(jobs)
    results = []
    failure = []

    def worker():
        c = Client(base)
        while not failure:
            with lock:
                job = next(it, None)
            if job is None:
                return
            try:
                out = fn(c, job)
            except BaseException as e:  # noqa: BLE001 - stop every thread, report once
                failure.append(e)
                return
            with lock:
                results.append(out)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failure:
        raise failure[0]
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("out")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--articles", type=int, default=500)
    ap.add_argument("--comments", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    rnd = random.Random(42)
    run = "%x" % int(time.time())
    started = time.monotonic()

    def register(c, i):
        name = "bench%02d_%s" % (i, run)
        doc = c.call("POST", "/api/users", {"user": {
            "username": name, "email": name + "@bench.test", "password": "benchpass%02d" % i}},
            expect=201)
        c.call("PUT", "/api/user", {"user": {"bio": "Bio of %s" % name,
                                             "image": "https://img.example/%s.png" % name}},
               token=doc["user"]["token"])
        return i, name, doc["user"]["token"]

    users = sorted(parallel(args.base, range(args.users), register, args.threads))
    names = [u[1] for u in users]
    tokens = [u[2] for u in users]

    def follow(c, job):
        a, b = job
        c.call("POST", "/api/profiles/%s/follow" % names[b], token=tokens[a])

    follows = [(a, (a + k) % args.users) for a in range(args.users) for k in range(1, 11)]
    parallel(args.base, follows, follow, args.threads)

    article_jobs = []
    for i in range(args.articles):
        author = rnd.randrange(args.users)
        tags = rnd.sample(TAGS, 3)
        body = " ".join("Paragraph %d of article %d." % (p, i) for p in range(40))
        article_jobs.append((i, author, tags, body))

    def create(c, job):
        i, author, tags, body = job
        doc = c.call("POST", "/api/articles", {"article": {
            "title": "Benchmark article %d %s" % (i, run), "description": "Article %d" % i,
            "body": body, "tagList": tags}}, token=tokens[author], expect=201)
        return i, doc["article"]["slug"]

    slugs = [s for _, s in sorted(parallel(args.base, article_jobs, create, args.threads))]

    def comment(c, job):
        i, who, slug = job
        c.call("POST", "/api/articles/%s/comments" % urllib.parse.quote(slug, safe=""),
               {"comment": {"body": "Comment %d: a short remark." % i}}, token=tokens[who],
               expect=201)

    comment_jobs = [(i, rnd.randrange(args.users), slugs[rnd.randrange(len(slugs))])
                    for i in range(args.comments)]
    parallel(args.base, comment_jobs, comment, args.threads)

    fav_jobs = set()
    for s in range(len(slugs)):
        for who in rnd.sample(range(args.users), 4):
            fav_jobs.add((who, s))

    def favorite(c, job):
        who, s = job
        c.call("POST", "/api/articles/%s/favorite" % urllib.parse.quote(slugs[s], safe=""),
               token=tokens[who])

    parallel(args.base, sorted(fav_jobs), favorite, args.threads)

    with open(args.out, "w") as f:
        json.dump({"slugs": slugs, "usernames": names, "feed_token": tokens[0],
                   "tags": TAGS}, f)
    print("seed: %d users, %d follows, %d articles, %d comments, %d favorites in %.1fs"
          % (len(names), len(follows), len(slugs), len(comment_jobs), len(fav_jobs),
             time.monotonic() - started))


if __name__ == "__main__":
    sys.exit(main())
