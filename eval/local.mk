# eval/local.mk - see Makefile.am
# Honest evaluation: train/test splits without leakage, accuracy reports, maps.
libhsi_la_SOURCES += eval/metrics.c eval/split.c
pkginclude_HEADERS += eval/metrics.h eval/split.h
TESTS += tests/test_eval_metrics tests/test_eval_patch tests/test_eval_split
check_PROGRAMS += tests/test_eval_metrics tests/test_eval_patch tests/test_eval_split
tests_test_eval_metrics_LDADD = $(TEST_LDADD)
tests_test_eval_patch_LDADD = $(TEST_LDADD)
tests_test_eval_split_LDADD = $(TEST_LDADD)
