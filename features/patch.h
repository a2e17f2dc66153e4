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

/* Gather n patches into out (n * bands * S * S floats, layout above).
 * With HSI_BORDER_SKIP every pixel must be inside (HSI_ERR_ARG otherwise).
 * A radius whose window is larger than the scene is HSI_ERR_SIZE. */
hsi_status hsi_patch_gather(const hsi_cube *cube, const hsi_pixel *pixels, size_t n, int radius,
                            hsi_border_mode mode, float *out);

#ifdef __cplusplus
}
#endif
#endif
