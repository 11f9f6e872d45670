-- 0025_favorites_drop_page_index.sql: the two indexes that 0023 and 0024
-- replace go: favorites_user_created_idx (0007; the primary key holds that
-- order now) and favorites_article_idx (0001; (article_id, user_id) serves
-- its lookups).
-- conduitd:no-transaction
-- conduitd:lock-timeout=10s
--
-- What it saves a favorite: bench/write_floor.sh, in docs/benchmarks.md
-- ("Favorites' primary key in page order").

DROP INDEX CONCURRENTLY IF EXISTS favorites_user_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS favorites_article_idx;
