# experiment/local.mk - `hsi experiment`: configs, resumable jobs over MPI ranks,
# the report folder (cairo plots, self-contained HTML). See experiment/experiment.h.
libhsi_la_SOURCES += experiment/config.c experiment/run.c experiment/report.c experiment/plot.c
nobase_pkginclude_HEADERS += experiment/experiment.h
noinst_HEADERS += experiment/plot.h
hsi_SOURCES += tools/cmd_experiment.c
TESTS += tests/test_experiment.sh tests/test_experiment_html.sh
EXTRA_DIST += tests/test_experiment.sh tests/test_experiment_html.sh \
	datasets/experiments/README.md datasets/experiments/main.ini datasets/experiments/tiny.ini \
	datasets/experiments/indian_pines.ini datasets/experiments/salinas.ini \
	datasets/experiments/pavia_university.ini
