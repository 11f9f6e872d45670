-- 0004_article_counts_backfill.sql: count the rows that existed before
-- 0003's triggers, then let the fold run.
--
-- Online: it only reads the big tables (no lock but ACCESS SHARE) and
-- writes article_counts, which nobody else writes while the fold is off.
-- One REPEATABLE READ snapshot S sees each writer's rows and its deltas
-- together (a writer commits both at once), so
--     count in S - deltas in S
-- is the count of the rows no delta describes; adding every delta, those
-- committed after S included, gives the exact count at any later time.
-- The fold, enabled by the same commit, starts from that base.

SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

INSERT INTO article_counts (kind, ref, n)
SELECT kind, ref, sum(n) FROM (
    SELECT 0::smallint AS kind, 0::bigint AS ref, count(*) AS n FROM articles
    UNION ALL
    SELECT 2, author_id, count(*) FROM articles GROUP BY author_id
    UNION ALL
    SELECT 1, tag_id, count(*) FROM article_tags GROUP BY tag_id
    UNION ALL
    SELECT 3, user_id, count(*) FROM favorites GROUP BY user_id
    UNION ALL
    SELECT kind, ref, -sum(n) FROM article_count_deltas GROUP BY kind, ref
) c
GROUP BY kind, ref;

-- Move every delta into article_counts in one statement. One folder at a
-- time (a transaction-scoped try-lock: a writer that does not get it
-- skips folding, never waits); the deltas it deletes and the counts it
-- adds commit together, so a reader's snapshot sees either.
CREATE OR REPLACE FUNCTION article_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(28548172589935989) THEN
        RETURN;
    END IF;
    WITH d AS (DELETE FROM article_count_deltas RETURNING kind, ref, n),
    s AS (SELECT kind, ref, sum(n)::bigint AS n FROM d GROUP BY kind, ref)
    INSERT INTO article_counts AS c (kind, ref, n)
    SELECT kind, ref, n FROM s ORDER BY kind, ref
    ON CONFLICT (kind, ref) DO UPDATE SET n = c.n + excluded.n;
END
$$;
