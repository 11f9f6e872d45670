-- 0007_list_indexes.sql: indexes that hold tag and favoriter pages in
-- page order, built without blocking writes.
-- conduitd:no-transaction
-- conduitd:lock-timeout=10s
--
-- CREATE INDEX CONCURRENTLY cannot run in a transaction; the migrator runs
-- each statement alone and, if a build failed and left an INVALID index of
-- the same name, drops it and builds again. (tag_id, created_at DESC,
-- article_id DESC) also serves every lookup article_tags_tag_idx served,
-- so that one goes: one index fewer to write per tag row.

CREATE INDEX CONCURRENTLY IF NOT EXISTS article_tags_tag_created_idx
    ON article_tags (tag_id, created_at DESC, article_id DESC);

CREATE INDEX CONCURRENTLY IF NOT EXISTS favorites_user_created_idx
    ON favorites (user_id, article_created_at DESC, article_id DESC);

DROP INDEX CONCURRENTLY IF EXISTS article_tags_tag_idx;
