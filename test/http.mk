# test/http.mk: Check suites of the HTTP/1.1 core and the router, included
# by the top Makefile.am. check_http serves a loopback socket of its own.
if HAVE_CHECK
check_PROGRAMS += test/check_http test/check_router
TESTS += test/check_http test/check_router
endif
test_check_http_SOURCES = test/check_http.c
test_check_http_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_http_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_router_SOURCES = test/check_router.c
test_check_router_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_router_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
