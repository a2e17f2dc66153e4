#!/bin/sh
# cnn_accuracy.sh - the Lange et al. 3D-CNN on hsi's simulated scene: overall
# accuracy of `hsi cnn train` vs the PyTorch reference trained with the same
# protocol (bench/cnn_torch_reference.py), for a random and a blocks split,
# over several seeds.
#
#   bench/cnn_accuracy.sh [BUILD_DIR]
#
# Environment: SPEC (default cnn3d/specs/lange2018.cfg; with another spec,
# e.g. lange2018_adam.cfg, the PyTorch reference trains with that spec's
# [net] protocol: optimiser, loss, validation split, early stopping, schedule),
# EPOCHS (default 30; the paper's 600 are too many for 2 CPU
# cores), ROWS and COLS (the simulated scene's size, default 145 x 145),
# BANDS (a band list: train both engines on these bands only, e.g.
# "$(seq -s, 1 4 220)" for every fourth band; default all 220), PYTHON (the Python with
# PyTorch; default /root/.cache/hsi/peers-venv/bin/python where it exists,
# else python3), SEEDS (default "1"; each seed makes its own scene, split and initial
# weights, and is the training seed of both engines), FRACTION (training share
# per class, default 0.1), SPLITS (default "random blocks"), BLOCK (the blocks
# split's tile side in pixels, `hsi split --block`; default hsi's, 18 for 9 x 9
# patches), WORK (scratch
# directory; default a new one), SAME_START (1: PyTorch starts from hsi's
# initial weights, written by `hsi cnn train --epochs 0`, and replays hsi's
# batch order, through cnn_torch_reference.py --init; default 0: PyTorch
# draws its own).
#
# One line per seed and split, then per split the mean OA of each engine and
# the mean of the paired differences (hsi - PyTorch, same scene and split
# files) with its standard error: single runs differ by a few points because
# the initial weights and shuffles differ, so only the mean over seeds says
# whether the engines train alike. With SAME_START=1 the pair shares its
# initial weights and batches (common random numbers): what is left of the
# difference is the engines' arithmetic, amplified by training, so far
# fewer seeds pin the mean difference down.
#
# The converged protocol of bench/RESULTS.md (run 4: 12-pixel tiles give every
# class of an 80 x 80 scene training pixels while the split stays leak-free):
#   SPEC=cnn3d/specs/lange2018_adam.cfg ROWS=80 COLS=80 EPOCHS=20 FRACTION=0.2 \
#   BLOCK=12 SEEDS="$(seq -s ' ' 1 20)" BANDS=$(seq -s, 1 8 220) bench/cnn_accuracy.sh BUILD
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT}" && pwd)
H="$BUILD/hsi"
EPOCHS=${EPOCHS:-30}
SEEDS=${SEEDS:-${SEED:-1}}
FRACTION=${FRACTION:-0.1}
SAME_START=${SAME_START:-0}
SPLITS=${SPLITS:-random blocks}
SPEC=${SPEC:-$ROOT/cnn3d/specs/lange2018.cfg}
ROWS=${ROWS:-145}
COLS=${COLS:-145}
BANDS=${BANDS:-}
BLOCK=${BLOCK:-}
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /root/.cache/hsi/peers-venv/bin/python ] && PYTHON=/root/.cache/hsi/peers-venv/bin/python
fi
[ -f "$SPEC" ] || [ ! -f "$ROOT/$SPEC" ] || SPEC="$ROOT/$SPEC" # cnn3d/specs/... from anywhere
case "$SPEC" in /*) ;; *) SPEC="$(pwd)/$SPEC" ;; esac
# The reference follows the spec's protocol unless it is the paper's (SGD on MSE, built in).
proto=""
[ "$(basename "$SPEC")" = lange2018.cfg ] || proto="--spec $SPEC"
band_opt=""
[ -n "$BANDS" ] && band_opt="--bands $BANDS"
WORK=${WORK:-$(mktemp -d /tmp/cnn_accuracy.XXXXXX)}
mkdir -p "$WORK" && cd "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "# 3D-CNN accuracy: $(date -u '+%Y-%m-%d %H:%M UTC'), spec $(basename "$SPEC"), seeds $SEEDS, $EPOCHS epochs, scene ${ROWS}x${COLS}, bands ${BANDS:-all}, training fraction $FRACTION, blocks ${BLOCK:-default}, same start $SAME_START, in $WORK"
echo "# CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}"
: >runs.txt
for seed in $SEEDS; do
    "$H" simulate -o "scene$seed.tif" --gt "scene${seed}_gt.tif" --seed "$seed" --rows "$ROWS" --cols "$COLS" -q
    # shellcheck disable=SC2086 # band_opt is empty or two words
    "$H" convert "scene$seed.tif" $band_opt -o "scene$seed.dat" >/dev/null
    for kind in $SPLITS; do
        s="$kind$seed"
        block_opt=""
        [ "$kind" = blocks ] && [ -n "$BLOCK" ] && block_opt="--block $BLOCK"
        # shellcheck disable=SC2086 # block_opt is empty or two words
        "$H" split "scene${seed}_gt.tif" -o "$s" --strategy "$kind" --fraction "$FRACTION" --patch 9 --seed "$seed" \
            $block_opt >/dev/null
        # Classes with test pixels but no training pixel: their test pixels are
        # errors whatever the engine (the net can never output the class).
        untrained=$(awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ && $1 > 0 && $4 + $5 == 0 && $6 > 0 {n++; p += $6} END {printf "%d classes, %d test pixels", n, p}' "${s}_counts.csv")
        "$H" convert --labels "${s}_train.tif" -o "${s}_train.dat" >/dev/null
        "$H" convert --labels "${s}_test.tif" -o "${s}_test.dat" >/dev/null
        start=""
        if [ "$SAME_START" = 1 ]; then
            # The straight run below equals a --resume from this file (tests/test_cnn_cli).
            # --test as there: a class only the test pixels have still gets an output.
            "$H" cnn train "scene$seed.tif" --spec "$SPEC" $band_opt \
                --train "${s}_train.tif" --test "${s}_test.tif" --allow-missing-classes --epochs 0 --seed "$seed" \
                -o "${s}_init.ckpt" -q >/dev/null
            start="--init ${s}_init.ckpt"
        fi
        t0=$(date +%s)
        ours=$("$H" cnn train "scene$seed.tif" --spec "$SPEC" $band_opt \
            --train "${s}_train.tif" --test "${s}_test.tif" --allow-missing-classes --epochs "$EPOCHS" --seed "$seed" \
            -o "$s.ckpt" -q | sed -n 's/^overall_accuracy=\([0-9.]*\).*/\1/p')
        t1=$(date +%s)
        torch=$("$PYTHON" "$ROOT/bench/cnn_torch_reference.py" "scene$seed.dat" "${s}_train.dat" \
            "${s}_test.dat" "$EPOCHS" --seed "$seed" $start $proto | sed -n 's/^overall_accuracy=\([0-9.]*\).*/\1/p')
        t2=$(date +%s)
        if [ -z "$ours" ] || [ -z "$torch" ]; then
            echo "cnn_accuracy.sh: $kind split, seed $seed: a run failed (hsi OA '$ours', PyTorch OA '$torch')" >&2
            exit 1
        fi
        echo "$kind $seed $ours $torch" >>runs.txt
        echo "$kind split, seed $seed: hsi OA $ours ($((t1 - t0)) s), PyTorch OA $torch ($((t2 - t1)) s), difference $(awk -v a="$ours" -v b="$torch" 'BEGIN {printf "%+.2f", 100 * (a - b)}') points; without training pixels: $untrained"
    done
done
for kind in $SPLITS; do
    awk -v k="$kind" '$1 == k {
        n++; a += $3; b += $4; d = 100 * ($3 - $4); s += d; ss += d * d
        aa += $3 * $3; bb += $4 * $4
    } END {
        if (!n) exit
        m = s / n; sd = n > 1 ? sqrt((ss - n * m * m) / (n - 1)) : 0
        sa = n > 1 ? 100 * sqrt((aa - a * a / n) / (n - 1)) : 0
        sb = n > 1 ? 100 * sqrt((bb - b * b / n) / (n - 1)) : 0
        # Paired: sd of the per-seed differences / sqrt(n), the error of the mean
        # difference when each pair shares its scene and split. Unpaired: as if
        # the two columns were unrelated samples, sqrt(sd_hsi^2 / n + sd_torch^2 / n);
        # it counts the scene-to-scene spread that the pairing cancels.
        printf "%s split, %d seeds: hsi OA %.2f%% (sd %.2f), PyTorch OA %.2f%% (sd %.2f), paired difference %+.2f points (sd %.2f, standard error %.2f; unpaired standard error %.2f)\n",
            k, n, 100 * a / n, sa, 100 * b / n, sb, m, sd, (n > 1 ? sd / sqrt(n) : 0), sqrt((sa * sa + sb * sb) / n)
    }' runs.txt
done
