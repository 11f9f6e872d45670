#!/usr/bin/env python3
"""tokens.py: token abuse. A real token works with `Token` and `Bearer`; a
missing, malformed, tampered, re-signed with another key, `alg: none`, or
expired token is 401 with a JSON error, on required-auth and optional-auth
endpoints alike; so is every token issued before the user's last password
change (its "ver" claim is older than users.token_version), except the
token that made the change. Expired and forged tokens are made here with Python's hmac
from the server's JWT_SECRET. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import b64url, jwt_parts, jwt_sign  # noqa: E402

apilib.require_services()
TTL = 3600
SRV = apilib.server(env={"CONDUIT_JWT_TTL": str(TTL)})
A = apilib.Api(SRV)
SECRET = SRV.env["JWT_SECRET"]
ME = {}


def me():
    if not ME:
        ME.update(A.register("tok"))
    return ME


def expect_401(token, what, scheme="Token", path="/api/user"):
    r = A.call("GET", path, token=token, scheme=scheme)
    A.expect_error(r, 401, None, None, what)
    body = r.body.decode(errors="replace").lower()
    for word in ("segfault", "exception", "stack", "libjwt", "openssl"):
        A.check(word not in body, "%s: internal detail %r in the 401 body" % (what, word))


def test_valid_token_token_and_bearer():
    u = me()
    A.expect(A.get("/api/user", token=u["token"]), 200, "Token scheme")
    A.expect(A.call("GET", "/api/user", token=u["token"], scheme="Bearer"), 200, "Bearer scheme")


def test_token_claims_are_hs256_with_expiry():
    header, payload, sig = jwt_parts(me()["token"])
    A.check(header.get("alg") == "HS256", "token alg is %r, expected HS256" % header.get("alg"))
    A.check(isinstance(payload.get("exp"), (int, float)), "token has no numeric exp: %r" % payload)
    now = time.time()
    A.check(now + TTL - 120 <= payload["exp"] <= now + TTL + 120,
            "exp %s is not now + CONDUIT_JWT_TTL (%d)" % (payload["exp"], TTL))
    # The signature is HMAC-SHA256 of the first two parts under JWT_SECRET.
    h, p, _ = me()["token"].split(".")
    mac = hmac.new(SECRET.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    A.check(hmac.compare_digest(mac, sig), "signature is not HMAC-SHA256 with JWT_SECRET")


def test_missing_token():
    A.expect_error(A.get("/api/user"), 401, "token", "is missing", "no Authorization")
    A.expect_error(A.get("/api/user", headers={"Authorization": ""}), 401, None, None,
                   "empty Authorization")
    A.expect_error(A.get("/api/user", headers={"Authorization": "Token"}), 401, None, None,
                   "scheme without token")
    A.expect_error(A.get("/api/user", headers={"Authorization": "Token "}), 401, None, None,
                   "scheme and a space")


def test_malformed_tokens():
    u = me()
    good = u["token"]
    h, p, s = good.split(".")
    for bad in ("abc", "a.b", "a.b.c", "..", "...", h + "." + p, h + "." + p + ".", "." + p + "." + s,
                h + ".." + s, "%%%.$$$.***", good + ".extra", good + "x", "x" * 4000,
                b64url(b"\xff\xfe") + "." + p + "." + s, b64url(b"[]") + "." + p + "." + s,
                b64url(b'{"alg":"HS256"') + "." + p + "." + s):
        expect_401(bad, "malformed token %r" % bad[:40])
    for scheme in ("Basic", "Tokenx", "Digest"):
        expect_401(good, "scheme %r" % scheme, scheme=scheme)


def test_tampered_signature_and_payload():
    u = me()
    header, payload, sig = jwt_parts(u["token"])
    h, p, s = u["token"].split(".")
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    expect_401(h + "." + p + "." + b64url(flipped), "signature with one bit flipped")
    expect_401(h + "." + p + "." + b64url(sig[:-1]), "truncated signature")
    other = A.register("tok_victim")
    _, victim_payload, _ = jwt_parts(other["token"])
    # The victim's payload under my signature.
    expect_401(h + "." + other["token"].split(".")[1] + "." + s, "swapped payload")
    # A payload edited to extend its life, signature untouched.
    longer = dict(payload, exp=int(time.time()) + 10 * 365 * 86400)
    expect_401(h + "." + b64url(json.dumps(longer).encode()) + "." + s,
               "payload edited, old signature")
    # Correctly signed, but with another key.
    expect_401(jwt_sign(header, payload, "not-the-secret"), "signed with another key")
    expect_401(jwt_sign(header, payload, SECRET + "x"), "signed with a longer key")
    expect_401(jwt_sign(header, victim_payload, ""), "signed with an empty key")
    # The untouched tokens still work.
    A.expect(A.get("/api/user", token=u["token"]), 200, "original still valid")
    doc = A.expect(A.get("/api/user", token=other["token"]), 200, "victim's own token")
    A.check(doc["user"]["username"] == other["username"], "victim's token is the victim")


def test_alg_none_and_other_algs():
    u = me()
    header, payload, sig = jwt_parts(u["token"])
    p = u["token"].split(".")[1]
    for alg in ("none", "None", "NONE", ""):
        none_h = b64url(('{"alg":"%s","typ":"JWT"}' % alg).encode())
        expect_401(none_h + "." + p + ".", "alg %r, empty signature" % alg)
        expect_401(none_h + "." + p + "." + u["token"].split(".")[2],
                   "alg %r with the real signature" % alg)
    # The header's alg is not trusted to pick a weaker or different algorithm.
    expect_401(jwt_sign(dict(header, alg="HS512"), payload, SECRET, alg="sha512"),
               "alg HS512 signed with the secret")
    expect_401(jwt_sign(dict(header, alg="HS384"), payload, SECRET, alg="sha384"),
               "alg HS384 signed with the secret")


def test_expired_token():
    u = me()
    header, payload, _ = jwt_parts(u["token"])
    now = int(time.time())
    # Correctly signed with the server's secret, expired a minute ago.
    expired = jwt_sign(header, dict(payload, exp=now - 60), SECRET)
    expect_401(expired, "expired token (signed with JWT_SECRET)")
    # The same, valid for another minute, is accepted: the forgery itself is right.
    fresh = jwt_sign(header, dict(payload, exp=now + 60), SECRET)
    A.expect(A.get("/api/user", token=fresh), 200, "re-signed unexpired token")
    # exp as a string or missing is not honoured.
    expect_401(jwt_sign(header, dict(payload, exp=str(now + 60)), SECRET), "exp as a string")
    noexp = dict(payload)
    noexp.pop("exp", None)
    expect_401(jwt_sign(header, noexp, SECRET), "token without exp")


def test_bad_token_on_optional_auth_endpoints():
    # A bad token is refused even where a token is optional.
    u = me()
    _, _, sig = jwt_parts(u["token"])
    h, p, _ = u["token"].split(".")
    forged = h + "." + p + "." + b64url(bytes([sig[0] ^ 0x80]) + sig[1:])
    for path in ("/api/articles", "/api/profiles/" + u["username"]):
        A.expect_error(A.get(path, token=forged), 401, None, None, "forged token on " + path)
    A.expect_error(A.get("/api/articles/feed", token=forged), 401, None, None, "forged on feed")


def test_password_change_ends_older_tokens():
    u = A.register("pwchg")
    second = A.login(u)  # a second session, also issued before the change
    keep = A.expect(A.put("/api/user", {"user": {"bio": "no password here"}}, token=u["token"]),
                    200, "update without a password")
    A.check(keep["user"]["token"] == u["token"], "an update without a password keeps the token")
    A.expect(A.get("/api/user", token=u["token"]), 200, "token after a bio change")
    doc = A.expect(A.put("/api/user", {"user": {"password": "changed-pw-1"}}, token=u["token"]),
                   200, "password change")
    fresh = doc["user"]["token"]
    A.check(fresh != u["token"], "the password change answers with a new token")
    _, payload, _ = jwt_parts(fresh)
    A.check(payload.get("ver") == 1, "new token carries ver 1: %r" % payload)
    a = {"article": {"title": "t " + apilib.uid(), "description": "d", "body": "b"}}
    # The session that changed the password stays signed in (the RealWorld
    # suite changes a password twice with one token); every other token issued
    # before the change is refused, on every kind of route.
    A.expect(A.get("/api/user", token=u["token"]), 200, "the token that changed the password")
    a2 = {"article": {"title": "t " + apilib.uid(), "description": "d", "body": "b"}}
    A.expect(A.post("/api/articles", a2, token=u["token"]), 201, "the changer's token writes")
    for old, what in ((second, "another session"),):
        expect_401(old, what + ", on GET /api/user")
        A.expect_error(A.post("/api/articles", a, token=old), 401, "token", "is invalid",
                       what + ", on POST /api/articles")
        A.expect_error(A.get("/api/articles/feed", token=old), 401, None, None,
                       what + ", on the feed")
        A.expect_error(A.get("/api/profiles/" + u["username"], token=old), 401, None, None,
                       what + ", on an optional-auth route")
    A.expect(A.get("/api/user", token=fresh), 200, "the fresh token")
    # A change made with the fresh token ends the one that made the first.
    A.expect(A.put("/api/user", {"user": {"password": "changed-pw-2"}}, token=fresh), 200,
             "second password change, from the fresh token")
    # Another worker may have checked that token in the last second (each
    # worker remembers a checked token for 1 s): wait that out.
    time.sleep(1.2)
    expect_401(u["token"], "the first changer's token after a later change by another")
    A.expect(A.get("/api/user", token=fresh), 200, "the second changer stays signed in")
    u["password"] = "changed-pw-2"
    A.expect(A.post("/api/articles", a, token=fresh), 201, "the fresh token writes")
    relog = A.login(u)
    A.expect(A.get("/api/articles/feed", token=relog), 200, "a token from a new login")


if __name__ == "__main__":
    apilib.run([test_valid_token_token_and_bearer, test_token_claims_are_hs256_with_expiry,
                test_missing_token, test_malformed_tokens, test_tampered_signature_and_payload,
                test_alg_none_and_other_algs, test_expired_token,
                test_bad_token_on_optional_auth_endpoints,
                test_password_change_ends_older_tokens], SRV, budget=120)
