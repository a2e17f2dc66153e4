# eval/local.mk - see Makefile.am
# Honest evaluation: train/test splits without leakage, accuracy reports, maps.
libhsi_la_SOURCES += eval/metrics.c
pkginclude_HEADERS += eval/metrics.h
TESTS += tests/test_eval_metrics
check_PROGRAMS += tests/test_eval_metrics
tests_test_eval_metrics_LDADD = $(TEST_LDADD)
TESTS += tests/test_eval_patch
check_PROGRAMS += tests/test_eval_patch
tests_test_eval_patch_LDADD = $(TEST_LDADD)
