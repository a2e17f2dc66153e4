/* test_cnn_dense.c - whole-scene prediction by dense evaluation of the
 * layers before [flatten] (cnn3d/predict_dense.c) against the per-window
 * path (HSI_CNN_DENSE=0), on small scenes written here:
 *
 * - the Lange net (cnn3d/specs/lange2018.cfg on 24 bands), a small net of
 *   its shape, and one with batch normalisation (non-trivial running
 *   statistics) and dropout, for the zero, mirror and skip border modes,
 *   with pixels that are nodata in every band, one tile or tiles forced
 *   small (several bands and tiles, the last ones cut), a tail run in
 *   several batches, only some pixels asked for (some bands of tiles then
 *   window by window, as the cost estimate says), and tiles sized to a
 *   small memory budget;
 * - nets that do not qualify (a spatial max-pool, padding = same, a
 *   softmax over a conv's volume) fall back with their reason, and so does
 *   HSI_CNN_DENSE=0.
 *
 * Tolerance: the two paths compute the same sums in other orders (a conv
 * over a 9 x 9 window and over a tile are different GEMMs, perhaps other
 * kernels), float32 rounding of ~1e-7 of each sum's magnitude, through
 * three convolutions and three dense layers: the logits differ by ~1e-6 in
 * absolute terms, so each probability (exp of a logit over a sum) by ~1e-6
 * relative. We ask 1e-5 relative, and equal classes wherever the top two
 * probabilities differ by more than that. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "cnn3d/predict_budget.h"
#include "cnn3d/predict_dense.h"
#include "io/io.h"
#include "tests/check.h"

#define ROWS 17
#define COLS 13
#define BANDS 24
#define CLASSES 4
#define TOL 1e-5

static const char *tmp;
static char cube_path[4200];

/* A scene of smooth spectra with texture, two pixels nodata in every band
 * (one at a corner, whose neighbours' windows read the marker). */
static void write_scene(void)
{
    hsi_cube *cube = NULL;
    CHECK_OK(hsi_cube_new(ROWS, COLS, BANDS, &cube));
    if (!cube) return;
    hsi_rng rng;
    hsi_rng_seed(&rng, 17);
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++) {
            float *px = hsi_cube_pixel(cube, r, c);
            double k = (double)((r / 5 + c / 4) % 3);
            for (int b = 0; b < BANDS; b++)
                px[b] = (float)(sin(0.3 * b * (k + 1) + 0.1 * r) + 0.3 * hsi_rng_normal(&rng));
        }
    cube->has_nodata = 1;
    /* The marker 0, so that the windows around them stay in range. */
    cube->nodata = 0;
    for (int b = 0; b < BANDS; b++) hsi_cube_pixel(cube, 6, 5)[b] = 0;
    for (int b = 0; b < BANDS; b++) hsi_cube_pixel(cube, 0, COLS - 1)[b] = 0;
    snprintf(cube_path, sizeof cube_path, "%s/cube.tif", tmp);
    CHECK_OK(hsi_cube_write(cube_path, HSI_FORMAT_GTIFF, cube));
    hsi_cube_free(cube);
}

/* A net from spec text with glorot weights of `seed` and, for batch
 * normalisation, running statistics and scales far from the identity. */
static hsi_cnn_net *make_net(const char *text, uint64_t seed, int max_batch)
{
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_spec_parse(text, "test.cfg", &spec));
    if (!spec) return NULL;
    hsi_cnn_net_options o = {BANDS, CLASSES, max_batch, 0, seed, NULL};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    if (!net) return NULL;
    hsi_rng rng;
    hsi_rng_seed(&rng, seed + 1);
    for (int i = 0; i < net->n_layers; i++) {
        hsi_cnn_layer *L = &net->layers[i];
        if (L->spec.kind != HSI_CNN_BATCHNORM) continue;
        for (int c = 0; c < L->in.c; c++) {
            L->running_mean[c] = (float)(0.2 * hsi_rng_normal(&rng));
            L->running_var[c] = (float)(0.5 + hsi_rng_uniform(&rng));
            L->w[c] = (float)(0.7 + 0.6 * hsi_rng_uniform(&rng));
            L->b[c] = (float)(0.1 * hsi_rng_normal(&rng));
        }
    }
    return net;
}

typedef struct result {
    hsi_labels *labels;
    hsi_cube *prob;
    size_t classified;
    hsi_cnn_predict_report report;
} result;

static size_t budget; /* the scene options' memory (0: the default) */
static const char *dense_mode = "1"; /* HSI_CNN_DENSE of compare()'s dense run */

static void predict(hsi_cnn_net *net, int border, const char *dense, const char *tile,
                    const uint8_t *only, result *out)
{
    memset(out, 0, sizeof *out);
    setenv("HSI_CNN_DENSE", dense, 1);
    if (tile) setenv("HSI_CNN_DENSE_TILE", tile, 1);
    else unsetenv("HSI_CNN_DENSE_TILE");
    hsi_cnn_meta meta = {0};
    meta.radius = (net->input.h - 1) / 2;
    meta.border = border;
    hsi_cnn_scene_options o = {NULL, "test net", 0, 1, NULL, only, budget, &out->report};
    CHECK_OK(hsi_cnn_predict_file(net, &meta, cube_path, &o, &out->labels, &out->prob,
                                  &out->classified));
    unsetenv("HSI_CNN_DENSE");
    unsetenv("HSI_CNN_DENSE_TILE");
}

static void result_free(result *r)
{
    hsi_labels_free(r->labels);
    hsi_cube_free(r->prob);
}

/* Dense (tile: HSI_CNN_DENSE_TILE, NULL: the budget's) against per window
 * on `net` with a border mode, optionally only some pixels. */
static void compare(const char *what, hsi_cnn_net *net, int border, const char *tile,
                    const uint8_t *only)
{
    result w, d;
    predict(net, border, "0", NULL, NULL, &w);
    predict(net, border, dense_mode, tile, only, &d);
    CHECK_MSG(!w.report.dense && !strcmp(w.report.why, "HSI_CNN_DENSE=0"), "%s: per window: %s",
              what, w.report.why);
    CHECK_MSG(d.report.dense, "%s: not dense: %s", what, d.report.why);
    if (!w.labels || !d.labels || !w.prob || !d.prob) {
        result_free(&w), result_free(&d);
        return;
    }
    const int r = (net->input.h - 1) / 2, k = CLASSES;
    size_t want = 0, class_diff = 0, near_ties = 0, nonzero = 0;
    double worst = 0;
    for (size_t y = 0; y < ROWS; y++)
        for (size_t x = 0; x < COLS; x++) {
            size_t at = y * COLS + x;
            int inside = border != HSI_BORDER_SKIP ||
                         (y >= (size_t)r && x >= (size_t)r && y + r < ROWS && x + r < COLS);
            int asked = inside && (!only || only[at]);
            want += asked;
            const float *pw = w.prob->data + at * k, *pd = d.prob->data + at * k;
            if (!asked) { /* nothing written: class 0, probabilities 0 */
                int zero = d.labels->data[at] == 0;
                for (int j = 0; j < k; j++) zero &= pd[j] == 0.0f;
                CHECK_MSG(zero, "%s: pixel (%zu, %zu) not asked for, yet classified", what, y, x);
                continue;
            }
            /* Nodata pixels get class 0 either way. */
            if ((y == 6 && x == 5) || (y == 0 && x == COLS - 1)) {
                CHECK_MSG(d.labels->data[at] == 0 && w.labels->data[at] == 0,
                          "%s: nodata pixel (%zu, %zu) classified %d / %d", what, y, x,
                          d.labels->data[at], w.labels->data[at]);
                continue;
            }
            int top = 0, second = -1;
            for (int j = 0; j < k; j++) {
                double e = fabs((double)pd[j] - pw[j]) / fmax(fabs((double)pw[j]), 1e-30);
                if (e > worst) worst = e;
                nonzero += pw[j] > 0;
                if (pw[j] > pw[top]) top = j;
            }
            for (int j = 0; j < k; j++)
                if (j != top && (second < 0 || pw[j] > pw[second])) second = j;
            if (pw[top] - pw[second] > 2 * TOL * pw[top])
                class_diff += d.labels->data[at] != w.labels->data[at];
            else
                near_ties++;
        }
    CHECK_MSG(worst <= TOL, "%s: probabilities differ by %.3g relative", what, worst);
    CHECK_MSG(class_diff == 0, "%s: %zu pixels of another class", what, class_diff);
    CHECK_MSG(d.classified == want, "%s: %zu pixels classified, %zu asked for", what, d.classified,
              want);
    CHECK(nonzero > 0);
    /* Mixed bands where the estimate chooses, none where HSI_CNN_DENSE=1. */
    if (!*dense_mode)
        CHECK_MSG(d.report.plan.window_bands > 0 && d.report.plan.window_bands < d.report.plan.grid_rows,
                  "%s: %zu of %zu bands per window", what, d.report.plan.window_bands,
                  d.report.plan.grid_rows);
    else
        CHECK_INT_EQ(d.report.plan.window_bands, 0);
    printf("%-44s tiles %zux%zu (%zu x %zu, batch %d, %zu bands per window): worst %.2g relative, "
           "%zu near ties\n", what, d.report.plan.tile_rows, d.report.plan.tile_cols,
           d.report.plan.grid_rows, d.report.plan.grid_cols, d.report.plan.batch,
           d.report.plan.window_bands, worst, near_ties);
    result_free(&w), result_free(&d);
}

/* The Lange net's shape, a few filters. */
static const char *small_lange =
    "[net]\ninput = 9, 9, auto\nclasses = auto\nbatch = 8\nloss = mse\n"
    "[conv3d]\nfilters = 6\nkernel = 3, 3, 5\nactivation = relu\n"
    "[maxpool3d]\nsize = 1, 1, 3\n[zeropad3d]\npad = 0, 0, 2\n"
    "[conv3d]\nfilters = 5\nkernel = 3, 3, 5\nactivation = relu\n"
    "[maxpool3d]\nsize = 1, 1, 3\n[zeropad3d]\npad = 0, 0, 2\n"
    "[conv3d]\nfilters = 4\nkernel = 3, 3, 5\nactivation = relu\n"
    "[maxpool3d]\nsize = 1, 1, 2\n[flatten]\n"
    "[dense]\nunits = 12\nactivation = relu\n[dense]\nunits = classes\nactivation = softmax\n";

/* Batch normalisation (with an activation), dropout before and after
 * [flatten], an average pool along the bands, a 5 x 5 window. */
static const char *bn_dropout =
    "[net]\ninput = 5, 5, auto\nclasses = auto\nbatch = 8\n"
    "[conv3d]\nfilters = 5\nkernel = 3, 3, 3\nactivation = linear\n"
    "[batchnorm]\nactivation = relu\n[dropout]\nrate = 0.3\n"
    "[avgpool3d]\nsize = 1, 1, 2\n"
    "[conv3d]\nfilters = 3\nkernel = 1, 1, 3\nactivation = tanh\n"
    "[batchnorm]\n[flatten]\n[dropout]\nrate = 0.5\n"
    "[dense]\nunits = 10\nactivation = relu\n[batchnorm]\n"
    "[dense]\nunits = classes\nactivation = softmax\n";

/* Nets the dense path must refuse, and the reason it gives. */
static void check_fallback(const char *text, const char *why)
{
    hsi_cnn_net *net = make_net(text, 5, 8);
    if (!net) return;
    result d;
    predict(net, HSI_BORDER_MIRROR, "1", NULL, NULL, &d);
    CHECK_MSG(!d.report.dense && strstr(d.report.why, why), "wanted a fallback '%s', got %s '%s'",
              why, d.report.dense ? "dense" : "per window", d.report.why);
    CHECK_INT_EQ(d.classified, ROWS * COLS);
    result_free(&d);
    hsi_cnn_net_free(net);
}

/* hsi_cnn_predict_file on the test scene with a window of the given radius
 * fails with code and a message holding msg, and returns no raster. */
static void expect_predict_error(hsi_cnn_net *net, int radius, hsi_status code, const char *msg)
{
    hsi_cnn_meta meta = {0};
    meta.radius = radius;
    hsi_labels *labels = NULL;
    hsi_cnn_scene_options o = {NULL, "test net", 0, 0, NULL, NULL, 0, NULL};
    CHECK_FAILS(hsi_cnn_predict_file(net, &meta, cube_path, &o, &labels, NULL, NULL), code, msg);
    CHECK(labels == NULL);
    hsi_labels_free(labels);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *s = calloc(1, 1 << 16);
    if (s) fread(s, 1, (1 << 16) - 1, fp);
    fclose(fp);
    return s;
}

int main(void)
{
    tmp = check_tmpdir("cnn_dense");
    write_scene();

    hsi_cnn_net *net = make_net(small_lange, 3, 7);
    if (net) {
        static const char *modes[] = {"zero", "mirror", "skip"};
        for (int b = HSI_BORDER_ZERO; b <= HSI_BORDER_SKIP; b++) {
            char what[96];
            snprintf(what, sizeof what, "small Lange, %s, one tile", modes[b]);
            compare(what, net, b, NULL, NULL);
            snprintf(what, sizeof what, "small Lange, %s, 4 x 5 tiles", modes[b]);
            compare(what, net, b, "4x5", NULL);
            snprintf(what, sizeof what, "small Lange, %s, 1 x 2 tiles", modes[b]);
            compare(what, net, b, "1x2", NULL);
        }
        /* Only every third pixel of rows 3..12 asked for (eval's test pixels). */
        uint8_t only[ROWS * COLS] = {0};
        for (size_t i = 3 * COLS; i < 13 * COLS; i += 3) only[i] = 1;
        compare("small Lange, mirror, 3 x 4 tiles, some pixels", net, HSI_BORDER_MIRROR, "3x4", only);
        /* Tiles forced larger than the scene: the scene in one tile. */
        compare("small Lange, zero, 100000 x 5 tiles", net, HSI_BORDER_ZERO, "100000x5", NULL);
        {
            result d;
            predict(net, HSI_BORDER_MIRROR, "1", "100000", NULL, &d);
            CHECK_MSG(d.report.dense && d.report.plan.tile_rows == ROWS &&
                          d.report.plan.tile_cols == COLS && d.report.plan.grid_rows == 1,
                      "tile 100000: %s, %zu x %zu", d.report.dense ? "dense" : d.report.why,
                      d.report.plan.tile_rows, d.report.plan.tile_cols);
            result_free(&d);
        }
        compare("small Lange, skip, some pixels", net, HSI_BORDER_SKIP, NULL, only);
        /* Rows 0..7 whole, then one pixel in each band of tiles: the
         * estimate takes the first bands densely and the others window by
         * window (from the same rows), and the result is the same. */
        uint8_t mixed[ROWS * COLS] = {0};
        memset(mixed, 1, 8 * COLS);
        for (size_t y = 8; y < ROWS; y += 4) mixed[y * COLS + (y % COLS)] = 1;
        dense_mode = "";
        compare("small Lange, zero, 4 x 5 tiles, mixed bands", net, HSI_BORDER_ZERO, "4x5", mixed);
        compare("small Lange, skip, 4 x 5 tiles, mixed bands", net, HSI_BORDER_SKIP, "4x5", mixed);
        dense_mode = "1";
        /* Few pixels asked for: per window is cheaper, and chosen. */
        uint8_t one[ROWS * COLS] = {0};
        one[8 * COLS + 6] = 1;
        result d;
        predict(net, HSI_BORDER_MIRROR, "", NULL, one, &d);
        CHECK_MSG(!d.report.dense && strstr(d.report.why, "cheaper for 1 pixel than"),
                  "one pixel: %s", d.report.dense ? "dense" : d.report.why);
        CHECK_INT_EQ(d.classified, 1);
        result_free(&d);
        /* Nothing asked for: per window (nothing to do), saying so. */
        uint8_t none[ROWS * COLS] = {0};
        predict(net, HSI_BORDER_MIRROR, "", NULL, none, &d);
        CHECK_MSG(!d.report.dense && !strcmp(d.report.why, "no pixel asked for"), "no pixel: %s",
                  d.report.dense ? "dense" : d.report.why);
        CHECK_INT_EQ(d.classified, 0);
        result_free(&d);
        /* The whole scene: dense, by the estimate alone. */
        predict(net, HSI_BORDER_MIRROR, "", NULL, NULL, &d);
        CHECK_MSG(d.report.dense, "whole scene: per window: %s", d.report.why);
        CHECK_MSG(d.report.plan.dense_cost < d.report.plan.window_cost / 4,
                  "dense %.3g FLOPs against %.3g", d.report.plan.dense_cost,
                  d.report.plan.window_cost);
        /* A budget that holds a third of the one tile's trunk: smaller
         * tiles, or fewer per pass, within it, and the same result. */
        size_t whole = d.report.plan.bytes;
        result_free(&d);
        size_t outputs = hsi_cnn_predict_output_bytes(ROWS, COLS, CLASSES, 1);
        budget = outputs + whole / 3;
        predict(net, HSI_BORDER_MIRROR, "", NULL, NULL, &d);
        CHECK_MSG(d.report.dense && d.report.plan.bytes <= whole / 3 &&
                      d.report.plan.tile_rows * d.report.plan.tile_cols < ROWS * COLS,
                  "budget %zu: %s, %zu x %zu tiles, %zu bytes", budget,
                  d.report.dense ? "dense" : d.report.why, d.report.plan.tile_rows,
                  d.report.plan.tile_cols, d.report.plan.bytes);
        /* What the budget counted holds what the trunk allocates: its
         * activation arena and host scratch, built here as predict_dense.c
         * builds it (the model's spec before [flatten] over the tile and its
         * halo), and the band of rows, raw and preprocessed. */
        if (d.report.dense) {
            const hsi_cnn_dense_plan *p = &d.report.plan;
            hsi_cnn_spec *ts = NULL;
            hsi_cnn_net *trunk = NULL;
            CHECK_OK(hsi_cnn_spec_parse(small_lange, "test.cfg", &ts));
            if (ts) {
                ts->in_h = (int)p->tile_rows + 8, ts->in_w = (int)p->tile_cols + 8;
                ts->n_layers = p->flatten;
                hsi_cnn_net_options to = {BANDS, CLASSES, p->batch, 0, 1, NULL};
                CHECK_OK(hsi_cnn_net_new(ts, &to, &trunk));
                hsi_cnn_spec_free(ts);
            }
            if (trunk) {
                size_t largest = hsi_cnn_shape_size(trunk->input);
                for (int i = 0; i < trunk->n_layers; i++)
                    if (hsi_cnn_shape_size(trunk->layers[i].out) > largest)
                        largest = hsi_cnn_shape_size(trunk->layers[i].out);
                size_t held = (trunk->act_floats + (size_t)p->batch * largest) * sizeof(float) +
                              (p->tile_rows + 8) * COLS * 2 * BANDS * sizeof(float);
                printf("budget: the trunk and rows hold %zu bytes, counted %zu\n", held, p->bytes);
                CHECK_MSG(held <= p->bytes, "the trunk holds %zu bytes, the budget counted %zu",
                          held, p->bytes);
                hsi_cnn_net_free(trunk);
            }
        }
        result_free(&d);
        compare("small Lange, mirror, a third of the memory", net, HSI_BORDER_MIRROR, NULL, NULL);
        /* Not even 1-pixel tiles fit: per window, saying so. */
        budget = outputs + 1000;
        predict(net, HSI_BORDER_MIRROR, "", NULL, NULL, &d);
        CHECK_MSG(!d.report.dense && strstr(d.report.why, "memory budget"), "tiny budget: %s",
                  d.report.dense ? "dense" : d.report.why);
        result_free(&d);
        budget = 0;
        hsi_cnn_net_free(net);
    }

    net = make_net(bn_dropout, 11, 5);
    if (net) {
        compare("batchnorm + dropout, zero, 2 x 3 tiles", net, HSI_BORDER_ZERO, "2x3", NULL);
        compare("batchnorm + dropout, mirror, one tile", net, HSI_BORDER_MIRROR, NULL, NULL);
        compare("batchnorm + dropout, skip, 5 x 4 tiles", net, HSI_BORDER_SKIP, "5x4", NULL);
        hsi_cnn_net_free(net);
    }

    /* The Lange net itself on 24 bands. */
    const char *src = getenv("HSI_SRCDIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/cnn3d/specs/lange2018.cfg", src ? src : "..");
    char *lange = read_text(path);
    CHECK_MSG(lange != NULL, "cannot read %s", path);
    if (lange && (net = make_net(lange, 7, 50))) {
        compare("Lange 2018, mirror, 6 x 5 tiles", net, HSI_BORDER_MIRROR, "6x5", NULL);
        compare("Lange 2018, zero, one tile", net, HSI_BORDER_ZERO, NULL, NULL);
        hsi_cnn_net_free(net);
    }
    free(lange);

    check_fallback("[net]\ninput = 5, 5, auto\nclasses = auto\nbatch = 8\n"
                   "[conv3d]\nfilters = 2\nkernel = 3, 3, 3\n[maxpool3d]\nsize = 3, 3, 1\n"
                   "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n",
                   "maxpool3d_1 pools over x or y");
    check_fallback("[net]\ninput = 3, 3, auto\nclasses = auto\nbatch = 8\n"
                   "[conv3d]\nfilters = 2\nkernel = 3, 3, 3\npadding = same\n"
                   "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n",
                   "conv3d_1 pads x and y (padding = same)");
    check_fallback("[net]\ninput = 3, 3, auto\nclasses = auto\nbatch = 8\n"
                   "[conv3d]\nfilters = 2\nkernel = 3, 3, 3\nactivation = softmax\n"
                   "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n",
                   "conv3d_1 has a softmax over its volume");

    /* A trunk without arithmetic (dropout alone): as many FLOPs either way,
     * per window, and the reason does not claim it cheaper. */
    if ((net = make_net("[net]\ninput = 3, 3, auto\nclasses = auto\nbatch = 8\n"
                        "[dropout]\nrate = 0.2\n[flatten]\n"
                        "[dense]\nunits = classes\nactivation = softmax\n", 5, 8))) {
        result d;
        predict(net, HSI_BORDER_MIRROR, "", NULL, NULL, &d);
        CHECK_MSG(!d.report.dense && strstr(d.report.why, "as cheap for 221 pixels as"),
                  "dropout trunk: %s", d.report.dense ? "dense" : d.report.why);
        result_free(&d);
        hsi_cnn_net_free(net);
    }

    /* A window larger than the scene (19 x 19 on 17 x 13): one error naming
     * the scene, on either path. */
    if ((net = make_net("[net]\ninput = 19, 19, auto\nclasses = auto\nbatch = 8\n"
                        "[conv3d]\nfilters = 2\nkernel = 3, 3, 3\n"
                        "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n", 5, 8))) {
        for (int path = 0; path < 2; path++) {
            setenv("HSI_CNN_DENSE", path ? "1" : "0", 1);
            expect_predict_error(net, 9, HSI_ERR_SIZE,
                                 "cube.tif: patch radius 9 (window 19 x 19) is larger than the "
                                 "scene (17 x 13)");
        }
        unsetenv("HSI_CNN_DENSE");
        hsi_cnn_net_free(net);
    }

    /* A bad HSI_CNN_DENSE_TILE is one clear error. */
    if ((net = make_net(small_lange, 3, 7))) {
        setenv("HSI_CNN_DENSE_TILE", "4y", 1);
        expect_predict_error(net, 4, HSI_ERR_ARG, "HSI_CNN_DENSE_TILE='4y'");
        unsetenv("HSI_CNN_DENSE_TILE");
        hsi_cnn_net_free(net);
    }
    return check_finish();
}
