-- bench/pgbench_favorite.sql: the statement of sql_favorite (api/api_sql.c)
-- as a pgbench script, the article found by id (the same unique-index
-- probe as by slug): a random user of :users favorites a random article of
-- :articles (pgbench -D). Used by bench/write_floor.sh, which cuts
-- article_created_at out of it for the schema before migration 0005.
\set uid random(1, :users)
\set aid random(1, :articles)
WITH a AS (SELECT id, created_at FROM articles WHERE id = :aid FOR NO KEY UPDATE),
ins AS (INSERT INTO favorites (user_id, article_id, article_created_at)
        SELECT :uid, id, created_at FROM a
        ON CONFLICT DO NOTHING)
SELECT id FROM a;
