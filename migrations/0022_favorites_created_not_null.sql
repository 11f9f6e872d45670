-- 0022_favorites_created_not_null.sql: favorites.article_created_at NOT
-- NULL, the first step of 0024's primary key on (user_id,
-- article_created_at, article_id).
-- conduitd:no-transaction
-- conduitd:lock-timeout=300ms
--
-- Every row has it since 0005 (the API writes it, a BEFORE trigger fills
-- it for other writers, 0006 backfilled the rest). SET NOT NULL alone
-- would scan the whole table under ACCESS EXCLUSIVE; with a valid CHECK
-- that says the same it does not scan. So: the CHECK added NOT VALID
-- (catalog only, a brief lock), validated (a scan that reads and writes
-- go on through: SHARE UPDATE EXCLUSIVE), SET NOT NULL (brief), and the
-- CHECK dropped again (brief). Each step is its own statement, safe to
-- run again.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'favorites_article_created_at_not_null') THEN
        ALTER TABLE favorites ADD CONSTRAINT favorites_article_created_at_not_null
            CHECK (article_created_at IS NOT NULL) NOT VALID;
    END IF;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conname = 'favorites_article_created_at_not_null') THEN
        ALTER TABLE favorites VALIDATE CONSTRAINT favorites_article_created_at_not_null;
    END IF;
END
$$;
ALTER TABLE favorites ALTER COLUMN article_created_at SET NOT NULL;
ALTER TABLE favorites DROP CONSTRAINT IF EXISTS favorites_article_created_at_not_null;
