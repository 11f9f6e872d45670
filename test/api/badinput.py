#!/usr/bin/env python3
"""badinput.py: hostile input. Malformed JSON, wrong types, missing or empty
fields, invalid UTF-8, NUL characters, deeply nested and huge documents, and
bad query parameters each get a 4xx with a JSON error (never a 5xx, and the
server keeps serving); SQL metacharacters in every field are stored and read
back verbatim and match nothing extra in the list filters.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import json
import os
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)
META = "' \" ; -- /* */ % _ \\ ( ) `$1` OR 1=1; DROP TABLE users; --"
ME = {}


def me():
    if not ME:
        u = A.register("bad")
        u["slug"] = A.create_article(u)["slug"]
        ME.update(u)
    return ME


def client_error(r, what, allowed=(400, 422)):
    """A 4xx in `allowed` with a well-formed JSON error body."""
    A.expect_error(r, allowed, None, None, what)


def alive():
    A.expect(A.get("/api/tags"), 200, "server still serving")


def writes():
    """(method, path, token) of every endpoint that takes a JSON body."""
    u = me()
    t = u["token"]
    return [("POST", "/api/users", None), ("POST", "/api/users/login", None),
            ("PUT", "/api/user", t), ("POST", "/api/articles", t),
            ("PUT", "/api/articles/" + u["slug"], t),
            ("POST", "/api/articles/%s/comments" % u["slug"], t)]


def test_malformed_json():
    for method, path, token in writes():
        for raw in (b"", b"{", b'{"user":', b"not json", b"{'user': {}}", b'{"user":{}}}',
                    b'{"user":{"email":"a@b.c",}}', b"\x00\x01\x02", b"[1,2", b'"str',
                    b'{"a":1} trailing'):
            client_error(A.call(method, path, body=raw, token=token),
                         "%s %s with %r" % (method, path, raw))
    alive()


def test_wrong_json_shapes():
    for method, path, token in writes():
        for doc in ([], [1], "user", 42, None, True, {"user": "x"}, {"user": []},
                    {"article": None}, {"comment": 1}):
            client_error(A.call(method, path, body=json.dumps(doc), token=token),
                         "%s %s with %r" % (method, path, doc))
    alive()


def test_wrong_types():
    u = me()
    t = u["token"]
    n = uid()
    good = {"username": "wt_" + n, "email": "wt_%s@test.com" % n, "password": "password123"}
    for field in ("username", "email", "password"):
        for bad in (123, True, [], {}, ["a"], 1.5):
            client_error(A.post("/api/users", {"user": dict(good, **{field: bad})}),
                         "register %s=%r" % (field, bad), allowed=(422,))
    A.expect_error(A.get("/api/profiles/" + good["username"]), 404, "profile", "not found",
                   "no user made by wrongly typed registrations")
    for field in ("email", "password"):
        for bad in (123, False, [], {}):
            client_error(A.post("/api/users/login", {"user": {
                "email": u["email"], "password": u["password"], field: bad}}),
                "login %s=%r" % (field, bad), allowed=(422,))
    for field, bad in (("bio", 42), ("image", False), ("bio", []), ("image", {}), ("email", 1),
                       ("username", 2), ("password", 12345678)):
        client_error(A.put("/api/user", {"user": {field: bad}}, token=t),
                     "PUT /user %s=%r" % (field, bad), allowed=(422,))
    art = {"title": "T " + n, "description": "d", "body": "b"}
    for field, bad in (("title", 1), ("description", []), ("body", {}), ("title", None),
                       ("tagList", "tag"), ("tagList", [1, 2]), ("tagList", [None]),
                       ("tagList", [["nested"]]), ("tagList", {"a": "b"}), ("tagList", 3)):
        client_error(A.post("/api/articles", {"article": dict(art, **{field: bad})}, token=t),
                     "create article %s=%r" % (field, bad), allowed=(422,))
        client_error(A.put("/api/articles/" + u["slug"], {"article": {field: bad}}, token=t),
                     "update article %s=%r" % (field, bad), allowed=(422,))
    for bad in (5, None, [], {"x": 1}, True):
        client_error(A.post("/api/articles/%s/comments" % u["slug"], {"comment": {"body": bad}},
                            token=t), "comment body=%r" % bad, allowed=(422,))
    doc = A.expect(A.get("/api/articles?author=" + u["username"]), 200, "list")
    A.check(doc["articlesCount"] == 1, "wrongly typed creates made articles")
    doc = A.expect(A.get("/api/articles/%s/comments" % u["slug"]), 200, "comments")
    A.check(doc["comments"] == [], "wrongly typed comments were stored")
    alive()


def test_invalid_utf8_and_nul():
    u = me()
    n = uid()
    bad_strings = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"abc\x80", b"\xf8\x88\x80\x80\x80"]
    for raw in bad_strings:
        body = b'{"user":{"username":"u8_' + n.encode() + raw + \
            b'","email":"u8_' + n.encode() + b'@test.com","password":"password123"}}'
        client_error(A.post("/api/users", body=body), "register with invalid UTF-8 %r" % raw)
        body = b'{"article":{"title":"t' + raw + b'","description":"d","body":"b"}}'
        client_error(A.post("/api/articles", body=body, token=u["token"]),
                     "article with invalid UTF-8 %r" % raw)
    # Escapes that decode to what PostgreSQL text cannot hold.
    for esc in ("\\u0000", "a\\u0000b", "\\ud800", "\\udfff", "x\\ud83dy"):
        body = ('{"user":{"username":"nul_%s%s","email":"nul_%s@test.com",'
                '"password":"password123"}}' % (n, esc, n)).encode()
        client_error(A.post("/api/users", body=body), "register with %s" % esc)
        body = ('{"comment":{"body":"c%s"}}' % esc).encode()
        client_error(A.post("/api/articles/%s/comments" % u["slug"], body=body, token=u["token"]),
                     "comment with %s" % esc)
        body = ('{"user":{"bio":"b%s"}}' % esc).encode()
        client_error(A.put("/api/user", body=body, token=u["token"]), "bio with %s" % esc)
    # Bytes in the URL path that are not UTF-8 once decoded.
    for path in ("/api/profiles/%FF%FE", "/api/articles/%C0%AF", "/api/profiles/a%00b",
                 "/api/articles/%ED%A0%80/comments"):
        r = A.get(path)
        A.check(r.status in (400, 404, 422), "%s: expected 400/404/422, got %d" % (path, r.status))
        A.json(r, path)
    alive()


def test_deeply_nested():
    for depth in (1000, 10000, 100000):
        for raw in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth,
                    b'{"user":{"bio":' + b"[" * depth + b"]" * depth + b"}}"):
            r = A.post("/api/users", body=raw)
            A.check(r.status in (400, 413, 422),
                    "nesting depth %d: expected 400/413/422, got %d" % (depth, r.status))
            A.json(r, "nesting depth %d" % depth)
            alive()


def raw_exchange(head, body, send_body=True, timeout=10):
    """Send head (+ body) on a raw socket; return (status, headers, body).

    The server may answer before the body is sent and close: errors while
    sending are ignored and the answer read anyway."""
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=timeout)
    try:
        s.sendall(head)
        if send_body:
            try:
                s.sendall(body)
            except OSError:
                pass
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head_part, _, rest = data.partition(b"\r\n\r\n")
        lines = head_part.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        want = int(hdrs.get("content-length", "0"))
        while len(rest) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, hdrs, rest[:want]
    finally:
        s.close()


def test_huge_body_413():
    size = 2 * 1024 * 1024
    body = b'{"user":{"bio":"' + b"a" * size + b'"}}'
    for expect in (False, True):
        head = ("POST /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n%s\r\n" % (len(body), "Expect: 100-continue\r\n"
                                                  if expect else "")).encode()
        status, hdrs, data = raw_exchange(head, body, send_body=not expect)
        A.check(status == 413, "huge body (expect=%s): expected 413, got %d" % (expect, status))
        A.check(hdrs.get("content-type", "").startswith("application/json"), "413 is JSON")
        doc = json.loads(data)
        A.check(isinstance(doc.get("errors"), dict) and doc["errors"], "413 has errors")
    # Large but under the limit: a client error or success, never a server error.
    bio = "b" * (600 * 1024)
    r = A.put("/api/user", {"user": {"bio": bio}}, token=me()["token"])
    A.check(r.status in (200, 413, 422), "600 KB bio: expected 200/413/422, got %d" % r.status)
    if r.status == 200:
        doc = A.expect(A.get("/api/user", token=me()["token"]), 200, "GET /user")
        A.check(doc["user"]["bio"] == bio, "600 KB bio stored verbatim")
        A.expect(A.put("/api/user", {"user": {"bio": None}}, token=me()["token"]), 200, "reset")
    many = ["t%d_%s" % (i, uid()) for i in range(2000)]
    r = A.post("/api/articles", {"article": {"title": "many tags", "description": "d",
                                             "body": "b", "tagList": many}}, token=me()["token"])
    A.check(r.status in (201, 413, 422), "2000 tags: expected 201/413/422, got %d" % r.status)
    A.json(r, "2000 tags")
    alive()


def test_auth_body_limit():
    """Login and registration take 8 KiB bodies, not --max-body: a larger one
    is 413 as soon as the head is in (with Expect: 100-continue, before any
    body byte), while other routes still take it."""
    pad = b"x" * 9000
    for path in ("/api/users/login", "/api/users"):
        body = b'{"user":{"email":"a@b.c","password":"' + pad + b'"}}'
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (path, len(body))).encode()
        status, hdrs, _ = raw_exchange(head, body, send_body=False)
        A.check(status == 413, "%s with 9 KB: expected 413 before the body, got %d" % (path, status))
        A.check(hdrs.get("connection") == "close", "%s 413 closes" % path)
        # just under the limit: the route's own answer, not 413
        small = {"user": {"email": "nobody@example.com", "password": "p" * 7000}}
        r = A.post(path, small)
        A.check(r.status != 413, "%s with 7 KB: got 413" % path)
    r = A.put("/api/user", {"user": {"bio": "b" * 9000}}, token=me()["token"])
    A.expect(r, 200, "PUT /api/user with a 9 KB bio (--max-body applies)")
    A.expect(A.put("/api/user", {"user": {"bio": None}}, token=me()["token"]), 200, "reset")
    alive()


def test_bad_query_parameters():
    for query in ("limit=abc", "limit=-1", "limit=0", "offset=-1", "offset=abc", "limit=1.5",
                  "limit=99999999999999999999", "offset=99999999999999999999", "limit=1%00"):
        for path in ("/api/articles", "/api/articles/feed"):
            r = A.get(path + "?" + query, token=me()["token"])
            client_error(r, "%s?%s" % (path, query))
    doc = A.expect(A.get("/api/articles?limit=1000000"), 200, "a large valid limit")
    A.check(isinstance(doc["articles"], list), "large limit: a list")
    for query in ("tag=%FF", "author=%00", "favorited=%C0%AF"):
        r = A.get("/api/articles?" + query)
        A.check(r.status in (200, 400, 422), "?%s: expected 200/400/422, got %d" % (query, r.status))
        doc = A.json(r, query)
        if r.status == 200:
            A.check(doc["articles"] == [], "?%s matched articles" % query)
    alive()


def test_sql_metacharacters_stored_verbatim():
    n = uid()
    name = "o'b\"r;--%_\\(x)* " + n
    email = "o'hara+%s@test.com" % n
    password = "pa'ss\"word;--" + META
    r = A.post("/api/users", {"user": {"username": name, "email": email, "password": password}})
    doc = A.expect(r, 201, "register with metacharacters")
    A.check(doc["user"]["username"] == name and doc["user"]["email"] == email, "stored verbatim")
    u = {"username": name, "email": email, "password": password, "token": doc["user"]["token"]}
    A.login(u)
    A.expect_error(A.post("/api/users/login", {"user": {"email": email, "password": "' OR '1'='1"}}),
                   401, "credentials", "invalid", "SQL injection as password")
    A.expect_error(A.post("/api/users/login", {"user": {"email": "' OR '1'='1",
                                                        "password": password}}),
                   401, "credentials", "invalid", "SQL injection as email")
    doc = A.expect(A.put("/api/user", {"user": {"bio": META, "image": META}}, token=u["token"]),
                   200, "bio and image with metacharacters")
    A.check(doc["user"]["bio"] == META and doc["user"]["image"] == META, "bio/image verbatim")
    p = A.expect(A.get("/api/profiles/" + urllib.parse.quote(name, safe="")), 200, "profile")
    A.check(p["profile"]["username"] == name and p["profile"]["bio"] == META, "profile verbatim")
    tags = [META, "t'ag;" + n, "%" + n, "_" + n]
    art = {"title": "T'itle \"; --" + META, "description": META, "body": META + "\n\t\r" + META,
           "tagList": tags}
    doc = A.expect(A.post("/api/articles", {"article": art}, token=u["token"]), 201, "article")
    a = doc["article"]
    for k in ("title", "description", "body"):
        A.check(a[k] == art[k], "article %s not verbatim: %r" % (k, a[k]))
    A.check(a["tagList"] in (tags, sorted(tags)), "tags not verbatim: %r" % a["tagList"])
    slug = a["slug"]
    got = A.expect(A.get("/api/articles/" + urllib.parse.quote(slug, safe="")), 200, "get")
    for k in ("title", "description", "body"):
        A.check(got["article"][k] == art[k], "article %s not verbatim on read" % k)
    A.check(got["article"]["tagList"] == a["tagList"], "tags not verbatim on read")
    A.check(got["article"]["author"]["username"] == name, "author name verbatim")
    qs = urllib.parse.quote(slug, safe="")
    doc = A.expect(A.post("/api/articles/%s/comments" % qs, {"comment": {"body": META}},
                          token=u["token"]), 201, "comment")
    A.check(doc["comment"]["body"] == META, "comment verbatim")
    got = A.expect(A.get("/api/articles/%s/comments" % qs), 200, "comments")["comments"]
    A.check([c["body"] for c in got] == [META], "comment verbatim on read")
    # Filters match exactly: metacharacters neither break the query nor widen it.
    def count(**params):
        d = A.expect(A.get("/api/articles?" + urllib.parse.urlencode(params)), 200, repr(params))
        return d["articlesCount"], [x["slug"] for x in d["articles"]]

    A.check(count(author=name) == (1, [slug]), "author filter with metacharacters")
    A.check(slug in count(tag=META)[1], "tag filter with metacharacters")
    A.check(count(tag="%" + n) == (1, [slug]), "tag '%' is not a LIKE wildcard")
    A.check(slug not in count(tag="%")[1], "tag '%' matched another tag")
    A.check(count(tag="_" + n) == (1, [slug]), "tag '_' exact")
    A.check(count(author="%") == (0, []), "author '%' matched articles")
    A.check(count(author="' OR '1'='1") == (0, []), "author injection matched articles")
    A.check(count(tag="' OR '1'='1") == (0, []), "tag injection matched articles")
    A.check(count(favorited="' OR 1=1 --") == (0, []), "favorited injection matched articles")
    tags_now = A.expect(A.get("/api/tags"), 200, "tags")["tags"]
    A.check(META in tags_now and "%" + n in tags_now, "tag list verbatim")
    fav = A.expect(A.post("/api/articles/%s/favorite" % qs, token=u["token"]), 200, "favorite")
    A.check(fav["article"]["favoritesCount"] == 1, "favorite")
    A.check(count(favorited=name) == (1, [slug]), "favorited filter with metacharacters")
    # The users table is still there (the DROP TABLE in the values did nothing).
    A.login(u)
    A.expect(A.delete("/api/articles/" + qs, token=u["token"]), 204, "delete")


def test_unicode_verbatim():
    u = me()
    title = "Ünïcödé 日本語 🚀 " + uid()
    a = A.create_article(u, title=title, body="emoji 🎉 and RTL עברית", tags=["标签" + uid()])
    got = A.expect(A.get("/api/articles/" + urllib.parse.quote(a["slug"], safe="")), 200, "get")
    A.check(got["article"]["title"] == title and got["article"]["body"] == a["body"], "verbatim")
    A.check(got["article"]["tagList"] == a["tagList"], "unicode tag verbatim")


def test_clients_that_go_away():
    # Clients that send a request and hang up before the answer (while its query runs,
    # or while a login hashes): the workers survive and the sanitizers stay quiet.
    u = me()
    pids = sorted(SRV.worker_pids())
    login = json.dumps({"user": {"email": u["email"], "password": "password123"}}).encode()
    for i in range(150):
        path = ["/api/articles?limit=20", "/api/articles/" + u["slug"], "/api/tags",
                "/api/articles/%s/comments" % u["slug"], "/api/profiles/" + u["username"]][i % 5]
        with socket.create_connection(("127.0.0.1", SRV.port), timeout=10) as s:
            if i % 10 == 9:
                s.sendall(b"POST /api/users/login HTTP/1.1\r\nHost: t\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(login), login))
            else:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Token %s\r\n\r\n"
                          % (path.encode(), u["token"].encode()))
    # The abandoned requests are still worked off (a half-closed client gets
    # its answers), so for a moment they may fill a worker's --max-in-flight
    # budget: then the answer is admission control's 503 + Retry-After, never
    # another error, and the server serves again once they are done.
    def served():
        r = A.get("/api/tags")
        if r.status == 503 and r.headers.get("retry-after") == "1" and b"overloaded" in r.body:
            return False
        A.expect(r, 200, "server still serving")
        return True
    apilib.wait_for(served, 30, "GET /api/tags served after the abandoned requests")
    A.expect(A.get("/api/articles/" + u["slug"]), 200, "article after abandoned requests")
    A.check(sorted(SRV.worker_pids()) == pids, "a worker died after abandoned requests")


if __name__ == "__main__":
    apilib.run([test_malformed_json, test_wrong_json_shapes, test_wrong_types,
                test_invalid_utf8_and_nul, test_deeply_nested, test_huge_body_413,
                test_auth_body_limit, test_bad_query_parameters, test_sql_metacharacters_stored_verbatim,
                test_unicode_verbatim, test_clients_that_go_away], SRV, budget=180)
