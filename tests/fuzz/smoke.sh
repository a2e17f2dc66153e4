#!/bin/sh
# smoke.sh BUILD - CI smoke test of the fuzz targets: configure a clang
# build with --enable-fuzz in BUILD (made if missing, relative to the
# current directory), build the targets (`make fuzz`) and run each for
# FUZZ_SECONDS (default 5) on its seed corpus and the committed regression
# inputs (tests/fuzz/crashes/) through bench/fuzz.sh. FUZZ_TARGETS (e.g.
# "spec svm") runs only those targets.
# Exit status: 0 when no target found anything, 1 on a finding or a build
# failure, 77 (automake's "skipped") when clang or libFuzzer is missing.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: tests/fuzz/smoke.sh BUILD}
seconds=${FUZZ_SECONDS:-5}
cc=${FUZZ_CC:-clang}

command -v "$cc" >/dev/null 2>&1 || { echo "smoke.sh: SKIP: $cc not found"; exit 77; }
probe=$(mktemp -d)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "smoke.sh: SKIP: $cc cannot link libFuzzer targets (apt-get install libclang-rt-14-dev)"
    exit 77
fi
rm -rf "$probe"

[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >/dev/null 2>&1) || { echo "smoke.sh: autoreconf failed"; exit 1; }
mkdir -p "$build" && build=$(cd "$build" && pwd)
if [ ! -f "$build/Makefile" ] || ! grep -q 'enable-fuzz' "$build/config.status" 2>/dev/null; then
    (cd "$build" && "$src/configure" CC="$cc" --enable-fuzz --without-cuda --disable-native \
        >configure.out 2>&1) || { echo "smoke.sh: configure failed; see $build/config.log"; exit 1; }
fi
make -C "$build" -j"${FUZZ_JOBS:-2}" fuzz >"$build/fuzz-make.log" 2>&1 ||
    { echo "smoke.sh: make fuzz failed:"; grep -E 'error' "$build/fuzz-make.log" | head -20; exit 1; }
FUZZ_SCRATCH="$build/fuzz-smoke" "$src/bench/fuzz.sh" "$build" "$seconds" ${FUZZ_TARGETS:-} || exit 1
