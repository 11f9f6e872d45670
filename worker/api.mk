# worker/api.mk: the Conduit API, included by the top Makefile.am.
common_libcommon_a_SOURCES += common/jwt.c common/jwt.h common/jbuf.c common/jbuf.h \
	common/json_input.c common/json_input.h
worker_libworker_a_SOURCES += worker/api.h worker/api_internal.h worker/api.c \
	worker/api_respond.c worker/api_sql.c worker/api_text.c worker/api_text.h \
	worker/api_users.c worker/api_profiles.c worker/api_articles.c worker/api_favorites.c \
	worker/api_comments.c worker/api_tags.c \
	worker/db.c worker/db.h worker/cache.c worker/cache.h worker/ratelimit.c worker/ratelimit.h \
	worker/password.c worker/password.h worker/migrate.c

if HAVE_CHECK
check_PROGRAMS += test/check_jwt test/check_api_text test/check_api_json test/check_api_password
TESTS += test/check_jwt test/check_api_text test/check_api_json test/check_api_password
endif
test_check_jwt_SOURCES = test/check_jwt.c test/suite_main.h
test_check_jwt_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_jwt_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_text_SOURCES = test/check_api_text.c test/suite_main.h
test_check_api_text_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_text_LDADD = worker/libworker.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_json_SOURCES = test/check_api_json.c test/suite_main.h
test_check_api_json_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_json_LDADD = worker/libworker.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_api_password_SOURCES = test/check_api_password.c test/suite_main.h
test_check_api_password_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_api_password_LDADD = worker/libworker.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
