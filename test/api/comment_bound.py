#!/usr/bin/env python3
"""comment_bound.py: GET /api/articles/:slug/comments answers at most the
newest 500 comments (API_COMMENTS_MAX), oldest first, in the spec's shape.
505 comments are inserted straight in SQL (500 POSTs would only be slower);
the answer must hold exactly the newest 500, in ascending id order.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402

apilib.require_services()
SRV = apilib.server(env={"CONDUIT_CACHE_TTL": "0"}, workers=1)
A = apilib.Api(SRV)
MAX = 500


def test_newest_comments_only():
    u = A.register("cb")
    art = A.create_article(u)
    p = subprocess.run(["psql", os.environ["DATABASE_URL"], "-X", "-q", "-At", "-v",
                        "ON_ERROR_STOP=1", "-c",
                        "INSERT INTO comments (article_id, author_id, body) "
                        "SELECT a.id, a.author_id, 'c' || i FROM articles a, "
                        "generate_series(1, %d) i WHERE a.slug = '%s' ORDER BY i"
                        % (MAX + 5, art["slug"])],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    A.check(p.returncode == 0, "psql: %s" % p.stderr.decode(errors="replace"))
    doc = A.expect(A.get("/api/articles/%s/comments" % art["slug"]), 200, "comments")
    got = doc["comments"]
    A.check(len(got) == MAX, "%d comments answered, expected %d" % (len(got), MAX))
    ids = [c["id"] for c in got]
    A.check(ids == sorted(ids), "comments are not oldest first")
    A.check([c["body"] for c in got[:1] + got[-1:]] == ["c6", "c%d" % (MAX + 5)],
            "not the newest %d: first %r, last %r" % (MAX, got[0]["body"], got[-1]["body"]))
    A.check(set(got[0]) >= {"id", "createdAt", "updatedAt", "body", "author"},
            "comment shape: %r" % sorted(got[0]))


if __name__ == "__main__":
    apilib.run([test_newest_comments_only], SRV)
