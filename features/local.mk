# features/local.mk - spectral preprocessing (PCA etc.), patch windows, component trees and profiles.

# component trees, attributes, attribute filters and profiles (features helper)
libhsi_la_SOURCES += features/tree.c features/profile.c features/tree_block.c \
	features/tree_internal.h features/profile_stream.c
nobase_pkginclude_HEADERS += features/tree.h features/profile.h features/tree_block.h
hsi_SOURCES += tools/cmd_profile.c
TESTS += tests/test_features_trees tests/test_features_profile tests/test_features_cli.sh \
	tests/test_features_higra.sh
check_PROGRAMS += tests/test_features_trees tests/test_features_profile
tests_test_features_trees_LDADD = $(TEST_LDADD)
tests_test_features_profile_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/test_features_cli.sh tests/test_features_higra.sh
# row-block and distributed max/min-trees (tree_block.c): 1 process, and 2 and 3 MPI ranks
TESTS += tests/test_features_tree_blocks tests/test_features_tree_mpi.sh \
	tests/test_features_profile_stream.sh tests/test_features_profile_mpi.sh
check_PROGRAMS += tests/test_features_tree_blocks
tests_test_features_tree_blocks_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/test_features_tree_mpi.sh tests/test_features_profile_stream.sh \
	tests/test_features_profile_mpi.sh
# tree construction benchmark (bench/trees_bench.sh runs it beside Higra)
check_PROGRAMS += bench/trees_bench
bench_trees_bench_LDADD = $(TEST_LDADD)
# max-tree over MPI ranks against one process and Higra (bench/maxtree_scaling.sh)
check_PROGRAMS += bench/maxtree_scaling
bench_maxtree_scaling_LDADD = $(TEST_LDADD)
EXTRA_DIST += bench/maxtree_scaling.sh
EXTRA_DIST += bench/trees_bench.sh bench/trees_higra.py bench/trees_sdap_higra.py bench/RESULTS.md

# preprocessing fitted on training pixels (lead)
libhsi_la_SOURCES += features/preprocess.c
nobase_pkginclude_HEADERS += features/preprocess.h features/patch.h
# fits accumulated block by block, and the rows cnn train needs (--memory)
libhsi_la_SOURCES += features/preprocess_stream.c features/patch_rows.c
nobase_pkginclude_HEADERS += features/preprocess_stream.h features/patch_rows.h
TESTS += tests/test_preprocess
check_PROGRAMS += tests/test_preprocess
tests_test_preprocess_LDADD = $(TEST_LDADD)

# patch windows (eval)
libhsi_la_SOURCES += features/patch.c
