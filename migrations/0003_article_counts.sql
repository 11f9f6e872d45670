-- 0003_article_counts.sql: kept counts for every article list filter.
-- conduitd:lock-timeout=300ms
--
-- articlesCount is read from here instead of count(*) over the filter:
--   article_counts        the folded count of each filter:
--                           kind 0 all articles (ref 0), 1 articles with
--                           tag ref (tags.id), 2 articles by author ref,
--                           3 articles favorited by user ref (users.id);
--   article_count_deltas  +n/-n rows that writers append, never update.
-- A count is the sum of its article_counts row and its deltas
-- (article_count()). Writers only INSERT deltas, so no writer ever waits
-- on another's counter row: there is no hot "all articles" row. Statement
-- triggers (transition tables) on articles, article_tags and favorites
-- append the deltas, so cascades (a user or an article deleted) and
-- retags are counted by the same code as direct writes. Now and then a
-- writer folds the deltas into article_counts (article_counts_fold, one
-- folder at a time through a try-lock, so nobody waits on it); until
-- 0004 has counted the existing rows the fold does nothing.
-- Only these tables' lock (SHARE ROW EXCLUSIVE for CREATE TRIGGER, a few
-- milliseconds) is taken on the live tables, under lock_timeout.

CREATE TABLE article_counts (
    kind smallint NOT NULL,
    ref  bigint NOT NULL,
    n    bigint NOT NULL,
    PRIMARY KEY (kind, ref)
) WITH (fillfactor = 70);

CREATE TABLE article_count_deltas (
    kind smallint NOT NULL,
    ref  bigint NOT NULL,
    n    bigint NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);
CREATE INDEX article_count_deltas_idx ON article_count_deltas (kind, ref);

-- The exact count of one filter.
CREATE FUNCTION article_count(k smallint, r bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT n FROM article_counts WHERE kind = k AND ref = r), 0)
         + COALESCE((SELECT sum(n) FROM article_count_deltas WHERE kind = k AND ref = r), 0)::bigint
$$;

-- Replaced by 0004 once the existing rows are counted.
CREATE FUNCTION article_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
END
$$;

-- Fold about one write statement in 32.
CREATE FUNCTION article_counts_maybe_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF random() < 1.0 / 32 THEN
        PERFORM article_counts_fold();
    END IF;
END
$$;

CREATE FUNCTION article_counts_articles_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 0, 0, count(*) FROM new_rows HAVING count(*) > 0
        UNION ALL
        SELECT 2, author_id, count(*) FROM new_rows GROUP BY author_id;
    ELSE
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 0, 0, -count(*) FROM old_rows HAVING count(*) > 0
        UNION ALL
        SELECT 2, author_id, -count(*) FROM old_rows GROUP BY author_id;
    END IF;
    PERFORM article_counts_maybe_fold();
    RETURN NULL;
END
$$;

CREATE FUNCTION article_counts_tags_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 1, tag_id, count(*) FROM new_rows GROUP BY tag_id;
    ELSE
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 1, tag_id, -count(*) FROM old_rows GROUP BY tag_id;
    END IF;
    PERFORM article_counts_maybe_fold();
    RETURN NULL;
END
$$;

CREATE FUNCTION article_counts_favorites_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 3, user_id, count(*) FROM new_rows GROUP BY user_id;
    ELSE
        INSERT INTO article_count_deltas (kind, ref, n)
        SELECT 3, user_id, -count(*) FROM old_rows GROUP BY user_id;
    END IF;
    PERFORM article_counts_maybe_fold();
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger: an insert and a delete
-- trigger per table. The app never updates these tables' keys.
CREATE TRIGGER article_counts_ins AFTER INSERT ON articles
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_articles_trigger();
CREATE TRIGGER article_counts_del AFTER DELETE ON articles
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_articles_trigger();
CREATE TRIGGER article_counts_ins AFTER INSERT ON article_tags
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_tags_trigger();
CREATE TRIGGER article_counts_del AFTER DELETE ON article_tags
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_tags_trigger();
CREATE TRIGGER article_counts_ins AFTER INSERT ON favorites
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_favorites_trigger();
CREATE TRIGGER article_counts_del AFTER DELETE ON favorites
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION article_counts_favorites_trigger();
