# features/local.mk - see Makefile.am
