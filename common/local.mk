# common/local.mk: files of common/, included by the top Makefile.am.
