# test/local.mk: files of test/, included by the top Makefile.am.
