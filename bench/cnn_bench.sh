#!/bin/sh
# cnn_bench.sh - 3D-CNN throughput: hsi's engine vs the PyTorch CPU peer.
#
#   bench/cnn_bench.sh [BUILD_DIR]        (default BUILD_DIR: the repo root)
#
# For the Lange et al. network (cnn3d/specs/lange2018.cfg) at 9x9x220 and
# 9x9x200, batch 50, it runs in the same session, alternating:
#   hsi:     BUILD_DIR/bench/cnn_throughput SPEC BANDS 50 STEPS
#   PyTorch: /usr/bin/python3 ../shared/peers/torch_lange3dcnn.py BANDS 50 STEPS THREADS
# and prints training and inference samples/s, their ratios, and the GFLOP/s
# hsi reaches against the machine's sgemm peak (OpenBLAS, 2048^3, same threads).
# Environment: THREADS (default 2), STEPS (timed training steps, default 10),
# ROUNDS (repetitions, default 3; the median ratio is reported).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT}
BUILD=$(cd "$BUILD" && pwd)
PEER="$ROOT/../shared/peers/torch_lange3dcnn.py"
SPEC="$ROOT/cnn3d/specs/lange2018.cfg"
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
OURS="$BUILD/bench/cnn_throughput"
[ -x "$OURS" ] || { echo "cnn_bench: $OURS not built (make -C $BUILD bench/cnn_throughput)" >&2; exit 1; }
[ -f "$PEER" ] || { echo "cnn_bench: peer $PEER missing" >&2; exit 1; }
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

field() { # field NAME LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

echo "# 3D-CNN bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, THREADS=$THREADS STEPS=$STEPS ROUNDS=$ROUNDS"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
peak_line=$("$OURS" --sgemm)
PEAK=$(field sgemm_gflops "$peak_line")
echo "sgemm peak: $PEAK GFLOP/s ($peak_line)"

for bands in 220 200; do
    tr_ratios=""; in_ratios=""
    for r in $(seq "$ROUNDS"); do
        ours=$("$OURS" "$SPEC" "$bands" 50 "$STEPS")
        peer=$("$PY" "$PEER" "$bands" 50 "$STEPS" "$THREADS")
        ot=$(field train_samples_per_s "$ours"); oi=$(field infer_samples_per_s "$ours")
        pt=$(field train_samples_per_s "$peer"); pi=$(field infer_samples_per_s "$peer")
        tg=$(field train_gflops "$ours"); ig=$(field infer_gflops "$ours")
        rt=$(awk -v a="$ot" -v b="$pt" 'BEGIN {printf "%.2f", a / b}')
        ri=$(awk -v a="$oi" -v b="$pi" 'BEGIN {printf "%.2f", a / b}')
        tr_ratios="$tr_ratios $rt"; in_ratios="$in_ratios $ri"
        printf '9x9x%s round %s: train hsi %7s  torch %7s  ratio %5s | infer hsi %7s  torch %7s  ratio %5s | hsi GFLOP/s train %s (%s%% of peak) infer %s (%s%%)\n' \
            "$bands" "$r" "$ot" "$pt" "$rt" "$oi" "$pi" "$ri" "$tg" \
            "$(awk -v a="$tg" -v p="$PEAK" 'BEGIN {printf "%.0f", 100 * a / p}')" "$ig" \
            "$(awk -v a="$ig" -v p="$PEAK" 'BEGIN {printf "%.0f", 100 * a / p}')"
    done
    echo "9x9x$bands median ratio hsi/torch: train $(echo $tr_ratios | tr ' ' '\n' | median)x, infer $(echo $in_ratios | tr ' ' '\n' | median)x"
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
