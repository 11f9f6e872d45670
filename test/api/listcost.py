#!/usr/bin/env python3
"""listcost.py: a list costs a fixed number of queries whatever the page size
(no query per article). It counts PostgreSQL queries through /metrics
(conduitd_db_query_duration_seconds_count) around one request with limit=1 and
one with limit=20, cache off, and requires the two deltas to be equal, for the
article list (anonymous, with a token, by tag, by favoriter), the feed and the
comment list. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, uid  # noqa: E402

apilib.require_services()
SRV = apilib.server(env={"CONDUIT_CACHE_TTL": "0"}, workers=1)
A = apilib.Api(SRV)
N = 22
SETUP = {}


def queries():
    v = metric(A.metrics(), "conduitd_db_query_duration_seconds_count")
    A.check(v is not None, "/metrics has no conduitd_db_query_duration_seconds_count")
    return v


def cost(path, token, items):
    """Fewest queries seen for one GET of path over three tries (ignores stray queries)."""
    best = None
    for _ in range(3):
        before = queries()
        doc = A.expect(A.get(path, token=token), 200, path)
        after = queries()
        key = "comments" if "comments" in doc else "articles"
        A.check(len(doc[key]) == items, "%s: %d items, expected %d" % (path, len(doc[key]), items))
        best = after - before if best is None else min(best, after - before)
    return best


def setup():
    if SETUP:
        return SETUP
    author = A.register("lc_a")
    reader = A.register("lc_r")
    tag = "lc_" + uid()
    slugs = []
    for i in range(N):
        a = A.create_article(author, tags=[tag, "x%d_%s" % (i, uid()), "common_lc"])
        slugs.append(a["slug"])
    for s in slugs[::2] + slugs[1:20:2]:
        A.expect(A.post("/api/articles/%s/favorite" % s, token=reader["token"]), 200, "favorite")
    A.expect(A.post("/api/profiles/%s/follow" % author["username"], token=reader["token"]), 200,
             "follow")
    commenters = [author, reader]
    for i in range(20):
        A.expect(A.post("/api/articles/%s/comments" % slugs[0], {"comment": {"body": "c%d" % i}},
                        token=commenters[i % 2]["token"]), 201, "comment")
    A.expect(A.post("/api/articles/%s/comments" % slugs[1], {"comment": {"body": "one"}},
                    token=author["token"]), 201, "comment")
    SETUP.update(author=author, reader=reader, tag=tag, slugs=slugs)
    return SETUP


def compare(what, path1, path20, token=None, n1=1, n20=20):
    c1 = cost(path1, token, n1)
    c20 = cost(path20, token, n20)
    print("     %s: %d queries for %d item(s), %d for %d" % (what, c1, n1, c20, n20), flush=True)
    A.check(c1 > 0, "%s: no query counted (is the histogram fed?)" % what)
    A.check(c20 == c1, "%s: %d queries for %d item(s) but %d for %d: the cost grows with the page"
            % (what, c1, n1, c20, n20))


def test_article_list_anonymous():
    s = setup()
    base = "/api/articles?author=%s&limit=" % s["author"]["username"]
    compare("list by author, anonymous", base + "1", base + "20")


def test_article_list_with_token():
    s = setup()
    base = "/api/articles?author=%s&limit=" % s["author"]["username"]
    compare("list by author, with token", base + "1", base + "20", token=s["reader"]["token"])


def test_article_list_by_tag_and_favorited():
    s = setup()
    base = "/api/articles?tag=%s&limit=" % s["tag"]
    compare("list by tag, with token", base + "1", base + "20", token=s["reader"]["token"])
    base = "/api/articles?favorited=%s&limit=" % s["reader"]["username"]
    compare("list by favoriter", base + "1", base + "20")


def test_feed():
    s = setup()
    compare("feed", "/api/articles/feed?limit=1", "/api/articles/feed?limit=20",
            token=s["reader"]["token"])


def test_comments():
    s = setup()
    compare("comments", "/api/articles/%s/comments" % s["slugs"][1],
            "/api/articles/%s/comments" % s["slugs"][0], token=s["reader"]["token"])


if __name__ == "__main__":
    apilib.run([test_article_list_anonymous, test_article_list_with_token,
                test_article_list_by_tag_and_favorited, test_feed, test_comments], SRV,
               budget=120)
