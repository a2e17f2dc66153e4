#!/bin/sh
# main-job.sh - README command (1): install what hsi needs (Debian 12), build it,
# and run the main job on the embedded simulated scene. Outputs go to out/.
#   tools/main-job.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
tools/setup-debian.sh
HSI=$(pwd)/build/hsi
OUT=${1:-out}
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "1. simulate an Indian Pines-like scene (145 x 145 x 220, 16 classes, seed 1)"
"$HSI" simulate -o "$OUT/scene.tif" --gt "$OUT/gt.tif" --seed 1

step "2. describe it"
"$HSI" info "$OUT/scene.tif" --truth "$OUT/gt.tif"

printf '\nmain job done: outputs in %s/\n' "$OUT"
