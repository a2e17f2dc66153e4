#!/bin/sh
# cnn_bench.sh - 3D-CNN throughput: hsi's engine vs the strong CPU peers.
#
#   bench/cnn_bench.sh [BUILD_DIR]        (default BUILD_DIR: the repo root)
#
# For the Lange et al. network (cnn3d/specs/lange2018.cfg) at 9x9x220 and
# 9x9x200, batch 50, it runs in the same session, alternating in every round:
#   hsi:       BUILD_DIR/bench/cnn_throughput SPEC BANDS 50 STEPS
#              (and with HSI_CNN_PRECISION=bf16 where the CPU has AVX512_BF16)
#   Keras/TF:  VENV/bin/python ../shared/peers/keras_lange3dcnn.py BANDS 50 STEPS THREADS
#   PyTorch 2: VENV/bin/python ../shared/peers/torch_lange3dcnn.py BANDS 50 STEPS THREADS
#   PyTorch 1: /usr/bin/python3 (Debian's 1.13) with the same script, only
#              where /usr/bin/python3 imports torch
# and prints training and inference samples/s, the ratios hsi/Keras and
# hsi/PyTorch 2 (median over the rounds), and the GFLOP/s hsi reaches against
# the machine's sgemm peak (OpenBLAS, 2048^3, same threads). The header names
# the CPU, its ISA, the BLAS and its kernel set, and the peers' versions.
#
# The peers come from PyPI (tensorflow-cpu, torch, numpy) in a virtual
# environment outside the source tree, created on first use and reused:
#   HSI_PEERS_VENV (default $HOME/.cache/hsi/peers-venv)
# Environment: THREADS (default 2), STEPS (timed training steps, default 10),
# ROUNDS (repetitions, default 3), BANDS (default "220 200"; the net needs
# at least 22), PEERS_PIP_ARGS (extra pip install args),
#   WINO_AB=yes   also hsi with the spectral Winograd convs off
#                 (HSI_CNN_WINOGRAD=0: the depth-shift sgemms), as "hsi-shift"
#   ISA=avx2      every engine capped to AVX2 in the same run, to show an
#                 AVX2-class machine on an AVX-512 one: hsi's own kernels
#                 (HSI_CPU_ISA=avx2), OpenBLAS (OPENBLAS_CORETYPE=Haswell, hsi
#                 and the peers' numpy), oneDNN in TensorFlow and PyTorch
#                 (ONEDNN_MAX_CPU_ISA=AVX2, and DNNL_MAX_CPU_ISA for older
#                 oneDNN), PyTorch's own kernels (ATEN_CPU_CAPABILITY=avx2).
#                 TensorFlow's Eigen kernels are fixed at its build and are
#                 not capped. ISA=native (the default) caps nothing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT}
BUILD=$(cd "$BUILD" && pwd)
PEERS="$ROOT/../shared/peers"
SPEC="$ROOT/cnn3d/specs/lange2018.cfg"
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-3}
BANDS=${BANDS:-220 200}
WINO_AB=${WINO_AB:-no}
ISA=${ISA:-native}
case $ISA in
native) CAP="" ;;
avx2) CAP="HSI_CPU_ISA=avx2 OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2" ;;
*) echo "cnn_bench: ISA=$ISA: use avx2 or native" >&2; exit 2 ;;
esac
VENV=${HSI_PEERS_VENV:-$HOME/.cache/hsi/peers-venv}
OURS="$BUILD/bench/cnn_throughput"
[ -x "$OURS" ] || { echo "cnn_bench: $OURS not built (make -C $BUILD bench/cnn_throughput)" >&2; exit 1; }
for p in keras_lange3dcnn.py torch_lange3dcnn.py; do
    [ -f "$PEERS/$p" ] || { echo "cnn_bench: peer $PEERS/$p missing" >&2; exit 1; }
done
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

# The peers' virtual environment: reused when it imports all three; else
# created under a lock (a second bench waits for no install: it stops).
IMPORTS='import numpy, torch, tensorflow, keras'
peers_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$IMPORTS" >/dev/null 2>&1; then return 0; fi
    mkdir -p "$(dirname "$VENV")"
    if ! mkdir "$VENV.lock" 2>/dev/null; then
        echo "cnn_bench: $VENV is being created by another process ($VENV.lock exists; remove it if none is)" >&2
        exit 1
    fi
    trap 'rmdir "$VENV.lock" 2>/dev/null' EXIT
    echo "# creating the peers' virtual environment $VENV (tensorflow-cpu, torch, numpy from PyPI)" >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    # shellcheck disable=SC2086 # PEERS_PIP_ARGS is a list of words
    "$VENV/bin/python" -m pip install --quiet ${PEERS_PIP_ARGS:-} tensorflow-cpu torch numpy >&2
    "$VENV/bin/python" -c "$IMPORTS" || { echo "cnn_bench: $VENV does not import $IMPORTS" >&2; exit 1; }
    rmdir "$VENV.lock"; trap - EXIT
}
peers_venv
VPY="$VENV/bin/python"
DEBIAN_TORCH=no
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then DEBIAN_TORCH=yes; fi

# The peers (numpy, TensorFlow, PyTorch) bring their own BLAS and oneDNN:
# OpenBLAS settings meant for hsi (a forced kernel set, a cache size) must not
# reach them.
ERR=$(mktemp); trap 'rm -f "$ERR"' EXIT
# Under ISA=avx2 the cap goes to every engine (env $CAP after the unset).
# shellcheck disable=SC2086 # CAP is a list of assignments
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE TF_CPP_MIN_LOG_LEVEL=2 $CAP "$@" 2>"$ERR" | tail -1; }
# shellcheck disable=SC2086
ours() { env $CAP "$@"; }
no_result() { echo "cnn_bench: $1 gave no result: $(tail -3 "$ERR")" >&2; exit 1; }
field() { # field NAME LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
median() { sort -g | awk '{v[NR]=$1} END {printf "%.2f\n", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "nan"}'; }
pct() { awk -v a="$1" -v p="$2" 'BEGIN {printf "%.0f", 100 * a / p}'; }

echo "# 3D-CNN bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, THREADS=$THREADS STEPS=$STEPS ROUNDS=$ROUNDS"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$CAP" ]; then
    echo "# ISA cap: $ISA for every engine: $CAP"
else
    echo "# ISA cap: none (each engine uses what the CPU has)"
fi
echo "# hsi: $(ours "$OURS" --kernels)"
[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ] &&
    echo "# environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-} (hsi only; unset for the peers)"
echo "# peers: $(peer "$VPY" -c 'import tensorflow as tf, keras, torch, numpy; print(f"TensorFlow {tf.__version__} (oneDNN), Keras {keras.__version__}, PyTorch {torch.__version__}, numpy {numpy.__version__}; venv '"$VENV"'")')"
if [ $DEBIAN_TORCH = yes ]; then
    echo "# fourth column: Debian PyTorch $(peer /usr/bin/python3 -c 'import torch; print(torch.__version__)')"
else
    echo "# no Debian PyTorch (/usr/bin/python3 does not import torch): three columns"
fi
# hsi's --precision bf16 (bf16 GEMM operands, fp32 accumulation and master
# weights) runs as a second hsi column where the CPU has AVX512_BF16.
BF16=no
ours "$OURS" --kernels | grep -q 'bf16 gemm avx512-bf16' && BF16=yes
peak_line=$(ours "$OURS" --sgemm)
PEAK=$(field sgemm_gflops "$peak_line")
echo "sgemm peak: $PEAK GFLOP/s ($peak_line)"

for bands in $BANDS; do
    rk_t=""; rk_i=""; rt_t=""; rt_i=""; r1_t=""; r1_i=""; bk_t=""; bk_i=""; bt_t=""; bt_i=""
    ws_t=""; ws_i=""
    for r in $(seq "$ROUNDS"); do
        ours=$(ours "$OURS" "$SPEC" "$bands" 50 "$STEPS")
        keras=$(peer "$VPY" "$PEERS/keras_lange3dcnn.py" "$bands" 50 "$STEPS" "$THREADS")
        torch2=$(peer "$VPY" "$PEERS/torch_lange3dcnn.py" "$bands" 50 "$STEPS" "$THREADS")
        ot=$(field train_samples_per_s "$ours"); oi=$(field infer_samples_per_s "$ours")
        kt=$(field train_samples_per_s "$keras"); ki=$(field infer_samples_per_s "$keras")
        tt=$(field train_samples_per_s "$torch2"); ti=$(field infer_samples_per_s "$torch2")
        tg=$(field train_gflops "$ours"); ig=$(field infer_gflops "$ours")
        [ -n "$kt" ] || no_result "Keras peer"
        [ -n "$tt" ] || no_result "PyTorch 2 peer"
        rk_t="$rk_t $(ratio "$ot" "$kt")"; rk_i="$rk_i $(ratio "$oi" "$ki")"
        rt_t="$rt_t $(ratio "$ot" "$tt")"; rt_i="$rt_i $(ratio "$oi" "$ti")"
        bf=""
        if [ $BF16 = yes ]; then
            oursb=$(ours HSI_CNN_PRECISION=bf16 "$OURS" "$SPEC" "$bands" 50 "$STEPS")
            bt=$(field train_samples_per_s "$oursb"); bi=$(field infer_samples_per_s "$oursb")
            bk_t="$bk_t $(ratio "$bt" "$kt")"; bk_i="$bk_i $(ratio "$bi" "$ki")"
            bt_t="$bt_t $(ratio "$bt" "$tt")"; bt_i="$bt_i $(ratio "$bi" "$ti")"
            bf=$(printf ' hsi-bf16 %7s/%-7s' "$bt" "$bi")
        fi
        sh=""
        if [ "$WINO_AB" = yes ]; then
            # Winograd on/off: CPU ms per step and per 100-sample inference
            # batch too (train_cpu_ms, infer_cpu_ms), for a loaded machine.
            ourss=$(ours HSI_CNN_WINOGRAD=0 "$OURS" "$SPEC" "$bands" 50 "$STEPS")
            st=$(field train_samples_per_s "$ourss"); si=$(field infer_samples_per_s "$ourss")
            ws_t="$ws_t $(ratio "$ot" "$st")"; ws_i="$ws_i $(ratio "$oi" "$si")"
            sh=$(printf ' hsi-shift %7s/%-7s (cpu ms/step %s vs %s, /infer batch %s vs %s)' "$st" "$si" \
                "$(field train_cpu_ms "$ours")" "$(field train_cpu_ms "$ourss")" \
                "$(field infer_cpu_ms "$ours")" "$(field infer_cpu_ms "$ourss")")
        fi
        old=""
        if [ $DEBIAN_TORCH = yes ]; then
            torch1=$(peer /usr/bin/python3 "$PEERS/torch_lange3dcnn.py" "$bands" 50 "$STEPS" "$THREADS")
            t1t=$(field train_samples_per_s "$torch1"); t1i=$(field infer_samples_per_s "$torch1")
            [ -n "$t1t" ] || no_result "Debian PyTorch peer"
            r1_t="$r1_t $(ratio "$ot" "$t1t")"; r1_i="$r1_i $(ratio "$oi" "$t1i")"
            old=$(printf ' torch1.13 %7s/%-7s' "$t1t" "$t1i")
        fi
        printf '9x9x%s round %s train/infer samples/s: hsi %7s/%-7s%s%s keras %7s/%-7s torch2 %7s/%-7s%s | hsi GFLOP/s train %s (%s%% of peak) infer %s (%s%%)\n' \
            "$bands" "$r" "$ot" "$oi" "$bf" "$sh" "$kt" "$ki" "$tt" "$ti" "$old" \
            "$tg" "$(pct "$tg" "$PEAK")" "$ig" "$(pct "$ig" "$PEAK")"
    done
    m() { echo $1 | tr ' ' '\n' | median; }
    old=""
    [ $DEBIAN_TORCH = no ] || old="; hsi/PyTorch1.13 train $(m "$r1_t")x infer $(m "$r1_i")x"
    echo "9x9x$bands median ratios: hsi/Keras train $(m "$rk_t")x infer $(m "$rk_i")x;" \
        "hsi/PyTorch2 train $(m "$rt_t")x infer $(m "$rt_i")x$old"
    [ "$WINO_AB" = no ] || echo "9x9x$bands median ratios, Winograd on/off: train $(m "$ws_t")x infer $(m "$ws_i")x"
    [ $BF16 = no ] || echo "9x9x$bands median ratios, hsi --precision bf16: hsi/Keras train $(m "$bk_t")x" \
        "infer $(m "$bk_i")x; hsi/PyTorch2 train $(m "$bt_t")x infer $(m "$bt_i")x"
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
