/* predict_budget.c - row tiles of CNN prediction within --memory (see the
 * header). */
#include "cnn3d/predict_budget.h"

#include "features/preprocess.h"

size_t hsi_cnn_predict_output_bytes(size_t rows, size_t cols, int classes, int probability)
{
    size_t per_pixel = sizeof(uint16_t) + 1 + (probability ? (size_t)classes * sizeof(float) : 0);
    return rows * cols * per_pixel;
}

hsi_status hsi_cnn_predict_tile_rows(const hsi_cnn_net *net, const hsi_cnn_meta *meta,
                                     const char *path, const hsi_read_options *ro,
                                     int probability, size_t budget, size_t *tile_rows)
{
    *tile_rows = 0;
    hsi_read_options r = {0};
    if (ro) r = *ro;
    if (!r.bands && meta->bands[0]) r.bands = meta->bands;
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, &r, &rd);
    if (st) return st;
    size_t rows, cols, bands;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    hsi_cube_reader_close(rd);
    size_t out_bands = meta->preprocess ? meta->preprocess->out_dim : bands;
    size_t S = 2 * (size_t)(meta->radius > 0 ? meta->radius : 0) + 1;
    size_t per_pixel = hsi_cnn_predict_output_bytes(1, 1, net->classes, probability);
    /* On a GPU the next tile is read while the device computes: two held. */
    size_t tiles = hsi_cnn_predict_on_device(net) ? 2 : 1;
    size_t row = tiles * cols * (bands + out_bands) * sizeof(float);
    /* A batch of patches and the halo of rows around a tile. */
    size_t fixed = (size_t)net->max_batch * S * S * out_bands * sizeof(float) + (S - 1) * row;
    size_t fit;
    if ((st = hsi_scene_block_rows(budget, rows, cols, per_pixel, fixed, row,
                                   probability ? "the class raster and probabilities" : "the class raster",
                                   &fit)))
        return st;
    /* The default tile: 64 MiB of (preprocessed) rows, as the iterator makes it. */
    size_t out_row = cols * out_bands * sizeof(float);
    size_t def = ((size_t)64 << 20) / (out_row ? out_row : 1);
    if (fit < def) *tile_rows = fit ? fit : 1;
    return HSI_OK;
}
