#!/bin/sh
# main-job.sh - README command (1): install what hsi needs (Debian 12), build it,
# and run the main job on the embedded simulated scene: simulate, split without
# leakage, SVM on raw spectra and on self-dual attribute profiles (MPI grid
# search), the Lange et al. 3D-CNN, accuracy reports and maps. Outputs: out/.
#   tools/main-job.sh [OUTDIR]
# Environment: CNN_EPOCHS (default 10), RANKS (MPI ranks, default 2).
set -eu
cd "$(dirname "$0")/.."
tools/setup-debian.sh
HSI=$(pwd)/build/hsi
OUT=${1:-out}
EPOCHS=${CNN_EPOCHS:-10}
RANKS=${RANKS:-2}
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

# MPI when it was built in: rank counts above the core count need --oversubscribe,
# and Open MPI refuses root unless told.
MPI=""
if "$HSI" --version | grep -q ' mpi' && command -v mpirun >/dev/null; then
  [ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  MPI="mpirun -np $RANKS --oversubscribe"
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1   # one core per rank
fi

step "1. simulate an Indian Pines-like scene (145 x 145 x 220, 16 classes, seed 1)"
"$HSI" simulate -o "$OUT/scene.tif" --gt "$OUT/gt.tif" --seed 1

step "2. describe it"
"$HSI" info "$OUT/scene.tif" --truth "$OUT/gt.tif"

step "3. splits: random pixels (leaks) vs spatially disjoint blocks (no leakage for 9 x 9 patches)"
"$HSI" split --truth "$OUT/gt.tif" --strategy random --fraction 0.1 --patch 9 --seed 1 -o "$OUT/random"
"$HSI" split --truth "$OUT/gt.tif" --strategy blocks --block 10 --fraction 0.1 --patch 9 --seed 1 -o "$OUT/split"

GRID="--log2c 0,12,3 --log2g -1,-13,-3 --folds 5 --allow-missing-classes"
# The grid's best cell, by the rule hsi svm grid prints it with: highest
# accuracy, then the smaller C, then the smaller gamma. Prints "-c C -g GAMMA".
best_cell() {
  awk -F, 'NR > 1' "$1" | sort -t, -k5,5gr -k2,2g -k1,1g | head -n 1 | awk -F, '{print "-c " $4 " -g " $3}'
}
step "4. SVM on raw spectra: ${MPI:+$MPI }hsi svm grid (5-fold CV), then train and predict"
$MPI "$HSI" svm grid "$OUT/scene.tif" --train "$OUT/split_train.tif" $GRID -q --csv "$OUT/grid_raw.csv"
"$HSI" svm train "$OUT/scene.tif" --train "$OUT/split_train.tif" $(best_cell "$OUT/grid_raw.csv") --allow-missing-classes -q -o "$OUT/svm_raw.model"
$MPI "$HSI" svm predict "$OUT/scene.tif" -m "$OUT/svm_raw.model" -q -o "$OUT/pred_svm_raw.tif"

step "5. self-dual attribute profiles (tree of shapes on 8 principal components), then the SVM on them"
# Area thresholds below a field's size (25..200 pixels of 20 m): larger ones erase whole fields.
"$HSI" profile "$OUT/scene.tif" --pca 8 --sdap area=25,50,100,200 -o "$OUT/sdap.tif"
$MPI "$HSI" svm grid "$OUT/sdap.tif" --train "$OUT/split_train.tif" $GRID -q --csv "$OUT/grid_sdap.csv"
"$HSI" svm train "$OUT/sdap.tif" --train "$OUT/split_train.tif" $(best_cell "$OUT/grid_sdap.csv") --allow-missing-classes -q -o "$OUT/svm_sdap.model"
$MPI "$HSI" svm predict "$OUT/sdap.tif" -m "$OUT/svm_sdap.model" -q -o "$OUT/pred_svm_sdap.tif"

step "6. the Lange et al. 3D-CNN on 9 x 9 x 200 patches ($EPOCHS epochs on the CPU)"
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
"$HSI" cnn summary cnn3d/specs/lange2018.cfg --bands-count 200
"$HSI" cnn train "$OUT/scene.tif" --spec cnn3d/specs/lange2018.cfg --bands 1-103,109-149,164-219 \
  --train "$OUT/split_train.tif" --allow-missing-classes --epochs "$EPOCHS" --seed 1 -o "$OUT/cnn.ckpt"
"$HSI" cnn predict "$OUT/scene.tif" -m "$OUT/cnn.ckpt" -q -o "$OUT/pred_cnn.tif"

# Scored on the split's test pixels only: the guard band around the training
# blocks is neither trained on nor scored (its pixels sit inside training windows).
step "7. accuracy on the test pixels of the disjoint split"
for m in svm_raw svm_sdap cnn; do
  "$HSI" report --truth "$OUT/split_test.tif" --pred "$OUT/pred_$m.tif" -o "$OUT/report_$m.txt"
  "$HSI" report --truth "$OUT/split_test.tif" --pred "$OUT/pred_$m.tif" -o "$OUT/report_$m.md"
  printf '%-9s %s\n' "$m" "$(grep -E '^(Overall|Average|Cohen)' "$OUT/report_$m.txt" | sed 's/  */ /g' | tr '\n' ';')"
done
echo "full reports: $OUT/report_*.txt"

step "8. maps"
"$HSI" map rgb "$OUT/scene.tif" -o "$OUT/scene.png" --scale 3
"$HSI" map class "$OUT/gt.tif" -o "$OUT/gt.png" --scale 3 --legend "$OUT/legend.png"
for m in svm_raw svm_sdap cnn; do
  "$HSI" map class "$OUT/pred_$m.tif" -o "$OUT/pred_$m.png" --scale 3
  "$HSI" map correct --truth "$OUT/split_test.tif" --pred "$OUT/pred_$m.tif" --train "$OUT/split_train.tif" \
    --mark-train -o "$OUT/correct_$m.png" --scale 3
done
ls "$OUT"/*.png

printf '\nmain job done: outputs in %s/\n' "$OUT"
