#!/bin/sh
# test_cnn_mpi.sh - `mpirun -np N hsi cnn train|predict|eval`: training on 2
# and 3 ranks gives one process's weights (tolerance below), a killed 2-rank
# run resumes from its last checkpoint to the uninterrupted run's weights,
# prediction and evaluation over ranks are bit-identical to one process's,
# and one rank's failure stops all with one line naming it.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
mpi_test_env
MPI="timeout -k 5 120 $HSI_MPIRUN --quiet --oversubscribe"
DIFF="$HSI_BUILDDIR/tests/cnn_ckpt_diff"
# Tolerance of "the same weights": the largest parameter difference over the
# largest parameter magnitude. The ranks sum their shards' gradients in
# another order than one process sums the samples (float rounding, ~1e-7
# relative per step); after a few epochs the weights agree to ~3e-7 here.
TOL=1e-5

# The SVM tests' scene: 30 x 24 pixels, 8 bands, 3 classes (cube, train, gt).
"$HSI_BUILDDIR/tests/test_svm_scene" make "$TMP" || { echo "cannot make the test scene"; exit 99; }
# A small conv net without dropout or batch normalisation (their masks and
# batch statistics depend on the sharding, see hsi cnn --help).
cat >"$TMP/net.cfg" <<'EOF_SPEC'
[net]
input = 3, 3, auto
classes = auto
batch = 16
epochs = 4
loss = cce
optimizer = sgd
learning_rate = 0.01
momentum = 0.9

[conv3d]
filters = 4
kernel = 3, 3, 3
activation = relu

[maxpool3d]
size = 1, 1, 2

[flatten]

[dense]
units = classes
activation = softmax
EOF_SPEC
sed 's/optimizer = sgd/optimizer = adam/; s/learning_rate = 0.01/learning_rate = 0.001/' \
    "$TMP/net.cfg" >"$TMP/adam.cfg"
TRAIN="cnn train $TMP/cube.tif --train $TMP/train.tif -q"

# ---- the same weights on 1, 2 and 3 ranks
same_weights() { # DESCRIPTION A B
    checks=$((checks + 1))
    "$DIFF" "$2" "$3" "$TOL" >"$TMP/diff" 2>&1 || fail "$1: $(cat "$TMP/diff")"
}
expect_ok "train, one process" -- "$HSI" $TRAIN --spec "$TMP/net.cfg" -o "$TMP/w1.ckpt"
expect_ok "train, 2 ranks" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/net.cfg" -o "$TMP/w2.ckpt" \
    --bucket-mb 0.0001 --timing
# Several buckets, reduced during the backward pass; the timing line.
grep -q '^timing: ranks 2 .* allreduce_bytes [1-9][0-9]* buckets [2-9]' "$TMP/out" ||
    fail "2 ranks: no timing line with several buckets: $(cat "$TMP/out")"
pass
same_weights "2 ranks vs one process" "$TMP/w1.ckpt" "$TMP/w2.ckpt"
# Uneven shards (batch 15 on 3 ranks: 5 each, the last batch shorter),
# balanced class weights, a validation split, Adam, the reduction after
# the backward pass.
OPTS="--batch 15 --class-weights balanced --validation-split 0.2 --seed 7 --epochs 5"
expect_ok "adam, one process" -- "$HSI" $TRAIN --spec "$TMP/adam.cfg" $OPTS -o "$TMP/a1.ckpt"
expect_ok "adam, 3 ranks" -- $MPI -np 3 "$HSI" $TRAIN --spec "$TMP/adam.cfg" $OPTS -o "$TMP/a3.ckpt"
expect_ok "adam, 2 ranks, no overlap" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/adam.cfg" $OPTS \
    -o "$TMP/a2.ckpt" --no-overlap
same_weights "3 ranks vs one process" "$TMP/a1.ckpt" "$TMP/a3.ckpt"
same_weights "2 ranks without overlap vs one process" "$TMP/a1.ckpt" "$TMP/a2.ckpt"
# A global batch of 32 on 2 ranks (16 each) with the linear rule: the rate
# doubles, and one process with the same global batch gets the same weights.
GB="--global-batch 32 --epochs 3"
expect_ok "global batch, one process" -- "$HSI" $TRAIN --spec "$TMP/net.cfg" $GB -o "$TMP/g1.ckpt"
expect_ok "global batch, 2 ranks" -- $MPI -np 2 "$HSI" cnn train "$TMP/cube.tif" --train "$TMP/train.tif" \
    --spec "$TMP/net.cfg" $GB -o "$TMP/g2.ckpt"
grep -q 'batch 32 over the MPI ranks' "$TMP/out" || fail "global batch: $(cat "$TMP/out")"
grep -q 'lr: 0.02$' "$TMP/out" || fail "linear scaling: rate is not 2 x 0.01: $(cat "$TMP/out")"
pass
same_weights "global batch 32, 2 ranks vs one process" "$TMP/g1.ckpt" "$TMP/g2.ckpt"
expect_ok "global batch, no scaling" -- "$HSI" cnn train "$TMP/cube.tif" --train "$TMP/train.tif" \
    --spec "$TMP/net.cfg" $GB --lr-scaling none --epochs 1 -o "$TMP/g0.ckpt"
grep -q 'lr: 0.01$' "$TMP/out" || fail "--lr-scaling none changed the rate: $(cat "$TMP/out")"
pass

# A global batch smaller than the ranks: one rank has no samples in a step.
expect_ok "global batch 2, one process" -- "$HSI" $TRAIN --spec "$TMP/net.cfg" --global-batch 2 \
    --epochs 1 -o "$TMP/t1.ckpt"
expect_ok "global batch 2, 3 ranks" -- $MPI -np 3 "$HSI" $TRAIN --spec "$TMP/net.cfg" \
    --global-batch 2 --epochs 1 -o "$TMP/t3.ckpt"
same_weights "global batch 2, 3 ranks vs one process" "$TMP/t1.ckpt" "$TMP/t3.ckpt"
# Validation scored in shares over the ranks, early stopping: the epoch
# lines (losses, accuracies, the improvement marks) are one process's.
VAL="cnn train $TMP/cube.tif --train $TMP/train.tif --spec $TMP/adam.cfg --validation-split 0.3 --patience 2 --epochs 6 --batch 15"
expect_ok "validation, one process" -- "$HSI" $VAL -o "$TMP/v1.ckpt"
grep '^Epoch' "$TMP/out" | sed 's/ - [0-9.]*s - / - /' >"$TMP/v1.txt"
expect_ok "validation, 3 ranks" -- $MPI -np 3 "$HSI" $VAL -o "$TMP/v3.ckpt"
grep '^Epoch' "$TMP/out" | sed 's/ - [0-9.]*s - / - /' >"$TMP/v3.txt"
[ -s "$TMP/v1.txt" ] && cmp -s "$TMP/v1.txt" "$TMP/v3.txt" ||
    fail "validation on 3 ranks: $(diff "$TMP/v1.txt" "$TMP/v3.txt")"
pass
same_weights "validation, 3 ranks vs one process" "$TMP/v1.ckpt" "$TMP/v3.ckpt"

# Frozen layers (transfer learning): their gradients are neither computed
# nor reduced, and the backward pass stops at the lowest layer that trains;
# the ranks still agree with one process. The conv frozen: only dense_1's
# 12 x 3 + 3 parameters are reduced (the timing line's bytes); the head
# frozen: conv3d_1 trains below it, in several buckets or after the pass.
expect_ok "conv frozen, one process" -- "$HSI" $TRAIN --spec "$TMP/net.cfg" --freeze 1 -o "$TMP/z1.ckpt"
expect_ok "conv frozen, 2 ranks" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/net.cfg" --freeze 1 \
    -o "$TMP/z2.ckpt" --timing
grep -q '^timing: ranks 2 .* allreduce_bytes 156 buckets 1' "$TMP/out" ||
    fail "conv frozen: not only dense_1's gradients reduced: $(grep '^timing' "$TMP/out")"
pass
same_weights "conv frozen, 2 ranks vs one process" "$TMP/z1.ckpt" "$TMP/z2.ckpt"
expect_ok "head frozen, one process" -- "$HSI" $TRAIN --spec "$TMP/adam.cfg" --freeze 4 -o "$TMP/h1.ckpt"
expect_ok "head frozen, 2 ranks" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/adam.cfg" --freeze 4 \
    -o "$TMP/h2.ckpt" --bucket-mb 0.0001
expect_ok "head frozen, 3 ranks, no overlap" -- $MPI -np 3 "$HSI" $TRAIN --spec "$TMP/adam.cfg" \
    --freeze dense_1 -o "$TMP/h3.ckpt" --no-overlap
same_weights "head frozen, 2 ranks vs one process" "$TMP/h1.ckpt" "$TMP/h2.ckpt"
same_weights "head frozen, 3 ranks vs one process" "$TMP/h1.ckpt" "$TMP/h3.ckpt"

# Dropout and batch normalisation: other weights than one process's (masks
# per rank, shard statistics), but the same on every 2-rank run of a seed,
# with the running statistics the same on every rank (rank 0 writes them).
cat >"$TMP/bn.cfg" <<'EOF_SPEC'
[net]
input = 3, 3, auto
classes = auto
batch = 16
epochs = 3
loss = cce
optimizer = adam
learning_rate = 0.01

[conv3d]
filters = 4
kernel = 3, 3, 3

[batchnorm]
activation = relu

[flatten]

[dropout]
rate = 0.3

[dense]
units = classes
activation = softmax
EOF_SPEC
expect_ok "dropout + batchnorm, 2 ranks" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/bn.cfg" -o "$TMP/bn1.ckpt"
expect_ok "dropout + batchnorm, 2 ranks again" -- $MPI -np 2 "$HSI" $TRAIN --spec "$TMP/bn.cfg" \
    -o "$TMP/bn2.ckpt"
checks=$((checks + 1))
"$DIFF" "$TMP/bn1.ckpt" "$TMP/bn2.ckpt" 0 >"$TMP/diff" 2>&1 || fail "dropout + batchnorm: 2-rank runs differ: $(cat "$TMP/diff")"

# ---- a 2-rank run killed mid-training resumes from its last checkpoint
# An epoch of this net takes about half a millisecond on a quiet Zen 4 (some
# 15 ms under ASan, several times that on a loaded machine). The ranks are
# frozen (SIGSTOP) within 50 ms of the first checkpoint, so 1000 epochs are
# enough for the kill to land mid-run on a fast machine, and three runs stay
# well inside the 120 s limit under ASan on a loaded one.
EPOCHS=1000
# A checkpoint every epoch: written, fsync'ed and renamed 1000 times a run.
# They go to a tmpfs where there is one, where fsync does not wait on a disk
# that other jobs share (a run took 1.0-1.7 s with them on disk, 0.6 s on
# /dev/shm, on a machine two builds shared); the code path is the same.
CK=$TMP
if [ -d /dev/shm ] && [ -w /dev/shm ] && CK=$(mktemp -d /dev/shm/hsi-test_cnn_mpi.XXXXXX); then
    trap 'rm -rf "$CK"' EXIT
else
    CK=$TMP
fi
LONG="--spec $TMP/net.cfg --epochs $EPOCHS --checkpoint-every 1"
expect_ok "uninterrupted 2-rank run" -- $MPI -np 2 "$HSI" $TRAIN $LONG -o "$CK/full.ckpt"
$HSI_MPIRUN --quiet --oversubscribe -np 2 "$HSI" $TRAIN $LONG -o "$CK/k.ckpt" \
    >/dev/null 2>&1 &
job=$!
waited=0
while [ ! -e "$CK/k.ckpt" ] && [ $waited -lt 1200 ]; do sleep 0.05; waited=$((waited + 1)); done
ranks=$(ps -o pid= --ppid $job 2>/dev/null)
[ -n "$ranks" ] || fail "killed run: no ranks found under mpirun $job"
# shellcheck disable=SC2086 # a list of process ids
kill -STOP $ranks 2>/dev/null
# Kill the ranks, as a scheduler ends a job (Slurm's scancel or time limit
# sends SIGTERM to every task, SIGKILL only after KillWait): each removes
# its temporaries. (Killing mpirun instead lets it SIGKILL a rank 1 s after
# its SIGTERM, which can leave a checkpoint's temporary beside it.) A
# stopped rank takes the SIGTERM when it is continued.
# shellcheck disable=SC2086
kill -TERM $ranks 2>/dev/null
# shellcheck disable=SC2086
kill -CONT $ranks 2>/dev/null
wait $job
checks=$((checks + 1))
"$DIFF" "$CK/k.ckpt" "$CK/k.ckpt" 0 >"$TMP/diff" 2>&1 || fail "killed run: checkpoint unreadable: $(cat "$TMP/diff")"
killed_at=$(sed -n 's/^epochs \([0-9]*\)\/.*/\1/p' "$TMP/diff")
[ -n "$killed_at" ] && [ "$killed_at" -ge 1 ] && [ "$killed_at" -lt $EPOCHS ] ||
    fail "killed run: checkpoint at epoch '${killed_at}', wanted 1..$((EPOCHS - 1)) (not killed mid-run?)"
expect_no_file "no temporary left by the kill" "$CK/none"
expect_ok "resume the killed run on 2 ranks" -- $MPI -np 2 "$HSI" $TRAIN $LONG --resume "$CK/k.ckpt" \
    -o "$CK/k.ckpt"
# The same seeded order, shards and optimiser state: the same weights as
# the run that was never interrupted.
same_weights "resumed vs uninterrupted" "$CK/full.ckpt" "$CK/k.ckpt"
grep -q "^epochs $EPOCHS/$EPOCHS " "$TMP/diff" || fail "resumed run: $(cat "$TMP/diff")"
# A 2-rank checkpoint resumes on one process too.
expect_ok "resume on one process" -- "$HSI" $TRAIN --spec "$TMP/net.cfg" --epochs 6 \
    --resume "$TMP/w2.ckpt" -o "$TMP/w2b.ckpt"

# ---- prediction and evaluation over ranks: bit-identical
PRED="cnn predict $TMP/cube.tif -m $TMP/w1.ckpt -q"
expect_ok "predict, one process" -- "$HSI" $PRED -o "$TMP/c0.tif" --prob "$TMP/p0.tif" --batch 7
expect_ok "predict, 2 ranks" -- $MPI -np 2 "$HSI" $PRED -o "$TMP/c2.tif" --prob "$TMP/p2.tif" --batch 7
expect_ok "predict, 3 ranks" -- $MPI -np 3 "$HSI" $PRED -o "$TMP/c3.tif" --prob "$TMP/p3.tif" --batch 7
for f in c2 p2 c3 p3; do
    cmp -s "$TMP/${f%?}0.tif" "$TMP/$f.tif" || fail "$f.tif differs from the one-process output"
done
pass
# Dense prediction (cnn3d/predict_dense.h) in tiles of 4 x 5 pixels: 8
# bands of tiles, the last cut, shared out whole; per window (HSI_CNN_DENSE=0)
# on 2 ranks as before.
for np in 1 2 3; do
    expect_ok "dense predict, $np rank(s), 4 x 5 tiles" -- env HSI_CNN_DENSE=1 HSI_CNN_DENSE_TILE=4x5 \
        $MPI -np $np "$HSI" $PRED -o "$TMP/d$np.tif" --prob "$TMP/q$np.tif" --batch 7
done
expect_ok "per-window predict, 2 ranks" -- env HSI_CNN_DENSE=0 $MPI -np 2 "$HSI" $PRED \
    -o "$TMP/w2.tif" --prob "$TMP/v2.tif" --batch 7
expect_ok "per-window predict, one process" -- env HSI_CNN_DENSE=0 "$HSI" $PRED \
    -o "$TMP/w1.tif" --prob "$TMP/v1.tif" --batch 7
for f in d2 q2 d3 q3; do
    cmp -s "$TMP/${f%?}1.tif" "$TMP/$f.tif" || fail "dense $f.tif differs from the one-process output"
done
cmp -s "$TMP/w1.tif" "$TMP/w2.tif" && cmp -s "$TMP/v1.tif" "$TMP/v2.tif" ||
    fail "per window on 2 ranks differs from one process"
pass
# More ranks than batches: 720 pixels in batches of 512 on 3 ranks.
expect_ok "predict, more ranks than batches" -- $MPI -np 3 "$HSI" $PRED -o "$TMP/c5.tif" --batch 512
expect_ok "predict, one process, batch 512" -- "$HSI" $PRED -o "$TMP/c4.tif" --batch 512
cmp -s "$TMP/c4.tif" "$TMP/c5.tif" || fail "more ranks than batches: output differs"
pass
EVAL="cnn eval $TMP/cube.tif -m $TMP/w1.ckpt --test $TMP/gt.tif -q --batch 5"
expect_ok "eval, one process" -- "$HSI" $EVAL --csv "$TMP/e0.csv"
cp "$TMP/out" "$TMP/e0.txt"
expect_ok "eval, 2 ranks" -- $MPI -np 2 "$HSI" $EVAL --csv "$TMP/e2.csv"
cmp -s "$TMP/e0.txt" "$TMP/out" || fail "eval text differs on 2 ranks"
cmp -s "$TMP/e0.csv" "$TMP/e2.csv" || fail "eval table differs on 2 ranks"
pass

# ---- one rank fails
# In the library: the shards and the scene split on 2 and 3 ranks, and a
# rank whose gather fails mid-training stops all at that step.
for np in 2 3; do
    expect_ok "cnn_dist_check on $np ranks" -- $MPI -np $np "$HSI_BUILDDIR/tests/cnn_dist_check"
done
# One rank fails, the others do not (MPMD launches, `mpirun A : B`): every
# rank must learn of it before the next collective step, so the run ends at
# once instead of hanging, every rank exits non-zero, the failing rank's
# message is printed once, and nothing is written. Each rank runs through
# rank.sh ($RANK, from mpi_test_env), which records its exit status;
# expect_rank_error (tests/setup.sh) turns a hang into a failure.
MISSING="$TMP/missing.tif"
expect_rank_error "train, rank 1 given a missing cube" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/f.ckpt" : \
    -np 1 $RANK cnn train "$MISSING" --train "$TMP/train.tif" -q \
    --spec "$TMP/net.cfg" -o "$TMP/f.ckpt"
expect_rank_error "train, rank 1 given a bad spec" "rank 1 failed: .*missing\.cfg" -- \
    $MPI -np 1 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/f.ckpt" : \
    -np 1 $RANK $TRAIN --spec "$TMP/missing.cfg" -o "$TMP/f.ckpt"
expect_rank_error "train, rank 1 with too few classes" "rank 1 failed: .*not a class label" -- \
    $MPI -np 1 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/f.ckpt" : \
    -np 1 $RANK cnn train "$TMP/cube.tif" --train "$TMP/cube.tif" -q --spec "$TMP/net.cfg" -o "$TMP/f.ckpt"
expect_rank_error "train, rank 0 cannot write the model" "nodir/f\.ckpt" -- \
    $MPI -np 2 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/nodir/f.ckpt"
expect_rank_error "predict, rank 1 given a missing model" "rank 1 failed: .*missing\.ckpt" -- \
    $MPI -np 1 $RANK $PRED -o "$TMP/f.tif" : \
    -np 1 $RANK cnn predict "$TMP/cube.tif" -m "$TMP/missing.ckpt" -q -o "$TMP/f.tif"
expect_rank_error "eval, rank 1 given missing labels" "rank 1 failed: .*missing\.tif" -- \
    $MPI -np 1 $RANK $EVAL : -np 1 $RANK cnn eval "$TMP/cube.tif" -m "$TMP/w1.ckpt" --test "$MISSING" -q
expect_rank_error "train, rank 1 given an unknown option" "rank 1 failed: invalid command line" -- \
    $MPI -np 1 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/f.ckpt" : \
    -np 1 $RANK $TRAIN --spec "$TMP/net.cfg" -o "$TMP/f.ckpt" --bogus
expect_no_file "no output after a failed rank" "$TMP/f.ckpt" "$TMP/f.tif"
finish
