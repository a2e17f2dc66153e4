#!/bin/sh
# test_features_profile_mpi.sh - `mpirun -np 2|3 hsi profile`: rows split
# over the ranks (and in blocks within a rank), max/min-trees merged across
# the ranks' boundaries, rank 0 writing: the same profile, value for value,
# as one process with whole-band trees. SDAP over ranks: one error line.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
command -v "${HSI_MPIRUN%% *}" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
mpi_test_env
MPI="$HSI_MPIRUN --quiet --oversubscribe"
"$HSI" simulate --rows 23 --cols 19 --seed 4 -o "$TMP/s.tif" --gt "$TMP/gt.tif" >/dev/null 2>&1 ||
    { echo "cannot simulate the test scene"; exit 99; }
S="$TMP/s.tif"

same_profile() {
    local what=$1; shift
    expect_ok "$what, one process" -- "$HSI" profile "$S" "$@" -q -o "$TMP/ref.dat"
    for run in "-np 2" "-np 3" "-np 2 --block-rows 1" "-np 3 --block-rows 4"; do
        np=${run%% --*}
        extra=
        case "$run" in *--block-rows*) extra="--block-rows ${run##* }" ;; esac
        expect_ok "$what, $run" -- $MPI $np "$HSI" profile "$S" "$@" $extra -q -o "$TMP/mpi.dat"
        grep -q "on ${np#-np } ranks" "$TMP/out" || fail "$what, $run: $(cat "$TMP/out")"
        cmp -s "$TMP/ref.dat" "$TMP/mpi.dat" || fail "$what, $run: the profile differs from one process's"
    done
}
same_profile "area+inertia+std" --bands 1-3 --ap area=3,10,40 --ap inertia=0.2,0.3 --ap std=20,100
same_profile "diagonal, subtractive, 8-connected, quantised" --bands 5,60 --ap diagonal=3,6 \
    --rule subtractive --connectivity 8 --quantise 8
same_profile "2 PCs, max rule" --pca 2 --ap area=3,9 --rule max

# blocks and band groups from the budget, on 2 ranks (each rank's blocks
# within it, and every rank merging the same group of bands)
"$HSI" simulate --rows 48 --cols 40 --seed 4 -o "$TMP/w.tif" --gt "$TMP/wgt.tif" >/dev/null 2>&1 ||
    { echo "cannot simulate the wide test scene"; exit 99; }
W="--bands 1-40 --ap area=3,10 --quantise 8"
expect_ok "budget blocks, one process" -- "$HSI" profile "$TMP/w.tif" $W -q -o "$TMP/ref.dat"
expect_ok "budget blocks, -np 2 --memory 2M" -- $MPI -np 2 "$HSI" profile "$TMP/w.tif" $W --memory 2M -q -o "$TMP/mpi.dat"
grep -Eq "; [3-9] blocks of up to .* on 2 ranks, .* in [0-9]+ passes" "$TMP/out" || fail "-np 2 --memory 2M: $(cat "$TMP/out")"
cmp -s "$TMP/ref.dat" "$TMP/mpi.dat" || fail "-np 2 --memory 2M: the profile differs from one process's"

expect_error "sdap over 2 ranks" "the SDAP \(trees of shapes\) cannot be split" -- \
    $MPI -np 2 "$HSI" profile "$S" --bands 1 --sdap area=3 -q -o "$TMP/x.tif"
expect_no_file "refused run" "$TMP/x.tif"
# a NaN in rank 1's rows only: every rank stops, one line names it, no output
python3 - "$TMP/nan.dat" <<'PYEOF' || fail "cannot write the NaN scene"
import struct, sys
vals = [float((i * 7) % 5) for i in range(3 * 20 * 10)]   # BSQ: 3 bands x 20 rows x 10 cols
vals[1 * 200 + 15 * 10 + 3] = float("nan")                # band 2, row 16, column 4
open(sys.argv[1], "wb").write(struct.pack("<%df" % len(vals), *vals))
PYEOF
printf 'ENVI\nsamples = 10\nlines = 20\nbands = 3\nheader offset = 0\nfile type = ENVI Standard\ndata type = 4\ninterleave = bsq\nbyte order = 0\n' >"$TMP/nan.hdr"
expect_error "NaN on rank 1" "rank 1 failed: .*NaN value" -- \
    $MPI -np 2 "$HSI" profile "$TMP/nan.dat" --ap area=3 -q -o "$TMP/x.tif"
expect_no_file "NaN run" "$TMP/x.tif"
echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
