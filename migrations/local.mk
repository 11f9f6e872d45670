# migrations/local.mk: files of migrations/, included by the top Makefile.am.
