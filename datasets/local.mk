# datasets/local.mk - the scene simulator, the public scene descriptors, and
# the download script for the public scenes.
libhsi_la_SOURCES += datasets/simulate.c datasets/aviris_bands.c datasets/scenes.c
nobase_pkginclude_HEADERS += datasets/simulate.h datasets/scenes.h
dist_noinst_SCRIPTS += datasets/fetch
EXTRA_DIST += datasets/README.md

TESTS += tests/test_datasets_simulate
check_PROGRAMS += tests/test_datasets_simulate
tests_test_datasets_simulate_LDADD = $(TEST_LDADD)

hsi_SOURCES += tools/cmd_simulate.c tools/cmd_datasets.c

TESTS += tests/test_datasets_cli.sh
EXTRA_DIST += tests/test_datasets_cli.sh
