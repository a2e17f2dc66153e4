/* gather.c - training pixels gathered a row block at a time (see gather.h). */
#include "io/gather.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"

/* The first row at or after r that holds a labelled pixel, or rows. */
static size_t next_labelled_row(const hsi_labels *l, size_t r)
{
    for (; r < l->rows; r++)
        for (size_t c = 0; c < l->cols; c++)
            if (l->data[r * l->cols + c]) return r;
    return l->rows;
}

hsi_status hsi_gather_spectra_file(const char *path, const hsi_read_options *ro,
                                   const hsi_labels *labels, const char *what, size_t budget,
                                   size_t extra_per_pixel, float **x_out, uint16_t **y_out,
                                   size_t *n_out)
{
    *x_out = NULL;
    *y_out = NULL;
    *n_out = 0;
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, ro, &rd);
    if (st) return st;
    size_t rows, cols, bands, block, n = 0;
    float *x = NULL;
    uint16_t *y = NULL;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    if ((st = hsi_labels_check_size(labels, rows, cols, what))) goto done;
    for (size_t i = 0; i < rows * cols; i++) n += labels->data[i] != 0;
    if (n == 0) {
        st = hsi_error(HSI_ERR_DATA, "%s: no labelled pixels", what);
        goto done;
    }
    /* The training set first: if it cannot fit, say so before any read. */
    size_t per_pixel = bands * sizeof(float) + sizeof(uint16_t) + extra_per_pixel;
    size_t fixed = hsi_io_cache_budget(budget);
    char desc[160];
    snprintf(desc, sizeof desc, "the training set (%zu pixels of %s x %zu bands)", n, what, bands);
    size_t row_bytes = cols * bands * sizeof(float);
    /* ... with room for one row block beside it, so the advice is enough. */
    if ((st = hsi_memory_check(budget, fixed + row_bytes, n * per_pixel, desc))) goto done;
    fixed += n * per_pixel;
    if ((st = hsi_memory_rows_per_block(budget, fixed, row_bytes, 1, rows,
                                        "a row of the scene (besides the training set)", &block)))
        goto done;
    x = malloc(n * bands * sizeof *x);
    y = malloc(n * sizeof *y);
    if (!x || !y) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for %zu training pixels", n);
        goto done;
    }
    size_t j = 0;
    for (size_t r0 = next_labelled_row(labels, 0); r0 < rows && !st;) {
        size_t m = rows - r0 < block ? rows - r0 : block;
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, r0, m, &b))) break;
        const uint16_t *lab = labels->data + r0 * cols;
        for (size_t i = 0; i < m * cols; i++)
            if (lab[i]) {
                memcpy(x + j * bands, b->data + i * bands, bands * sizeof *x);
                y[j++] = lab[i];
            }
        hsi_cube_free(b);
        r0 = next_labelled_row(labels, r0 + m);
    }
done:
    hsi_cube_reader_close(rd);
    if (st) {
        free(x);
        free(y);
        return st;
    }
    *x_out = x;
    *y_out = y;
    *n_out = n;
    return HSI_OK;
}
