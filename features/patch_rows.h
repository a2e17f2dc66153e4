/* patch_rows.h - the scene rows that patch-based training needs, and no more.
 *
 * A 3-D CNN trains on (2r+1) x (2r+1) windows around its training pixels.
 * Holding the whole (preprocessed) scene for them does not scale to a flight
 * line; holding every window does not either when windows overlap (81 copies
 * of each spectrum at r = 4). The store keeps the rows within r of a row
 * that has a training (or test) pixel, as runs of consecutive rows, each
 * read a row block at a time within a memory budget and preprocessed on the
 * way. A window never crosses a run's edge unless that edge is the scene's,
 * so gathers through hsi_patch_gather_band give the patches hsi_patch_gather
 * takes from the whole preprocessed cube, value for value, whatever the
 * border mode. When the rows to keep do not fit the budget, the error says
 * how large they are and what budget would do.
 */
#ifndef HSI_PATCH_ROWS_H
#define HSI_PATCH_ROWS_H

#include <stddef.h>

#include "features/patch.h"
#include "features/preprocess.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_patch_run {
    size_t first, count; /* scene rows [first, first + count) */
    hsi_cube *rows;      /* count x cols x bands (preprocessed) */
} hsi_patch_run;

typedef struct hsi_patch_rows {
    hsi_cube shape; /* rows x cols x bands of the (preprocessed) scene; no data */
    int radius;
    size_t n_runs;
    hsi_patch_run *runs; /* by first row */
    size_t rows_kept;
} hsi_patch_rows;

/* Read the rows of the scene `path` (opened with ro) that windows of radius
 * `radius` around the labelled pixels of masks[0..n_masks) (each of the
 * scene's size; NULL entries skipped) need, transformed by pre (NULL: as
 * read), within `budget` bytes (GDAL's cache, one row block and the rows
 * kept). `what` names the pixels in messages ("the training and test
 * pixels"). */
hsi_status hsi_patch_rows_load(const char *path, const hsi_read_options *ro,
                               const hsi_preprocess *pre, const hsi_labels *const *masks,
                               size_t n_masks, int radius, size_t budget, const char *what,
                               hsi_patch_rows **out);

/* hsi_patch_gather for pixels whose windows the store holds (those of the
 * masks it was loaded for); out as hsi_patch_gather's. */
hsi_status hsi_patch_rows_gather(const hsi_patch_rows *pr, const hsi_pixel *pixels, size_t n,
                                 hsi_border_mode mode, float *out);

void hsi_patch_rows_free(hsi_patch_rows *pr);

#ifdef __cplusplus
}
#endif
#endif
