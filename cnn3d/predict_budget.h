/* predict_budget.h - the row tiles of whole-scene CNN prediction within a
 * memory budget (hsi cnn predict / eval --memory).
 *
 * Prediction (cnn3d/predict.c) holds the class raster (2 bytes a pixel), a
 * nodata mask (1 byte), the probabilities when asked for (4 bytes a class),
 * one batch of patches and one tile of rows, raw and preprocessed, with the
 * patch radius of rows above and below (two tiles on a GPU, where the next
 * is read while the device computes: hsi_cnn_predict_on_device). The outputs are whole-scene; the
 * tile is what the budget sizes. The net itself (weights, activation
 * buffers) is the model, outside the budget.
 *
 * The dense path (cnn3d/predict_dense.h) holds the same outputs, a band of
 * rows (a tile's height with the radius above and below, raw and
 * preprocessed) and the trunk: the activations and conv workspace of the
 * layers before [flatten] over a batch of tiles, which hsi_cnn_dense_choose
 * sizes (tiles and tiles per pass) to fit what the outputs leave.
 */
#ifndef HSI_CNN_PREDICT_BUDGET_H
#define HSI_CNN_PREDICT_BUDGET_H

#include <stddef.h>

#include "cnn3d/cnn.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the outputs of a rows x cols scene: the class raster, the
 * nodata mask and, with probability, the probability cube. */
size_t hsi_cnn_predict_output_bytes(size_t rows, size_t cols, int classes, int probability);

/* Rows per tile for hsi_cnn_predict_file on the scene `path` (read with
 * ro; bands NULL: the model's) within `budget`: 0 (the default tile, about
 * 64 MiB) when that fits, else fewer rows. HSI_ERR_NOMEM, naming what does
 * not fit and the budget that would do, when not even one row fits beside
 * the outputs. */
hsi_status hsi_cnn_predict_tile_rows(const hsi_cnn_net *net, const hsi_cnn_meta *meta,
                                     const char *path, const hsi_read_options *ro,
                                     int probability, size_t budget, size_t *tile_rows);

#ifdef __cplusplus
}
#endif
#endif
