#!/bin/sh
# cnn_transfer.sh - transfer learning with the 3D-CNN: a net trained on one
# simulated scene, fine-tuned on a second scene with another legend from 5
# labelled pixels per class, against the same net trained from scratch on
# the same pixels (issue 15's target: fine-tuning >= scratch + 5 points OA).
#
#   bench/cnn_transfer.sh [BUILD_DIR]
#
# Scene A: `hsi simulate --seed 1` (16 Indian Pines classes); the source net
# is trained on 10% of its labelled pixels (random split) with
# cnn3d/specs/lange2018_adam.cfg.
# Scene B: `hsi simulate --seed 2` (another landscape), its ground truth
# relabelled to a coarser legend of 6 classes: Corn (2-4), Soybean (10-12),
# Grass (5-7), Woods (14), Hay (8), Buildings (15); the other classes are
# left unlabelled. For each split seed, 5 pixels per class are drawn for
# training (hsi split --count 5) and every other labelled pixel is a test
# pixel. Three runs share those pixels, spec and epochs:
#   scratch    random initial weights
#   fine-tune  --init the scene-A net: every layer copied, the head (6
#              classes instead of 16) replaced, all layers trained
#   frozen     the same with --freeze 1-8 (the convolutions and pools fixed:
#              only the three dense layers learn)
# Both scenes use the same bands (BANDS), as transfer needs.
#
# Environment: SEEDS (split seeds, default "1 2 3 4 5"), BANDS (band list;
# default every 8th of the 220 bands, as in the RESULTS agreement bench),
# ROWS, COLS (scene size, default 145), SOURCE_EPOCHS (default 30),
# EPOCHS (fine-tune and scratch epochs, default 60), AUGMENT (default
# flip,rotate,gain:0.05,offset:0.05: applied to all three), WORK (scratch
# directory; default a new one).
#
# Prints one line per seed and the means and the mean paired differences
# (with their standard errors) of fine-tune and frozen against scratch.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT}" && pwd)
H="$BUILD/hsi"
SPEC="$ROOT/cnn3d/specs/lange2018_adam.cfg"
SEEDS=${SEEDS:-1 2 3 4 5}
BANDS=${BANDS:-$(seq -s, 1 8 220)}
ROWS=${ROWS:-145}
COLS=${COLS:-145}
SOURCE_EPOCHS=${SOURCE_EPOCHS:-30}
EPOCHS=${EPOCHS:-60}
AUGMENT=${AUGMENT:-flip,rotate,gain:0.05,offset:0.05}
WORK=${WORK:-$(mktemp -d /tmp/cnn_transfer.XXXXXX)}
mkdir -p "$WORK" && cd "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "# 3D-CNN transfer: $(date -u '+%Y-%m-%d %H:%M UTC'), scene ${ROWS}x${COLS}, bands $BANDS, source $SOURCE_EPOCHS epochs, target $EPOCHS epochs, augment $AUGMENT, seeds $SEEDS, in $WORK"
echo "# CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), OMP_NUM_THREADS=$OMP_NUM_THREADS"

oa() { sed -n 's/^overall_accuracy=\([0-9.]*\).*/\1/p'; }

# Scene A and the source net.
"$H" simulate -o a.tif --gt a_gt.tif --seed 1 --rows "$ROWS" --cols "$COLS" -q
"$H" split --truth a_gt.tif -o a --fraction 0.1 --seed 1 >/dev/null
t0=$(date +%s)
src=$("$H" cnn train a.tif --spec "$SPEC" --bands "$BANDS" --train a_train.tif --test a_test.tif \
    --allow-missing-classes --epochs "$SOURCE_EPOCHS" --seed 1 -o a.ckpt -q | oa)
echo "source net (scene A, 10% of its pixels, $SOURCE_EPOCHS epochs): OA $src ($(($(date +%s) - t0)) s)"

# Scene B with its own legend: the ground truth through ENVI, whose header
# carries the class names, relabelled byte by byte.
"$H" simulate -o b.tif --gt b_gt.tif --seed 2 --rows "$ROWS" --cols "$COLS" -q
"$H" convert --labels b_gt.tif -o b_gt16.dat >/dev/null
python3 - b_gt16.dat b6.dat <<'EOF'
import re, sys
src, dst = sys.argv[1], sys.argv[2]
hdr = open(src[:-4] + ".hdr").read()
dtype = int(re.search(r"data type\s*=\s*(\d+)", hdr).group(1))
size = {1: 1, 2: 2, 12: 2}[dtype]
data = open(src, "rb").read()
legend = {2: 1, 3: 1, 4: 1, 10: 2, 11: 2, 12: 2, 5: 3, 6: 3, 7: 3, 14: 4, 8: 5, 15: 6}
out = bytearray(len(data))
for i in range(0, len(data), size):
    v = int.from_bytes(data[i:i + size], "little")
    out[i:i + size] = legend.get(v, 0).to_bytes(size, "little")
open(dst, "wb").write(out)
names = ["Unlabelled", "Corn", "Soybean", "Grass", "Woods", "Hay", "Buildings"]
hdr = re.sub(r"classes\s*=\s*\d+", "classes = 7", hdr)
hdr = re.sub(r"class names\s*=\s*\{[^}]*\}", "class names = {" + ", ".join(names) + "}", hdr, flags=re.S)
hdr = re.sub(r"class lookup\s*=\s*\{[^}]*\}",
             "class lookup = {0, 0, 0, 255, 215, 0, 120, 60, 200, 140, 220, 90, 0, 110, 40, 230, 230, 110, 200, 60, 60}",
             hdr, flags=re.S)
open(dst[:-4] + ".hdr", "w").write(hdr)
EOF

: >runs.txt
for seed in $SEEDS; do
    "$H" split --truth b6.dat -o "b$seed" --count 5 --seed "$seed" >/dev/null
    common="b.tif --bands $BANDS --train b${seed}_train.tif --test b${seed}_test.tif --epochs $EPOCHS --seed $seed --validation-split 0 --patience 0 --augment $AUGMENT --allow-missing-classes -q"
    # shellcheck disable=SC2086 # common is a list of words
    scratch=$("$H" cnn train $common --spec "$SPEC" -o "scratch$seed.ckpt" | oa)
    # shellcheck disable=SC2086
    fine=$("$H" cnn train $common --init a.ckpt -o "fine$seed.ckpt" | oa)
    # shellcheck disable=SC2086
    frozen=$("$H" cnn train $common --init a.ckpt --freeze 1-8 -o "frozen$seed.ckpt" | oa)
    if [ -z "$scratch" ] || [ -z "$fine" ] || [ -z "$frozen" ]; then
        echo "cnn_transfer.sh: seed $seed: a run failed (scratch '$scratch', fine-tune '$fine', frozen '$frozen')" >&2
        exit 1
    fi
    echo "$seed $scratch $fine $frozen" >>runs.txt
    echo "seed $seed (5 training pixels per class): scratch OA $scratch, fine-tune OA $fine, frozen convolutions OA $frozen"
done
awk '{
    n++; s += $2; f += $3; z += $4
    d = 100 * ($3 - $2); e = 100 * ($4 - $2); sd += d; sdd += d * d; se += e; see += e * e
} END {
    md = sd / n; me = se / n
    ed = n > 1 ? sqrt((sdd - n * md * md) / (n - 1) / n) : 0
    ee = n > 1 ? sqrt((see - n * me * me) / (n - 1) / n) : 0
    printf "%d seeds: scratch OA %.2f%%, fine-tune %.2f%% (%+.2f points, standard error %.2f), frozen convolutions %.2f%% (%+.2f points, standard error %.2f)\n",
        n, 100 * s / n, 100 * f / n, md, ed, 100 * z / n, me, ee
}' runs.txt
