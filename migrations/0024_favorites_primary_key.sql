-- 0024_favorites_primary_key.sql: favorites' primary key becomes (user_id,
-- article_created_at, article_id), the ?favorited= page order, so that
-- with 0025 a favorite writes two index entries instead of three.
-- conduitd:no-transaction
-- conduitd:lock-timeout=300ms
--
-- One ALTER TABLE (a brief ACCESS EXCLUSIVE lock, no scan: 0023's index
-- is taken as it is and renamed favorites_pkey), only if not done yet. The
-- statements do not change: ON CONFLICT DO NOTHING works with any unique
-- index, "favorited by me" and unfavorite find the row through 0023's
-- (article_id, user_id).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_attribute a
                   ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                   WHERE c.conname = 'favorites_pkey' AND a.attname = 'article_created_at') THEN
        ALTER TABLE favorites DROP CONSTRAINT favorites_pkey,
            ADD CONSTRAINT favorites_pkey PRIMARY KEY USING INDEX favorites_page_key;
    END IF;
END
$$;
