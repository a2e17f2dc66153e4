/* test_stream.c - streaming within a memory budget: sizes and rows per
 * block, the row-block writers, the block-by-block preprocessing fits and
 * the streamed false-colour map, each against the in-memory path on small
 * cubes with budgets so small that blocks are one or two rows high. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/rng.h"
#include "datasets/simulate.h"
#include "eval/false_colour_file.h"
#include "eval/maps.h"
#include "features/patch_rows.h"
#include "features/preprocess_stream.h"
#include "io/io.h"
#include "tests/check.h"

static const char *dir;

static const char *path_of(const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* Whole file contents, for byte-for-byte comparisons. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void test_memory_sizes(void)
{
    size_t b = 0;
    CHECK_OK(hsi_memory_parse("512M", &b));
    CHECK_INT_EQ(b, (size_t)512 << 20);
    CHECK_OK(hsi_memory_parse("2G", &b));
    CHECK_INT_EQ(b, (size_t)2 << 30);
    CHECK_OK(hsi_memory_parse("1.5g", &b));
    CHECK_INT_EQ(b, (size_t)3 << 29);
    CHECK_OK(hsi_memory_parse("64KiB", &b));
    CHECK_INT_EQ(b, 65536);
    CHECK_OK(hsi_memory_parse("4096", &b));
    CHECK_INT_EQ(b, 4096);
    CHECK_FAILS(hsi_memory_parse("100", &b), HSI_ERR_ARG, "minimum");
    CHECK_FAILS(hsi_memory_parse("2X", &b), HSI_ERR_ARG, "not a memory size");
    CHECK_FAILS(hsi_memory_parse("-1G", &b), HSI_ERR_ARG, "not a memory size");
    CHECK_FAILS(hsi_memory_parse("", &b), HSI_ERR_ARG, "not a memory size");
    CHECK(hsi_memory_default() > 0);

    size_t rows = 0;
    CHECK_OK(hsi_memory_rows_per_block(1000, 100, 300, 1, 10, "a row", &rows));
    CHECK_INT_EQ(rows, 3);
    CHECK_OK(hsi_memory_rows_per_block(1000, 100, 100, 3, 10, "a row", &rows));
    CHECK_INT_EQ(rows, 3);
    CHECK_OK(hsi_memory_rows_per_block(1 << 30, 0, 100, 1, 7, "a row", &rows));
    CHECK_INT_EQ(rows, 7);
    CHECK_FAILS(hsi_memory_rows_per_block(1000, 800, 300, 1, 10, "a row of x.tif", &rows),
                HSI_ERR_NOMEM, "a row of x.tif needs 300 bytes");
    CHECK(strstr(hsi_last_error(), "give --memory") != NULL);
    CHECK_FAILS(hsi_memory_check(1 << 20, 0, (size_t)3 << 30, "the training set"), HSI_ERR_NOMEM,
                "the training set needs 3 GiB");
    CHECK(strstr(hsi_last_error(), "give --memory 3687M or more") != NULL);
}

/* A cube of radiance-like values with correlated bands, some plateaus and
 * ties, negative values in band 0, georeferencing and wavelengths. */
static hsi_cube *make_cube(size_t rows, size_t cols, size_t bands, uint64_t seed)
{
    hsi_cube *c;
    if (hsi_cube_new(rows, cols, bands, &c)) return NULL;
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    for (size_t i = 0; i < rows * cols; i++) {
        double base = 1000 + 6000 * hsi_rng_uniform(&rng);
        for (size_t b = 0; b < bands; b++) {
            double v = base * (1 + 0.1 * (double)b) + 300 * hsi_rng_normal(&rng);
            if (b == 0) v -= 4000;            /* negative values */
            if (b == 1) v = floor(v / 1000); /* plateaus: many ties */
            c->data[i * bands + b] = (float)v;
        }
    }
    double *w = malloc(bands * sizeof *w);
    for (size_t b = 0; b < bands; b++) w[b] = 400 + 2100.0 * (double)b / (double)(bands - 1);
    hsi_cube_set_wavelengths(c, w, NULL);
    free(w);
    c->geo.has_geotransform = 1;
    double gt[6] = {500000, 20, 0, 4480000, 0, -20};
    memcpy(c->geo.geotransform, gt, sizeof gt);
    return c;
}

static void test_writer(void)
{
    hsi_cube *c = make_cube(9, 7, 5, 3);
    const char *exts[] = {"tif", "dat"};
    for (int e = 0; e < 2; e++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "whole/c.%s", exts[e]);
        snprintf(b, sizeof b, "rows/c.%s", exts[e]);
        CHECK_OK(hsi_cube_write(path_of(a), HSI_FORMAT_AUTO, c));
        /* Blocks of 2 rows written last to first: the same file. */
        hsi_raster_writer *w;
        CHECK_OK(hsi_cube_writer_open(path_of(b), HSI_FORMAT_AUTO, c, c->rows, &w));
        for (size_t r = c->rows; r > 0;) {
            size_t n = r >= 2 ? 2 : r;
            r -= n;
            CHECK_OK(hsi_raster_writer_rows(w, r, n, c->data + r * c->cols * c->bands));
        }
        CHECK(!exists(path_of(b))); /* nothing under the final name before close */
        CHECK_OK(hsi_raster_writer_close(w));
        CHECK_MSG(same_file(path_of(a), path_of(b)), "%s: row-block output differs", b);
    }
    /* A writer closed before every row is written publishes nothing. */
    hsi_raster_writer *w;
    CHECK_OK(hsi_cube_writer_open(path_of("rows/short.tif"), HSI_FORMAT_AUTO, c, c->rows, &w));
    CHECK_OK(hsi_raster_writer_rows(w, 0, 3, c->data));
    CHECK_FAILS(hsi_raster_writer_rows(w, 8, 2, c->data), HSI_ERR_ARG, "outside");
    CHECK_FAILS(hsi_raster_writer_close(w), HSI_ERR_IO, "only 3 of 9 rows");
    CHECK(!exists(path_of("rows/short.tif")));
    hsi_cube_free(c);
}

/* The smallest budget (in steps of 64 bytes) under which fit_file works:
 * blocks of one or two rows. Smaller budgets fail with the clear error. */
static size_t smallest_budget(hsi_preprocess_kind kind, const char *path, const uint16_t *mask,
                              size_t k)
{
    hsi_preprocess *p = NULL;
    for (size_t budget = 1024; budget < (1 << 24); budget += 64) {
        hsi_status st = hsi_preprocess_fit_file(kind, path, NULL, mask, k, 0, budget, &p);
        if (st == HSI_OK) {
            hsi_preprocess_free(p);
            return budget;
        }
        if (st != HSI_ERR_NOMEM || !strstr(hsi_last_error(), "give --memory")) {
            CHECK_MSG(0, "budget %zu: %s", budget, hsi_last_error());
            return 0;
        }
    }
    return 0;
}

static void compare_fit(const hsi_preprocess *a, const hsi_preprocess *b, const char *what)
{
    CHECK_INT_EQ(a->kind, b->kind);
    CHECK_INT_EQ(a->out_dim, b->out_dim);
    if (a->out_dim != b->out_dim) return;
    size_t d = a->in_dim;
    double worst = 0;
    for (size_t i = 0; i < d; i++) {
        /* Floats rounded from doubles that agree to ~1e-13: equal, or one
         * float ulp apart. */
        double e = fabs(a->offset[i] - b->offset[i]) / fmax(1, fabs(a->offset[i]));
        if (a->scale) e = fmax(e, fabs(a->scale[i] - b->scale[i]) / fabs(a->scale[i]));
        worst = fmax(worst, e);
    }
    if (a->kind == HSI_PREPROCESS_PCA)
        for (size_t j = 0; j < a->out_dim; j++) {
            CHECK_NEAR(a->explained[j], b->explained[j], 1e-10);
            for (size_t i = 0; i < d; i++)
                worst = fmax(worst, fabs(a->components[i * a->out_dim + j] -
                                         b->components[i * b->out_dim + j]));
        }
    CHECK_MSG(worst <= 2e-6, "%s: streamed fit differs from the in-memory fit by %g", what, worst);
}

static void test_preprocess(void)
{
    size_t rows = 23, cols = 11, bands = 6;
    hsi_cube *c = make_cube(rows, cols, bands, 7);
    CHECK_OK(hsi_cube_write(path_of("pre.tif"), HSI_FORMAT_GTIFF, c));
    /* Training pixels in a few scattered rows (others have none). */
    uint16_t *mask = calloc(rows * cols, sizeof *mask);
    hsi_rng rng;
    hsi_rng_seed(&rng, 11);
    for (size_t r = 0; r < rows; r++)
        if (r % 3 != 1)
            for (size_t k = 0; k < cols; k++) mask[r * cols + k] = hsi_rng_uniform(&rng) < 0.4;
    const hsi_preprocess_kind kinds[] = {HSI_PREPROCESS_STANDARDISE, HSI_PREPROCESS_MINMAX,
                                         HSI_PREPROCESS_PCA};
    const char *names[] = {"standardise", "minmax", "pca:3"};
    for (int k = 0; k < 3; k++) {
        size_t pk = kinds[k] == HSI_PREPROCESS_PCA ? 3 : 0;
        hsi_preprocess *ref = NULL, *got = NULL;
        CHECK_OK(hsi_preprocess_fit_cube(kinds[k], c, mask, pk, 0, &ref));
        size_t budget = smallest_budget(kinds[k], path_of("pre.tif"), mask, pk);
        CHECK(budget > 0);
        CHECK_OK(hsi_preprocess_fit_file(kinds[k], path_of("pre.tif"), NULL, mask, pk, 0, budget, &got));
        if (ref && got) compare_fit(ref, got, names[k]);
        if (ref && kinds[k] == HSI_PREPROCESS_MINMAX && got) /* min and max are exact */
            CHECK(!memcmp(ref->offset, got->offset, bands * sizeof(float)) &&
                  !memcmp(ref->scale, got->scale, bands * sizeof(float)));
        hsi_preprocess_free(got);
        got = NULL;
        /* The accumulator fed spectra in uneven pieces, 1 to 17 at a time. */
        hsi_preprocess_acc *a;
        CHECK_OK(hsi_preprocess_acc_new(kinds[k], bands, &a));
        size_t n = rows * cols;
        for (size_t i = 0, step = 1; i < n; i += step, step = step % 17 + 1) {
            size_t m = n - i < step ? n - i : step;
            hsi_cube piece = *c;
            piece.rows = 1;
            piece.cols = m;
            piece.data = c->data + i * bands;
            CHECK_OK(hsi_preprocess_acc_add_cube(a, &piece, mask + i));
        }
        CHECK_OK(hsi_preprocess_acc_finish(a, pk, 0, &got));
        if (ref && got) compare_fit(ref, got, names[k]);
        hsi_preprocess_acc_free(a);
        hsi_preprocess_free(ref);
        hsi_preprocess_free(got);
    }
    /* A variance-fraction PCA keeps the same number of components. */
    hsi_preprocess *ref = NULL, *got = NULL;
    CHECK_OK(hsi_preprocess_fit_cube(HSI_PREPROCESS_PCA, c, NULL, 0, 0.999, &ref));
    CHECK_OK(hsi_preprocess_fit_file(HSI_PREPROCESS_PCA, path_of("pre.tif"), NULL, NULL, 0, 0.999,
                                     200000, &got));
    if (ref && got) compare_fit(ref, got, "pca:0.999");
    hsi_preprocess_free(ref);
    hsi_preprocess_free(got);
    uint16_t *none = calloc(rows * cols, sizeof *none);
    CHECK_FAILS(hsi_preprocess_fit_file(HSI_PREPROCESS_STANDARDISE, path_of("pre.tif"), NULL, none,
                                        0, 0, 1 << 20, &got),
                HSI_ERR_DATA, "selects no pixels");
    free(none);
    free(mask);
    hsi_cube_free(c);
}

static void test_false_colour(void)
{
    size_t rows = 19, cols = 13, bands = 12;
    hsi_cube *c = make_cube(rows, cols, bands, 5);
    c->has_nodata = 1;
    c->nodata = -9999;
    for (size_t i = 0; i < rows * cols; i += 7) c->data[i * bands + 9] = -9999; /* nodata pixels */
    CHECK_OK(hsi_cube_write(path_of("fc.tif"), HSI_FORMAT_GTIFF, c));
    hsi_labels *ov;
    CHECK_OK(hsi_labels_new(rows, cols, 3, &ov));
    for (size_t i = 0; i < rows * cols; i++) ov->data[i] = (uint16_t)(i % 5 < 3 ? i % 4 : 0);
    for (int k = 0; k <= 3; k++) ov->classes[k].rgb[0] = (uint8_t)(60 * k), ov->classes[k].rgb[2] = 200;

    hsi_cube *back;
    CHECK_OK(hsi_cube_read(path_of("fc.tif"), NULL, &back));
    const struct { double nm[3]; long band[3]; double lo, hi; int overlay, scale; } cases[] = {
        {{2500, 1200, 400}, {-1, -1, -1}, 2, 98, 0, 1},
        {{0, 0, 0}, {9, 1, 0}, 2, 98, 1, 2},   /* nodata, plateaus, negatives */
        {{0, 0, 0}, {1, 9, 5}, 0, 100, 0, 1},  /* extreme ranks */
        {{0, 0, 0}, {3, 3, 0}, 37.5, 61.25, 1, 3},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        hsi_false_colour_options o;
        hsi_false_colour_options_init(&o);
        memcpy(o.nm, cases[t].nm, sizeof o.nm);
        memcpy(o.band, cases[t].band, sizeof o.band);
        o.low_pct = cases[t].lo;
        o.high_pct = cases[t].hi;
        o.overlay = cases[t].overlay ? ov : NULL;
        int s = cases[t].scale;
        hsi_rgb_image *img = NULL, *big = NULL;
        long used[3], used2[3];
        double nm[3];
        CHECK_OK(hsi_map_false_colour(back, "fc.tif", &o, &img, used));
        hsi_georef g = {0};
        CHECK_OK(hsi_rgb_scale(img, s, &big));
        CHECK_OK(hsi_georef_scale(&back->geo, s, &g));
        CHECK_OK(hsi_rgb_write(path_of("fc_mem.tif"), HSI_FORMAT_GTIFF, big->data, big->rows,
                               big->cols, &g));
        CHECK_OK(hsi_rgb_write(path_of("fc_mem.png"), HSI_FORMAT_PNG, big->data, big->rows,
                               big->cols, NULL));
        hsi_georef_clear(&g);
        /* 64 MiB: two 16-bit radix passes; 256 KiB: three passes and blocks
         * of a row or two (13 columns: 12 + 3 + 3 s^2 bytes a pixel). */
        const size_t budgets[] = {(size_t)64 << 20, 0};
        for (int bi = 0; bi < 2; bi++) {
            size_t budget = budgets[bi];
            if (!budget) { /* the smallest that works, in steps of 32 bytes */
                for (budget = 200000; budget < 400000; budget += 32) {
                    hsi_status st = hsi_map_false_colour_file(path_of("fc.tif"), NULL, &o, budget,
                                                              path_of("fc_str.tif"), HSI_FORMAT_GTIFF,
                                                              s, used2, nm);
                    if (!st) break;
                    CHECK_INT_EQ(st, HSI_ERR_NOMEM);
                }
            } else {
                CHECK_OK(hsi_map_false_colour_file(path_of("fc.tif"), NULL, &o, budget,
                                                   path_of("fc_str.tif"), HSI_FORMAT_GTIFF, s, used2, nm));
            }
            CHECK_OK(hsi_map_false_colour_file(path_of("fc.tif"), NULL, &o, budget + (size_t)(rows * s * cols * s * 3 * 8 / 7) + 64,
                                               path_of("fc_str.png"), HSI_FORMAT_PNG, s, used2, nm));
            CHECK_MSG(same_file(path_of("fc_mem.tif"), path_of("fc_str.tif")),
                      "case %zu budget %zu: streamed GeoTIFF differs", t, budget);
            CHECK_MSG(same_file(path_of("fc_mem.png"), path_of("fc_str.png")),
                      "case %zu budget %zu: streamed PNG differs", t, budget);
            for (int k = 0; k < 3; k++) CHECK_INT_EQ(used[k], used2[k]);
        }
        hsi_rgb_image_free(img);
        hsi_rgb_image_free(big);
    }
    hsi_labels *small;
    CHECK_OK(hsi_labels_new(rows - 1, cols, 3, &small));
    hsi_false_colour_options o;
    hsi_false_colour_options_init(&o);
    o.overlay = small;
    long used[3];
    double nm[3];
    CHECK_FAILS(hsi_map_false_colour_file(path_of("fc.tif"), NULL, &o, 1 << 26, path_of("bad.tif"),
                                          HSI_FORMAT_GTIFF, 1, used, nm),
                HSI_ERR_SIZE, "fc.tif");
    CHECK(!exists(path_of("bad.tif")));
    hsi_labels_free(small);
    hsi_labels_free(ov);
    hsi_cube_free(back);
    hsi_cube_free(c);
}

/* The store for patch training, in both forms (the rows kept, the patches
 * gathered block by block), gives hsi_patch_gather's patches on the whole
 * preprocessed cube, byte for byte: every border mode, radii 1-3, training
 * rows at both edges and in the middle (runs widened and merged), blocks of
 * one or two rows, PCA over several 4096-pixel transform blocks. */
static void test_patch_rows(void)
{
    const size_t rows = 37, cols = 211, bands = 5;
    hsi_cube *c = make_cube(rows, cols, bands, 9);
    CHECK_OK(hsi_cube_write(path_of("pr.tif"), HSI_FORMAT_GTIFF, c));
    hsi_labels *train, *test;
    CHECK_OK(hsi_labels_new(rows, cols, 3, &train));
    CHECK_OK(hsi_labels_new(rows, cols, 3, &test));
    const size_t trows[] = {0, 1, 15, 18, 36}, tcols[] = {0, 1, 100, 209, 210};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++) train->data[trows[i] * cols + tcols[j]] = (uint16_t)(1 + (i + j) % 3);
    for (size_t j = 0; j < cols; j += 7) test->data[27 * cols + j] = 2;
    const hsi_labels *masks[2] = {train, test};
    const hsi_preprocess_kind kinds[] = {HSI_PREPROCESS_NONE, HSI_PREPROCESS_STANDARDISE, HSI_PREPROCESS_PCA};
    for (int ki = 0; ki < 3; ki++) {
        hsi_preprocess *pre = NULL;
        hsi_cube *full = c;
        if (kinds[ki] != HSI_PREPROCESS_NONE) {
            CHECK_OK(hsi_preprocess_fit_cube(kinds[ki], c, train->data, 3, 0, &pre));
            CHECK_OK(hsi_preprocess_apply_cube(pre, c, &full));
            /* The block-gathered fit is the in-memory one, exactly. */
            hsi_preprocess *again = NULL;
            CHECK_OK(hsi_preprocess_fit_labels_file(kinds[ki], path_of("pr.tif"), NULL, train, "train",
                                                    3, 0, 1 << 20, &again));
            if (again)
                CHECK(!memcmp(again->offset, pre->offset, bands * sizeof(float)) &&
                      (pre->kind != HSI_PREPROCESS_PCA ||
                       !memcmp(again->components, pre->components, bands * 3 * sizeof(float))));
            hsi_preprocess_free(again);
        }
        for (int radius = 1; radius <= 3; radius++)
            for (int mode = HSI_BORDER_ZERO; mode <= HSI_BORDER_SKIP; mode++) {
                hsi_pixel *px = malloc(rows * cols * sizeof *px);
                size_t n = 0;
                for (int m = 0; m < 2; m++)
                    for (size_t r = 0; r < rows; r++)
                        for (size_t k = 0; k < cols; k++)
                            if (masks[m]->data[r * cols + k] &&
                                (mode != HSI_BORDER_SKIP || hsi_patch_inside(c, r, k, radius)))
                                px[n++] = (hsi_pixel){(uint32_t)r, (uint32_t)k};
                size_t S = 2 * (size_t)radius + 1, per = full->bands * S * S;
                float *want = malloc(n * per * sizeof *want), *got = calloc(n * per, sizeof *got);
                CHECK_OK(hsi_patch_gather(full, px, n, radius, (hsi_border_mode)mode, want));
                /* Both forms of the store (rows kept, patches gathered),
                 * each with the smallest budget that works (steps of 1 KiB):
                 * one or two row blocks; smaller ones fail with the clear
                 * error. */
                for (int store = HSI_PATCH_STORE_ROWS; store <= HSI_PATCH_STORE_PATCHES; store++) {
                    hsi_patch_rows *pr = NULL;
                    size_t budget;
                    for (budget = 64 << 10; budget < (64 << 20) && !pr; budget += 1024) {
                        hsi_status st = hsi_patch_rows_load(path_of("pr.tif"), NULL, pre, masks, 2, radius,
                                                            (hsi_border_mode)mode, (hsi_patch_store)store,
                                                            budget, "the pixels", &pr);
                        if (st) CHECK_MSG(st == HSI_ERR_NOMEM && strstr(hsi_last_error(), "give --memory"),
                                          "%s", hsi_last_error());
                    }
                    CHECK(pr != NULL);
                    if (!pr) continue;
                    CHECK(pr->store == (hsi_patch_store)store);
                    if (store == HSI_PATCH_STORE_ROWS) {
                        CHECK(pr->rows_kept < rows); /* rows 5..11 and 22..23, 31..32 are not needed */
                        CHECK(pr->n_runs >= 2);
                    } else {
                        CHECK(pr->n_patches == n); /* every labelled pixel the mode can use, once */
                    }
                    memset(got, 0, n * per * sizeof *got);
                    CHECK_OK(hsi_patch_rows_gather(pr, px, n, (hsi_border_mode)mode, got));
                    CHECK_MSG(!memcmp(want, got, n * per * sizeof *got),
                              "kind %d radius %d mode %d store %d: patches differ", ki, radius, mode, store);
                    /* A pixel whose window is not kept is refused. */
                    hsi_pixel far = {8, 3};
                    CHECK_FAILS(hsi_patch_rows_gather(pr, &far, 1, (hsi_border_mode)mode, got),
                                HSI_ERR_ARG, "row 9");
                    hsi_patch_rows_free(pr);
                }
                free(want);
                free(got);
                free(px);
            }
        if (full != c) hsi_cube_free(full);
        hsi_preprocess_free(pre);
    }
    hsi_labels_free(train);
    hsi_labels_free(test);
    hsi_cube_free(c);
}

/* The simulator's rows, made in blocks of 1, 2, 7 rows or all at once,
 * are hsi_simulate's bytes; its labels and header too; rows out of order
 * are refused. */
static void test_simulate_blocks(void)
{
    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    p.rows = 23;
    p.cols = 31;
    p.seed = 11;
    p.bands = 200;
    hsi_cube *whole;
    hsi_labels *gt;
    CHECK_OK(hsi_simulate(&p, &whole, &gt));
    const size_t blocks[] = {1, 2, 7, 23};
    size_t row_values = p.cols * (size_t)p.bands;
    for (size_t i = 0; i < 4; i++) {
        hsi_simulator *s;
        CHECK_OK(hsi_simulator_open(&p, &s));
        const hsi_cube *h = hsi_simulator_header(s);
        CHECK(h->rows == 1 && h->cols == p.cols && h->bands == 200);
        CHECK(!memcmp(h->wavelength, whole->wavelength, 200 * sizeof *h->wavelength));
        CHECK(h->geo.has_geotransform && !memcmp(h->geo.geotransform, whole->geo.geotransform,
                                                  sizeof h->geo.geotransform));
        const hsi_labels *l = hsi_simulator_labels(s);
        CHECK(!memcmp(l->data, gt->data, p.rows * p.cols * sizeof *l->data));
        float *buf = malloc(blocks[i] * row_values * sizeof *buf);
        int same = 1;
        for (size_t r0 = 0; r0 < p.rows; r0 += blocks[i]) {
            size_t n = p.rows - r0 < blocks[i] ? p.rows - r0 : blocks[i];
            CHECK_OK(hsi_simulator_rows(s, r0, n, buf));
            same &= !memcmp(buf, whole->data + r0 * row_values, n * row_values * sizeof *buf);
        }
        CHECK_MSG(same, "blocks of %zu rows differ from hsi_simulate", blocks[i]);
        if (blocks[i] == 1) CHECK_FAILS(hsi_simulator_rows(s, 0, 1, buf), HSI_ERR_ARG, "rows 1..1");
        free(buf);
        hsi_simulator_free(s);
    }
    hsi_cube_free(whole);
    hsi_labels_free(gt);
}

int main(void)
{
    dir = check_tmpdir("stream");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/whole' '%s/rows'", dir, dir);
    if (system(cmd) != 0) return 99;
    test_memory_sizes();
    test_writer();
    test_preprocess();
    test_false_colour();
    test_patch_rows();
    test_simulate_blocks();
    return check_finish();
}
