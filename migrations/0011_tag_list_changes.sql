-- 0011_tag_list_changes.sql: a kept count of the changes to article_tags,
-- the version that GET /api/tags's per-worker copy is checked against.
-- conduitd:lock-timeout=300ms
--
-- Kind 4, ref 0 of article_counts is not a filter's count: every row
-- inserted into or deleted from article_tags adds +1 to it (never -1), as
-- a delta appended by the same row trigger that keeps the per-tag counts,
-- and folded the same way (1 time in 32, a try-lock, nobody waits). So it
-- only grows, and it grows with every committed change to which tags are
-- in use: a worker that read it together with the tag list, in one
-- statement (one snapshot), knows the list is still the one PostgreSQL
-- would build as long as the count reads the same. Equal counts mean the
-- same set of committed changes, whatever order writers committed in,
-- since every change adds to it and none subtracts. Reading it costs what
-- the "all articles" count costs: one primary-key row and a few pending
-- deltas, against a json_agg over every tag in use.
-- The new conduitd needs this migration before it serves: without it the
-- count never moves and a worker's copy of the tag list would not see new
-- tags (`conduitd migrate` runs before the rollout; docs/deploy.md).
-- Only the trigger function's body changes: no table lock.

CREATE OR REPLACE FUNCTION article_counts_tags_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    tag bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.tag_id ELSE OLD.tag_id END;
    dice double precision := random();
BEGIN
    INSERT INTO article_count_deltas (kind, ref, n) VALUES (1, tag, d), (4, 0, 1);
    IF dice < 1.0 / 32 THEN
        PERFORM article_counts_fold_key(1::smallint, tag);
    ELSIF dice < 2.0 / 32 THEN
        PERFORM article_counts_fold_key(4::smallint, 0);
    END IF;
    RETURN NULL;
END
$$;
