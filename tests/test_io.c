/* test_io.c - reading and writing scenes: round trips through GeoTIFF and
 * ENVI (values, band metadata, georeferencing, class tables), the real
 * reference files in ../shared/data, band selection, windowed reads,
 * .mat v5 and v7.3, and bad input. */
#include "config.h"

#include <sys/stat.h>

#ifdef HAVE_MATIO
#include <matio.h>
#endif

#include "io/io.h"
#include "tests/check.h"

static const char *dir;

static const char *out_path(const char *name)
{
    static char buf[4][4200];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A small georeferenced cube with wavelengths, FWHM and nodata. */
static hsi_cube *make_cube(size_t rows, size_t cols, size_t bands)
{
    hsi_cube *cube;
    if (hsi_cube_new(rows, cols, bands, &cube)) return NULL;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            for (size_t b = 0; b < bands; b++)
                hsi_cube_pixel(cube, r, c)[b] = (float)(r * 1000 + c * 10 + b) + 0.25f;
    double *w = malloc(bands * sizeof *w), *f = malloc(bands * sizeof *f);
    for (size_t b = 0; b < bands; b++) {
        w[b] = 400.02 + 9.8 * b;
        f[b] = 9.5 + 0.01 * b;
    }
    hsi_cube_set_wavelengths(cube, w, f);
    free(w);
    free(f);
    cube->geo.has_geotransform = 1;
    double gt[6] = {640000.0, 20.0, 0.0, 4500000.0, 0.0, -20.0};
    memcpy(cube->geo.geotransform, gt, sizeof gt);
    cube->geo.projection_wkt = strdup(
        "PROJCS[\"WGS 84 / UTM zone 16N\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS "
        "84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],"
        "PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER["
        "\"central_meridian\",-87],PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\","
        "500000],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1],AUTHORITY[\"EPSG\",\"32616\"]]");
    cube->has_nodata = 1;
    cube->nodata = -9999;
    return cube;
}

static void check_same_cube(const hsi_cube *a, const hsi_cube *b, const char *what)
{
    CHECK_MSG(a->rows == b->rows && a->cols == b->cols && a->bands == b->bands, "%s: shape", what);
    if (a->rows != b->rows || a->cols != b->cols || a->bands != b->bands) return;
    CHECK_MSG(memcmp(a->data, b->data, a->rows * a->cols * a->bands * sizeof(float)) == 0,
              "%s: values differ", what);
    CHECK_MSG(b->wavelength != NULL, "%s: wavelengths lost", what);
    CHECK_MSG(b->fwhm != NULL, "%s: FWHM lost", what);
    for (size_t k = 0; b->wavelength && k < a->bands; k++)
        CHECK_NEAR(b->wavelength[k], a->wavelength[k], 1e-3);
    for (size_t k = 0; b->fwhm && k < a->bands; k++) CHECK_NEAR(b->fwhm[k], a->fwhm[k], 1e-3);
    CHECK_MSG(b->geo.has_geotransform, "%s: geotransform lost", what);
    for (int k = 0; k < 6; k++) CHECK_NEAR(b->geo.geotransform[k], a->geo.geotransform[k], 1e-6);
    CHECK_MSG(b->geo.projection_wkt && strstr(b->geo.projection_wkt, "UTM zone 16N"),
              "%s: projection lost", what);
    CHECK_MSG(b->has_nodata && b->nodata == -9999, "%s: nodata lost", what);
}

static void test_cube_roundtrips(void)
{
    hsi_cube *cube = make_cube(7, 5, 12), *back;
    CHECK_OK(hsi_cube_write(out_path("cube.tif"), HSI_FORMAT_AUTO, cube));
    CHECK_OK(hsi_cube_read(out_path("cube.tif"), NULL, &back));
    if (back) check_same_cube(cube, back, "GeoTIFF");
    hsi_cube_free(back);

    /* ENVI without an extension: data file "noext", header "noext.hdr". */
    CHECK_OK(hsi_cube_write(out_path("noext"), HSI_FORMAT_ENVI, cube));
    CHECK(file_exists(out_path("noext")) && file_exists(out_path("noext.hdr")));
    CHECK_OK(hsi_cube_read(out_path("noext"), NULL, &back));
    hsi_cube_free(back);

    CHECK_OK(hsi_cube_write(out_path("cube.dat"), HSI_FORMAT_AUTO, cube));
    CHECK(file_exists(out_path("cube.hdr")));
    CHECK_OK(hsi_cube_read(out_path("cube.dat"), NULL, &back));
    if (back) check_same_cube(cube, back, "ENVI");
    hsi_cube_free(back);

    /* Band selection: 1-based list, order kept, metadata follows. */
    hsi_read_options opts = {.bands = "2-3,12"};
    CHECK_OK(hsi_cube_read(out_path("cube.dat"), &opts, &back));
    if (back) {
        CHECK_INT_EQ(back->bands, 3);
        CHECK(hsi_cube_pixel(back, 6, 4)[0] == hsi_cube_pixel(cube, 6, 4)[1]);
        CHECK(hsi_cube_pixel(back, 6, 4)[2] == hsi_cube_pixel(cube, 6, 4)[11]);
        CHECK_NEAR(back->wavelength[2], cube->wavelength[11], 1e-3);
    }
    hsi_cube_free(back);

    /* Windowed reads: row blocks equal the same rows of the whole cube and
     * carry a shifted geotransform. */
    hsi_cube_reader *rd;
    CHECK_OK(hsi_cube_reader_open(out_path("cube.tif"), NULL, &rd));
    size_t rows, cols, bands;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    CHECK(rows == 7 && cols == 5 && bands == 12);
    for (size_t r0 = 0; r0 < rows; r0 += 3) {
        size_t n = rows - r0 < 3 ? rows - r0 : 3;
        hsi_cube *block;
        CHECK_OK(hsi_cube_reader_rows(rd, r0, n, &block));
        if (!block) continue;
        CHECK(memcmp(block->data, hsi_cube_pixel(cube, r0, 0), n * cols * bands * 4) == 0);
        CHECK_NEAR(block->geo.geotransform[3], 4500000.0 - 20.0 * r0, 1e-6);
        hsi_cube_free(block);
    }
    hsi_cube *block = NULL;
    CHECK_FAILS(hsi_cube_reader_rows(rd, 5, 3, &block), HSI_ERR_ARG, "outside the scene");
    hsi_cube_reader_close(rd);
    hsi_read_options win = {.row0 = 2, .nrows = 4};
    CHECK_OK(hsi_cube_read(out_path("cube.dat"), &win, &back));
    if (back) CHECK(back->rows == 4 && memcmp(back->data, hsi_cube_pixel(cube, 2, 0), 4 * 5 * 12 * 4) == 0);
    hsi_cube_free(back);

    /* Named bands survive GeoTIFF. */
    CHECK_OK(hsi_cube_set_band_name(cube, 0, "PC1 area>=100 thin"));
    CHECK_OK(hsi_cube_write(out_path("named.tif"), HSI_FORMAT_GTIFF, cube));
    CHECK_OK(hsi_cube_read(out_path("named.tif"), NULL, &back));
    if (back) CHECK(back->band_names && strcmp(back->band_names[0], "PC1 area>=100 thin") == 0);
    hsi_cube_free(back);
    hsi_cube_free(cube);

    /* No temporary files are left behind. */
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q hsi-tmp", dir);
    CHECK_MSG(system(cmd) != 0, "temporary files left in %s", dir);
}

static void test_labels_roundtrip(void)
{
    hsi_labels *lab, *back;
    CHECK_OK(hsi_labels_new(4, 6, 3, &lab));
    for (size_t i = 0; i < 24; i++) lab->data[i] = (uint16_t)(i % 4);
    snprintf(lab->classes[2].name, HSI_CLASS_NAME_MAX, "Corn-notill");
    lab->classes[2].rgb[0] = 1;
    lab->classes[2].rgb[1] = 2;
    lab->classes[2].rgb[2] = 3;
    lab->geo.has_geotransform = 1;
    double gt[6] = {10, 2, 0, 20, 0, -2};
    memcpy(lab->geo.geotransform, gt, sizeof gt);
    const char *names[] = {"gt.tif", "gt.dat"};
    for (int f = 0; f < 2; f++) {
        CHECK_OK(hsi_labels_write(out_path(names[f]), HSI_FORMAT_AUTO, lab));
        CHECK_OK(hsi_labels_read(out_path(names[f]), NULL, &back));
        if (!back) continue;
        CHECK_MSG(memcmp(back->data, lab->data, 24 * 2) == 0, "%s: labels differ", names[f]);
        CHECK_INT_EQ(back->n_classes, 3);
        CHECK_MSG(strcmp(back->classes[2].name, "Corn-notill") == 0, "%s: class name '%s'", names[f],
                  back->classes[2].name);
        CHECK(back->classes[2].rgb[0] == 1 && back->classes[2].rgb[2] == 3);
        CHECK(back->geo.has_geotransform && back->geo.geotransform[1] == 2);
        hsi_labels_free(back);
    }
    CHECK_OK(hsi_labels_write(out_path("gt.png"), HSI_FORMAT_AUTO, lab));
    CHECK(file_exists(out_path("gt.png")));
    /* A label without a class-table entry is refused, and nothing is written. */
    lab->data[0] = 9;
    CHECK_FAILS(hsi_labels_write(out_path("bad.tif"), HSI_FORMAT_AUTO, lab), HSI_ERR_DATA,
                "label 9 has no entry");
    CHECK(!file_exists(out_path("bad.tif")));
    hsi_labels_free(lab);

    uint8_t rgb[2 * 3 * 3];
    for (int i = 0; i < 18; i++) rgb[i] = (uint8_t)(i * 10);
    CHECK_OK(hsi_rgb_write(out_path("rgb.png"), HSI_FORMAT_AUTO, rgb, 2, 3, NULL));
    hsi_cube *img;
    CHECK_OK(hsi_cube_read(out_path("rgb.png"), NULL, &img));
    if (img) {
        CHECK(img->bands == 3 && img->rows == 2 && img->cols == 3);
        CHECK(img->data[5] == 50.0f && img->data[17] == 170.0f);
        hsi_cube_free(img);
    }
}

static void check_counts(hsi_labels *lab, const size_t *want, int n, const char *what)
{
    size_t *counts = calloc((size_t)lab->n_classes + 1, sizeof *counts);
    hsi_labels_histogram(lab, counts);
    CHECK_MSG(lab->n_classes == n, "%s: %d classes, wanted %d", what, lab->n_classes, n);
    for (int k = 1; k <= n && k <= lab->n_classes; k++)
        CHECK_MSG(counts[k] == want[k - 1], "%s: class %d has %zu pixels, README says %zu", what, k,
                  counts[k], want[k - 1]);
    free(counts);
}

static void test_reference_files(void)
{
    if (!file_exists(check_data_path("README.md"))) {
        fprintf(stderr, "reference data not found at %s: skipping its checks\n", check_data_path(""));
        return;
    }
    /* Indian Pines ground truth counts, from ../shared/data/README.md. */
    static const size_t ip_mat[16] = {46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93};
    hsi_labels *lab, *tif, *gis;
#ifdef HAVE_MATIO
    CHECK_OK(hsi_labels_read(check_data_path("indian_pines/Indian_pines_gt.mat"), NULL, &lab));
    if (lab) {
        CHECK(lab->rows == 145 && lab->cols == 145);
        check_counts(lab, ip_mat, 16, "Indian_pines_gt.mat");
        hsi_labels_free(lab);
    }
    /* Samson cube: 95 x 95 x 156 reflectance in 0..1. */
    hsi_cube *cube;
    CHECK_OK(hsi_cube_read(check_data_path("samson/Samson.mat"), NULL, &cube));
    if (cube) {
        CHECK(cube->rows == 95 && cube->cols == 95 && cube->bands == 156);
        double lo, hi;
        hsi_cube_minmax(cube, &lo, &hi);
        CHECK(lo >= 0 && hi <= 1.0001 && hi > 0.5);
        hsi_cube_free(cube);
    }
    /* Jasper Ridge: a 198 x 10000 bands-by-pixels matrix folded to 100 x 100 x 198
     * (pixels in column-major order). */
    CHECK_OK(hsi_cube_read(check_data_path("jasper_ridge/jasperRidge2_R198.mat"), NULL, &cube));
    if (cube) {
        CHECK(cube->rows == 100 && cube->cols == 100 && cube->bands == 198);
        hsi_cube_free(cube);
    }
    static const size_t salinas_a[14] = {391, 0, 0, 0, 0, 0, 0, 0, 0, 1343, 616, 1525, 674, 799};
    CHECK_OK(hsi_labels_read(check_data_path("salinas_a/SalinasA_gt.mat"), NULL, &lab));
    if (lab) {
        check_counts(lab, salinas_a, 14, "SalinasA_gt.mat");
        hsi_labels_free(lab);
    }
    static const size_t pavia[9] = {6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947};
    CHECK_OK(hsi_labels_read(check_data_path("other/PaviaU_gt.mat"), NULL, &lab));
    if (lab) {
        CHECK(lab->rows == 610 && lab->cols == 340);
        check_counts(lab, pavia, 9, "PaviaU_gt.mat");
        hsi_labels_free(lab);
    }
    /* The wrong variable kind is a clear error. */
    CHECK_FAILS(hsi_cube_read(check_data_path("indian_pines/Indian_pines_gt.mat"), NULL, &cube),
                HSI_ERR_FORMAT, "no numeric 3-D");
    CHECK_FAILS(hsi_labels_read(check_data_path("samson/Samson.mat"), "nope", &lab), HSI_ERR_ARG,
                "no variable 'nope'");
#endif
    /* Purdue's original GT as GeoTIFF and as ERDAS GIS: 10366 labelled, pixel-identical. */
    CHECK_OK(hsi_labels_read(check_data_path("indian_pines/19920612_AVIRIS_IndianPine_Site3_gr.tif"), NULL, &tif));
    CHECK_OK(hsi_labels_read(check_data_path("indian_pines/92AV3GT.GIS"), NULL, &gis));
    if (tif && gis) {
        size_t counts[17];
        hsi_labels_histogram(tif, counts);
        CHECK_INT_EQ(145 * 145 - counts[0], 10366);
        CHECK(gis->rows == 145 && gis->cols == 145 && memcmp(tif->data, gis->data, 145 * 145 * 2) == 0);
    }
    hsi_labels_free(tif);
    hsi_labels_free(gis);
    /* The AVIRIS band table: 220 bands, 400.02 .. ~2500 nm. */
    double *w, *f;
    size_t n;
    CHECK_OK(hsi_band_table_read(check_data_path("indian_pines/92AV3C.spc"), &w, &f, &n));
    if (n == 220) {
        CHECK_NEAR(w[0], 400.02, 0.01);
        CHECK(w[219] > 2490 && w[219] <= 2500);
        CHECK(f[0] > 5 && f[0] < 15);
        free(w);
        free(f);
    }
    CHECK_INT_EQ(n, 220);
    /* Ground truth checked against the cube size. */
    CHECK_FAILS(hsi_labels_read_for(check_data_path("indian_pines/92AV3GT.GIS"), NULL, 95, 95, &lab),
                HSI_ERR_SIZE, "size 145 x 145 differs from the cube's 95 x 95");
}

#ifdef HAVE_MATIO
/* Write a rows x cols x bands single-precision cube as a .mat of version ver. */
static int write_mat_cube(const char *path, enum mat_ft ver, const float *colmajor, size_t rows,
                          size_t cols, size_t bands)
{
    mat_t *mat = Mat_CreateVer(path, NULL, ver);
    if (!mat) return -1;
    size_t dims[3] = {rows, cols, bands};
    matvar_t *v = Mat_VarCreate("cube", MAT_C_SINGLE, MAT_T_SINGLE, 3, dims, (void *)colmajor, 0);
    int rc = Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
    Mat_VarFree(v);
    Mat_Close(mat);
    return rc;
}

static void test_mat_versions(void)
{
    size_t rows = 3, cols = 4, bands = 5;
    float *cm = malloc(rows * cols * bands * sizeof *cm);
    for (size_t b = 0; b < bands; b++)
        for (size_t c = 0; c < cols; c++)
            for (size_t r = 0; r < rows; r++) cm[r + c * rows + b * rows * cols] = (float)(100 * r + 10 * c + b);
    enum mat_ft versions[2] = {MAT_FT_MAT5, MAT_FT_MAT73};
    const char *names[2] = {"v5.mat", "v73.mat"};
    for (int i = 0; i < 2; i++) {
        if (write_mat_cube(out_path(names[i]), versions[i], cm, rows, cols, bands) != 0) {
            fprintf(stderr, "matio cannot write %s here; skipping that version\n", names[i]);
            continue;
        }
        hsi_cube *cube;
        CHECK_OK(hsi_cube_read(out_path(names[i]), NULL, &cube));
        if (!cube) continue;
        CHECK(cube->rows == 3 && cube->cols == 4 && cube->bands == 5);
        /* MATLAB column-major (r, c, b) arrives as BIP (r, c, b). */
        CHECK(hsi_cube_pixel(cube, 2, 3)[4] == 234.0f);
        CHECK(hsi_cube_pixel(cube, 1, 0)[2] == 102.0f);
        hsi_cube_free(cube);
    }
    /* A .mat with no numeric 3-D variable. */
    mat_t *mat = Mat_CreateVer(out_path("no3d.mat"), NULL, MAT_FT_MAT5);
    size_t dims[2] = {2, 2};
    double d[4] = {1, 2, 3, 4};
    matvar_t *v = Mat_VarCreate("m", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, d, 0);
    Mat_VarWrite(mat, v, MAT_COMPRESSION_NONE);
    Mat_VarFree(v);
    Mat_Close(mat);
    hsi_cube *cube;
    CHECK_FAILS(hsi_cube_read(out_path("no3d.mat"), NULL, &cube), HSI_ERR_FORMAT,
                "no numeric 3-D (rows x cols x bands) variable");
    free(cm);
}
#endif

static void test_bad_input(void)
{
    hsi_cube *cube = NULL;
    hsi_labels *lab = NULL;
    CHECK_FAILS(hsi_cube_read(out_path("missing.tif"), NULL, &cube), HSI_ERR_IO, "missing.tif: cannot open");
    /* Unsupported format: a text file. */
    FILE *fp = fopen(out_path("notes.txt"), "w");
    fputs("not a raster\n", fp);
    fclose(fp);
    CHECK_FAILS(hsi_cube_read(out_path("notes.txt"), NULL, &cube), HSI_ERR_FORMAT, "notes.txt: not a raster format");
    CHECK(cube == NULL);

    /* Band index out of range. */
    hsi_cube *src = make_cube(3, 3, 4);
    CHECK_OK(hsi_cube_write(out_path("small.tif"), HSI_FORMAT_AUTO, src));
    hsi_read_options opts = {.bands = "1-5"};
    CHECK_FAILS(hsi_cube_read(out_path("small.tif"), &opts, &cube), HSI_ERR_ARG, "band 5 out of range 1..4");
    opts.bands = "3-1";
    CHECK_FAILS(hsi_cube_read(out_path("small.tif"), &opts, &cube), HSI_ERR_ARG, "decreasing");
    opts.bands = "1,,2";
    CHECK_FAILS(hsi_cube_read(out_path("small.tif"), &opts, &cube), HSI_ERR_ARG, "malformed");

    /* Truncated ENVI data file: the header promises more than the file has. */
    CHECK_OK(hsi_cube_write(out_path("trunc.dat"), HSI_FORMAT_ENVI, src));
    CHECK(truncate(out_path("trunc.dat"), 40) == 0);
    CHECK_FAILS(hsi_cube_read(out_path("trunc.dat"), NULL, &cube), HSI_ERR_FORMAT, "truncated");
    /* Inconsistent ENVI header: no sample count. */
    CHECK_OK(hsi_cube_write(out_path("hdr.dat"), HSI_FORMAT_ENVI, src));
    fp = fopen(out_path("hdr.hdr"), "w");
    fputs("ENVI\nlines = 3\nbands = 4\ndata type = 4\ninterleave = bip\n", fp);
    fclose(fp);
    CHECK_FAILS(hsi_cube_read(out_path("hdr.dat"), NULL, &cube), HSI_ERR_FORMAT, "hdr.dat");

    /* NaN / Inf in the cube. */
    hsi_cube_pixel(src, 1, 2)[3] = INFINITY;
    CHECK_OK(hsi_cube_write(out_path("inf.tif"), HSI_FORMAT_AUTO, src));
    CHECK_FAILS(hsi_cube_read(out_path("inf.tif"), NULL, &cube), HSI_ERR_DATA,
                "infinite value at row 2, column 3, band 4");
    /* Read in blocks of rows (prediction's tiles): the file's row, not the block's. */
    hsi_cube_reader *rd = NULL;
    CHECK_OK(hsi_cube_reader_open(out_path("inf.tif"), NULL, &rd));
    if (rd) {
        CHECK_OK(hsi_cube_reader_rows(rd, 0, 1, &cube));
        hsi_cube_free(cube);
        cube = NULL;
        CHECK_FAILS(hsi_cube_reader_rows(rd, 1, 2, &cube), HSI_ERR_DATA,
                    "infinite value at row 2, column 3, band 4");
        hsi_cube_reader_close(rd);
    }
    opts = (hsi_read_options){.allow_nonfinite = 1};
    CHECK_OK(hsi_cube_read(out_path("inf.tif"), &opts, &cube));
    hsi_cube_free(cube);
    hsi_cube_free(src);

    /* Ground truth of the wrong size, and a label raster with fractions. */
    CHECK_FAILS(hsi_labels_read_for(out_path("small.tif"), NULL, 5, 5, &lab), HSI_ERR_DATA, "not a class label");
    /* Writing into a directory that does not exist leaves nothing behind. */
    src = make_cube(2, 2, 2);
    CHECK_FAILS(hsi_cube_write("/nonexistent-dir/x.tif", HSI_FORMAT_AUTO, src), HSI_ERR_IO, "/nonexistent-dir/x.tif");
    CHECK_FAILS(hsi_cube_write(out_path("cube.png"), HSI_FORMAT_AUTO, src), HSI_ERR_ARG, "cannot be written as PNG");
    hsi_cube_free(src);
}

int main(void)
{
    dir = check_tmpdir("io");
    test_cube_roundtrips();
    test_labels_roundtrip();
    test_reference_files();
#ifdef HAVE_MATIO
    test_mat_versions();
#endif
    test_bad_input();
    return check_finish();
}
