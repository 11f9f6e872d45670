# test/api.mk: the Conduit API's Check suites and integration tests (test/api/), the upstream
# conformance runner and the API benchmarks, included by the top Makefile.am.
# The tests need DATABASE_URL and REDIS_URL (script/services start) and skip
# (77) without them; each file starts its own conduitd on free loopback ports.
# test/conformance.sh and bench/ are run outside `make check` (script/test,
# bench/api_vs_pgbench.sh); they are listed here so `make dist` ships them.
if HAVE_CHECK
check_PROGRAMS += test/check_jwt test/check_api_text test/check_api_json test/check_api_password \
	test/check_migrate_file test/check_api_validate
TESTS += test/check_jwt test/check_api_text test/check_api_json test/check_api_password \
	test/check_migrate_file test/check_api_validate
endif
test_check_migrate_file_SOURCES = test/check_migrate_file.c test/suite_main.h
test_check_migrate_file_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_migrate_file_LDADD = store/libstore.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_jwt_SOURCES = test/check_jwt.c test/suite_main.h
test_check_jwt_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_jwt_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_text_SOURCES = test/check_api_text.c test/suite_main.h
test_check_api_text_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_text_LDADD = api/libapi.a store/libstore.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_json_SOURCES = test/check_api_json.c test/suite_main.h
test_check_api_json_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_json_LDADD = api/libapi.a store/libstore.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_validate_SOURCES = test/check_api_validate.c test/suite_main.h
test_check_api_validate_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_validate_LDADD = api/libapi.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_password_SOURCES = test/check_api_password.c test/suite_main.h
test_check_api_password_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_password_LDADD = store/libstore.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)

api_integration_tests = \
	test/api/users.py \
	test/api/profiles.py \
	test/api/articles.py \
	test/api/comments.py \
	test/api/cache.py \
	test/api/cache_lists.py \
	test/api/tags_copy.py \
	test/api/cache_refusal.py \
	test/api/listcost.py \
	test/api/counts.py \
	test/api/online_migrate.py \
	test/api/comment_bound.py \
	test/api/tokens.py \
	test/api/usernames.py \
	test/api/bodymem.py \
	test/api/clientaddr.py \
	test/api/badinput.py \
	test/api/cors.py \
	test/api/hashing.py \
	test/api/ratelimit.py \
	test/api/redis_outage.py \
	test/api/pg_outage.py
TESTS += $(api_integration_tests)
EXTRA_DIST += $(api_integration_tests)
EXTRA_DIST += test/api/apilib.py test/conformance.sh \
	tools/package.json tools/package-lock.json \
	bench/api_vs_pgbench.sh bench/seed.py bench/plot.gp bench/hash_stall.py \
	bench/wrk_api.lua
