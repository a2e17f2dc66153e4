# io/local.mk - GDAL and MATLAB .mat readers and writers.
libhsi_la_SOURCES += io/bands.c io/raster_read.c io/raster_write.c io/mat.c
nobase_pkginclude_HEADERS += io/io.h
noinst_HEADERS += io/io_internal.h
