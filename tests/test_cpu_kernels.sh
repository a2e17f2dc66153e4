#!/bin/sh
# test_cpu_kernels.sh - hsi runs the BLAS kernels and hand kernels this CPU
# supports, says which in --version, and fixes an OpenBLAS that picked older
# kernels by re-executing itself once with OPENBLAS_CORETYPE set (base/cpu.h),
# never overriding a user's OPENBLAS_CORETYPE.
#
# The CPU here may already get its best kernels, so the fallback is simulated:
# HSI_TEST_BLAS_CORENAME=NAME makes hsi see NAME as the kernel set OpenBLAS
# picked by itself (while OPENBLAS_CORETYPE is unset); NAME! makes it see NAME
# even after the re-execution, like a BLAS that ignores OPENBLAS_CORETYPE.
. "$HSI_SRCDIR/tests/setup.sh"
unset OPENBLAS_CORETYPE HSI_BLAS_REEXEC HSI_TEST_BLAS_CORENAME

flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { case $flags in *" $1 "*) return 0 ;; esac; return 1; }
# What hsi should pick, from the kernel's view of the CPU (features the OS enables).
best=""
if has avx512f && has avx512bw && has avx512vl && has avx512dq && has avx512cd; then
    if has avx512_bf16; then best=Cooperlake; else best=SkylakeX; fi
elif has avx2 && has fma; then
    if grep -q -m1 'AuthenticAMD\|HygonGenuine' /proc/cpuinfo; then best=Zen; else best=Haswell; fi
elif has avx; then
    best=Sandybridge
fi
echo "best OpenBLAS kernels for this CPU by its flags: ${best:-none better than generic}"

version_line() { grep '; blas ' "$TMP/out"; }

# The plain run names CPU, ISA, BLAS, kernel set, threads and hsi's kernels.
expect_ok "version" -- "$HSI" --version
line=$(version_line)
echo "$line"
for want in "cpu " ", isa " "; blas " ", kernels " "hsi kernels: conv taps "; do
    case $line in *"$want"*) pass ;; *) fail "--version line lacks '$want': $line" ;; esac
done
if grep -q 'OpenBLAS' "$TMP/out"; then
    grep -q 'blas OpenBLAS [0-9.]*, kernels [A-Za-z_0-9]*, ' "$TMP/out" || fail "OpenBLAS version and kernels: $line"
    grep -q 'WARNING' "$TMP/out" && fail "the default run still has older kernels than the CPU runs: $line"
fi
# The default build (no -march=native) must still reach the AVX2 tap kernels.
if has avx2 && has fma; then
    case $line in *"conv taps avx2"*) pass ;; *) fail "AVX2+FMA CPU but tap kernels not avx2: $line" ;; esac
else
    case $line in *"conv taps generic"*) pass ;; *) fail "no AVX2+FMA but tap kernels not generic: $line" ;; esac
fi
# cuDNN is claimed exactly when the GPU backend is built in (configure's
# HAVE_CUDA), and then the backends line names its cuDNN version.
if grep -q '^#define HAVE_CUDA 1' "$HSI_BUILDDIR/config.h"; then
    head -1 "$TMP/out" | grep -q ' cuda+cudnn' || fail "--version lacks cuda+cudnn: $(head -1 "$TMP/out")"
    grep -Eq '^CNN backends: cpu, cuda \(CUDA runtime [0-9.]+, cuDNN [0-9]+\.[0-9]+\.[0-9]+' "$TMP/out" ||
        fail "--version lacks the cuda backend's versions: $(cat "$TMP/out")"
else
    grep -qi 'cudnn' "$TMP/out" && fail "--version claims cuDNN without CUDA built in: $(head -1 "$TMP/out")"
    grep -q '^CNN backends: cpu (built without CUDA)' "$TMP/out" || fail "--version backends line: $(cat "$TMP/out")"
fi

if ! grep -q 'blas OpenBLAS' "$TMP/out"; then
    echo "BLAS is not OpenBLAS: OPENBLAS_CORETYPE re-execution not tested"
    finish
fi

# A user's OPENBLAS_CORETYPE stands, even where it is slower, and is reported as theirs.
expect_ok "user coretype" -- env OPENBLAS_CORETYPE=Prescott "$HSI" --version
line=$(version_line)
case $line in *"kernels Prescott, set by the user (OPENBLAS_CORETYPE=Prescott)"*) pass ;;
    *) fail "user's OPENBLAS_CORETYPE=Prescott not kept or not reported as theirs: $line" ;; esac
if [ -n "$best" ]; then
    case $line in *"WARNING: older kernels"*"best: $best"*) pass ;;
        *) fail "user's Prescott not flagged as older than $best: $line" ;; esac
fi
# ... also when the BLAS would have fallen back: no re-execution then either.
expect_ok "user coretype, fallback" -- env OPENBLAS_CORETYPE=Prescott HSI_TEST_BLAS_CORENAME=Prescott "$HSI" --version
case $(version_line) in *"set by the user"*) pass ;; *) fail "re-executed over the user's OPENBLAS_CORETYPE: $(version_line)" ;; esac

if [ -z "$best" ]; then
    # Nothing better than generic: a generic pick is right, no re-execution.
    expect_ok "no better kernels" -- env HSI_TEST_BLAS_CORENAME=Prescott "$HSI" --version
    case $(version_line) in *"kernels Prescott, chosen by OpenBLAS"*) pass ;; *) fail "re-executed without a better kernel set: $(version_line)" ;; esac
    finish
fi

# Simulated fallback: hsi re-executes once with the best kernel set, and the
# final process runs it.
expect_ok "fallback fixed" -- env HSI_TEST_BLAS_CORENAME=Prescott "$HSI" --version
line=$(version_line)
echo "$line"
case $line in *"kernels $best, set by hsi (OPENBLAS_CORETYPE=$best, re-executed once; OpenBLAS picked Prescott)"*) pass ;;
    *) fail "simulated Prescott pick not fixed to $best by one re-execution: $line" ;; esac
case $line in *WARNING*) fail "warning left after the fix: $line" ;; esac
[ "$(grep -c '^hsi [0-9]' "$TMP/out")" -eq 1 ] || fail "--version printed more than once: $(cat "$TMP/out")"
# Count the execve calls where strace can trace (a container may forbid ptrace).
if command -v strace >/dev/null && strace -f -qq -e trace=none true 2>/dev/null; then
    env HSI_TEST_BLAS_CORENAME=Prescott strace -f -qq -e trace=execve -o "$TMP/strace" "$HSI" --version >/dev/null 2>&1
    n=$(grep -c 'execve("/proc/self/exe"' "$TMP/strace")
    [ "$n" -eq 1 ] && pass || fail "$n re-executions through /proc/self/exe, wanted 1: $(grep execve "$TMP/strace")"
    env strace -f -qq -e trace=execve -o "$TMP/strace" "$HSI" --version >/dev/null 2>&1
    n=$(grep -c 'execve("/proc/self/exe"' "$TMP/strace")
    [ "$n" -eq 0 ] && pass || fail "re-executed though OpenBLAS picked its best kernels: $n"
else
    echo "strace unusable here: execve count not checked"
fi

# An older AVX2 set on an AVX-512 CPU is a fallback too.
if [ "$best" = Cooperlake ] || [ "$best" = SkylakeX ]; then
    expect_ok "haswell on avx512" -- env HSI_TEST_BLAS_CORENAME=Haswell "$HSI" --version
    case $(version_line) in *"kernels $best, set by hsi"*"OpenBLAS picked Haswell"*) pass ;;
        *) fail "Haswell pick on an AVX-512 CPU not fixed: $(version_line)" ;; esac
fi

# A BLAS that ignores OPENBLAS_CORETYPE: one re-execution, no loop, an honest warning.
expect_ok "no loop" -- timeout 60 env HSI_TEST_BLAS_CORENAME='Prescott!' "$HSI" --version
case $(version_line) in *"kernels Prescott, set by hsi"*"WARNING: older kernels"*) pass ;;
    *) fail "ignored OPENBLAS_CORETYPE not reported: $(version_line)" ;; esac
# The marker alone stops a re-execution (a parent hsi already did it).
expect_ok "marker" -- env HSI_BLAS_REEXEC='Prescott>Other' HSI_TEST_BLAS_CORENAME=Prescott "$HSI" --version
case $(version_line) in *"kernels Prescott, chosen by OpenBLAS"*WARNING*) pass ;;
    *) fail "re-executed despite HSI_BLAS_REEXEC: $(version_line)" ;; esac

# The re-executed process gets the same arguments and exit status.
expect_ok "help after re-exec" -- env HSI_TEST_BLAS_CORENAME=Prescott "$HSI" help info
grep -q "Exit status" "$TMP/out" || fail "hsi help info after re-execution: $(cat "$TMP/out")"
expect_error "error after re-exec" "no command 'frobnicate'" -- env HSI_TEST_BLAS_CORENAME=Prescott "$HSI" frobnicate
finish
