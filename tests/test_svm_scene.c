/* test_svm_scene.c - a helper for the SVM command-line tests (not a test).
 *
 *   test_svm_scene make DIR [ROWS]   write DIR/cube.tif (ROWS x 24 px x 8 bands,
 *                                    default 30 rows), DIR/gt.tif (3 classes in
 *                                    vertical strips: Soil, Trees, Water),
 *                                    DIR/train.tif (every 5th labelled pixel) and
 *                                    DIR/train_no_trees.tif (the same without
 *                                    class 2, whose table still lists it)
 *   test_svm_scene accuracy MAP GT   print the fraction of GT's labelled pixels
 *                                    that MAP labels the same
 *   test_svm_scene libsvm CUBE TRAIN OUT  write TRAIN's labelled pixels of CUBE
 *                                    in libsvm's text format (row-major order, each
 *                                    float written as the exact double), for
 *                                    comparisons with svm-train
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cube.h"
#include "base/rng.h"
#include "io/io.h"

static int die(const char *what)
{
    fprintf(stderr, "test_svm_scene: %s: %s\n", what, hsi_last_error());
    return 99;
}

static int make(const char *dir, size_t rows)
{
    enum { COLS = 24, BANDS = 8 };
    hsi_cube *cube;
    hsi_labels *gt, *train, *no_trees;
    if (hsi_cube_new(rows, COLS, BANDS, &cube) || hsi_labels_new(rows, COLS, 3, &gt) ||
        hsi_labels_new(rows, COLS, 3, &train) || hsi_labels_new(rows, COLS, 3, &no_trees))
        return die("allocating");
    const char *names[4] = {"Unlabelled", "Soil", "Trees", "Water"};
    for (int k = 0; k <= 3; k++) {
        snprintf(gt->classes[k].name, HSI_CLASS_NAME_MAX, "%s", names[k]);
        train->classes[k] = no_trees->classes[k] = gt->classes[k];
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, 2024);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < COLS; c++) {
            int k = (int)(c / 8) + 1;
            float *px = hsi_cube_pixel(cube, r, c);
            for (int b = 0; b < BANDS; b++) {
                double t = b / (double)(BANDS - 1);
                /* soil rises, vegetation has a red edge, water falls */
                double shape = k == 1 ? 0.2 + 0.3 * t : k == 2 ? (t > 0.5 ? 0.6 : 0.1) : 0.3 - 0.25 * t;
                px[b] = (float)(shape + 0.06 * hsi_rng_normal(&rng));
            }
            size_t i = r * COLS + c;
            gt->data[i] = (uint16_t)(r % 7 == 6 ? 0 : k); /* some unlabelled rows */
            train->data[i] = (uint16_t)(gt->data[i] && (r + c) % 5 == 0 ? k : 0);
            no_trees->data[i] = (uint16_t)(train->data[i] == 2 ? 0 : train->data[i]);
        }
    char path[4200];
    snprintf(path, sizeof path, "%s/cube.tif", dir);
    if (hsi_cube_write(path, HSI_FORMAT_AUTO, cube)) return die(path);
    snprintf(path, sizeof path, "%s/gt.tif", dir);
    if (hsi_labels_write(path, HSI_FORMAT_AUTO, gt)) return die(path);
    snprintf(path, sizeof path, "%s/train.tif", dir);
    if (hsi_labels_write(path, HSI_FORMAT_AUTO, train)) return die(path);
    snprintf(path, sizeof path, "%s/train_no_trees.tif", dir);
    if (hsi_labels_write(path, HSI_FORMAT_AUTO, no_trees)) return die(path);
    hsi_cube_free(cube);
    hsi_labels_free(gt);
    hsi_labels_free(train);
    hsi_labels_free(no_trees);
    return 0;
}

static int accuracy(const char *map_path, const char *gt_path)
{
    hsi_labels *map, *gt;
    if (hsi_labels_read(map_path, NULL, &map)) return die(map_path);
    if (hsi_labels_read_for(gt_path, NULL, map->rows, map->cols, &gt)) return die(gt_path);
    size_t n = 0, ok = 0;
    for (size_t i = 0; i < gt->rows * gt->cols; i++)
        if (gt->data[i]) {
            n++;
            ok += map->data[i] == gt->data[i];
        }
    printf("%.4f\n", n ? (double)ok / n : 0.0);
    hsi_labels_free(map);
    hsi_labels_free(gt);
    return 0;
}

static int to_libsvm(const char *cube_path, const char *train_path, const char *out)
{
    hsi_cube *cube;
    hsi_labels *train;
    if (hsi_cube_read(cube_path, NULL, &cube)) return die(cube_path);
    if (hsi_labels_read_for(train_path, NULL, cube->rows, cube->cols, &train))
        return die(train_path);
    FILE *fp = fopen(out, "w");
    if (!fp) return 99;
    for (size_t i = 0; i < cube->rows * cube->cols; i++) {
        if (!train->data[i]) continue;
        fprintf(fp, "%u", train->data[i]);
        for (size_t b = 0; b < cube->bands; b++)
            fprintf(fp, " %zu:%.17g", b + 1, (double)cube->data[i * cube->bands + b]);
        fputc('\n', fp);
    }
    fclose(fp);
    hsi_cube_free(cube);
    hsi_labels_free(train);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "make"))
        return make(argv[2], argc > 3 ? (size_t)atol(argv[3]) : 30);
    if (argc == 4 && !strcmp(argv[1], "accuracy")) return accuracy(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "libsvm")) return to_libsvm(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: test_svm_scene make DIR [ROWS] | accuracy MAP GT | libsvm CUBE TRAIN OUT\n");
    return 99;
}
