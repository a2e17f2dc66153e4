/* preprocess.h - spectral preprocessing fitted on training pixels only.
 *
 * A preprocessor is fitted on the spectra of the training pixels (never on
 * test pixels: that would leak), then applied to any pixel or whole cube,
 * and saved with a model so prediction uses exactly the same transform.
 *
 *   standardise: y_b = (x_b - mean_b) / std_b
 *   minmax:      y_b = (x_b - min_b) / (max_b - min_b)
 *   pca:         y = W^T (x - mean), W the top-k eigenvectors of the
 *                training covariance (k given, or the smallest k that keeps a
 *                variance fraction), optionally whitened.
 */
#ifndef HSI_PREPROCESS_H
#define HSI_PREPROCESS_H

#include <stddef.h>
#include <stdio.h>

#include "base/blob.h"
#include "base/cube.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_preprocess_kind {
    HSI_PREPROCESS_NONE = 0,
    HSI_PREPROCESS_STANDARDISE,
    HSI_PREPROCESS_MINMAX,
    HSI_PREPROCESS_PCA
} hsi_preprocess_kind;

typedef struct hsi_preprocess {
    hsi_preprocess_kind kind;
    size_t in_dim;     /* bands in */
    size_t out_dim;    /* features out (= in_dim except for PCA) */
    float *offset;     /* [in_dim] mean or min subtracted */
    float *scale;      /* [in_dim] 1/std or 1/(max-min); NULL for PCA */
    float *components; /* PCA: [in_dim * out_dim], column j = component j */
    double *explained; /* PCA: [out_dim] variance fraction of each component */
} hsi_preprocess;

/* Parse "none", "standardise" (or "standardize"), "minmax", "pca:K", "pca:0.99". */
hsi_status hsi_preprocess_parse(const char *spec, hsi_preprocess_kind *kind, size_t *pca_k,
                                double *pca_fraction);

/* Fit on n spectra of dim values each (rows of a row-major n x dim matrix). */
hsi_status hsi_preprocess_fit(hsi_preprocess_kind kind, const float *x, size_t n, size_t dim,
                              size_t pca_k, double pca_fraction, hsi_preprocess **out);
/* Fit on the cube pixels where mask[r*cols+c] != 0 (e.g. the training labels). */
hsi_status hsi_preprocess_fit_cube(hsi_preprocess_kind kind, const hsi_cube *cube,
                                   const uint16_t *mask, size_t pca_k, double pca_fraction,
                                   hsi_preprocess **out);
void hsi_preprocess_free(hsi_preprocess *p);

/* The last step of a fit, shared with the block-by-block fit of
 * features/preprocess_stream.h: standardise/minmax from per-band mean,
 * variance (divided by n), min and max; PCA from the mean and the
 * covariance (divided by n - 1; upper triangle used and overwritten). */
hsi_status hsi_preprocess_from_moments(hsi_preprocess_kind kind, size_t dim, const double *mean,
                                       const double *var, const double *lo, const double *hi,
                                       hsi_preprocess **out);
hsi_status hsi_preprocess_pca_from_cov(const double *mean, double *cov, size_t dim, size_t k,
                                       double fraction, hsi_preprocess **out);

/* y[n x out_dim] = transform(x[n x in_dim]); x and y may alias unless PCA.
 * PCA goes through sgemm in blocks of HSI_PREPROCESS_APPLY_BLOCK spectra
 * from x[0]; BLAS may round differently for other block sizes, so a caller
 * that must reproduce a whole-cube transform bit for bit transforms the same
 * blocks (features/patch_rows.c does). */
#define HSI_PREPROCESS_APPLY_BLOCK 4096
/* y[n x out_dim] = transform(x[n x in_dim]); x and y may alias unless PCA. */
hsi_status hsi_preprocess_apply(const hsi_preprocess *p, const float *x, size_t n, float *y);
/* A new cube with every pixel transformed (georeferencing kept; band names
 * "PC1".. for PCA). */
hsi_status hsi_preprocess_apply_cube(const hsi_preprocess *p, const hsi_cube *in,
                                     hsi_cube **out);

/* A record inside an SVM model bundle or CNN checkpoint (base/blob.h): a
 * magic "HSIPRE1\0", kind, dims, arrays. A write failure is reported when
 * the file is committed; read fails with HSI_ERR_FORMAT on a bad or truncated
 * record; `what` names the file in messages. */
void hsi_preprocess_write(const hsi_preprocess *p, hsi_blob_writer *w);
hsi_status hsi_preprocess_read(hsi_blob_reader *r, const char *what, hsi_preprocess **out);

#ifdef __cplusplus
}
#endif
#endif
