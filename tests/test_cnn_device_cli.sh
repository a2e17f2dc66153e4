#!/bin/sh
# test_cnn_device_cli.sh - `hsi cnn --device` from the command line: cpu is
# the default and auto falls back to the CPU saying why (on stderr, even
# with -q) where no GPU is usable; cuda never falls back: without a usable
# GPU train, predict and eval stop with one line and write nothing; a bad
# device name is a usage error; summary and --version name the backends.
# On a machine with a GPU, train --device cuda must work instead and its
# model must load on the CPU.
. "$HSI_SRCDIR/tests/setup.sh"
MLP="$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg"

expect_ok "simulate" -- "$HSI" simulate --rows 24 --cols 24 -o "$TMP/s.tif" --gt "$TMP/gt.tif" -q
expect_ok "split" -- "$HSI" split --truth "$TMP/gt.tif" -o "$TMP/sp" --fraction 0.5 --seed 1 -q
TRAIN="--spec $MLP --train $TMP/sp_train.tif --allow-missing-classes --bands 1-20 --epochs 1 -q"

expect_error "bad device" "--device: 'gpu' is not cpu, cuda, cuda:N or auto" -- \
    "$HSI" cnn train "$TMP/s.tif" $TRAIN --device gpu -o "$TMP/x.ckpt"
expect_no_file "bad device writes nothing" "$TMP/x.ckpt"

expect_ok "version" -- "$HSI" --version
grep -Eq '^CNN backends: cpu' "$TMP/out" || fail "--version lacks the CNN backends line: $(cat "$TMP/out")"
expect_ok "summary" -- "$HSI" cnn summary "$MLP" --bands-count 20 --classes 4
tail -n 1 "$TMP/out" | grep -q '^Device: cpu' || fail "summary's device line: $(tail -n 1 "$TMP/out")"

expect_ok "train --device cpu" -- "$HSI" cnn train "$TMP/s.tif" $TRAIN --device cpu -o "$TMP/cpu.ckpt"
[ -s "$TMP/err" ] && ! grep -q warning "$TMP/err" && fail "--device cpu printed: $(cat "$TMP/err")"

if "$HSI" --version | grep -q 'no GPU found\|built without CUDA\|not loadable'; then
    # No usable GPU here.
    expect_ok "train --device auto" -- "$HSI" cnn train "$TMP/s.tif" $TRAIN --device auto -o "$TMP/auto.ckpt"
    grep -q 'device auto: running on the CPU (' "$TMP/err" || fail "auto did not say it runs on the CPU: $(cat "$TMP/err")"
    expect_error "train --device cuda" "^hsi cnn: --device cuda: " -- \
        "$HSI" cnn train "$TMP/s.tif" $TRAIN --device cuda -o "$TMP/gpu.ckpt"
    expect_no_file "train --device cuda writes nothing" "$TMP/gpu.ckpt"
    expect_error "predict --device cuda:1" "^hsi cnn: --device cuda:1: " -- \
        "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/cpu.ckpt" --device cuda:1 -q -o "$TMP/map.tif"
    expect_no_file "predict --device cuda writes nothing" "$TMP/map.tif"
    expect_error "eval --device cuda" "^hsi cnn: --device cuda: " -- \
        "$HSI" cnn eval "$TMP/s.tif" -m "$TMP/cpu.ckpt" --test "$TMP/sp_test.tif" --device cuda --json "$TMP/e.json"
    expect_no_file "eval --device cuda writes nothing" "$TMP/e.json"
    expect_error "summary --device cuda" "^hsi cnn: --device cuda: " -- "$HSI" cnn summary "$MLP" --device cuda
    [ -s "$TMP/out" ] && fail "summary --device cuda printed a table before failing"
else
    # A GPU: train on it, then the model maps the scene on the CPU too.
    expect_ok "train --device cuda" -- "$HSI" cnn train "$TMP/s.tif" $TRAIN --device cuda -o "$TMP/gpu.ckpt"
    expect_ok "predict a GPU model on the CPU" -- "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/gpu.ckpt" \
        --device cpu -q -o "$TMP/map.tif"
    expect_ok "predict on the GPU" -- "$HSI" cnn predict "$TMP/s.tif" -m "$TMP/cpu.ckpt" \
        --device cuda --deterministic -q -o "$TMP/map_gpu.tif"
fi

# A CUDA build whose module (hsi_cuda.so) cannot be loaded, as on a machine
# without the CUDA libraries: CPU runs are unaffected, cuda names the module
# and the loader's reason in one line, auto runs on the CPU saying why, and
# --version says the backend is not loadable.
if ! "$HSI" --version | grep -q 'built without CUDA'; then
    BAD="$TMP/absent/hsi_cuda.so"
    expect_ok "version, module absent" -- env HSI_CUDA_MODULE="$BAD" "$HSI" --version
    grep -q "^CNN backends: cpu (cuda not loadable: $BAD" "$TMP/out" ||
        fail "--version without the module: $(cat "$TMP/out")"
    expect_ok "train --device cpu, module absent" -- env HSI_CUDA_MODULE="$BAD" \
        "$HSI" cnn train "$TMP/s.tif" $TRAIN --device cpu -o "$TMP/cpu2.ckpt"
    expect_error "train --device cuda, module absent" \
        "^hsi cnn: --device cuda: .*cannot load the CUDA backend $BAD" -- \
        env HSI_CUDA_MODULE="$BAD" "$HSI" cnn train "$TMP/s.tif" $TRAIN --device cuda -o "$TMP/gpu2.ckpt"
    expect_no_file "train --device cuda, module absent, writes nothing" "$TMP/gpu2.ckpt"
    expect_ok "train --device auto, module absent" -- env HSI_CUDA_MODULE="$BAD" \
        "$HSI" cnn train "$TMP/s.tif" $TRAIN --device auto -o "$TMP/auto2.ckpt"
    grep -q "device auto: running on the CPU (.*$BAD" "$TMP/err" ||
        fail "auto without the module did not say why: $(cat "$TMP/err")"
fi
finish
