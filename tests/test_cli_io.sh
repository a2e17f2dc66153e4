#!/bin/sh
# test_cli_io.sh - the hsi command on real files and on bad input: every
# failure is one clear line naming the file and the problem, a non-zero exit,
# no crash and no output file.
. "$HSI_SRCDIR/tests/setup.sh"

expect_ok "version" -- "$HSI" --version
grep -q "^hsi [0-9]" "$TMP/out" || fail "--version prints 'hsi VERSION'"
expect_ok "help" -- "$HSI" --help
grep -q "info" "$TMP/out" || fail "--help lists commands"
expect_ok "help info" -- "$HSI" help info
grep -q "Exit status" "$TMP/out" || fail "hsi help info has an exit-status section"
expect_error "unknown command" "no command 'frobnicate'" -- "$HSI" frobnicate

# hsi info reads every reference file.
if [ -f "$DATA/README.md" ]; then
  for f in "$DATA"/*/*; do
    case $f in *.aux.xml) continue ;; esac   # GDAL side files, not data
    expect_ok "info $(basename "$f")" -- "$HSI" info "$f"
  done
  expect_ok "info json" -- "$HSI" info --json - "$DATA/indian_pines/Indian_pines_gt.mat"
  grep -q '"labelled": 10249' "$TMP/out" || fail "Indian_pines_gt.mat has 10249 labelled pixels: $(cat "$TMP/out")"
  if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rows"]==145 and len(d["classes"])==16' "$TMP/out" \
      || fail "info --json is not valid JSON with 16 classes"
  fi
  expect_ok "info samson" -- "$HSI" info --json - "$DATA/samson/Samson.mat"
  grep -q '"rows": 95, "cols": 95, "bands": 156' "$TMP/out" || fail "Samson reads as 95x95x156: $(cat "$TMP/out")"
  expect_ok "band table" -- "$HSI" info "$DATA/indian_pines/92AV3C.spc"
  grep -q "220" "$TMP/out" || fail "92AV3C.spc has 220 bands"

  # Convert: .mat cube to GeoTIFF with band selection, then read it back.
  expect_ok "convert samson" -- "$HSI" convert "$DATA/samson/Samson.mat" --bands 1-100,120-156 -o "$TMP/samson.tif"
  expect_ok "info converted" -- "$HSI" info --json - "$TMP/samson.tif"
  grep -q '"bands": 137' "$TMP/out" || fail "band selection kept 137 bands: $(cat "$TMP/out")"
  expect_ok "convert GT" -- "$HSI" convert --labels "$DATA/indian_pines/92AV3GT.GIS" --scene indian_pines -o "$TMP/gt.tif"
  expect_ok "info GT" -- "$HSI" info "$TMP/gt.tif"
  grep -q "Stone-Steel-Towers  *95" "$TMP/out" || fail "--scene names the classes: $(cat "$TMP/out")"
  expect_error "unknown scene" "unknown scene|no scene" -- "$HSI" info --scene atlantis "$TMP/gt.tif"

  # Bad input through the command line.
  expect_error "GT size differs" "92AV3GT.GIS: size 145 x 145 differs from the cube's 95 x 95" -- \
    "$HSI" info "$TMP/samson.tif" --truth "$DATA/indian_pines/92AV3GT.GIS"
  expect_error "band out of range" "band 157 out of range 1..156" -- \
    "$HSI" convert "$DATA/samson/Samson.mat" --bands 1-157 -o "$TMP/bad1.tif"
  expect_no_file "band out of range" "$TMP/bad1.tif"
  expect_error "no 3-D variable" "Indian_pines_gt.mat: no numeric 3-D" -- \
    "$HSI" convert "$DATA/indian_pines/Indian_pines_gt.mat" -o "$TMP/bad2.tif"
  expect_no_file "no 3-D variable" "$TMP/bad2.tif"
fi

expect_error "missing file" "nope.tif: cannot open: No such file" -- "$HSI" info "$TMP/nope.tif"
printf 'hello\n' > "$TMP/notes.txt"
expect_error "unsupported format" "notes.txt: not a raster format" -- "$HSI" convert "$TMP/notes.txt" -o "$TMP/bad3.tif"
expect_no_file "unsupported format" "$TMP/bad3.tif"

# Truncated and inconsistent ENVI headers, a zero-sized raster.
"$HSI" convert "$TMP/samson.tif" -o "$TMP/envi.dat" >/dev/null 2>&1 || true
if [ -f "$TMP/envi.dat" ]; then
  head -c 1000 "$TMP/envi.dat" > "$TMP/trunc.dat"; cp "$TMP/envi.hdr" "$TMP/trunc.hdr"
  expect_error "truncated ENVI" "trunc.dat: .*(truncated|too small)" -- "$HSI" convert "$TMP/trunc.dat" -o "$TMP/bad4.tif"
  expect_no_file "truncated ENVI" "$TMP/bad4.tif"
fi
printf 'ENVI\nsamples = 0\nlines = 0\nbands = 3\ndata type = 4\ninterleave = bip\n' > "$TMP/zero.hdr"
: > "$TMP/zero.dat"
expect_error "zero-sized raster" "zero.dat" -- "$HSI" info "$TMP/zero.dat"
printf 'ENVI\nsamples = 4\nlines = 4\ndata type = 99\ninterleave = bip\n' > "$TMP/odd.hdr"
head -c 64 /dev/zero > "$TMP/odd.dat"
expect_error "inconsistent ENVI header" "odd.dat" -- "$HSI" info "$TMP/odd.dat"

# NaN in a cube: refused with its position.
if command -v python3 >/dev/null && python3 -c 'import numpy' 2>/dev/null; then :; fi
printf 'ENVI\nsamples = 2\nlines = 1\nbands = 1\nheader offset = 0\ndata type = 4\ninterleave = bip\nbyte order = 0\n' > "$TMP/nan.hdr"
printf '\000\000\300\177\000\000\200\077' > "$TMP/nan.dat"   # NaN, 1.0 (float32 little-endian)
expect_error "NaN in cube" "nan.dat: NaN value at row 1, column 1, band 1" -- "$HSI" convert "$TMP/nan.dat" -o "$TMP/bad5.tif"
expect_no_file "NaN in cube" "$TMP/bad5.tif"

expect_error "usage error" "no FILE given" -- "$HSI" info
finish
