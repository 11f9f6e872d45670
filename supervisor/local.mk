# supervisor/local.mk: files of supervisor/, included by the top Makefile.am.
supervisor_libsupervisor_a_SOURCES += supervisor/supervisor.h supervisor/supervisor.c \
	supervisor/spawn.c supervisor/hung.c supervisor/generation.c supervisor/upgrade.c \
	supervisor/admin.c supervisor/listen.c \
	supervisor/backoff.h supervisor/backoff.c
