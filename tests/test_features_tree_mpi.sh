#!/bin/sh
# test_features_tree_mpi.sh - max/min-trees split over 2 and 3 MPI ranks
# (each rank builds its row blocks' trees, the boundary trees are exchanged
# and merged) equal the single-process trees: tests/test_features_tree_blocks
# run under mpirun checks every rank's rows.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
command -v "${HSI_MPIRUN%% *}" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
mpi_test_env
MPI="$HSI_MPIRUN --quiet --oversubscribe"
PROG="$HSI_BUILDDIR/tests/test_features_tree_blocks"
for np in 2 3; do
    expect_ok "trees on $np ranks" -- $MPI -np $np "$PROG"
    grep -q "rank 0 of $np: [0-9]* checks, 0 failures" "$TMP/out" ||
        fail "$np ranks: $(cat "$TMP/out" "$TMP/err")"
done
echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
