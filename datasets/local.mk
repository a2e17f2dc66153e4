# datasets/local.mk - see Makefile.am
