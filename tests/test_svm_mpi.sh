#!/bin/sh
# test_svm_mpi.sh - `mpirun -np N hsi svm grid|predict`: the same results on
# 1, 2 and more ranks than there is work, one error line from N ranks.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Open MPI itself leaks at exit (LeakSanitizer builds): suppress leaks that
# it allocates, with its plugins kept loaded so their frames have names;
# hsi's own allocations are still checked. Harmless without sanitizers.
cat >"$TMP/lsan.supp" <<'EOF_SUPP'
leak:libmpi.so
leak:libopen-pal.so
leak:libopen-rte.so
leak:libpmix.so
leak:libhwloc.so
leak:libevent
leak:libucp.so
leak:libucs.so
leak:mca_
EOF_SUPP
export LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export OMPI_MCA_mca_base_component_disable_dlclose=1
# Two busy cores: no busy-waiting ranks.
export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
MPI="$HSI_MPIRUN --quiet --oversubscribe"
SCENE="$HSI_BUILDDIR/tests/test_svm_scene"
"$SCENE" make "$TMP" || { echo "cannot make the test scene"; exit 99; }
mkdir -p "$TMP/tiny" && "$SCENE" make "$TMP/tiny" 2 || { echo "cannot make the tiny scene"; exit 99; }
echo "not a model" >"$TMP/bad.svm"

GRID="--train $TMP/train.tif --log2c -1,7,4 --log2g 1,-7,-4 --folds 4 -q"
expect_ok "grid on 1 rank" -- $MPI -np 1 "$HSI" svm grid "$TMP/cube.tif" $GRID --csv "$TMP/g1.csv"
grep -q 'tasks on 1 rank' "$TMP/out" || fail "grid -np 1: $(cat "$TMP/out")"
expect_ok "grid on 2 ranks" -- $MPI -np 2 "$HSI" svm grid "$TMP/cube.tif" $GRID --csv "$TMP/g2.csv"
grep -q 'tasks on 2 ranks' "$TMP/out" || fail "grid -np 2: $(cat "$TMP/out")"
# One table, printed once.
[ "$(grep -c '^best:' "$TMP/out")" -eq 1 ] || fail "grid -np 2 printed $(grep -c '^best:' "$TMP/out") tables"
cut -d, -f1-5 "$TMP/g1.csv" >"$TMP/a"; cut -d, -f1-5 "$TMP/g2.csv" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "grid accuracies differ between 1 and 2 ranks"
pass
# More ranks than tasks: 1 gamma x 1 C x 2 folds on 3 ranks.
expect_ok "grid, more ranks than tasks" -- $MPI -np 3 "$HSI" svm grid "$TMP/cube.tif" \
    --train "$TMP/train.tif" --log2c 3,3,1 --log2g -3,-3,-1 --folds 2 -q --csv "$TMP/g3.csv"
"$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train.tif" --log2c 3,3,1 --log2g -3,-3,-1 \
    --folds 2 -q --csv "$TMP/g0.csv" >/dev/null 2>&1
cut -d, -f1-5 "$TMP/g0.csv" >"$TMP/a"; cut -d, -f1-5 "$TMP/g3.csv" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "grid differs with more ranks than tasks"
pass

expect_ok "train" -- "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train.tif" -c 16 -g 0.125 \
    --probability -o "$TMP/model.svm" -q
expect_ok "predict, no MPI" -- "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/model.svm" \
    -o "$TMP/c0.tif" --prob "$TMP/p0.tif" -q
expect_ok "predict on 1 rank" -- $MPI -np 1 "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/model.svm" \
    -o "$TMP/c1.tif" --prob "$TMP/p1.tif" -q
expect_ok "predict on 2 ranks" -- $MPI -np 2 "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/model.svm" \
    -o "$TMP/c2.tif" --prob "$TMP/p2.tif" -q --block-rows 4
for f in c1 p1 c2 p2; do
    cmp -s "$TMP/${f%?}0.tif" "$TMP/$f.tif" || fail "$f.tif differs from the one-process result"
done
pass
# More ranks than rows: a 2-row scene on 3 ranks (one rank has no rows).
expect_ok "predict tiny, no MPI" -- "$HSI" svm predict "$TMP/tiny/cube.tif" -m "$TMP/model.svm" \
    -o "$TMP/t0.tif" -q
expect_ok "predict tiny on 3 ranks" -- $MPI -np 3 "$HSI" svm predict "$TMP/tiny/cube.tif" \
    -m "$TMP/model.svm" -o "$TMP/t3.tif" -q
cmp -s "$TMP/t0.tif" "$TMP/t3.tif" || fail "tiny scene differs on 3 ranks"
pass

# Bad input under mpirun: every rank sees it, one line is printed.
expect_error "2 ranks, corrupt model" 'bad.svm: not an hsi SVM model' -- \
    $MPI -np 2 "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/bad.svm" -o "$TMP/bad.tif"
expect_error "2 ranks, class without pixels" 'class 2 \(Trees\) has no training pixels' -- \
    $MPI -np 2 "$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train_no_trees.tif" -q
expect_no_file "no output" "$TMP/bad.tif"
finish
