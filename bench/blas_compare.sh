#!/bin/sh
# blas_compare.sh - OpenBLAS vs BLIS under hsi's 3D-CNN and the SVM grid's
# kernel matrix, and oneDNN's convolution primitives against hsi's own, same
# run, alternating.
#
#   bench/blas_compare.sh [BUILD_DIR]     (default BUILD_DIR: the repo root)
#
# hsi links OpenBLAS (libopenblas.so.0; it also needs its LAPACKE), so BLIS
# cannot replace it through the libblas.so.3 alternative: it is preloaded
# instead (LD_PRELOAD=libblis.so.4), which puts BLIS's cblas_sgemm in front
# of OpenBLAS's; hsi --version then names BLIS as the BLAS (base/cpu.c asks
# which library its cblas_sgemm comes from). BLIS is Debian's libblis4-openmp
# (its OpenMP build: inside hsi's OpenMP regions its calls stay single-threaded
# like OpenBLAS's). No system install is needed: without it, this script takes
# the package's files from `apt-get download` + `dpkg -x` into BLIS_ROOT.
#
# For each BLAS, per round: sgemm 2048^3 (the peak), bench/cnn_throughput on
# the Lange net at 9x9x220, batch 50 (training and inference samples/s), and
# once bench/cnn_layers (per-layer times: the net's own sgemm shapes); and the
# SVM grid's Gram matrix (cnn_throughput --dsyrk: dsyrk of 2000 x 200 doubles,
# classifiers/svm_grid.c). Then, where Debian's libdnnl-dev is installed
# (apt-get install libdnnl-dev; skipped with a note otherwise), ROUNDS
# alternating runs of bench/onednn_conv.c (compiled here into a temporary
# directory) and bench/cnn_layers: the three Lange convolutions as oneDNN runs
# them (its preferred blocked layout, and the plain (N,C,D,H,W) layout hsi's
# other layers use) next to hsi's own passes.
# Environment: THREADS (default 2), STEPS (default 10), ROUNDS (default 3),
# BLIS_LIB (a libblis.so.4; default the installed or downloaded openmp build),
# BLIS_ROOT (where to unpack the package, default $HOME/.cache/hsi/blis).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT}" && pwd)
SPEC="$ROOT/cnn3d/specs/lange2018.cfg"
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-3}
OURS="$BUILD/bench/cnn_throughput"
LAYERS="$BUILD/bench/cnn_layers"
for p in "$OURS" "$LAYERS"; do
    [ -x "$p" ] || { echo "blas_compare: $p not built (make -C $BUILD ${p#"$BUILD"/})" >&2; exit 1; }
done
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS BLIS_NUM_THREADS=$THREADS

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLIS_ROOT=${BLIS_ROOT:-$HOME/.cache/hsi/blis}
if [ -z "${BLIS_LIB:-}" ]; then
    BLIS_LIB=/usr/lib/$MULTIARCH/blis-openmp/libblis.so.4
    if [ ! -f "$BLIS_LIB" ]; then
        BLIS_LIB=$BLIS_ROOT/usr/lib/$MULTIARCH/blis-openmp/libblis.so.4
        if [ ! -f "$BLIS_LIB" ]; then
            echo "# fetching Debian's libblis4-openmp into $BLIS_ROOT (apt-get download; no install)" >&2
            mkdir -p "$BLIS_ROOT/deb"
            (cd "$BLIS_ROOT/deb" && apt-get download libblis4-openmp >&2) ||
                { echo "blas_compare: cannot download libblis4-openmp; set BLIS_LIB" >&2; exit 1; }
            dpkg -x "$BLIS_ROOT"/deb/libblis4-openmp_*.deb "$BLIS_ROOT"
        fi
    fi
fi
[ -f "$BLIS_LIB" ] || { echo "blas_compare: $BLIS_LIB missing" >&2; exit 1; }

field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
# run BLAS command...: the command with that BLAS doing the sgemms
run() {
    b=$1; shift
    if [ "$b" = blis ]; then LD_PRELOAD="$BLIS_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@"; else "$@"; fi
}

echo "# BLAS comparison: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, THREADS=$THREADS STEPS=$STEPS ROUNDS=$ROUNDS"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in openblas blis; do echo "# $b: $(run $b "$OURS" --kernels)"; done
for b in openblas blis; do eval "pk_$b=''; tr_$b=''; in_$b=''; sy_$b=''"; done
for r in $(seq "$ROUNDS"); do
    for b in openblas blis; do
        pk=$(field sgemm_gflops "$(run $b "$OURS" --sgemm)")
        sy=$(field dsyrk_gflops "$(run $b "$OURS" --dsyrk)")
        line=$(run $b "$OURS" "$SPEC" 220 50 "$STEPS")
        t=$(field train_samples_per_s "$line"); i=$(field infer_samples_per_s "$line")
        eval "pk_$b=\"\$pk_$b $pk\"; tr_$b=\"\$tr_$b $t\"; in_$b=\"\$in_$b $i\"; sy_$b=\"\$sy_$b $sy\""
        printf 'round %s %-8s sgemm 2048^3 %6s GFLOP/s | dsyrk 2000x200 %6s GFLOP/s | Lange 9x9x220 batch 50: train %7s infer %7s samples/s\n' \
            "$r" "$b" "$pk" "$sy" "$t" "$i"
    done
done
m() { echo $1 | tr ' ' '\n' | median; }
for b in openblas blis; do
    eval "echo \"median $b: sgemm \$(m \"\$pk_$b\") GFLOP/s, dsyrk \$(m \"\$sy_$b\") GFLOP/s, train \$(m \"\$tr_$b\"), infer \$(m \"\$in_$b\") samples/s\""
done
for b in openblas blis; do
    echo "# per layer, $b (bench/cnn_layers $SPEC 220 50):"
    run $b "$LAYERS" "$SPEC" 220 50 5
done

# oneDNN's convolutions against hsi's, alternating.
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then
    TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
    cc -O2 -std=c11 "$ROOT/bench/onednn_conv.c" -o "$TMP/onednn_conv" -ldnnl
    for r in $(seq "$ROUNDS"); do
        echo "# round $r: oneDNN, preferred (blocked) layout"
        "$TMP/onednn_conv" 220 50 10
        echo "# round $r: oneDNN, plain (N,C,D,H,W) layout"
        ONEDNN_PLAIN=1 "$TMP/onednn_conv" 220 50 5
        echo "# round $r: hsi (OpenBLAS)"
        "$LAYERS" "$SPEC" 220 50 10 | grep -E 'conv3d|sum'
    done
else
    echo "# oneDNN: libdnnl-dev not installed (apt-get install libdnnl-dev), not compared"
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
