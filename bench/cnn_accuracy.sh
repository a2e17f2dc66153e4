#!/bin/sh
# cnn_accuracy.sh - the Lange et al. 3D-CNN on hsi's simulated scene: overall
# accuracy of `hsi cnn train` vs the PyTorch reference trained with the same
# protocol (bench/cnn_torch_reference.py), for a random and a blocks split.
#
#   bench/cnn_accuracy.sh [BUILD_DIR]
#
# Environment: EPOCHS (default 30; the paper's 600 are too many for 2 CPU
# cores), SEED (scene, split and training seed; default 1), FRACTION (training
# share per class, default 0.1), SPLITS (default "random blocks"), WORK (scratch
# directory; default a new one).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT}" && pwd)
H="$BUILD/hsi"
EPOCHS=${EPOCHS:-30}
SEED=${SEED:-1}
FRACTION=${FRACTION:-0.1}
WORK=${WORK:-$(mktemp -d /tmp/cnn_accuracy.XXXXXX)}
mkdir -p "$WORK" && cd "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "# 3D-CNN accuracy: $(date -u '+%Y-%m-%d %H:%M UTC'), simulated scene seed $SEED, $EPOCHS epochs, training fraction $FRACTION, in $WORK"
"$H" simulate -o scene.tif --gt scene_gt.tif --seed "$SEED" -q
"$H" convert scene.tif -o scene.dat >/dev/null
for kind in ${SPLITS:-random blocks}; do
    "$H" split scene_gt.tif -o "$kind" --strategy "$kind" --fraction "$FRACTION" --patch 9 --seed "$SEED" >/dev/null
    "$H" convert --labels "${kind}_train.tif" -o "${kind}_train.dat" >/dev/null
    "$H" convert --labels "${kind}_test.tif" -o "${kind}_test.dat" >/dev/null
    t0=$(date +%s)
    ours=$("$H" cnn train --spec "$ROOT/cnn3d/specs/lange2018.cfg" --cube scene.tif \
        --train "${kind}_train.tif" --test "${kind}_test.tif" --epochs "$EPOCHS" --seed "$SEED" \
        -o "$kind.ckpt" -q | sed -n 's/^overall_accuracy=\([0-9.]*\).*/\1/p')
    t1=$(date +%s)
    torch=$(/usr/bin/python3 "$ROOT/bench/cnn_torch_reference.py" scene.dat "${kind}_train.dat" \
        "${kind}_test.dat" "$EPOCHS" "$SEED" | sed -n 's/^overall_accuracy=\([0-9.]*\).*/\1/p')
    t2=$(date +%s)
    echo "$kind split: hsi OA $ours ($((t1 - t0)) s), PyTorch OA $torch ($((t2 - t1)) s), difference $(awk -v a="$ours" -v b="$torch" 'BEGIN {printf "%+.1f", 100 * (a - b)}') points"
done
