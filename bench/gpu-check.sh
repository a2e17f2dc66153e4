#!/bin/sh
# gpu-check.sh - everything the CUDA + cuDNN backend needs a GPU for, in one
# run of at most 8 minutes (GPU_CHECK_BUDGET seconds, default 480):
#
#   bench/gpu-check.sh OUTDIR [BUILD_DIR]
#
# OUTDIR gets the report only; the build and the scratch files go to
# GPU_CHECK_WORK (default OUTDIR/work), e.g. a local disk when OUTDIR is
# copied back from a remote machine. GPU_CHECK_BUNDLE=FILE.tar.xz runs the
# prebuilt hsi of bench/gpu-bundle.sh instead of building: for a GPU
# machine with CUDA and cuDNN but without GDAL, OpenBLAS and the rest.
#
#  1. the GPU: nvidia-smi's name, driver, memory and compute capability; no
#     GPU (or no nvidia-smi) says so in OUTDIR/gpu-check.md and exits 3;
#  2. a CUDA build, unless GPU_CHECK_BUNDLE or BUILD_DIR gives one
#     (autoreconf where configure is absent; configure
#     --with-cuda; make -j all cores) in GPU_CHECK_WORK/build, for this
#     GPU's architecture only (CUDA_ARCHS, to save
#     minutes; the default build is a fat binary), unless BUILD_DIR is given
#     (an existing CUDA build: nothing is built);
#  3. the consistency tests: tests/test_cnn_device and tests/test_cnn_cuda
#     (every primitive CPU vs GPU, 20 Lange steps, --deterministic
#     bit-identical, checkpoints across devices, out of memory);
#  4. end to end: hsi simulate a 72 x 72 scene, hsi cnn train --device cuda
#     and --device cpu (5 epochs, same seed), predict on the GPU, eval on
#     both: the accuracies side by side;
#  5. throughput, Lange net at 9x9x220 and 9x9x200, batch 50 and 512:
#     training and inference samples/s of hsi --device cuda (bench/cnn_throughput),
#     PyTorch on cuda (bench/torch_lange3dcnn_gpu.py: cuDNN autotuner, TF32
#     off) and Keras on the GPU (bench/keras_lange3dcnn_gpu.py: on TensorFlow,
#     else on JAX; Keras itself from GPU_CHECK_WHEELS, default ROOT/.whl, of
#     bench/gpu-peer-wheels.sh where the python lacks it), each where this
#     machine's python has it: a missing peer is reported in the table, not a
#     failure. PYTHON (default: the first of python3 and
#     $HOME/.cache/hsi/peers-venv/bin/python that imports torch or tensorflow).
#  6. the data path (after the throughput table, which matters more, in
#     case the budget runs out): hsi cnn train on a 145 x 145 x 220 scene
#     with the training windows held on the GPU and uploaded every step
#     (HSI_CNN_RESIDENT=1 / 0; the steady epoch's samples/s), and hsi cnn
#     predict on a 512 x 512 x 220 scene with the windows gathered on the
#     GPU and on the host (wall time).
#
# Writes OUTDIR/gpu-check.md (the table and the facts, for bench/RESULTS.md)
# and OUTDIR/gpu-check.log (every command's output). Exit 0: all ran and the
# tests passed; 1: a test or the build failed; 3: no usable GPU.
set -u
[ $# -ge 1 ] || { echo "usage: bench/gpu-check.sh OUTDIR [BUILD_DIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
BUDGET=${GPU_CHECK_BUDGET:-480}
START=$(date +%s)
MD="$OUT/gpu-check.md"
LOG="$OUT/gpu-check.log"
: >"$LOG"
WORK=${GPU_CHECK_WORK:-$OUT/work}
mkdir -p "$WORK" || exit 2
WORK=$(cd "$WORK" && pwd)
JOBS=$(nproc 2>/dev/null || echo 4)
left() { echo $((BUDGET - ($(date +%s) - START))); }
say() { echo "$*"; echo "$*" >>"$LOG"; }
md() { echo "$*" >>"$MD"; }
# run LIMIT_S CMD...: with a time limit (never past the budget), output to the log.
run() {
    lim=$1; shift
    l=$(left)
    [ "$l" -gt 5 ] || { echo "(skipped: the ${BUDGET} s budget is spent) $*" >>"$LOG"; return 124; }
    [ "$lim" -le "$l" ] || lim=$l
    echo "\$ $* (limit ${lim} s)" >>"$LOG"
    timeout -k 5 "$lim" "$@" >>"$LOG" 2>&1
}
# capture LIMIT_S CMD...: as run, the last line of stdout echoed.
capture() {
    lim=$1; shift
    l=$(left)
    [ "$l" -gt 5 ] || { echo "(skipped: budget spent) $*" >>"$LOG"; return 124; }
    [ "$lim" -le "$l" ] || lim=$l
    echo "\$ $* (limit ${lim} s)" >>"$LOG"
    timeout -k 5 "$lim" "$@" >"$WORK/.last" 2>>"$LOG"
    rc=$?
    cat "$WORK/.last" >>"$LOG"
    tail -1 "$WORK/.last"
    return $rc
}
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | tr -d '"'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "" && b != "" && b > 0) printf "%.2fx", a / b; else print "-"}'; }

{
    echo "# GPU check: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $JOBS cores"
    echo
    echo "Source: $(cd "$ROOT" && git log -1 --format='%h %s' 2>/dev/null || echo "$ROOT")"
    echo
} >"$MD"

# ---------------------------------------------------------------- 1. the GPU
GPU=""
if command -v nvidia-smi >/dev/null 2>&1; then
    GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>>"$LOG" | head -1)
fi
if [ -z "$GPU" ]; then
    why="no NVIDIA GPU: nvidia-smi is missing or lists no device"
    command -v nvidia-smi >/dev/null 2>&1 && why="no NVIDIA GPU: nvidia-smi lists no device ($(nvidia-smi -L 2>&1 | head -1))"
    say "gpu-check: $why; nothing measured"
    md "**No GPU**: $why. Nothing was built or measured; no GPU figures exist from this run."
    exit 3
fi
CAP=$(echo "$GPU" | awk -F', ' '{print $4}' | tr -d '.')
say "gpu-check: GPU $GPU"
md "GPU: $GPU (name, driver, memory, compute capability; nvidia-smi)"
md

# ---------------------------------------------------------------- 2. the build
FAILED=0
# The peers (python) run with this machine's own library path: the bundle's
# older copies of libssl, libz, ... must not shadow the ones PyTorch loads.
PEER_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
if [ -n "${GPU_CHECK_BUNDLE:-}" ]; then
    # A prebuilt hsi (bench/gpu-bundle.sh) with the libraries this machine
    # lacks; CUDA's own come from this machine: cudart and cuBLAS from its
    # toolkit, cuDNN wherever it is (a wheel beside PyTorch, say).
    BUILD="$WORK/bundle"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    # tar needs the xz program for .xz, which a bare image may lack; Python's
    # tarfile reads it alone.
    if command -v xz >/dev/null 2>&1; then
        unpack() { tar -C "$BUILD" -xJf "$GPU_CHECK_BUNDLE"; }
    else
        unpack() { python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$GPU_CHECK_BUNDLE" "$BUILD"; }
    fi
    if ! unpack >>"$LOG" 2>&1; then
        say "gpu-check: cannot unpack $GPU_CHECK_BUNDLE"
        md "**Bundle failed**: cannot unpack $GPU_CHECK_BUNDLE (see gpu-check.log)"
        exit 1
    fi
    CUDA_DIRS=""
    for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
        f=""
        for top in /usr/local/cuda/lib64 /usr/local/cuda /usr/local/nvidia /usr/lib /opt /usr/local/lib; do
            [ -d "$top" ] || continue
            f=$(find "$top" -name "$lib" -print -quit 2>/dev/null)
            [ -n "$f" ] && break
        done
        if [ -n "$f" ]; then
            case ":$CUDA_DIRS:" in *":$(dirname "$f"):"*) ;; *) CUDA_DIRS="$CUDA_DIRS:$(dirname "$f")" ;; esac
        else
            say "gpu-check: $lib not found on this machine"
        fi
    done
    LD_LIBRARY_PATH="$BUILD/.libs:$BUILD/lib$CUDA_DIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    PROJ_DATA="$BUILD/share/proj"
    PROJ_LIB="$PROJ_DATA"
    GDAL_DATA="$BUILD/share/gdal"
    export LD_LIBRARY_PATH PROJ_DATA PROJ_LIB GDAL_DATA
    say "gpu-check: bundle $(head -1 "$BUILD/BUNDLE" 2>/dev/null); CUDA libraries from ${CUDA_DIRS#:}"
    md "Bundle (bench/gpu-bundle.sh): $(tr '\n' ' ' <"$BUILD/BUNDLE" 2>/dev/null)"
    md
    md "This machine's CUDA libraries: ${CUDA_DIRS#:}; $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), $(ldd --version 2>/dev/null | head -1)"
    md
    if ! "$BUILD/hsi" --version >>"$LOG" 2>&1; then
        say "gpu-check: the bundle's hsi does not run here (see $LOG)"
        md "**The bundle's hsi does not run here:**"
        md '```'
        { "$BUILD/hsi" --version 2>&1 | head -5; ldd "$BUILD/hsi" "$BUILD/.libs/hsi_cuda.so" 2>&1 | grep -E "not found|version|:$"; } >>"$MD"
        md '```'
        exit 1
    fi
elif [ $# -ge 2 ]; then
    BUILD=$(cd "$2" && pwd)
    say "gpu-check: using the build in $BUILD"
else
    BUILD="$WORK/build"
    mkdir -p "$BUILD"
    t0=$(date +%s)
    if [ ! -x "$ROOT/configure" ]; then
        say "gpu-check: autoreconf (no configure in the source tree)"
        (cd "$ROOT" && run 120 autoreconf -fi) || { say "gpu-check: autoreconf failed (see $LOG)"; md "**Build failed**: autoreconf (autotools missing?)"; exit 1; }
    fi
    say "gpu-check: configure --with-cuda CUDA_ARCHS=$CAP, make -j$JOBS"
    if ! (cd "$BUILD" && run 180 "$ROOT/configure" --with-cuda CUDA_ARCHS="$CAP" NVCCFLAGS=) ||
        ! (cd "$BUILD" && run 300 make -j"$JOBS" hsi hsi_cuda.la bench/cnn_throughput tests/test_cnn_device tests/test_cnn_cuda); then
        say "gpu-check: the build failed (see $LOG)"
        md "**Build failed** after $(( $(date +%s) - t0 )) s: see gpu-check.log (its last lines:)"
        md '```'
        tail -15 "$LOG" >>"$MD"
        md '```'
        exit 1
    fi
    say "gpu-check: built in $(( $(date +%s) - t0 )) s"
fi
HSI="$BUILD/hsi"
# The CUDA backend is the module hsi_cuda.so, loaded on demand: every run
# below (hsi, the tests, cnn_throughput) takes this build's one.
HSI_CUDA_MODULE="$BUILD/.libs/hsi_cuda.so"
export HSI_CUDA_MODULE
[ -f "$HSI_CUDA_MODULE" ] || say "gpu-check: $HSI_CUDA_MODULE is missing (not a CUDA build?)"
VERSION=$("$HSI" --version 2>&1 | tr '\n' ' ' | sed 's/ *$//')
md "hsi: $VERSION"
md
case $VERSION in
*"cuda not loadable"*)
    # Nothing below can measure the GPU: say why, with what the loader
    # misses and where this machine keeps CUDA's libraries, and stop.
    say "gpu-check: the CUDA module does not load (see $MD)"
    md "**The CUDA backend does not load here**, so nothing was measured on the GPU. What the loader misses:"
    md '```'
    ldd "$HSI_CUDA_MODULE" 2>&1 | grep -E "not found|version" >>"$MD"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >>"$MD"
    find /usr/local/cuda /usr/lib /opt /usr/local/lib -name 'libcudnn.so*' -o -name 'libcublas.so*' -o -name 'libcudart.so*' 2>/dev/null | head -12 >>"$MD"
    md '```'
    exit 1
    ;;
esac

# ---------------------------------------------------------------- 3. consistency
md "## Consistency (CPU backend vs CUDA backend, TF32 off)"
md
for t in test_cnn_device test_cnn_cuda; do
    HSI_SRCDIR="$ROOT" HSI_BUILDDIR="$BUILD" run 150 "$BUILD/tests/$t"
    rc=$?
    case $rc in
    0) verdict=PASS ;;
    77) verdict="SKIP ($(grep '^SKIP' "$LOG" | tail -1))" ;;
    124 | 137) verdict="TIMEOUT"; FAILED=1 ;;
    *) verdict="FAIL (exit $rc)"; FAILED=1 ;;
    esac
    say "gpu-check: $t: $verdict"
    md "- tests/$t: $verdict"
    [ $rc = 0 ] || [ $rc = 77 ] || { md '```'; grep -E 'CHECK failed|failed|error' "$LOG" | tail -12 >>"$MD"; md '```'; }
done
grep -E '^(GPU: |lange net)' "$LOG" | sed 's/^/  - /' >>"$MD"
md

# ---------------------------------------------------------------- 4. end to end
md "## End to end: hsi cnn train / predict / eval"
md
W="$WORK/e2e"
mkdir -p "$W"
if run 30 "$HSI" simulate -o "$W/scene.tif" --rows 72 --cols 72 &&
    run 30 "$HSI" split --truth "$W/scene_gt.tif" -o "$W/split" --fraction 0.3 --seed 1; then
    for dev in cuda cpu; do
        s=$(date +%s)
        if run 120 "$HSI" cnn train "$W/scene.tif" --spec "$ROOT/cnn3d/specs/lange2018.cfg" \
            --train "$W/split_train.tif" --allow-missing-classes --epochs 5 --batch 50 --seed 1 --device $dev \
            -q -o "$W/$dev.ckpt"; then
            e=$(( $(date +%s) - s ))
            acc=""
            run 60 "$HSI" cnn eval "$W/scene.tif" -m "$W/$dev.ckpt" --test "$W/split_test.tif" \
                --device $dev -q --json "$W/$dev.json" &&
                acc=$(tr ',' '\n' <"$W/$dev.json" | grep -m1 '"overall_accuracy"' | sed 's/.*: *//')
            md "- train --device $dev (5 epochs, seed 1): ${e} s; eval --device $dev overall accuracy ${acc:-?}"
        else
            md "- train --device $dev: FAILED (see gpu-check.log)"
            FAILED=1
        fi
    done
    if [ -f "$W/cpu.ckpt" ] && run 60 "$HSI" cnn predict "$W/scene.tif" -m "$W/cpu.ckpt" --device cuda -q -o "$W/map_gpu.tif" &&
        run 60 "$HSI" cnn predict "$W/scene.tif" -m "$W/cpu.ckpt" --device cpu -q -o "$W/map_cpu.tif"; then
        same=$(cmp -s "$W/map_gpu.tif" "$W/map_cpu.tif" && echo "identical files" || echo "files differ (float rounding near class ties)")
        md "- predict the CPU-trained model on the GPU and on the CPU: $same"
    else
        md "- predict across devices: FAILED (see gpu-check.log)"
        FAILED=1
    fi
else
    md "- could not make the scene (hsi simulate / split failed: see gpu-check.log)"
fi
md

# ---------------------------------------------------------------- 5. throughput
# Peers: the first python that imports torch or tensorflow.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    # HOME may be unset where commands are run bare; under set -u a plain $HOME
    # would end the script here, after the tests and before the table.
    for p in python3 "${HOME:-/root}/.cache/hsi/peers-venv/bin/python"; do
        if command -v "$p" >/dev/null 2>&1 && env LD_LIBRARY_PATH="$PEER_LD_LIBRARY_PATH" "$p" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("torch") or u.find_spec("tensorflow")))' 2>/dev/null; then
            PY=$p
            break
        fi
    done
fi
[ -n "$PY" ] || PY=python3
# Keras where this python lacks it: the wheels carried along
# (bench/gpu-peer-wheels.sh), installed into the work folder; without
# TensorFlow the Keras peer then runs on JAX.
WHEELS=${GPU_CHECK_WHEELS:-$ROOT/.whl}
PEER_PYTHONPATH=${PYTHONPATH:-}
if ! env LD_LIBRARY_PATH="$PEER_LD_LIBRARY_PATH" "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("keras") is None)' 2>/dev/null &&
    ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    if run 60 env LD_LIBRARY_PATH="$PEER_LD_LIBRARY_PATH" "$PY" -m pip install -q --no-index --no-deps \
        --no-compile --no-cache-dir --target "$WORK/site" "$WHEELS"/*.whl; then
        PEER_PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
        say "gpu-check: Keras from the carried wheels: $(cd "$WHEELS" && ls *.whl | tr '\n' ' ')"
    else
        say "gpu-check: the carried wheels in $WHEELS did not install (see $LOG)"
    fi
fi
md "## Throughput, Lange net (samples/s; FP32, TF32 off everywhere)"
md
md "hsi: bench/cnn_throughput with HSI_CNN_DEVICE=cuda; PyTorch: bench/torch_lange3dcnn_gpu.py; Keras: bench/keras_lange3dcnn_gpu.py; python: $PY."
md "Training: timed steps after warm-up (batch 50: 50 steps, batch 512: 20), the batch resident on the GPU for all three (as hsi cnn train holds its windows there; each hsi step's loss read back while the next runs); inference: 5 batches of the same size, outputs copied to the host."
md
md "| input | batch | hsi train | PyTorch train | Keras train | hsi/PyTorch | hsi/Keras | hsi infer | PyTorch infer | Keras infer | hsi/PyTorch | hsi/Keras |"
md "|---|---|---|---|---|---|---|---|---|---|---|---|"
TORCH_NOTE=""
KERAS_NOTE=""
for bands in 220 200; do
    for batch in 50 512; do
        steps=50
        [ "$batch" -lt 512 ] || steps=20
        h=$(HSI_CNN_DEVICE=cuda HSI_CNN_INFER_BATCH=$batch capture 60 "$BUILD/bench/cnn_throughput" "$ROOT/cnn3d/specs/lange2018.cfg" "$bands" "$batch" "$steps")
        ht=$(field train_samples_per_s "$h"); hi=$(field infer_samples_per_s "$h")
        [ -n "$ht" ] || FAILED=1
        tt=""; ti=""; kt=""; ki=""
        if [ -z "$TORCH_NOTE" ]; then
            p=$(capture 90 env LD_LIBRARY_PATH="$PEER_LD_LIBRARY_PATH" "$PY" "$ROOT/bench/torch_lange3dcnn_gpu.py" "$bands" "$batch" "$steps" --device cuda)
            rc=$?
            tt=$(field train_samples_per_s "$p"); ti=$(field infer_samples_per_s "$p")
            [ $rc = 3 ] && TORCH_NOTE="PyTorch not measured: $(grep '^torch_lange3dcnn_gpu:' "$LOG" | tail -1)"
            [ -n "$tt" ] && [ -z "${TORCH_VER:-}" ] && TORCH_VER="PyTorch $(field torch "$p"), cuDNN $(field cudnn "$p")"
        fi
        if [ -z "$KERAS_NOTE" ]; then
            k=$(capture 120 env LD_LIBRARY_PATH="$PEER_LD_LIBRARY_PATH" PYTHONPATH="$PEER_PYTHONPATH" "$PY" "$ROOT/bench/keras_lange3dcnn_gpu.py" "$bands" "$batch" "$steps")
            rc=$?
            kt=$(field train_samples_per_s "$k"); ki=$(field infer_samples_per_s "$k")
            [ $rc = 3 ] && KERAS_NOTE="Keras not measured: $(grep '^keras_lange3dcnn_gpu:' "$LOG" | tail -1)"
            if [ -n "$kt" ] && [ -z "${TF_VER:-}" ]; then
                if [ "$(field backend "$k")" = jax ]; then
                    TF_VER="Keras $(field keras "$k") on JAX $(field jax "$k") (XLA; this machine has no TensorFlow)"
                else
                    TF_VER="Keras $(field keras "$k") on TensorFlow $(field tf "$k")"
                fi
            fi
        fi
        say "gpu-check: 9x9x$bands batch $batch: hsi ${ht:--}/${hi:--} torch ${tt:--}/${ti:--} keras ${kt:--}/${ki:--}"
        md "| 9x9x$bands | $batch | ${ht:--} | ${tt:--} | ${kt:--} | $(ratio "$ht" "$tt") | $(ratio "$ht" "$kt") | ${hi:--} | ${ti:--} | ${ki:--} | $(ratio "$hi" "$ti") | $(ratio "$hi" "$ki") |"
    done
done
md
[ -n "${HSI_DEV:-}" ] || HSI_DEV=$(grep -m1 -o 'device="[^"]*"' "$LOG" | sed 's/device=//; s/"//g')
md "- hsi device: ${HSI_DEV:-?}"
md "- ${TORCH_NOTE:-${TORCH_VER:-PyTorch: no result (see gpu-check.log)}}"
md "- ${KERAS_NOTE:-${TF_VER:-Keras: no result (see gpu-check.log)}}"
md "- '-': not measured (a missing peer, a failure or the time budget: see gpu-check.log)"
md
# ---------------------------------------------------------------- 6. data path
# hsi cnn train on the GPU with the training windows held there (a step
# sends only its indices; the default where they fit) against gathering
# them on the host and uploading every batch (HSI_CNN_RESIDENT=0): the
# steady-state epoch time (the last of 3 epochs, as hsi prints it).
md "## Data path: training windows held on the GPU vs uploaded every step"
md
D="$WORK/datapath"
mkdir -p "$D"
if run 60 "$HSI" simulate -o "$D/scene.tif" --rows 145 --cols 145 &&
    run 30 "$HSI" split --truth "$D/scene_gt.tif" -o "$D/split" --fraction 0.5 --seed 1; then
    for held in 1 0; do
        if HSI_CNN_RESIDENT=$held run 120 "$HSI" cnn train "$D/scene.tif" --spec "$ROOT/cnn3d/specs/lange2018.cfg" \
            --train "$D/split_train.tif" --allow-missing-classes --epochs 3 --batch 50 --seed 1 \
            --validation-split 0 --device cuda -o "$D/m$held.ckpt"; then
            n=$(grep '^Training .* on [0-9]* pixels' "$LOG" | tail -1 | sed 's/.* on \([0-9]*\) pixels.*/\1/')
            how=$(grep -E '^Training windows (held|gathered)' "$LOG" | tail -1)
            sec=$(grep -E '^Epoch 3/3 - [0-9.]+s' "$LOG" | tail -1 | sed 's/^Epoch 3\/3 - \([0-9.]*\)s.*/\1/')
            sps=$(awk -v n="$n" -v s="$sec" 'BEGIN {if (n > 0 && s > 0) printf "%.0f", n / s; else print "-"}')
            md "- HSI_CNN_RESIDENT=$held: epoch 3 in ${sec:-?} s, ${sps} samples/s ($n training pixels, batch 50); hsi said: ${how:-?}"
            say "gpu-check: data path HSI_CNN_RESIDENT=$held: ${sec:-?} s an epoch, $sps samples/s"
        else
            md "- HSI_CNN_RESIDENT=$held: FAILED (see gpu-check.log)"
            FAILED=1
        fi
    done
    if [ -f "$D/m1.ckpt" ] && [ -f "$D/m0.ckpt" ]; then
        md "- the two models: $(cmp -s "$D/m1.ckpt" "$D/m0.ckpt" && echo "identical files" || echo "differ (cuDNN's timed algorithm choice may differ between runs without --deterministic)")"
    fi
    # Prediction: windows gathered on the GPU from each tile's rows, or on
    # the host and uploaded (HSI_CNN_RESIDENT=0); wall time of the command,
    # start-up (CUDA, cuDNN) included, on a 512 x 512 x 220 scene.
    if [ -f "$D/m1.ckpt" ] && run 120 "$HSI" simulate -o "$D/big.tif" --rows 512 --cols 512; then
        for held in 1 0; do
            t0=$(date +%s.%N)
            if HSI_CNN_RESIDENT=$held run 150 "$HSI" cnn predict "$D/big.tif" -m "$D/m1.ckpt" --device cuda -o "$D/map$held.tif"; then
                t1=$(date +%s.%N)
                w=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
                # hsi's own line: "classified in S s (P pixels/s...)", without the start-up
                cl=$(grep '^classified in ' "$LOG" | tail -1 | sed 's/^classified in \([0-9.]*\) s (\([0-9]*\) pixels\/s.*/\1 s, \2 pixels\/s/')
                md "- predict 512 x 512 x 220, HSI_CNN_RESIDENT=$held ($([ $held = 1 ] && echo "windows cut out on the GPU" || echo "windows gathered on the host")): classified in ${cl:-?}; ${w} s wall with the start-up"
                say "gpu-check: predict HSI_CNN_RESIDENT=$held: $w s"
            else
                md "- predict HSI_CNN_RESIDENT=$held: FAILED (see gpu-check.log)"
                FAILED=1
            fi
        done
        [ -f "$D/map1.tif" ] && [ -f "$D/map0.tif" ] &&
            md "- the two maps: $(cmp -s "$D/map1.tif" "$D/map0.tif" && echo "identical files" || echo "differ (batches end at tile edges on the GPU path, so cuDNN sees other batch sizes; compare with hsi report)")"
    fi
else
    md "- could not make the scene (see gpu-check.log)"
fi
md

md "Total: $(( $(date +%s) - START )) s of the ${BUDGET} s budget."
rm -f "$WORK/.last"
say "gpu-check: wrote $MD ($(( $(date +%s) - START )) s)"
exit $FAILED
