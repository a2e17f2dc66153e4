# test_cli_convention.sh - every hsi command and subcommand follows one
# command-line convention (ARCHITECTURE.md, Conventions): the shared options
# in --help, one-line usage errors with exit status 2, and bad values refused
# before any data is read.
. "$(dirname "$0")/setup.sh"

# Every command and subcommand, as its --help is asked for.
commands="info convert simulate datasets split report map profile
svm:grid svm:train svm:predict cnn:summary cnn:train cnn:predict cnn:eval"
# Those that read a ground truth, and those that offer tables.
reads_truth="info split report map svm:grid svm:train"
tables_csv="split report svm:grid cnn:eval"
tables_json="info split report svm:grid cnn:eval"

in_list() { case " $(echo $2) " in *" $1 "*) return 0 ;; esac; return 1; }
words() { echo "$1" | tr ':' ' '; }

for c in $commands; do
    set -- $(words "$c")
    checks=$((checks + 1))
    if ! "$HSI" "$@" --help >"$TMP/help" 2>"$TMP/err"; then
        fail "$c --help exited non-zero: $(cat "$TMP/err")"; continue
    fi
    [ -s "$TMP/err" ] && fail "$c --help wrote to stderr: $(cat "$TMP/err")"
    grep -q -- '-q, --quiet' "$TMP/help" || fail "$c --help: no -q, --quiet"
    if in_list "$c" "$reads_truth"; then
        grep -q -- '--truth GT' "$TMP/help" || fail "$c --help: no --truth GT"
    fi
    # The ground truth is never spelled --gt outside the simulator's output.
    [ "$c" = simulate ] || ! grep -q -- '--gt ' "$TMP/help" || fail "$c --help mentions --gt"
    if in_list "$c" "$tables_csv"; then
        grep -q -- '--csv FILE' "$TMP/help" || fail "$c --help: no --csv FILE"
    fi
    if in_list "$c" "$tables_json"; then
        grep -q -- '--json FILE' "$TMP/help" || fail "$c --help: no --json FILE"
    fi
    # --bands is a 1-based band list wherever it is an option.
    if grep -Eq -- '^ +--bands ' "$TMP/help"; then
        grep -E -- '^ +--bands ' "$TMP/help" | grep -q '1-based' ||
            fail "$c --help: --bands is not described as 1-based bands"
    fi
    # --format, where offered, is a raster format (GTiff, ENVI, PNG).
    if grep -Eq -- '^ +--format ' "$TMP/help"; then
        grep -E -A1 -- '^ +--format ' "$TMP/help" | grep -Eq 'GTiff|PNG|ENVI' ||
            fail "$c --help: --format is not a raster format"
    fi
done

# expect_usage NAME PREFIX PATTERN -- command... : exit 2 and exactly one
# stderr line that starts with PREFIX and matches PATTERN.
expect_usage() {
    local what=$1 prefix=$2 pattern=$3; shift 3; [ "$1" = "--" ] && shift
    checks=$((checks + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq 2 ] || { fail "$what: exit $rc, wanted 2: $(cat "$TMP/err")"; return; }
    local lines; lines=$(wc -l <"$TMP/err")
    [ "$lines" -eq 1 ] || { fail "$what: $lines stderr lines, wanted 1: $(cat "$TMP/err")"; return; }
    case "$(cat "$TMP/err")" in
        "$prefix"*) ;;
        *) fail "$what: stderr '$(cat "$TMP/err")' does not start with '$prefix'"; return ;;
    esac
    grep -Eq -- "$pattern" "$TMP/err" || fail "$what: stderr '$(cat "$TMP/err")' lacks /$pattern/"
    if grep -q 'nonexistent' "$TMP/err"; then fail "$what: the data was read before the usage error"; fi
}

# An unknown option and a missing value: one line, 'hsi CMD: [SUB: ]', exit 2.
for c in $commands; do
    set -- $(words "$c")
    prefix="hsi $1: "
    [ $# -eq 2 ] && prefix="hsi $1: $2: "
    kind=
    [ "$1" = map ] && kind=class
    expect_usage "$c unknown option" "$prefix" "unknown option '--no-such-option'" -- \
        "$HSI" "$@" $kind --no-such-option
    expect_usage "$c unknown short option" "$prefix" "unknown option '-Z'" -- "$HSI" "$@" $kind -Z
done
while read -r c opt; do
    set -- $(words "$c")
    prefix="hsi $1: "
    [ $# -eq 2 ] && prefix="hsi $1: $2: "
    kind=
    [ "$1" = map ] && kind=class
    expect_usage "$c $opt without a value" "$prefix" "option '$opt' needs a value" -- \
        "$HSI" "$@" $kind "$opt"
done <<'EOF'
info --var
convert -o
simulate --rows
split --fraction
report --truth
map -o
profile --pca
svm:grid --log2c
svm:train -c
svm:predict -m
cnn:summary --classes
cnn:train --epochs
cnn:predict -m
cnn:eval --test
EOF

# Bad values are usage errors (exit 2) found before any data is read: every
# input below is missing, so reading first would give a different error.
N="$TMP/nonexistent"
expect_usage "svm gamma -1" "hsi svm" 'gamma must be a positive number' -- \
    "$HSI" svm train "$N.tif" --train "$N-train.tif" -g -1 -o "$TMP/m.svm"
expect_usage "svm C 0" "hsi svm" 'C must be a positive number' -- \
    "$HSI" svm train "$N.tif" --train "$N-train.tif" -c 0 -o "$TMP/m.svm"
expect_usage "svm folds 1" "hsi svm" '--folds' -- "$HSI" svm grid "$N.tif" --train "$N-train.tif" --folds 1
expect_usage "svm fraction 0" "hsi svm" '--fraction' -- \
    "$HSI" svm grid "$N.tif" --truth "$N-gt.tif" --fraction 0
expect_usage "split fraction 1" "hsi split: " '--fraction' -- \
    "$HSI" split --truth "$N-gt.tif" --fraction 1 -o "$TMP/s"
expect_usage "split even patch" "hsi split: " 'not odd' -- \
    "$HSI" split --truth "$N-gt.tif" --patch 8 -o "$TMP/s"
expect_usage "cnn epochs -1" "hsi cnn: " '--epochs' -- \
    "$HSI" cnn train "$N.tif" --spec "$N.cfg" --train "$N-train.tif" --epochs -1 -o "$TMP/c.ckpt"
expect_usage "cnn validation split 1" "hsi cnn: " '--validation-split' -- \
    "$HSI" cnn train "$N.tif" --spec "$N.cfg" --train "$N-train.tif" --validation-split 1 -o "$TMP/c.ckpt"
expect_usage "cnn class weights" "hsi cnn: " '--class-weights' -- \
    "$HSI" cnn train "$N.tif" --spec "$N.cfg" --train "$N-train.tif" --class-weights 1:2 -o "$TMP/c.ckpt"
expect_usage "cnn summary --bands" "hsi cnn: " '--bands-count' -- "$HSI" cnn summary "$N.cfg" --bands 200
expect_usage "profile pca 0" "hsi profile: " '--pca' -- "$HSI" profile "$N.tif" --pca 0 --sdap area=10 -o "$TMP/p.tif"
expect_usage "simulate rows 0" "hsi simulate: " '--rows' -- "$HSI" simulate --rows 0 -o "$TMP/x.tif"
expect_usage "report format" "hsi report: " 'xml' -- \
    "$HSI" report --truth "$N-gt.tif" --pred "$N.tif" --report-format xml
expect_usage "map scale 0" "hsi map: " '--scale' -- "$HSI" map class "$N.tif" --scale 0 -o "$TMP/m.png"
expect_usage "info scene" "hsi info: " 'atlantis' -- "$HSI" info "$N.tif" --scene atlantis
expect_usage "svm malformed --bands" "hsi svm" '--bands' -- \
    "$HSI" svm train "$N.tif" --train "$N-train.tif" --bands 1-3,x -o "$TMP/m.svm"
expect_usage "cnn malformed --bands" "hsi cnn: " '--bands' -- \
    "$HSI" cnn train "$N.tif" --spec "$N.cfg" --train "$N-train.tif" --bands 0-3 -o "$TMP/c.ckpt"
expect_usage "svm malformed --preprocess" "hsi svm" '--preprocess' -- \
    "$HSI" svm grid "$N.tif" --train "$N-train.tif" --preprocess pca:0
expect_usage "convert PNG" "hsi convert: " 'PNG' -- "$HSI" convert "$N.tif" --format PNG -o "$TMP/c.png"
expect_no_file "nothing written by refused commands" "$TMP/m.svm" "$TMP/c.ckpt" "$TMP/p.tif" "$TMP/x.tif"

# cnn summary refuses an even patch, as train does.
sed 's/^input = 1, 1, auto/input = 4, 4, auto/' "$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg" >"$TMP/even.cfg"
grep -q '^input = 4, 4' "$TMP/even.cfg" || fail "spectral_mlp.cfg no longer starts 'input = 1, 1, auto'"
expect_error "cnn summary, even patch" 'must be equal and odd' -- "$HSI" cnn summary "$TMP/even.cfg"

# The tables: --csv FILE / --json FILE, '-' for standard output.
expect_ok "simulate" -- "$HSI" simulate -q --rows 40 --cols 40 --seed 3 -o "$TMP/s.tif" --gt "$TMP/gt.tif"
expect_ok "split tables" -- "$HSI" split --truth "$TMP/gt.tif" -q -o "$TMP/sp" \
    --csv "$TMP/sp.csv" --json "$TMP/sp.json"
checks=$((checks + 1))
head -1 "$TMP/sp.csv" | grep -q '^class,name,total,train,val,test,unused$' || fail "split --csv: $(head -1 "$TMP/sp.csv")"
"$HSI" split --truth "$TMP/gt.tif" -o "$TMP/sp" --json - | grep -q '"leakage"' || fail "split --json -"
expect_ok "report tables" -- "$HSI" report --truth "$TMP/sp_test.tif" --pred "$TMP/gt.tif" \
    --csv "$TMP/r.csv" --json "$TMP/r.json" -o "$TMP/r.md"
checks=$((checks + 1))
head -1 "$TMP/r.md" | grep -q '^|' || fail "report -o r.md is not Markdown: $(head -1 "$TMP/r.md")"
head -1 "$TMP/r.csv" | grep -q ',' || fail "report --csv"
head -c 1 "$TMP/r.json" | grep -q '{' || fail "report --json"
"$HSI" report --truth "$TMP/sp_test.tif" --pred "$TMP/gt.tif" --json - | head -c 1 | grep -q '{' ||
    fail "report --json -"
"$HSI" info --json - "$TMP/gt.tif" | head -c 1 | grep -q '{' || fail "info --json -"
expect_ok "info --json FILE" -- "$HSI" info --json "$TMP/info.json" "$TMP/gt.tif"
head -c 1 "$TMP/info.json" | grep -q '{' || fail "info --json FILE"

# The report's classes come from the truth raster's category table: a test
# raster without some class is scored against a prediction that holds it.
expect_ok "blocks split" -- "$HSI" split --truth "$TMP/gt.tif" --strategy blocks --block 16 \
    --patch 3 -q -o "$TMP/b"
expect_ok "report: class missing from the test raster" -- \
    "$HSI" report --truth "$TMP/b_test.tif" --pred "$TMP/gt.tif"

# svm and cnn treat a class without training pixels alike.
expect_error "cnn: class without training pixels" 'has no training pixels.*--allow-missing-classes' -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg" \
    --train "$TMP/b_train.tif" --epochs 0 -q -o "$TMP/c.ckpt"
expect_ok "cnn: --allow-missing-classes" -- \
    "$HSI" cnn train "$TMP/s.tif" --spec "$HSI_SRCDIR/cnn3d/specs/spectral_mlp.cfg" \
    --train "$TMP/b_train.tif" --epochs 0 -q --allow-missing-classes -o "$TMP/c.ckpt"
expect_error "svm: class without training pixels" 'has no training pixels.*--allow-missing-classes' -- \
    "$HSI" svm train "$TMP/s.tif" --train "$TMP/b_train.tif" -q -o "$TMP/m.svm"
finish
