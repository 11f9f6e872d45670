# worker/local.mk: the worker process (not the API), included by the top Makefile.am.
worker_libworker_a_SOURCES += worker/worker.h worker/worker.c worker/admission.h worker/admission.c
