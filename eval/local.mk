# eval/local.mk - see Makefile.am
