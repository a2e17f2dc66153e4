#!/bin/sh
# test_svm_cli.sh - `hsi svm grid|train|predict` end to end on a small
# synthetic scene (one process), and its refusals of bad input.
. "$HSI_SRCDIR/tests/setup.sh"
SCENE="$HSI_BUILDDIR/tests/test_svm_scene"
"$SCENE" make "$TMP" || { echo "cannot make the test scene"; exit 99; }
unset OMPI_COMM_WORLD_SIZE PMIX_RANK

# Grid search: table, best pair, CSV with one line per cell.
expect_ok "grid" -- "$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train.tif" \
    --log2c -1,7,4 --log2g 1,-7,-4 --folds 4 --csv "$TMP/grid.csv" -q
cp "$TMP/out" "$TMP/grid.out"
grep -q '^best: log2(gamma) = ' "$TMP/grid.out" || fail "grid: no best line: $(cat "$TMP/grid.out")"
grep -q '3 gamma x 3 C = 9 cells, 36 tasks on 1 rank; kernel reuse: yes' "$TMP/grid.out" ||
    fail "grid: header: $(cat "$TMP/grid.out")"
[ "$(wc -l <"$TMP/grid.csv")" -eq 10 ] || fail "grid.csv has $(wc -l <"$TMP/grid.csv") lines"
best=$(sed -n 's/.*: accuracy \([0-9.]*\) %/\1/p' "$TMP/grid.out")
awk -v b="$best" 'BEGIN { exit !(b >= 95) }' || fail "grid: best accuracy $best % < 95 %"
pass
# Plain RBF per task gives the same table.
expect_ok "grid without kernel reuse" -- "$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train.tif" \
    --log2c -1,7,4 --log2g 1,-7,-4 --folds 4 --csv "$TMP/grid_plain.csv" --kernel-mem 0 -q
cut -d, -f1-5 "$TMP/grid.csv" >"$TMP/a" && cut -d, -f1-5 "$TMP/grid_plain.csv" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "kernel reuse and plain RBF tables differ"
pass

# --fold-scheme libsvm reproduces svm-train -v cell by cell (same folds, same
# sample order, kernel reuse on our side).
if [ -n "${HSI_SVM_TRAIN:-}" ]; then
    "$SCENE" libsvm "$TMP/cube.tif" "$TMP/train.tif" "$TMP/train.libsvm"
    expect_ok "grid, libsvm folds" -- "$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train.tif" \
        --preprocess none --log2c -3,5,8 --log2g 2,-4,-6 --folds 4 --fold-scheme libsvm \
        --csv "$TMP/libfolds.csv" -q
    tail -n +2 "$TMP/libfolds.csv" | while IFS=, read -r lg lc g c acc secs; do
        ref=$("$HSI_SVM_TRAIN" -q -v 4 -g "$g" -c "$c" "$TMP/train.libsvm" |
              sed -n 's/Cross Validation Accuracy = \(.*\)%/\1/p')
        awk -v a="$acc" -v r="$ref" 'BEGIN { d = 100 * a - r; exit !(d < 1e-3 && d > -1e-3) }' ||
            echo "cell log2g $lg log2c $lc: hsi $acc, svm-train $ref %"
    done >"$TMP/libsvm_diff"
    [ -s "$TMP/libsvm_diff" ] && fail "libsvm folds: $(cat "$TMP/libsvm_diff")"
    pass
fi

# Train (grid first) with probabilities, predict the whole scene.
expect_ok "train --grid" -- "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train.tif" --grid \
    --log2c -1,7,4 --log2g 1,-7,-4 --folds 4 --probability -o "$TMP/model.svm" -q
expect_ok "predict" -- "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/model.svm" \
    -o "$TMP/classes.tif" --prob "$TMP/prob.tif" -q
acc=$("$SCENE" accuracy "$TMP/classes.tif" "$TMP/gt.tif")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' || fail "predict: accuracy $acc < 0.95"
pass
"$HSI" info "$TMP/classes.tif" >"$TMP/info" 2>&1
grep -q 'Trees' "$TMP/info" || fail "class raster lacks the class names: $(cat "$TMP/info")"
"$HSI" info "$TMP/prob.tif" >"$TMP/info" 2>&1
grep -q '3 bands' "$TMP/info" || fail "probability cube: $(cat "$TMP/info")"
pass
# Train from a ground truth and a fraction, with explicit parameters.
expect_ok "train --truth --fraction" -- "$HSI" svm train "$TMP/cube.tif" --truth "$TMP/gt.tif" \
    --fraction 0.1 -c 16 -g 0.5 --class-weights balanced,2:1.5 -o "$TMP/model2.svm" -q
expect_ok "train linear" -- "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train.tif" \
    --kernel linear -c 4 --preprocess minmax -o "$TMP/linear.svm" -q
expect_ok "predict linear" -- "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/linear.svm" \
    -o "$TMP/linear.tif" -q
acc=$("$SCENE" accuracy "$TMP/linear.tif" "$TMP/gt.tif")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "linear: accuracy $acc < 0.9"

# A model remembers the bands it was trained on: predict on the full cube
# without --bands reads those bands again, and classifies exactly as a model
# trained and applied on a cube holding only those bands.
expect_ok "train --bands" -- "$HSI" svm train "$TMP/cube.tif" --bands 2-5 \
    --train "$TMP/train.tif" -o "$TMP/bands.svm" -q
expect_ok "predict, the model's bands" -- "$HSI" svm predict "$TMP/cube.tif" \
    -m "$TMP/bands.svm" -o "$TMP/bands_full.tif" -q
expect_ok "band subset cube" -- "$HSI" convert "$TMP/cube.tif" --bands 2-5 -o "$TMP/cube25.tif"
expect_ok "train on the subset cube" -- "$HSI" svm train "$TMP/cube25.tif" \
    --train "$TMP/train.tif" -o "$TMP/sub.svm" -q
expect_ok "predict the subset cube" -- "$HSI" svm predict "$TMP/cube25.tif" \
    -m "$TMP/sub.svm" -o "$TMP/bands_sub.tif" -q
same=$("$SCENE" accuracy "$TMP/bands_full.tif" "$TMP/bands_sub.tif")
[ "$same" = "1.0000" ] || fail "--bands model on the full cube agrees with the subset on $same"
# The same selection spelled otherwise is accepted; a different one refused.
expect_ok "predict, same bands given" -- "$HSI" svm predict "$TMP/cube.tif" --bands 2,3,4-5 \
    -m "$TMP/bands.svm" -o "$TMP/bands_same.tif" -q
same=$("$SCENE" accuracy "$TMP/bands_same.tif" "$TMP/bands_sub.tif")
[ "$same" = "1.0000" ] || fail "--bands 2,3,4-5 agrees with the subset on $same"
expect_error "predict, other bands" \
    "cube.tif: band selection '1-4' differs from '2-5', the bands .*bands.svm was trained on" -- \
    "$HSI" svm predict "$TMP/cube.tif" --bands 1-4 -m "$TMP/bands.svm" -o "$TMP/bad_bands.tif"
expect_no_file "no class raster after other bands" "$TMP/bad_bands.tif"
pass

# Bad inputs: one error line naming the problem, no output left behind.
expect_error "gamma 0" 'gamma must be a positive number' -- \
    "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train.tif" -g 0 -o "$TMP/bad.svm"
expect_error "C negative" 'C must be a positive number' -- \
    "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train.tif" -c -1 -o "$TMP/bad.svm"
expect_no_file "no model after a refused training" "$TMP/bad.svm"
expect_error "class without training pixels" \
    'train_no_trees.tif: class 2 \(Trees\) has no training pixels' -- \
    "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train_no_trees.tif" -o "$TMP/bad.svm"
expect_error "grid: class without training pixels" 'class 2 \(Trees\) has no training pixels' -- \
    "$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train_no_trees.tif"
# Asked for, a class without training pixels is left out: one warning line,
# a model, and a class raster in which that class never appears.
checks=$((checks + 1))
if "$HSI" svm train "$TMP/cube.tif" --train "$TMP/train_no_trees.tif" --allow-missing-classes \
    -o "$TMP/no_trees.svm" -q 2>"$TMP/err"; then
  [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q 'warning: .*1 of [0-9]* classes have no training pixels' "$TMP/err" \
    || fail "--allow-missing-classes: expected one warning line, got: $(cat "$TMP/err")"
  expect_ok "predict without the missing class" -- "$HSI" svm predict "$TMP/cube.tif" \
    -m "$TMP/no_trees.svm" -o "$TMP/no_trees.tif" -q
  expect_ok "histogram" -- "$HSI" info --json - "$TMP/no_trees.tif"
  grep -q '"id": 2,' "$TMP/out" && fail "class 2 had no training pixels but was predicted"
else
  fail "--allow-missing-classes: training failed: $(cat "$TMP/err")"
fi
expect_ok "grid without the missing class" -- "$HSI" svm grid "$TMP/cube.tif" \
    --train "$TMP/train_no_trees.tif" --allow-missing-classes --log2c 0,2,2 --log2g -2,-2,1 --folds 3 -q
expect_error "feature dimension differs" 'cube.tif: 5 bands but the model takes 8' -- \
    "$HSI" svm predict "$TMP/cube.tif" --bands 1-5 -m "$TMP/model.svm" -o "$TMP/bad.tif"
expect_no_file "no class raster after a refused prediction" "$TMP/bad.tif"
head -c 700 "$TMP/model.svm" >"$TMP/truncated.svm"
expect_error "truncated model" 'truncated.svm: SVM model corrupt or truncated \(checksum mismatch\)' -- \
    "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/truncated.svm" -o "$TMP/bad.tif"
expect_error "not a model" 'cube.tif: not an hsi SVM model' -- \
    "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/cube.tif" -o "$TMP/bad.tif"
expect_error "probabilities from a model without them" 'trained without them' -- \
    "$HSI" svm predict "$TMP/cube.tif" -m "$TMP/model2.svm" -o "$TMP/bad.tif" --prob "$TMP/p.tif"
expect_no_file "nothing written" "$TMP/bad.tif" "$TMP/p.tif"
expect_error "folds above the pixel count" 'folds need between 2 and' -- \
    "$HSI" svm grid "$TMP/cube.tif" --truth "$TMP/gt.tif" --fraction 0.01 --folds 100
"$HSI" svm grid "$TMP/cube.tif" --train "$TMP/train.tif" --log2g 1,2,-1 >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && grep -q -- '--log2g: range' "$TMP/err" || fail "bad range: $(cat "$TMP/err")"
"$HSI" svm fit >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] || fail "unknown subcommand accepted"
"$HSI" svm predict --help | grep -q 'mpirun -np N' || fail "--help"
pass
finish
