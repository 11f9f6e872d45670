-- bench/pgbench_article_insert.sql: the statement of sql_article_insert
-- (api/api_sql.c) as a pgbench script: a random author of :users, two tags
-- of the :tags (tag1..tagN, passed with pgbench -D), $6 as a JSON array of
-- the distinct names in byte order. Used by bench/tag_version_cost.sh and
-- bench/write_floor.sh (which cuts article_tags.created_at out of it for
-- the schema before migration 0005).
\set author random(1, :users)
\set t1 random(1, :tags)
\set t2 random(1, :tags)
\set n random(1, 1000000000000)
WITH p AS (SELECT (CASE WHEN :t1 = :t2 THEN json_build_array('tag' || :t1)
                   ELSE json_build_array('tag' || least(:t1, :t2), 'tag' || greatest(:t1, :t2)) END) AS tags),
ins AS (INSERT INTO articles (slug, title, description, body, author_id, tag_list)
        SELECT 'pb-' || :client_id || '-' || :n, 'Title', 'desc', 'body', :author,
               ARRAY(SELECT e FROM (SELECT DISTINCT json_array_elements_text(p.tags) AS e FROM p) d
                     ORDER BY e COLLATE "C")
        RETURNING id, created_at),
tg AS (INSERT INTO tags (name) SELECT json_array_elements_text(p.tags) FROM p
       ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id),
lnk AS (INSERT INTO article_tags (article_id, tag_id, created_at)
        SELECT ins.id, tg.id, ins.created_at FROM ins, tg)
SELECT id FROM ins;
