#!/bin/sh
# rnn_bench.sh - the spectral GRU of cnn3d/specs/mou2017_rnn.cfg: hsi's
# engine vs PyTorch's nn.GRU (oneDNN / its own RNN kernels) on the CPU.
#
#   bench/rnn_bench.sh [BUILD_DIR]        (default BUILD_DIR: the repo root)
#
# Per round, alternating:
#   hsi:      BUILD_DIR/bench/cnn_throughput cnn3d/specs/mou2017_rnn.cfg BANDS BATCH STEPS 16
#   PyTorch:  VENV/bin/python bench/rnn_torch_peer.py BANDS BATCH STEPS THREADS 64 gru
# and prints both lines and the median ratios hsi/PyTorch of training and
# inference samples/s. The same network: GRU(1, 64) over BANDS steps, its
# last state into Linear(64, 16); Adam; cross-entropy.
#
# Environment: THREADS (default 2), BANDS (default 200), BATCH (default 64),
# STEPS (timed training steps, default 20), ROUNDS (default 3),
# HSI_PEERS_VENV (default $HOME/.cache/hsi/peers-venv; needs torch, as
# bench/cnn_bench.sh installs it).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT}
BUILD=$(cd "$BUILD" && pwd)
THREADS=${THREADS:-2}
BANDS=${BANDS:-200}
BATCH=${BATCH:-64}
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-3}
VENV=${HSI_PEERS_VENV:-$HOME/.cache/hsi/peers-venv}
OURS="$BUILD/bench/cnn_throughput"
SPEC="$ROOT/cnn3d/specs/mou2017_rnn.cfg"
[ -x "$OURS" ] || { echo "rnn_bench: $OURS not built (make -C $BUILD bench/cnn_throughput)" >&2; exit 1; }
"$VENV/bin/python" -c 'import torch' 2>/dev/null ||
    { echo "rnn_bench: $VENV/bin/python does not import torch (run bench/cnn_bench.sh once, or set HSI_PEERS_VENV)" >&2; exit 1; }
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# rnn_bench: GRU(1, 64) + Linear(64, 16), bands $BANDS, batch $BATCH, $THREADS threads, $ROUNDS rounds"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    o=$("$OURS" "$SPEC" "$BANDS" "$BATCH" "$STEPS" 16)
    p=$("$VENV/bin/python" "$ROOT/bench/rnn_torch_peer.py" "$BANDS" "$BATCH" "$STEPS" "$THREADS" 64 gru)
    echo "hsi:     $o"
    echo "pytorch: $p"
    tr=$(awk -v a="$(echo "$o" | field train_samples_per_s)" -v b="$(echo "$p" | field train_samples_per_s)" 'BEGIN { printf "%.3f", a / b }')
    ir=$(awk -v a="$(echo "$o" | field infer_samples_per_s)" -v b="$(echo "$p" | field infer_samples_per_s)" 'BEGIN { printf "%.3f", a / b }')
    echo "$tr" >>"$tmp/train"
    echo "$ir" >>"$tmp/infer"
    r=$((r + 1))
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median hsi/pytorch: training $(median "$tmp/train")x, inference $(median "$tmp/infer")x"
