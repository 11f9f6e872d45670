#!/usr/bin/env python3
"""articles.py: articles (create, get, update, delete), the list with its
filters and pagination, the feed, favorites and tags, against a real conduitd,
PostgreSQL and Redis; timestamps in ISO 8601 UTC with milliseconds and a stable
tag order. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import datetime
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import TIMESTAMP_RE, uid  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)

ARTICLE_KEYS = {"slug", "title", "description", "body", "tagList", "createdAt", "updatedAt",
                "favorited", "favoritesCount", "author"}
LIST_KEYS = ARTICLE_KEYS - {"body"}


def check_time(value, what):
    A.check(isinstance(value, str) and TIMESTAMP_RE.match(value),
            "%s: %r is not ISO 8601 UTC with milliseconds (2026-11-29T14:08:11.353Z)"
            % (what, value))
    t = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    A.check(abs(t - time.time()) < 600, "%s: %r is not near now (UTC)" % (what, value))


def check_article(a, what, listed=False):
    keys = LIST_KEYS if listed else ARTICLE_KEYS
    A.check(set(a) >= keys, "%s: missing %s" % (what, sorted(keys - set(a))))
    if listed:
        A.check("body" not in a, what + ": list items carry no body")
    A.check(isinstance(a["tagList"], list) and all(isinstance(t, str) for t in a["tagList"]),
            what + ": tagList")
    A.check(isinstance(a["favorited"], bool), what + ": favorited is not a boolean")
    A.check(isinstance(a["favoritesCount"], int) and not isinstance(a["favoritesCount"], bool),
            what + ": favoritesCount is not an integer")
    check_time(a["createdAt"], what + ": createdAt")
    check_time(a["updatedAt"], what + ": updatedAt")
    au = a["author"]
    A.check(set(au) >= {"username", "bio", "image", "following"}, what + ": author fields")
    A.check(isinstance(au["following"], bool), what + ": author.following")


def get_article(slug, token=None, what="get article"):
    doc = A.expect(A.get("/api/articles/" + slug, token=token), 200, what)
    check_article(doc["article"], what)
    return doc["article"]


def list_articles(query="", token=None, feed=False, what="list"):
    path = "/api/articles/feed" if feed else "/api/articles"
    doc = A.expect(A.get(path + ("?" + query if query else ""), token=token), 200, what)
    A.check(isinstance(doc.get("articles"), list), what + ": articles is not a list")
    A.check(isinstance(doc.get("articlesCount"), int), what + ": articlesCount")
    for i, a in enumerate(doc["articles"]):
        check_article(a, "%s[%d]" % (what, i), listed=True)
    return doc


def q(**params):
    return urllib.parse.urlencode(params)


def test_create_and_get():
    me = A.register("art")
    n = uid()
    body = {"title": "Test Article " + n, "description": "Test description",
            "body": "Test body content", "tagList": ["d_" + n, "t_" + n]}
    doc = A.expect(A.post("/api/articles", {"article": body}, token=me["token"]), 201, "create")
    a = doc["article"]
    check_article(a, "create")
    for k in ("title", "description", "body"):
        A.check(a[k] == body[k], "create: " + k)
    A.check(a["tagList"] == ["d_" + n, "t_" + n], "create: tagList in order")
    A.check(a["favorited"] is False and a["favoritesCount"] == 0, "create: not favorited")
    A.check(a["author"]["username"] == me["username"] and a["author"]["following"] is False,
            "create: author")
    A.check(isinstance(a["slug"], str) and a["slug"] and "/" not in a["slug"], "create: slug")
    g = get_article(a["slug"])
    for k in ("slug", "title", "description", "body", "tagList", "createdAt", "updatedAt"):
        A.check(g[k] == a[k], "get: %s differs from create's" % k)
    g = get_article(a["slug"], token=me["token"], what="get with token")
    A.check(g["favorited"] is False, "get with token: favorited")


def test_create_without_tags_has_empty_taglist():
    me = A.register("notag")
    a = A.create_article(me)
    A.check(a["tagList"] == [], "no tagList: []")
    A.check(get_article(a["slug"])["tagList"] == [], "no tagList persisted as []")


def test_create_errors():
    me = A.register("arterr")
    n = uid()
    A.expect_error(A.post("/api/articles", {"article": {
        "title": "x", "description": "d", "body": "b"}}), 401, "token", "is missing", "no auth")
    for field in ("title", "description", "body"):
        art = {"title": "T " + n, "description": "d", "body": "b"}
        art[field] = ""
        A.expect_error(A.post("/api/articles", {"article": art}, token=me["token"]), 422, field,
                       "can't be blank", "blank " + field)
        del art[field]
        A.expect_error(A.post("/api/articles", {"article": art}, token=me["token"]), 422, field,
                       None, "missing " + field)
    A.expect_error(A.post("/api/articles", {"title": "t", "description": "d", "body": "b"},
                          token=me["token"]), 422, None, None, "no article wrapper")
    # Nothing was created by the rejected requests.
    doc = list_articles(q(author=me["username"]), what="author after errors")
    A.check(doc["articlesCount"] == 0, "rejected creates left articles behind")


def test_duplicate_titles_get_unique_slugs():
    me = A.register("dupt")
    title = "Dup Title " + uid()
    a1 = A.create_article(me, title=title, description="first")
    a2 = A.create_article(me, title=title, description="second")
    A.check(a1["slug"] != a2["slug"], "same title: distinct slugs")
    A.check(get_article(a1["slug"])["description"] == "first", "first by its slug")
    A.check(get_article(a2["slug"])["description"] == "second", "second by its slug")


def test_update():
    me = A.register("upda")
    n = uid()
    a = A.create_article(me, title="Upd " + n, tags=["d_" + n, "t_" + n], description="desc",
                         body="body")
    slug = a["slug"]
    time.sleep(0.01)
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"body": "Updated body"}},
                         token=me["token"]), 200, "update body")
    u = doc["article"]
    check_article(u, "update body")
    A.check(u["body"] == "Updated body" and u["title"] == a["title"]
            and u["description"] == "desc", "update body only")
    A.check(u["slug"] == slug, "update body keeps the slug")
    A.check(u["tagList"] == a["tagList"], "update without tagList keeps tags (same order)")
    A.check(u["createdAt"] == a["createdAt"], "createdAt unchanged")
    A.check(u["updatedAt"] != a["updatedAt"] and u["updatedAt"] > a["createdAt"],
            "updatedAt moves forward")
    g = get_article(slug)
    A.check(g["body"] == "Updated body" and g["tagList"] == a["tagList"], "update persisted")
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"description": "new desc"}},
                         token=me["token"]), 200, "update description")
    A.check(doc["article"]["description"] == "new desc", "description updated")
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"tagList": ["x_" + n]}},
                         token=me["token"]), 200, "replace tags")
    A.check(doc["article"]["tagList"] == ["x_" + n], "tags replaced")
    A.check(get_article(slug)["tagList"] == ["x_" + n], "tags replaced persisted")
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"tagList": []}},
                         token=me["token"]), 200, "clear tags")
    A.check(doc["article"]["tagList"] == [], "[] clears tags")
    A.check(get_article(slug)["tagList"] == [], "cleared tags persisted")
    A.expect_error(A.put("/api/articles/" + slug, {"article": {"tagList": None}},
                         token=me["token"]), 422, None, None, "tagList null")
    A.expect_error(A.put("/api/articles/" + slug, {"article": {"title": ""}},
                         token=me["token"]), 422, "title", None, "blank title on update")
    A.expect_error(A.put("/api/articles/" + slug, {"article": {"body": None}},
                         token=me["token"]), 422, "body", None, "null body on update")
    # A new title: the article stays reachable under the slug the response names.
    doc = A.expect(A.put("/api/articles/" + slug, {"article": {"title": "Renamed " + n}},
                         token=me["token"]), 200, "update title")
    u = doc["article"]
    A.check(u["title"] == "Renamed " + n, "title updated")
    g = get_article(u["slug"])
    A.check(g["title"] == "Renamed " + n and g["body"] == "Updated body", "title persisted")


def test_update_delete_errors():
    owner = A.register("own")
    other = A.register("oth")
    a = A.create_article(owner, body="original")
    slug = a["slug"]
    n = uid()
    A.expect_error(A.put("/api/articles/" + slug, {"article": {"body": "x"}}), 401, "token",
                   "is missing", "update without token")
    A.expect_error(A.delete("/api/articles/" + slug), 401, "token", "is missing",
                   "delete without token")
    A.expect_error(A.put("/api/articles/" + slug, {"article": {"body": "hijacked"}},
                         token=other["token"]), 403, "article", "forbidden", "update by other")
    A.expect_error(A.delete("/api/articles/" + slug, token=other["token"]), 403, "article",
                   "forbidden", "delete by other")
    A.check(get_article(slug)["body"] == "original", "forbidden writes changed nothing")
    A.expect_error(A.put("/api/articles/unknown-slug-" + n, {"article": {"body": "x"}},
                         token=owner["token"]), 404, "article", "not found", "update unknown")
    A.expect_error(A.delete("/api/articles/unknown-slug-" + n, token=owner["token"]), 404,
                   "article", "not found", "delete unknown")
    A.expect_error(A.get("/api/articles/unknown-slug-" + n), 404, "article", "not found",
                   "get unknown")


def test_delete():
    me = A.register("del")
    fan = A.register("delfan")
    a = A.create_article(me, tags=["del_" + uid()])
    slug = a["slug"]
    A.expect(A.post("/api/articles/%s/favorite" % slug, token=fan["token"]), 200, "favorite")
    A.expect(A.post("/api/articles/%s/comments" % slug, {"comment": {"body": "c"}},
                    token=fan["token"]), 201, "comment")
    r = A.delete("/api/articles/" + slug, token=me["token"])
    A.expect(r, 204, "delete")
    A.expect_error(A.get("/api/articles/" + slug), 404, "article", "not found", "after delete")
    A.expect_error(A.get("/api/articles/%s/comments" % slug), 404, "article", "not found",
                   "comments after delete")
    A.expect_error(A.delete("/api/articles/" + slug, token=me["token"]), 404, "article",
                   "not found", "delete twice")
    doc = list_articles(q(favorited=fan["username"]), what="favorites after delete")
    A.check(doc["articlesCount"] == 0 and doc["articles"] == [],
            "a deleted article leaves the favorites list")
    doc = list_articles(q(author=me["username"]), what="author after delete")
    A.check(doc["articlesCount"] == 0, "a deleted article leaves the author's list")


def test_list_default_limit_order_and_pagination():
    me = A.register("page")
    made = [A.create_article(me, title="Page %d %s" % (i, uid())) for i in range(22)]
    newest_first = [a["slug"] for a in reversed(made)]
    doc = list_articles(q(author=me["username"]), what="default limit")
    A.check(doc["articlesCount"] == 22, "articlesCount counts all matches, not the page")
    A.check(len(doc["articles"]) == 20, "limit defaults to 20")
    A.check([a["slug"] for a in doc["articles"]] == newest_first[:20], "most recent first")
    stamps = [a["createdAt"] for a in doc["articles"]]
    A.check(stamps == sorted(stamps, reverse=True), "createdAt descending")
    doc = list_articles(q(author=me["username"], limit=1), what="limit 1")
    A.check([a["slug"] for a in doc["articles"]] == newest_first[:1], "limit=1: newest")
    A.check(doc["articlesCount"] == 22, "limit=1: count")
    doc = list_articles(q(author=me["username"], limit=1, offset=1), what="limit 1 offset 1")
    A.check([a["slug"] for a in doc["articles"]] == newest_first[1:2], "offset counts items")
    doc = list_articles(q(author=me["username"], limit=5, offset=20), what="offset 20")
    A.check([a["slug"] for a in doc["articles"]] == newest_first[20:], "last page")
    doc = list_articles(q(author=me["username"], offset=100), what="offset past the end")
    A.check(doc["articles"] == [] and doc["articlesCount"] == 22, "past the end: empty page")
    doc = list_articles(q(author=me["username"], limit=100), what="limit 100")
    A.check(len(doc["articles"]) == 22, "a larger limit returns everything")


def test_list_filters():
    alice = A.register("alice")
    bob = A.register("bob")
    n = uid()
    t1, t2 = "f1_" + n, "f2_" + n
    a1 = A.create_article(alice, tags=[t1])
    a2 = A.create_article(alice, tags=[t1, t2])
    b1 = A.create_article(bob, tags=[t2])

    def slugs(query, token=None):
        return {a["slug"] for a in list_articles(query, token=token, what=query)["articles"]}

    A.check(slugs(q(author=alice["username"])) == {a1["slug"], a2["slug"]}, "author filter")
    A.check(slugs(q(tag=t1)) == {a1["slug"], a2["slug"]}, "tag filter t1")
    A.check(slugs(q(tag=t2)) == {a2["slug"], b1["slug"]}, "tag filter t2")
    A.check(slugs(q(tag=t2, author=alice["username"])) == {a2["slug"]}, "tag + author")
    A.expect(A.post("/api/articles/%s/favorite" % b1["slug"], token=alice["token"]), 200, "fav")
    A.expect(A.post("/api/articles/%s/favorite" % a1["slug"], token=alice["token"]), 200, "fav")
    A.check(slugs(q(favorited=alice["username"])) == {a1["slug"], b1["slug"]}, "favorited")
    A.check(slugs(q(favorited=alice["username"], author=bob["username"])) == {b1["slug"]},
            "favorited + author")
    A.check(slugs(q(favorited=bob["username"])) == set(), "favorited by nobody")
    A.check(slugs(q(author="nobody_" + n)) == set(), "unknown author: empty, not 404")
    A.check(slugs(q(tag="nope_" + n)) == set(), "unknown tag: empty")
    A.check(slugs(q(favorited="nobody_" + n)) == set(), "unknown favoriter: empty")
    # A list item of a tagged article carries all its tags, not just the matching one.
    doc = list_articles(q(tag=t1, author=alice["username"]), what="tags of items")
    by = {a["slug"]: a for a in doc["articles"]}
    A.check(by[a2["slug"]]["tagList"] == a2["tagList"], "filtered item keeps all its tags")
    # Viewer-specific fields in the list.
    doc = list_articles(q(author=bob["username"]), token=alice["token"], what="bob's as alice")
    A.check(doc["articles"][0]["favorited"] is True and doc["articles"][0]["favoritesCount"] == 1,
            "list: favorited for the viewer")
    doc = list_articles(q(author=bob["username"]), what="bob's anonymous")
    A.check(doc["articles"][0]["favorited"] is False and doc["articles"][0]["favoritesCount"] == 1,
            "list anonymous: favorited false, count 1")
    A.expect(A.post("/api/profiles/%s/follow" % bob["username"], token=alice["token"]), 200, "f")
    doc = list_articles(q(author=bob["username"]), token=alice["token"], what="after follow")
    A.check(doc["articles"][0]["author"]["following"] is True, "list: author.following")


def test_feed():
    reader = A.register("feedm")
    celeb = A.register("feedc")
    stranger = A.register("feeds")
    A.expect_error(A.get("/api/articles/feed"), 401, "token", "is missing", "feed without token")
    doc = list_articles(token=reader["token"], feed=True, what="empty feed")
    A.check(doc["articlesCount"] == 0 and doc["articles"] == [], "new user's feed is empty")
    A.expect(A.post("/api/profiles/%s/follow" % celeb["username"], token=reader["token"]), 200,
             "follow")
    c1 = A.create_article(celeb, title="Feed 1 " + uid())
    A.create_article(stranger, title="Not followed " + uid())
    c2 = A.create_article(celeb, title="Feed 2 " + uid())
    doc = list_articles(token=reader["token"], feed=True, what="feed")
    A.check(doc["articlesCount"] == 2, "feed counts followed authors' articles only")
    A.check([a["slug"] for a in doc["articles"]] == [c2["slug"], c1["slug"]],
            "feed: most recent first, followed authors only")
    A.check(all(a["author"]["following"] is True for a in doc["articles"]), "feed: following")
    doc = list_articles("limit=1", token=reader["token"], feed=True, what="feed limit 1")
    A.check([a["slug"] for a in doc["articles"]] == [c2["slug"]] and doc["articlesCount"] == 2,
            "feed limit 1")
    doc = list_articles("limit=1&offset=1", token=reader["token"], feed=True, what="offset 1")
    A.check([a["slug"] for a in doc["articles"]] == [c1["slug"]] and doc["articlesCount"] == 2,
            "feed offset 1")
    A.expect(A.delete("/api/profiles/%s/follow" % celeb["username"], token=reader["token"]), 200,
             "unfollow")
    doc = list_articles(token=reader["token"], feed=True, what="feed after unfollow")
    A.check(doc["articlesCount"] == 0, "feed empties after unfollow")


def test_favorites():
    author = A.register("fava")
    fan1 = A.register("fan1")
    fan2 = A.register("fan2")
    slug = A.create_article(author)["slug"]
    path = "/api/articles/%s/favorite" % slug
    doc = A.expect(A.post(path, token=fan1["token"]), 200, "favorite")
    check_article(doc["article"], "favorite")
    A.check(doc["article"]["favorited"] is True and doc["article"]["favoritesCount"] == 1,
            "favorite: true, 1")
    A.check(doc["article"]["author"]["username"] == author["username"], "favorite: author")
    doc = A.expect(A.post(path, token=fan1["token"]), 200, "favorite again")
    A.check(doc["article"]["favoritesCount"] == 1, "favoriting twice counts once")
    doc = A.expect(A.post(path, token=fan2["token"]), 200, "second fan")
    A.check(doc["article"]["favoritesCount"] == 2 and doc["article"]["favorited"] is True,
            "second fan: 2")
    a = get_article(slug, token=fan1["token"])
    A.check(a["favorited"] is True and a["favoritesCount"] == 2, "persisted for fan1")
    a = get_article(slug, token=author["token"])
    A.check(a["favorited"] is False and a["favoritesCount"] == 2, "author's view")
    a = get_article(slug)
    A.check(a["favorited"] is False and a["favoritesCount"] == 2, "anonymous view")
    doc = A.expect(A.delete(path, token=fan1["token"]), 200, "unfavorite")
    A.check(doc["article"]["favorited"] is False and doc["article"]["favoritesCount"] == 1,
            "unfavorite: false, 1")
    doc = A.expect(A.delete(path, token=fan1["token"]), 200, "unfavorite again")
    A.check(doc["article"]["favorited"] is False and doc["article"]["favoritesCount"] == 1,
            "unfavoriting twice changes nothing")
    a = get_article(slug, token=fan1["token"])
    A.check(a["favorited"] is False and a["favoritesCount"] == 1, "unfavorite persisted")
    n = uid()
    A.expect_error(A.post(path), 401, "token", "is missing", "favorite without token")
    A.expect_error(A.delete(path), 401, "token", "is missing", "unfavorite without token")
    A.expect_error(A.post("/api/articles/unknown-slug-%s/favorite" % n, token=fan1["token"]), 404,
                   "article", "not found", "favorite unknown")
    A.expect_error(A.delete("/api/articles/unknown-slug-%s/favorite" % n, token=fan1["token"]),
                   404, "article", "not found", "unfavorite unknown")


def test_tags():
    me = A.register("tags")
    n = uid()
    A.create_article(me, tags=["h_" + n, "t_" + n])
    doc = A.expect(A.get("/api/tags"), 200, "tags")
    tags = doc.get("tags")
    A.check(isinstance(tags, list) and all(isinstance(t, str) for t in tags), "tags: strings")
    A.check("h_" + n in tags and "t_" + n in tags, "tags include the new article's tags")
    A.check(len(tags) == len(set(tags)), "tags: no duplicates")
    A.create_article(me, tags=["h_" + n])
    tags2 = A.expect(A.get("/api/tags"), 200, "tags again")["tags"]
    A.check(tags2.count("h_" + n) == 1, "a tag used twice is listed once")


def test_tag_order_is_stable():
    # Tags come in one documented order (as given, or sorted), the same everywhere
    # the article appears and on every read.
    me = A.register("tord")
    fan = A.register("tordf")
    n = uid()
    order = ["zeta_" + n, "alpha_" + n, "mid_" + n]
    a = A.create_article(me, tags=order)
    A.check(a["tagList"] in (order, sorted(order)),
            "create: tags neither in the given nor in sorted order: %r" % a["tagList"])
    given = a["tagList"]
    A.check(get_article(a["slug"])["tagList"] == given, "get: same order")
    doc = list_articles(q(author=me["username"]), what="list")
    A.check(doc["articles"][0]["tagList"] == given, "list: same order")
    doc = list_articles(q(tag="alpha_" + n), what="list by tag")
    A.check(doc["articles"][0]["tagList"] == given, "list by tag: same order")
    doc = A.expect(A.post("/api/articles/%s/favorite" % a["slug"], token=fan["token"]), 200, "fav")
    A.check(doc["article"]["tagList"] == given, "favorite: same order")
    A.expect(A.post("/api/profiles/%s/follow" % me["username"], token=fan["token"]), 200, "follow")
    doc = list_articles(token=fan["token"], feed=True, what="feed")
    A.check(doc["articles"][0]["tagList"] == given, "feed: same order")
    doc = A.expect(A.put("/api/articles/" + a["slug"], {"article": {"body": "b2"}},
                         token=me["token"]), 200, "update")
    A.check(doc["article"]["tagList"] == given, "update: same order")
    for _ in range(3):
        A.check(get_article(a["slug"])["tagList"] == given, "repeated reads: same order")
    # A tag repeated in the request is stored once, or refused with a 422; never a 5xx.
    r = A.post("/api/articles", {"article": {"title": "Dup tags " + n, "description": "d",
                                             "body": "b", "tagList": ["r_" + n, "r_" + n]}},
               token=me["token"])
    doc = A.expect(r, (201, 422), "repeated tag")
    if r.status == 201:
        A.check(doc["article"]["tagList"] == ["r_" + n], "repeated tag stored once")


def test_unknown_routes_are_json_404():
    for path in ("/api/nope", "/api/articles/a/b/c/d", "/api"):
        r = A.get(path)
        A.check(r.status == 404, path + ": 404")
        A.json(r, path)
    r = A.call("PATCH", "/api/user")
    A.check(r.status in (404, 405), "PATCH /api/user: 404 or 405")
    A.json(r, "PATCH /api/user")


def race(method, path, token, k=12):
    """k identical requests released together; their responses."""
    out = []
    gate = threading.Barrier(k)

    def one():
        gate.wait()
        out.append(SRV.request(method, path, headers={"Authorization": "Token " + token}))

    threads = [threading.Thread(target=one) for _ in range(k)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return out


def test_concurrent_deletes_by_the_owner():
    # The owner deleting the same article from several connections at once: one 204,
    # and "not found" for the others (never "forbidden": it is theirs).
    me = A.register("cdel")
    for trial in range(10):
        slug = A.create_article(me)["slug"]
        out = race("DELETE", "/api/articles/" + slug, me["token"])
        statuses = sorted(r.status for r in out)
        odd = [(r.status, r.body) for r in out if r.status not in (204, 404)]
        A.check(statuses.count(204) == 1 and not odd,
                "trial %d: concurrent DELETE /api/articles/%s by its author: %r %r"
                % (trial, slug, statuses, odd[:2]))
        for r in out:
            if r.status == 404:
                A.check(b'"article":["not found"]' in r.body, "404 body: %r" % r.body)


def test_writes_racing_a_delete():
    # Favorites, unfavorites, comments and updates that race the article's deletion find
    # it or not: success or 404 "article not found"; a valid token is never answered
    # 401/403, and nobody gets a 5xx (a deadlock between them is the server's to retry).
    me = A.register("rdel")
    fan = A.register("rdelfan")
    allowed = {"favorite": (200, 404), "unfavorite": (200, 404), "comments": (201, 404),
               "update": (200, 404)}
    for trial in range(20):
        slug = A.create_article(me, tags=["race_" + uid()])["slug"]
        reqs = [("DELETE", "/api/articles/" + slug, None, me["token"], "delete")]
        for i in range(3):
            reqs += [("POST", "/api/articles/%s/favorite" % slug, None, fan["token"], "favorite"),
                     ("POST", "/api/articles/%s/comments" % slug, {"comment": {"body": "c"}},
                      fan["token"], "comments"),
                     ("PUT", "/api/articles/" + slug, {"article": {"body": "b%d" % i}},
                      me["token"], "update"),
                     ("DELETE", "/api/articles/%s/favorite" % slug, None, fan["token"],
                      "unfavorite")]
        out = []
        gate = threading.Barrier(len(reqs))

        def one(method, path, body, token, kind):
            gate.wait()
            out.append((kind, method, path, SRV.request(method, path, body=body, headers={
                "Authorization": "Token " + token})))

        threads = [threading.Thread(target=one, args=x) for x in reqs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        for kind, method, path, r in out:
            if kind == "delete":
                A.check(r.status == 204, "trial %d: the author's DELETE %s: %d %r"
                        % (trial, path, r.status, r.body))
                continue
            A.check(r.status in allowed[kind],
                    "trial %d: %s %s racing the article's deletion: %d %r (expected %s)"
                    % (trial, method, path, r.status, r.body, allowed[kind]))
            if r.status == 404:
                A.check(b'"article":["not found"]' in r.body, "404 body: %r" % r.body)


if __name__ == "__main__":
    apilib.run([test_create_and_get, test_create_without_tags_has_empty_taglist,
                test_create_errors, test_duplicate_titles_get_unique_slugs, test_update,
                test_update_delete_errors, test_delete,
                test_list_default_limit_order_and_pagination, test_list_filters, test_feed,
                test_favorites, test_tags, test_tag_order_is_stable,
                test_unknown_routes_are_json_404, test_concurrent_deletes_by_the_owner,
                test_writes_racing_a_delete], SRV, budget=240)
