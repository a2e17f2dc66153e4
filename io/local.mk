# io/local.mk - GDAL and MATLAB .mat readers and writers.
libhsi_la_SOURCES += io/bands.c io/raster_read.c io/raster_write.c io/mat.c
nobase_pkginclude_HEADERS += io/io.h
noinst_HEADERS += io/io_internal.h
# training pixels gathered a row block at a time
libhsi_la_SOURCES += io/gather.c
# block rows of whole-scene classification within a budget
libhsi_la_SOURCES += io/budget.c
nobase_pkginclude_HEADERS += io/gather.h
# Streaming within a memory budget (base/memory.h, the row-block writers,
# features/preprocess_stream.h, eval/false_colour_file.h) against the
# in-memory paths, and the streaming commands on the command line.
TESTS += tests/test_stream tests/test_stream_cli.sh tests/test_stream_outputs.sh
check_PROGRAMS += tests/test_stream
tests_test_stream_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/test_stream_cli.sh tests/test_stream_outputs.sh
