#!/usr/bin/env python3
"""tags_copy.py: GET /api/tags with the cache off is answered from each
worker's copy of the list while PostgreSQL's tag list version (migration
0011) is unchanged, and is never stale after a write's answer. With 2
workers and CONDUIT_CACHE_TTL=0, every worker is first made to hold a copy, then each
write that changes which tags are in use (a new article's new tag, a
retag, an article deleted, its author deleted straight in SQL, the cascade
the API never sends) is followed by reads on fresh connections, spread
over both workers, that must all show the change. A write that leaves the
set alone (an edit of the body) keeps the list. Without the version moving
on every change to article_tags, the copies would keep the old list and
this fails. Needs DATABASE_URL (else SKIP)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apilib  # noqa: E402
from apilib import uid  # noqa: E402

apilib.require_services()
SRV = apilib.server(env={"CONDUIT_CACHE_TTL": "0"}, workers=2)
A = apilib.Api(SRV)
READS = 12  # fresh connections per check: both workers answer some
# The tag list version, as api/api_sql.c's TAG_LIST_VERSION reads it.
VERSION_SQL = ("COALESCE((SELECT n FROM article_counts WHERE kind = 4 AND ref = 0), 0) + "
               "COALESCE((SELECT sum(n) FROM article_count_deltas WHERE kind = 4 AND ref = 0), 0)")


def tag_lists():
    """READS answers of GET /api/tags, each on a fresh connection."""
    return [A.expect(A.get("/api/tags"), 200, "GET /api/tags")["tags"] for _ in range(READS)]


def check_every(what, present=(), absent=()):
    for i, tags in enumerate(tag_lists()):
        for t in present:
            A.check(t in tags, "%s: read %d lacks tag %s" % (what, i + 1, t))
        for t in absent:
            A.check(t not in tags, "%s: read %d still lists tag %s" % (what, i + 1, t))


def test_never_stale_after_a_write():
    me = A.register("tc")
    first, second, third = ("tc1_" + uid(), "tc2_" + uid(), "tc3_" + uid())
    # Every worker builds its copy (and reads it again) before the writes.
    check_every("before", absent=(first, second, third))
    check_every("copies in place", absent=(first, second, third))

    art = A.create_article(me, tags=[first])
    check_every("after a new article's new tag", present=(first,))

    A.expect(A.put("/api/articles/" + art["slug"], {"article": {"body": "edited"}},
                   token=me["token"]), 200, "edit the body only")
    check_every("after an edit that keeps the tags", present=(first,))

    A.expect(A.put("/api/articles/" + art["slug"], {"article": {"tagList": [second]}},
                   token=me["token"]), 200, "retag")
    check_every("after a retag", present=(second,), absent=(first,))

    A.expect(A.delete("/api/articles/" + art["slug"], token=me["token"]), 204, "delete")
    check_every("after the article is deleted", absent=(first, second))

    other = A.register("tcu")
    A.create_article(other, tags=[third])
    check_every("after another new tag", present=(third,))
    apilib.psql("DELETE FROM users WHERE username = '%s'" % other["username"])
    check_every("after its author is deleted in SQL", absent=(third,))


def test_version_only_grows():
    """The version counts changes: a tag added then removed leaves it
    higher, never back where it was (an equal version would hand out a
    copy built before both)."""
    me = A.register("tv")
    v0 = int(apilib.psql("SELECT %s" % VERSION_SQL).strip())
    art = A.create_article(me, tags=["tv_" + uid()])
    A.expect(A.delete("/api/articles/" + art["slug"], token=me["token"]), 204, "delete")
    v1 = int(apilib.psql("SELECT %s" % VERSION_SQL).strip())
    A.check(v1 >= v0 + 2, "version %d -> %d: an insert and a delete must add 2" % (v0, v1))


if __name__ == "__main__":
    apilib.run([test_never_stale_after_a_write, test_version_only_grows], SRV, budget=120)
