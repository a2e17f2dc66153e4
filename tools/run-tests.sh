#!/bin/sh
# run-tests.sh - build hsi and run the whole test suite twice: a normal build
# (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-asan/, CUDA off), then the fuzz targets briefly (build-fuzz/, clang).
# Ends with one line "N passed, N failed, N skipped".
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
run_suite() { # dir configure-options...
  dir=$1; shift
  mkdir -p "$dir"
  ( cd "$dir" && ../configure "$@" >configure.out 2>&1 ) || { echo "configure failed in $dir:"; tail -20 "$dir/config.log"; status=1; return; }
  sed -n '/configuration summary/,$p' "$dir/configure.out"
  make -C "$dir" -j"$(nproc)" >"$dir/make.out" 2>&1 || { echo "build failed in $dir:"; grep -E 'error|Error' "$dir/make.out" | head -30; status=1; return; }
  make -C "$dir" -j"$(nproc)" check >"$dir/check.out" 2>&1 || status=1
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

run_suite build $py_opt
run_suite build-asan $py_opt --enable-asan --enable-ubsan --without-cuda --disable-native
# Every parser of untrusted input under libFuzzer + ASan + UBSan for a few
# seconds each, on its seed corpus and the committed crash regressions.
echo "fuzz smoke (tests/fuzz/smoke.sh build-fuzz, ${FUZZ_SECONDS:-5} s per target):"
tests/fuzz/smoke.sh build-fuzz
case $? in
  0) pass=$((pass + 1)) ;;
  77) skip=$((skip + 1)); skipped="$skipped
  tests/fuzz/smoke.sh: clang or libFuzzer absent" ;;
  *) fail=$((fail + 1)) ;;
esac
[ -n "$skipped" ] && echo "skipped tests and why:$skipped"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
