#!/usr/bin/env python3
"""online_migrate.py: `conduitd migrate` of the list-scale migrations (0004,
0006, 0007, 0008: count backfill, batched column backfill, CREATE INDEX
CONCURRENTLY, autovacuum settings; 0022-0025: favorites' primary key in
page order) on a live database of 50,000 articles
seeded by SQL, while clients read and write through conduitd. Passes when
every request succeeds, none takes more than 1 s, the migrator retried past
a lock it could not get (a session holding SHARE on article_counts for 3 s,
which 0004 must write; nobody else writes it before 0004), replaced an INVALID index left by a failed concurrent build, and
the result is right: counts equal count(*), no NULL left in the backfilled
columns, every index valid, favorites keyed in page order.

0003, 0005 and 0020 (catalog-only DDL) are applied before conduitd starts: this
tree's statements need their objects to prepare (the previous release would
serve during them in a real rollout; their lock waits are bounded by the
same lock_timeout and retry that the article_counts blocker exercises here).
Uses a database of its own, dropped at the end.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
ARTICLES = 50000
USERS = 5000
BLOCKED_MAX_S = 1.0
DB = "conduit_om_" + uid()
BASE_URL = os.environ["DATABASE_URL"]
_u = urllib.parse.urlsplit(BASE_URL)
DB_URL = urllib.parse.urlunsplit((_u.scheme, _u.netloc, "/" + DB, _u.query, _u.fragment))
SRV = apilib.server(database_url=DB_URL, env={"CONDUIT_CACHE_TTL": "0"}, workers=2)
A = apilib.Api(SRV)
EARLY = ("0001_", "0002_", "0003_", "0005_", "0020_")

# Triggers off while seeding, so the backfills have real work to do (the
# rows look like rows written before 0003 and 0005 existed).
SEED_SQL = """
\\set ON_ERROR_STOP 1
ALTER TABLE articles DISABLE TRIGGER USER;
ALTER TABLE article_tags DISABLE TRIGGER USER;
ALTER TABLE favorites DISABLE TRIGGER USER;
INSERT INTO users (username, email, password_hash, bio)
SELECT 'om' || i, 'om' || i || '@x.test', 'x', 'bio' FROM generate_series(1, %(u)d) i;
INSERT INTO tags (name) SELECT 'omtag' || i FROM generate_series(1, 100) i;
INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
SELECT 'om-' || i, 'title ' || i, 'desc', 'body', 1 + (i::bigint * 7919) %% %(u)d,
       timestamptz '2020-01-01' + i * interval '1 minute',
       timestamptz '2020-01-01' + i * interval '1 minute'
FROM generate_series(1, %(n)d) i;
INSERT INTO article_tags (article_id, tag_id)
SELECT a.id, 1 + (a.id * k * 31) %% 100 FROM articles a, generate_series(1::bigint, 3) k
ON CONFLICT DO NOTHING;
UPDATE articles a SET tag_list = ARRAY(SELECT t.name FROM article_tags at
    JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.id ORDER BY t.name COLLATE "C");
INSERT INTO favorites (user_id, article_id)
SELECT 1 + (a.id * k * 104729) %% %(u)d, a.id FROM articles a, generate_series(1::bigint, 3) k
ON CONFLICT DO NOTHING;
INSERT INTO follows (follower_id, followee_id)
SELECT u.id, 1 + (u.id * k * 7) %% %(u)d FROM users u, generate_series(1::bigint, 5) k
WHERE 1 + (u.id * k * 7) %% %(u)d <> u.id ON CONFLICT DO NOTHING;
INSERT INTO comments (article_id, author_id, body)
SELECT 1 + (i %% %(n)d), 1 + (i %% %(u)d), 'c' FROM generate_series(1, %(n)d) i;
UPDATE articles a SET favorites_count = (SELECT count(*) FROM favorites f WHERE f.article_id = a.id);
ALTER TABLE articles ENABLE TRIGGER USER;
ALTER TABLE article_tags ENABLE TRIGGER USER;
ALTER TABLE favorites ENABLE TRIGGER USER;
ANALYZE articles; ANALYZE article_tags; ANALYZE favorites; ANALYZE follows; ANALYZE users;
""" % {"n": ARTICLES, "u": USERS}

def psql(url, query=None, stdin=None):
    return apilib.psql(query, url=url, stdin=stdin)


MISMATCH_SQL = apilib.KEPT_COUNT_MISMATCH + "SELECT count(*) FROM kept_count_mismatch"


def migrate(dirname, timeout=300):
    env = dict(os.environ, DATABASE_URL=DB_URL, CONDUIT_MIGRATIONS_DIR=dirname)
    p = subprocess.run(["nice", "-n", "5", os.environ.get("CONDUITD") or apilib.harness.binary(),
                        "migrate"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise AssertionError("conduitd migrate exited %d:\n%s" % (p.returncode, out[-4000:]))
    return out


class Load(threading.Thread):
    """One client looping over reads and writes until stopped; records the
    slowest request and every failure."""

    def __init__(self, n, token, stop):
        super().__init__(daemon=True)
        self.n, self.token, self.stop = n, token, stop
        self.api = apilib.Api(SRV)
        self.failures, self.slowest, self.count = [], (0.0, ""), 0

    def request(self, method, path, body=None, ok=(200,)):
        t0 = time.monotonic()
        r = self.api.call(method, path, body, token=self.token)
        took = time.monotonic() - t0
        self.count += 1
        if took > self.slowest[0]:
            self.slowest = (took, "%s %s" % (method, path))
        if r.status not in ok:
            self.failures.append("%s %s: %d %r" % (method, path, r.status, r.body[:200]))
        return r

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            k = 1 + (i * 7 + self.n * 131) % ARTICLES
            step = i % 8
            try:
                if step == 0:
                    self.request("GET", "/api/articles?limit=20")
                elif step == 1:
                    self.request("GET", "/api/articles?limit=20&offset=%d" % (k % 10000))
                elif step == 2:
                    self.request("GET", "/api/articles?tag=omtag%d&limit=20" % (1 + k % 100))
                elif step == 3:
                    self.request("GET", "/api/articles?author=om%d" % (1 + k % USERS))
                elif step == 4:
                    self.request("GET", "/api/tags")
                elif step == 5:
                    self.request("POST", "/api/articles", {"article": {
                        "title": "om %s" % uid(), "description": "d", "body": "b",
                        "tagList": ["omtag%d" % (1 + k % 100)]}}, ok=(201,))
                elif step == 6:
                    self.request("POST" if i % 16 < 8 else "DELETE",
                                 "/api/articles/om-%d/favorite" % k)
                else:
                    self.request("POST" if i % 16 < 8 else "DELETE",
                                 "/api/profiles/om%d/follow" % (1 + k % USERS))
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                self.failures.append("exception: %r" % e)


def test_migrate_under_load():
    early = tempfile.mkdtemp(prefix="om_migrations_")
    src = os.path.join(apilib.srcdir(), "migrations")
    try:
        for f in sorted(os.listdir(src)):
            if f.startswith(EARLY):
                shutil.copy(os.path.join(src, f), early)
        migrate(early)
    finally:
        shutil.rmtree(early, ignore_errors=True)
    t0 = time.monotonic()
    psql(DB_URL, stdin=SEED_SQL)
    print("     seeded %d articles in %.1fs" % (ARTICLES, time.monotonic() - t0), flush=True)
    # A failed CREATE UNIQUE INDEX CONCURRENTLY (favorites.user_id repeats)
    # leaves an INVALID index under the name 0007 builds.
    try:
        psql(DB_URL, "CREATE UNIQUE INDEX CONCURRENTLY favorites_user_created_idx "
                     "ON favorites (user_id)")
        raise AssertionError("the unique build should have failed")
    except AssertionError as e:
        A.check("could not create unique index" in str(e), "unexpected: %s" % e)
    A.check(psql(DB_URL, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = indexrelid "
                         "WHERE relname = 'favorites_user_created_idx' AND NOT indisvalid") == "1",
            "no invalid index to start from")

    SRV.start()
    users = [A.register("om") for _ in range(4)]
    stop = threading.Event()
    load = [Load(i, u["token"], stop) for i, u in enumerate(users)]
    for t in load:
        t.start()
    time.sleep(1.0)
    blocker = subprocess.Popen(
        ["psql", DB_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
         "BEGIN; LOCK TABLE article_counts IN SHARE MODE; SELECT pg_sleep(3); COMMIT;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        out = migrate(src)
        took = time.monotonic() - t0
    finally:
        blocker.wait(30)
        time.sleep(1.0)
        stop.set()
        for t in load:
            t.join(30)
    requests = sum(t.count for t in load)
    slowest = max(t.slowest for t in load)
    print("     migrate took %.1fs under load; %d requests, slowest %.3fs (%s)"
          % (took, requests, slowest[0], slowest[1]), flush=True)
    failures = [f for t in load for f in t.failures]
    A.check(not failures, "requests failed during the migration:\n" + "\n".join(failures[:10]))
    A.check(slowest[0] <= BLOCKED_MAX_S, "a request took %.3fs during the migration (%s)"
            % slowest)
    A.check(requests > 100, "only %d requests ran during the migration" % requests)
    for v in ("0004_", "0006_", "0007_", "0008_", "0022_", "0023_", "0024_", "0025_"):
        A.check('"migrate: applied","version":"%s' % v in out, "%s not applied:\n%s" % (v, out))
    A.check("will retry" in out, "the migrator never waited for the article_counts lock:\n" + out)
    A.check("dropping an invalid index" in out, "the invalid index was not replaced:\n" + out)
    A.check(psql(DB_URL, MISMATCH_SQL) == "0", "kept counts differ from count(*)")
    A.check(psql(DB_URL, "SELECT (SELECT count(*) FROM article_tags WHERE created_at IS NULL) + "
                         "(SELECT count(*) FROM favorites WHERE article_created_at IS NULL)")
            == "0", "backfilled columns still hold NULLs")
    A.check(psql(DB_URL, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0",
            "an index is invalid after the migration")
    A.check(psql(DB_URL, "SELECT pg_get_indexdef('favorites_pkey'::regclass)").endswith(
        "(user_id, article_created_at, article_id)"), "favorites_pkey is not the page order")
    A.check(psql(DB_URL, "SELECT pg_get_indexdef('favorites_article_user_idx'::regclass)")
            .endswith("(article_id, user_id)"), "favorites_article_user_idx wrong")
    A.check(psql(DB_URL, "SELECT count(*) FROM pg_class WHERE relname IN "
                         "('favorites_user_created_idx', 'favorites_article_idx')") == "0",
            "a replaced favorites index is still there")
    # "Favorited by me" as this and the earlier releases ask it: one exact
    # probe on both columns, not a walk of the user's favorites.
    plan = psql(DB_URL, "EXPLAIN SELECT 1 FROM favorites f WHERE f.article_id = 7 AND f.user_id = 8")
    A.check("Index Cond: ((article_id = 7) AND (user_id = 8))" in plan,
            "favorited-by-me is not an exact probe:\n" + plan)


def drop_db():
    """Drop the test's database. WITH (FORCE) ends this role's leftover
    sessions but refuses while a backend it may not terminate is there (a CI
    run met one right after the migration: autovacuum); a plain DROP
    DATABASE makes autovacuum leave. Either is retried for up to 10 s."""
    last = None
    for _ in range(20):
        for sql in ("DROP DATABASE IF EXISTS %s WITH (FORCE)", "DROP DATABASE IF EXISTS %s"):
            try:
                psql(BASE_URL, sql % DB)
                return
            except AssertionError as e:
                last = e
        time.sleep(0.5)
    raise last


def main():
    apilib.watchdog(300)
    psql(BASE_URL, "CREATE DATABASE %s" % DB)
    code = 1
    try:
        try:
            apilib.harness.run_tests([test_migrate_under_load])
        except SystemExit as e:
            code = e.code
        SRV.stop()
        SRV.check_clean()
    finally:
        drop_db()
    sys.exit(code)


if __name__ == "__main__":
    main()
