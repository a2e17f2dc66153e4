/* preprocess_stream.h - preprocessing fits accumulated block by block.
 *
 * The fits of preprocess.h need every training spectrum at once; on a scene
 * larger than memory the training pixels arrive a row block at a time. The
 * accumulator keeps, in double precision, per band the count, mean, sum of
 * squared deviations (M2), min and max, and for PCA the d x d matrix of
 * summed cross-deviations. Each block is reduced exactly as the in-memory
 * fit reduces all the data (mean first, then deviations from it), and the
 * blocks are merged by the pairwise update of Chan, Golub & LeVeque
 * (1979, "Updating formulae and a pairwise algorithm for computing sample
 * variances"):
 *
 *   n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta nb / n
 *   M2 = M2a + M2b + delta^2 na nb / n      (per band)
 *   C  = Ca + Cb + delta delta^T na nb / n  (PCA, d x d)
 *
 * so the result does not depend on how the pixels were split: min and max
 * are exact, mean/scale and the covariance agree with the in-memory fit to a
 * few units in the last place of a double (before the final float rounding),
 * and PCA components to the conditioning of the eigenproblem.
 * Memory: 5 d doubles, plus d^2 for PCA (1.4 MiB at 425 bands).
 */
#ifndef HSI_PREPROCESS_STREAM_H
#define HSI_PREPROCESS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "features/preprocess.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_preprocess_acc hsi_preprocess_acc;

hsi_status hsi_preprocess_acc_new(hsi_preprocess_kind kind, size_t dim, hsi_preprocess_acc **out);
void hsi_preprocess_acc_free(hsi_preprocess_acc *a);

/* Add n spectra (rows of an n x dim matrix). */
hsi_status hsi_preprocess_acc_add(hsi_preprocess_acc *a, const float *x, size_t n);

/* Add the pixels of a block of cube rows where mask[r * cols + c] != 0
 * (mask indexed within the block; NULL: every pixel). */
hsi_status hsi_preprocess_acc_add_cube(hsi_preprocess_acc *a, const hsi_cube *block,
                                       const uint16_t *mask);

/* Pixels added so far. */
size_t hsi_preprocess_acc_count(const hsi_preprocess_acc *a);

/* The fitted preprocessor (pca_k / pca_fraction as hsi_preprocess_fit). */
hsi_status hsi_preprocess_acc_finish(const hsi_preprocess_acc *a, size_t pca_k,
                                     double pca_fraction, hsi_preprocess **out);

/* Fit on the pixels of the scene `path` (opened with ro) where mask (rows x
 * cols of the scene, e.g. the training labels; NULL: all pixels) is
 * nonzero, reading only the row blocks that hold such pixels, within
 * `budget` bytes of memory for the blocks and GDAL's cache. */
hsi_status hsi_preprocess_fit_file(hsi_preprocess_kind kind, const char *path,
                                   const hsi_read_options *ro, const uint16_t *mask,
                                   size_t pca_k, double pca_fraction, size_t budget,
                                   hsi_preprocess **out);

/* The exact in-memory fit (hsi_preprocess_fit_cube with the labels as the
 * mask) when the training pixels' spectra fit the budget: they are gathered
 * block by block (io/gather.h), then fitted at once. */
hsi_status hsi_preprocess_fit_labels_file(hsi_preprocess_kind kind, const char *path,
                                          const hsi_read_options *ro, const hsi_labels *labels,
                                          const char *what, size_t pca_k, double pca_fraction,
                                          size_t budget, hsi_preprocess **out);

#ifdef __cplusplus
}
#endif
#endif
