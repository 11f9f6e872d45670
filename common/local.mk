# common/local.mk: libcommon (not the HTTP core), included by the top Makefile.am.
common_libcommon_a_SOURCES += common/settings.h common/log.h common/scoreboard.h
