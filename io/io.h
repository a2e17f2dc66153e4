/* io.h - reading and writing scenes: GDAL rasters and MATLAB .mat files.
 *
 * Readers turn any raster GDAL opens (ENVI, GeoTIFF, ERDAS LAN/GIS, ...) or a
 * .mat variable (through libmatio) into an hsi_cube (float32, BIP) or an
 * hsi_labels (uint16). Writers produce GeoTIFF or ENVI with georeferencing,
 * band metadata and, for label rasters, a colour table and category names;
 * every output is written under a temporary name and renamed into place.
 */
#ifndef HSI_IO_H
#define HSI_IO_H

#include <stddef.h>

#include "base/cube.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- band selection ---- */

/* Parse a 1-based band list such as "1-103,109-149,164-219" against a cube of
 * `total` bands into 0-based indices (in the order given). Out-of-range or
 * malformed entries are HSI_ERR_ARG. Caller frees *bands. */
hsi_status hsi_band_list_parse(const char *spec, size_t total, size_t **bands, size_t *n);

/* ---- reading ---- */

typedef struct hsi_read_options {
    const char *bands;   /* band list as above, or NULL for all bands */
    const char *var;     /* .mat variable name, or NULL to pick automatically */
    size_t row0, nrows;  /* window: rows [row0, row0 + nrows); nrows = 0 means to the end */
    int allow_nonfinite; /* 0: NaN/Inf in the cube is an error (default) */
    const char *band_table; /* band table (.spc) giving wavelength/FWHM for
                               files without them (e.g. the .mat cubes), or NULL */
} hsi_read_options;

/* Read a band table: a text file with one row per band, "centre FWHM ..."
 * in nm (AVIRIS .spc style; lines that do not start with a number, such as
 * the two header lines of 92AV3C.spc, are skipped). Caller frees. */
hsi_status hsi_band_table_read(const char *path, double **wavelength, double **fwhm, size_t *n);

/* Read a whole cube (or the rows/bands the options select). opts may be NULL. */
hsi_status hsi_cube_read(const char *path, const hsi_read_options *opts, hsi_cube **out);

/* A ground-truth / class raster (first band, or the .mat 2-D variable); the
 * class table gets default names and colours unless the file has a colour
 * table or category names. */
hsi_status hsi_labels_read(const char *path, const char *var, hsi_labels **out);

/* Read labels and check they are rows x cols (the cube's size). */
hsi_status hsi_labels_read_for(const char *path, const char *var, size_t rows, size_t cols,
                               hsi_labels **out);

/* Windowed reads: open once, then read row blocks so that a scene larger
 * than memory can be processed piecewise. Each block is a complete hsi_cube
 * with the window's rows (georeferencing shifted to the block). */
typedef struct hsi_cube_reader hsi_cube_reader;

hsi_status hsi_cube_reader_open(const char *path, const hsi_read_options *opts,
                                hsi_cube_reader **out);
/* Size of the (band-selected) scene. */
void hsi_cube_reader_shape(const hsi_cube_reader *rd, size_t *rows, size_t *cols,
                           size_t *bands);
/* Header of the scene without pixel data: a 1-row cube carrying wavelengths,
 * nodata and georeferencing of the full scene. */
const hsi_cube *hsi_cube_reader_meta(const hsi_cube_reader *rd);
hsi_status hsi_cube_reader_rows(hsi_cube_reader *rd, size_t row0, size_t nrows, hsi_cube **out);
void hsi_cube_reader_close(hsi_cube_reader *rd);

/* What a file is, without reading the pixels (for `hsi info`). */
typedef struct hsi_file_info {
    char driver[64];     /* GDAL short name, or "MAT" */
    char driver_long[128];
    char data_type[32];  /* "UInt16", "Float32", "double", ... */
    size_t rows, cols, bands;
    char var[64];        /* .mat variable used */
    int is_label_like;   /* integer type, one band, small values */
} hsi_file_info;

hsi_status hsi_file_probe(const char *path, const char *var, hsi_file_info *info);

/* ---- writing ---- */

typedef enum hsi_raster_format {
    HSI_FORMAT_AUTO = 0, /* from the extension: .tif/.tiff GeoTIFF, .png PNG, else ENVI */
    HSI_FORMAT_GTIFF,
    HSI_FORMAT_ENVI,
    HSI_FORMAT_PNG       /* labels / 8-bit RGB only */
} hsi_raster_format;

hsi_status hsi_format_parse(const char *name, hsi_raster_format *fmt);

/* Cube as Float32 GeoTIFF (band descriptions, wavelength metadata) or ENVI
 * (.hdr with wavelength, fwhm, band names, map info). */
hsi_status hsi_cube_write(const char *path, hsi_raster_format fmt, const hsi_cube *cube);

/* Label raster as UInt16 (or Byte when all values < 256) GeoTIFF/ENVI with a
 * colour table and category (class) names, so QGIS shows the classes. */
hsi_status hsi_labels_write(const char *path, hsi_raster_format fmt, const hsi_labels *labels);

/* An 8-bit RGB image (rows x cols x 3, pixel-interleaved) as PNG or GeoTIFF,
 * with georeferencing when geo is given (GeoTIFF only). */
hsi_status hsi_rgb_write(const char *path, hsi_raster_format fmt, const uint8_t *rgb,
                         size_t rows, size_t cols, const hsi_georef *geo);

/* Row-block writers: an output of `rows` rows written one block of whole
 * rows at a time (in any order, each row once), so that a scene larger than
 * memory can be produced piecewise. Like the writers above it appears under
 * its final name only when close() succeeds; abort() (or a failed close)
 * removes every temporary file. GeoTIFF outputs of HSI_LARGE_OUTPUT_BYTES or
 * more are tiled (256 x 16) and DEFLATE-compressed, BigTIFF when they could
 * pass 4 GB. A PNG is assembled in memory (3 bytes a pixel) and encoded at
 * close: for scenes beyond memory, write GeoTIFF. (The environment variable
 * HSI_LARGE_OUTPUT_BYTES, when set, replaces the threshold: for tests.) */
#define HSI_LARGE_OUTPUT_BYTES ((size_t)1 << 30)
typedef struct hsi_raster_writer hsi_raster_writer;

/* A float32 cube: size (cols, bands), band metadata, nodata and
 * georeferencing (of the first row) come from `meta`, a cube of any number
 * of rows (hsi_cube_reader_meta's 1-row header fits); the rows given to
 * hsi_raster_writer_rows are float32 BIP, cols x bands each. */
hsi_status hsi_cube_writer_open(const char *path, hsi_raster_format fmt, const hsi_cube *meta,
                                size_t rows, hsi_raster_writer **out);
/* An 8-bit RGB image; rows given are pixel-interleaved, 3 x cols bytes each. */
hsi_status hsi_rgb_writer_open(const char *path, hsi_raster_format fmt, size_t rows, size_t cols,
                               const hsi_georef *geo, hsi_raster_writer **out);
/* Write rows [row0, row0 + nrows) from data. */
hsi_status hsi_raster_writer_rows(hsi_raster_writer *w, size_t row0, size_t nrows,
                                  const void *data);
/* Finish and rename into place (every row must have been written); frees w
 * whatever the outcome. */
hsi_status hsi_raster_writer_close(hsi_raster_writer *w);
void hsi_raster_writer_abort(hsi_raster_writer *w);

/* Give GDAL's block cache its share of a memory budget (an eighth of what
 * the process does not hold already, at most 256 MiB) and return that share
 * plus the process's resident size (hsi_memory_resident; not counted when it
 * is over half the budget, as with the few-KiB budgets of tests), which
 * callers count as fixed memory before sizing their row blocks: the budget
 * bounds the peak resident size. Every streaming command calls it once its
 * inputs are open. */
size_t hsi_io_cache_budget(size_t budget);

/* Rows per block of a command that classifies a whole scene (rows x cols)
 * block by block but holds its outputs whole, `out_per_pixel` bytes a
 * pixel (the class raster, a probability cube), and `fixed` bytes whatever
 * the block (a batch of patches, the model's buffers), each block row
 * costing `row_bytes` (the raw spectra and their preprocessed copy): what
 * fits in `budget` after GDAL's cache and the process (hsi_io_cache_budget).
 * When the outputs or one row do not fit, HSI_ERR_NOMEM naming `what` (the
 * outputs) and the budget that would do. */
hsi_status hsi_scene_block_rows(size_t budget, size_t rows, size_t cols, size_t out_per_pixel,
                                size_t fixed, size_t row_bytes, const char *what, size_t *block);

/* ---- small helpers ---- */
/* Nonzero if path ends (case-insensitively) with ext (".mat"). */
int hsi_path_has_ext(const char *path, const char *ext);

#ifdef __cplusplus
}
#endif
#endif
