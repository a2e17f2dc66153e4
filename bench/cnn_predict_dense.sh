#!/bin/sh
# cnn_predict_dense.sh - whole-scene `hsi cnn predict` with the dense path
# (the layers before [flatten] once over tiles of the scene,
# cnn3d/predict_dense.h) against the per-window path (HSI_CNN_DENSE=0), in
# the same run, on a simulated Indian Pines-style scene with a briefly
# trained Lange et al. net (cnn3d/specs/lange2018.cfg).
#
#   bench/cnn_predict_dense.sh [BUILD_DIR]     (default BUILD_DIR: the repo root)
#
# Environment: ROWS, COLS (scene, default 145 x 145), BANDS (200 or 220,
# default 200), EPOCHS (training, default 1), THREADS (OMP_NUM_THREADS,
# default 2), ROUNDS (each path this many times, alternating; default 1),
# WORK (scratch folder, default a temporary one, removed).
#
# Prints, per path, the wall and CPU seconds and pixels/s of each round,
# the FLOPs per pixel of both paths (the model's forward FLOPs per window;
# the trunk's per tile over the tile's pixels plus the tail's), the speed
# ratio (best round of each) against the FLOP ratio, its bound, the largest
# probability difference (absolute and relative) and how many pixels got
# another class, with how many of those are near ties.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT}
BUILD=$(cd "$BUILD" && pwd)
HSI="$BUILD/hsi"
[ -x "$HSI" ] || HSI="$BUILD/tools/hsi"
[ -x "$HSI" ] || { echo "no hsi in $BUILD" >&2; exit 1; }
ROWS=${ROWS:-145} COLS=${COLS:-145} BANDS=${BANDS:-200} EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-1}
export OMP_NUM_THREADS=$THREADS
if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; else
    WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
fi
cd "$WORK"

echo "# hsi cnn predict, dense vs per window: $ROWS x $COLS x $BANDS, Lange 2018, $EPOCHS epoch(s), $THREADS threads"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$HSI" simulate --rows "$ROWS" --cols "$COLS" --bands-count "$BANDS" -o scene.tif -q
sed "s/^epochs = .*/epochs = $EPOCHS/" "$ROOT/cnn3d/specs/lange2018.cfg" >lange.cfg
"$HSI" cnn train scene.tif --spec lange.cfg --train scene_gt.tif --allow-missing-classes \
    --seed 1 -o lange.ckpt -q

# One prediction: the "classified in" line, wall and CPU seconds.
run() { # NAME DENSE(0|auto)
    if [ "$2" = 0 ]; then export HSI_CNN_DENSE=0; else unset HSI_CNN_DENSE; fi
    /usr/bin/time -f "%e %U %S" -o time.txt \
        "$HSI" cnn predict scene.tif -m lange.ckpt -o "$1.img" --prob "$1_p.img" >"$1.txt"
    unset HSI_CNN_DENSE
    rate=$(sed -n 's/^classified in .* (\([0-9.]*\) pixels\/s.*/\1/p' "$1.txt")
    read -r wall user sys <time.txt
    cpu=$(echo "$user $sys" | awk '{print $1 + $2}')
    printf '%-10s wall %7.2f s  cpu %7.2f s  %8.0f pixels/s   %s\n' "$1" "$wall" "$cpu" "$rate" \
        "$(sed -n 's/^classified in [^(]*(//p' "$1.txt" | sed 's/)$//')"
    echo "$rate" >>"$1.rates"
}
rm -f dense.rates window.rates
i=0
while [ $i -lt "$ROUNDS" ]; do
    run dense auto
    run window 0
    i=$((i + 1))
done
best() { sort -g "$1" | tail -1; }
# FLOPs per pixel, from the dense line: "... X MFLOP a pixel against Y per window".
flops=$(sed -n 's/.*, \([0-9.e+]*\) MFLOP a pixel against \([0-9.e+]*\) per window.*/\1 \2/p' dense.txt)
python3 - "$(best dense.rates)" "$(best window.rates)" $flops <<'EOF'
import array, sys
dense, window = float(sys.argv[1]), float(sys.argv[2])
print(f"speed: dense {dense:.0f} pixels/s, per window {window:.0f} pixels/s, ratio {dense / window:.2f}")
if len(sys.argv) > 4:
    fd, fw = float(sys.argv[3]), float(sys.argv[4])
    print(f"FLOPs per pixel: dense {fd:.3g} M, per window {fw:.3g} M: the speedup's bound {fw / fd:.1f}")
def floats(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a
pd, pw = floats("dense_p.img"), floats("window_p.img")
def classes(name):
    # ENVI data type 1: bytes (up to 255 classes), 12: uint16.
    hdr = open(name + ".hdr").read().replace(" ", "")
    a = array.array("B" if "datatype=1\n" in hdr else "H")
    with open(name + ".img", "rb") as f:
        a.frombytes(f.read())
    return a
cd, cw = classes("dense"), classes("window")
absd = max(abs(a - b) for a, b in zip(pd, pw))
reld = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(pd, pw) if a or b)
k = len(pd) // len(cd)
# Class j of pixel i: at j * n + i (ENVI BSQ) or i * k + j (BIP).
n = len(cd)
hdr = open("window_p.hdr").read().lower()
at = (lambda i, j: i * k + j) if "interleave = bip" in hdr else (lambda i, j: j * n + i)
diff = [i for i in range(n) if cd[i] != cw[i]]
def margin(i):
    p = sorted((pw[at(i, j)] for j in range(k)), reverse=True)
    return p[0] - p[1]
ties = sum(1 for i in diff if margin(i) < 1e-4)
print(f"largest probability difference: {absd:.3g} absolute, {reld:.3g} relative; "
      f"{len(diff)} of {n} pixels of another class ({ties} of them top-two margin < 1e-4)")
EOF
