# migrations/local.mk: files of migrations/, included by the top Makefile.am.
# Installed to $(pkgdatadir)/migrations, where `conduitd migrate` looks by default.
dist_migrations_DATA += migrations/0001_init.sql migrations/0002_article_counters.sql \
	migrations/0003_article_counts.sql migrations/0004_article_counts_backfill.sql \
	migrations/0005_list_order_columns.sql migrations/0006_list_order_backfill.sql \
	migrations/0007_list_indexes.sql migrations/0008_list_autovacuum.sql \
	migrations/0009_article_counts_row_triggers.sql migrations/0010_article_counts_fold_less.sql \
	migrations/0011_tag_list_changes.sql \
	migrations/0020_users_token_version.sql migrations/0021_users_username_lower.sql \
	migrations/0022_favorites_created_not_null.sql migrations/0023_favorites_page_key.sql \
	migrations/0024_favorites_primary_key.sql migrations/0025_favorites_drop_page_index.sql
