-- 0006_list_order_backfill.sql: fill 0005's columns for existing rows.
-- conduitd:no-transaction
-- conduitd:lock-timeout=300ms
--
-- A backfill is a DO block run outside a transaction that COMMITs after
-- each batch (docs/deploy.md, "Migrations: expand/contract"): batches of
-- 5,000 article ids (about 15,000 tag rows) and of 500 users (about
-- 15,000 favorites at the benchmark's shape), each its own short
-- transaction, walking the primary key. Only rows still NULL are
-- written, so a run that stopped (a lock timeout, a crash) is simply run
-- again and rewrites nothing it did before.

DO $$
DECLARE
    lo bigint := 0;
    top bigint := (SELECT COALESCE(max(id), 0) FROM articles);
BEGIN
    WHILE lo <= top LOOP
        UPDATE article_tags t SET created_at = a.created_at FROM articles a
        WHERE t.article_id > lo AND t.article_id <= lo + 5000 AND t.created_at IS NULL
          AND a.id = t.article_id;
        lo := lo + 5000;
        COMMIT;
    END LOOP;
END
$$;

DO $$
DECLARE
    lo bigint := 0;
    top bigint := (SELECT COALESCE(max(id), 0) FROM users);
BEGIN
    WHILE lo <= top LOOP
        UPDATE favorites f SET article_created_at = a.created_at FROM articles a
        WHERE f.user_id > lo AND f.user_id <= lo + 500 AND f.article_created_at IS NULL
          AND a.id = f.article_id;
        lo := lo + 500;
        COMMIT;
    END LOOP;
END
$$;
