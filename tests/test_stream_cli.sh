#!/bin/sh
# test_stream_cli.sh - hsi convert, hsi info and hsi map rgb under memory
# budgets so small that they read (and write) one to four rows at a time give
# the same bytes as with the default budget (one block); a budget too small
# for a single row is one clear error that says what would do.
. "$HSI_SRCDIR/tests/setup.sh"

# 23 x 17 x 220: a row is 17 * 220 * 4 = 14960 bytes. GDAL's cache takes an
# eighth of the budget, so 18K leaves room for 1 row, 35K for 2.
expect_ok "simulate" -- "$HSI" simulate --rows 23 --cols 17 --seed 3 -o "$TMP/s.tif" -q
mkdir -p "$TMP/whole" "$TMP/r1" "$TMP/r2"

expect_ok "convert tif" -- "$HSI" convert "$TMP/s.tif" -o "$TMP/whole/c.tif" -q
expect_ok "convert envi" -- "$HSI" convert "$TMP/s.tif" -o "$TMP/whole/c.dat" -q
for m in 18K:r1 35K:r2; do
  budget=${m%%:*} d=${m##*:}
  expect_ok "convert tif $budget" -- "$HSI" convert --memory "$budget" "$TMP/s.tif" -o "$TMP/$d/c.tif" -q
  cmp -s "$TMP/whole/c.tif" "$TMP/$d/c.tif" || fail "convert --memory $budget: GeoTIFF differs from one block"
  expect_ok "convert envi $budget" -- "$HSI" convert --memory "$budget" "$TMP/s.tif" -o "$TMP/$d/c.dat" -q
  cmp -s "$TMP/whole/c.dat" "$TMP/$d/c.dat" || fail "convert --memory $budget: ENVI data differs"
  cmp -s "$TMP/whole/c.hdr" "$TMP/$d/c.hdr" || fail "convert --memory $budget: ENVI header differs"
  # A band subset streams too.
  expect_ok "convert bands $budget" -- "$HSI" convert --memory "$budget" --bands 5,1-3 "$TMP/s.tif" -o "$TMP/$d/b.tif" -q
done
expect_ok "convert bands" -- "$HSI" convert --bands 5,1-3 "$TMP/s.tif" -o "$TMP/whole/b.tif" -q
cmp -s "$TMP/whole/b.tif" "$TMP/r1/b.tif" || fail "convert --bands --memory 18K differs"

# A large output (the threshold lowered for the test) is tiled 256 x 16 and
# DEFLATE-compressed; written a row at a time, tiles are completed over many
# blocks: values, georeferencing and band metadata are kept.
expect_ok "convert tiled" -- env HSI_LARGE_OUTPUT_BYTES=1 "$HSI" convert --memory 18K "$TMP/s.tif" -o "$TMP/r1/tiled.tif" -q
if command -v gdalinfo >/dev/null; then
  gdalinfo "$TMP/r1/tiled.tif" >"$TMP/gdalinfo" 2>&1
  grep -q "Block=256x16" "$TMP/gdalinfo" || fail "large output is not tiled 256x16"
  grep -q "COMPRESSION=DEFLATE" "$TMP/gdalinfo" || fail "large output is not DEFLATE-compressed"
fi
expect_ok "tiled back to ENVI" -- "$HSI" convert "$TMP/r1/tiled.tif" -o "$TMP/r2/tiled.dat" -q
cmp -s "$TMP/whole/c.dat" "$TMP/r2/tiled.dat" || fail "tiled output's values differ"
"$HSI" info "$TMP/r1/tiled.tif" | tail -n +2 >"$TMP/info_tiled"
"$HSI" info "$TMP/s.tif" | tail -n +2 >"$TMP/info_src"
cmp -s "$TMP/info_tiled" "$TMP/info_src" || fail "tiled output describes differently: $(diff "$TMP/info_src" "$TMP/info_tiled")"

expect_error "convert budget below a row" "a row of the cube needs 15 KiB.*budget is 16 KiB; give --memory [0-9]+K or more" \
  -- "$HSI" convert --memory 16K "$TMP/s.tif" -o "$TMP/r1/small.tif"
expect_no_file "no output after the budget error" "$TMP/r1/small.tif"
# The advice is enough.
advice=$(sed -n 's/.*give --memory \([0-9]*K\) or more.*/\1/p' "$TMP/err")
expect_ok "convert with the advised budget" -- "$HSI" convert --memory "${advice:-none}" "$TMP/s.tif" -o "$TMP/r1/small.tif" -q
expect_error "bad size" "--memory: 'lots' is not a memory size" -- "$HSI" convert --memory lots "$TMP/s.tif" -o "$TMP/x.tif"
expect_error "tiny size" "below the minimum" -- "$HSI" convert --memory 10 "$TMP/s.tif" -o "$TMP/x.tif"
expect_ok "convert help" -- "$HSI" convert --help
grep -q -- "--memory SIZE" "$TMP/out" || fail "convert --help documents --memory"
grep -q "On this machine --memory defaults to" "$TMP/out" || fail "convert --help states the default budget"

# hsi info: value range and non-finite count block by block, same text and JSON.
expect_ok "info" -- "$HSI" info "$TMP/s.tif"
cp "$TMP/out" "$TMP/info0"
expect_ok "info json" -- "$HSI" info --json - "$TMP/s.tif"
cp "$TMP/out" "$TMP/json0"
expect_ok "info 18K" -- "$HSI" info --memory 18K "$TMP/s.tif"
cmp -s "$TMP/out" "$TMP/info0" || fail "info --memory 18K differs: $(cat "$TMP/out")"
expect_ok "info json 35K" -- "$HSI" info --memory 35K --json - "$TMP/s.tif"
cmp -s "$TMP/out" "$TMP/json0" || fail "info --json --memory 35K differs"
grep -q "value range" "$TMP/info0" || fail "info prints the value range"

# hsi map rgb: three-pass radix selection under small budgets (192 KiB of
# counts), blocks of 3-4 rows; the same PNG and GeoTIFF bytes.
for ext in png tif; do
  expect_ok "map rgb $ext" -- "$HSI" map rgb "$TMP/s.tif" --overlay "$TMP/s_gt.tif" --alpha 0.3 -o "$TMP/whole/m.$ext" -q
  expect_ok "map rgb $ext 222K" -- "$HSI" map rgb --memory 222K "$TMP/s.tif" --overlay "$TMP/s_gt.tif" --alpha 0.3 -o "$TMP/r1/m.$ext" -q
  cmp -s "$TMP/whole/m.$ext" "$TMP/r1/m.$ext" || fail "map rgb --memory 222K: $ext differs"
  expect_ok "map rgb $ext scale" -- "$HSI" map rgb "$TMP/s.tif" --stretch 5,95 --scale 3 -o "$TMP/whole/s.$ext" -q
  expect_ok "map rgb $ext scale 240K" -- "$HSI" map rgb --memory 240K "$TMP/s.tif" --stretch 5,95 --scale 3 -o "$TMP/r2/s.$ext" -q
  cmp -s "$TMP/whole/s.$ext" "$TMP/r2/s.$ext" || fail "map rgb --scale 3 --memory 240K: $ext differs"
done
expect_error "map rgb budget" "false-colour image needs .*give --memory [0-9]+K or more" \
  -- "$HSI" map rgb --memory 64K "$TMP/s.tif" -o "$TMP/r1/none.png"
expect_no_file "no map after the budget error" "$TMP/r1/none.png"
advice=$(sed -n 's/.*give --memory \([0-9]*K\) or more.*/\1/p' "$TMP/err")
expect_ok "map rgb with the advised budget" -- "$HSI" map rgb --memory "${advice:-none}" "$TMP/s.tif" -o "$TMP/r1/none.png" -q
expect_error "memory on map class" "--memory applies to map rgb" \
  -- "$HSI" map class --memory 1G "$TMP/s_gt.tif" -o "$TMP/x.png"

# hsi svm train reads only the row blocks that hold training pixels: the
# same model file as with one block, for each preprocessing (29 x 19 x 220:
# a row is 16720 bytes; the advised budget of a too-small one leaves room
# for the training set and one or two rows).
expect_ok "simulate svm scene" -- "$HSI" simulate --rows 29 --cols 19 --seed 4 -o "$TMP/v.tif" -q
for pre in standardise pca:5 none; do
  expect_ok "svm train $pre" -- "$HSI" svm train "$TMP/v.tif" --truth "$TMP/v_gt.tif" --fraction 0.2 --allow-missing-classes \
    -c 100 -g 0.01 --preprocess "$pre" -o "$TMP/whole/m.svm" -q
  # (The small simulated scene lacks most classes: a warning line comes first.)
  checks=$((checks + 1))
  "$HSI" svm train "$TMP/v.tif" --truth "$TMP/v_gt.tif" --fraction 0.2 --allow-missing-classes -c 100 -g 0.01 \
    --preprocess "$pre" -o "$TMP/r1/m.svm" --memory 32K -q >"$TMP/out" 2>"$TMP/err"
  [ $? -eq 1 ] || fail "svm train $pre --memory 32K: exit status is not 1"
  tail -1 "$TMP/err" | grep -Eq \
    "the training set \([0-9]+ pixels of .*v_gt.tif x 220 bands\) needs [0-9.]+ KiB.*budget is 32 KiB; give --memory [0-9]+K or more" \
    || fail "svm train $pre --memory 32K: $(cat "$TMP/err")"
  expect_no_file "no model after the budget error" "$TMP/r1/m.svm"
  advice=$(sed -n 's/.*give --memory \([0-9]*K\) or more.*/\1/p' "$TMP/err")
  expect_ok "svm train $pre --memory ${advice:-none}" -- "$HSI" svm train "$TMP/v.tif" --truth "$TMP/v_gt.tif" \
    --fraction 0.2 --allow-missing-classes -c 100 -g 0.01 --preprocess "$pre" -o "$TMP/r1/m.svm" --memory "${advice:-none}" -q
  cmp -s "$TMP/whole/m.svm" "$TMP/r1/m.svm" || fail "svm train --preprocess $pre --memory $advice: model differs"
  rm -f "$TMP/r1/m.svm"
done

# hsi cnn train keeps only the patches of its training pixels (a sparse
# training set: 0.5%, 16 pixels) or the rows within the patch radius of them
# (a dense one: 5%, 171 pixels whose windows overlap and reach every row:
# their 171 9 x 9 patches would hold twice the scene's 7200 pixels), whichever
# is smaller: the checkpoint and
# the printed results equal those of a budget that holds the whole scene, for
# each border mode and PCA over several transform blocks (120 x 60 pixels); a
# budget too small for the training set is a clear error naming its size.
spec="$HSI_SRCDIR/cnn3d/specs/lange2018.cfg"
expect_ok "simulate cnn scene" -- "$HSI" simulate --rows 120 --cols 60 --seed 5 -o "$TMP/w.tif" -q
"$HSI" split --truth "$TMP/w_gt.tif" --fraction 0.005 --seed 3 -o "$TMP/ws" -q >/dev/null 2>&1
[ -f "$TMP/ws_train.tif" ] || fail "split wrote no training raster"
"$HSI" split --truth "$TMP/w_gt.tif" --fraction 0.05 --seed 3 -o "$TMP/wd" -q >/dev/null 2>&1
[ -f "$TMP/wd_train.tif" ] || fail "split wrote no dense training raster"
for run in "mirror standardise ws" "skip none ws" "zero pca:40 ws" "mirror pca:40 wd" "skip standardise wd"; do
  set -- $run
  expect_ok "cnn train $1 $2 $3" -- "$HSI" cnn train "$TMP/w.tif" --spec "$spec" --train "$TMP/$3_train.tif" \
    --epochs 1 --border "$1" --preprocess "$2" --allow-missing-classes -o "$TMP/whole/c.ckpt" -q
  cp "$TMP/out" "$TMP/cnn_out0"
  # The smallest budget the errors advise (training spectra for the fit, the
  # store, then PCA's block): one or two rows per read block.
  budget=256K
  for try in 1 2 3 4; do
    if "$HSI" cnn train "$TMP/w.tif" --spec "$spec" --train "$TMP/$3_train.tif" --epochs 1 --border "$1" \
         --preprocess "$2" --allow-missing-classes -o "$TMP/r1/c.ckpt" -q --memory "$budget" \
         >"$TMP/out" 2>"$TMP/err"; then break; fi
    budget=$(sed -n 's/.*give --memory \([0-9]*[KM]\) or more.*/\1/p' "$TMP/err")
    [ -n "$budget" ] || { fail "cnn train $1 $2: $(cat "$TMP/err")"; break; }
  done
  checks=$((checks + 1))
  cmp -s "$TMP/whole/c.ckpt" "$TMP/r1/c.ckpt" || fail "cnn train --border $1 --preprocess $2 --memory $budget: checkpoint differs"
  cmp -s "$TMP/out" "$TMP/cnn_out0" || fail "cnn train --border $1 --preprocess $2 --memory $budget: output differs"
  rm -f "$TMP/r1/c.ckpt"
done
checks=$((checks + 1))
"$HSI" cnn train "$TMP/w.tif" --spec "$spec" --train "$TMP/ws_train.tif" --epochs 1 --allow-missing-classes \
  -o "$TMP/r1/small.ckpt" -q --memory 256K >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "cnn train --memory 256K: exit status is not 1"
tail -1 "$TMP/err" | grep -Eq "the patches of the training and test pixels \([0-9]+ windows of 9 x 9 x 220 values\) needs [0-9.]+ [KM]iB.*budget is 256 KiB; give --memory [0-9]+[KM] or more" \
  || fail "cnn train --memory 256K: $(cat "$TMP/err")"
checks=$((checks + 1))
"$HSI" cnn train "$TMP/w.tif" --spec "$spec" --train "$TMP/wd_train.tif" --epochs 1 --allow-missing-classes \
  --preprocess none -o "$TMP/r1/small.ckpt" -q --memory 256K >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "cnn train dense --memory 256K: exit status is not 1"
tail -1 "$TMP/err" | grep -Eq "the rows around the training and test pixels \([0-9]+ rows of 60 x 220 values.*\) needs .*give --memory [0-9]+[KM] or more" \
  || fail "cnn train dense --memory 256K: $(cat "$TMP/err")"
expect_no_file "no checkpoint after the budget error" "$TMP/r1/small.ckpt"

finish
