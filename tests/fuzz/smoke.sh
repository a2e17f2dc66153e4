#!/bin/sh
# smoke.sh BUILD - CI smoke test of the fuzz targets: configure a clang
# build with --enable-fuzz in BUILD (made if missing, relative to the
# current directory), build the targets (`make fuzz`) and run each for
# FUZZ_SECONDS (default 5) on its seed corpus and the committed regression
# inputs (tests/fuzz/crashes/) through bench/fuzz.sh. FUZZ_TARGETS (e.g.
# "spec svm") runs only those targets. The targets run FUZZ_JOBS (default 2)
# at a time, each one process on a core of its own for its FUZZ_SECONDS, so
# two cores halve the wall time without shortening any target's run.
# FUZZ_BUILD_ONLY=1 configures and builds, and runs nothing (tools/run-tests.sh
# builds the targets while the normal build's tests run).
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
jobs=${FUZZ_JOBS:-2}
make -C "$build" -j"$jobs" fuzz >"$build/fuzz-make.log" 2>&1 ||
    { echo "smoke.sh: make fuzz failed:"; grep -E 'error' "$build/fuzz-make.log" | head -20; exit 1; }
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0
# Deal the targets round-robin to $jobs runs of bench/fuzz.sh, each with its
# own scratch folder; their lines are printed in the order of the runs.
targets=${FUZZ_TARGETS:-"spec checkpoint svm preprocess bands envi mat experiment"}
rm -rf "$build/fuzz-smoke" && mkdir -p "$build/fuzz-smoke"
i=0 pids=""
while [ "$i" -lt "$jobs" ]; do
    share=$(echo $targets | tr ' ' '\n' | awk -v i="$i" -v n="$jobs" 'NR % n == i' | tr '\n' ' ')
    if [ -n "$share" ]; then
        FUZZ_SCRATCH="$build/fuzz-smoke/$i" "$src/bench/fuzz.sh" "$build" "$seconds" $share \
            >"$build/fuzz-smoke/out.$i" 2>&1 &
        pids="$pids $!"
    fi
    i=$((i + 1))
done
status=0
for p in $pids; do wait "$p" || status=1; done
cat "$build"/fuzz-smoke/out.*
exit $status
