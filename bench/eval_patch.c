/* eval_patch.c - throughput of hsi_patch_gather and of the whole-scene patch
 * iterator: patches per second into the CNN's (N, 1, B, S, S) layout.
 *
 *   bench/eval_patch ROWS COLS BANDS RADIUS BATCH REPEATS
 *
 * Prints one line per measurement; bench/eval_patch.sh runs it next to the
 * numpy peer (fancy indexing of a padded cube) on the same sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/cube.h"
#include "base/rng.h"
#include "features/patch.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: eval_patch ROWS COLS BANDS RADIUS BATCH REPEATS\n");
        return 2;
    }
    size_t rows = strtoul(argv[1], NULL, 10), cols = strtoul(argv[2], NULL, 10);
    size_t bands = strtoul(argv[3], NULL, 10), batch = strtoul(argv[5], NULL, 10);
    int radius = atoi(argv[4]), repeats = atoi(argv[6]);
    hsi_cube *cube;
    if (hsi_cube_new(rows, cols, bands, &cube)) {
        fprintf(stderr, "eval_patch: %s\n", hsi_last_error());
        return 1;
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, 1);
    for (size_t i = 0; i < rows * cols * bands; i++) cube->data[i] = (float)hsi_rng_uniform(&rng);
    size_t S = 2 * (size_t)radius + 1, per = bands * S * S;
    hsi_pixel *px = malloc(batch * sizeof *px);
    float *out = malloc(batch * per * sizeof *out);
    /* Random pixels anywhere (mirror border), as a training batch is drawn. */
    for (size_t i = 0; i < batch; i++)
        px[i] = (hsi_pixel){(uint32_t)hsi_rng_below(&rng, rows), (uint32_t)hsi_rng_below(&rng, cols)};
    double sink = 0;
    hsi_patch_gather(cube, px, batch, radius, HSI_BORDER_MIRROR, out); /* warm up */
    double t = now();
    for (int r = 0; r < repeats; r++) {
        if (hsi_patch_gather(cube, px, batch, radius, HSI_BORDER_MIRROR, out)) return 1;
        sink += out[r % (batch * per)];
    }
    double dt = now() - t;
    printf("gather: %zu x %zu x %zu cube, %zu x %zu windows, batch %zu: %.0f patches/s (%.2f GB/s written)\n",
           rows, cols, bands, S, S, batch, batch * repeats / dt,
           batch * repeats * per * sizeof(float) / dt / 1e9);

    /* Whole scene through the iterator. */
    hsi_patch_iter *it;
    t = now();
    if (hsi_patch_iter_open_cube(cube, radius, HSI_BORDER_MIRROR, batch, &it)) return 1;
    const float *x;
    const hsi_pixel *p;
    size_t n, total = 0;
    while (!hsi_patch_iter_next(it, &x, &p, &n) && n) {
        total += n;
        sink += x[0];
    }
    dt = now() - t;
    hsi_patch_iter_free(it);
    printf("scene iterator: %zu patches in %.3f s: %.0f patches/s (checksum %.3f)\n", total, dt,
           total / dt, sink);
    free(px);
    free(out);
    hsi_cube_free(cube);
    return 0;
}
