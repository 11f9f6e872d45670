# worker/api.mk: the Conduit API, included by the top Makefile.am.
worker_libworker_a_SOURCES += worker/api.h worker/api_stub.c
