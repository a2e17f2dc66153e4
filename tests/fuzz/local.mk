# tests/fuzz/local.mk - libFuzzer targets for every parser of untrusted input.
# Built only by `make fuzz` in a tree configured with --enable-fuzz (CC=clang),
# never by `make` or `make check`. Run them with bench/fuzz.sh; the CI smoke
# test is tests/fuzz/smoke.sh.
FUZZ_TARGETS = tests/fuzz/fuzz_spec tests/fuzz/fuzz_checkpoint tests/fuzz/fuzz_svm \
	tests/fuzz/fuzz_preprocess tests/fuzz/fuzz_bands tests/fuzz/fuzz_envi tests/fuzz/fuzz_mat \
	tests/fuzz/fuzz_experiment
EXTRA_PROGRAMS = $(FUZZ_TARGETS)
FUZZ_LINK = $(HSI_LDFLAGS) $(FUZZ_LDFLAGS) $(OPENMP_CFLAGS) -no-install
tests_fuzz_fuzz_spec_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_spec_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_checkpoint_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_checkpoint_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_svm_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_svm_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_preprocess_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_preprocess_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_bands_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_bands_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_envi_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_envi_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_mat_LDADD = $(TEST_LDADD) $(MATIO_LIBS)
tests_fuzz_fuzz_mat_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_experiment_LDADD = $(TEST_LDADD)
tests_fuzz_fuzz_experiment_LDFLAGS = $(FUZZ_LINK)
CLEANFILES += $(FUZZ_TARGETS)
noinst_HEADERS += tests/fuzz/fuzz_util.h
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/crashes tests/fuzz/dict tests/fuzz/lsan.supp tests/fuzz/smoke.sh \
	tests/fuzz/README.md bench/fuzz.sh

.PHONY: fuzz
if HSI_FUZZ
fuzz: $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzz first" >&2; exit 1
endif
