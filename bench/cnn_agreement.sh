#!/bin/sh
# cnn_agreement.sh - does hsi's training step do what PyTorch's does? Both
# engines start from the same weights (hsi cnn train --epochs 0) and see the
# same batches in the same order (bench/cnn_torch_reference.py --init replays
# hsi's shuffles); after E epochs the script prints how far apart their
# weights are, relative to how far training moved them:
#     rel = |w_hsi - w_torch| / |w_hsi - w_init|
# next to the same measure for PyTorch against itself started from weights
# perturbed by one part in a million (--perturb 1e-6): how fast this training
# amplifies a rounding-sized difference. Agreement at the first steps shows
# the same protocol; after a few dozen steps the two runs, like any two runs
# differing by rounding, are different runs (see bench/cnn_accuracy.sh).
#
#   bench/cnn_agreement.sh [BUILD_DIR]
#
# Environment: FRACTION (training share, default 0.02: about 200 pixels, 5
# batches of 50 per epoch), EPOCHS (default "1 2 4"), WORK (scratch).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT}" && pwd)
H="$BUILD/hsi"
PY=/usr/bin/python3
REF="$ROOT/bench/cnn_torch_reference.py"
FRACTION=${FRACTION:-0.02}
WORK=${WORK:-$(mktemp -d /tmp/cnn_agreement.XXXXXX)}
mkdir -p "$WORK" && cd "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
"$H" simulate -o scene.tif --gt gt.tif --seed 1 -q
"$H" convert scene.tif -o scene.dat >/dev/null
"$H" split gt.tif -o s --strategy random --fraction "$FRACTION" --seed 1 >/dev/null
"$H" convert --labels s_train.tif -o train.dat >/dev/null
"$H" cnn train scene.tif --spec "$ROOT/cnn3d/specs/lange2018.cfg" --train s_train.tif --epochs 0 -o init.ckpt -q
echo "# hsi vs PyTorch from the same initial weights and batches: $(date -u '+%Y-%m-%d %H:%M UTC'), in $WORK"
for e in ${EPOCHS:-1 2 4}; do
    "$H" cnn train scene.tif --resume init.ckpt --train s_train.tif --epochs "$e" -o "hsi$e.ckpt" -q
    # (The training pixels stand in for the test set: accuracy is not the point here.)
    "$PY" "$REF" scene.dat train.dat train.dat "$e" --init init.ckpt --save-params "torch$e.npy" >/dev/null
    "$PY" "$REF" scene.dat train.dat train.dat "$e" --init init.ckpt --perturb 1e-6 --save-params "pert$e.npy" >/dev/null
    "$PY" - "$REF" "$e" <<'PY'
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("ref", sys.argv[1])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)
e = sys.argv[2]
w0 = ref.read_hsi_checkpoint("init.ckpt")[0]
wh, _, _, _ = ref.read_hsi_checkpoint(f"hsi{e}.ckpt")
wt, wp = np.load(f"torch{e}.npy"), np.load(f"pert{e}.npy")
moved = np.linalg.norm(wt - w0)
n = int(np.count_nonzero(np.fromfile("train.dat", np.uint8)))
print(f"{e} epoch(s), {int(e) * -(-n // 50)} steps on {n} pixels: hsi vs torch rel {np.linalg.norm(wh - wt) / moved:.2e}"
      f" (max |dw| {np.abs(wh - wt).max():.1e}); torch vs torch from init x (1 + 1e-6 noise) rel"
      f" {np.linalg.norm(wp - wt) / moved:.2e}")
PY
done
