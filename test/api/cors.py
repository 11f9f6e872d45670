#!/usr/bin/env python3
"""cors.py: CORS with configured origins (CONDUIT_CORS_ORIGINS). Preflight
OPTIONS requests are answered without a token and name the allowed method and
headers; an allowed origin is echoed (with Vary: Origin) on preflights and on
ordinary responses, errors included; any other origin gets no
Access-Control-Allow-Origin. Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402

apilib.require_services()
ALLOWED = ("http://allowed.example", "https://also.example:8443")
SRV = apilib.server(env={"CONDUIT_CORS_ORIGINS": ",".join(ALLOWED)})
A = apilib.Api(SRV)


def preflight(path, origin, method="POST", headers="authorization, content-type"):
    return A.call("OPTIONS", path, headers={"Origin": origin,
                                            "Access-Control-Request-Method": method,
                                            "Access-Control-Request-Headers": headers})


def listed(value):
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def check_allowed(r, origin, what):
    A.check(r.headers.get("access-control-allow-origin") == origin,
            "%s: Access-Control-Allow-Origin %r, expected %r"
            % (what, r.headers.get("access-control-allow-origin"), origin))
    A.check("origin" in listed(r.headers.get("vary")), what + ": no Vary: Origin")


def test_preflight_allowed_origin():
    for path, method in (("/api/articles", "POST"), ("/api/user", "PUT"),
                         ("/api/articles/some-slug/comments/1", "DELETE"),
                         ("/api/profiles/x/follow", "POST"), ("/api/users/login", "POST")):
        for origin in ALLOWED:
            r = preflight(path, origin, method)
            A.check(r.status in (200, 204), "preflight %s %s: status %d" % (method, path, r.status))
            check_allowed(r, origin, "preflight " + path)
            methods = listed(r.headers.get("access-control-allow-methods"))
            A.check(method.lower() in methods, "preflight %s: %s not in allowed methods %r"
                    % (path, method, methods))
            hdrs = listed(r.headers.get("access-control-allow-headers"))
            A.check({"authorization", "content-type"} <= hdrs,
                    "preflight %s: allowed headers %r lack authorization/content-type"
                    % (path, hdrs))


def test_preflight_other_origin():
    for origin in ("http://evil.example", "http://allowed.example.evil.example",
                   "http://allowed.exampl", "null"):
        r = preflight("/api/articles", origin)
        A.check(r.status < 500, "preflight from %s: %d" % (origin, r.status))
        A.check("access-control-allow-origin" not in r.headers,
                "preflight from %s allowed: %r" % (origin, r.headers))


def test_simple_requests():
    for origin in ALLOWED:
        r = A.get("/api/tags", headers={"Origin": origin})
        A.expect(r, 200, "tags with Origin")
        check_allowed(r, origin, "GET /api/tags")
        r = A.get("/api/user", headers={"Origin": origin})
        A.expect_error(r, 401, "token", "is missing", "401 with Origin")
        check_allowed(r, origin, "401 response")
    r = A.get("/api/tags", headers={"Origin": "http://evil.example"})
    A.expect(r, 200, "tags from another origin")
    A.check("access-control-allow-origin" not in r.headers, "another origin allowed on GET")
    r = A.get("/api/tags")
    A.expect(r, 200, "tags without Origin")


if __name__ == "__main__":
    apilib.run([test_preflight_allowed_origin, test_preflight_other_origin, test_simple_requests],
               SRV, budget=60)
