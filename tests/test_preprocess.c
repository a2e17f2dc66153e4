/* test_preprocess.c - standardisation, min-max and PCA against hand values,
 * fitted on training pixels only, and the serialisation round trip. */
#include "base/rng.h"
#include "features/preprocess.h"
#include "tests/check.h"

static void test_standardise_minmax(void)
{
    /* Two bands; band 0 = {1,2,3,4} (mean 2.5, population std sqrt(1.25)), band 1 constant. */
    float x[8] = {1, 7, 2, 7, 3, 7, 4, 7}, y[8];
    hsi_preprocess *p;
    CHECK_OK(hsi_preprocess_fit(HSI_PREPROCESS_STANDARDISE, x, 4, 2, 0, 0, &p));
    CHECK_OK(hsi_preprocess_apply(p, x, 4, y));
    CHECK_NEAR(y[0], (1 - 2.5) / sqrt(1.25), 1e-6);
    CHECK_NEAR(y[6], (4 - 2.5) / sqrt(1.25), 1e-6);
    CHECK_NEAR(y[1], 0, 1e-7); /* constant band is centred, not divided by 0 */
    hsi_preprocess_free(p);
    CHECK_OK(hsi_preprocess_fit(HSI_PREPROCESS_MINMAX, x, 4, 2, 0, 0, &p));
    CHECK_OK(hsi_preprocess_apply(p, x, 4, y));
    CHECK_NEAR(y[0], 0, 1e-7);
    CHECK_NEAR(y[2], 1.0 / 3, 1e-6);
    CHECK_NEAR(y[6], 1, 1e-7);
    hsi_preprocess_free(p);
}

static void test_pca(void)
{
    /* Points along direction (3,4)/5 with spread 10, plus small spread 1
     * along (-4,3)/5, around mean (100, 200): PC1 = (0.6, 0.8), PC2 = (-0.8, 0.6)
     * up to sign (we fix the largest entry positive: PC2 = (0.8, -0.6)). */
    size_t n = 2000;
    float *x = malloc(n * 2 * sizeof *x);
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++) {
        double a = 10 * hsi_rng_normal(&rng), b = hsi_rng_normal(&rng);
        x[2 * i] = (float)(100 + 0.6 * a - 0.8 * b);
        x[2 * i + 1] = (float)(200 + 0.8 * a + 0.6 * b);
    }
    hsi_preprocess *p;
    CHECK_OK(hsi_preprocess_fit(HSI_PREPROCESS_PCA, x, n, 2, 2, 0, &p));
    CHECK_INT_EQ(p->out_dim, 2);
    CHECK_NEAR(p->components[0 * 2 + 0], 0.6, 0.01);
    CHECK_NEAR(p->components[1 * 2 + 0], 0.8, 0.01);
    CHECK_NEAR(p->components[0 * 2 + 1], 0.8, 0.01);
    CHECK_NEAR(p->components[1 * 2 + 1], -0.6, 0.01);
    CHECK_NEAR(p->explained[0], 100.0 / 101.0, 0.01);
    CHECK_NEAR(p->offset[0], 100, 0.5);
    /* Projected data: first component variance ~100, uncorrelated with the second. */
    float *y = malloc(n * 2 * sizeof *y);
    CHECK_OK(hsi_preprocess_apply(p, x, n, y));
    double s00 = 0, s01 = 0;
    for (size_t i = 0; i < n; i++) {
        s00 += y[2 * i] * y[2 * i];
        s01 += y[2 * i] * y[2 * i + 1];
    }
    CHECK_NEAR(s00 / (n - 1), 100, 10);
    CHECK_NEAR(s01 / (n - 1), 0, 1e-2);
    hsi_preprocess_free(p);
    /* A variance fraction of 0.9 keeps only the first component. */
    CHECK_OK(hsi_preprocess_fit(HSI_PREPROCESS_PCA, x, n, 2, 0, 0.9, &p));
    CHECK_INT_EQ(p->out_dim, 1);
    hsi_preprocess_free(p);
    CHECK_FAILS(hsi_preprocess_fit(HSI_PREPROCESS_PCA, x, n, 2, 3, 0, &p), HSI_ERR_ARG, "3 components");
    CHECK_FAILS(hsi_preprocess_fit(HSI_PREPROCESS_PCA, x, 0, 2, 1, 0, &p), HSI_ERR_DATA, "no training pixels");
    free(x);
    free(y);
}

static void test_fit_on_mask_and_roundtrip(void)
{
    hsi_cube *cube;
    CHECK_OK(hsi_cube_new(2, 2, 3, &cube));
    for (size_t i = 0; i < 12; i++) cube->data[i] = (float)i;
    uint16_t mask[4] = {1, 0, 0, 2}; /* pixels 0 and 3 only */
    hsi_preprocess *p, *q;
    CHECK_OK(hsi_preprocess_fit_cube(HSI_PREPROCESS_STANDARDISE, cube, mask, 0, 0, &p));
    CHECK_NEAR(p->offset[0], (0 + 9) / 2.0, 1e-6); /* test pixels 1, 2 never seen */
    const char *dir = check_tmpdir("preprocess");
    char path[4200];
    snprintf(path, sizeof path, "%s/p.bin", dir);
    static const char magic[8] = "TESTPRE";
    hsi_blob_writer w;
    CHECK_OK(hsi_blob_writer_open(&w, magic, 7));
    hsi_preprocess_write(p, &w);
    CHECK_OK(hsi_blob_writer_commit(&w, path));
    unsigned char *buf = NULL;
    hsi_blob_reader r;
    CHECK_OK(hsi_blob_load(path, magic, 7, 1 << 20, "test record", &buf, &r));
    CHECK_OK(hsi_preprocess_read(&r, path, &q));
    CHECK(q && q->in_dim == 3 && memcmp(q->offset, p->offset, 12) == 0 && memcmp(q->scale, p->scale, 12) == 0);
    CHECK(hsi_blob_left(&r) == 0); /* the record ends where its file does */
    hsi_preprocess_free(q);
    /* A truncated record (the file's checksum is not what is tested here). */
    r.pos = 12;
    r.len = 12 + 30;
    CHECK_FAILS(hsi_preprocess_read(&r, path, &q), HSI_ERR_FORMAT, "truncated");
    CHECK(q == NULL);
    /* A flipped byte: the whole file is refused before any field is read. */
    buf[20] ^= 1;
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(buf, 1, r.len + 8, fp) == r.len + 8);
    fclose(fp);
    free(buf);
    CHECK_FAILS(hsi_blob_load(path, magic, 7, 1 << 20, "test record", &buf, &r), HSI_ERR_FORMAT,
                "p.bin: test record corrupt or truncated (checksum mismatch)");
    CHECK_FAILS(hsi_blob_load(path, "OTHERMG", 7, 1 << 20, "test record", &buf, &r), HSI_ERR_FORMAT,
                "p.bin: not an hsi test record");
    CHECK_FAILS(hsi_blob_load(path, magic, 8, 1 << 20, "test record", &buf, &r), HSI_ERR_FORMAT,
                "p.bin: test record version 7; this hsi reads version 8");
    hsi_cube *out;
    CHECK_OK(hsi_preprocess_apply_cube(p, cube, &out));
    CHECK_NEAR(out->data[0], -1, 1e-6);
    hsi_cube_free(out);
    hsi_preprocess_free(p);
    CHECK_FAILS(hsi_preprocess_fit_cube(HSI_PREPROCESS_MINMAX, cube, (uint16_t[4]){0}, 0, 0, &p),
                HSI_ERR_DATA, "no pixels");
    hsi_cube_free(cube);
    hsi_preprocess_kind k;
    size_t pk;
    double pf;
    CHECK_OK(hsi_preprocess_parse("pca:0.99", &k, &pk, &pf));
    CHECK(k == HSI_PREPROCESS_PCA && pk == 0 && pf == 0.99);
    CHECK_OK(hsi_preprocess_parse("pca:30", &k, &pk, &pf));
    CHECK(pk == 30);
    CHECK_FAILS(hsi_preprocess_parse("pca:2.5", &k, &pk, &pf), HSI_ERR_ARG, "integer");
    CHECK_FAILS(hsi_preprocess_parse("whiten", &k, &pk, &pf), HSI_ERR_ARG, "unknown preprocessing");
}

int main(void)
{
    test_standardise_minmax();
    test_pca();
    test_fit_on_mask_and_roundtrip();
    return check_finish();
}
