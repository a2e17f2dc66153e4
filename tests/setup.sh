# tests/setup.sh - sourced by every shell test: paths, a scratch directory and
# the assertions used on the `hsi` command line.
set -u
: "${HSI:?run the tests through make check}"
TEST_NAME=$(basename "$0" .sh)
TMP="$HSI_BUILDDIR/tests/tmp-$TEST_NAME"
rm -rf "$TMP" && mkdir -p "$TMP"
DATA="$HSI_SHARED_DATA"
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# expect_ok DESCRIPTION -- command...   : the command must exit 0
expect_ok() {
    local what=$1; shift; [ "$1" = "--" ] && shift
    checks=$((checks + 1))
    if ! "$@" >"$TMP/out" 2>"$TMP/err"; then
        fail "$what: '$*' exited non-zero: $(cat "$TMP/err")"
    fi
}

# expect_error DESCRIPTION PATTERN -- command... : non-zero exit, exactly one
# line on stderr matching PATTERN (grep -E), no crash (exit < 128).
expect_error() {
    local what=$1 pattern=$2; shift 2; [ "$1" = "--" ] && shift
    checks=$((checks + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -eq 0 ]; then fail "$what: '$*' succeeded"; return; fi
    if [ $rc -ge 128 ]; then fail "$what: '$*' crashed (exit $rc)"; return; fi
    local lines; lines=$(wc -l <"$TMP/err")
    if [ "$lines" -ne 1 ]; then fail "$what: $lines stderr lines, wanted 1: $(cat "$TMP/err")"; return; fi
    grep -Eq -- "$pattern" "$TMP/err" || fail "$what: stderr '$(cat "$TMP/err")' lacks /$pattern/"
}

# expect_no_file DESCRIPTION PATH... : none of the files (or temporaries) exist
expect_no_file() {
    local what=$1; shift
    checks=$((checks + 1))
    for f in "$@"; do
        [ -e "$f" ] && fail "$what: $f exists"
        ls "$(dirname "$f")"/*hsi-tmp* >/dev/null 2>&1 && fail "$what: temporary file left in $(dirname "$f")"
    done
    return 0
}

# mpi_test_env: what every test that runs hsi under mpirun needs. Open MPI
# refuses root unless told. Open MPI itself leaks at exit (LeakSanitizer
# builds): suppress the leaks it allocates, with its plugins kept loaded so
# their frames have names; hsi's own allocations are still checked. Harmless
# without sanitizers. Two busy cores: no busy-waiting ranks.
# (Open MPI 4.1.4, Debian 12's, has no mca_base_component_disable_dlclose:
# `ompi_info --all --level 9` lists none. Its components are unloaded at
# MPI_Finalize, so the leaks' stacks end in unmapped code; only the slow
# unwinder reaches a named Open MPI library, and LeakSanitizer re-reads
# /proc/self/maps for the unknown frames: about 1.5 CPU-seconds of each
# ASan rank's exit, most of the ASan MPI tests' time. So in an ASan build
# every process of an MPI test preloads a dlclose that does nothing
# (tests/no_dlclose.c): the components stay mapped, their frames have
# names, and a 2-rank `hsi profile` takes 2.5 s instead of 4.2.)
mpi_test_env() {
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    printf '%s\n' 'leak:libmpi.so' 'leak:libopen-pal.so' 'leak:libopen-rte.so' 'leak:libpmix.so' \
        'leak:libhwloc.so' 'leak:libevent' 'leak:libucp.so' 'leak:libucs.so' 'leak:mca_' \
        >"$TMP/mpi-lsan.supp"
    export LSAN_OPTIONS="suppressions=$TMP/mpi-lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    if grep -q -- '-fsanitize=address' "$HSI_BUILDDIR/Makefile" 2>/dev/null &&
        ${CC:-cc} -shared -fPIC -o "$TMP/libno_dlclose.so" "$HSI_SRCDIR/tests/no_dlclose.c" 2>/dev/null; then
        # The shim comes before the ASan runtime in the library list; it
        # intercepts nothing ASan cares about.
        export LD_PRELOAD="$TMP/libno_dlclose.so${LD_PRELOAD:+ $LD_PRELOAD}"
        export ASAN_OPTIONS="verify_asan_link_order=0:$ASAN_OPTIONS"
    fi
    export OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
    # $RANK runs hsi through rank.sh, which records each rank's exit status
    # for expect_rank_error.
    cat >"$TMP/rank.sh" <<EOF_RANK
#!/bin/sh
"\$@"
rc=\$?
echo \$rc >"$TMP/rc.\${OMPI_COMM_WORLD_RANK:-x}"
exit \$rc
EOF_RANK
    RANK="sh $TMP/rank.sh $HSI"
}

# expect_rank_error DESCRIPTION PATTERN -- mpirun arguments... : as
# expect_error, within 60 s, and every rank (of 2) exited non-zero. mpirun is
# told not to kill the other ranks when one exits non-zero (it then exits 0
# itself), so that each rank's own exit status gets recorded.
expect_rank_error() {
    local what=$1 pattern=$2 r rank_rc; shift 2; [ "$1" = "--" ] && shift
    checks=$((checks + 1))
    rm -f "$TMP"/rc.*
    OMPI_MCA_orte_abort_on_non_zero_status=0 timeout -k 5 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then fail "$what: hung (killed after 60 s)"; return; fi
    for r in 0 1; do
        rank_rc=$(cat "$TMP/rc.$r" 2>/dev/null)
        if [ -z "$rank_rc" ]; then fail "$what: rank $r did not finish"; return; fi
        [ "$rank_rc" -ne 0 ] || fail "$what: rank $r exited 0"
        [ "$rank_rc" -lt 128 ] || fail "$what: rank $r crashed (exit $rank_rc)"
    done
    local lines; lines=$(wc -l <"$TMP/err")
    if [ "$lines" -ne 1 ]; then fail "$what: $lines stderr lines, wanted 1: $(cat "$TMP/err")"; return; fi
    grep -Eq -- "$pattern" "$TMP/err" || fail "$what: stderr '$(cat "$TMP/err")' lacks /$pattern/"
}

finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
    exit $?
}
