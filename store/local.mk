# store/local.mk: the worker's clients of PostgreSQL (pool, migrations), Redis
# (cache, rate limits) and the hashing threads, included by the top Makefile.am.
store_libstore_a_SOURCES += store/db.c store/db.h store/cache.c store/cache.h \
	store/cache_internal.h store/cache_entries.c store/cache_trust.c \
	store/cache_scripts.c store/cache_scripts.h \
	store/ratelimit.c store/ratelimit.h store/password.c store/password.h \
	store/migrate.c store/migrate.h store/migrate_file.c store/migrate_file.h
