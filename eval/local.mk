# eval/local.mk - see Makefile.am
# Honest evaluation: train/test splits without leakage, accuracy reports, maps.
libhsi_la_SOURCES += eval/metrics.c eval/split.c eval/maps.c
nobase_pkginclude_HEADERS += eval/metrics.h eval/split.h eval/maps.h
TESTS += tests/test_eval_metrics tests/test_eval_patch tests/test_eval_split tests/test_eval_maps
check_PROGRAMS += tests/test_eval_metrics tests/test_eval_patch tests/test_eval_split tests/test_eval_maps
tests_test_eval_metrics_LDADD = $(TEST_LDADD)
tests_test_eval_patch_LDADD = $(TEST_LDADD)
tests_test_eval_split_LDADD = $(TEST_LDADD)
tests_test_eval_maps_LDADD = $(TEST_LDADD)
hsi_SOURCES += tools/cmd_split.c tools/cmd_report.c tools/cmd_map.c
TESTS += tests/test_eval_report.sh tests/test_eval_cli.sh
EXTRA_DIST += tests/test_eval_report.sh tests/test_eval_cli.sh
# Benchmark of the patch gather (run bench/eval_patch.sh; not part of make check).
noinst_PROGRAMS += bench/eval_patch
bench_eval_patch_LDADD = $(TEST_LDADD)
EXTRA_DIST += bench/eval_patch.sh
EXTRA_DIST += eval/README.md eval/doc/sim_rgb.png eval/doc/sim_gt.png eval/doc/sim_legend.png
# map rgb of a scene on disk, streamed within --memory
libhsi_la_SOURCES += eval/false_colour_file.c
nobase_pkginclude_HEADERS += eval/false_colour_file.h
