# supervisor/local.mk: files of supervisor/, included by the top Makefile.am.
