# bench/local.mk: files of bench/, included by the top Makefile.am.
