-- 0009_article_counts_row_triggers.sql: count deltas from row triggers,
-- folded key by key by the writers that touch the key.
-- conduitd:lock-timeout=300ms
--
-- Replaces 0003's statement triggers and whole-table fold. Measured here
-- (backend CPU per statement, 2,000 in a row, against the release before
-- 0003): POST /api/articles +120-150 us with 0003's triggers and fold, of
-- which about 100 us was the fold (one upsert per distinct key of every
-- delta, plus a scan of the whole delta table every 32 statements).
-- Now:
--   - a row trigger appends each delta (INSERT ... VALUES: cheaper than a
--     transition table and a GROUP BY for the API's one-row writes);
--   - with probability 1/8, the writer then folds that one key
--     (article_counts_fold_key): an index range of about 8 delta rows
--     and one upsert, so a key's pending deltas stay near 8 and a reader
--     sums a handful of rows. A transaction-scoped try-lock per key means
--     a folder never waits, never deadlocks, never double-folds; a
--     transaction folds a key at most once (article_counts.folded_by
--     holds the folding transaction), so a statement of 100,000 rows (a
--     cascade, a bulk load) does not re-walk its own dead rows; what it
--     leaves is folded by the next writer of that key.
-- favorites' delta joins 0002's favorites_count trigger: one call per row.
-- One transaction: writers wait for its locks (lock_timeout bounds the
-- wait), and every write is counted by exactly one set of triggers.

ALTER TABLE article_counts ADD COLUMN folded_by bigint;

-- Move key (k, r)'s deltas into article_counts, unless another transaction
-- is folding it or this one already did.
CREATE FUNCTION article_counts_fold_key(k smallint, r bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1000 + k, hashint8(r))
       OR EXISTS (SELECT 1 FROM article_counts
                  WHERE kind = k AND ref = r AND folded_by = txid_current()) THEN
        RETURN;
    END IF;
    WITH d AS (DELETE FROM article_count_deltas WHERE kind = k AND ref = r RETURNING n)
    SELECT sum(n) INTO total FROM d;
    IF total IS NOT NULL THEN
        INSERT INTO article_counts AS c (kind, ref, n, folded_by)
        VALUES (k, r, total, txid_current())
        ON CONFLICT (kind, ref) DO UPDATE SET n = c.n + excluded.n, folded_by = excluded.folded_by;
    END IF;
END
$$;

-- Fold every key (maintenance, tests); keys being folded elsewhere are
-- skipped, so it never waits either.
CREATE OR REPLACE FUNCTION article_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    key record;
BEGIN
    FOR key IN SELECT DISTINCT kind, ref FROM article_count_deltas ORDER BY kind, ref LOOP
        PERFORM article_counts_fold_key(key.kind, key.ref);
    END LOOP;
END
$$;

-- The row triggers: append the deltas, fold one key 1 time in 8.
CREATE FUNCTION article_counts_articles_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    author bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.author_id ELSE OLD.author_id END;
    dice double precision := random();
BEGIN
    INSERT INTO article_count_deltas (kind, ref, n) VALUES (0, 0, d), (2, author, d);
    IF dice < 0.125 THEN
        PERFORM article_counts_fold_key(0::smallint, 0);
    ELSIF dice < 0.25 THEN
        PERFORM article_counts_fold_key(2::smallint, author);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION article_counts_tags_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    tag bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.tag_id ELSE OLD.tag_id END;
BEGIN
    INSERT INTO article_count_deltas (kind, ref, n) VALUES (1, tag, d);
    IF random() < 0.125 THEN
        PERFORM article_counts_fold_key(1::smallint, tag);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION favorites_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fan bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.user_id ELSE OLD.user_id END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = NEW.article_id;
        INSERT INTO article_count_deltas (kind, ref, n) VALUES (3, fan, 1);
    ELSE
        UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = OLD.article_id;
        INSERT INTO article_count_deltas (kind, ref, n) VALUES (3, fan, -1);
    END IF;
    IF random() < 0.125 THEN
        PERFORM article_counts_fold_key(3::smallint, fan);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER article_counts_ins ON articles;
DROP TRIGGER article_counts_del ON articles;
DROP TRIGGER article_counts_ins ON article_tags;
DROP TRIGGER article_counts_del ON article_tags;
DROP TRIGGER article_counts_ins ON favorites;
DROP TRIGGER article_counts_del ON favorites;

CREATE TRIGGER article_counts_row AFTER INSERT OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION article_counts_articles_row();
CREATE TRIGGER article_counts_row AFTER INSERT OR DELETE ON article_tags
    FOR EACH ROW EXECUTE FUNCTION article_counts_tags_row();
