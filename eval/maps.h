/* maps.h - pictures of classifications and scenes as 8-bit RGB images.
 *
 *   class map        each pixel in its class's colour from the label raster's
 *                    class table (the scene's palette); unlabelled pixels in
 *                    entry 0's colour;
 *   correctness map  scored pixels pure blue (0,0,255) when the prediction
 *                    equals the truth, pure red (255,0,0) otherwise;
 *                    unlabelled truth dark grey (64,64,64); training pixels
 *                    (when a training raster is given) dark grey too, or
 *                    white (255,255,255) when marked;
 *   false colour     three bands picked by wavelength (e.g. 850/650/550 nm,
 *                    near-infrared as red: vegetation shows red), each
 *                    stretched linearly between two percentiles of its
 *                    values and clipped; optionally class colours blended on
 *                    top of the labelled pixels.
 *
 * Images are rows x cols x 3, pixel-interleaved, as hsi_rgb_write (io/io.h)
 * takes them. hsi_rgb_scale enlarges by an integer factor (nearest
 * neighbour: every pixel becomes a k x k block) so a 145 x 145 scene is
 * readable on screen; hsi_georef_scale keeps a GeoTIFF of the enlarged image
 * on the same ground.
 */
#ifndef HSI_EVAL_MAPS_H
#define HSI_EVAL_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/cube.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_rgb_image {
    size_t rows, cols;
    uint8_t *data; /* rows * cols * 3 */
} hsi_rgb_image;

hsi_status hsi_rgb_image_new(size_t rows, size_t cols, hsi_rgb_image **out);
void hsi_rgb_image_free(hsi_rgb_image *img);

#define HSI_MAP_CORRECT_RGB 0, 0, 255
#define HSI_MAP_WRONG_RGB 255, 0, 0
#define HSI_MAP_UNLABELLED_RGB 64, 64, 64
#define HSI_MAP_TRAIN_RGB 255, 255, 255

/* Class map of a label raster in its own class table's colours. Values
 * beyond the class table are HSI_ERR_DATA (`name` in the message). */
hsi_status hsi_map_class(const hsi_labels *labels, const char *name, hsi_rgb_image **out);

/* Correctness map. pred and truth (and train, may be NULL) must have the
 * same size (HSI_ERR_SIZE naming pred_name / train_name). */
hsi_status hsi_map_correct(const hsi_labels *truth, const hsi_labels *pred, const char *pred_name,
                           const hsi_labels *train, const char *train_name, int mark_train,
                           hsi_rgb_image **out);

typedef struct hsi_false_colour_options {
    double nm[3];           /* wavelengths for red, green, blue (default 850, 650, 550) */
    long band[3];           /* 0-based bands instead (when band[0] >= 0); default -1 */
    double low_pct, high_pct; /* stretch between these percentiles (default 2, 98) */
    const hsi_labels *overlay; /* class colours blended over labelled pixels, or NULL */
    double overlay_alpha;   /* weight of the class colour (default 0.5) */
} hsi_false_colour_options;

void hsi_false_colour_options_init(hsi_false_colour_options *o);

/* False-colour composite. A cube without wavelengths needs explicit bands
 * (HSI_ERR_ARG otherwise); bands_used (may be NULL) receives the three bands
 * picked. `name` names the cube in messages. */
hsi_status hsi_map_false_colour(const hsi_cube *cube, const char *name,
                                const hsi_false_colour_options *o, hsi_rgb_image **out,
                                long bands_used[3]);

/* Nearest-neighbour enlargement by an integer factor 1..64. */
hsi_status hsi_rgb_scale(const hsi_rgb_image *in, int factor, hsi_rgb_image **out);
/* The georeferencing of an image enlarged by `factor` (pixel size / factor). */
hsi_status hsi_georef_scale(const hsi_georef *in, int factor, hsi_georef *out);

/* Legend of a class map as text: one line per class present (or all classes
 * when counts is NULL) with id, colour (#rrggbb and r,g,b) and name; with
 * counts ([n_classes + 1] pixels per class) also the pixel count. */
hsi_status hsi_map_legend_write(const hsi_labels *labels, const size_t *counts, FILE *fp);

/* Legend as an image: one row per class present (all classes when counts
 * is NULL): a colour swatch, the class id, name and (with counts) pixel
 * count, dark text on white, drawn with cairo in DejaVu Sans 12 px. Unlabelled
 * (class 0) is listed only when counts[0] > 0 and with_unlabelled is set. */
hsi_status hsi_map_legend_image(const hsi_labels *labels, const size_t *counts,
                                int with_unlabelled, hsi_rgb_image **out);

/* Free the caches cairo keeps for its fonts (fontconfig patterns, glyphs):
 * memory a leak checker would otherwise report at exit. Call it once, when
 * no drawing is in progress (hsi calls it at exit). */
void hsi_graphics_release(void);

#ifdef __cplusplus
}
#endif
#endif
