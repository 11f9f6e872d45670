#!/usr/bin/env python3
"""comments.py: comments on articles (list, create, delete) with and without a
token, who may delete what, and the errors, against a real conduitd, PostgreSQL
and Redis. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import TIMESTAMP_RE, uid  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)


def check_comment(c, what):
    A.check(set(c) >= {"id", "createdAt", "updatedAt", "body", "author"}, what + ": fields")
    A.check(isinstance(c["id"], int) and not isinstance(c["id"], bool), what + ": id integer")
    for k in ("createdAt", "updatedAt"):
        A.check(isinstance(c[k], str) and TIMESTAMP_RE.match(c[k]),
                "%s: %s %r is not ISO 8601 UTC with milliseconds" % (what, k, c[k]))
    A.check(set(c["author"]) >= {"username", "bio", "image", "following"}, what + ": author")


def comments(slug, token=None, what="list comments"):
    doc = A.expect(A.get("/api/articles/%s/comments" % slug, token=token), 200, what)
    A.check(isinstance(doc.get("comments"), list), what + ": comments is not a list")
    for i, c in enumerate(doc["comments"]):
        check_comment(c, "%s[%d]" % (what, i))
    return doc["comments"]


def add(slug, user, body):
    doc = A.expect(A.post("/api/articles/%s/comments" % slug, {"comment": {"body": body}},
                          token=user["token"]), 201, "create comment")
    check_comment(doc["comment"], "create comment")
    return doc["comment"]


def test_create_list_delete():
    me = A.register("cmt")
    slug = A.create_article(me)["slug"]
    A.check(comments(slug) == [], "new article: no comments")
    c = add(slug, me, "Test comment body")
    A.check(c["body"] == "Test comment body" and c["author"]["username"] == me["username"],
            "created comment")
    got = comments(slug, token=me["token"], what="list with token")
    A.check(len(got) == 1 and got[0]["id"] == c["id"] and got[0]["body"] == c["body"],
            "list with token")
    A.check(got[0]["createdAt"] == c["createdAt"], "createdAt stable")
    got = comments(slug, what="list anonymous")
    A.check(len(got) == 1 and got[0]["author"]["username"] == me["username"], "list anonymous")
    A.expect(A.delete("/api/articles/%s/comments/%d" % (slug, c["id"]), token=me["token"]), 204,
             "delete comment")
    A.check(comments(slug) == [], "deleted")
    first = add(slug, me, "First comment")
    second = add(slug, me, "Second comment")
    A.check(first["id"] != second["id"], "distinct ids")
    A.check(len(comments(slug)) == 2, "two comments")
    A.expect(A.delete("/api/articles/%s/comments/%d" % (slug, first["id"]), token=me["token"]),
             204, "delete first")
    got = comments(slug)
    A.check([x["body"] for x in got] == ["Second comment"], "only the second remains")
    A.expect_error(A.delete("/api/articles/%s/comments/%d" % (slug, first["id"]),
                            token=me["token"]), 404, "comment", "not found", "delete twice")


def test_comment_author_following_for_viewer():
    author = A.register("cauth")
    reader = A.register("cread")
    slug = A.create_article(author)["slug"]
    add(slug, author, "by the author")
    A.expect(A.post("/api/profiles/%s/follow" % author["username"], token=reader["token"]), 200,
             "follow")
    got = comments(slug, token=reader["token"], what="as follower")
    A.check(got[0]["author"]["following"] is True, "comment author followed by the viewer")
    got = comments(slug, what="anonymous")
    A.check(got[0]["author"]["following"] is False, "anonymous: following false")


def test_comment_errors():
    me = A.register("cerr")
    other = A.register("cerr_o")
    slug = A.create_article(me)["slug"]
    n = uid()
    A.expect_error(A.post("/api/articles/%s/comments" % slug, {"comment": {"body": "x"}}), 401,
                   "token", "is missing", "post without token")
    A.expect_error(A.delete("/api/articles/%s/comments/1" % slug), 401, "token", "is missing",
                   "delete without token")
    A.expect_error(A.post("/api/articles/%s/comments" % slug, {"comment": {"body": ""}},
                          token=me["token"]), 422, "body", "can't be blank", "blank body")
    A.expect_error(A.post("/api/articles/%s/comments" % slug, {"comment": {}},
                          token=me["token"]), 422, "body", None, "missing body")
    A.expect_error(A.post("/api/articles/%s/comments" % slug, {"body": "x"},
                          token=me["token"]), 422, None, None, "no comment wrapper")
    A.expect_error(A.post("/api/articles/unknown-slug-%s/comments" % n, {"comment": {
        "body": "orphan"}}, token=me["token"]), 404, "article", "not found", "post on unknown")
    A.expect_error(A.get("/api/articles/unknown-slug-%s/comments" % n), 404, "article",
                   "not found", "list on unknown")
    A.expect_error(A.delete("/api/articles/unknown-slug-%s/comments/99999" % n,
                            token=me["token"]), 404, "article", "not found", "delete on unknown")
    A.expect_error(A.delete("/api/articles/%s/comments/2147483647" % slug, token=me["token"]),
                   404, "comment", "not found", "delete unknown id")
    A.check(comments(slug) == [], "rejected posts left nothing")
    # Another user may not delete my comment.
    c = add(slug, me, "A's comment")
    A.expect_error(A.delete("/api/articles/%s/comments/%d" % (slug, c["id"]),
                            token=other["token"]), 403, "comment", "forbidden", "delete by other")
    A.check([x["id"] for x in comments(slug)] == [c["id"]], "comment survived the 403")
    # A comment is addressed through its own article only.
    slug2 = A.create_article(me)["slug"]
    A.expect_error(A.delete("/api/articles/%s/comments/%d" % (slug2, c["id"]), token=me["token"]),
                   404, "comment", "not found", "delete through another article")
    A.check([x["id"] for x in comments(slug)] == [c["id"]], "still there")
    # Ids that are not integers are a client error, not a server error.
    for bad in ("abc", "-1", "1.5", "99999999999999999999999"):
        r = A.delete("/api/articles/%s/comments/%s" % (slug, bad), token=me["token"])
        A.check(r.status in (404, 422), "comment id %r: 404 or 422" % bad)
        A.json(r, "comment id " + bad)
    A.check([x["id"] for x in comments(slug)] == [c["id"]], "still there after bad ids")


def test_comment_on_someone_elses_article():
    author = A.register("cown")
    visitor = A.register("cvis")
    slug = A.create_article(author)["slug"]
    c = add(slug, visitor, "visitor's comment")
    # The visitor deletes their own comment on someone else's article.
    A.expect(A.delete("/api/articles/%s/comments/%d" % (slug, c["id"]), token=visitor["token"]),
             204, "delete own comment on other's article")
    A.check(comments(slug) == [], "deleted")


def test_concurrent_deletes_by_the_author():
    # The author deleting the same comment from several connections at once: one 204,
    # "not found" for the others (never "forbidden": it is theirs).
    me = A.register("ccdel")
    slug = A.create_article(me)["slug"]
    for trial in range(10):
        c = add(slug, me, "to delete %d" % trial)
        path = "/api/articles/%s/comments/%d" % (slug, c["id"])
        out = []
        gate = threading.Barrier(12)

        def one():
            gate.wait()
            out.append(SRV.request("DELETE", path, headers={"Authorization": "Token " + me["token"]}))

        threads = [threading.Thread(target=one) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        statuses = sorted(r.status for r in out)
        odd = [(r.status, r.body) for r in out if r.status not in (204, 404)]
        A.check(statuses.count(204) == 1 and not odd,
                "trial %d: concurrent DELETE %s by its author: %r %r"
                % (trial, path, statuses, odd[:2]))


if __name__ == "__main__":
    apilib.run([test_create_list_delete, test_comment_author_following_for_viewer,
                test_comment_errors, test_comment_on_someone_elses_article,
                test_concurrent_deletes_by_the_author], SRV, budget=120)
