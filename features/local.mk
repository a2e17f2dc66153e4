# features/local.mk - see Makefile.am

# patch windows (eval)
libhsi_la_SOURCES += features/patch.c
pkginclude_HEADERS += features/patch.h
