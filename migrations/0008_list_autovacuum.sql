-- 0008_list_autovacuum.sql: keep the visibility map of the list tables
-- fresh, so deep pages stay index-only walks (no heap visit per skipped
-- row). The defaults wait for 20% of a table to change (200,000 rows of
-- a 1M-article table); here 1% or 10,000 rows, inserts included.
-- conduitd:lock-timeout=300ms
--
-- SET (storage parameters) takes SHARE UPDATE EXCLUSIVE: reads and writes
-- go on.

ALTER TABLE articles SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE article_tags SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE favorites SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE follows SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 10000, autovacuum_analyze_scale_factor = 0.02);
