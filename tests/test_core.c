/* test_core.c - status messages, cube and label model, RNG, atomic writes. */
#include <sys/stat.h>

#include "base/atomic.h"
#include "base/cube.h"
#include "base/rng.h"
#include "base/status.h"
#include "tests/check.h"

static void test_status(void)
{
    hsi_status st = hsi_error(HSI_ERR_IO, "%s: cannot open: %s\n", "scene.tif", "No such file");
    CHECK_INT_EQ(st, HSI_ERR_IO);
    CHECK(strcmp(hsi_last_error(), "scene.tif: cannot open: No such file") == 0);
    hsi_error_prefix(st, "reading %s", "x");
    CHECK(strcmp(hsi_last_error(), "reading x: scene.tif: cannot open: No such file") == 0);
    CHECK(strcmp(hsi_status_str(HSI_OK), "success") == 0);
}

static void test_cube(void)
{
    hsi_cube *cube = NULL;
    CHECK_FAILS(hsi_cube_new(0, 5, 5, &cube), HSI_ERR_SIZE, "zero-sized");
    CHECK(cube == NULL);
    CHECK_FAILS(hsi_cube_new((size_t)1 << 40, (size_t)1 << 40, 8, &cube), HSI_ERR_SIZE, "too large");
    CHECK_OK(hsi_cube_new(3, 4, 5, &cube));
    /* BIP layout: pixel (r, c) is contiguous. */
    hsi_cube_pixel(cube, 2, 3)[4] = 7.0f;
    CHECK(cube->data[(2 * 4 + 3) * 5 + 4] == 7.0f);
    double w[5] = {400, 500, 600, 700, 800};
    CHECK_OK(hsi_cube_set_wavelengths(cube, w, NULL));
    CHECK_INT_EQ(hsi_cube_band_at(cube, 640), 2);
    double lo, hi;
    hsi_cube_minmax(cube, &lo, &hi);
    CHECK(lo == 0 && hi == 7);
    CHECK_OK(hsi_cube_check_finite(cube, "c"));
    hsi_cube_pixel(cube, 1, 2)[3] = NAN;
    CHECK_FAILS(hsi_cube_check_finite(cube, "scene.tif"), HSI_ERR_DATA,
                "scene.tif: NaN value at row 2, column 3, band 4");
    cube->geo.has_geotransform = 1;
    cube->geo.geotransform[1] = 20;
    cube->geo.projection_wkt = strdup("LOCAL_CS[\"x\"]");
    hsi_cube *like = NULL;
    CHECK_OK(hsi_cube_new_like(cube, 5, &like));
    CHECK(like->wavelength && like->wavelength[4] == 800);
    CHECK(like->geo.geotransform[1] == 20 && strcmp(like->geo.projection_wkt, "LOCAL_CS[\"x\"]") == 0);
    hsi_cube_free(like);
    hsi_cube_free(cube);
}

static void test_labels(void)
{
    hsi_labels *lab = NULL;
    CHECK_OK(hsi_labels_new(2, 3, 4, &lab));
    uint16_t v[6] = {0, 1, 1, 4, 4, 4};
    memcpy(lab->data, v, sizeof v);
    size_t counts[5];
    hsi_labels_histogram(lab, counts);
    CHECK(counts[0] == 1 && counts[1] == 2 && counts[2] == 0 && counts[4] == 3);
    CHECK_INT_EQ(hsi_labels_max(lab), 4);
    CHECK(strcmp(lab->classes[3].name, "Class 3") == 0);
    CHECK_FAILS(hsi_labels_check_size(lab, 3, 3, "gt.tif"), HSI_ERR_SIZE, "gt.tif: size 2 x 3");
    CHECK_OK(hsi_labels_set_class_count(lab, 20));
    CHECK(strcmp(lab->classes[20].name, "Class 20") == 0);
    /* Default colours are distinct for the first 40 classes. */
    for (int a = 1; a <= 40; a++)
        for (int b = a + 1; b <= 40; b++) {
            uint8_t x[3], y[3];
            hsi_default_class_colour(a, x);
            hsi_default_class_colour(b, y);
            CHECK_MSG(memcmp(x, y, 3) != 0, "classes %d and %d share a colour", a, b);
        }
    hsi_labels_free(lab);
}

static void test_rng(void)
{
    hsi_rng a, b;
    hsi_rng_seed(&a, 42);
    hsi_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) CHECK(hsi_rng_u64(&a) == hsi_rng_u64(&b));
    /* Reference value: first xoshiro256** output from splitmix64(0). */
    hsi_rng_seed(&a, 0);
    uint64_t first = hsi_rng_u64(&a);
    CHECK_MSG(first == 0x99ec5f36cb75f2b4ULL, "got %llx", (unsigned long long)first);
    double sum = 0, sum2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = hsi_rng_normal(&a);
        sum += z;
        sum2 += z * z;
    }
    CHECK_NEAR(sum / n, 0.0, 0.01);
    CHECK_NEAR(sum2 / n, 1.0, 0.02);
    size_t hist[7] = {0};
    for (int i = 0; i < 70000; i++) hist[hsi_rng_below(&a, 7)]++;
    for (int k = 0; k < 7; k++) CHECK_NEAR(hist[k], 10000, 400);
}

static void test_atomic(void)
{
    const char *dir = check_tmpdir("core");
    char path[4200];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    hsi_atomic_file f;
    CHECK_OK(hsi_atomic_open(&f, path));
    fputs("hello", f.fp);
    struct stat sb;
    CHECK(stat(path, &sb) != 0); /* not visible before commit */
    CHECK_OK(hsi_atomic_commit(&f));
    CHECK(stat(path, &sb) == 0 && sb.st_size == 5);
    snprintf(path, sizeof path, "%s/aborted.bin", dir);
    CHECK_OK(hsi_atomic_open(&f, path));
    fputs("x", f.fp);
    hsi_atomic_abort(&f);
    CHECK(stat(path, &sb) != 0);
    CHECK_FAILS(hsi_atomic_open(&f, "/nonexistent-dir/x.bin"), HSI_ERR_IO,
                "/nonexistent-dir/x.bin: cannot create");
    char *tmp = hsi_atomic_temp_name("out/map.tif");
    CHECK(strncmp(tmp, "out/map~hsi-tmp-", 16) == 0 && strcmp(tmp + strlen(tmp) - 4, ".tif") == 0);
    free(tmp);
}

int main(void)
{
    test_status();
    test_cube();
    test_labels();
    test_rng();
    test_atomic();
    return check_finish();
}
