/* gather.h - the training pixels of a scene larger than memory.
 *
 * Training needs the spectra (or patches) of a few labelled pixels, not the
 * scene: these functions read only the row blocks that hold labelled pixels
 * (plus a margin of rows around them for patches), within a memory budget,
 * and copy out what training needs. The training set itself must fit: when
 * it does not, the error says how large it is and what budget would do.
 */
#ifndef HSI_IO_GATHER_H
#define HSI_IO_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The spectra of the pixels with a nonzero label, x[n x bands] and y[n] in
 * row-major pixel order: what hsi_svm_gather takes from a whole cube, read
 * from `path` (opened with ro) block by block. labels must have the scene's
 * size; `what` names the label raster in messages. extra_per_pixel: bytes
 * the caller will need per training pixel besides x and y (a preprocessed
 * copy, the solver's own copy), counted in the training set's size. The
 * budget holds GDAL's cache, the training set and one row block. */
hsi_status hsi_gather_spectra_file(const char *path, const hsi_read_options *ro,
                                   const hsi_labels *labels, const char *what, size_t budget,
                                   size_t extra_per_pixel, float **x, uint16_t **y, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
