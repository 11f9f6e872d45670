-- 0005_list_order_columns.sql: the article's created_at copied into the
-- join tables, so tag and favoriter pages read in page order from an
-- index (0007) instead of sorting the whole filter set.
-- conduitd:lock-timeout=300ms
--
-- ADD COLUMN without a default only changes the catalog (a short ACCESS
-- EXCLUSIVE lock under lock_timeout, no rewrite). The API fills the
-- columns itself; the BEFORE INSERT triggers fill them for a writer that
-- does not (the previous release during a rollout). 0006 backfills the
-- existing rows in batches. An article's created_at never changes.

ALTER TABLE article_tags ADD COLUMN created_at timestamptz(3);
ALTER TABLE favorites ADD COLUMN article_created_at timestamptz(3);

CREATE FUNCTION article_tags_created_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := COALESCE((SELECT created_at FROM articles WHERE id = NEW.article_id), now());
    RETURN NEW;
END
$$;

CREATE FUNCTION favorites_created_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.article_created_at := COALESCE((SELECT created_at FROM articles WHERE id = NEW.article_id),
                                       now());
    RETURN NEW;
END
$$;

CREATE TRIGGER article_tags_created BEFORE INSERT ON article_tags
    FOR EACH ROW WHEN (NEW.created_at IS NULL) EXECUTE FUNCTION article_tags_created_trigger();
CREATE TRIGGER favorites_created BEFORE INSERT ON favorites
    FOR EACH ROW WHEN (NEW.article_created_at IS NULL) EXECUTE FUNCTION favorites_created_trigger();
