#!/bin/sh
# test_experiment.sh - `hsi experiment`: a tiny experiment end to end; its
# results.csv equals what `hsi report` prints for every job's saved
# prediction; a killed run resumes without repeating a finished job; the
# same table from two MPI ranks; configuration errors name file:line.
. "$HSI_SRCDIR/tests/setup.sh"
# Configs name specs relative to the current directory: run from the source tree.
cd "$HSI_SRCDIR" || exit 99
TINY=datasets/experiments/tiny.ini
OUT="$TMP/tiny"

expect_ok "tiny experiment" -- "$HSI" experiment "$TINY" -o "$OUT"
grep -q '12 jobs (12 run here, 0 already finished)' "$TMP/out" || fail "tiny: $(cat "$TMP/out")"
grep -q '12/12 jobs, elapsed [0-9:]*, ETA 0:00: done mlp / blocks / seed 2' "$TMP/err" ||
    fail "no progress line with the job count, elapsed time and ETA: $(tail -2 "$TMP/err")"
for f in results.csv results.json report.md report.html figures/oa.png figures/oa.svg figures/legend.png \
         figures/confusion_svm-sdap_blocks.png figures/curve_loss_mlp_random.png \
         jobs/mlp/blocks/s2/pred.tif jobs/mlp/blocks/s2/epochs.csv jobs/svm-raw/random/s1/model.svm \
         splits/blocks_s1_train.tif features/svm-sdap.tif scene.tif gt.tif; do
    [ -s "$OUT/$f" ] || fail "missing $f"
done
[ "$(wc -l <"$OUT/results.csv")" -eq 13 ] || fail "results.csv: $(wc -l <"$OUT/results.csv") lines, want 13"
# The CNN's training curve: 3 epochs logged.
[ "$(wc -l <"$OUT/jobs/mlp/blocks/s2/epochs.csv")" -eq 4 ] || fail "epochs.csv: $(cat "$OUT/jobs/mlp/blocks/s2/epochs.csv")"
"$HSI_PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["jobs"]) == 12 and len(d["summary"]) == 6' \
    "$OUT/results.json" 2>"$TMP/err" || [ -z "$HSI_PYTHON3" ] || fail "results.json: $(cat "$TMP/err")"
pass

# Every job's row equals `hsi report` on its pred.tif and split: OA, AA,
# kappa and producer's accuracy per class, character for character.
tail -n +2 "$OUT/results.csv" | while IFS=, read -r pipe split seed oa aa kappa rest; do
    "$HSI" report --truth "$OUT/splits/${split}_s${seed}_test.tif" \
        --pred "$OUT/jobs/$pipe/$split/s$seed/pred.tif" --csv - >"$TMP/rep.csv" ||
        { echo "FAIL: hsi report on $pipe/$split/$seed" >&2; exit 1; }
    want() { grep "^$1,,,," "$TMP/rep.csv" | cut -d, -f5; }
    [ "$oa" = "$(want oa)" ] && [ "$aa" = "$(want aa)" ] && [ "$kappa" = "$(want kappa)" ] ||
        { echo "FAIL: $pipe/$split/$seed: results.csv $oa $aa $kappa, hsi report $(want oa) $(want aa) $(want kappa)" >&2; exit 1; }
    pa=$(echo "$rest" | cut -d, -f5-)
    rep=$(grep '^producer_accuracy,' "$TMP/rep.csv" | awk -F, '{print $NF}' | paste -sd, -)
    [ "$pa" = "$rep" ] || { echo "FAIL: $pipe/$split/$seed per class: '$pa' vs hsi report '$rep'" >&2; exit 1; }
done || fail "results.csv differs from hsi report"
pass

# A job's prediction is what the commands make from the same split and seed:
# hsi svm grid, train at the best cell, predict; hsi cnn train, predict.
T="$OUT/splits/random_s1_train.tif"
expect_ok "svm grid" -- "$HSI" svm grid "$OUT/scene.tif" --train "$T" --log2c 0,8,4 --log2g -3,-9,-3 \
    --folds 3 --seed 1 --allow-missing-classes -q --csv "$TMP/grid.csv"
best=$(awk -F, 'NR > 1' "$TMP/grid.csv" | sort -t, -k5,5gr -k2,2g -k1,1g | head -n 1 | awk -F, '{print "-c " $4 " -g " $3}')
expect_ok "svm train" -- "$HSI" svm train "$OUT/scene.tif" --train "$T" $best --allow-missing-classes -q -o "$TMP/m.svm"
expect_ok "svm predict" -- "$HSI" svm predict "$OUT/scene.tif" -m "$TMP/m.svm" -q -o "$TMP/svm.tif"
expect_ok "cnn train" -- "$HSI" cnn train "$OUT/scene.tif" --spec cnn3d/specs/spectral_mlp.cfg --train "$T" \
    --epochs 3 --seed 1 --allow-missing-classes -q -o "$TMP/m.ckpt"
expect_ok "cnn predict" -- "$HSI" cnn predict "$OUT/scene.tif" -m "$TMP/m.ckpt" -q -o "$TMP/cnn.tif"
for pair in svm-raw:svm mlp:cnn; do
    job=${pair%%:*} mine=${pair#*:}
    "$HSI" report --truth "$OUT/splits/random_s1_test.tif" --pred "$TMP/$mine.tif" --csv - >"$TMP/a.csv"
    "$HSI" report --truth "$OUT/splits/random_s1_test.tif" --pred "$OUT/jobs/$job/random/s1/pred.tif" --csv - >"$TMP/b.csv"
    cmp -s "$TMP/a.csv" "$TMP/b.csv" || fail "$job/random/s1 differs from the commands' prediction: $(diff "$TMP/a.csv" "$TMP/b.csv" | head -3)"
done

# predict = labelled: the same figures, only the labelled pixels classified.
cat >"$TMP/labelled.ini" <<'EOF_INI'
[scene]
simulate = yes
rows = 64
cols = 64
[split random]
strategy = random
fraction = 0.2
patch = 5
[pipeline mlp]
classifier = cnn
spec = cnn3d/specs/spectral_mlp.cfg
epochs = 3
predict = labelled
EOF_INI
expect_ok "predict = labelled" -- "$HSI" experiment "$TMP/labelled.ini" -o "$TMP/labelled" -q
"$HSI" report --truth "$OUT/splits/random_s1_test.tif" --pred "$TMP/labelled/jobs/mlp/random/s1/pred.tif" --csv - >"$TMP/a.csv"
"$HSI" report --truth "$OUT/splits/random_s1_test.tif" --pred "$OUT/jobs/mlp/random/s1/pred.tif" --csv - >"$TMP/b.csv"
cmp -s "$TMP/a.csv" "$TMP/b.csv" || fail "predict = labelled changed the figures: $(diff "$TMP/a.csv" "$TMP/b.csv" | head -3)"
"$HSI" info "$TMP/labelled/jobs/mlp/random/s1/pred.tif" | grep -o 'labelled *[0-9]* of' >"$TMP/a.txt"
"$HSI" info "$OUT/gt.tif" | grep -o 'labelled *[0-9]* of' >"$TMP/b.txt"
cmp -s "$TMP/a.txt" "$TMP/b.txt" || fail "predict = labelled: $(cat "$TMP/a.txt") classified, $(cat "$TMP/b.txt") in the truth"

# DBSCAN clusters and a given training mask (here one made by hsi split):
# the mask split trains on exactly the mask's pixels.
expect_ok "a mask" -- "$HSI" split --truth "$OUT/gt.tif" --strategy random --fraction 0.2 --seed 7 -o "$TMP/given"
cat >"$TMP/splits.ini" <<EOF_INI
[scene]
simulate = yes
rows = 64
cols = 64
[split dbscan]
strategy = clusters
eps = 2
min-pts = 4
fraction = 0.2
patch = 5
[split given]
strategy = mask
mask = $TMP/given_train.tif
[pipeline svm]
classifier = svm
log2c = 0,8,4
log2g = -3,-9,-3
folds = 3
EOF_INI
expect_ok "clusters and mask" -- "$HSI" experiment "$TMP/splits.ini" -o "$TMP/splits" -q
[ "$(wc -l <"$TMP/splits/results.csv")" -eq 3 ] || fail "clusters and mask: $(cat "$TMP/splits/results.csv")"
expect_ok "mask pixels" -- "$HSI" report --truth "$TMP/given_train.tif" --pred "$TMP/splits/splits/given_s1_train.tif" --csv -
grep -q '^oa,,,,1$' "$TMP/out" || fail "the mask split's training pixels differ from the mask: $(grep '^oa' "$TMP/out")"
expect_ok "dbscan leakage" -- "$HSI" split --check --patch 5 "$TMP/splits/splits/dbscan_s1_train.tif" "$TMP/splits/splits/dbscan_s1_test.tif"
grep -q '^Leakage: 0 of ' "$TMP/out" || fail "DBSCAN split leaks: $(grep -i leak "$TMP/out")"

# Run again: nothing to do, nothing rewritten.
stat -c %Y.%s "$OUT"/jobs/*/*/*/result.ini >"$TMP/stamps1"
sleep 1
expect_ok "rerun" -- "$HSI" experiment "$TINY" -o "$OUT" -q
stat -c %Y.%s "$OUT"/jobs/*/*/*/result.ini >"$TMP/stamps2"
cmp -s "$TMP/stamps1" "$TMP/stamps2" || fail "a rerun rewrote finished jobs"

# Kill a run after its first job, resume it: the finished job is not run
# again (its files keep their time and bytes), the rest is.
cat >"$TMP/resume.ini" <<'EOF_INI'
[experiment]
seeds = 1, 2
[scene]
simulate = yes
rows = 64
cols = 64
[split random]
strategy = random
fraction = 0.2
patch = 5
[pipeline svm]
classifier = svm
log2c = 0,8,4
log2g = -3,-9,-3
folds = 3
[pipeline mlp]
classifier = cnn
spec = cnn3d/specs/spectral_mlp.cfg
epochs = 400
EOF_INI
R="$TMP/resume"
"$HSI" experiment "$TMP/resume.ini" -o "$R" -q &
pid=$!
i=0
while [ ! -e "$R/jobs/svm/random/s1/result.ini" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
[ -e "$R/jobs/svm/random/s1/result.ini" ] || fail "the first job never finished"
if [ -e "$R/report.html" ]; then
    fail "the run finished before it could be killed (rc $rc): make the mlp job longer"
else
    [ "$rc" -ne 0 ] || fail "killed run exited 0"
    [ -n "$(find "$R" -name '*hsi-tmp*')" ] && fail "temporaries left after the kill: $(find "$R" -name '*hsi-tmp*')"
    done_before=$(ls "$R"/jobs/*/*/*/result.ini | wc -l)
    stat -c %Y "$R/jobs/svm/random/s1/result.ini" "$R/jobs/svm/random/s1/pred.tif" >"$TMP/t1"
    md5sum "$R/jobs/svm/random/s1/result.ini" "$R/jobs/svm/random/s1/pred.tif" >"$TMP/m1"
    sleep 1
    # Resume with fewer epochs would change the config: resume the same one.
    expect_ok "resume" -- "$HSI" experiment "$TMP/resume.ini" -o "$R"
    grep -q "4 jobs ($((4 - done_before)) run here, $done_before already finished)" "$TMP/out" ||
        fail "resume: $(cat "$TMP/out") (finished before: $done_before)"
    stat -c %Y "$R/jobs/svm/random/s1/result.ini" "$R/jobs/svm/random/s1/pred.tif" >"$TMP/t2"
    md5sum "$R/jobs/svm/random/s1/result.ini" "$R/jobs/svm/random/s1/pred.tif" >"$TMP/m2"
    cmp -s "$TMP/t1" "$TMP/t2" && cmp -s "$TMP/m1" "$TMP/m2" || fail "resume rewrote a finished job"
    [ -s "$R/report.html" ] && [ "$(wc -l <"$R/results.csv")" -eq 5 ] || fail "resume: no full report"
    # Another split in the same folder: refused (its splits and jobs are the old ones).
    sed 's/^fraction = 0.2/fraction = 0.3/' "$TMP/resume.ini" >"$TMP/changed.ini"
    expect_error "changed config" "made from another configuration" -- \
        "$HSI" experiment "$TMP/changed.ini" -o "$R"
    # A seed more: only its jobs run (comments and spacing do not matter).
    sed 's/^seeds = 1, 2/seeds = 1,2,3   # one more/' "$TMP/resume.ini" >"$TMP/more.ini"
    expect_ok "one seed more" -- "$HSI" experiment "$TMP/more.ini" -o "$R"
    grep -q "6 jobs (2 run here, 4 already finished)" "$TMP/out" || fail "more seeds: $(cat "$TMP/out")"
fi

# Under mpirun the jobs are farmed over the ranks; the table is the same.
if [ -n "${HSI_MPIRUN:-}" ]; then
    mpi_test_env
    expect_ok "tiny on 2 ranks" -- env OMP_NUM_THREADS=1 $HSI_MPIRUN --quiet --oversubscribe -np 2 \
        "$HSI" experiment "$TINY" -o "$TMP/mpi" -q
    # Figures (not the times) equal the single-process run's.
    cut -d, -f1-7,11- "$OUT/results.csv" >"$TMP/a.csv"
    cut -d, -f1-7,11- "$TMP/mpi/results.csv" >"$TMP/b.csv"
    cmp -s "$TMP/a.csv" "$TMP/b.csv" || fail "2 ranks: $(diff "$TMP/a.csv" "$TMP/b.csv" | head -4)"
else
    echo "(no MPI: the 2-rank run is not checked)"
fi

# Configuration errors: one line naming file:line; exit 2; nothing run.
printf '[experiment]\nseeds = 1\n[scene]\nsimulate = yes\nrows = 9999\n' >"$TMP/bad1.ini"
expect_error "bad value" "bad1.ini:5: \[scene\] rows = '9999'" -- "$HSI" experiment "$TMP/bad1.ini" -o "$TMP/b1"
printf '[scene]\nsimulate = yes\n[split a]\nstrategy = random\n[pipeline p]\nclassifier = svm\nkernel = rbf\n' >"$TMP/bad2.ini"
expect_error "unknown key" "bad2.ini:7: \[pipeline p\] unknown key 'kernel'" -- "$HSI" experiment "$TMP/bad2.ini" -o "$TMP/b2"
printf '[scene]\nsimulate = yes\n[split a]\nstrategy = random\n[split a]\n' >"$TMP/bad3.ini"
expect_error "twice" "bad3.ini:5: a second \[split a\]" -- "$HSI" experiment "$TMP/bad3.ini" -o "$TMP/b3"
printf '[scene]\nsimulate = yes\n[split a]\nstrategy = random\n' >"$TMP/bad4.ini"
expect_error "no pipeline" "bad4.ini: no \[pipeline NAME\]" -- "$HSI" experiment "$TMP/bad4.ini" -o "$TMP/b4"
[ -e "$TMP/b1" ] && fail "a bad config created its output folder"
"$HSI" experiment "$TMP/bad1.ini" -o "$TMP/b1" 2>/dev/null
[ $? -eq 2 ] || fail "a bad config must exit 2"
expect_error "no -o" "give the report folder" -- "$HSI" experiment "$TINY"
# Every shipped configuration parses (--list reads no data).
for f in datasets/experiments/*.ini; do
    expect_ok "list $f" -- "$HSI" experiment "$f" -o "$TMP/list" --list
    grep -q "^[0-9]* jobs, 0 finished" "$TMP/out" || fail "$f --list: $(tail -1 "$TMP/out")"
done
expect_ok "list tiny" -- "$HSI" experiment "$TINY" -o "$OUT" --list
grep -q "^12 jobs, 12 finished" "$TMP/out" || fail "tiny --list: $(tail -1 "$TMP/out")"
expect_error "report of an unfinished run" "0 of 12 jobs finished" -- \
    "$HSI" experiment "$TINY" -o "$TMP/nothing" --report-only
expect_ok "help" -- "$HSI" experiment --help
grep -q 'results.csv' "$TMP/out" || fail "--help lacks the report folder"
finish
