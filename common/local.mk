# common/local.mk: libcommon (not the HTTP core), included by the top Makefile.am.
common_libcommon_a_SOURCES += common/settings.h common/settings.c \
	common/log.h common/log.c \
	common/scoreboard.h common/scoreboard.c \
	common/metrics.h common/metrics.c \
	common/control.h common/control.c \
	common/proc.h common/proc.c \
	common/jwt.c common/jwt.h common/jbuf.c common/jbuf.h \
	common/json_input.c common/json_input.h \
	common/netaddr.c common/netaddr.h
