# cnn3d/local.mk - see Makefile.am
