# common/http.mk: the HTTP/1.1 core and router, included by the top Makefile.am.
common_libcommon_a_SOURCES += common/http.h common/http_internal.h common/http.c \
	common/http_parse.c common/http_request.c common/http_response.c common/router.h common/router.c
