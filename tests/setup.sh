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

finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
    exit $?
}
