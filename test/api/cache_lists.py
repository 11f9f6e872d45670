#!/usr/bin/env python3
"""cache_lists.py: anonymous list pages are cached (store/cache.h: under the
lists generation) and never stale after a write's answer: create, edit,
delete, favorite and unfavorite, and the author's profile change, on the
global page and on a tag page. And PUT /api/user costs O(1) Redis commands:
for a user with 500 articles (5 of them cached, and a list page) the update
sends a handful of commands (INFO commandstats; before this it was one per
article), and the cached articles and page show the change at once. A cached
article (stored apart from its author block) still costs one Redis command
per hit once a worker has seen it.
Runs its own Redis. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, uid, wait_for  # noqa: E402

apilib.require_services()
R = apilib.PrivateRedis()
WORKERS = 2
SRV = apilib.server(redis_url=R.url, env={"CONDUIT_CACHE_TTL": "60"}, workers=WORKERS)
A = apilib.Api(SRV)
MANY = 500


def hits():
    return metric(A.metrics(), "conduitd_cache_requests_total", result="hit") or 0.0


def page(path):
    return A.expect(A.get(path), 200, "GET " + path)


def warm(path):
    """Read until the answer comes from the cache (so the next write has a page to
    make stale); returns that cached answer."""
    got = {}

    def served_from_cache():
        before = hits()
        got["doc"] = page(path)
        return hits() > before

    wait_for(served_from_cache, 30, "%s never served from the cache" % path, interval=0.2)
    return got["doc"]


def by_slug(doc):
    return {a["slug"]: a for a in doc["articles"]}


def test_list_pages_are_cached():
    me = A.register("cl")
    tag = "cl_" + uid()
    A.create_article(me, tags=[tag])
    for path in ("/api/articles", "/api/articles?limit=10&offset=0",
                 "/api/articles?tag=" + tag, "/api/articles?author=" + me["username"]):
        warm(path)
    # A signed-in reader's page is never served from the cache (favorited/following).
    before = hits()
    for _ in range(3):
        A.expect(A.get("/api/articles?tag=" + tag, token=me["token"]), 200, "signed-in list")
    A.check(hits() == before, "a signed-in reader's list page came from the cache")


def test_list_never_stale_after_writes():
    me = A.register("cls")
    fan = A.register("clf")
    tag = "cls_" + uid()
    pages = ("/api/articles?limit=50", "/api/articles?tag=" + tag)
    first = A.create_article(me, tags=[tag])["slug"]

    # create
    for p in pages:
        warm(p)
    slug = A.create_article(me, tags=[tag], body="b0")["slug"]
    for p in pages:
        A.check(slug in by_slug(page(p)), "%s stale after create: %s missing" % (p, slug))

    # edit (title and description: what a list shows)
    for p in pages:
        warm(p)
    A.expect(A.put("/api/articles/" + slug, {"article": {"description": "edited"}},
                   token=me["token"]), 200, "edit")
    for p in pages:
        got = by_slug(page(p)).get(slug)
        A.check(got is not None and got["description"] == "edited",
                "%s stale after edit: %r" % (p, got))

    # favorite, unfavorite
    for want, call in ((1, A.post), (0, A.delete)):
        for p in pages:
            warm(p)
        A.expect(call("/api/articles/%s/favorite" % slug, token=fan["token"]), 200, "favorite")
        for p in pages:
            got = by_slug(page(p))[slug]["favoritesCount"]
            A.check(got == want, "%s stale favoritesCount %r, expected %d" % (p, got, want))

    # the author's profile
    for p in pages:
        warm(p)
    A.expect(A.put("/api/user", {"user": {"bio": "bio " + uid()}}, token=me["token"]), 200, "bio")
    bio = A.expect(A.get("/api/user", token=me["token"]), 200, "me")["user"]["bio"]
    for p in pages:
        got = by_slug(page(p))[first]["author"]["bio"]
        A.check(got == bio, "%s stale author bio %r, expected %r" % (p, got, bio))

    # delete
    for p in pages:
        warm(p)
    A.expect(A.delete("/api/articles/" + slug, token=me["token"]), 204, "delete")
    for p in pages:
        doc = page(p)
        A.check(slug not in by_slug(doc), "%s stale after delete: %s still listed" % (p, slug))
    A.check(page(pages[1])["articlesCount"] == 1, "tag page count stale after delete")


def commands_total():
    total = 0
    calls = {}
    for line in R.command("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            n = int(rest.split(",")[0].split("=")[1])
            calls[name[len("cmdstat_"):]] = n
            total += n
    return total, calls


def test_user_update_is_o1_in_redis():
    me = A.register("clo")
    slugs = [A.create_article(me)["slug"] for _ in range(MANY)]
    listed = "/api/articles?author=" + me["username"]
    for s in slugs[:5]:
        warm("/api/articles/" + s)
    warm(listed)
    R.command("CONFIG", "RESETSTAT")
    bio = "o1 " + uid()
    A.expect(A.put("/api/user", {"user": {"bio": bio}}, token=me["token"]), 200, "update")
    total, calls = commands_total()
    # INFO itself, the invalidation script (its GET/EXISTS/SET/INCR are counted too)
    # and at most a few once-a-second write probes (SET) from the two workers.
    print("     PUT /api/user for a user with %d articles: %d Redis commands (%s)"
          % (MANY, total, ", ".join("%s=%d" % kv for kv in sorted(calls.items()))), flush=True)
    A.check(calls.get("evalsha", 0) == 1, "expected one script call, got %r" % calls)
    A.check(total <= 20, "PUT /api/user sent %d Redis commands for %d articles" % (total, MANY))
    for s in slugs[:5]:
        got = page("/api/articles/" + s)["article"]["author"]["bio"]
        A.check(got == bio, "article %s shows a stale author bio %r" % (s, got))
    for a in page(listed)["articles"]:
        A.check(a["author"]["bio"] == bio, "list page shows a stale author bio")


def test_article_hit_is_one_command():
    me = A.register("clh")
    path = "/api/articles/" + A.create_article(me)["slug"]
    warm(path)
    for _ in range(10):  # the workers learn where the author block is
        page(path)
    before = hits()
    R.command("CONFIG", "RESETSTAT")
    for _ in range(20):
        page(path)
    _, calls = commands_total()
    A.check(hits() - before == 20, "20 reads made %d cache hits" % (hits() - before))
    # One MGET per hit; a worker that none of the 10 reads above reached (each
    # read is a fresh connection, and the kernel picks the worker) pays a
    # second MGET once, to learn it: at most one more per worker. Without the
    # learning every hit costs two (40).
    A.check(20 <= calls.get("mget", 0) <= 20 + WORKERS and calls.get("get", 0) == 0,
            "20 cached article reads sent %r (at most one learning MGET per worker)" % calls)


if __name__ == "__main__":
    with R:
        apilib.run([test_list_pages_are_cached, test_list_never_stale_after_writes,
                    test_user_update_is_o1_in_redis, test_article_hit_is_one_command], SRV,
                   budget=300)
