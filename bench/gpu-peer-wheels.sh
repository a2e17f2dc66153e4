#!/bin/sh
# gpu-peer-wheels.sh - the Python wheels the Keras peer needs on the lent
# H200 machines, for the device tool to carry (they have numpy, JAX with
# CUDA, absl-py, rich, h5py, ml-dtypes and packaging, but not Keras, nor
# two of its dependencies; nothing can be installed there from a registry):
#
#   bench/gpu-peer-wheels.sh DIR     (default .whl)
#
# downloads keras, namex, optree and typing-extensions (optree needs 4.10 or
# newer) for CPython 3.12 on manylinux x86-64
# (the machines' python3, /work/.library/device/KINDS.md) into DIR, about
# 2 MB. bench/gpu-check.sh installs DIR/*.whl into its work folder
# (GPU_CHECK_WHEELS, default ROOT/.whl) when its python lacks Keras, and the
# Keras peer then runs on JAX there.
set -eu
DIR=${1:-.whl}
mkdir -p "$DIR"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DIR" "keras==${KERAS_VERSION:-3.15.1}" namex optree typing-extensions
ls -la "$DIR"
