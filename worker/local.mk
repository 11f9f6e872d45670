# worker/local.mk: files of worker/, included by the top Makefile.am.
worker_libworker_a_SOURCES += worker/worker.h worker/api.h worker/api_stub.c
