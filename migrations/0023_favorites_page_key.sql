-- 0023_favorites_page_key.sql: the two indexes that 0024 and 0025 leave
-- favorites with, built without blocking writes: a unique one on (user_id,
-- article_created_at, article_id), which 0024 makes the primary key, and
-- (article_id, user_id), which takes over from favorites_article_idx.
-- conduitd:no-transaction
-- conduitd:lock-timeout=10s
--
-- An article's created_at never changes and every favorite carries its
-- article's (0005, 0022), so (user_id, article_created_at, article_id) is
-- unique exactly when (user_id, article_id) is. Ascending, as a primary
-- key's index must be; the ?favorited= page (newest first) walks it
-- backwards. (article_id, user_id) serves what favorites_article_idx
-- served (cascades from articles) and keeps "favorited by me" (user and
-- article known) an exact probe, for this release and the ones before it.
-- The migrator drops an INVALID index of either name (a failed build)
-- before each try.

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS favorites_page_key
    ON favorites (user_id, article_created_at, article_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS favorites_article_user_idx
    ON favorites (article_id, user_id);
