# classifiers/local.mk - the SVM classifier (libsvm) and its MPI grid search.
libhsi_la_SOURCES += classifiers/svm.c classifiers/svm_grid.c classifiers/svm_scene.c
nobase_pkginclude_HEADERS += classifiers/svm.h
noinst_HEADERS += classifiers/svm_internal.h
hsi_SOURCES += tools/cmd_svm.c

TESTS += tests/test_svm_core
check_PROGRAMS += tests/test_svm_core
tests_test_svm_core_LDADD = $(TEST_LDADD)
TESTS += tests/test_svm_bundle
check_PROGRAMS += tests/test_svm_bundle
tests_test_svm_bundle_LDADD = $(TEST_LDADD)
# test_svm_scene writes the synthetic scene the shell tests use.
check_PROGRAMS += tests/test_svm_scene
tests_test_svm_scene_LDADD = $(TEST_LDADD)
TESTS += tests/test_svm_cli.sh tests/test_svm_mpi.sh
EXTRA_DIST += tests/test_svm_cli.sh tests/test_svm_mpi.sh
# Benchmark: grid search vs a loop of libsvm's svm-train -v 10 (see bench/RESULTS.md).
EXTRA_DIST += bench/svm_grid.sh bench/svm_prepare.py
