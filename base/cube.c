#include "base/cube.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- georeferencing ---- */

void hsi_georef_clear(hsi_georef *g)
{
    free(g->projection_wkt);
    memset(g, 0, sizeof *g);
}

hsi_status hsi_georef_copy(hsi_georef *dst, const hsi_georef *src)
{
    char *wkt = NULL;
    if (src->projection_wkt) {
        wkt = strdup(src->projection_wkt);
        if (!wkt) return hsi_error(HSI_ERR_NOMEM, "out of memory copying georeferencing");
    }
    hsi_georef_clear(dst);
    dst->has_geotransform = src->has_geotransform;
    memcpy(dst->geotransform, src->geotransform, sizeof dst->geotransform);
    dst->projection_wkt = wkt;
    return HSI_OK;
}

/* ---- cubes ---- */

static int size_overflows(size_t a, size_t b, size_t c, size_t elem)
{
    if (a && b > SIZE_MAX / a) return 1;
    size_t ab = a * b;
    if (ab && c > SIZE_MAX / ab) return 1;
    size_t abc = ab * c;
    return abc && elem > SIZE_MAX / abc;
}

hsi_status hsi_cube_new(size_t rows, size_t cols, size_t bands, hsi_cube **out)
{
    *out = NULL;
    if (rows == 0 || cols == 0 || bands == 0)
        return hsi_error(HSI_ERR_SIZE, "zero-sized cube (%zu x %zu x %zu)", rows, cols, bands);
    if (size_overflows(rows, cols, bands, sizeof(float)))
        return hsi_error(HSI_ERR_SIZE, "cube %zu x %zu x %zu is too large", rows, cols, bands);
    hsi_cube *cube = calloc(1, sizeof *cube);
    if (!cube) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    cube->data = calloc(rows * cols * bands, sizeof(float));
    if (!cube->data) {
        free(cube);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a %zu x %zu x %zu cube (%.1f MiB)",
                         rows, cols, bands, (double)rows * cols * bands * 4 / 1048576.0);
    }
    cube->rows = rows;
    cube->cols = cols;
    cube->bands = bands;
    *out = cube;
    return HSI_OK;
}

void hsi_cube_free(hsi_cube *cube)
{
    if (!cube) return;
    if (cube->band_names)
        for (size_t b = 0; b < cube->bands; b++) free(cube->band_names[b]);
    free(cube->band_names);
    free(cube->wavelength);
    free(cube->fwhm);
    free(cube->data);
    hsi_georef_clear(&cube->geo);
    free(cube);
}

hsi_status hsi_cube_set_wavelengths(hsi_cube *cube, const double *wavelength,
                                    const double *fwhm)
{
    double *w = NULL, *f = NULL;
    if (wavelength) {
        w = malloc(cube->bands * sizeof *w);
        if (!w) return hsi_error(HSI_ERR_NOMEM, "out of memory");
        memcpy(w, wavelength, cube->bands * sizeof *w);
    }
    if (fwhm) {
        f = malloc(cube->bands * sizeof *f);
        if (!f) {
            free(w);
            return hsi_error(HSI_ERR_NOMEM, "out of memory");
        }
        memcpy(f, fwhm, cube->bands * sizeof *f);
    }
    free(cube->wavelength);
    free(cube->fwhm);
    cube->wavelength = w;
    cube->fwhm = f;
    return HSI_OK;
}

hsi_status hsi_cube_set_band_name(hsi_cube *cube, size_t band, const char *name)
{
    if (band >= cube->bands)
        return hsi_error(HSI_ERR_ARG, "band %zu out of range (cube has %zu)", band + 1, cube->bands);
    if (!cube->band_names) {
        cube->band_names = calloc(cube->bands, sizeof *cube->band_names);
        if (!cube->band_names) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    char *copy = strdup(name);
    if (!copy) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    free(cube->band_names[band]);
    cube->band_names[band] = copy;
    return HSI_OK;
}

hsi_status hsi_cube_new_like(const hsi_cube *src, size_t bands, hsi_cube **out)
{
    hsi_status st = hsi_cube_new(src->rows, src->cols, bands, out);
    if (st) return st;
    hsi_cube *cube = *out;
    if ((st = hsi_georef_copy(&cube->geo, &src->geo))) goto fail;
    cube->has_nodata = src->has_nodata;
    cube->nodata = src->nodata;
    if (bands == src->bands) {
        if ((st = hsi_cube_set_wavelengths(cube, src->wavelength, src->fwhm))) goto fail;
        if (src->band_names)
            for (size_t b = 0; b < bands; b++)
                if (src->band_names[b] && (st = hsi_cube_set_band_name(cube, b, src->band_names[b])))
                    goto fail;
    }
    return HSI_OK;
fail:
    hsi_cube_free(cube);
    *out = NULL;
    return st;
}

static int is_nodata_pixel(const hsi_cube *cube, const float *px)
{
    if (!cube->has_nodata) return 0;
    for (size_t b = 0; b < cube->bands; b++)
        if (px[b] != (float)cube->nodata) return 0;
    return 1;
}

hsi_status hsi_cube_check_finite(const hsi_cube *cube, const char *what)
{
    return hsi_cube_check_finite_rows(cube, what, 0);
}

hsi_status hsi_cube_check_finite_rows(const hsi_cube *cube, const char *what, size_t row0)
{
    for (size_t r = 0; r < cube->rows; r++)
        for (size_t c = 0; c < cube->cols; c++) {
            const float *px = hsi_cube_pixel(cube, r, c);
            if (is_nodata_pixel(cube, px)) continue;
            for (size_t b = 0; b < cube->bands; b++)
                if (!isfinite(px[b]))
                    return hsi_error(HSI_ERR_DATA,
                                     "%s: %s value at row %zu, column %zu, band %zu "
                                     "(set a nodata value or clean the cube)",
                                     what, isnan(px[b]) ? "NaN" : "infinite", row0 + r + 1, c + 1, b + 1);
        }
    return HSI_OK;
}

void hsi_cube_nodata_mask(const hsi_cube *cube, uint8_t *mask)
{
    const size_t npix = cube->rows * cube->cols, bands = cube->bands;
    const float nodata = (float)cube->nodata;
    for (size_t i = 0; i < npix; i++) {
        int all = cube->has_nodata;
        for (size_t b = 0; all && b < bands; b++) all = cube->data[i * bands + b] == nodata;
        mask[i] = (uint8_t)all;
    }
}

void hsi_cube_minmax(const hsi_cube *cube, double *min, double *max)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t n = cube->rows * cube->cols;
    for (size_t i = 0; i < n; i++) {
        const float *px = cube->data + i * cube->bands;
        if (is_nodata_pixel(cube, px)) continue;
        for (size_t b = 0; b < cube->bands; b++) {
            double v = px[b];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    *min = lo;
    *max = hi;
}

long hsi_cube_band_at(const hsi_cube *cube, double nm)
{
    if (!cube->wavelength) return -1;
    long best = 0;
    for (size_t b = 1; b < cube->bands; b++)
        if (fabs(cube->wavelength[b] - nm) < fabs(cube->wavelength[best] - nm)) best = (long)b;
    return best;
}

/* ---- labels ---- */

void hsi_default_class_colour(int k, uint8_t rgb[3])
{
    /* Sixteen well-separated colours (close to the usual Indian Pines maps),
     * then a golden-angle hue walk for more classes. */
    static const uint8_t base[16][3] = {
        {255, 254, 137}, {3, 28, 241},   {255, 89, 1},    {5, 255, 133},
        {255, 2, 251},   {89, 1, 255},   {3, 171, 255},   {12, 255, 7},
        {172, 175, 84},  {160, 78, 158}, {101, 173, 255}, {60, 91, 112},
        {104, 192, 63},  {139, 69, 46},  {119, 255, 172}, {254, 255, 3}};
    if (k <= 0) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    if (k <= 16) {
        memcpy(rgb, base[k - 1], 3);
        return;
    }
    double h = fmod((k - 17) * 137.508, 360.0) / 60.0, s = 0.75, v = 0.95;
    int i = (int)h;
    double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double rgbf[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int j = 0; j < 3; j++) rgb[j] = (uint8_t)lround(rgbf[i % 6][j] * 255);
}

static void default_class_entry(int k, hsi_class_info *info)
{
    if (k == 0)
        snprintf(info->name, sizeof info->name, "Unlabelled");
    else
        snprintf(info->name, sizeof info->name, "Class %d", k);
    hsi_default_class_colour(k, info->rgb);
}

hsi_status hsi_labels_set_class_count(hsi_labels *labels, int n_classes)
{
    if (n_classes < 0 || n_classes > 65535)
        return hsi_error(HSI_ERR_ARG, "class count %d out of range 0..65535", n_classes);
    if (labels->classes && n_classes <= labels->n_classes) {
        labels->n_classes = n_classes;
        return HSI_OK;
    }
    hsi_class_info *cls = realloc(labels->classes, (size_t)(n_classes + 1) * sizeof *cls);
    if (!cls) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    int first = labels->classes ? labels->n_classes + 1 : 0;
    for (int k = first; k <= n_classes; k++) default_class_entry(k, &cls[k]);
    labels->classes = cls;
    labels->n_classes = n_classes;
    return HSI_OK;
}

hsi_status hsi_labels_set_classes(hsi_labels *labels, const hsi_class_info *classes,
                                  int n_classes)
{
    hsi_status st = hsi_labels_set_class_count(labels, n_classes);
    if (st) return st;
    memcpy(labels->classes, classes, (size_t)(n_classes + 1) * sizeof *classes);
    return HSI_OK;
}

hsi_status hsi_labels_new(size_t rows, size_t cols, int n_classes, hsi_labels **out)
{
    *out = NULL;
    if (rows == 0 || cols == 0)
        return hsi_error(HSI_ERR_SIZE, "zero-sized label raster (%zu x %zu)", rows, cols);
    if (size_overflows(rows, cols, 1, sizeof(uint16_t)))
        return hsi_error(HSI_ERR_SIZE, "label raster %zu x %zu is too large", rows, cols);
    hsi_labels *labels = calloc(1, sizeof *labels);
    if (!labels) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    labels->data = calloc(rows * cols, sizeof(uint16_t));
    hsi_status st = labels->data ? hsi_labels_set_class_count(labels, n_classes)
                                 : hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (st) {
        hsi_labels_free(labels);
        return st;
    }
    labels->rows = rows;
    labels->cols = cols;
    *out = labels;
    return HSI_OK;
}

void hsi_labels_free(hsi_labels *labels)
{
    if (!labels) return;
    free(labels->data);
    free(labels->classes);
    hsi_georef_clear(&labels->geo);
    free(labels);
}

hsi_status hsi_labels_new_like(const hsi_labels *src, hsi_labels **out)
{
    hsi_status st = hsi_labels_new(src->rows, src->cols, src->n_classes, out);
    if (st) return st;
    if ((st = hsi_labels_set_classes(*out, src->classes, src->n_classes)) ||
        (st = hsi_georef_copy(&(*out)->geo, &src->geo))) {
        hsi_labels_free(*out);
        *out = NULL;
    }
    return st;
}

void hsi_labels_histogram(const hsi_labels *labels, size_t *counts)
{
    memset(counts, 0, (size_t)(labels->n_classes + 1) * sizeof *counts);
    size_t n = labels->rows * labels->cols;
    for (size_t i = 0; i < n; i++)
        if (labels->data[i] <= labels->n_classes) counts[labels->data[i]]++;
}

int hsi_labels_max(const hsi_labels *labels)
{
    int max = 0;
    size_t n = labels->rows * labels->cols;
    for (size_t i = 0; i < n; i++)
        if (labels->data[i] > max) max = labels->data[i];
    return max;
}

hsi_status hsi_labels_check_size(const hsi_labels *labels, size_t rows, size_t cols,
                                 const char *what)
{
    if (labels->rows != rows || labels->cols != cols)
        return hsi_error(HSI_ERR_SIZE, "%s: size %zu x %zu differs from the cube's %zu x %zu",
                         what, labels->rows, labels->cols, rows, cols);
    return HSI_OK;
}
