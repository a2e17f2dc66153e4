#!/bin/sh
# run-tests.sh - build hsi and run the whole test suite twice: a normal build
# (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-asan/, CUDA off), then the fuzz targets briefly (build-fuzz/, clang).
# Ends with one line "N passed, N failed, N skipped". Each phase's output is
# in its folder (configure.out, make.out, check.out; build-fuzz/smoke-build.out).
set -u
cd "$(dirname "$0")/.."
HSI_EXTRA_PACKAGES="clang libclang-rt-14-dev python3-venv chromium" tools/setup-debian.sh --deps-only || exit 1
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null 2>&1 || exit 1

# Higra (PyPI only) for the comparison in test_features_higra.sh: a venv over
# Debian's python3, so numpy, scipy, scikit-learn and GDAL stay Debian's. Made
# once, outside the tree; without it that test is skipped and listed below.
venv=${HSI_TEST_VENV:-${HOME:-/tmp}/.cache/hsi/test-venv}
if ! "$venv/bin/python" -c 'import higra' 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1 &&
    "$venv/bin/pip" install -q higra >/dev/null 2>&1 || echo "run-tests: could not install higra into $venv"
fi
py_opt=""
"$venv/bin/python" -c 'import higra, numpy' 2>/dev/null && py_opt="PYTHON3=$venv/bin/python"

pass=0 fail=0 skip=0 status=0 skipped=""
jobs=$(nproc)
# The phases, and what runs beside what. Measured on two cores shared with
# two other builds: the normal build's tests used 185 CPU-seconds in 260 s
# (the cores were not full), the ASan build 70 CPU-seconds, the fuzz build
# 87, the CUDA module's 7 architectures + PTX 21 (kept: CI must build what a
# user's install builds), and each fuzz target one core for FUZZ_SECONDS; so:
#   1. configure build/ and build-asan/ at once (configure is one serial
#      shell: a core each);
#   2. build build/ (the CUDA module included, every architecture);
#   3. build/'s tests, and beside them the builds of build-asan/ and of the
#      fuzz targets (build-fuzz/, clang), on the cores the tests leave idle;
#   4. build-asan/'s tests, alone: the sanitizers make them the slowest
#      phase, and its MPI tests run under time limits;
#   5. the fuzz targets, two at a time (tests/fuzz/smoke.sh), each on a core
#      of its own for its FUZZ_SECONDS.
configure_suite() { # dir configure-options...: dir/configure.ok on success
  dir=$1; shift
  mkdir -p "$dir" && rm -f "$dir/configure.ok"
  ( cd "$dir" && ../configure "$@" >configure.out 2>&1 ) && : >"$dir/configure.ok"
}
configured() { # dir
  [ -f "$1/configure.ok" ] && return 0
  echo "configure failed in $1:"; tail -20 "$1/config.log"; status=1; return 1
}
build_suite() { # dir: dir/make.failed on failure
  rm -f "$1/make.failed"
  make -C "$1" -j"$jobs" >"$1/make.out" 2>&1 && return 0
  : >"$1/make.failed"; return 1
}
build_failed() { # dir
  echo "build failed in $1:"; grep -E 'error|Error' "$1/make.out" | head -30; status=1
}
check_suite() { # dir
  make -C "$1" -j"$jobs" check >"$1/check.out" 2>&1 || status=1
}
report_suite() { # dir
  dir=$1
  grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$dir/check.out" | sed "s|^|[$dir] |"
  # Show the log of every failed test.
  for log in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find "$dir/tests" -name '*.trs' 2>/dev/null) /dev/null 2>/dev/null); do
    echo "---- ${log%.trs}.log"; tail -40 "${log%.trs}.log"
  done
  # A skipped test says why on a line of its log starting "SKIP"; show it, so a
  # comparison that did not run (no numpy, no MPI, no GPU) is seen, not assumed.
  for trs in $(grep -lE '^:test-result: SKIP' $(find "$dir/tests" -name '*.trs' 2>/dev/null) /dev/null 2>/dev/null); do
    why=$(grep -m1 -E '^SKIP' "${trs%.trs}.log" 2>/dev/null | cut -c1-160)
    t=${trs#$dir/}
    skipped="$skipped
  [$dir] ${t%.trs}: ${why:-no reason given}"
  done
  p=$(grep -cE '^PASS:' "$dir/check.out"); f=$(grep -cE '^(FAIL|ERROR|XPASS):' "$dir/check.out"); s=$(grep -cE '^SKIP:' "$dir/check.out")
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
configure_suite build $py_opt &
configure_suite build-asan $py_opt --enable-asan --enable-ubsan --without-cuda --disable-native &
wait
for dir in build build-asan; do sed -n '/configuration summary/,$p' "$dir/configure.out"; done
normal=0
if configured build; then build_suite build && normal=1 || build_failed build; fi
# Every parser of untrusted input under libFuzzer + ASan + UBSan for a few
# seconds each, on its seed corpus and the committed crash regressions; the
# targets are built in phase 3 (smoke.sh configures build-fuzz/ with clang).
mkdir -p build-fuzz && rm -f build-fuzz/smoke-build.rc
( [ -f build-asan/configure.ok ] && build_suite build-asan
  FUZZ_BUILD_ONLY=1 tests/fuzz/smoke.sh build-fuzz >build-fuzz/smoke-build.out 2>&1
  echo $? >build-fuzz/smoke-build.rc ) &
beside=$!
if [ "$normal" = 1 ]; then check_suite build; report_suite build; fi
wait $beside
if configured build-asan; then
  if [ -f build-asan/make.failed ]; then build_failed build-asan
  else check_suite build-asan; report_suite build-asan; fi
fi
echo "fuzz smoke (tests/fuzz/smoke.sh build-fuzz, ${FUZZ_SECONDS:-5} s per target):"
fuzz_rc=$(cat build-fuzz/smoke-build.rc 2>/dev/null)
if [ "${fuzz_rc:-1}" -eq 0 ]; then
  tests/fuzz/smoke.sh build-fuzz
  fuzz_rc=$?
else
  cat build-fuzz/smoke-build.out
fi
case $fuzz_rc in
  0) pass=$((pass + 1)) ;;
  77) skip=$((skip + 1)); skipped="$skipped
  tests/fuzz/smoke.sh: clang or libFuzzer absent" ;;
  *) fail=$((fail + 1)) ;;
esac
[ -n "$skipped" ] && echo "skipped tests and why:$skipped"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
