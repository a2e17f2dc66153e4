#!/bin/sh
# test_datasets_cli.sh - `hsi simulate`, `hsi datasets` and datasets/fetch:
# outputs that read back with their metadata, the same bytes for the same
# seed, and one clear error line, a non-zero exit and no output file for
# every bad argument.
. "$HSI_SRCDIR/tests/setup.sh"

# ---- hsi simulate ----
expect_ok "help simulate" -- "$HSI" help simulate
grep -q "Exit status" "$TMP/out" || fail "hsi help simulate has an exit-status section"

expect_ok "simulate" -- "$HSI" simulate -o "$TMP/a.tif" --gt "$TMP/a_gt.tif" --rows 40 --cols 60 --seed 5
grep -q "40 x 60 pixels x 220 bands" "$TMP/out" || fail "summary gives the size: $(cat "$TMP/out")"
expect_ok "simulate again" -- "$HSI" simulate -o "$TMP/b.tif" --gt "$TMP/b_gt.tif" --rows 40 --cols 60 --seed 5
cmp -s "$TMP/a.tif" "$TMP/b.tif" || fail "same seed, different cube bytes"
cmp -s "$TMP/a_gt.tif" "$TMP/b_gt.tif" || fail "same seed, different ground-truth bytes"
expect_ok "simulate seed 6" -- "$HSI" simulate -o "$TMP/c.tif" --gt "$TMP/c_gt.tif" --rows 40 --cols 60 --seed 6
cmp -s "$TMP/a.tif" "$TMP/c.tif" && fail "seeds 5 and 6 give the same cube"

# Read back: size, bands, wavelengths, georeferencing, class names.
expect_ok "info cube" -- "$HSI" info --json - "$TMP/a.tif"
grep -q '"rows": 40, "cols": 60, "bands": 220' "$TMP/out" || fail "cube reads back as 40x60x220: $(cat "$TMP/out")"
grep -q "32616" "$TMP/out" || fail "cube carries EPSG:32616: $(cat "$TMP/out")"
expect_ok "info gt" -- "$HSI" info "$TMP/a_gt.tif"
grep -q "Soybean-mintill" "$TMP/out" || fail "ground truth carries the class names: $(cat "$TMP/out")"

# The default scene with the default gt name and the NCM figure of the README.
expect_ok "default scene" -- "$HSI" simulate -o "$TMP/scene.tif" --ncm
[ -f "$TMP/scene_gt.tif" ] || fail "default ground-truth name scene_gt.tif"
grep -q "10249 of 21025 pixels labelled in 16 classes" "$TMP/out" || fail "default scene labels: $(cat "$TMP/out")"
grep -q "Stone-Steel-Towers *93" "$TMP/out" || fail "towers class has 93 pixels: $(cat "$TMP/out")"
grep -q "nearest-class-mean overall accuracy .*: 0.6464" "$TMP/out" || fail "NCM on the default scene: $(cat "$TMP/out")"

expect_ok "200 bands, ENVI" -- "$HSI" simulate -q --bands-count 200 --rows 20 --cols 20 -o "$TMP/e.dat" --gt "$TMP/e_gt.dat"
[ -s "$TMP/out" ] && fail "--quiet printed: $(cat "$TMP/out")"
expect_ok "info ENVI" -- "$HSI" info --json - "$TMP/e.dat"
grep -q '"bands": 200' "$TMP/out" || fail "200-band cube: $(cat "$TMP/out")"

# Bad arguments: one line, non-zero exit, nothing written.
expect_error "rows 0" "simulate: --rows: '0' is not an integer in 1..4096" -- \
  "$HSI" simulate --rows 0 -o "$TMP/bad.tif"
expect_no_file "rows 0" "$TMP/bad.tif" "$TMP/bad_gt.tif"
expect_error "cols text" "--cols: 'wide' is not an integer" -- "$HSI" simulate --cols wide -o "$TMP/bad.tif"
expect_error "difficulty 1.5" "--difficulty: '1.5' is not a number in 0..1" -- \
  "$HSI" simulate --difficulty 1.5 -o "$TMP/bad.tif"
expect_error "difficulty -0.1" "--difficulty: '-0.1' is not a number in 0..1" -- \
  "$HSI" simulate --difficulty -0.1 -o "$TMP/bad.tif"
expect_error "bands 103" "--bands-count: '103' is not 220 or 200" -- "$HSI" simulate --bands-count 103 -o "$TMP/bad.tif"
expect_error "seed negative" "--seed: '-3' is not a non-negative integer" -- "$HSI" simulate --seed -3 -o "$TMP/bad.tif"
expect_error "unknown option" "unknown option '--colour'" -- "$HSI" simulate --colour -o "$TMP/bad.tif"
expect_error "missing value" "option '--rows' needs a value" -- "$HSI" simulate -o "$TMP/bad.tif" --rows
expect_error "stray argument" "unexpected argument 'extra'" -- "$HSI" simulate -o "$TMP/bad.tif" extra
expect_error "same file" "both be written to" -- "$HSI" simulate -o "$TMP/bad.tif" --gt "$TMP/bad.tif"
expect_no_file "bad arguments" "$TMP/bad.tif" "$TMP/bad_gt.tif"
expect_error "unwritable cube" "nodir/x.tif" -- "$HSI" simulate --rows 10 --cols 10 -o "$TMP/nodir/x.tif"
expect_error "unwritable gt" "nodir/x_gt.tif" -- \
  "$HSI" simulate --rows 10 --cols 10 -o "$TMP/x.tif" --gt "$TMP/nodir/x_gt.tif"
expect_no_file "unwritable gt takes the cube back" "$TMP/x.tif"

# ---- hsi datasets ----
expect_ok "datasets" -- "$HSI" datasets
for s in indian_pines salinas salinas_a pavia_university ksc botswana; do
  grep -q "^$s " "$TMP/out" || fail "datasets list lacks $s"
done
expect_ok "datasets show" -- "$HSI" datasets show "Indian Pines"
grep -q "ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939" "$TMP/out" || fail "show gives the sha256"
grep -q "https://www.ehu.eus/ccwintco/uploads/6/67/Indian_pines_corrected.mat" "$TMP/out" || fail "show gives the address"
grep -q "16  Stone-Steel-Towers" "$TMP/out" || fail "show lists the classes"
expect_error "unknown scene" "unknown scene 'atlantis' \(known: indian_pines, " -- "$HSI" datasets show atlantis
expect_error "show without name" "'show' needs exactly one scene name" -- "$HSI" datasets show
expect_error "unknown action" "unknown action 'fetch'" -- "$HSI" datasets fetch

# ---- datasets/fetch (offline: a local mirror with one good and one corrupt file) ----
FETCH="$HSI_SRCDIR/datasets/fetch"
expect_ok "fetch --list" -- sh "$FETCH" --list
grep -q "PaviaU.mat *34806917" "$TMP/out" || fail "fetch --list gives sizes"
expect_error "fetch unknown scene" "unknown scene 'atlantis'" -- sh "$FETCH" -d "$TMP/dl" atlantis
expect_no_file "fetch unknown scene" "$TMP/dl"
if [ -f "$DATA/salinas_a/SalinasA_gt.mat" ]; then
  mkdir -p "$TMP/mirror"
  cp "$DATA/salinas_a/SalinasA_gt.mat" "$TMP/mirror/"
  echo "not a cube" >"$TMP/mirror/SalinasA_corrected.mat"
  checks=$((checks + 1))
  HSI_FETCH_MIRROR="$TMP/mirror" sh "$FETCH" -d "$TMP/dl" salinas_a >"$TMP/out" 2>"$TMP/err" &&
    fail "fetch accepted a corrupt cube"
  grep -q "SalinasA_corrected.mat: size 11 bytes, expected 1539086; removed" "$TMP/err" ||
    fail "fetch names the bad file: $(cat "$TMP/err")"
  [ -f "$TMP/dl/SalinasA_corrected.mat" ] && fail "corrupt download kept"
  grep -q "SalinasA_gt.mat: verified" "$TMP/out" || fail "good file verified: $(cat "$TMP/out")"
  cmp -s "$TMP/dl/SalinasA_gt.mat" "$DATA/salinas_a/SalinasA_gt.mat" || fail "verified file differs"
  ls -a "$TMP/dl" | grep -q fetch- && fail "temporary download left in $TMP/dl"
fi

finish
