-- bench/scale_seed.sql: fill a migrated, empty Conduit database of any size
-- straight through SQL (generate_series), for bench/scale.sh.
--
--   psql -X -v ON_ERROR_STOP=1 -v articles=N -v users=U -v tags=T \
--        -v follows_per_user=F -v favorites_per_user=V -v comments_per_article=C \
--        -f bench/scale_seed.sql postgresql://postgres@.../DB
--
-- Runs as a superuser: triggers and foreign-key checks are off while the
-- rows go in (session_replication_role = replica). The shape (bench/scale.sh
-- passes U = N/10, T = 2,000, F = 50, V = 30, C = 2):
--   users     U: user1..userU (user<i> has id i). Logins go through the API's
--             own users (bench/scale.sh registers them); these never log in.
--   tags      T: tag1..tagT (id i).
--   articles  N: article-<i> (id i), created 30 s apart, so ids and created_at
--             agree. Authors are skewed: author = 1 + floor(U * r^3), so user1
--             writes about (1/U)^(1/3) of all articles (2% at 1M, 10% at 10k),
--             and the top 200 authors about 13% at 1M.
--   tags of an article: 3 distinct; the first is skewed (floor(T * r^2)), so
--             tag1 is on about sqrt(1/T) of the articles (2.2%), the others
--             uniform.
--   favorites V per user for users 3..U, spread evenly over the articles;
--             user2 favorites every 100th article (N/100): about 3N in all.
--   follows   F per user, to F distinct others: 5N in all.
--   comments  C per article (2N), authors spread over the users.
-- Kept columns of migration 0002 (favorites_count, tag_list) and, when the
-- schema has them (0005), the article's created_at in article_tags and
-- favorites are written with the rows. Kept counts are rebuilt at the end:
-- by the schema's own conduit_refresh_counts() if it has one, else, when
-- migration 0003's article_counts exists, by the recount of migration 0004.
--
-- For speed every constraint and index of the seeded tables (and foreign
-- keys pointing at them) is dropped first and rebuilt after the load, from
-- their own definitions (pg_get_constraintdef, pg_get_indexdef): the tables
-- end as the migrations made them. bench/scale.sh runs VACUUM ANALYZE after.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
SET synchronous_commit = off;
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.4242) \gset

\echo seed: dropping constraints and indexes
CREATE TEMP TABLE seed_tables (name text PRIMARY KEY);
INSERT INTO seed_tables VALUES ('users'), ('follows'), ('articles'), ('tags'),
    ('article_tags'), ('favorites'), ('comments');

CREATE TEMP TABLE seed_ddl AS
SELECT c.contype AS kind, c.conrelid::regclass::text AS tbl,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
              pg_get_constraintdef(c.oid)) AS create_sql,
       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_sql
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace ns ON ns.oid = r.relnamespace
WHERE ns.nspname = 'public'
  AND ((c.contype IN ('p', 'u') AND r.relname IN (SELECT name FROM seed_tables))
       OR (c.contype = 'f' AND (r.relname IN (SELECT name FROM seed_tables)
           OR c.confrelid::regclass::text IN (SELECT name FROM seed_tables))))
UNION ALL
SELECT 'i', r.relname, pg_get_indexdef(i.indexrelid),
       format('DROP INDEX %s', i.indexrelid::regclass)
FROM pg_index i
JOIN pg_class r ON r.oid = i.indrelid
JOIN pg_namespace ns ON ns.oid = r.relnamespace
WHERE ns.nspname = 'public' AND r.relname IN (SELECT name FROM seed_tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'));

SELECT drop_sql FROM seed_ddl WHERE kind = 'f' \gexec
SELECT drop_sql FROM seed_ddl WHERE kind IN ('p', 'u') \gexec
SELECT drop_sql FROM seed_ddl WHERE kind = 'i' \gexec
TRUNCATE users, follows, articles, tags, article_tags, favorites, comments;

\echo seed: users and tags
INSERT INTO users (id, username, email, password_hash, bio, image, created_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT g, 'user' || g, 'user' || g || '@example.com', '!seeded-no-login', 'Bio of user ' || g,
       NULL, t, t
FROM generate_series(1, :users) g,
     LATERAL (SELECT timestamptz '2023-01-01 00:00:00+00' + g * interval '1 second' AS t) ts;

INSERT INTO tags (id, name) OVERRIDING SYSTEM VALUE
SELECT g, 'tag' || g FROM generate_series(1, :tags) g;

\echo seed: articles and their tags
-- One row per article: author and the three tag numbers (0-based).
CREATE UNLOGGED TABLE seed_article AS
SELECT g AS id,
       least(:users, 1 + floor(:users * random() ^ 3))::bigint AS author_id,
       least(:tags - 1, floor(:tags * random() ^ 2))::int AS t0,
       floor(random() * (:tags / 2 - 1))::int AS r1,
       floor(random() * (:tags / 2 - 1))::int AS r2
FROM generate_series(1, :articles) g;

-- Favorites first: articles carry their count.
CREATE UNLOGGED TABLE seed_fav AS
SELECT u AS user_id,
       ((u * 7919) % :articles + k * greatest(1, :articles / :favorites_per_user)) % :articles + 1
           AS article_id
FROM generate_series(3, :users) u, generate_series(1, :favorites_per_user) k
UNION ALL
SELECT 2, g FROM generate_series(100, :articles, 100) g;

CREATE UNLOGGED TABLE seed_fav_count AS
SELECT article_id, count(*)::int AS n FROM seed_fav GROUP BY article_id;

INSERT INTO articles (id, slug, title, description, body, author_id, created_at, updated_at,
                      favorites_count, tag_list)
OVERRIDING SYSTEM VALUE
SELECT s.id, 'article-' || s.id, 'Article ' || s.id, 'Description of article ' || s.id,
       'Body of article ' || s.id || '. ' || repeat('Lorem ipsum dolor sit amet, consectetur. ', 10),
       s.author_id, t, t, COALESCE(fc.n, 0),
       ARRAY(SELECT 'tag' || (x + 1)
             FROM unnest(ARRAY[s.t0, (s.t0 + 1 + s.r1) % :tags,
                               (s.t0 + :tags / 2 + s.r2) % :tags]) x
             ORDER BY ('tag' || (x + 1)) COLLATE "C")
FROM seed_article s
LEFT JOIN seed_fav_count fc ON fc.article_id = s.id,
LATERAL (SELECT timestamptz '2023-06-01 00:00:00+00' + s.id * interval '30 seconds' AS t) ts;

-- Since issue 9 (migration 0005) the join tables carry the article's
-- created_at, for page-order indexes: written here when the column exists.
SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
               AND table_name = 'article_tags' AND column_name = 'created_at') AS tags_ordered,
       EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
               AND table_name = 'favorites' AND column_name = 'article_created_at') AS favs_ordered
\gset
\if :tags_ordered
INSERT INTO article_tags (article_id, tag_id, created_at)
SELECT s.id, x + 1, timestamptz '2023-06-01 00:00:00+00' + s.id * interval '30 seconds'
FROM seed_article s,
     unnest(ARRAY[s.t0, (s.t0 + 1 + s.r1) % :tags, (s.t0 + :tags / 2 + s.r2) % :tags]) x;
\else
INSERT INTO article_tags (article_id, tag_id)
SELECT s.id, x + 1
FROM seed_article s,
     unnest(ARRAY[s.t0, (s.t0 + 1 + s.r1) % :tags, (s.t0 + :tags / 2 + s.r2) % :tags]) x;
\endif

\echo seed: favorites, follows, comments
\if :favs_ordered
INSERT INTO favorites (user_id, article_id, created_at, article_created_at)
SELECT user_id, article_id, timestamptz '2024-01-01 00:00:00+00',
       timestamptz '2023-06-01 00:00:00+00' + article_id * interval '30 seconds'
FROM seed_fav;
\else
INSERT INTO favorites (user_id, article_id, created_at)
SELECT user_id, article_id, timestamptz '2024-01-01 00:00:00+00' FROM seed_fav;
\endif

INSERT INTO follows (follower_id, followee_id, created_at)
SELECT u, (u - 1 + k * greatest(1, (:users - 1) / :follows_per_user)) % :users + 1,
       timestamptz '2024-01-01 00:00:00+00'
FROM generate_series(1, :users) u, generate_series(1, :follows_per_user) k;

INSERT INTO comments (id, article_id, author_id, body, created_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT g, (g - 1) % :articles + 1, (g * 31) % :users + 1,
       'Comment ' || g || ': ' || repeat('a thoughtful remark ', 4), t, t
FROM generate_series(1, :articles * :comments_per_article) g,
     LATERAL (SELECT timestamptz '2023-06-01 00:00:00+00'
                     + ((g - 1) % :articles + 1) * interval '30 seconds'
                     + (g / :articles + 1) * interval '1 minute' AS t) ts;

DROP TABLE seed_article, seed_fav, seed_fav_count;

\echo seed: rebuilding constraints and indexes
SELECT create_sql FROM seed_ddl WHERE kind = 'p' \gexec
SELECT create_sql FROM seed_ddl WHERE kind IN ('u', 'i') \gexec
SELECT create_sql FROM seed_ddl WHERE kind = 'f' \gexec

-- Identity sequences continue after the seeded ids.
\o /dev/null
SELECT format('SELECT setval(%L, GREATEST((SELECT max(%I) FROM %I), 1))',
              pg_get_serial_sequence(c.table_name, c.column_name), c.column_name, c.table_name)
FROM information_schema.columns c
WHERE c.table_schema = 'public' AND c.is_identity = 'YES'
  AND c.table_name IN (SELECT name FROM seed_tables) \gexec
\o

SET session_replication_role = origin;

-- Kept counts of later migrations: the schema's own rebuild when it has one
-- (conduit_refresh_counts()); else, with migration 0003's article_counts,
-- the recount migration 0004 makes (no deltas exist: triggers were off).
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'conduit_refresh_counts') AS has_refresh,
       to_regclass('public.article_counts') IS NOT NULL AS has_counts \gset
\if :has_refresh
\echo seed: conduit_refresh_counts()
SELECT conduit_refresh_counts();
\elif :has_counts
\echo seed: article_counts as migration 0004 counts them
TRUNCATE article_counts, article_count_deltas;
INSERT INTO article_counts (kind, ref, n)
SELECT 0, 0, count(*) FROM articles
UNION ALL SELECT 2, author_id, count(*) FROM articles GROUP BY author_id
UNION ALL SELECT 1, tag_id, count(*) FROM article_tags GROUP BY tag_id
UNION ALL SELECT 3, user_id, count(*) FROM favorites GROUP BY user_id;
\endif
\echo seed: done
