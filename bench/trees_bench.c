/* trees_bench.c - time component-tree construction on one image.
 *
 *     trees_bench IMAGE.f32 ROWS COLS [REPEATS]
 *
 * IMAGE.f32 is ROWS*COLS little-endian float32 values, row-major. For the
 * max-tree (4-connected) and the tree of shapes, on float levels and on
 * levels quantised to 16 bits, prints one line
 *     <tree> <levels> <best seconds> <Mpixel/s> <nodes>
 * (best of REPEATS runs, default 3; construction only, the image is in
 * memory). Used by bench/trees_bench.sh, which runs Higra on the same file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "features/tree.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: trees_bench IMAGE.f32 ROWS COLS [REPEATS]\n");
        return 2;
    }
    size_t rows = strtoul(argv[2], NULL, 10), cols = strtoul(argv[3], NULL, 10);
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    size_t n = rows * cols;
    float *image = malloc(n * sizeof *image);
    FILE *fp = fopen(argv[1], "rb");
    if (!image || !fp || fread(image, sizeof *image, n, fp) != n) {
        fprintf(stderr, "trees_bench: %s: cannot read %zu x %zu float32 values\n", argv[1], rows, cols);
        return 1;
    }
    fclose(fp);
    const hsi_tree_kind kinds[2] = {HSI_TREE_MAX, HSI_TREE_SHAPES};
    const int bits[2] = {0, 16};
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 2; q++) {
            hsi_tree_options opt = {.connectivity = 4, .quantise_bits = bits[q]};
            double best = 1e30;
            size_t nodes = 0;
            for (int r = 0; r < repeats; r++) {
                hsi_tree *t = NULL;
                double t0 = now();
                hsi_status st = hsi_tree_build(image, rows, cols, kinds[k], &opt, &t);
                double dt = now() - t0;
                if (st) {
                    fprintf(stderr, "trees_bench: %s\n", hsi_last_error());
                    return 1;
                }
                nodes = t->n_nodes;
                hsi_tree_free(t);
                if (dt < best) best = dt;
            }
            printf("%s %s %.6f %.3f %zu\n", kinds[k] == HSI_TREE_MAX ? "maxtree" : "tos",
                   bits[q] ? "q16" : "float", best, n / best / 1e6, nodes);
        }
    free(image);
    return 0;
}
