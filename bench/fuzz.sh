#!/bin/sh
# fuzz.sh BUILD SECONDS [TARGET...] - run hsi's libFuzzer targets.
#
# BUILD is a build directory configured with CC=clang --enable-fuzz (the
# targets are built here with `make fuzz` if missing). Each TARGET (default:
# all; "spec" or "fuzz_spec") runs for SECONDS on a copy of its committed
# seed corpus tests/fuzz/corpus/NAME, so the committed corpus is never
# touched, plus the regression inputs in tests/fuzz/crashes/NAME. After a
# finding libFuzzer is started again for the time left, so one run can
# report several. Prints one line per target:
#     fuzz_spec: 12345 runs in 30 s, coverage 210 edges (ft 480), 0 findings
# and, for each finding, the saved input and the command that reproduces it.
# The scratch directory (FUZZ_SCRATCH, default a new /tmp/hsi-fuzz-run.*)
# keeps the grown corpora, logs and findings. Exit status: 0 when no target
# found anything, 1 when one did, 2 on a usage or build error.
set -u
export LC_ALL=C # the logs can hold the targets' binary input echoed back
usage() { echo "usage: bench/fuzz.sh BUILD SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "fuzz.sh: no build directory $1" >&2; exit 2; }
seconds=$2
shift 2
case $seconds in ''|*[!0-9]*) usage ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
all="spec checkpoint svm preprocess bands envi mat experiment"
targets=""
for t in "${@:-$all}"; do targets="$targets ${t#fuzz_}"; done
[ $# -gt 0 ] || targets=$all

for t in $targets; do
    case " $all " in *" $t "*) ;; *) echo "fuzz.sh: unknown target $t (have: $all)" >&2; exit 2 ;; esac
    [ -x "$build/tests/fuzz/fuzz_$t" ] && continue
    make -C "$build" fuzz >"$build/fuzz-make.log" 2>&1 ||
        { echo "fuzz.sh: 'make fuzz' failed in $build (configured with CC=clang --enable-fuzz?); see $build/fuzz-make.log" >&2; exit 2; }
    break
done

scratch=${FUZZ_SCRATCH:-$(mktemp -d /tmp/hsi-fuzz-run.XXXXXX)}
mkdir -p "$scratch"
# Inputs bigger than this are not generated (the seeds fit).
max_len() {
    case $1 in
    spec|preprocess|envi) echo 4096 ;;
    checkpoint|svm|mat) echo 16384 ;;
    bands) echo 12288 ;;
    esac
}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=0}"
# Leaks inside third-party libraries (HDF5) are listed, with why, in the
# suppressions file; a leak in hsi's own code is still a finding.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")/.." && pwd)/tests/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in $targets; do
    bin="$build/tests/fuzz/fuzz_$t"
    dir="$scratch/$t"
    rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/findings" "$dir/tmp"
    # The targets stage inputs under $TMPDIR; a crash leaves its files there.
    export TMPDIR="$dir/tmp"
    cp "$src/tests/fuzz/corpus/$t/"* "$dir/corpus/" 2>/dev/null
    [ -d "$src/tests/fuzz/crashes/$t" ] && cp "$src/tests/fuzz/crashes/$t/"* "$dir/corpus/" 2>/dev/null
    chmod -R u+w "$dir/corpus"
    dict=""
    [ -f "$src/tests/fuzz/dict/$t.dict" ] && dict="-dict=$src/tests/fuzz/dict/$t.dict"
    # libFuzzer stops at its first finding; start it again (on the grown
    # corpus, without the input that failed) until the time is spent. This
    # keeps its full speed on the slow GDAL and matio targets, where fork
    # mode spends most of its time starting jobs.
    start=$(date +%s)
    runs=0 round=0 cov="" ft="" rc=0
    while :; do
        left=$(( seconds - ($(date +%s) - start) ))
        [ "$left" -gt 0 ] || break
        round=$((round + 1))
        log="$dir/log.$round"
        before=$(find "$dir/findings" -type f | wc -l)
        "$bin" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 -report_slow_units=1000000 \
            -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$dir/findings/" \
            $dict "$dir/corpus" >"$log" 2>&1
        rc=$?
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        [ -n "$n" ] || n=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/^#([0-9]+).*/\1/')
        runs=$((runs + ${n:-0}))
        last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1)
        [ -z "$last" ] || cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
        [ -z "$last" ] || ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
        [ "$rc" -eq 0 ] && break
        # A finding: drop the input from the corpus (a seed or a regression
        # input would stop every later round at start-up) and go on.
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        [ -n "$art" ] && [ -f "$art" ] && [ "$(find "$dir/findings" -type f | wc -l)" -gt "$before" ] || break
        sum=$(sha1sum <"$art" | cut -d' ' -f1)
        for c in "$dir/corpus"/*; do
            [ "$(sha1sum <"$c" | cut -d' ' -f1)" = "$sum" ] && rm -f "$c"
        done
    done
    took=$(( $(date +%s) - start ))
    cat "$dir"/log.* >"$dir/log" 2>/dev/null
    findings=$(find "$dir/findings" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$findings" -eq 0 ]; then
        echo "fuzz_$t: libFuzzer failed (exit $rc); see $dir/log"
        status=1
        continue
    fi
    # One line per distinct problem: what the sanitizer said (numbers
    # dropped) and the first frame in hsi's sources, found by rerunning each
    # saved input once.
    : >"$dir/signatures"
    for f in $(find "$dir/findings" -type f | sort); do
        "$bin" "$f" >"$f.out" 2>&1
        kind=$(grep -m1 -E '(ERROR|WARNING): (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error: ' "$f.out" |
            sed -E 's/^.*(ERROR|WARNING): //; s/^[^ ]* runtime error: /runtime error: /; s/0x[0-9a-f]+//g; s/[0-9]+//g; s/ +/ /g; s/ \(.*//' | cut -c1-90)
        where=$(grep -m1 -E '^ +#[0-9]+ .* in [^ ]+ [^ ]*/(base|io|cnn3d|classifiers|features|eval|datasets)/[^ ]+:[0-9]+' "$f.out" |
            sed -E 's/^.* in ([^ ]+) [^ ]*\/([a-z0-9]+\/[^/ ]+:[0-9]+).*/\1 \2/')
        # No frame in hsi: the first one past the allocator/interceptor, in its library.
        [ -n "$where" ] || where=$(grep -E '^ +#[0-9]+ ' "$f.out" |
            grep -v -E ' in (__interceptor_|__asan|__sanitizer|__lsan|malloc|calloc|realloc|posix_memalign|operator new|fuzzer::)' |
            grep -m1 -E '\(/[^ ]*\+0x' | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ +(in ([^( ]+)[^/]*)?\(([^ +]*\/)?([^ +/]+)\+0x.*/\2 in \4/; s/^ in /in /')
        [ -n "$kind" ] || kind="$(basename "$f" | cut -d- -f1) (did not reproduce in a single run)"
        printf '%s @ %s\t%s\n' "$kind" "${where:-?}" "$f" >>"$dir/signatures"
        mv "$f.out" "$dir/$(basename "$f").log"
    done
    distinct=$(cut -f1 "$dir/signatures" | sort -u | grep -c . )
    echo "fuzz_$t: ${runs:-0} runs in $took s, coverage ${cov:-?} edges (ft ${ft:-?}), $findings findings ($distinct distinct)"
    cut -f1 "$dir/signatures" | sort | uniq -c | sort -rn | while read -r n sig; do
        f=$(grep -F "$sig	" "$dir/signatures" | head -1 | cut -f2)
        echo "  [$n] $sig"
        echo "      reproduce: $bin $f"
    done
    [ "$findings" -eq 0 ] || status=1
done
echo "scratch: $scratch"
exit $status
