#!/bin/sh
# main-job.sh - README command (1): install what hsi needs (Debian 12), build it,
# and run the main job: `hsi experiment datasets/experiments/main.ini`, the
# talk's comparison on the embedded simulated scene (SVM on raw spectra, SVM on
# self-dual attribute profiles, the Lange et al. 3D-CNN with a converging
# protocol, a spectral MLP; random and spatially disjoint splits; 3 seeds).
#   tools/main-job.sh [OUTDIR]          (default out/)
# Environment: RANKS (MPI ranks, default 2; 1 runs without mpirun).
# The report: OUTDIR/report.html (open it in a browser), report.md,
# results.csv. Run it again after an interruption: finished jobs are kept.
set -eu
cd "$(dirname "$0")/.."
tools/setup-debian.sh
HSI=$(pwd)/build/hsi
OUT=${1:-out}
RANKS=${RANKS:-2}

# Jobs are farmed over MPI ranks when MPI was built in, one core per rank;
# Open MPI refuses root unless told.
MPI=""
if [ "$RANKS" -gt 1 ] && "$HSI" --version | grep -q ' mpi' && command -v mpirun >/dev/null; then
  [ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  MPI="mpirun -np $RANKS --oversubscribe"
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fi

echo "== ${MPI:+$MPI }hsi experiment datasets/experiments/main.ini -o $OUT"
start=$(date +%s)
$MPI "$HSI" experiment datasets/experiments/main.ini -o "$OUT"
echo
# The summary table: mean +- std over the seeds per pipeline and split.
awk '/^\| pipeline \|/ { on = 1 } on && /^$/ { exit } on' "$OUT/report.md"
printf 'main job done in %d s: open %s/report.html\n' "$(($(date +%s) - start))" "$OUT"
