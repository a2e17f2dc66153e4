#!/bin/bash
# profile_blocks_compare.sh - two hsi builds' row-block attribute profiles,
# byte for byte: a change to the block trees or their merge
# (features/tree_block.c) must leave every output as it was.
#
#   bench/profile_blocks_compare.sh DIR REF_HSI NEW_HSI
#
# DIR gets a 120 x 90 hsi simulate scene (made by NEW_HSI) and the outputs.
# On one rank, for each attribute alone, area with std and all four; every
# rule; 4/8-connectivity with float, 16- and 8-bit levels; --block-rows 3
# or 7 (alternating): the ENVI outputs, their headers and the one-line
# summaries (blocks, boundary nodes, merged bytes) of REF and NEW must be
# equal, and so must a refusal's message. Then --pca 2 --emap in one-row
# blocks. With mpirun (MPI=0 skips it), on 2 and 3 ranks, forced blocks of 4
# rows and one block a rank: NEW must equal REF on the same ranks and REF on
# one rank. A REF that needs its own libraries: REF_HSI may be a wrapper
# script (e.g. one setting LD_LIBRARY_PATH); under mpirun it runs as given.
# Takes about 3 minutes on 2 loaded cores. Exit status: the runs that differ.
set -u
[ $# -eq 3 ] || { echo "usage: bench/profile_blocks_compare.sh DIR REF_HSI NEW_HSI" >&2; exit 2; }
DIR=$1 REF=$2 NEW=$3
mkdir -p "$DIR"
S=$DIR/scene.tif
[ -f "$S" ] || "$NEW" simulate --rows 120 --cols 90 --seed 1 -o "$S" -q || exit 1
n=0 bad=0
specs=("--ap area=3,10,40" "--ap diagonal=2,5,11" "--ap inertia=0.2,0.3,0.45"
       "--ap std=50,200,800" "--ap area=3,40 --ap std=100,400"
       "--ap area=5 --ap diagonal=4 --ap inertia=0.25 --ap std=150")

# the summary line without the output's name and the run's time
clean() { sed -i 's/[A-Za-z_]*\.dat/X.dat/g; s/ in [0-9.]* s;/;/' "$@"; }

# one LABEL ARGS...: REF and NEW on one rank
one() {
    local label=$1 rr rn; shift
    "$REF" profile "$S" "$@" -q -o "$DIR/ref.dat" >"$DIR/ref.out" 2>"$DIR/ref.err"; rr=$?
    "$NEW" profile "$S" "$@" -q -o "$DIR/new.dat" >"$DIR/new.out" 2>"$DIR/new.err"; rn=$?
    clean "$DIR/ref.out" "$DIR/new.out" "$DIR/ref.err" "$DIR/new.err"
    n=$((n + 1))
    if [ $rr != 0 ] || [ $rn != 0 ]; then
        [ $rr = $rn ] && cmp -s "$DIR/ref.err" "$DIR/new.err" && return
        bad=$((bad + 1)); echo "DIFF (exit $rr / $rn): $label"; cat "$DIR/ref.err" "$DIR/new.err"
        return
    fi
    clean "$DIR/ref.hdr" "$DIR/new.hdr"
    cmp -s "$DIR/ref.dat" "$DIR/new.dat" && cmp -s "$DIR/ref.hdr" "$DIR/new.hdr" &&
        cmp -s "$DIR/ref.out" "$DIR/new.out" || { bad=$((bad + 1)); echo "DIFF: $label"; }
}

for si in "${!specs[@]}"; do
    for rule in direct min max subtractive; do
        for cq in "4 0" "8 0" "4 8" "8 16" "8 8" "4 16"; do
            set -- $cq
            br=$(( (si + ${#rule}) % 2 ? 3 : 7 ))
            one "${specs[$si]} --rule $rule --connectivity $1 --quantise $2 --block-rows $br" \
                --bands 1,60,150 ${specs[$si]} --rule $rule --connectivity $1 --quantise $2 \
                --block-rows $br
        done
    done
done
for rule in direct max; do
    one "--pca 2 --emap area=4,30 --emap inertia=0.3 --rule $rule --block-rows 1" \
        --pca 2 --emap area=4,30 --emap inertia=0.3 --rule $rule --block-rows 1
done
echo "one rank: $n runs, $bad differ"

if [ "${MPI:-1}" = 1 ] && command -v mpirun >/dev/null 2>&1; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
    m=0 mbad=0
    for si in 0 1 2 3 5; do
        for rule in direct min max subtractive; do
            c=$(( (si + ${#rule}) % 2 ? 4 : 8 )) q=$(( si == 1 ? 8 : 0 ))
            args="--bands 1,60,150 ${specs[$si]} --rule $rule --connectivity $c --quantise $q"
            "$REF" profile "$S" $args -q -o "$DIR/one.dat" >/dev/null 2>&1 || echo "REF failed: $args"
            for np in 2 3; do
                for br in 4 0; do
                    extra=""
                    [ $br != 0 ] && extra="--block-rows $br"
                    mpirun -np $np --oversubscribe "$REF" profile "$S" $args $extra -q \
                        -o "$DIR/ref.dat" >"$DIR/ref.out" 2>&1
                    mpirun -np $np --oversubscribe "$NEW" profile "$S" $args $extra -q \
                        -o "$DIR/new.dat" >"$DIR/new.out" 2>&1
                    clean "$DIR/ref.out" "$DIR/new.out"
                    m=$((m + 1))
                    cmp -s "$DIR/one.dat" "$DIR/new.dat" && cmp -s "$DIR/ref.dat" "$DIR/new.dat" &&
                        cmp -s "$DIR/ref.out" "$DIR/new.out" ||
                        { mbad=$((mbad + 1)); echo "DIFF on $np ranks: $args $extra"; }
                done
            done
        done
    done
    echo "MPI: $m runs, $mbad differ"
    bad=$((bad + mbad))
fi
exit $bad
