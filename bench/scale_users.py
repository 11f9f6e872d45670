#!/usr/bin/env python3
"""scale_users.py: the API's own users for bench/scale.sh, made through the API.

    bench/scale_users.py BASE_URL OUT.json [--follow 200]

The SQL seed (bench/scale_seed.sql) writes users that cannot log in (no real
password hash). This registers two that can: scale_reader, who then follows
user1..user<FOLLOW> (the most prolific authors of the seed, so the feed has
many articles to choose from), and scale_writer, whose token the write load
uses (on a database where they exist already, it logs them in). Writes OUT.json: {"reader_token": ..., "writer_token": ...}. Every
request must succeed, or it stops with the failing exchange.

Relies on: a conduitd whose auth rate limit allows two registrations.
Python 3 standard library only.
"""

import argparse
import http.client
import json
import sys
import urllib.parse


def call(conn, method, path, body=None, token=None, allow=()):
    """One request on a keep-alive connection; the decoded JSON answer (None
    for a status in allow)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Token " + token
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    if r.status in allow:
        return None
    if r.status not in (200, 201):
        sys.exit("scale_users: %s %s -> %d %s" % (method, path, r.status, raw[:300]))
    return json.loads(raw) if raw else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("out")
    ap.add_argument("--follow", type=int, default=200)
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
    tokens = {}
    for name in ("scale_reader", "scale_writer"):
        doc = call(conn, "POST", "/api/users", {"user": {
            "username": name, "email": name + "@example.com", "password": "scale-password"}},
            allow=(409,))
        if doc is None:  # registered by an earlier run on this database
            doc = call(conn, "POST", "/api/users/login", {"user": {
                "email": name + "@example.com", "password": "scale-password"}})
        tokens[name] = doc["user"]["token"]
    for i in range(1, args.follow + 1):
        call(conn, "POST", "/api/profiles/user%d/follow" % i, token=tokens["scale_reader"])
    with open(args.out, "w") as f:
        json.dump({"reader_token": tokens["scale_reader"],
                   "writer_token": tokens["scale_writer"]}, f)


if __name__ == "__main__":
    main()
