# tests/local.mk - foundation tests (core, io, the hsi command). Other areas
# list their tests in their own local.mk.
TESTS += tests/test_core
check_PROGRAMS += tests/test_core
tests_test_core_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/setup.sh tests/check.h tests/no_dlclose.c
TESTS += tests/test_io
check_PROGRAMS += tests/test_io
tests_test_io_LDADD = $(TEST_LDADD) $(MATIO_LIBS)
TESTS += tests/test_cli_io.sh
EXTRA_DIST += tests/test_cli_io.sh
TESTS += tests/test_cli_convention.sh
EXTRA_DIST += tests/test_cli_convention.sh
TESTS += tests/test_cli_outputs.sh
EXTRA_DIST += tests/test_cli_outputs.sh
TESTS += tests/test_cpu_kernels.sh
EXTRA_DIST += tests/test_cpu_kernels.sh
