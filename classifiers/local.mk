# classifiers/local.mk - see Makefile.am
