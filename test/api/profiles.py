#!/usr/bin/env python3
"""profiles.py: GET /profiles/{username}, follow and unfollow, with and without
a token, and their errors, against a real conduitd, PostgreSQL and Redis.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)


def check_profile(p, user, following, what):
    A.check(set(p) >= {"username", "bio", "image", "following"}, what + ": missing fields")
    A.check(p["username"] == user["username"], what + ": username")
    A.check(p["following"] is following, "%s: following should be %s" % (what, following))
    A.check("email" not in p and "token" not in p, what + ": profile leaks email or token")


def test_get_profile_anonymous_and_authenticated():
    me = A.register("pme")
    celeb = A.register("pceleb")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"]), 200, "anonymous profile")
    p = doc["profile"]
    check_profile(p, celeb, False, "anonymous profile")
    A.check(p["bio"] is None and p["image"] is None, "bio and image null")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"], token=me["token"]), 200,
                   "profile with token")
    check_profile(doc["profile"], celeb, False, "profile with token")


def test_follow_unfollow():
    me = A.register("fme")
    celeb = A.register("fceleb")
    path = "/api/profiles/%s/follow" % celeb["username"]
    doc = A.expect(A.post(path, token=me["token"]), 200, "follow")
    check_profile(doc["profile"], celeb, True, "follow")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"], token=me["token"]), 200, "after")
    check_profile(doc["profile"], celeb, True, "profile after follow")
    # Following twice is harmless.
    doc = A.expect(A.post(path, token=me["token"]), 200, "follow again")
    check_profile(doc["profile"], celeb, True, "follow again")
    # Following is per viewer: anonymous and a third user see false.
    other = A.register("fother")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"], token=other["token"]), 200, "3rd")
    check_profile(doc["profile"], celeb, False, "third user's view")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"]), 200, "anonymous")
    check_profile(doc["profile"], celeb, False, "anonymous view")
    # And it is one-way.
    doc = A.expect(A.get("/api/profiles/" + me["username"], token=celeb["token"]), 200, "reverse")
    check_profile(doc["profile"], me, False, "reverse direction")
    doc = A.expect(A.delete(path, token=me["token"]), 200, "unfollow")
    check_profile(doc["profile"], celeb, False, "unfollow")
    doc = A.expect(A.get("/api/profiles/" + celeb["username"], token=me["token"]), 200, "after")
    check_profile(doc["profile"], celeb, False, "profile after unfollow")
    doc = A.expect(A.delete(path, token=me["token"]), 200, "unfollow again")
    check_profile(doc["profile"], celeb, False, "unfollow again")


def test_follow_self_is_not_a_server_error():
    me = A.register("fself")
    r = A.post("/api/profiles/%s/follow" % me["username"], token=me["token"])
    A.check(r.status < 500, "following oneself must not be a 5xx")
    A.json(r, "follow self")


def test_profile_errors():
    n = uid()
    A.expect_error(A.get("/api/profiles/unknown-user-" + n), 404, "profile", "not found",
                   "unknown profile")
    A.expect_error(A.post("/api/profiles/unknown-user-%s/follow" % n), 401, "token",
                   "is missing", "follow without token")
    A.expect_error(A.delete("/api/profiles/unknown-user-%s/follow" % n), 401, "token",
                   "is missing", "unfollow without token")
    me = A.register("perr")
    A.expect_error(A.post("/api/profiles/unknown-user-%s/follow" % n, token=me["token"]), 404,
                   "profile", "not found", "follow unknown")
    A.expect_error(A.delete("/api/profiles/unknown-user-%s/follow" % n, token=me["token"]), 404,
                   "profile", "not found", "unfollow unknown")
    celeb = A.register("perr_c")
    A.expect_error(A.post("/api/profiles/%s/follow" % celeb["username"]), 401, "token",
                   "is missing", "follow existing without token")


def test_username_with_escaped_characters():
    # A percent-encoded path resolves to the same user (and no other).
    me = A.register("pesc")
    quoted = urllib.parse.quote(me["username"], safe="")
    A.expect(A.get("/api/profiles/" + quoted.replace("_", "%5F")), 200, "percent-encoded name")
    A.expect_error(A.get("/api/profiles/" + quoted + "%25"), 404, "profile", "not found",
                   "name with a trailing %")


if __name__ == "__main__":
    apilib.run([test_get_profile_anonymous_and_authenticated, test_follow_unfollow,
                test_follow_self_is_not_a_server_error, test_profile_errors,
                test_username_with_escaped_characters], SRV, budget=120)
