/* patch.h - patch windows around pixels, for patch-based classifiers (3D-CNN).
 *
 * A patch of radius r around pixel (row, col) is the (2r+1) x (2r+1) x B
 * window of the cube centred on it. Gathers write straight from the BIP cube
 * into the tensor the CNN engine consumes, laid out (N, C=1, D=bands, H, W):
 *
 *     out[((n * B + b) * S + y) * S + x] = cube(row_n + y - r, col_n + x - r, b)
 *     with S = 2r + 1
 *
 * so no copy of the cube per patch is ever made.
 */
#ifndef HSI_PATCH_H
#define HSI_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/cube.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_border_mode {
    HSI_BORDER_ZERO = 0, /* outside the scene reads as 0 */
    HSI_BORDER_MIRROR,   /* reflect at the edge without repeating it: -1 -> 1 */
    HSI_BORDER_SKIP      /* pixels whose window leaves the scene are not used */
} hsi_border_mode;

hsi_status hsi_border_mode_parse(const char *name, hsi_border_mode *mode);

/* A pixel position. */
typedef struct hsi_pixel {
    uint32_t row, col;
} hsi_pixel;

/* Nonzero if the window of radius r around (row, col) lies inside the scene. */
int hsi_patch_inside(const hsi_cube *cube, size_t row, size_t col, int radius);

/* HSI_ERR_ARG for a negative radius, HSI_ERR_SIZE when the (2r+1) x (2r+1)
 * window is larger than a rows x cols scene. */
hsi_status hsi_patch_check_radius(size_t rows, size_t cols, int radius);

/* Gather n patches into out (n * bands * S * S floats, layout above).
 * With HSI_BORDER_SKIP every pixel must be inside (HSI_ERR_ARG otherwise).
 * A radius whose window is larger than the scene is HSI_ERR_SIZE. */
hsi_status hsi_patch_gather(const hsi_cube *cube, const hsi_pixel *pixels, size_t n, int radius,
                            hsi_border_mode mode, float *out);

/* The same from a band of scene rows: `band` holds rows [first, first +
 * band->rows) of a scene of scene_rows rows (and band->cols columns). Each
 * pixel (scene coordinates) must have its window's rows, clipped to the
 * scene, inside the band (HSI_ERR_ARG otherwise); borders are the scene's,
 * so the patches equal hsi_patch_gather's on the whole cube. */
hsi_status hsi_patch_gather_band(const hsi_cube *band, size_t first, size_t scene_rows,
                                 const hsi_pixel *pixels, size_t n, int radius,
                                 hsi_border_mode mode, float *out);

/* hsi_patch_gather_band's gather without its checks, from a band given by
 * its floats: rows [first, first + count) of a scene_rows x cols x bands
 * scene, BIP. The caller has checked that each pixel's window rows
 * (clipped to the scene) lie in the band (a CNN backend's window gather). */
void hsi_patch_gather_rows_unchecked(const float *data, size_t first, size_t count,
                                     size_t scene_rows, size_t cols, size_t bands,
                                     const hsi_pixel *pixels, size_t n, int radius,
                                     hsi_border_mode mode, float *out);

/* ---- whole-scene streaming ----
 *
 * A patch iterator visits every pixel of a scene in row-major order (with
 * HSI_BORDER_SKIP only the pixels whose window lies inside) and hands out
 * batches of gathered patches, so a classifier predicts a whole scene with
 * bounded memory:
 *
 *     hsi_patch_iter *it;
 *     st = hsi_patch_iter_open_reader(rd, radius, HSI_BORDER_MIRROR, 256, 0, &it);
 *     const float *x; const hsi_pixel *px; size_t n;
 *     while (!(st = hsi_patch_iter_next(it, &x, &px, &n)) && n > 0)
 *         for (size_t i = 0; i < n; i++)   // x: (n, 1, B, S, S) as above
 *             map->data[px[i].row * cols + px[i].col] = classify(x + i * B*S*S);
 *     hsi_patch_iter_free(it);
 *
 * Over a reader it keeps only a band of rows in memory: the current tile of
 * tile_rows rows plus `radius` halo rows above and below ((tile_rows + 2r) x
 * cols x B floats) and one batch (batch x B x S x S floats). The patches and
 * pixel arrays stay valid until the next call. */
typedef struct hsi_patch_iter hsi_patch_iter;

/* Over an in-memory cube (not copied; it must outlive the iterator). */
hsi_status hsi_patch_iter_open_cube(const hsi_cube *cube, int radius, hsi_border_mode mode,
                                    size_t batch, hsi_patch_iter **out);
/* Over a windowed reader (not owned; it must outlive the iterator). */
hsi_status hsi_patch_iter_open_reader(hsi_cube_reader *reader, int radius, hsi_border_mode mode,
                                      size_t batch, size_t tile_rows, hsi_patch_iter **out);
/* Over any source of row blocks: read_rows(ctx, row0, nrows, &block) returns
 * a new cube of rows [row0, row0 + nrows) of a rows x cols x bands scene
 * (the iterator frees it). tile_rows = 0 picks a tile of about 64 MiB of
 * cube rows (at least 2r + 1 rows). */
typedef hsi_status (*hsi_read_rows_fn)(void *ctx, size_t row0, size_t nrows, hsi_cube **block);
hsi_status hsi_patch_iter_open_rows(hsi_read_rows_fn read_rows, void *ctx, size_t rows,
                                    size_t cols, size_t bands, int radius, hsi_border_mode mode,
                                    size_t batch, size_t tile_rows, hsi_patch_iter **out);
/* Visit only the pixels whose byte in mask (rows x cols, row-major) is
 * nonzero, e.g. the test pixels of an evaluation; call it before the first
 * hsi_patch_iter_next. The mask is not copied (it must outlive the
 * iterator); row tiles holding none of its pixels are never read. */
void hsi_patch_iter_set_mask(hsi_patch_iter *it, const uint8_t *mask);
/* Next batch: *n patches (0 when every pixel has been visited). */
hsi_status hsi_patch_iter_next(hsi_patch_iter *it, const float **patches,
                               const hsi_pixel **pixels, size_t *n);
/* Hand out the pixels without gathering their windows (*patches is NULL):
 * a GPU gathers them itself from the rows of hsi_patch_iter_tile(). Each
 * batch then lies within one tile (it ends early where the next pixel needs
 * the next tile). Call it before the first hsi_patch_iter_next. */
void hsi_patch_iter_set_pixels_only(hsi_patch_iter *it, int on);
/* Read the next tile (the next one with a pixel to visit) on a second
 * thread while the caller works through this one's batches: a GPU then
 * computes while the CPU reads and preprocesses. Two tiles are held at a
 * time (hsi_patch_iter_memory counts both). The read_rows callback then
 * runs on that thread, one call at a time, in row order. Call it before
 * the first hsi_patch_iter_next. */
void hsi_patch_iter_set_prefetch(hsi_patch_iter *it, int on);
/* The rows the last batch's windows lie in: rows [*first, *first + *count)
 * of the scene, BIP (count x cols x bands floats, valid until the next
 * call of hsi_patch_iter_next); *serial changes whenever another tile is
 * loaded, so a caller re-sends the rows only then. */
const float *hsi_patch_iter_tile(const hsi_patch_iter *it, size_t *first, size_t *count,
                                 unsigned *serial);
/* Pixels the iterator will visit in all (rows*cols, or the inside pixels
 * with HSI_BORDER_SKIP; of those, the mask's), for progress reports. */
size_t hsi_patch_iter_total(const hsi_patch_iter *it);
/* Floats held by the iterator (cube rows plus the batch), to check the bound. */
size_t hsi_patch_iter_memory(const hsi_patch_iter *it);
void hsi_patch_iter_free(hsi_patch_iter *it);

#ifdef __cplusplus
}
#endif
#endif
