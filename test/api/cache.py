#!/usr/bin/env python3
"""cache.py: the Redis cache never serves a stale read after a write's
response. Each case reads (twice, to fill and hit the cache), writes, and
reads again at once: the new value must be there. The cache must really be in
use (conduitd_cache_requests_total{result="hit"} grows for each kind of read), or
these checks would prove nothing. Runs its own Redis.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import metric, uid, wait_for  # noqa: E402

apilib.require_services()
# A Redis of its own: the other test files' writes (same database, shared Redis)
# would otherwise keep invalidating the tag list while this file measures hits.
R = apilib.PrivateRedis()
SRV = apilib.server(redis_url=R.url, env={"CONDUIT_CACHE_TTL": "60"})
A = apilib.Api(SRV)


def hits():
    return metric(A.metrics(), "conduitd_cache_requests_total", result="hit") or 0.0


def article(slug, token=None):
    return A.expect(A.get("/api/articles/" + slug, token=token), 200, "GET article")["article"]


def prof(name, token=None):
    return A.expect(A.get("/api/profiles/" + name, token=token), 200, "GET profile")["profile"]


def tags():
    return A.expect(A.get("/api/tags"), 200, "GET tags")["tags"]


def warm(fn, *args, **kw):
    """Read until the answer comes from the cache, so that the write that follows
    has a cached value to invalidate (else these tests would prove nothing).
    Reads with a token are not all cached: those are just made a few times."""
    if kw.get("token") is not None:
        for _ in range(3):
            fn(*args, **kw)
        return

    def served_from_cache():
        before = hits()
        fn(*args, **kw)
        return hits() > before

    wait_for(served_from_cache, 30, "%s%r never served from the cache" % (fn.__name__, args),
             interval=0.2)


def test_cache_is_used():
    # Each hot read is served from the cache once it is warm. A write may keep its keys
    # out of the cache for a moment (store/cache.h: tombstones), hence the polling.
    me = A.register("cache")
    tag = "cu_" + uid()
    slug = A.create_article(me, tags=[tag])["slug"]
    for what, path in (("article by slug", "/api/articles/" + slug),
                       ("profile", "/api/profiles/" + me["username"]),
                       ("tag list", "/api/tags")):
        def hit_once():
            before = hits()
            for _ in range(4):
                A.expect(A.get(path), 200, what)
            return hits() > before

        wait_for(hit_once, 30, "repeated reads of the %s (%s) make a cache hit "
                 "(conduitd_cache_requests_total{result=\"hit\"})" % (what, path), interval=0.3)


def test_article_update_seen_at_once():
    me = A.register("cup")
    slug = A.create_article(me, body="v0", tags=["c_" + uid()])["slug"]
    for i in range(1, 4):
        warm(article, slug)
        A.expect(A.put("/api/articles/" + slug, {"article": {"body": "v%d" % i}},
                       token=me["token"]), 200, "update")
        got = article(slug)["body"]
        A.check(got == "v%d" % i, "stale article after update %d: body %r" % (i, got))
    warm(article, slug)
    A.expect(A.put("/api/articles/" + slug, {"article": {"tagList": []}}, token=me["token"]),
             200, "clear tags")
    A.check(article(slug)["tagList"] == [], "stale tags after clearing them")
    warm(article, slug)
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"title": "New title " + uid()}},
                         token=me["token"]), 200, "retitle")
    new = doc["article"]
    A.check(article(new["slug"])["title"] == new["title"], "stale title after update")


def test_article_favorites_seen_at_once():
    me = A.register("cfav")
    fan = A.register("cfan")
    slug = A.create_article(me)["slug"]
    warm(article, slug)
    warm(article, slug, token=fan["token"])
    A.expect(A.post("/api/articles/%s/favorite" % slug, token=fan["token"]), 200, "favorite")
    a = article(slug)
    A.check(a["favoritesCount"] == 1, "stale favoritesCount %r after favorite" % a["favoritesCount"])
    a = article(slug, token=fan["token"])
    A.check(a["favorited"] is True and a["favoritesCount"] == 1, "stale favorited for the fan")
    warm(article, slug)
    A.expect(A.delete("/api/articles/%s/favorite" % slug, token=fan["token"]), 200, "unfavorite")
    a = article(slug, token=fan["token"])
    A.check(a["favorited"] is False and a["favoritesCount"] == 0, "stale after unfavorite")
    A.check(article(slug)["favoritesCount"] == 0, "stale anonymous count after unfavorite")


def test_article_delete_seen_at_once():
    me = A.register("cdel")
    slug = A.create_article(me)["slug"]
    warm(article, slug)
    A.expect(A.delete("/api/articles/" + slug, token=me["token"]), 204, "delete")
    for _ in range(4):
        A.expect_error(A.get("/api/articles/" + slug), 404, "article", "not found",
                       "deleted article still served")


def test_author_change_seen_in_article():
    # The article embeds its author's profile: changing the profile changes the article.
    me = A.register("cauth")
    reader = A.register("cread")
    slug = A.create_article(me)["slug"]
    warm(article, slug)
    warm(article, slug, token=reader["token"])
    A.expect(A.put("/api/user", {"user": {"bio": "new bio", "image": "https://e.x/i.png"}},
                   token=me["token"]), 200, "update user")
    au = article(slug)["author"]
    A.check(au["bio"] == "new bio" and au["image"] == "https://e.x/i.png",
            "article shows a stale author bio/image: %r" % au)
    A.expect(A.post("/api/profiles/%s/follow" % me["username"], token=reader["token"]), 200, "f")
    au = article(slug, token=reader["token"])["author"]
    A.check(au["following"] is True, "article shows stale author.following after follow")
    warm(article, slug, token=reader["token"])
    A.expect(A.delete("/api/profiles/%s/follow" % me["username"], token=reader["token"]), 200, "u")
    au = article(slug, token=reader["token"])["author"]
    A.check(au["following"] is False, "article shows stale author.following after unfollow")
    newname = "cauth2_" + uid()
    warm(article, slug)
    A.expect(A.put("/api/user", {"user": {"username": newname}}, token=me["token"]), 200, "rename")
    au = article(slug)["author"]
    A.check(au["username"] == newname, "article shows the author's old username %r" % au)


def test_profile_changes_seen_at_once():
    me = A.register("cprof")
    viewer = A.register("cview")
    name = me["username"]
    warm(prof, name)
    warm(prof, name, token=viewer["token"])
    A.expect(A.put("/api/user", {"user": {"bio": "b1"}}, token=me["token"]), 200, "bio b1")
    A.check(prof(name)["bio"] == "b1", "stale profile bio after user update")
    A.check(prof(name, token=viewer["token"])["bio"] == "b1", "stale bio for a viewer")
    warm(prof, name, token=viewer["token"])
    A.expect(A.post("/api/profiles/%s/follow" % name, token=viewer["token"]), 200, "follow")
    A.check(prof(name, token=viewer["token"])["following"] is True, "stale following after follow")
    A.check(prof(name)["following"] is False, "anonymous view must not say following")
    warm(prof, name, token=viewer["token"])
    A.expect(A.delete("/api/profiles/%s/follow" % name, token=viewer["token"]), 200, "unfollow")
    A.check(prof(name, token=viewer["token"])["following"] is False, "stale after unfollow")
    warm(prof, name)
    A.expect(A.put("/api/user", {"user": {"bio": None}}, token=me["token"]), 200, "bio null")
    A.check(prof(name)["bio"] is None, "stale bio after setting it to null")
    # A rename: the old name is gone, the new one answers, at once.
    warm(prof, name)
    newname = "cprof2_" + uid()
    A.expect(A.put("/api/user", {"user": {"username": newname}}, token=me["token"]), 200, "rename")
    A.expect_error(A.get("/api/profiles/" + name), 404, "profile", "not found",
                   "old name still served after rename")
    A.check(prof(newname)["username"] == newname, "new name")
    # GET /user shows the update too.
    A.expect(A.put("/api/user", {"user": {"bio": "b2"}}, token=me["token"]), 200, "bio b2")
    doc = A.expect(A.get("/api/user", token=me["token"]), 200, "GET /user")
    A.check(doc["user"]["bio"] == "b2", "stale GET /user")


def test_tag_list_sees_new_tags_at_once():
    me = A.register("ctag")
    for i in range(3):
        warm(tags)
        tag = "ct%d_%s" % (i, uid())
        if i == 2:
            # A tag added by an update, not a create.
            slug = A.create_article(me)["slug"]
            warm(tags)
            A.expect(A.put("/api/articles/" + slug, {"article": {"tagList": [tag]}},
                           token=me["token"]), 200, "add tag by update")
        else:
            A.create_article(me, tags=[tag])
        A.check(tag in tags(), "tag list is stale: new tag %r missing" % tag)


def test_comments_seen_at_once():
    me = A.register("ccmt")
    slug = A.create_article(me)["slug"]
    path = "/api/articles/%s/comments" % slug
    for _ in range(3):
        A.expect(A.get(path), 200, "comments")
    doc = A.expect(A.post(path, {"comment": {"body": "hello"}}, token=me["token"]), 201, "post")
    cid = doc["comment"]["id"]
    got = A.expect(A.get(path), 200, "comments")["comments"]
    A.check([c["id"] for c in got] == [cid], "stale comment list after create")
    for _ in range(3):
        A.expect(A.get(path), 200, "comments")
    A.expect(A.delete("%s/%d" % (path, cid), token=me["token"]), 204, "delete comment")
    got = A.expect(A.get(path), 200, "comments")["comments"]
    A.check(got == [], "stale comment list after delete")


def test_list_sees_new_article_at_once():
    me = A.register("clist")
    q = "/api/articles?author=" + me["username"]
    for _ in range(3):
        A.expect(A.get(q), 200, "list")
    slug = A.create_article(me)["slug"]
    doc = A.expect(A.get(q), 200, "list")
    A.check([a["slug"] for a in doc["articles"]] == [slug], "stale article list after create")
    for _ in range(3):
        A.expect(A.get("/api/articles?limit=50"), 200, "global list")
    slug2 = A.create_article(me)["slug"]
    doc = A.expect(A.get("/api/articles?limit=50"), 200, "global list")
    A.check(slug2 in [a["slug"] for a in doc["articles"]], "stale global list after create")


if __name__ == "__main__":
    with R:
        apilib.run([test_cache_is_used, test_article_update_seen_at_once,
                    test_article_favorites_seen_at_once, test_article_delete_seen_at_once,
                    test_author_change_seen_in_article, test_profile_changes_seen_at_once,
                    test_tag_list_sees_new_tags_at_once, test_comments_seen_at_once,
                    test_list_sees_new_article_at_once], SRV, budget=300)
