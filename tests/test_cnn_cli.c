/* test_cnn_cli.c - `hsi cnn` end to end on a small synthetic scene written
 * here: train (with a test raster), eval, whole-scene predict to a class map
 * and probability cube (the same for any tile height and batch; nodata
 * pixels get class 0), resume == uninterrupted, and one-line errors for a
 * bad spec, a damaged model and a cube with the wrong bands. */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "io/io.h"
#include "tests/check.h"

#define ROWS 24
#define COLS 24
#define BANDS 12

static const char *tmp;
static char cmd[16384];

/* Run the hsi command; stdout and stderr go to files in tmp. */
static int hsi(const char *args)
{
    const char *bin = getenv("HSI");
    snprintf(cmd, sizeof cmd, "cd '%s' && OMP_NUM_THREADS=2 '%s' %s >out.txt 2>err.txt", tmp,
             bin ? bin : "hsi", args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static char *slurp(const char *file)
{
    static char buf[65536];
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, file);
    FILE *fp = fopen(path, "r");
    buf[0] = '\0';
    if (fp) {
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        buf[n] = '\0';
        fclose(fp);
    }
    return buf;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* One stderr line mentioning `what`, exit status 1. */
static void expect_error(const char *args, const char *what)
{
    int rc = hsi(args);
    const char *err = slurp("err.txt");
    CHECK_MSG(rc == 1 && lines(err) == 1 && strstr(err, what),
              "'hsi %s': exit %d, stderr '%s'; wanted exit 1 and one line with '%s'", args, rc, err,
              what);
}

static int same_file(const char *a, const char *b)
{
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/%s", tmp, a);
    snprintf(pb, sizeof pb, "%s/%s", tmp, b);
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void write_scene(void)
{
    char path[4200];
    hsi_cube *cube;
    hsi_labels *truth, *train, *test;
    hsi_cube_new(ROWS, COLS, BANDS, &cube);
    hsi_labels_new(ROWS, COLS, 3, &truth);
    hsi_labels_new(ROWS, COLS, 3, &train);
    hsi_labels_new(ROWS, COLS, 3, &test);
    hsi_rng rng;
    hsi_rng_seed(&rng, 9);
    /* Three fields in vertical stripes; each has its own spectral shape. */
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++) {
            int k = (int)(c / 8);
            float *px = hsi_cube_pixel(cube, r, c);
            for (int b = 0; b < BANDS; b++)
                px[b] = (float)(100 + 20 * sin(0.5 * b * (k + 1)) + 8 * hsi_rng_normal(&rng));
            truth->data[r * COLS + c] = (uint16_t)(k + 1);
            ((r + c) % 2 ? train : test)->data[r * COLS + c] = (uint16_t)(k + 1);
        }
    snprintf(path, sizeof path, "%s/cube.tif", tmp);
    CHECK_OK(hsi_cube_write(path, HSI_FORMAT_GTIFF, cube));
    snprintf(path, sizeof path, "%s/truth.tif", tmp);
    CHECK_OK(hsi_labels_write(path, HSI_FORMAT_GTIFF, truth));
    snprintf(path, sizeof path, "%s/train.tif", tmp);
    CHECK_OK(hsi_labels_write(path, HSI_FORMAT_GTIFF, train));
    snprintf(path, sizeof path, "%s/test.tif", tmp);
    CHECK_OK(hsi_labels_write(path, HSI_FORMAT_GTIFF, test));
    /* The same scene with one band fewer. */
    hsi_cube *fewer;
    hsi_cube_new(ROWS, COLS, BANDS - 1, &fewer);
    snprintf(path, sizeof path, "%s/fewer.tif", tmp);
    CHECK_OK(hsi_cube_write(path, HSI_FORMAT_GTIFF, fewer));
    hsi_cube_free(fewer);
    hsi_cube_free(cube);
    hsi_labels_free(truth), hsi_labels_free(train), hsi_labels_free(test);

    FILE *fp;
    snprintf(path, sizeof path, "%s/tiny.cfg", tmp);
    fp = fopen(path, "w");
    fputs("[net]\ninput = 3, 3, auto\nclasses = auto\nbatch = 16\nepochs = 4\nloss = cce\n"
          "optimizer = adam\nlearning_rate = 0.01\n"
          "[conv3d]\nfilters = 4\nkernel = 3, 3, 3\nactivation = relu\n"
          "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n",
          fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/bad.cfg", tmp);
    fp = fopen(path, "w");
    fputs("[net]\ninput = 3, 3, auto\n[conv3d]\nfilters = 4\nkernel = 3, 3, 3\nstrides = 2\n", fp);
    fclose(fp);
}

/* The library's whole-scene prediction with 1-row tiles and batches of 5
 * gives the CLI's map (default tiles, batch 64), and a pixel that is nodata
 * in every band gets class 0. */
static void check_tiled_prediction(void)
{
    char path[4200], model[4200];
    snprintf(model, sizeof model, "%s/m.ckpt", tmp);
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta meta;
    CHECK_OK(hsi_cnn_checkpoint_read(model, 0, 5, NULL, &net, &meta));
    if (!net) return;
    hsi_labels *cli_map = NULL, *map = NULL;
    hsi_cube *cli_prob = NULL, *prob = NULL;
    snprintf(path, sizeof path, "%s/map.tif", tmp);
    CHECK_OK(hsi_labels_read(path, NULL, &cli_map));
    snprintf(path, sizeof path, "%s/probs.tif", tmp);
    CHECK_OK(hsi_cube_read(path, NULL, &cli_prob));
    hsi_cnn_scene_options o = {NULL, "m.ckpt", 1, 1, NULL, NULL, 0, NULL};
    size_t classified = 0;
    snprintf(path, sizeof path, "%s/cube.tif", tmp);
    CHECK_OK(hsi_cnn_predict_file(net, &meta, path, &o, &map, &prob, &classified));
    CHECK_INT_EQ(classified, ROWS * COLS);
    if (map && cli_map && prob && cli_prob) {
        size_t same = 0;
        double worst = 0;
        for (size_t i = 0; i < ROWS * COLS; i++) same += map->data[i] == cli_map->data[i];
        for (size_t i = 0; i < ROWS * COLS * 3; i++)
            worst = fmax(worst, fabs(prob->data[i] - cli_prob->data[i]));
        CHECK_INT_EQ(same, ROWS * COLS);
        CHECK_MSG(worst < 1e-5, "probabilities differ by %g", worst);
    }
    hsi_labels_free(map), hsi_cube_free(prob);

    /* Only some pixels (every fifth, in rows 10..14): those get the map's
     * class, all others 0. */
    uint8_t only[ROWS * COLS] = {0};
    size_t want = 0;
    for (size_t i = 10 * COLS; i < 15 * COLS; i += 5) only[i] = 1, want++;
    o.only = only;
    CHECK_OK(hsi_cnn_predict_file(net, &meta, path, &o, &map, NULL, &classified));
    CHECK_INT_EQ(classified, want);
    if (map && cli_map) {
        size_t wrong = 0;
        for (size_t i = 0; i < ROWS * COLS; i++)
            wrong += map->data[i] != (only[i] ? cli_map->data[i] : 0);
        CHECK_INT_EQ(wrong, 0);
    }
    hsi_labels_free(map);
    o.only = NULL;

    /* Pixel (3, 4) nodata in every band. */
    hsi_cube *cube = NULL;
    CHECK_OK(hsi_cube_read(path, NULL, &cube));
    if (cube) {
        cube->has_nodata = 1;
        cube->nodata = -9999;
        float *px = hsi_cube_pixel(cube, 3, 4);
        for (int b = 0; b < BANDS; b++) px[b] = -9999;
        snprintf(path, sizeof path, "%s/holes.tif", tmp);
        CHECK_OK(hsi_cube_write(path, HSI_FORMAT_GTIFF, cube));
        hsi_cube_free(cube);
        o.tile_rows = 0;
        CHECK_OK(hsi_cnn_predict_file(net, &meta, path, &o, &map, NULL, NULL));
        if (map && cli_map) {
            CHECK_INT_EQ(map->data[3 * COLS + 4], 0);
            CHECK_INT_EQ(map->data[20 * COLS + 20], cli_map->data[20 * COLS + 20]);
        }
        hsi_labels_free(map);
    }
    hsi_labels_free(cli_map), hsi_cube_free(cli_prob);
    hsi_cnn_net_free(net);
    hsi_cnn_meta_clear(&meta);
}

int main(void)
{
    tmp = check_tmpdir("cnn_cli");
    write_scene();
    const char *train = "cnn train cube.tif --spec tiny.cfg --train train.tif";

    snprintf(cmd, sizeof cmd, "%s --test test.tif --seed 3 -o m.ckpt", train);
    char args[2048];
    snprintf(args, sizeof args, "%s", cmd);
    int rc = hsi(args);
    CHECK_MSG(rc == 0, "train exit %d: %s", rc, slurp("err.txt"));
    const char *out = slurp("out.txt");
    CHECK(strstr(out, "Epoch 4/4") != NULL);
    CHECK(strstr(out, "overall_accuracy=") != NULL);
    /* train --test scores the test pixels from the scene in memory; eval
     * classifies them tile by tile from the file: the same report. */
    char *train_report = strdup(strstr(out, "overall_accuracy=") ? strstr(out, "overall_accuracy=") : "");

    rc = hsi("cnn eval cube.tif -m m.ckpt --test test.tif -q");
    CHECK_MSG(rc == 0, "eval exit %d: %s", rc, slurp("err.txt"));
    const char *oa = strstr(slurp("out.txt"), "overall_accuracy=");
    CHECK_MSG(oa && !strcmp(oa, train_report), "eval report:\n%s\ntrain --test report:\n%s",
              oa ? oa : "(none)", train_report);
    free(train_report);
    double acc = oa ? atof(oa + strlen("overall_accuracy=")) : 0;
    printf("eval overall accuracy %.4f\n", acc);
    CHECK_MSG(acc >= 0.9, "test accuracy %.3f", acc);

    /* A test class the model has no output for: one error line, exit 1. */
    hsi_labels *beyond = NULL;
    CHECK_OK(hsi_labels_new(ROWS, COLS, 4, &beyond));
    if (beyond) {
        char lpath[4200];
        beyond->data[7] = 4;
        snprintf(lpath, sizeof lpath, "%s/test4.tif", tmp);
        CHECK_OK(hsi_labels_write(lpath, HSI_FORMAT_GTIFF, beyond));
        hsi_labels_free(beyond);
        expect_error("cnn eval cube.tif -m m.ckpt --test test4.tif -q",
                     "test4.tif: class 4, but m.ckpt knows 3 classes");
    }

    rc = hsi("cnn predict cube.tif -m m.ckpt -o map.tif --prob probs.tif -q");
    CHECK_MSG(rc == 0, "predict exit %d: %s", rc, slurp("err.txt"));
    char path[4200];
    snprintf(path, sizeof path, "%s/map.tif", tmp);
    hsi_labels *map = NULL, *truth = NULL;
    CHECK_OK(hsi_labels_read(path, NULL, &map));
    snprintf(path, sizeof path, "%s/truth.tif", tmp);
    CHECK_OK(hsi_labels_read(path, NULL, &truth));
    if (map && truth) {
        size_t hits = 0;
        for (size_t i = 0; i < ROWS * COLS; i++) hits += map->data[i] == truth->data[i];
        CHECK_MSG(hits >= 0.9 * ROWS * COLS, "map agrees with the truth on %zu of %d pixels", hits,
                  ROWS * COLS);
        CHECK(hsi_labels_max(map) == 3);
    }
    hsi_labels_free(map), hsi_labels_free(truth);
    snprintf(path, sizeof path, "%s/probs.tif", tmp);
    hsi_cube *probs = NULL;
    CHECK_OK(hsi_cube_read(path, NULL, &probs));
    if (probs) {
        CHECK_INT_EQ(probs->bands, 3);
        const float *p = hsi_cube_pixel(probs, 5, 5);
        CHECK_NEAR(p[0] + p[1] + p[2], 1.0, 1e-5);
        hsi_cube_free(probs);
    }

    check_tiled_prediction();

    /* Resume: 2 epochs with checkpoints, then on to 4 == 4 straight. */
    snprintf(args, sizeof args, "%s --seed 3 --epochs 2 --checkpoint-every 1 -o r.ckpt -q", train);
    CHECK(hsi(args) == 0);
    CHECK(hsi("cnn train cube.tif --resume r.ckpt --train train.tif --epochs 4 -o r.ckpt -q") == 0);
    snprintf(args, sizeof args, "%s --seed 3 -o s.ckpt -q", train);
    CHECK(hsi(args) == 0);
    CHECK_MSG(same_file("r.ckpt", "s.ckpt"), "resumed model differs from the uninterrupted one");
    /* --epochs 0 writes the initialised net; training on from it is the same run. */
    snprintf(args, sizeof args, "%s --seed 3 --epochs 0 -o i.ckpt -q", train);
    CHECK(hsi(args) == 0);
    CHECK(hsi("cnn train cube.tif --resume i.ckpt --train train.tif --epochs 4 -o i.ckpt -q") == 0);
    CHECK_MSG(same_file("i.ckpt", "s.ckpt"), "training on from the initialised net differs");
    CHECK(same_file("m.ckpt", "s.ckpt")); /* same seed, same model */

    /* Errors: one line, exit 1, naming the file and the problem. */
    expect_error("cnn train cube.tif --spec bad.cfg --train train.tif -o x.ckpt",
                 "bad.cfg:6: unknown key 'strides' in [conv3d]");
    struct stat sb;
    CHECK(stat("x.ckpt", &sb) != 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && head -c 300 m.ckpt > cut.ckpt", tmp);
    CHECK(system(cmd) == 0);
    expect_error("cnn predict cube.tif -m cut.ckpt -o y.tif", "cut.ckpt: CNN checkpoint corrupt or truncated");
    expect_error("cnn predict cube.tif -m tiny.cfg -o y.tif", "tiny.cfg: not an hsi CNN checkpoint");
    expect_error("cnn predict fewer.tif -m m.ckpt -o y.tif", "fewer.tif: 11 bands, but m.ckpt was trained on 12");
    snprintf(path, sizeof path, "%s/y.tif", tmp);
    CHECK(stat(path, &sb) != 0);
    CHECK(hsi("cnn train cube.tif") == 2); /* no --spec */
    CHECK(hsi("cnn predict cube.tif -o y.tif") == 2); /* no -m MODEL */
    CHECK(hsi("cnn predict -m m.ckpt -o y.tif") == 2); /* no CUBE */
    rc = hsi("cnn summary tiny.cfg --classes 3");
    CHECK(rc == 0 && strstr(slurp("out.txt"), "Total params:"));
    return check_finish();
}
