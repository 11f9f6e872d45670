# test/local.mk: files of test/, included by the top Makefile.am.
# Unit suites of the foundation modules (Check) and the integration tests
# of the supervisor and workers (Python, run against the built conduitd).
if HAVE_CHECK
check_PROGRAMS += test/check_settings test/check_scoreboard test/check_metrics test/check_backoff \
	test/check_netaddr
TESTS += test/check_settings test/check_scoreboard test/check_metrics test/check_backoff \
	test/check_netaddr
endif
test_check_settings_SOURCES = test/check_settings.c
test_check_netaddr_SOURCES = test/check_netaddr.c test/suite_main.h
test_check_netaddr_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_netaddr_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_settings_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_settings_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_scoreboard_SOURCES = test/check_scoreboard.c
test_check_scoreboard_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_scoreboard_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_metrics_SOURCES = test/check_metrics.c
test_check_metrics_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_metrics_LDADD = common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)
test_check_backoff_SOURCES = test/check_backoff.c
test_check_backoff_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_check_backoff_LDADD = supervisor/libsupervisor.a common/libcommon.a $(CHECK_LIBS) $(CONDUIT_LIBS)

# Integration tests: each starts the real conduitd on free loopback ports
# through test/harness.py and exits 0, 1 or 77 (skip).
foundation_integration_tests = \
	test/integration/test_workers.py \
	test/integration/test_stop.py \
	test/integration/test_metrics.py \
	test/integration/test_promtool.py \
	test/integration/test_config.py \
	test/integration/test_requests.py \
	test/integration/test_logs.py \
	test/integration/test_crashloop.py
# Supervisor resilience (issue 3): each behaviour under load, and the
# zero-drop proof; loadgen.py is their client.
resilience_integration_tests = \
	test/integration/test_hung.py \
	test/integration/test_reload.py \
	test/integration/test_upgrade.py \
	test/integration/test_scaling.py \
	test/integration/test_recycle.py \
	test/integration/test_zero_drop.py \
	test/integration/test_admission.py
TESTS += $(foundation_integration_tests) $(resilience_integration_tests)
EXTRA_DIST += $(foundation_integration_tests) $(resilience_integration_tests) \
	test/integration/support.py test/integration/loadgen.py test/integration/httpwire.py test/harness.py
