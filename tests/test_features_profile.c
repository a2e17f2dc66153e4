/* test_features_profile.c - AP / SDAP feature cubes: band layout and names,
 * values equal to the tree filters they stand for, ordering of the profile,
 * spec parsing, errors from worker threads, and a GeoTIFF/ENVI round trip. */
#include <gdal.h>

#include "base/rng.h"
#include "features/profile.h"
#include "io/io.h"
#include "tests/check.h"

enum { R = 23, C = 29, B = 2 };

static void smooth_random_cube(hsi_cube *cube, uint64_t seed)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    /* blobs plus noise, so that regions of many sizes exist */
    for (size_t b = 0; b < cube->bands; b++) {
        double cy[6], cx[6], amp[6];
        for (int k = 0; k < 6; k++) {
            cy[k] = hsi_rng_uniform(&rng) * R;
            cx[k] = hsi_rng_uniform(&rng) * C;
            amp[k] = hsi_rng_normal(&rng) * 20;
        }
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < C; c++) {
                double v = 3 * hsi_rng_normal(&rng);
                for (int k = 0; k < 6; k++)
                    v += amp[k] * exp(-((r - cy[k]) * (r - cy[k]) + (c - cx[k]) * (c - cx[k])) / 30);
                hsi_cube_pixel(cube, r, c)[b] = (float)v;
            }
    }
}

static void filter_band(const hsi_cube *cube, size_t b, hsi_tree_kind kind, hsi_attribute a,
                        double t, float *out)
{
    float img[R * C];
    for (size_t p = 0; p < R * C; p++) img[p] = cube->data[p * cube->bands + b];
    hsi_tree *tree = NULL;
    CHECK_OK(hsi_tree_build(img, R, C, kind, NULL, &tree));
    double *attr = malloc(tree->n_nodes * sizeof *attr);
    CHECK_OK(hsi_tree_attribute(tree, img, a, attr));
    CHECK_OK(hsi_tree_filter(tree, attr, t, HSI_RULE_DIRECT, out));
    free(attr);
    hsi_tree_free(tree);
}

static void test_cube(void)
{
    hsi_cube *in = NULL, *out = NULL;
    CHECK_OK(hsi_cube_new(R, C, B, &in));
    smooth_random_cube(in, 5);
    CHECK_OK(hsi_cube_set_band_name(in, 0, "PC1"));
    hsi_profile_spec specs[2];
    CHECK_OK(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=20,5", &specs[0]));
    CHECK_OK(hsi_profile_spec_parse(HSI_PROFILE_SDAP, "std=3,1", &specs[1]));
    CHECK(specs[0].thresholds[0] == 5 && specs[0].thresholds[1] == 20);
    CHECK_INT_EQ(hsi_profile_bands_per_input(specs, 2, 0), 7);
    CHECK_OK(hsi_profile_cube(in, specs, 2, NULL, NULL, &out));
    if (!out) return;
    CHECK_INT_EQ(out->bands, 14);
    const char *names[7] = {"PC1", "PC1 area>=20 thick", "PC1 area>=5 thick", "PC1 area>=5 thin",
                            "PC1 area>=20 thin", "PC1 std>=1 sdap", "PC1 std>=3 sdap"};
    for (int k = 0; k < 7; k++)
        CHECK_MSG(out->band_names && !strcmp(out->band_names[k], names[k]), "band %d is '%s'", k,
                  out->band_names ? out->band_names[k] : "(none)");
    CHECK(!strcmp(out->band_names[7], "band 2") && !strcmp(out->band_names[9], "band 2 area>=5 thick"));
    /* every band is the filter it names */
    float want[7][R * C];
    for (size_t b = 0; b < B; b++) {
        for (size_t p = 0; p < R * C; p++) want[0][p] = in->data[p * B + b];
        filter_band(in, b, HSI_TREE_MIN, HSI_ATTR_AREA, 20, want[1]);
        filter_band(in, b, HSI_TREE_MIN, HSI_ATTR_AREA, 5, want[2]);
        filter_band(in, b, HSI_TREE_MAX, HSI_ATTR_AREA, 5, want[3]);
        filter_band(in, b, HSI_TREE_MAX, HSI_ATTR_AREA, 20, want[4]);
        filter_band(in, b, HSI_TREE_SHAPES, HSI_ATTR_STD, 1, want[5]);
        filter_band(in, b, HSI_TREE_SHAPES, HSI_ATTR_STD, 3, want[6]);
        int same = 1, ordered = 1;
        for (int k = 0; k < 7; k++)
            for (size_t p = 0; p < R * C; p++) same &= out->data[p * 14 + b * 7 + k] == want[k][p];
        /* an AP is ordered: thick(20) >= thick(5) >= f >= thin(5) >= thin(20) */
        for (size_t p = 0; p < R * C; p++) {
            const float *v = out->data + p * 14 + b * 7; /* f, thick20, thick5, thin5, thin20 */
            ordered &= v[1] >= v[2] && v[2] >= v[0] && v[0] >= v[3] && v[3] >= v[4];
        }
        CHECK_MSG(same, "band %zu: profile bands equal their tree filters", b + 1);
        CHECK_MSG(ordered, "band %zu: the AP is ordered", b + 1);
    }

    /* omitting the input, a rule and 8-connectivity change the layout/values as documented */
    hsi_profile_options o = {8, 0, HSI_RULE_SUBTRACTIVE, 1};
    hsi_cube *o2 = NULL;
    CHECK_OK(hsi_profile_cube(in, specs, 1, &o, NULL, &o2));
    if (o2) {
        CHECK_INT_EQ(o2->bands, 8);
        CHECK(!strcmp(o2->band_names[0], "PC1 area>=20 thick"));
        hsi_cube_free(o2);
    }

    /* round trip through GeoTIFF and ENVI: names and values survive */
    const char *dir = check_tmpdir("features_profile");
    const char *ext[2] = {"tif", "dat"};
    for (int f = 0; f < 2; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/features.%s", dir, ext[f]);
        CHECK_OK(hsi_cube_write(path, HSI_FORMAT_AUTO, out));
        hsi_cube *back = NULL;
        CHECK_OK(hsi_cube_read(path, NULL, &back));
        if (!back) continue;
        CHECK_INT_EQ(back->bands, out->bands);
        CHECK(!memcmp(back->data, out->data, R * C * out->bands * sizeof(float)));
        CHECK(back->band_names && !strcmp(back->band_names[4], "PC1 area>=20 thin"));
        hsi_cube_free(back);
    }
    hsi_cube_free(out);

    /* a bad pixel fails in a worker thread; the message reaches the caller */
    hsi_cube_pixel(in, 3, 4)[1] = NAN;
    out = (hsi_cube *)1;
    CHECK_FAILS(hsi_profile_cube(in, specs, 2, NULL, NULL, &out), HSI_ERR_DATA,
                "band 2: tree: non-finite value at pixel 91");
    CHECK(out == NULL);
    hsi_cube_free(in);
}

static void test_parse(void)
{
    hsi_profile_spec s;
    CHECK_OK(hsi_profile_spec_parse(HSI_PROFILE_SDAP, "inertia=0.4,0.2,0.3", &s));
    CHECK(s.attr == HSI_ATTR_INERTIA && s.n_thresholds == 3 && s.thresholds[0] == 0.2);
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area", &s), HSI_ERR_ARG, "want ATTRIBUTE=");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "volume=3", &s), HSI_ERR_ARG,
                "unknown attribute 'volume'");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=", &s), HSI_ERR_ARG, "no thresholds");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=1,,2", &s), HSI_ERR_ARG, "numbers >= 0");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=1,x", &s), HSI_ERR_ARG, "numbers >= 0");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=-1", &s), HSI_ERR_ARG, "numbers >= 0");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=1,", &s), HSI_ERR_ARG, "trailing comma");
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, "area=5,5", &s), HSI_ERR_ARG, "given twice");
    char many[400] = "area=";
    for (int i = 1; i <= 33; i++) snprintf(many + strlen(many), 12, "%d,", i);
    many[strlen(many) - 1] = '\0';
    CHECK_FAILS(hsi_profile_spec_parse(HSI_PROFILE_AP, many, &s), HSI_ERR_ARG, "more than 32");
    hsi_cube *out;
    CHECK_FAILS(hsi_profile_cube(NULL, &s, 1, NULL, NULL, &out), HSI_ERR_ARG, "no input cube");
}

int main(void)
{
    GDALAllRegister();
    test_parse();
    test_cube();
    return check_finish();
}
