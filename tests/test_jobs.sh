#!/bin/sh
# test_jobs.sh - the cluster job scripts of tools/jobs/ run end to end with
# stand-ins for the schedulers' launchers (srun, PBS's mpirun placement)
# that start 2 local ranks: training writes its checkpoint in the results
# directory, a second submission resumes from it, prediction over ranks
# equals one process's, the grid search writes its table; bash -n (and
# shellcheck where installed) on all.
. "$HSI_SRCDIR/tests/setup.sh"
[ -n "${HSI_MPIRUN:-}" ] || { echo "SKIP: built without MPI"; exit 77; }
command -v bash >/dev/null || { echo "SKIP: no bash"; exit 77; }
mpi_test_env
JOBS="$HSI_SRCDIR/tools/jobs"
for f in "$JOBS"/hsi-job.sh "$JOBS"/slurm/* "$JOBS"/pbs/*; do
    bash -n "$f" || fail "bash -n $f"
done
pass
if command -v shellcheck >/dev/null; then
    shellcheck -s bash "$JOBS"/hsi-job.sh "$JOBS"/slurm/* "$JOBS"/pbs/* >"$TMP/sc" 2>&1 ||
        fail "shellcheck: $(cat "$TMP/sc")"
    pass
fi

"$HSI_BUILDDIR/tests/test_svm_scene" make "$TMP" || { echo "cannot make the test scene"; exit 99; }
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

[flatten]

[dense]
units = classes
activation = softmax
EOF_SPEC
# Stand-ins: srun and PBS's mpirun become a local 2-rank mpirun.
mkdir -p "$TMP/bin"
cat >"$TMP/bin/srun" <<EOF_SRUN
#!/bin/sh
while [ \$# -gt 0 ] && [ "\${1#--}" != "\$1" ]; do shift; done
exec timeout -k 5 120 $HSI_MPIRUN --quiet --oversubscribe -np 2 "\$@"
EOF_SRUN
cat >"$TMP/bin/mpirun" <<EOF_MPIRUN
#!/bin/sh
echo "\$*" >"$TMP/mpirun.args"
while [ \$# -gt 0 ] && [ "\$1" != "$HSI" ]; do shift; done
exec timeout -k 5 120 $HSI_MPIRUN --quiet --oversubscribe -np 2 "\$@"
EOF_MPIRUN
chmod +x "$TMP/bin/srun" "$TMP/bin/mpirun"
printf 'node1\nnode1\n' >"$TMP/nodefile"
export PATH="$TMP/bin:$PATH" HSI HSI_MODULES="" HSI_SCRATCH="$TMP/scratch"
COMMON="SCENE=$TMP/cube.tif TRAIN=$TMP/train.tif SPEC=$TMP/net.cfg"

for sched in slurm pbs; do
    R="$TMP/results-$sched"
    if [ $sched = slurm ]; then
        run_job() { # SCRIPT VAR=VALUE...
            local script=$1; shift
            env SLURM_JOB_ID=7 SLURM_SUBMIT_DIR="$TMP" SLURM_CPUS_PER_TASK=1 HSI_JOBS_DIR="$JOBS" \
                HSI_RESULTS="$R" "$@" bash "$JOBS/slurm/$script.sbatch"
        }
    else
        run_job() {
            local script=$1; shift
            env PBS_JOBID=8.server PBS_O_WORKDIR="$TMP" PBS_NODEFILE="$TMP/nodefile" \
                OMP_NUM_THREADS=1 HSI_JOBS_DIR="$JOBS" HSI_RESULTS="$R" "$@" \
                bash "$JOBS/pbs/$script.pbs"
        }
    fi
    # shellcheck disable=SC2086
    expect_ok "$sched: train 2 epochs" -- run_job cnn_train $COMMON EPOCHS=2
    "$HSI_BUILDDIR/tests/cnn_ckpt_diff" "$R/model.ckpt" "$R/model.ckpt" 0 >"$TMP/diff" 2>&1
    grep -q '^epochs 2/2 ' "$TMP/diff" || fail "$sched: after 2 epochs: $(cat "$TMP/diff")"
    pass
    # The job submitted again (as after a requeue) resumes from the checkpoint.
    # shellcheck disable=SC2086
    expect_ok "$sched: resubmitted" -- run_job cnn_train $COMMON EPOCHS=4
    grep -q "resuming from $R/model.ckpt" "$TMP/err" || fail "$sched: did not resume: $(cat "$TMP/err")"
    "$HSI_BUILDDIR/tests/cnn_ckpt_diff" "$R/model.ckpt" "$R/model.ckpt" 0 >"$TMP/diff" 2>&1
    grep -q '^epochs 4/4 ' "$TMP/diff" || fail "$sched: after resuming: $(cat "$TMP/diff")"
    [ -e "$TMP/scratch/hsi-7" ] || [ -e "$TMP/scratch/hsi-8.server" ] && fail "$sched: scratch left"
    pass
    expect_ok "$sched: predict" -- run_job cnn_predict SCENE="$TMP/cube.tif" MODEL="$R/model.ckpt" BATCH=7
    "$HSI" cnn predict "$TMP/cube.tif" -m "$R/model.ckpt" --batch 7 -q -o "$TMP/one-$sched.tif"
    cmp -s "$R/classes.tif" "$TMP/one-$sched.tif" || fail "$sched: prediction differs from one process's"
    pass
    expect_ok "$sched: svm grid" -- run_job svm_grid SCENE="$TMP/cube.tif" TRAIN="$TMP/train.tif" \
        LOG2C=1,3,2 LOG2G=-1,-3,-2 FOLDS=2
    grep -q '^log2c\|^gamma\|,' "$R/grid.csv" || fail "$sched: no grid table"
    pass
done
# PBS: 2 ranks on one node from the node file, one core each.
grep -q -- '-np 2 --map-by ppr:2:node:PE=1 --bind-to core' "$TMP/mpirun.args" ||
    fail "pbs: mpirun placement: $(cat "$TMP/mpirun.args")"
pass
finish
