/* false_colour_file.h - the false-colour composite of a scene on disk, made
 * a row block at a time within a memory budget.
 *
 * The image is the one hsi_map_false_colour (eval/maps.h) makes from the
 * whole cube, byte for byte: the same bands, the same percentile stretch
 * (exact order statistics, found by a two-pass radix selection over the
 * three bands instead of a sort of all their values), the same overlay
 * blend; it is written through a row-block writer (io/io.h), enlarged by
 * `scale` on the way.
 */
#ifndef HSI_EVAL_FALSE_COLOUR_FILE_H
#define HSI_EVAL_FALSE_COLOUR_FILE_H

#include <stddef.h>

#include "eval/maps.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read the scene `path` (ro: .mat variable, band table; its band selection
 * must be NULL) in row blocks of at most `budget` bytes all told and write
 * the composite to `out` (PNG or GeoTIFF; a PNG is assembled in memory and
 * counts against the budget). o->overlay, when set, must have the scene's
 * size (it is held whole: 2 bytes a pixel). bands_used receives the three
 * 0-based bands and nm_used their wavelengths (NAN when unknown); out_rows
 * and out_cols the written image's size. */
hsi_status hsi_map_false_colour_file(const char *path, const hsi_read_options *ro,
                                     const hsi_false_colour_options *o, size_t budget,
                                     const char *out, hsi_raster_format fmt, int scale,
                                     long bands_used[3], double nm_used[3]);

#ifdef __cplusplus
}
#endif
#endif
