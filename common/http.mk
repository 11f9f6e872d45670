# common/http.mk: the HTTP/1.1 core and router, included by the top Makefile.am.
# Layers: http.c (server) -> http_conn.c (connection) -> http_parse.c and
# http_format.c (pure); http_request.c is the handle handlers use.
common_libcommon_a_SOURCES += common/http.h common/http_method.h common/http_status.h \
	common/http_internal.h common/http.c \
	common/http_conn.c common/http_parse.h common/http_parse.c common/http_format.h \
	common/http_format.c common/http_request.c common/router.h common/router.c
