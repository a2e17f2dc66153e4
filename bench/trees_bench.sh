#!/bin/bash
# trees_bench.sh - component-tree construction speed and the SDAP feature-cube
# time of hsi, side by side with Higra (PyPI `higra`) on the same images in
# the same run.
#
#   bench/trees_bench.sh [BUILD_DIR]        (default: build)
#
# Images:
#   big    4096 x 4096, 16-bit values: a Gaussian-smoothed random field
#          (sigma 4 px, unit std) plus white noise of std 0.5, scaled to
#          0..65535 and rounded (seed 1)
#   scene  PC1 of the simulated 145 x 145 x 220 scene (`hsi simulate --seed 1`),
#          or of Samson (95 x 95 x 156) when this hsi has no simulate command,
#          or of the cube $SCENE (described by $SCENE_NAME) when set
# Trees: max-tree (4-adjacency) and tree of shapes, one thread, construction
# only (image in memory), best of several runs; Mpixel/s = pixels / seconds.
# hsi is run on exact float levels and on levels quantised to 16 bits
# (counting sort); Higra on float32, and on uint16 for the 16-bit image.
# SDAP cube: `hsi profile SCENE --pca 4 --sdap area=100,500,1000,5000
# --sdap std=10,20,30` (profile time, PCA and I/O excluded, 1 and 2 OpenMP
# threads) vs the same 28 filters with Higra on hsi's own 4 components
# (bench/trees_sdap_higra.py, which also checks the bands are identical).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
HSI=$BUILD/hsi
BENCH=$BUILD/bench/trees_bench
make -C "$BUILD" -s bench/trees_bench >/dev/null
PY=""
for p in /usr/bin/python3 python3; do
    "$p" -c "import higra, numpy, scipy; from osgeo import gdal" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "trees_bench: needs a python3 with higra, numpy, scipy and GDAL (pip install higra)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "higra $("$PY" -c 'import importlib.metadata as m; print(m.version("higra"))'), $("$HSI" --version | head -1)"

# the scene and its SDAP cube
if [ -n "${SCENE:-}" ]; then
    SCENE_NAME=${SCENE_NAME:-$SCENE}
elif "$HSI" help simulate >/dev/null 2>&1; then
    "$HSI" simulate -o "$WORK/scene.tif" --gt "$WORK/scene_gt.tif" --seed 1 >/dev/null
    SCENE=$WORK/scene.tif; SCENE_NAME="simulated 145 x 145 x 220 scene (seed 1)"
else
    SCENE=$SRC/../shared/data/samson/Samson.mat; SCENE_NAME="Samson 95 x 95 x 156 (no hsi simulate in this build)"
fi
echo
echo "== SDAP cube of the $SCENE_NAME: 4 PCs x (1 + 4 area + 3 std) = 32 bands"
for t in 1 2; do
    OMP_NUM_THREADS=$t "$HSI" profile "$SCENE" --pca 4 --sdap area=100,500,1000,5000 \
        --sdap std=10,20,30 -q -o "$WORK/feat.tif" | sed "s/^/hsi ($t thread(s)): /"
done
"$PY" "$SRC/bench/trees_sdap_higra.py" "$WORK/feat.tif" 4 100,500,1000,5000 10,20,30 5

# PC1 of the scene as a raw float32 image; the 4096^2 16-bit image
read -r ROWS COLS < <("$PY" - "$WORK" <<'PYEOF'
import sys
import numpy as np
from osgeo import gdal
from scipy.ndimage import gaussian_filter
work = sys.argv[1]
ds = gdal.Open(work + "/feat.tif")  # keep the dataset alive while its band is read
pc1 = ds.GetRasterBand(1).ReadAsArray().astype("<f4")
pc1.tofile(work + "/scene_pc1.f32")
rng = np.random.default_rng(1)
a = gaussian_filter(rng.standard_normal((4096, 4096)), 4)
a = a / a.std() + 0.5 * rng.standard_normal(a.shape)
a = np.round((a - a.min()) / (a.max() - a.min()) * 65535).astype("<f4")
a.tofile(work + "/big16.f32")
print(*pc1.shape)
PYEOF
)

row() { # name image rows cols hsi_repeats higra_repeats
    local name=$1 img=$2 r=$3 c=$4
    OMP_NUM_THREADS=1 "$BENCH" "$img" "$r" "$c" "$5" >"$WORK/hsi.txt"
    "$PY" "$SRC/bench/trees_higra.py" "$img" "$r" "$c" "$6" >"$WORK/higra.txt"
    "$PY" - "$name" "$WORK/hsi.txt" "$WORK/higra.txt" <<'PYEOF'
import sys
name = sys.argv[1]
hsi, higra = {}, {}
for line in open(sys.argv[2]):
    tree, levels, sec, mps, nodes = line.split()
    hsi[(tree, levels)] = (float(sec), float(mps), nodes)
for line in open(sys.argv[3]):
    tree, which, sec, mps, nodes = line.split()
    higra[(tree, which.split("-")[1])] = (which, float(sec), float(mps), nodes)
for tree in ("maxtree", "tos"):
    for levels in ("float", "q16"):
        s, m, n = hsi[(tree, levels)]
        which, hs, hm, hn = higra.get((tree, levels), higra[(tree, "float")])
        print("| %s | %s | hsi %s | %.4f | %.2f | %s | %.4f | %.2f | %.1fx | %s / %s |" %
              (name, tree, levels, s, m, which, hs, hm, hs / s, n, hn))
PYEOF
}
echo
echo "| image | tree | hsi levels | hsi s | hsi Mpx/s | Higra | Higra s | Higra Mpx/s | hsi speed-up | nodes hsi / Higra |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row "scene PC1 ${ROWS}x${COLS}" "$WORK/scene_pc1.f32" "$ROWS" "$COLS" 20 10
row "4096x4096 16-bit" "$WORK/big16.f32" 4096 4096 3 1
echo
echo "(hsi speed-up = Higra seconds / hsi seconds on the same image, one thread each;"
echo " Higra's tree of shapes pads with the border mean, hsi's with the border median,"
echo " so their node counts may differ slightly; max-tree counts must agree.)"
