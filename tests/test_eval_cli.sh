#!/bin/sh
# test_eval_cli.sh - hsi split / report / map on the real Indian Pines ground
# truth: random splits leak, block and cluster splits do not, the same seed
# gives the same split, --check measures any split; and every bad input is one
# clear error line, a non-zero exit and no output file.
. "$HSI_SRCDIR/tests/setup.sh"

for c in split report map; do
  expect_ok "help $c" -- "$HSI" help $c
  grep -q "Exit status" "$TMP/out" || fail "hsi help $c has no exit-status section"
done

# A 145 x 145 byte raster in ENVI format, all 0 but for the given
# offset=value pairs (for the bad-input cases).
raw() { # name offset=value...
  f=$1; shift
  head -c 21025 /dev/zero >"$TMP/$f.dat"
  printf 'ENVI\nsamples = 145\nlines = 145\nbands = 1\nheader offset = 0\nfile type = ENVI Standard\ndata type = 1\ninterleave = bsq\nbyte order = 0\n' >"$TMP/$f.hdr"
  for pair in "$@"; do
    printf "\\$(printf %o "${pair#*=}")" | dd of="$TMP/$f.dat" bs=1 seek="${pair%=*}" conv=notrunc 2>/dev/null
  done
}
leak() { sed -n 's/^Leakage: \([0-9]*\) of \([0-9]*\) test pixels.*/\1 \2/p' "$TMP/out"; }

GT="$DATA/indian_pines/Indian_pines_gt.mat"
if [ -f "$GT" ]; then
  expect_ok "random split" -- "$HSI" split --truth "$GT" --fraction 0.1 --seed 4 -o "$TMP/r"
  set -- $(leak)
  [ $# -eq 2 ] && [ "$1" -gt $(($2 * 9 / 10)) ] || fail "random split should leak at 9 x 9: '$*'"
  random_leak="$1 $2"
  grep -q "Total *10249 *1027 " "$TMP/out" || fail "random split: 1027 of 10249 training pixels: $(cat "$TMP/out")"
  for f in r_train.tif r_test.tif r_counts.csv; do [ -f "$TMP/$f" ] || fail "random split wrote no $f"; done
  expect_ok "check" -- "$HSI" split --check --patch 9 "$TMP/r_train.tif" "$TMP/r_test.tif"
  [ "$(leak)" = "$random_leak" ] || fail "--check measures '$(leak)', split printed '$random_leak'"
  expect_ok "check 1x1" -- "$HSI" split --check --patch 1 "$TMP/r_train.tif" "$TMP/r_test.tif"
  set -- $(leak)
  [ "$1" = 0 ] || fail "a 1 x 1 window cannot leak: '$*'"

  # Same seed, same split; another seed, another split.
  expect_ok "again" -- "$HSI" split --truth "$GT" --fraction 0.1 --seed 4 -o "$TMP/r2"
  expect_ok "other seed" -- "$HSI" split --truth "$GT" --fraction 0.1 --seed 5 -o "$TMP/r3"
  for p in r r2 r3; do
    expect_ok "to ENVI $p" -- "$HSI" convert --labels "$TMP/${p}_train.tif" -o "$TMP/${p}_train.dat"
  done
  cmp -s "$TMP/r_train.dat" "$TMP/r2_train.dat" || fail "the same seed gave another split"
  cmp -s "$TMP/r_train.dat" "$TMP/r3_train.dat" && fail "seeds 4 and 5 gave the same split"
  cmp -s "$TMP/r_counts.csv" "$TMP/r2_counts.csv" || fail "the same seed gave other counts"

  # Spatially disjoint splits: zero leakage at the patch size.
  for s in blocks clusters; do
    expect_ok "$s split" -- "$HSI" split --truth "$GT" --strategy $s --patch 9 --fraction 0.2 -o "$TMP/$s"
    set -- $(leak)
    [ $# -eq 2 ] && [ "$1" = 0 ] && [ "$2" -gt 3000 ] || fail "$s split leaks or has few test pixels: '$*'"
    expect_ok "$s check" -- "$HSI" split --check --patch 9 "$TMP/${s}_train.tif" "$TMP/${s}_test.tif"
    set -- $(leak)
    [ "$1" = 0 ] || fail "$s: --check finds leakage '$*'"
  done
  expect_ok "validation" -- "$HSI" split --truth "$GT" --strategy clusters --fraction 0.3 --val 0.2 -o "$TMP/v"
  [ -f "$TMP/v_val.tif" ] || fail "--val wrote no v_val.tif"

  # The GRSS DASE training mask with an automatic class map.
  if [ -f "$DATA/indian_pines/indianpines_ts.tif" ]; then
    expect_ok "mask split" -- "$HSI" split --truth "$GT" --strategy mask --mask "$DATA/indian_pines/indianpines_ts.tif" --class-map auto -o "$TMP/m"
    grep -q "Mask classes -> .* 1=2 2=3 3=5" "$TMP/out" || fail "mask class map: $(cat "$TMP/out")"
    grep -q "^161 of 5689 training pixels carry another class" "$TMP/out" || fail "mask disagreement: $(cat "$TMP/out")"
    expect_ok "mask, identity map" -- "$HSI" split --truth "$GT" --strategy mask --mask "$DATA/indian_pines/indianpines_ts.tif" -o "$TMP/mi"
    grep -q "(most of them: is --class-map needed?)" "$TMP/out" || fail "identity map of the DASE mask is not flagged: $(cat "$TMP/out")"
    expect_error "mask class map beyond the GT classes" "indianpines_ts.tif: class 2 \(row 1, column 1\) maps to class 40, which is not in the class table" -- \
      "$HSI" split --truth "$GT" --strategy mask --mask "$DATA/indian_pines/indianpines_ts.tif" --class-map 1=2,2=40 -o "$TMP/mm"
    expect_no_file "failed mask split" "$TMP/mm_train.tif" "$TMP/mm_counts.csv"
  fi

  # Report and maps of a prediction (here: the truth with class 2 read as 3).
  expect_ok "pred" -- "$HSI" convert --labels "$GT" -o "$TMP/gt.dat"
  expect_ok "report" -- "$HSI" report --truth "$GT" --pred "$TMP/gt.dat" --train "$TMP/blocks_train.tif"
  grep -q "Overall accuracy (OA):  100.00 %" "$TMP/out" || fail "truth against itself: $(cat "$TMP/out")"
  expect_ok "report with scene names" -- "$HSI" report --truth "$GT" --scene indian_pines --pred "$TMP/gt.dat"
  grep -q "^ *16  Stone-Steel-Towers " "$TMP/out" || fail "--scene indian_pines names the classes: $(cat "$TMP/out")"
  expect_error "unknown scene" "unknown scene 'atlantis'" -- "$HSI" split --truth "$GT" --scene atlantis -o "$TMP/x"
  expect_ok "report md" -- "$HSI" report --truth "$GT" --pred "$TMP/gt.dat" --format md -o "$TMP/r.md"
  grep -q "^| Overall accuracy (OA) | 100.00 % |" "$TMP/r.md" || fail "markdown report: $(cat "$TMP/r.md")"
  expect_ok "class map" -- "$HSI" map class "$GT" -o "$TMP/gt.png" --scale 4 --legend "$TMP/legend.txt"
  grep -q "^ *16  #" "$TMP/legend.txt" || fail "legend lacks class 16: $(cat "$TMP/legend.txt")"
  expect_ok "legend image" -- "$HSI" map class "$GT" -o "$TMP/gt1.png" --legend "$TMP/legend.png"
  expect_ok "info legend" -- "$HSI" info "$TMP/legend.png"
  grep -q "3 bands" "$TMP/out" || fail "legend image is RGB: $(cat "$TMP/out")"
  expect_ok "info png" -- "$HSI" info "$TMP/gt.png"
  grep -q "580" "$TMP/out" || fail "a 4x class map of 145 x 145 is 580 x 580: $(cat "$TMP/out")"
  expect_ok "class geotiff" -- "$HSI" map class "$GT" -o "$TMP/gtmap.tif"
  expect_ok "correct map" -- "$HSI" map correct --truth "$GT" --pred "$TMP/r_test.tif" --train "$TMP/r_train.tif" --mark-train -o "$TMP/correct.png" --scale 2
  grep -q "9222 correct (blue), 0 wrong (red) of 9222 scored" "$TMP/out" || fail "correct map counts: $(cat "$TMP/out")"

  # Bad inputs: one line each, non-zero exit, no output.
  raw zero
  expect_error "GT with nothing labelled" "zero.dat: no labelled pixels" -- "$HSI" split "$TMP/zero.dat" -o "$TMP/z"
  expect_no_file "no split of an empty GT" "$TMP/z_train.tif" "$TMP/z_counts.csv"
  expect_error "report on empty GT" "zero.dat: no labelled pixels" -- "$HSI" report --truth "$TMP/zero.dat" --pred "$TMP/gt.dat"
  raw c17 100=17
  expect_error "class missing from the class table" "c17.dat: class 17 \(row 1, column 101\) is not in the class table of .*Indian_pines_gt.mat \(16 classes\)" -- \
    "$HSI" report --truth "$GT" --pred "$TMP/c17.dat" -o "$TMP/bad.txt"
  expect_no_file "no report" "$TMP/bad.txt"
  expect_error "window larger than the scene" "patch radius 150 \(window 301 x 301\) is larger than the scene \(145 x 145\)" -- \
    "$HSI" split --truth "$GT" --strategy blocks --patch 301 -o "$TMP/big"
  expect_no_file "no split" "$TMP/big_train.tif"
  expect_error "map sizes differ" "size .* differs" -- "$HSI" map correct --truth "$GT" --pred "$DATA/salinas_a/SalinasA_gt.mat" -o "$TMP/bad.png"
  expect_no_file "no map" "$TMP/bad.png"
  if [ -f "$DATA/salinas_a/SalinasA_gt.mat" ]; then
    expect_error "pred and truth sizes differ" "SalinasA_gt.mat: size 83 x 86 differs from the truth" -- \
      "$HSI" report --truth "$GT" --pred "$DATA/salinas_a/SalinasA_gt.mat"
  fi
  expect_error "small class rule" "class 7 \(Class 7\) has 28 pixels, too few" -- \
    "$HSI" split --truth "$GT" --count 15 --min 15 --small error -o "$TMP/small"
  expect_no_file "no small split" "$TMP/small_train.tif"
fi

# The simulated scene (once `hsi simulate` is built in): random sampling leaks,
# block and cluster splits do not; maps of the cube and its truth.
if "$HSI" help simulate >/dev/null 2>&1; then
  expect_ok "simulate" -- "$HSI" simulate -o "$TMP/sim.tif" --gt "$TMP/sim_gt.tif" --seed 1
  expect_ok "sim random" -- "$HSI" split --truth "$TMP/sim_gt.tif" --patch 9 -o "$TMP/simr"
  set -- $(leak)
  [ $# -eq 2 ] && [ "$1" -gt $(($2 * 9 / 10)) ] || fail "simulated scene: random split should leak: '$*'"
  for s in blocks clusters; do
    expect_ok "sim $s" -- "$HSI" split --truth "$TMP/sim_gt.tif" --strategy $s --patch 9 -o "$TMP/sim$s"
    set -- $(leak)
    [ $# -eq 2 ] && [ "$1" = 0 ] && [ "$2" -gt 1000 ] || fail "simulated scene: $s split leaks: '$*'"
  done
  expect_ok "sim rgb" -- "$HSI" map rgb "$TMP/sim.tif" --overlay "$TMP/sim_gt.tif" --alpha 0.3 -o "$TMP/sim.png" --scale 2
  grep -q "(850.7 nm)" "$TMP/out" || fail "850 nm band of the AVIRIS table: $(cat "$TMP/out")"
  expect_ok "sim rgb geotiff" -- "$HSI" map rgb "$TMP/sim.tif" -o "$TMP/sim_rgb.tif" --scale 2
  expect_ok "info rgb geotiff" -- "$HSI" info "$TMP/sim_rgb.tif"
  grep -q "290" "$TMP/out" || fail "2x RGB GeoTIFF of 145 x 145 is 290 x 290: $(cat "$TMP/out")"
fi

# A class with no pixels: scored, shown as '-', left out of AA (not an error).
raw three 0=1 1=1 2=3 3=3
printf 'Corn\nOats\nWoods\n' >"$TMP/three.names"
raw threepred 0=1 1=3 2=3 3=3
expect_ok "class without pixels" -- "$HSI" report --truth "$TMP/three.dat" --names "$TMP/three.names" --pred "$TMP/threepred.dat"
grep -q "mean over 2 of 3 classes" "$TMP/out" || fail "AA over the classes with pixels: $(cat "$TMP/out")"
grep -Eq "^ *2  Oats +0 +0 +0 +- +- +-$" "$TMP/out" || fail "class without pixels shows '-': $(cat "$TMP/out")"
grep -q "Overall accuracy (OA):  75.00 %" "$TMP/out" || fail "3 of 4 correct: $(cat "$TMP/out")"

# Usage errors: exit 2, one line.
expect_error "map kind" "unknown map kind 'heat'" -- "$HSI" map heat x -o y.png
expect_error "even patch" "window side 8 is not odd" -- "$HSI" split --patch 8 x -o y
expect_error "no truth" "no ground truth" -- "$HSI" report --pred x
expect_error "format" "unknown report format 'xml'" -- "$HSI" report --format xml
finish
