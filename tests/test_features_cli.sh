#!/bin/bash
# test_features_cli.sh - `hsi profile` on a real cube (Samson, 95 x 95 x 156):
# PCA + SDAP/EMAP feature cubes, band names, and bad arguments.
. "$HSI_SRCDIR/tests/setup.sh"
SAMSON="$DATA/samson/Samson.mat"
[ -r "$SAMSON" ] || { echo "SKIP: $SAMSON missing"; exit 77; }

expect_ok "sdap on 3 PCs" -- "$HSI" profile "$SAMSON" --pca 3 --sdap area=25,100,400 \
    --sdap std=0.5,1 -q -o "$TMP/sdap.tif"
"$HSI" info "$TMP/sdap.tif" >"$TMP/info" 2>&1
grep -q "95 rows x 95 cols x 18 bands" "$TMP/info" && pass || fail "sdap cube is not 95 x 95 x 18: $(cat "$TMP/info")"
command -v gdalinfo >/dev/null && {
    gdalinfo "$TMP/sdap.tif" >"$TMP/gdalinfo" 2>&1
    grep -q "Description = PC1 area>=25 sdap" "$TMP/gdalinfo" && pass || fail "band name PC1 area>=25 sdap missing"
    grep -q "Description = PC3 std>=1 sdap" "$TMP/gdalinfo" && pass || fail "band name PC3 std>=1 sdap missing"
}
expect_ok "emap to ENVI, 8-connected, quantised, subtractive" -- "$HSI" profile "$SAMSON" --pca 2 \
    --emap area=50,500 --emap inertia=0.2 --rule subtractive --connectivity 8 --quantise 16 \
    --pca-sample 2000 --seed 3 -q -o "$TMP/emap.dat"
grep -q "PC2 inertia>=0.2 thin" "$TMP/emap.hdr" && pass || fail "ENVI header lacks band names"
grep -Eq "^bands *= *14" "$TMP/emap.hdr" && pass || fail "emap cube does not have 14 bands"
expect_ok "the same run twice gives the same cube" -- "$HSI" profile "$SAMSON" --pca 2 \
    --emap area=50,500 --emap inertia=0.2 --rule subtractive --connectivity 8 --quantise 16 \
    --pca-sample 2000 --seed 3 -q -o "$TMP/emap2.dat"
cmp -s "$TMP/emap.dat" "$TMP/emap2.dat" && pass || fail "two identical runs differ"
# the simulated scene, when this build has the simulator: an SDAP + EMAP cube with georeferencing
if "$HSI" help simulate >/dev/null 2>&1; then
    expect_ok "simulate" -- "$HSI" simulate --rows 48 --cols 40 --seed 2 -o "$TMP/scene.tif" --gt "$TMP/scene_gt.tif"
    expect_ok "profile of the simulated scene" -- "$HSI" profile "$TMP/scene.tif" --pca 3 \
        --sdap area=10,50 --emap std=10,20 -q -o "$TMP/scene_features.tif"
    "$HSI" info "$TMP/scene_features.tif" >"$TMP/info" 2>&1
    grep -q "48 rows x 40 cols x 21 bands" "$TMP/info" && pass || fail "scene features are not 48 x 40 x 21: $(cat "$TMP/info")"
    grep -Eq "georeference +(none|unknown)" "$TMP/info" && fail "georeferencing lost: $(cat "$TMP/info")" || pass
fi
expect_ok "help" -- "$HSI" profile --help
grep -q "^Usage: hsi profile" "$TMP/out" && pass || fail "--help has no usage"

expect_error "no profile" "no profile" -- "$HSI" profile "$SAMSON" -o "$TMP/x.tif"
expect_error "bad attribute" "unknown attribute 'volume'" -- "$HSI" profile "$SAMSON" --sdap volume=3 -o "$TMP/x.tif"
expect_error "bad threshold" "numbers >= 0" -- "$HSI" profile "$SAMSON" --ap area=1,x -o "$TMP/x.tif"
expect_error "bad rule" "unknown filtering rule 'best'" -- "$HSI" profile "$SAMSON" --ap area=1 --rule best -o "$TMP/x.tif"
expect_error "bad connectivity" "connectivity" -- "$HSI" profile "$SAMSON" --ap area=1 --connectivity 6 -o "$TMP/x.tif"
expect_error "bad quantisation" "quantise" -- "$HSI" profile "$SAMSON" --ap area=1 --quantise 12 -o "$TMP/x.tif"
expect_error "too many PCs" "more components than its 156 bands" -- "$HSI" profile "$SAMSON" --pca 200 --ap area=1 -o "$TMP/x.tif"
expect_error "missing input" "nothere.tif" -- "$HSI" profile "$TMP/nothere.tif" --ap area=1 -o "$TMP/x.tif"
expect_error "no output" "no output" -- "$HSI" profile "$SAMSON" --ap area=1
expect_no_file "no output after errors" "$TMP/x.tif"
finish
