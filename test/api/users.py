#!/usr/bin/env python3
"""users.py: users and authentication endpoints against a real conduitd,
PostgreSQL and Redis: register, login, current user, update; their error
cases as the spec (../shared/realworld/openapi.yml) and the upstream suite state
them. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)


def check_user_doc(doc, u, what):
    user = doc.get("user")
    A.check(isinstance(user, dict), what + ": no user object")
    for key in ("email", "token", "username", "bio", "image"):
        A.check(key in user, "%s: user has no %r" % (what, key))
    A.check(user["username"] == u["username"], what + ": username")
    A.check(user["email"] == u["email"], what + ": email")
    A.check(isinstance(user["token"], str) and user["token"].count(".") == 2,
            what + ": token is not a JWT")
    for leaked in ("password", "hash", "password_hash"):
        A.check(leaked not in user, "%s: user carries %r" % (what, leaked))
    A.check(b"argon2" not in A.last[4].body and b"$2b$" not in A.last[4].body,
            what + ": a password hash leaks into the response")
    return user


def test_register_returns_201_and_user():
    name = "reg_" + uid()
    u = {"username": name, "email": name + "@test.com", "password": "password123"}
    doc = A.expect(A.post("/api/users", {"user": u}), 201, "register")
    user = check_user_doc(doc, u, "register")
    A.check(user["bio"] is None and user["image"] is None, "new user: bio and image are null")
    # The token works at once.
    doc = A.expect(A.get("/api/user", token=user["token"]), 200, "GET /user with new token")
    check_user_doc(doc, u, "GET /user")


def test_register_blank_fields_422():
    n = uid()
    cases = [("username", {"username": "", "email": "b%s@test.com" % n, "password": "password123"}),
             ("email", {"username": "b_" + n, "email": "", "password": "password123"}),
             ("password", {"username": "bp_" + n, "email": "bp%s@test.com" % n, "password": ""})]
    for field, u in cases:
        A.expect_error(A.post("/api/users", {"user": u}), 422, field, "can't be blank",
                       "register blank " + field)


def test_register_missing_fields_422():
    n = uid()
    full = {"username": "m_" + n, "email": "m%s@test.com" % n, "password": "password123"}
    for field in ("username", "email", "password"):
        u = dict(full)
        del u[field]
        A.expect_error(A.post("/api/users", {"user": u}), 422, field, None,
                       "register without " + field)
    A.expect_error(A.post("/api/users", full), 422, None, None, "register without user wrapper")
    A.expect_error(A.post("/api/users", {}), 422, None, None, "register with {}")
    # None of those created the user.
    A.expect_error(A.get("/api/profiles/m_" + n), 404, "profile", "not found",
                   "no user after rejected registrations")


def test_register_duplicates_409():
    u = A.register("dup")
    n = uid()
    A.expect_error(A.post("/api/users", {"user": {
        "username": u["username"], "email": "other%s@test.com" % n, "password": "password123"}}),
        409, "username", "has already been taken", "duplicate username")
    A.expect_error(A.post("/api/users", {"user": {
        "username": "other_" + n, "email": u["email"], "password": "password123"}}),
        409, "email", "has already been taken", "duplicate email")
    # The original account is untouched: its password still logs in.
    A.login(u)


def test_login():
    u = A.register("login")
    doc = A.expect(A.post("/api/users/login", {"user": {
        "email": u["email"], "password": u["password"]}}), 200, "login")
    user = check_user_doc(doc, u, "login")
    doc = A.expect(A.get("/api/user", token=user["token"]), 200, "GET /user with login token")
    check_user_doc(doc, u, "GET /user")


def test_login_errors():
    u = A.register("loginerr")
    A.expect_error(A.post("/api/users/login", {"user": {"email": "", "password": "password123"}}),
                   422, "email", "can't be blank", "login blank email")
    A.expect_error(A.post("/api/users/login", {"user": {"email": u["email"], "password": ""}}),
                   422, "password", "can't be blank", "login blank password")
    A.expect_error(A.post("/api/users/login", {"user": {"email": u["email"]}}),
                   422, "password", None, "login without password")
    A.expect_error(A.post("/api/users/login", {"user": {"password": "password123"}}),
                   422, "email", None, "login without email")
    A.expect_error(A.post("/api/users/login", {"user": {
        "email": u["email"], "password": "wrongpassword"}}),
        401, "credentials", "invalid", "login wrong password")
    # An unknown email looks exactly like a wrong password (no user enumeration).
    A.expect_error(A.post("/api/users/login", {"user": {
        "email": "nobody_%s@test.com" % uid(), "password": "password123"}}),
        401, "credentials", "invalid", "login unknown email")


def test_current_user_needs_token():
    A.expect_error(A.get("/api/user"), 401, "token", "is missing", "GET /user without token")
    A.expect_error(A.put("/api/user", {"user": {"bio": "x"}}), 401, "token", "is missing",
                   "PUT /user without token")


def test_update_bio_and_image():
    u = A.register("upd")
    t = u["token"]

    def put(fields):
        doc = A.expect(A.put("/api/user", {"user": fields}, token=t), 200, "PUT /user %r" % fields)
        return doc["user"]

    def get():
        return A.expect(A.get("/api/user", token=t), 200, "GET /user")["user"]

    user = put({"bio": "Updated bio"})
    A.check(user["bio"] == "Updated bio" and user["image"] is None, "bio updated")
    A.check(user["username"] == u["username"] and user["email"] == u["email"], "rest kept")
    A.check(get()["bio"] == "Updated bio", "bio persisted")
    A.check(put({"bio": ""})["bio"] is None, "bio '' answers null")
    A.check(get()["bio"] is None, "bio '' stored as null")
    put({"bio": "Temporary"})
    A.check(put({"bio": None})["bio"] is None, "bio null accepted")
    A.check(get()["bio"] is None, "bio null persisted")
    user = put({"image": "https://example.com/photo.jpg", "bio": "back"})
    A.check(user["image"] == "https://example.com/photo.jpg" and user["bio"] == "back",
            "image and bio in one update")
    A.check(get()["image"] == "https://example.com/photo.jpg", "image persisted")
    A.check(put({"image": ""})["image"] is None, "image '' answers null")
    A.check(get()["image"] is None, "image '' stored as null")
    put({"image": "https://example.com/t.jpg"})
    A.check(put({"image": None})["image"] is None, "image null accepted")
    user = get()
    A.check(user["image"] is None and user["bio"] == "back", "image null persisted, bio kept")
    # The profile shows the same.
    prof = A.expect(A.get("/api/profiles/" + u["username"]), 200, "profile")["profile"]
    A.check(prof["bio"] == "back" and prof["image"] is None, "profile shows the update")


def test_update_username_and_email():
    u = A.register("ren")
    n = uid()
    new = {"username": "ren2_" + n, "email": "ren2_%s@test.com" % n}
    doc = A.expect(A.put("/api/user", {"user": new}, token=u["token"]), 200, "rename")
    user = doc["user"]
    A.check(user["username"] == new["username"] and user["email"] == new["email"], "renamed")
    doc = A.expect(A.get("/api/user", token=user["token"]), 200, "GET /user with new token")
    A.check(doc["user"]["username"] == new["username"], "rename persisted")
    # Logging in works with the new email, not the old one.
    A.expect(A.post("/api/users/login", {"user": {
        "email": new["email"], "password": u["password"]}}), 200, "login with new email")
    A.expect_error(A.post("/api/users/login", {"user": {
        "email": u["email"], "password": u["password"]}}), 401, "credentials", "invalid",
        "login with old email")
    A.expect(A.get("/api/profiles/" + new["username"]), 200, "profile under new name")
    A.expect_error(A.get("/api/profiles/" + u["username"]), 404, "profile", "not found",
                   "profile under old name")


def test_update_password():
    u = A.register("pw")
    doc = A.expect(A.put("/api/user", {"user": {"password": "bonjour1"}}, token=u["token"]), 200,
                   "password of 8 characters")
    # A password change ends the tokens issued before it (tokens.py); the
    # answer carries a fresh one.
    u["token"] = doc["user"]["token"]
    A.expect_error(A.post("/api/users/login", {"user": {
        "email": u["email"], "password": u["password"]}}), 401, "credentials", "invalid",
        "old password after change")
    u["password"] = "bonjour1"
    u["token"] = A.login(u)
    A.expect(A.put("/api/user", {"user": {"password": "a" * 64}}, token=u["token"]), 200,
             "password of 64 characters")
    u["password"] = "a" * 64
    A.login(u)


def test_update_errors_422():
    u = A.register("upderr")
    other = A.register("upderr_o")
    t = u["token"]
    for fields in ({"email": ""}, {"username": ""}, {"email": None}, {"username": None},
                   {"password": ""}, {"password": None}, {"password": "short7c"}):
        field = list(fields)[0]
        A.expect_error(A.put("/api/user", {"user": fields}, token=t), 422, field, None,
                       "PUT /user %r" % fields)
    A.expect_error(A.put("/api/user", {"bio": "no wrapper"}, token=t), 422, None, None,
                   "PUT /user without user wrapper")
    # Taking another user's name or email is refused (409 or 422), keyed by the field.
    r = A.put("/api/user", {"user": {"username": other["username"]}}, token=t)
    A.expect_error(r, (409, 422), "username", "has already been taken", "rename to a taken name")
    r = A.put("/api/user", {"user": {"email": other["email"]}}, token=t)
    A.expect_error(r, (409, 422), "email", "has already been taken", "email already taken")
    # Nothing changed.
    doc = A.expect(A.get("/api/user", token=t), 200, "GET /user after rejected updates")
    A.check(doc["user"]["username"] == u["username"] and doc["user"]["email"] == u["email"],
            "rejected updates changed nothing")
    A.login(u)


if __name__ == "__main__":
    apilib.run([test_register_returns_201_and_user, test_register_blank_fields_422,
                test_register_missing_fields_422, test_register_duplicates_409, test_login,
                test_login_errors, test_current_user_needs_token, test_update_bio_and_image,
                test_update_username_and_email, test_update_password, test_update_errors_422],
               SRV, budget=180)
