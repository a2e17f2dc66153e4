#!/bin/sh
# test_stream_outputs.sh - the commands that write a whole scene's worth of
# output under memory budgets small enough to force blocks of a row or two
# give the bytes of the default budget (one block): hsi simulate (the cube
# made and written a block at a time, also as a tiled DEFLATE GeoTIFF),
# hsi svm predict and hsi cnn predict / eval (blocks and tiles of rows beside
# the class raster and probabilities held whole); budgets too small are one
# clear error that says what would do.
. "$HSI_SRCDIR/tests/setup.sh"
mkdir -p "$TMP/whole" "$TMP/small" "$TMP/tiled"

# smallest_budget NAME command...: run with --memory from 8K up, following
# the advice of each error (at most 4 steps); leaves the last error in err.
smallest_budget() {
  what=$1; shift
  budget=8K
  for try in 1 2 3 4; do
    if "$@" --memory "$budget" >"$TMP/out" 2>"$TMP/err"; then return 0; fi
    budget=$(sed -n 's/.*give --memory \([0-9]*[KM]\) or more.*/\1/p' "$TMP/err")
    [ -n "$budget" ] || { fail "$what: $(cat "$TMP/err")"; return 1; }
  done
  fail "$what: no budget found in 4 steps: $(cat "$TMP/err")"
  return 1
}

# hsi simulate: 31 x 23 x 200 (a row is 18400 bytes).
expect_ok "simulate whole" -- "$HSI" simulate --rows 31 --cols 23 --bands-count 200 --seed 2 \
  -o "$TMP/whole/s.tif" -q
checks=$((checks + 1))
"$HSI" simulate --rows 31 --cols 23 --bands-count 200 --seed 2 -o "$TMP/small/s.tif" -q --memory 8K \
  >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "simulate --memory 8K: exit status is not 1"
grep -Eq "the layout of a 31 x 23 scene needs [0-9.]+ KiB.*budget is 8 KiB; give --memory [0-9]+K or more" \
  "$TMP/err" || fail "simulate --memory 8K: $(cat "$TMP/err")"
expect_no_file "no cube after the budget error" "$TMP/small/s.tif"
expect_no_file "no ground truth after the budget error" "$TMP/small/s_gt.tif"
checks=$((checks + 1))
smallest_budget "simulate small" "$HSI" simulate --rows 31 --cols 23 --bands-count 200 --seed 2 \
  -o "$TMP/small/s.tif" -q &&
  { cmp -s "$TMP/whole/s.tif" "$TMP/small/s.tif" || fail "simulate --memory $budget: cube differs"; }
cmp -s "$TMP/whole/s_gt.tif" "$TMP/small/s_gt.tif" || fail "simulate --memory $budget: ground truth differs"
# A tiled, compressed output (the large-output layout) holds the same values.
expect_ok "simulate tiled" -- env HSI_LARGE_OUTPUT_BYTES=1 "$HSI" simulate --rows 31 --cols 23 \
  --bands-count 200 --seed 2 -o "$TMP/tiled/s.tif" -q --memory "$budget"
gdalinfo "$TMP/tiled/s.tif" >"$TMP/gdalinfo" 2>&1
grep -q "COMPRESSION=DEFLATE" "$TMP/gdalinfo" || fail "simulate tiled: not DEFLATE-compressed"
grep -q "Block=256x16" "$TMP/gdalinfo" || fail "simulate tiled: not tiled 256 x 16"
expect_ok "convert whole" -- "$HSI" convert "$TMP/whole/s.tif" -o "$TMP/whole/s.dat" -q
expect_ok "convert tiled" -- "$HSI" convert "$TMP/tiled/s.tif" -o "$TMP/tiled/s.dat" -q
cmp -s "$TMP/whole/s.dat" "$TMP/tiled/s.dat" || fail "simulate tiled: values differ"

# hsi svm predict: the class raster and probabilities.
expect_ok "svm train" -- "$HSI" svm train "$TMP/whole/s.tif" --truth "$TMP/whole/s_gt.tif" --fraction 0.3 \
  --allow-missing-classes -c 100 -g 0.01 --probability -o "$TMP/m.svm" -q
expect_ok "svm predict whole" -- "$HSI" svm predict "$TMP/whole/s.tif" -m "$TMP/m.svm" -o "$TMP/whole/p.tif" \
  --prob "$TMP/whole/q.tif" -q
checks=$((checks + 1))
"$HSI" svm predict "$TMP/whole/s.tif" -m "$TMP/m.svm" -o "$TMP/small/p.tif" --prob "$TMP/small/q.tif" -q \
  --memory 8K >"$TMP/out" 2>"$TMP/err"
[ $? -eq 1 ] || fail "svm predict --memory 8K: exit status is not 1"
grep -Eq "the class raster and probabilities held for the whole 31 x 23 scene \([0-9]+ bytes a pixel\) needs .*give --memory [0-9]+K or more" \
  "$TMP/err" || fail "svm predict --memory 8K: $(cat "$TMP/err")"
expect_no_file "no class raster after the budget error" "$TMP/small/p.tif"
checks=$((checks + 1))
smallest_budget "svm predict small" "$HSI" svm predict "$TMP/whole/s.tif" -m "$TMP/m.svm" \
  -o "$TMP/small/p.tif" --prob "$TMP/small/q.tif" -q &&
  { cmp -s "$TMP/whole/p.tif" "$TMP/small/p.tif" || fail "svm predict --memory $budget: classes differ"; }
cmp -s "$TMP/whole/q.tif" "$TMP/small/q.tif" || fail "svm predict --memory $budget: probabilities differ"

# hsi cnn predict and eval (a 3 x 3 patch net: tiles with a halo of rows).
cat >"$TMP/net.cfg" <<'CFG'
[net]
input = 3, 3, auto
classes = auto
batch = 16
epochs = 1
loss = cce
optimizer = adam
learning_rate = 0.001
[conv3d]
filters = 4
kernel = 3, 3, 5
activation = relu
[flatten]
[dense]
units = classes
activation = softmax
CFG
"$HSI" split --truth "$TMP/whole/s_gt.tif" --fraction 0.3 --seed 1 -o "$TMP/sp" -q >/dev/null 2>&1
expect_ok "cnn train" -- "$HSI" cnn train "$TMP/whole/s.tif" --spec "$TMP/net.cfg" --train "$TMP/sp_train.tif" \
  --allow-missing-classes -o "$TMP/c.ckpt" -q
for border in mirror; do
  expect_ok "cnn predict whole" -- "$HSI" cnn predict "$TMP/whole/s.tif" -m "$TMP/c.ckpt" -o "$TMP/whole/cp.tif" \
    --prob "$TMP/whole/cq.tif" -q
  checks=$((checks + 1))
  smallest_budget "cnn predict small" "$HSI" cnn predict "$TMP/whole/s.tif" -m "$TMP/c.ckpt" \
    -o "$TMP/small/cp.tif" --prob "$TMP/small/cq.tif" -q &&
    { cmp -s "$TMP/whole/cp.tif" "$TMP/small/cp.tif" || fail "cnn predict --memory $budget: classes differ"; }
  cmp -s "$TMP/whole/cq.tif" "$TMP/small/cq.tif" || fail "cnn predict --memory $budget: probabilities differ"
  expect_ok "cnn eval whole" -- "$HSI" cnn eval "$TMP/whole/s.tif" -m "$TMP/c.ckpt" --test "$TMP/sp_test.tif" -q
  cp "$TMP/out" "$TMP/eval0"
  checks=$((checks + 1))
  smallest_budget "cnn eval small" "$HSI" cnn eval "$TMP/whole/s.tif" -m "$TMP/c.ckpt" --test "$TMP/sp_test.tif" -q &&
    { cmp -s "$TMP/eval0" "$TMP/out" || fail "cnn eval --memory $budget: report differs"; }
done

finish
