# io/local.mk - see Makefile.am
