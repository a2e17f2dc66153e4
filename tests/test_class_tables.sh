#!/bin/sh
# test_class_tables.sh - a ground truth's class count comes from its category
# table, not from its largest label: a training raster without the top class
# (the simulated scene's Stone-Steel-Towers, class 16, removed) still gives
# a CNN and an SVM with all 16 classes, and the class names reach the
# models' class rasters, probability cubes and reports.
. "$HSI_SRCDIR/tests/setup.sh"

expect_ok "simulate" -- "$HSI" simulate --rows 40 --cols 40 -o "$TMP/s.tif" --gt "$TMP/gt.tif" -q
# The training raster: the ground truth in ENVI (one byte a pixel, the class
# names in the header) with class 16 set to 0.
expect_ok "convert" -- "$HSI" convert --labels "$TMP/gt.tif" -o "$TMP/gt.dat"
grep -q '^data type = 1$' "$TMP/gt.hdr" || fail "gt.hdr: not one byte a pixel: $(cat "$TMP/gt.hdr")"
LC_ALL=C tr '\020' '\000' <"$TMP/gt.dat" >"$TMP/train.dat"
cp "$TMP/gt.hdr" "$TMP/train.hdr"
"$HSI" info "$TMP/gt.tif" | grep -q ' 16  Stone-Steel-Towers' || fail "precondition: gt.tif has no class 16"
"$HSI" info "$TMP/train.dat" | grep -q 'Stone-Steel-Towers' && fail "precondition: train.dat has class 16"
pass

# CNN: 16 outputs (the probability cube has a band per class), names in the
# class raster and in eval's table.
expect_ok "cnn train" -- "$HSI" cnn train "$TMP/s.tif" --spec "$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg" \
    --train "$TMP/train.dat" --allow-missing-classes --epochs 2 -q -o "$TMP/m.ckpt"
expect_ok "cnn predict" -- "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/m.ckpt" -o "$TMP/cnn.tif" \
    --prob "$TMP/cnn_prob.tif" -q
"$HSI" info "$TMP/cnn_prob.tif" | grep -Eq 'size +40 rows x 40 cols x 16 bands' ||
    fail "cnn: probabilities are not 16 bands: $("$HSI" info "$TMP/cnn_prob.tif" | grep size)"
"$HSI" info "$TMP/cnn.tif" | grep -q 'Soybean-mintill' || fail "cnn: class raster without the class names"
expect_ok "cnn eval" -- "$HSI" cnn eval "$TMP/s.tif" -m "$TMP/m.ckpt" --test "$TMP/gt.tif" --csv "$TMP/cnn.csv" -q
grep -q '^16,Stone-Steel-Towers,' "$TMP/cnn.csv" || fail "cnn eval: class 16 not named: $(cat "$TMP/cnn.csv")"
grep -q '^11,Soybean-mintill,' "$TMP/cnn.csv" || fail "cnn eval: class 11 not named"

# SVM: the same.
expect_ok "svm train" -- "$HSI" svm train "$TMP/s.tif" --train "$TMP/train.dat" --allow-missing-classes \
    --probability -q -o "$TMP/m.svm"
expect_ok "svm predict" -- "$HSI" svm predict "$TMP/s.tif" -m "$TMP/m.svm" -o "$TMP/svm.tif" \
    --prob "$TMP/svm_prob.tif" -q
"$HSI" info "$TMP/svm_prob.tif" | grep -Eq 'size +40 rows x 40 cols x 16 bands' ||
    fail "svm: probabilities are not 16 bands: $("$HSI" info "$TMP/svm_prob.tif" | grep size)"
"$HSI" info "$TMP/svm.tif" | grep -q 'Soybean-mintill' || fail "svm: class raster without the class names"

# The report of the CNN's map names the classes, the absent one included.
expect_ok "report" -- "$HSI" report --truth "$TMP/gt.tif" --pred "$TMP/cnn.tif" --csv "$TMP/r.csv"
grep -q 'Stone-Steel-Towers' "$TMP/r.csv" || fail "report: class 16 not named: $(head -20 "$TMP/r.csv")"
finish
