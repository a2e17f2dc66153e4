/* cube.h - the in-memory model of a scene: a spectral cube and a label raster.
 *
 * Cube: float32, rows x cols x bands, band-interleaved-by-pixel (BIP):
 *     value(r, c, b) = data[((size_t)r * cols + c) * bands + b]
 * so one pixel's spectrum is contiguous (what classifiers and patch gathers
 * want). Band centre wavelengths and FWHM (nm) are kept when the file has
 * them; georeferencing travels from input to every output.
 *
 * Labels: uint16, rows x cols, row-major, 0 = unlabelled, classes 1..n_classes,
 * with a class table (name, RGB colour) indexed by class id; entry 0 describes
 * "unlabelled".
 */
#ifndef HSI_CUBE_H
#define HSI_CUBE_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GDAL-style georeferencing: x = gt[0] + col*gt[1] + row*gt[2],
 *                            y = gt[3] + col*gt[4] + row*gt[5]. */
typedef struct hsi_georef {
    int has_geotransform;
    double geotransform[6];
    char *projection_wkt; /* owned; NULL or "" when unknown */
} hsi_georef;

typedef struct hsi_cube {
    size_t rows, cols, bands;
    float *data;        /* rows*cols*bands, BIP */
    double *wavelength; /* [bands] centre wavelength in nm, or NULL */
    double *fwhm;       /* [bands] full width at half maximum in nm, or NULL */
    char **band_names;  /* [bands] optional names (feature cubes), or NULL */
    int has_nodata;
    double nodata;
    hsi_georef geo;
} hsi_cube;

#define HSI_CLASS_NAME_MAX 64

typedef struct hsi_class_info {
    char name[HSI_CLASS_NAME_MAX];
    uint8_t rgb[3];
} hsi_class_info;

typedef struct hsi_labels {
    size_t rows, cols;
    uint16_t *data;         /* rows*cols, row-major, 0 = unlabelled */
    int n_classes;          /* classes are 1..n_classes */
    hsi_class_info *classes;/* [n_classes + 1]; [0] is "unlabelled" */
    hsi_georef geo;
} hsi_labels;

/* ---- georeferencing ---- */
hsi_status hsi_georef_copy(hsi_georef *dst, const hsi_georef *src);
void hsi_georef_clear(hsi_georef *g);

/* ---- cubes ---- */
/* Allocate a zeroed cube (no wavelengths, no georeferencing). A size of zero
 * is an error. */
hsi_status hsi_cube_new(size_t rows, size_t cols, size_t bands, hsi_cube **out);
void hsi_cube_free(hsi_cube *cube);
/* Deep copy of everything but the pixel data (sizes, band metadata, georef)
 * into a new cube of `bands` bands with zeroed data; band metadata is copied
 * only when bands == src->bands. */
hsi_status hsi_cube_new_like(const hsi_cube *src, size_t bands, hsi_cube **out);
/* Attach band metadata (copies; either array may be NULL). */
hsi_status hsi_cube_set_wavelengths(hsi_cube *cube, const double *wavelength,
                                    const double *fwhm);
hsi_status hsi_cube_set_band_name(hsi_cube *cube, size_t band, const char *name);

static inline float *hsi_cube_pixel(const hsi_cube *cube, size_t r, size_t c)
{
    return cube->data + (r * cube->cols + c) * cube->bands;
}

/* Fail with HSI_ERR_DATA naming `what` and the first bad pixel/band if any
 * value is NaN or infinite (nodata pixels are skipped). */
hsi_status hsi_cube_check_finite(const hsi_cube *cube, const char *what);
/* The same for a block of rows whose first is row0 of the file: the error
 * names the file's row (hsi_cube_reader_rows). */
hsi_status hsi_cube_check_finite_rows(const hsi_cube *cube, const char *what, size_t row0);

/* mask[i] = 1 where pixel i (row-major, rows * cols entries) holds the
 * nodata value in every band, else 0; all 0 when the cube has no nodata
 * value. Classifiers give such pixels class 0. */
void hsi_cube_nodata_mask(const hsi_cube *cube, uint8_t *mask);

/* Smallest and largest finite, non-nodata value. */
void hsi_cube_minmax(const hsi_cube *cube, double *min, double *max);

/* Index of the band whose centre is closest to `nm`; -1 without wavelengths. */
long hsi_cube_band_at(const hsi_cube *cube, double nm);

/* ---- labels ---- */
/* Allocate a zeroed label raster with classes 1..n_classes named "Class k"
 * and coloured from the default palette. */
hsi_status hsi_labels_new(size_t rows, size_t cols, int n_classes, hsi_labels **out);
void hsi_labels_free(hsi_labels *labels);
/* Copy sizes, class table and georef; zeroed data. */
hsi_status hsi_labels_new_like(const hsi_labels *src, hsi_labels **out);
/* Grow the class table to n_classes (new entries get default names/colours). */
hsi_status hsi_labels_set_class_count(hsi_labels *labels, int n_classes);
/* Copy a class table of n_classes+1 entries (entry 0 = unlabelled). */
hsi_status hsi_labels_set_classes(hsi_labels *labels, const hsi_class_info *classes,
                                  int n_classes);
/* counts[k] = pixels of class k, k = 0..n_classes (counts has n_classes+1). */
void hsi_labels_histogram(const hsi_labels *labels, size_t *counts);
/* Largest label value present. */
int hsi_labels_max(const hsi_labels *labels);
/* HSI_ERR_SIZE naming `what` unless the raster is rows x cols. */
hsi_status hsi_labels_check_size(const hsi_labels *labels, size_t rows, size_t cols,
                                 const char *what);

/* A distinct default colour for class k (1-based; 0 = black). */
void hsi_default_class_colour(int k, uint8_t rgb[3]);

#ifdef __cplusplus
}
#endif
#endif
