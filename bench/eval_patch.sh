#!/bin/sh
# eval_patch.sh - patch gather throughput of hsi (features/patch.c) against a
# numpy peer measured in the same run: random batches of 9 x 9 x B windows
# from an Indian Pines-sized cube (145 x 145 x 200, mirror borders), written
# in the CNN layout (N, 1, B, 9, 9). The peer pads the cube once (np.pad
# reflect, not counted) and gathers with one fancy-index expression plus a
# transpose into the same layout, into a float32 array.
#   bench/eval_patch.sh [BUILD_DIR]      (default: build)
set -eu
BUILD=${1:-build}
ROWS=145 COLS=145 BANDS=200 RADIUS=4 BATCH=256 REPEATS=200
PY=
for p in "${PYTHON3:-}" python3 /usr/bin/python3; do
  [ -n "$p" ] && "$p" -c 'import numpy' 2>/dev/null && { PY=$p; break; }
done
hsi_line=$("$BUILD/bench/eval_patch" $ROWS $COLS $BANDS $RADIUS $BATCH $REPEATS)
echo "$hsi_line"
hsi_rate=$(echo "$hsi_line" | sed -n 's/^gather: .*: \([0-9]*\) patches\/s.*/\1/p')
[ -n "$PY" ] || { echo "numpy peer: python3 with numpy not found"; exit 0; }
peer_rate=$("$PY" - $ROWS $COLS $BANDS $RADIUS $BATCH $REPEATS <<'EOF'
import sys, time, numpy as np
rows, cols, bands, r, batch, reps = map(int, sys.argv[1:])
rng = np.random.default_rng(1)
cube = rng.random((rows, cols, bands), dtype=np.float32)
pad = np.pad(cube, ((r, r), (r, r), (0, 0)), mode="reflect")
rr = rng.integers(0, rows, batch); cc = rng.integers(0, cols, batch)
off = np.arange(2 * r + 1)
iy = (rr[:, None] + off)[:, :, None]          # (N, S, 1)
ix = (cc[:, None] + off)[:, None, :]          # (N, 1, S)
def gather():
    w = pad[iy, ix]                           # (N, S, S, B)
    return np.ascontiguousarray(w.transpose(0, 3, 1, 2))[:, None]  # (N, 1, B, S, S)
gather()
t = time.perf_counter()
for _ in range(reps): out = gather()
dt = time.perf_counter() - t
print(f"{batch * reps / dt:.0f}")
EOF
)
echo "numpy peer (fancy indexing + transpose): $peer_rate patches/s"
echo "ratio hsi / numpy: $(awk -v a="$hsi_rate" -v b="$peer_rate" 'BEGIN { printf "%.2f", a / b }')"
