/* patch_rows.h - what patch-based training needs of a scene, and no more.
 *
 * A 3-D CNN trains on (2r+1) x (2r+1) windows around its training pixels.
 * Holding the whole (preprocessed) scene for them does not scale to a flight
 * line. The store holds whichever of two forms is smaller:
 *   - rows: the rows within r of a row that has a training (or test) pixel,
 *     as runs of consecutive rows (dense training sets, where windows
 *     overlap: at r = 4 every spectrum would be copied into 81 windows);
 *   - patches: the windows themselves, gathered a row block at a time
 *     (sparse training sets on a large scene, where the rows around a few
 *     hundred pixels are most of the scene).
 * Either way the scene is read a row block at a time within a memory
 * budget and preprocessed on the way, and gathers give the patches
 * hsi_patch_gather takes from the whole preprocessed cube, value for value,
 * whatever the border mode (the rows form never lets a window cross a run's
 * edge unless it is the scene's; the patches form is hsi_patch_gather_band
 * on a block with the window's margin). When the smaller form does not fit
 * the budget, the error says how large it is and what budget would do.
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

/* Which form to hold: the smaller (what commands use), or one of them
 * (tests). */
typedef enum hsi_patch_store {
    HSI_PATCH_STORE_AUTO = 0,
    HSI_PATCH_STORE_ROWS,
    HSI_PATCH_STORE_PATCHES
} hsi_patch_store;

typedef struct hsi_patch_rows {
    hsi_cube shape; /* rows x cols x bands of the (preprocessed) scene; no data */
    int radius;
    hsi_border_mode mode;
    hsi_patch_store store; /* ROWS or PATCHES */
    /* rows */
    size_t n_runs;
    hsi_patch_run *runs; /* by first row */
    size_t rows_kept;
    /* patches: pixels[i]'s window, bands x S x S as hsi_patch_gather's */
    size_t n_patches;
    hsi_pixel *pixels; /* row-major */
    float *patches;
    size_t bytes; /* what the store holds */
} hsi_patch_rows;

/* Read what windows of radius `radius` (border mode `mode`) around the
 * labelled pixels of masks[0..n_masks) (each of the scene's size; NULL
 * entries skipped) need of the scene `path` (opened with ro), transformed by
 * pre (NULL: as read), within `budget` bytes (GDAL's cache, one row block
 * and the store), in the form `store` asks for. `what` names the pixels in
 * messages ("the training and test pixels"). */
hsi_status hsi_patch_rows_load(const char *path, const hsi_read_options *ro,
                               const hsi_preprocess *pre, const hsi_labels *const *masks,
                               size_t n_masks, int radius, hsi_border_mode mode,
                               hsi_patch_store store, size_t budget, const char *what,
                               hsi_patch_rows **out);

/* hsi_patch_gather for pixels whose windows the store holds (those of the
 * masks it was loaded for); out as hsi_patch_gather's. The patches form
 * takes only the border mode it was loaded with. */
hsi_status hsi_patch_rows_gather(const hsi_patch_rows *pr, const hsi_pixel *pixels, size_t n,
                                 hsi_border_mode mode, float *out);

void hsi_patch_rows_free(hsi_patch_rows *pr);

#ifdef __cplusplus
}
#endif
#endif
