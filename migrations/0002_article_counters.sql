-- 0002_article_counters.sql: denormalised read columns on articles.
--
-- Reading one article is the hottest query; with these two columns it is
-- one index lookup on articles plus one on users, with no aggregates:
--   favorites_count  kept by triggers on favorites (so cascading deletes,
--                    e.g. of a user, keep it right too);
--   tag_list         the article's tag names, distinct, in byte order
--                    (COLLATE "C"), written by the same statements that
--                    write article_tags (which stays the source for the
--                    ?tag= filter and GET /api/tags).

ALTER TABLE articles
    ADD COLUMN favorites_count integer NOT NULL DEFAULT 0,
    ADD COLUMN tag_list text[] NOT NULL DEFAULT '{}';

UPDATE articles a SET
    favorites_count = (SELECT count(*) FROM favorites f WHERE f.article_id = a.id),
    tag_list = ARRAY(SELECT t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id
                     WHERE at.article_id = a.id ORDER BY t.name COLLATE "C");

CREATE FUNCTION favorites_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = NEW.article_id;
    ELSE
        UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = OLD.article_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER favorites_count AFTER INSERT OR DELETE ON favorites
    FOR EACH ROW EXECUTE FUNCTION favorites_count_trigger();
