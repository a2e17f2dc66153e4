#!/bin/sh
# test_features_profile_stream.sh - `hsi profile` in row blocks (one rank):
# forced blocks down to one row, and tiny --memory budgets, give the same
# profile, value for value, as one block (whole-band trees), for every
# mergeable attribute and rule, 4- and 8-connected, float and quantised
# levels, bands and principal components. The SDAP beyond one block is
# refused with one line and leaves no output.
# (The same under mpirun: test_features_profile_mpi.sh.)
. "$HSI_SRCDIR/tests/setup.sh"
"$HSI" simulate --rows 23 --cols 19 --seed 4 -o "$TMP/s.tif" --gt "$TMP/gt.tif" >/dev/null 2>&1 ||
    { echo "cannot simulate the test scene"; exit 99; }
S="$TMP/s.tif"

# same_profile NAME ARGS... : the one-block profile, then forced blocks of 1
# and 4 rows and a tiny budget, compared byte for byte (ENVI data: raw floats)
same_profile() {
    local what=$1; shift
    expect_ok "$what, one block" -- "$HSI" profile "$S" "$@" -q -o "$TMP/ref.dat"
    grep -q "; 1 block of up to 23 rows on 1 rank" "$TMP/out" || fail "$what: not one block: $(cat "$TMP/out")"
    for b in "--block-rows 1" "--block-rows 4" ${TINY:+"$TINY"}; do
        expect_ok "$what, $b" -- "$HSI" profile "$S" "$@" $b -q -o "$TMP/blk.dat"
        grep -Eq "; [0-9]+ blocks of up to" "$TMP/out" || fail "$what, $b: not blocked: $(cat "$TMP/out")"
        cmp -s "$TMP/ref.dat" "$TMP/blk.dat" || fail "$what, $b: the profile differs from one block's"
        sed 's/ref\.dat/X/' "$TMP/ref.hdr" >"$TMP/a.hdr"; sed 's/blk\.dat/X/' "$TMP/blk.hdr" >"$TMP/b.hdr"
        cmp -s "$TMP/a.hdr" "$TMP/b.hdr" || fail "$what, $b: the header differs from one block's"
    done
}
same_profile "area+inertia+std, direct" --bands 1-3 --ap area=3,10,40 --ap inertia=0.2,0.3 --ap std=20,100
same_profile "diagonal, subtractive, 8-connected" --bands 5,60,100 --ap diagonal=3,6 --rule subtractive --connectivity 8
same_profile "quantised 8 bits, min rule" --bands 1-2 --emap area=2,5 --emap inertia=0.25 --quantise 8 --rule min
same_profile "quantised 16 bits, max rule, no input" --bands 7 --ap area=4,30 --ap diagonal=5 --quantise 16 --rule max --no-input
same_profile "2 PCs, sample" --pca 2 --pca-sample 200 --seed 3 --ap area=3,9 --ap inertia=0.2 --ap std=50,500 --rule max

# Blocks forced by the budget alone. The boundary trees of a band count in
# the budget: beside many bands' rows (40 here) quantised levels leave room
# for them, and the bands' trees are built in groups that fit.
"$HSI" simulate --rows 48 --cols 40 --seed 4 -o "$TMP/w.tif" --gt "$TMP/wgt.tif" >/dev/null 2>&1 ||
    { echo "cannot simulate the wide test scene"; exit 99; }
W="--bands 1-40 --ap area=3,10 --quantise 8"
expect_ok "budget blocks, one block" -- "$HSI" profile "$TMP/w.tif" $W -q -o "$TMP/ref.dat"
expect_ok "budget blocks, --memory 2M" -- "$HSI" profile "$TMP/w.tif" $W --memory 2M -q -o "$TMP/blk.dat"
grep -Eq "; [2-9] blocks of up to .* in [0-9]+ pass" "$TMP/out" || fail "--memory 2M: not blocks and band groups: $(cat "$TMP/out")"
cmp -s "$TMP/ref.dat" "$TMP/blk.dat" || fail "--memory 2M: the profile differs from one block's"

# A budget too small for a band's boundary trees beside its row blocks (the
# 23 x 19 scene at exact float levels: the trees hold about a node per
# pixel) is refused, naming a budget that does hold it; that budget works.
rm -f "$TMP/x.tif"
expect_error "trees beyond the budget" "the boundary trees of band 1 \([0-9]+ nodes; exact float levels .*--quantise 16 or 8.*\) do not fit beside the row blocks within --memory 40 KiB: give --memory [0-9.]+ [KMG]iB or more" -- \
    "$HSI" profile "$S" --bands 1-3 --ap area=3,10,40 --ap std=20,100 --memory 40K -q -o "$TMP/x.tif"
expect_no_file "refused run" "$TMP/x.tif"
ADVICE=$(sed -n 's/.*give --memory \([0-9.]*\) \([KMG]\)iB or more.*/\1\2/p' "$TMP/err")
expect_ok "the advised budget ($ADVICE)" -- "$HSI" profile "$S" --bands 1-3 --ap area=3,10,40 --ap std=20,100 --memory "$ADVICE" -q -o "$TMP/advised.tif"
# Area alone keeps 28 bytes a boundary node, with std 156 (tree_block.h):
# the advice is at most half (before per-attribute nodes: 371 KiB against
# 395), and that budget holds the trees in blocks, with the profile of one
# block.
expect_error "area trees beyond the budget" "give --memory [0-9.]+ [KMG]iB or more" -- \
    "$HSI" profile "$S" --bands 1-3 --ap area=3,10,40 --memory 40K -q -o "$TMP/x.dat"
AREA=$(sed -n 's/.*give --memory \([0-9.]*\) \([KMG]\)iB or more.*/\1\2/p' "$TMP/err")
bytes() { echo "$1" | awk '{ u = substr($0, length($0)); v = substr($0, 1, length($0) - 1);
                            printf "%d\n", v * (u == "K" ? 1024 : u == "M" ? 1048576 : 1073741824) }'; }
[ "$((2 * $(bytes "$AREA")))" -le "$(bytes "$ADVICE")" ] 2>/dev/null ||
    fail "area alone: advised $AREA, more than half the $ADVICE with std"
expect_ok "area, the advised budget ($AREA)" -- "$HSI" profile "$S" --bands 1-3 --ap area=3,10,40 --memory "$AREA" -q -o "$TMP/blk.dat"
grep -Eq "; [0-9]+ blocks of up to" "$TMP/out" || fail "area, --memory $AREA: not blocked: $(cat "$TMP/out")"
expect_ok "area, one block" -- "$HSI" profile "$S" --bands 1-3 --ap area=3,10,40 -q -o "$TMP/ref.dat"
cmp -s "$TMP/ref.dat" "$TMP/blk.dat" || fail "area, --memory $AREA: the profile differs from one block's"

expect_error "sdap beyond one block" "the SDAP \(trees of shapes\) cannot be split in row blocks.*--memory [0-9.]+ [KMG]iB or more" -- \
    "$HSI" profile "$S" --bands 1-2 --sdap area=3 --block-rows 5 -q -o "$TMP/x.tif"
expect_no_file "refused run" "$TMP/x.tif"
expect_ok "sdap and std in one block" -- "$HSI" profile "$S" --bands 1-2 --sdap area=3 --ap std=3 -q -o "$TMP/y.tif"
expect_error "budget below one row" "needs|budget" -- "$HSI" profile "$S" --ap area=3 --memory 2K -q -o "$TMP/x.tif"
expect_ok "help documents the budget" -- "$HSI" profile --help
grep -q -- "--memory SIZE" "$TMP/out" && grep -q "320 bytes a" "$TMP/out" || fail "--help lacks the memory budget"
echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
