#!/usr/bin/env python3
"""usernames.py: usernames are unique regardless of case. Registration and
renames refuse a name that differs from a taken one only in case (409), a
user may change the case of their own name, and migration
0021_users_username_lower renames existing case duplicates (the oldest
account keeps the name, the others become "<name>-<id>") before it builds
the unique index on lower(username) concurrently. The migration part runs
on a private PostgreSQL of its own. Needs DATABASE_URL and REDIS_URL (else
SKIP)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402

apilib.require_services()
SRV = apilib.server()
A = apilib.Api(SRV)


def test_register_and_rename_ignore_case():
    base = "Case_" + apilib.uid()
    first = {"username": base, "email": base.lower() + "@test.com", "password": "password123"}
    A.expect(A.post("/api/users", {"user": first}), 201, "register " + base)
    for variant in (base.lower(), base.upper()):
        clash = {"username": variant, "email": "x" + variant.lower() + "@test.com",
                 "password": "password123"}
        A.expect_error(A.post("/api/users", {"user": clash}), 409, "username",
                       "has already been taken", "register %s after %s" % (variant, base))
    other = A.register("case_o")
    A.expect_error(A.put("/api/user", {"user": {"username": base.swapcase()}},
                         token=other["token"]),
                   409, "username", "has already been taken", "rename to a case variant")
    doc = A.expect(A.put("/api/user", {"user": {"username": other["username"].upper()}},
                         token=other["token"]), 200, "change the case of one's own name")
    A.check(doc["user"]["username"] == other["username"].upper(), "own rename kept: %r" % doc)
    A.expect(A.get("/api/profiles/" + base), 200, "the first account's profile")


def psql(pg, sql):
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", pg.url, "-c", sql],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("psql %r exited %d: %s" % (sql, p.returncode, p.stdout.decode()))
    return p.stdout.decode().strip()


def test_migration_renames_case_duplicates():
    pg = apilib.PrivatePostgres()
    with pg:
        apilib.migrate(pg.url)
        valid = psql(pg, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'users_username_lower_key'::regclass")
        A.check(valid == "t", "the migration built a valid index: %r" % valid)
        # Back to the state before 0021, with duplicates made meanwhile.
        psql(pg, "DROP INDEX users_username_lower_key")
        psql(pg, "DELETE FROM schema_migrations WHERE version = '0021_users_username_lower'")
        psql(pg, "INSERT INTO users (username, email, password_hash) VALUES "
                 "('Alice', 'a1@x', 'h'), ('bob', 'b@x', 'h'), ('alice', 'a2@x', 'h'), "
                 "('ALICE', 'a3@x', 'h')")
        ids = psql(pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM users").split(",")
        apilib.migrate(pg.url)
        names = psql(pg, "SELECT string_agg(username, ',' ORDER BY id) FROM users")
        want = "Alice,bob,alice-%s,ALICE-%s" % (ids[2], ids[3])
        A.check(names == want, "after the migration: %r, expected %r" % (names, want))
        valid = psql(pg, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'users_username_lower_key'::regclass")
        A.check(valid == "t", "the index is valid after the rebuild: %r" % valid)
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pg.url, "-c",
                            "INSERT INTO users (username, email, password_hash) "
                            "VALUES ('BOB', 'b2@x', 'h')"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        A.check(p.returncode != 0 and b"users_username_lower_key" in p.stdout,
                "the index refuses BOB beside bob: %r" % p.stdout)


if __name__ == "__main__":
    apilib.run([test_register_and_rename_ignore_case, test_migration_renames_case_duplicates],
               SRV, budget=180)
