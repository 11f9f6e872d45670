# test/fuzz.mk: the fuzz targets (test/fuzz/fuzz_*.c), included by the top
# Makefile.am. script/fuzz links them with libFuzzer; here each is linked
# with test/fuzz/replay.c instead, and make check replays the committed
# seeds and every input that ever crashed a target (test/fuzz/regressions/).
fuzz_replay_programs = test/fuzz_replay_http_parser test/fuzz_replay_json test/fuzz_replay_jwt \
	test/fuzz_replay_router test/fuzz_replay_settings
check_PROGRAMS += $(fuzz_replay_programs)
TESTS += $(fuzz_replay_programs)
EXTRA_DIST += script/fuzz test/fuzz/http_parser test/fuzz/json test/fuzz/jwt test/fuzz/router \
	test/fuzz/settings test/fuzz/regressions
test_fuzz_replay_http_parser_SOURCES = test/fuzz/fuzz_http_parser.c test/fuzz/replay.c test/fuzz/fuzz.h
test_fuzz_replay_http_parser_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET_NAME='"http_parser"'
test_fuzz_replay_http_parser_LDADD = common/libcommon.a $(CONDUIT_LIBS)
test_fuzz_replay_json_SOURCES = test/fuzz/fuzz_json.c test/fuzz/replay.c test/fuzz/fuzz.h
test_fuzz_replay_json_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET_NAME='"json"'
test_fuzz_replay_json_LDADD = api/libapi.a common/libcommon.a $(CONDUIT_LIBS)
test_fuzz_replay_jwt_SOURCES = test/fuzz/fuzz_jwt.c test/fuzz/replay.c test/fuzz/fuzz.h
test_fuzz_replay_jwt_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET_NAME='"jwt"'
test_fuzz_replay_jwt_LDADD = common/libcommon.a $(CONDUIT_LIBS)
test_fuzz_replay_router_SOURCES = test/fuzz/fuzz_router.c test/fuzz/replay.c test/fuzz/fuzz.h
test_fuzz_replay_router_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET_NAME='"router"'
test_fuzz_replay_router_LDADD = common/libcommon.a $(CONDUIT_LIBS)
test_fuzz_replay_settings_SOURCES = test/fuzz/fuzz_settings.c test/fuzz/replay.c test/fuzz/fuzz.h
test_fuzz_replay_settings_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET_NAME='"settings"'
test_fuzz_replay_settings_LDADD = common/libcommon.a $(CONDUIT_LIBS)
