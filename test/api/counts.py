#!/usr/bin/env python3
"""counts.py: the kept article counts (migrations/0003_article_counts.sql)
stay exact under concurrent writers. Eight client threads create, delete and
retag articles, favorite and unfavorite, follow and unfollow, while users
owning articles and favorites are deleted straight in SQL (the cascades the
API never sends). At the end, in one snapshot, every kept count (all, per
tag, per author, per favoriter) equals count(*) of its filter, and the API's
articlesCount agrees with the rows it lists for tag, author, favorited and
feed. A lost or doubled delta anywhere fails it. No request may fail (5xx)
on the way: the counters take no locks a writer could wait or deadlock on.
Needs DATABASE_URL and REDIS_URL (else SKIP)."""

import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
SRV = apilib.server(env={"CONDUIT_CACHE_TTL": "0"}, workers=2)
A = apilib.Api(SRV)
THREADS = 8
OPS = 100

# Kept counts (folded + deltas) against count(*) of each filter, in one
# statement (one snapshot); any row returned is a count that is wrong.
MISMATCH_SQL = (apilib.KEPT_COUNT_MISMATCH
                + "SELECT kind, ref, truth, kept FROM kept_count_mismatch")


class Writer(threading.Thread):
    """One client doing random writes; records any unexpected status."""

    def __init__(self, seed, users, tags, shared):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.api = apilib.Api(SRV)
        self.users = users
        self.tags = tags
        self.shared = shared
        self.errors = []
        self.mine = []

    def note(self, r, ok, what):
        if r.status not in ok:
            self.errors.append("%s: %d %r" % (what, r.status, r.body[:200]))

    def step(self):
        me = self.rng.choice(self.users)
        op = self.rng.choice(["create", "create", "delete", "retag", "fav", "fav", "unfav",
                              "follow", "unfollow"])
        if op == "create" or not self.mine and op in ("delete", "retag"):
            tags = self.rng.sample(self.tags, self.rng.randint(0, 3))
            r = self.api.post("/api/articles", {"article": {
                "title": "c " + uid(), "description": "d", "body": "b", "tagList": tags}},
                token=me["token"])
            self.note(r, (201,), "create")
            if r.status == 201:
                slug = r.json()["article"]["slug"]
                self.mine.append((slug, me))
                self.shared.append(slug)
        elif op == "delete":
            slug, owner = self.mine.pop(self.rng.randrange(len(self.mine)))
            self.note(self.api.delete("/api/articles/" + slug, token=owner["token"]),
                      (200, 204, 404), "delete")
        elif op == "retag":
            slug, owner = self.rng.choice(self.mine)
            tags = self.rng.sample(self.tags, self.rng.randint(0, 3))
            self.note(self.api.put("/api/articles/" + slug, {"article": {"tagList": tags}},
                                   token=owner["token"]), (200, 404), "retag")
        elif op in ("fav", "unfav") and self.shared:
            slug = self.rng.choice(self.shared)
            path = "/api/articles/%s/favorite" % slug
            r = (self.api.post(path, token=me["token"]) if op == "fav"
                 else self.api.delete(path, token=me["token"]))
            self.note(r, (200, 404), op)
        elif op in ("follow", "unfollow"):
            other = self.rng.choice(self.users)
            path = "/api/profiles/%s/follow" % other["username"]
            r = (self.api.post(path, token=me["token"]) if op == "follow"
                 else self.api.delete(path, token=me["token"]))
            self.note(r, (200, 404, 422), op)

    def run(self):
        try:
            for _ in range(OPS):
                self.step()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.errors.append("exception: %r" % e)


def victim(tags):
    """A user with articles (tagged) and favorites, to be deleted in SQL."""
    v = A.register("cnt_v")
    slugs = [A.create_article(v, tags=random.sample(tags, 2))["slug"] for _ in range(4)]
    for s in slugs[:2]:
        A.expect(A.post("/api/articles/%s/favorite" % s, token=v["token"]), 200, "favorite")
    return v, slugs


def test_counts_exact_under_concurrent_writes():
    tags = ["cnt_%s_%d" % (uid(), i) for i in range(5)]
    users = [A.register("cnt") for _ in range(6)]
    victims = [victim(tags) for _ in range(3)]
    shared = [s for _, slugs in victims for s in slugs]
    # Others favorite the victims' articles: their deletion cascades into
    # other users' favorite counts too.
    for s in shared:
        A.expect(A.post("/api/articles/%s/favorite" % s, token=users[0]["token"]), 200, "fav")
    writers = [Writer(i, users, tags, shared) for i in range(THREADS)]
    for w in writers:
        w.start()
    for v, _ in victims:
        apilib.psql("DELETE FROM users WHERE username = '%s'" % v["username"])
    for w in writers:
        w.join(120)
        A.check(not w.is_alive(), "a writer is still running after 120 s")
    errors = [e for w in writers for e in w.errors]
    A.check(not errors, "requests failed under concurrent writes:\n" + "\n".join(errors[:10]))
    bad = apilib.psql(MISMATCH_SQL).strip()
    A.check(bad == "", "kept counts differ from count(*) (kind|ref|count(*)|kept):\n" + bad)
    # The folded table alone is consistent too once everything is folded.
    apilib.psql("SELECT article_counts_fold()")
    bad = apilib.psql(MISMATCH_SQL).strip()
    A.check(bad == "", "after a fold, kept counts differ (kind|ref|count(*)|kept):\n" + bad)
    TEST_STATE.update(tags=tags, users=users)


TEST_STATE = {}


def listed(path, token=None):
    """All articles of a list (pages of 100) and the articlesCount it reports."""
    seen, offset, count = [], 0, None
    while True:
        sep = "&" if "?" in path else "?"
        doc = A.expect(A.get("%s%slimit=100&offset=%d" % (path, sep, offset), token=token), 200,
                       path)
        count = doc["articlesCount"]
        seen += [a["slug"] for a in doc["articles"]]
        if len(doc["articles"]) < 100:
            return seen, count
        offset += 100


def test_api_counts_match_lists():
    if not TEST_STATE:
        raise AssertionError("needs test_counts_exact_under_concurrent_writes")
    for t in TEST_STATE["tags"]:
        seen, count = listed("/api/articles?tag=" + t)
        A.check(len(seen) == count == len(set(seen)),
                "?tag=%s lists %d, articlesCount %d" % (t, len(seen), count))
    for u in TEST_STATE["users"]:
        for q in ("author", "favorited"):
            seen, count = listed("/api/articles?%s=%s" % (q, u["username"]))
            A.check(len(seen) == count, "?%s=%s lists %d, articlesCount %d"
                    % (q, u["username"], len(seen), count))
        seen, count = listed("/api/articles/feed", token=u["token"])
        A.check(len(seen) == count, "feed of %s lists %d, articlesCount %d"
                % (u["username"], len(seen), count))


if __name__ == "__main__":
    apilib.run([test_counts_exact_under_concurrent_writes, test_api_counts_match_lists], SRV,
               budget=240)
