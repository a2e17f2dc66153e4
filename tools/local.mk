# tools/local.mk - the hsi command; each area adds its tools/cmd_*.c in its own local.mk.
hsi_SOURCES += tools/hsi.c tools/cli.c tools/cli.h tools/command.h \
	tools/cmd_info.c tools/cmd_convert.c
# Cluster job scripts (Slurm, PBS) and their test with stand-ins for srun/mpirun.
EXTRA_DIST += tools/jobs/hsi-job.sh tools/jobs/slurm/cnn_train.sbatch \
	tools/jobs/slurm/cnn_predict.sbatch tools/jobs/slurm/svm_grid.sbatch \
	tools/jobs/pbs/cnn_train.pbs tools/jobs/pbs/cnn_predict.pbs tools/jobs/pbs/svm_grid.pbs \
	tests/test_jobs.sh
TESTS += tests/test_jobs.sh
