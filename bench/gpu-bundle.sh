#!/bin/sh
# gpu-bundle.sh - hsi built here for a GPU machine that has the NVIDIA
# driver, CUDA 13 and cuDNN 9 but none of hsi's other libraries (GDAL,
# OpenBLAS, libsvm, cairo, ...) and no package registry, as the lent H200
# machines (/work/.library/device/KINDS.md: a CUDA image with PyTorch,
# nothing to install from):
#
#   bench/gpu-bundle.sh OUT.tar.xz [BUILD_DIR]
#
# 1. builds with CUDA for CUDA_ARCHS (default 90: Hopper, the H100/H200)
#    and without MPI in BUILD_DIR (default /tmp/hsi-gpu-bundle): hsi, the
#    CUDA module, tests/test_cnn_device, tests/test_cnn_cuda and
#    bench/cnn_throughput;
# 2. lays them out as bench/gpu-check.sh expects a build directory (hsi,
#    tests/, bench/, .libs/libhsi.so.0 and .libs/hsi_cuda.so), with lib/
#    holding every shared library they need except glibc, the C++ runtime
#    and CUDA's (the GPU machine's own serve: its driver, cudart, cuBLAS and
#    cuDNN match its GPU), and share/ the PROJ database and GDAL's data
#    (hsi simulate writes UTM coordinates: EPSG needs proj.db);
# 3. packs it into OUT.tar.xz (about 45 MB: the device tool carries 64 MiB).
#
# On the GPU machine: GPU_CHECK_BUNDLE=OUT.tar.xz bench/gpu-check.sh OUTDIR
# unpacks it, points LD_LIBRARY_PATH, PROJ_DATA and GDAL_DATA at it and the
# GPU machine's CUDA libraries, and runs it instead of building. The
# binaries need glibc 2.36 or newer (Debian 12's; the GPU image's Python
# 3.12.3 suggests Ubuntu 24.04, glibc 2.39).
set -eu
[ $# -ge 1 ] || { echo "usage: bench/gpu-bundle.sh OUT.tar.xz [BUILD_DIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $1 in /*) OUT=$1 ;; *) OUT=$(pwd)/$1 ;; esac
BUILD=${2:-/tmp/hsi-gpu-bundle}
ARCHS=${CUDA_ARCHS:-90}
JOBS=$(nproc 2>/dev/null || echo 2)
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
[ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi >/dev/null)
if [ ! -f "$BUILD/Makefile" ]; then
    echo "gpu-bundle: configure --with-cuda CUDA_ARCHS=$ARCHS --without-mpi in $BUILD"
    (cd "$BUILD" && "$ROOT/configure" --with-cuda CUDA_ARCHS="$ARCHS" --without-mpi >configure.log 2>&1) ||
        { tail -20 "$BUILD/configure.log" >&2; exit 1; }
fi
echo "gpu-bundle: make -j$JOBS"
(cd "$BUILD" && make -j"$JOBS" hsi hsi_cuda.la tests/test_cnn_device tests/test_cnn_cuda \
    bench/cnn_throughput >make.log 2>&1) || { tail -20 "$BUILD/make.log" >&2; exit 1; }

STAGE=$BUILD/bundle
rm -rf "$STAGE"
mkdir -p "$STAGE/.libs" "$STAGE/tests" "$STAGE/bench" "$STAGE/lib" "$STAGE/share"
# The programs themselves (libtool keeps them in .libs/ behind wrapper scripts).
real() { if [ -f "$BUILD/$1/.libs/$2" ]; then echo "$BUILD/$1/.libs/$2"; else echo "$BUILD/$1/$2"; fi; }
cp "$(real . hsi)" "$STAGE/hsi"
cp "$(real tests test_cnn_device)" "$(real tests test_cnn_cuda)" "$STAGE/tests/"
cp "$(real bench cnn_throughput)" "$STAGE/bench/"
cp -L "$BUILD/.libs/libhsi.so.0" "$STAGE/.libs/"
cp -L "$BUILD/.libs/hsi_cuda.so" "$STAGE/.libs/"
# Their libraries, less what every Linux has (glibc, libstdc++, libgcc_s)
# and what the GPU machine must provide itself (CUDA, cuDNN, the driver).
skip='/(libc|libm|libdl|librt|libpthread|libresolv|libutil|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so|libcud|libcublas|libnvrtc|libnvJitLink|libnccl'
for f in "$STAGE/hsi" "$STAGE"/tests/* "$STAGE"/bench/* "$STAGE"/.libs/*; do
    LD_LIBRARY_PATH="$STAGE/.libs" ldd "$f"
done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u | grep -Ev "$skip" | grep -v "^$STAGE/" |
    while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
missing=$(for f in "$STAGE/hsi" "$STAGE"/.libs/libhsi.so.0; do LD_LIBRARY_PATH="$STAGE/.libs:$STAGE/lib" ldd "$f"; done | grep "not found" || true)
[ -z "$missing" ] || { echo "gpu-bundle: unresolved here: $missing" >&2; exit 1; }
strip --strip-unneeded "$STAGE/hsi" "$STAGE"/tests/* "$STAGE"/bench/* "$STAGE"/.libs/* 2>/dev/null || true
# GDAL's and PROJ's data (proj.db: EPSG codes).
mkdir -p "$STAGE/share/proj"
cp /usr/share/proj/proj.db "$STAGE/share/proj/"
[ -f /usr/share/proj/proj.ini ] && cp /usr/share/proj/proj.ini "$STAGE/share/proj/"
[ -d /usr/share/gdal ] && cp -r /usr/share/gdal "$STAGE/share/"
{
    echo "hsi GPU bundle: $(cd "$ROOT" && git log -1 --format='%h %s' 2>/dev/null || echo "$ROOT")"
    echo "built $(date -u '+%Y-%m-%d %H:%M UTC') on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1)"
    echo "CUDA_ARCHS=$ARCHS; nvcc: $(nvcc --version 2>/dev/null | tail -1)"
    grep -h '#define CUDNN_M[AI][JN]O*R* ' /usr/local/cuda/include/cudnn_version.h 2>/dev/null | tr '\n' ' '
    echo
} >"$STAGE/BUNDLE"
mkdir -p "$(dirname "$OUT")"
tar -C "$STAGE" -cf - . | xz -9 -T"$JOBS" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "gpu-bundle: wrote $OUT ($(du -h "$OUT" | cut -f1); $(du -sh "$STAGE" | cut -f1) unpacked, $(ls "$STAGE/lib" | wc -l) libraries)"
