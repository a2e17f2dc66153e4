/* budget.c - block rows of a whole-scene classification within --memory
 * (see io.h). */
#include <stdio.h>

#include "base/memory.h"
#include "io/io.h"

hsi_status hsi_scene_block_rows(size_t budget, size_t rows, size_t cols, size_t out_per_pixel,
                                size_t fixed, size_t row_bytes, const char *what, size_t *block)
{
    *block = 0;
    size_t held = hsi_io_cache_budget(budget) + fixed;
    char desc[160];
    snprintf(desc, sizeof desc, "%s held for the whole %zu x %zu scene (%zu bytes a pixel)", what,
             rows, cols, out_per_pixel);
    hsi_status st = hsi_memory_check(budget, held + row_bytes, rows * cols * out_per_pixel, desc);
    if (st) return st;
    return hsi_memory_rows_per_block(budget, held + rows * cols * out_per_pixel, row_bytes, 1, rows,
                                     "a row of the scene (besides the outputs)", block);
}
