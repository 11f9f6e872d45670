# common/http.mk: the HTTP/1.1 core and router, included by the top Makefile.am.
common_libcommon_a_SOURCES += common/http.h common/router.h
