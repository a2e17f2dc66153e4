# features/local.mk - spectral preprocessing (PCA etc.), patch windows, component trees and profiles.

# preprocessing fitted on training pixels (lead)
libhsi_la_SOURCES += features/preprocess.c
nobase_pkginclude_HEADERS += features/preprocess.h features/patch.h
TESTS += tests/test_preprocess
check_PROGRAMS += tests/test_preprocess
tests_test_preprocess_LDADD = $(TEST_LDADD)
