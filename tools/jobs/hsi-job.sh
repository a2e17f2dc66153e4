# hsi-job.sh - what the Slurm and PBS scripts in tools/jobs/ share: sourced
# by them (not run), after the scheduler has set up the allocation.
#
# Settings (environment; the job scripts give defaults, `sbatch --export` /
# `qsub -v` override them):
#   HSI            the hsi command (default: hsi on PATH)
#   HSI_MODULES    modules to load, space-separated (default below; empty: none)
#   HSI_SCRATCH    a directory on a file system every node sees (the parallel
#                  file system's scratch); the job works in HSI_SCRATCH/hsi-JOBID
#   HSI_RESULTS    persistent directory for outputs and checkpoints (default:
#                  the submission directory); a requeued job finds its last
#                  checkpoint here
#   HSI_THREADS    OpenMP threads per rank (default: the cores given per rank)
# Every rank reads the inputs itself, so they must be on a shared file system:
# the job copies them to the scratch directory once, before starting the ranks.

set -eu

hsi_job_setup() { # JOBID THREADS_GIVEN
    HSI_JOBID=$1
    : "${HSI:=hsi}"
    : "${HSI_MODULES=GCC OpenMPI GDAL OpenBLAS}"
    : "${HSI_RESULTS:=$PWD}"
    : "${HSI_SCRATCH:=${SCRATCH:-${TMPDIR:-/tmp}}}"
    if [ -n "$HSI_MODULES" ] && command -v module >/dev/null 2>&1; then
        # shellcheck disable=SC2086 # one word per module
        module load $HSI_MODULES
    fi
    # One OpenMP thread team per rank, on that rank's cores; OpenBLAS's own
    # threads would compete with it.
    export OMP_NUM_THREADS="${HSI_THREADS:-${2:-1}}"
    export OPENBLAS_NUM_THREADS=1
    export OMP_PROC_BIND=close OMP_PLACES=cores
    HSI_WORK="$HSI_SCRATCH/hsi-$HSI_JOBID"
    mkdir -p "$HSI_WORK" "$HSI_RESULTS"
    echo "hsi job $HSI_JOBID: $(command -v "$HSI" || echo "$HSI"), work $HSI_WORK," \
        "results $HSI_RESULTS, $OMP_NUM_THREADS threads per rank"
}

# hsi_stage FILE: copy an input (and its ENVI header or GDAL side files) to
# the scratch directory once; prints the copy's path.
hsi_stage() {
    local src=$1 dst
    dst="$HSI_WORK/$(basename "$src")"
    if [ ! -e "$dst" ]; then
        cp -p "$src" "$dst.part" && mv "$dst.part" "$dst"
        for side in "${src%.*}.hdr" "$src.aux.xml" "$src.hdr"; do
            [ -e "$side" ] && cp -p "$side" "$HSI_WORK/"
        done
    fi
    echo "$dst"
}

# hsi_resume_args CHECKPOINT: "--resume CHECKPOINT" when an earlier run of
# this job (requeued or resubmitted) left one, else nothing. Training then
# continues from that epoch: at most one --checkpoint-every interval is lost.
hsi_resume_args() {
    # A rank killed with SIGKILL while writing a checkpoint (e.g. a node
    # lost) can leave its temporary, NAME~hsi-tmp-PID-N.EXT, beside it; the
    # checkpoint itself is intact (written under that name, then renamed).
    local stale
    for stale in "${1%.*}"~hsi-tmp-*; do
        [ -e "$stale" ] && rm -f "$stale"
    done
    if [ -s "$1" ]; then
        echo "resuming from $1" >&2
        echo "--resume $1"
    fi
}

hsi_job_cleanup() {
    [ -n "${HSI_WORK:-}" ] && [ "${HSI_KEEP_SCRATCH:-0}" = 0 ] && rm -rf "$HSI_WORK"
    return 0
}

# PBS: mpirun's placement for the chunks of `select=N:...:mpiprocs=P:ompthreads=T`:
# P ranks per node, each bound to T cores (Open MPI reads $PBS_NODEFILE).
hsi_pbs_mpirun_args() {
    local ranks nodes
    ranks=$(wc -l <"$PBS_NODEFILE")
    nodes=$(sort -u "$PBS_NODEFILE" | wc -l)
    echo "-np $ranks --map-by ppr:$((ranks / nodes)):node:PE=$OMP_NUM_THREADS --bind-to core" \
        "-x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OMP_PROC_BIND -x OMP_PLACES"
}
