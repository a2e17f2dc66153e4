#!/bin/sh
# test_svm_mpi.sh - `mpirun -np N hsi svm grid|predict`: the same results on
# 1, 2 and more ranks than there is work, one error line from N ranks.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
mpi_test_env
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

# One rank fails, the others do not (MPMD launches, `mpirun A : B`): every
# rank must learn of it before the next collective step, so the run ends at
# once instead of hanging, every rank exits non-zero, the failing rank's
# message is printed once, and nothing is written. Each rank runs through
# rank.sh ($RANK, from mpi_test_env), which records its exit status;
# expect_rank_error (tests/setup.sh) turns a hang into a failure.
SMALL="--train $TMP/train.tif --log2c 3,3,1 --log2g -3,-3,-1 --folds 2 -q"
MISSING="$TMP/missing.tif"
expect_rank_error "grid, rank 1 given a missing cube" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL --csv "$TMP/m.csv" : \
    -np 1 $RANK svm grid "$MISSING" $SMALL --csv "$TMP/m.csv"
expect_rank_error "grid, rank 0 given a missing cube" "missing\.tif" -- \
    $MPI -np 1 $RANK svm grid "$MISSING" $SMALL --csv "$TMP/m.csv" : \
    -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL --csv "$TMP/m.csv"
expect_rank_error "grid, rank 1 given missing labels" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL : \
    -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL --train "$MISSING"
expect_rank_error "train --grid, rank 1 given a missing cube" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK svm train "$TMP/cube.tif" $SMALL --grid -o "$TMP/m.svm" : \
    -np 1 $RANK svm train "$MISSING" $SMALL --grid -o "$TMP/m.svm"
expect_rank_error "train, rank 1 given a missing cube" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK svm train "$TMP/cube.tif" $SMALL -o "$TMP/m.svm" : \
    -np 1 $RANK svm train "$MISSING" $SMALL -o "$TMP/m.svm"
expect_no_file "no output after a failed rank" "$TMP/m.csv" "$TMP/m.svm"
PRED="-o $TMP/m.tif --prob $TMP/mp.tif -q"
expect_rank_error "predict, rank 1 given a missing model" "rank 1 failed: .*missing\.svm" -- \
    $MPI -np 1 $RANK svm predict "$TMP/cube.tif" -m "$TMP/model.svm" $PRED : \
    -np 1 $RANK svm predict "$TMP/cube.tif" -m "$TMP/missing.svm" $PRED
expect_rank_error "predict, rank 1 given a missing cube" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK svm predict "$TMP/cube.tif" -m "$TMP/model.svm" $PRED : \
    -np 1 $RANK svm predict "$MISSING" -m "$TMP/model.svm" $PRED
# Inputs of different shapes: the row split and the task table assume every
# rank reads the same scene and training pixels; refuse, naming both sizes.
expect_rank_error "predict, rank 1 given a smaller cube" \
    "rank 1 failed: .*tiny/cube\.tif: 2 rows.*rank 0 has 30" -- \
    $MPI -np 1 $RANK svm predict "$TMP/cube.tif" -m "$TMP/model.svm" $PRED : \
    -np 1 $RANK svm predict "$TMP/tiny/cube.tif" -m "$TMP/model.svm" $PRED
expect_rank_error "grid, rank 1 given a smaller scene" \
    "rank 1 failed: .*training.* [0-9]+ samples.*rank 0 has [0-9]+" -- \
    $MPI -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL --csv "$TMP/m.csv" : \
    -np 1 $RANK svm grid "$TMP/tiny/cube.tif" $SMALL --train "$TMP/tiny/train.tif" --csv "$TMP/m.csv"
expect_no_file "no output after a failed rank" "$TMP/m.tif" "$TMP/mp.tif" "$TMP/m.csv"
# Rank 0 trains and writes alone; the ranks that waited exit non-zero too
# when that fails.
expect_rank_error "train, rank 0 cannot write the model" "nodir/m\.svm" -- \
    $MPI -np 2 $RANK svm train "$TMP/cube.tif" $SMALL -o "$TMP/nodir/m.svm"
expect_rank_error "predict, rank 0 cannot write the classes" "nodir/m\.tif" -- \
    $MPI -np 2 $RANK svm predict "$TMP/cube.tif" -m "$TMP/model.svm" -q -o "$TMP/nodir/m.tif"
# A usage error only rank 1 sees (it prints nothing: only rank 0 speaks).
expect_rank_error "grid, rank 1 given an unknown option" "rank 1 failed: invalid command line" -- \
    $MPI -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL : -np 1 $RANK svm grid "$TMP/cube.tif" $SMALL --bogus
finish
