/* test_eval_maps.c - map pixels: class colours from the class table, a
 * correct pixel exactly blue, a wrong one exactly red, unlabelled dark grey,
 * marked training pixels white; false-colour band choice, stretch and
 * overlay; integer scaling; PNG and GeoTIFF round trips through io/. */
#include "base/cube.h"
#include "eval/maps.h"
#include "io/io.h"
#include "tests/check.h"

static int rgb_is(const hsi_rgb_image *img, size_t r, size_t c, int R, int G, int B)
{
    const uint8_t *p = img->data + (r * img->cols + c) * 3;
    return p[0] == R && p[1] == G && p[2] == B;
}

static void test_class_and_correct(void)
{
    hsi_labels *truth, *pred, *train;
    CHECK_OK(hsi_labels_new(2, 3, 3, &truth));
    CHECK_OK(hsi_labels_new(2, 3, 3, &pred));
    CHECK_OK(hsi_labels_new(2, 3, 3, &train));
    uint16_t t[6] = {0, 1, 2, 3, 3, 1}, p[6] = {2, 1, 3, 3, 0, 1}, tr[6] = {0, 0, 0, 0, 0, 1};
    memcpy(truth->data, t, sizeof t);
    memcpy(pred->data, p, sizeof p);
    memcpy(train->data, tr, sizeof tr);
    truth->classes[2].rgb[0] = 10, truth->classes[2].rgb[1] = 20, truth->classes[2].rgb[2] = 30;

    hsi_rgb_image *img;
    CHECK_OK(hsi_map_class(truth, "gt.tif", &img));
    CHECK(rgb_is(img, 0, 2, 10, 20, 30));
    CHECK(rgb_is(img, 0, 0, truth->classes[0].rgb[0], truth->classes[0].rgb[1],
                 truth->classes[0].rgb[2]));
    CHECK(rgb_is(img, 1, 0, truth->classes[3].rgb[0], truth->classes[3].rgb[1],
                 truth->classes[3].rgb[2]));
    hsi_rgb_image_free(img);

    CHECK_OK(hsi_map_correct(truth, pred, "pred.tif", NULL, NULL, 0, &img));
    CHECK(rgb_is(img, 0, 0, 64, 64, 64)); /* unlabelled, whatever the prediction */
    CHECK(rgb_is(img, 0, 1, 0, 0, 255));  /* correct: exactly blue */
    CHECK(rgb_is(img, 0, 2, 255, 0, 0));  /* wrong: exactly red */
    CHECK(rgb_is(img, 1, 0, 0, 0, 255));
    CHECK(rgb_is(img, 1, 1, 255, 0, 0));  /* unclassified (0) is wrong */
    CHECK(rgb_is(img, 1, 2, 0, 0, 255));
    hsi_rgb_image_free(img);
    CHECK_OK(hsi_map_correct(truth, pred, "pred.tif", train, "train.tif", 1, &img));
    CHECK(rgb_is(img, 1, 2, 255, 255, 255)); /* training pixel marked */
    hsi_rgb_image_free(img);
    CHECK_OK(hsi_map_correct(truth, pred, "pred.tif", train, "train.tif", 0, &img));
    CHECK(rgb_is(img, 1, 2, 64, 64, 64)); /* not scored, not marked */
    hsi_rgb_image_free(img);

    /* Scaling: every pixel becomes a k x k block. */
    hsi_rgb_image *big;
    CHECK_OK(hsi_map_correct(truth, pred, "pred.tif", NULL, NULL, 0, &img));
    CHECK_OK(hsi_rgb_scale(img, 4, &big));
    CHECK(big->rows == 8 && big->cols == 12);
    int ok = 1;
    for (size_t r = 0; r < 8; r++)
        for (size_t c = 0; c < 12; c++)
            if (memcmp(big->data + (r * 12 + c) * 3, img->data + ((r / 4) * 3 + c / 4) * 3, 3)) ok = 0;
    CHECK(ok);
    hsi_rgb_image *none;
    CHECK_FAILS(hsi_rgb_scale(img, 0, &none), HSI_ERR_ARG, "scale factor 0");

    /* PNG round trip through io/. */
    const char *dir = check_tmpdir("eval_maps");
    char path[4200];
    snprintf(path, sizeof path, "%s/correct.png", dir);
    CHECK_OK(hsi_rgb_write(path, HSI_FORMAT_PNG, big->data, big->rows, big->cols, NULL));
    hsi_cube *back = NULL;
    CHECK_OK(hsi_cube_read(path, NULL, &back));
    if (back) {
        CHECK(back->rows == 8 && back->cols == 12 && back->bands == 3);
        size_t diff = 0;
        for (size_t i = 0; i < 8 * 12 * 3; i++) diff += back->data[i] != big->data[i];
        CHECK_INT_EQ(diff, 0);
        hsi_cube_free(back);
    }
    hsi_rgb_image_free(big);
    hsi_rgb_image_free(img);

    /* Bad inputs. */
    hsi_labels *small;
    CHECK_OK(hsi_labels_new(2, 2, 3, &small));
    CHECK_FAILS(hsi_map_correct(truth, small, "pred.tif", NULL, NULL, 0, &img), HSI_ERR_SIZE,
                "pred.tif: size 2 x 2");
    pred->data[3] = 9;
    CHECK_FAILS(hsi_map_class(pred, "pred.tif", &img), HSI_ERR_DATA,
                "pred.tif: class 9 (row 2, column 1) is not in its class table of 3 classes");
    hsi_labels_free(small);
    hsi_labels_free(truth);
    hsi_labels_free(pred);
    hsi_labels_free(train);
}

static void test_false_colour(void)
{
    /* 4 x 5 pixels, 61 bands at 400, 410, ..., 1000 nm; band b of pixel i
     * holds i * (b + 1), so each band is a ramp over the pixels. */
    hsi_cube *cube;
    CHECK_OK(hsi_cube_new(4, 5, 61, &cube));
    double wl[61];
    for (int b = 0; b < 61; b++) wl[b] = 400 + 10 * b;
    for (size_t i = 0; i < 20; i++)
        for (size_t b = 0; b < 61; b++) cube->data[i * 61 + b] = (float)(i * (b + 1));
    hsi_false_colour_options o;
    hsi_false_colour_options_init(&o);
    hsi_rgb_image *img;
    CHECK_FAILS(hsi_map_false_colour(cube, "scene.tif", &o, &img, NULL), HSI_ERR_ARG,
                "scene.tif: the cube has no band wavelengths");
    CHECK_OK(hsi_cube_set_wavelengths(cube, wl, NULL));
    long used[3];
    o.low_pct = 0;
    o.high_pct = 100;
    CHECK_OK(hsi_map_false_colour(cube, "scene.tif", &o, &img, used));
    CHECK(used[0] == 45 && used[1] == 25 && used[2] == 15); /* 850, 650, 550 nm */
    /* Min-max stretch: pixel 0 black, pixel 19 white, pixel 10 at 10/19. */
    CHECK(rgb_is(img, 0, 0, 0, 0, 0));
    CHECK(rgb_is(img, 3, 4, 255, 255, 255));
    long mid = lround(255.0 * 10 / 19);
    CHECK(rgb_is(img, 2, 0, mid, mid, mid));
    hsi_rgb_image_free(img);
    /* Percentile stretch clips: with 10..90 the first two pixels are black. */
    o.low_pct = 10;
    o.high_pct = 90;
    CHECK_OK(hsi_map_false_colour(cube, "scene.tif", &o, &img, used));
    CHECK(rgb_is(img, 0, 0, 0, 0, 0) && rgb_is(img, 0, 1, 0, 0, 0));
    CHECK(rgb_is(img, 3, 4, 255, 255, 255) && rgb_is(img, 3, 3, 255, 255, 255));
    hsi_rgb_image_free(img);
    /* Overlay with weight 1: labelled pixels take their class colour exactly. */
    hsi_labels *lab;
    CHECK_OK(hsi_labels_new(4, 5, 2, &lab));
    lab->data[7] = 2;
    o.overlay = lab;
    o.overlay_alpha = 1;
    CHECK_OK(hsi_map_false_colour(cube, "scene.tif", &o, &img, used));
    CHECK(rgb_is(img, 1, 2, lab->classes[2].rgb[0], lab->classes[2].rgb[1], lab->classes[2].rgb[2]));
    CHECK(rgb_is(img, 0, 0, 0, 0, 0));
    hsi_rgb_image_free(img);
    o.overlay = NULL;
    o.nm[0] = 2200;
    CHECK_FAILS(hsi_map_false_colour(cube, "scene.tif", &o, &img, used), HSI_ERR_ARG,
                "scene.tif: no band near 2200 nm (closest: band 61 at 1000 nm)");
    o.band[0] = 0, o.band[1] = 1, o.band[2] = 61;
    CHECK_FAILS(hsi_map_false_colour(cube, "scene.tif", &o, &img, used), HSI_ERR_ARG,
                "band 62 is not in 1..61");

    /* Georeferenced GeoTIFF of a scaled image: pixel size divided. */
    cube->geo.has_geotransform = 1;
    double gt[6] = {500000, 20, 0, 4000000, 0, -20};
    memcpy(cube->geo.geotransform, gt, sizeof gt);
    hsi_georef g;
    CHECK_OK(hsi_georef_scale(&cube->geo, 4, &g));
    CHECK(g.geotransform[1] == 5 && g.geotransform[5] == -5 && g.geotransform[0] == 500000);
    hsi_georef_clear(&g);
    hsi_labels_free(lab);
    hsi_cube_free(cube);
}

static void test_legend(void)
{
    hsi_labels *lab;
    CHECK_OK(hsi_labels_new(4, 4, 3, &lab));
    snprintf(lab->classes[2].name, HSI_CLASS_NAME_MAX, "Corn-notill");
    lab->classes[3].rgb[0] = 250, lab->classes[3].rgb[1] = 5, lab->classes[3].rgb[2] = 7;
    size_t counts[4] = {10, 2, 0, 4};
    hsi_rgb_image *img;
    CHECK_OK(hsi_map_legend_image(lab, counts, 0, &img));
    /* Two rows (class 2 has no pixels): 6 + 17 + 14 + 6 pixels high; the
     * widest line " 3 Class 3 (4 px)" (17 characters) sets the width: in
     * cairo's 12 px DejaVu Sans between 4 and 9 pixels a character. */
    CHECK_INT_EQ(img->rows, 43);
    CHECK_MSG(img->cols >= 6 + 12 + 8 + 17 * 4 + 6 && img->cols <= 6 + 12 + 8 + 17 * 9 + 6,
              "legend width %zu", img->cols);
    /* Swatch interior of the second row is exactly class 3's colour; its
     * frame is grey; the background white. */
    CHECK(rgb_is(img, 6 + 17 + 6, 6 + 6, 250, 5, 7));
    CHECK(rgb_is(img, 6 + 17 + 1, 6, 96, 96, 96));
    CHECK(rgb_is(img, 0, 0, 255, 255, 255));
    /* Some text was drawn: dark pixels right of the swatches. */
    size_t dark = 0;
    for (size_t r = 0; r < img->rows; r++)
        for (size_t c = 26; c < img->cols; c++) dark += img->data[(r * img->cols + c) * 3] < 100;
    CHECK_MSG(dark > 40, "%zu dark text pixels", dark);
    hsi_rgb_image_free(img);
    size_t none[4] = {5, 0, 0, 0};
    CHECK_FAILS(hsi_map_legend_image(lab, none, 0, &img), HSI_ERR_DATA, "no classes");
    hsi_labels_free(lab);
}

int main(void)
{
    atexit(hsi_graphics_release);
    test_legend();
    test_class_and_correct();
    test_false_colour();
    return check_finish();
}
