/* test_datasets_simulate.c - the simulated Indian Pines-style scene and the
 * public scene descriptors.
 *
 * Determinism (same seed, same bytes; another seed, other bytes), the class
 * table and sizes, the band table against Purdue's 92AV3C.spc, the physics
 * that makes the water-absorption bands useless (low signal, noise-dominated),
 * the stated nearest-class-mean accuracy, georeferencing, bad parameters.
 */
#include <stdint.h>

#include "base/cube.h"
#include "base/status.h"
#include "datasets/scenes.h"
#include "datasets/simulate.h"
#include "tests/check.h"

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t scene_hash(const hsi_cube *cube, const hsi_labels *gt)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(cube->data, cube->rows * cube->cols * cube->bands * sizeof(float), h);
    return fnv1a(gt->data, gt->rows * gt->cols * sizeof(uint16_t), h);
}

static void test_determinism(void)
{
    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    p.rows = 60;
    p.cols = 50;
    p.seed = 42;
    hsi_cube *a = NULL, *b = NULL, *c = NULL;
    hsi_labels *ga = NULL, *gb = NULL, *gc = NULL;
    CHECK_OK(hsi_simulate(&p, &a, &ga));
    CHECK_OK(hsi_simulate(&p, &b, &gb));
    p.seed = 43;
    CHECK_OK(hsi_simulate(&p, &c, &gc));
    if (!a || !b || !c) return;
    CHECK(a->rows == 60 && a->cols == 50 && a->bands == 220);
    CHECK(memcmp(a->data, b->data, 60 * 50 * 220 * sizeof(float)) == 0);
    CHECK(memcmp(ga->data, gb->data, 60 * 50 * sizeof(uint16_t)) == 0);
    CHECK(scene_hash(a, ga) == scene_hash(b, gb));
    CHECK(scene_hash(a, ga) != scene_hash(c, gc));
    CHECK(memcmp(a->data, c->data, 60 * 50 * 220 * sizeof(float)) != 0);
    CHECK(memcmp(ga->data, gc->data, 60 * 50 * sizeof(uint16_t)) != 0);
    hsi_cube_free(a);
    hsi_cube_free(b);
    hsi_cube_free(c);
    hsi_labels_free(ga);
    hsi_labels_free(gb);
    hsi_labels_free(gc);
}

/* Pixels per class of the real Indian Pines ground truth. */
static const int real_counts[17] = {0,   46,  1428, 830, 237, 483,  730, 28, 478,
                                    20,  972, 2455, 593, 205, 1265, 386, 93};

static void test_classes(const hsi_cube *cube, const hsi_labels *gt)
{
    CHECK_INT_EQ(gt->n_classes, 16);
    CHECK(strcmp(gt->classes[2].name, "Corn-notill") == 0);
    CHECK(strcmp(gt->classes[15].name, "Buildings-Grass-Trees-Drives") == 0);
    CHECK(strcmp(gt->classes[16].name, "Stone-Steel-Towers") == 0);
    CHECK(gt->classes[1].rgb[0] == 255 && gt->classes[1].rgb[1] == 254 && gt->classes[1].rgb[2] == 137);
    size_t counts[17];
    hsi_labels_histogram(gt, counts);
    size_t labelled = 0;
    for (int k = 1; k <= 16; k++) {
        labelled += counts[k];
        /* Every class present, in roughly the real proportion: imbalanced,
         * with the tiny classes (oats, mowed pasture, alfalfa) tiny. */
        CHECK_MSG(counts[k] >= (size_t)(real_counts[k] * 0.6) && counts[k] <= (size_t)(real_counts[k] * 1.4),
                  "class %d (%s): %zu pixels, real scene has %d", k, gt->classes[k].name, counts[k],
                  real_counts[k]);
    }
    double share = (double)labelled / (cube->rows * cube->cols);
    CHECK_MSG(share > 0.4 && share < 0.6, "labelled share %.3f", share);
    CHECK(counts[11] > 50 * counts[9]); /* soybean-mintill vs oats */
}

static void test_band_table(const hsi_cube *cube)
{
    const char *path = check_data_path("indian_pines/92AV3C.spc");
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("SKIP part: %s missing\n", path);
        return;
    }
    char line[512];
    CHECK(fgets(line, sizeof line, f) && fgets(line, sizeof line, f)); /* two header lines */
    int n = 0;
    double centre, width;
    while (fgets(line, sizeof line, f) && sscanf(line, "%lf %lf", &centre, &width) == 2) {
        if (n < 220) {
            CHECK_NEAR(hsi_aviris_band_table[n][0], centre, 1e-6);
            CHECK_NEAR(hsi_aviris_band_table[n][1], width, 1e-6);
            CHECK_NEAR(cube->wavelength[n], centre, 1e-6);
            CHECK_NEAR(cube->fwhm[n], width, 1e-6);
        }
        n++;
    }
    fclose(f);
    CHECK_INT_EQ(n, 220);
    CHECK_NEAR(cube->wavelength[0], 400.02, 0.01);
    CHECK_NEAR(cube->wavelength[219], 2498.96, 0.01);

    /* The 200-band variant keeps exactly the non-water bands, in order. */
    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    p.rows = 20;
    p.cols = 30;
    p.bands = 200;
    hsi_cube *c200 = NULL;
    hsi_labels *g200 = NULL;
    CHECK_OK(hsi_simulate(&p, &c200, &g200));
    if (!c200) return;
    CHECK_INT_EQ(c200->bands, 200);
    int water = 0;
    for (int b = 1, k = 0; b <= 220; b++) {
        if (hsi_aviris_is_water_band(b)) {
            water++;
            continue;
        }
        CHECK_NEAR(c200->wavelength[k], hsi_aviris_band_table[b - 1][0], 1e-9);
        k++;
    }
    CHECK_INT_EQ(water, 20);
    CHECK(hsi_aviris_is_water_band(104) && hsi_aviris_is_water_band(163) && hsi_aviris_is_water_band(220));
    CHECK(!hsi_aviris_is_water_band(103) && !hsi_aviris_is_water_band(149) && !hsi_aviris_is_water_band(164));
    hsi_cube_free(c200);
    hsi_labels_free(g200);
}

/* Pearson correlation of bands b and b+1 over the labelled pixels. */
static double neighbour_band_correlation(const hsi_cube *cube, const hsi_labels *gt, size_t b)
{
    double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < cube->rows * cube->cols; i++) {
        if (!gt->data[i]) continue;
        double x = cube->data[i * cube->bands + b], y = cube->data[i * cube->bands + b + 1];
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    double cov = sxy / n - sx / n * sy / n;
    return cov / sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
}

static double band_mean(const hsi_cube *cube, size_t b)
{
    double s = 0;
    for (size_t i = 0; i < cube->rows * cube->cols; i++) s += cube->data[i * cube->bands + b];
    return s / (cube->rows * cube->cols);
}

static void test_radiometry(const hsi_cube *cube, const hsi_labels *gt)
{
    double lo, hi;
    hsi_cube_minmax(cube, &lo, &hi);
    CHECK_OK(hsi_cube_check_finite(cube, "simulated cube"));
    CHECK_MSG(lo > 0 && hi < 20000 && hi > 4000, "DN range %g..%g", lo, hi);
    /* Water bands (1-based 104-107, 150-162: pairs inside the sets) carry
     * little signal above the ~1000 DN dark level and their neighbouring
     * bands hardly correlate (noise dominates); red-edge bands 33-40
     * (706-764 nm) carry a strong signal and correlate tightly. */
    double water_corr = 0, edge_corr = 0, water_signal = 0, edge_signal = 0;
    int nw = 0, ne = 0;
    for (int b = 104; b <= 162; b++) {
        if (!hsi_aviris_is_water_band(b) || !hsi_aviris_is_water_band(b + 1)) continue;
        water_corr += neighbour_band_correlation(cube, gt, (size_t)b - 1);
        water_signal += band_mean(cube, (size_t)b - 1) - 1000;
        nw++;
    }
    for (int b = 33; b < 40; b++) {
        edge_corr += neighbour_band_correlation(cube, gt, (size_t)b - 1);
        edge_signal += band_mean(cube, (size_t)b - 1) - 1000;
        ne++;
    }
    water_corr /= nw;
    edge_corr /= ne;
    water_signal /= nw;
    edge_signal /= ne;
    CHECK_INT_EQ(nw, 17);
    printf("neighbour-band correlation: red edge %.3f, water bands %.3f\n", edge_corr, water_corr);
    CHECK_MSG(edge_corr > 0.9, "red-edge neighbour-band correlation %.3f", edge_corr);
    CHECK_MSG(water_corr < 0.5, "water-band neighbour-band correlation %.3f", water_corr);
    CHECK_MSG(fabs(water_signal) < 0.05 * edge_signal, "signal above dark: water %.1f, red edge %.1f",
              water_signal, edge_signal);
}

static void test_georef(const hsi_cube *cube, const hsi_labels *gt)
{
    CHECK(cube->geo.has_geotransform && gt->geo.has_geotransform);
    CHECK(cube->geo.geotransform[1] == 20 && cube->geo.geotransform[5] == -20);
    CHECK(memcmp(cube->geo.geotransform, gt->geo.geotransform, sizeof gt->geo.geotransform) == 0);
    CHECK(cube->geo.projection_wkt && strstr(cube->geo.projection_wkt, "UTM zone 16N"));
    CHECK(cube->geo.projection_wkt && strstr(cube->geo.projection_wkt, "32616"));
    CHECK(gt->geo.projection_wkt && !strcmp(gt->geo.projection_wkt, cube->geo.projection_wkt));
}

static void test_ncm(const hsi_cube *cube, const hsi_labels *gt)
{
    double oa = 0;
    CHECK_OK(hsi_simulate_ncm_accuracy(cube, gt, 0.1, 1, &oa));
    printf("NCM overall accuracy on the default scene: %.4f\n", oa);
    /* The band stated in datasets/README.md: not trivially separable, but
     * learnable. */
    CHECK_MSG(oa >= 0.55 && oa <= 0.75, "NCM accuracy %.4f outside 0.55..0.75", oa);

    /* Difficulty does what it says: 0 is nearly separable, 1 is harder. */
    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    double easy = 0, hard = 0;
    hsi_cube *c = NULL;
    hsi_labels *g = NULL;
    p.difficulty = 0;
    CHECK_OK(hsi_simulate(&p, &c, &g));
    if (c) CHECK_OK(hsi_simulate_ncm_accuracy(c, g, 0.1, 1, &easy));
    hsi_cube_free(c);
    hsi_labels_free(g);
    p.difficulty = 1;
    CHECK_OK(hsi_simulate(&p, &c, &g));
    if (c) CHECK_OK(hsi_simulate_ncm_accuracy(c, g, 0.1, 1, &hard));
    hsi_cube_free(c);
    hsi_labels_free(g);
    printf("NCM at difficulty 0: %.4f, at 1: %.4f\n", easy, hard);
    CHECK_MSG(easy > 0.95, "NCM at difficulty 0: %.4f", easy);
    CHECK_MSG(hard < oa, "NCM at difficulty 1 (%.4f) not below the default's (%.4f)", hard, oa);

    CHECK_FAILS(hsi_simulate_ncm_accuracy(cube, gt, 1.5, 1, &oa), HSI_ERR_ARG, "train fraction");
}

static void test_bad_params(void)
{
    hsi_simulate_params p;
    hsi_cube *c = NULL;
    hsi_labels *g = NULL;
    hsi_simulate_defaults(&p);
    p.rows = 0;
    CHECK_FAILS(hsi_simulate(&p, &c, &g), HSI_ERR_ARG, "rows must be 1..4096, not 0");
    CHECK(c == NULL && g == NULL);
    hsi_simulate_defaults(&p);
    p.cols = 5000;
    CHECK_FAILS(hsi_simulate(&p, &c, &g), HSI_ERR_ARG, "cols must be");
    hsi_simulate_defaults(&p);
    p.difficulty = 1.5;
    CHECK_FAILS(hsi_simulate(&p, &c, &g), HSI_ERR_ARG, "difficulty must be in 0..1, not 1.5");
    p.difficulty = NAN;
    CHECK_FAILS(hsi_simulate(&p, &c, &g), HSI_ERR_ARG, "difficulty");
    hsi_simulate_defaults(&p);
    p.bands = 103;
    CHECK_FAILS(hsi_simulate(&p, &c, &g), HSI_ERR_ARG, "bands must be 220 or 200");
    CHECK(c == NULL && g == NULL);

    /* Tiny and elongated scenes still work (nothing may be labelled). */
    size_t sizes[][2] = {{1, 1}, {3, 200}, {200, 2}};
    for (int i = 0; i < 3; i++) {
        hsi_simulate_defaults(&p);
        p.rows = sizes[i][0];
        p.cols = sizes[i][1];
        CHECK_OK(hsi_simulate(&p, &c, &g));
        if (c) CHECK_OK(hsi_cube_check_finite(c, "tiny scene"));
        hsi_cube_free(c);
        hsi_labels_free(g);
        c = NULL;
        g = NULL;
    }
}

static void test_scenes(const hsi_labels *gt)
{
    CHECK_INT_EQ(hsi_scene_count(), 6);
    const hsi_scene *ip = hsi_scene_find("indian_pines");
    CHECK(ip != NULL);
    if (!ip) return;
    CHECK(hsi_scene_find("Indian Pines") == ip && hsi_scene_find("IndianPines") == ip &&
          hsi_scene_find("IP") == ip);
    CHECK(hsi_scene_find("nowhere") == NULL);
    CHECK(ip->rows == 145 && ip->cols == 145 && ip->bands == 200 && ip->n_classes == 16);
    CHECK(!strcmp(ip->cube.var, "indian_pines_corrected") && !strcmp(ip->gt.var, "indian_pines_gt"));
    CHECK(ip->cube.bytes == 5953527);
    CHECK(!strcmp(ip->cube.sha256, "ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939"));
    CHECK(!strncmp(ip->cube.url, "https://www.ehu.eus/ccwintco/uploads/", 37));
    const hsi_scene *pu = hsi_scene_find("paviaU");
    CHECK(pu && pu->n_classes == 9 && pu->bands == 103 && !strcmp(pu->classes[9].name, "Shadows"));
    const hsi_scene *sa = hsi_scene_find("salinas_a");
    CHECK(sa && sa->n_classes == 16 && sa->rows == 83 && sa->cols == 86);
    CHECK(sa && !strcmp(sa->classes[10].name, "Corn_senesced_green_weeds"));
    for (size_t i = 0; i < hsi_scene_count(); i++) {
        const hsi_scene *s = hsi_scene_at(i);
        CHECK(hsi_scene_find(s->name) == s);
        CHECK(s->cube.sha256 && strlen(s->cube.sha256) == 64 && s->cube.bytes > 0);
        CHECK(s->gt.sha256 == NULL || strlen(s->gt.sha256) == 64);
        CHECK(strstr(s->cube.url, s->cube.file) && strstr(s->gt.url, s->gt.file));
    }
    CHECK(hsi_scene_at(6) == NULL);
    const hsi_scene *found = NULL;
    CHECK_FAILS(hsi_scene_lookup("atlantis", &found), HSI_ERR_ARG,
                "unknown scene 'atlantis' (known: indian_pines, salinas, salinas_a, pavia_university, ksc, botswana)");

    /* Class names onto a raster; ids beyond the scene's classes refused. */
    hsi_labels *copy = NULL;
    CHECK_OK(hsi_labels_new(gt->rows, gt->cols, 16, &copy));
    if (!copy) return;
    memcpy(copy->data, gt->data, gt->rows * gt->cols * sizeof(uint16_t));
    CHECK_OK(hsi_scene_apply_classes(ip, copy));
    CHECK(!strcmp(copy->classes[14].name, "Woods"));
    CHECK_FAILS(hsi_scene_apply_classes(pu, copy), HSI_ERR_DATA, "exceeds the 9 classes of Pavia University");
    hsi_labels_free(copy);
}

int main(void)
{
    test_determinism();
    test_bad_params();

    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    CHECK(p.rows == 145 && p.cols == 145 && p.bands == 220 && p.seed == 1);
    CHECK(p.difficulty == HSI_SIMULATE_DEFAULT_DIFFICULTY);
    hsi_cube *cube = NULL;
    hsi_labels *gt = NULL;
    CHECK_OK(hsi_simulate(&p, &cube, &gt));
    if (!cube) return check_finish();
    CHECK(cube->rows == 145 && cube->cols == 145 && cube->bands == 220);
    test_classes(cube, gt);
    test_band_table(cube);
    test_radiometry(cube, gt);
    test_georef(cube, gt);
    test_ncm(cube, gt);
    test_scenes(gt);
    hsi_cube_free(cube);
    hsi_labels_free(gt);
    return check_finish();
}
