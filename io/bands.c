/* bands.c - band lists ("1-103,109-149,164-219") and band selection. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "io/io_internal.h"

static int parse_index(const char **p, long *out)
{
    char *end;
    while (isspace((unsigned char)**p)) (*p)++;
    if (!isdigit((unsigned char)**p)) return -1;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (errno) return -1;
    *p = end;
    while (isspace((unsigned char)**p)) (*p)++;
    *out = v;
    return 0;
}

hsi_status hsi_band_list_parse(const char *spec, size_t total, size_t **bands, size_t *n)
{
    *bands = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = spec;
    if (!spec || !*spec) return hsi_error(HSI_ERR_ARG, "empty band list");
    for (;;) {
        long a, b;
        if (parse_index(&p, &a))
            goto bad;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_index(&p, &b)) goto bad;
        }
        if (a < 1 || b < 1 || (size_t)a > total || (size_t)b > total) {
            free(*bands);
            *bands = NULL;
            *n = 0;
            return hsi_error(HSI_ERR_ARG, "band list '%s': band %ld out of range 1..%zu", spec,
                             (a < 1 || (size_t)a > total) ? a : b, total);
        }
        if (b < a) {
            free(*bands);
            *bands = NULL;
            *n = 0;
            return hsi_error(HSI_ERR_ARG, "band list '%s': range %ld-%ld is decreasing", spec, a, b);
        }
        for (long k = a; k <= b; k++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                size_t *grown = realloc(*bands, cap * sizeof **bands);
                if (!grown) {
                    free(*bands);
                    *bands = NULL;
                    return hsi_error(HSI_ERR_NOMEM, "out of memory");
                }
                *bands = grown;
            }
            (*bands)[(*n)++] = (size_t)(k - 1);
        }
        if (*p == '\0') break;
        if (*p != ',') goto bad;
        p++;
    }
    return HSI_OK;
bad:
    free(*bands);
    *bands = NULL;
    *n = 0;
    return hsi_error(HSI_ERR_ARG, "band list '%s' is malformed (expected e.g. 1-103,109-149,164-219)",
                     spec);
}

hsi_status hsi_io_select_bands(const hsi_cube *in, const size_t *bands, size_t n,
                               hsi_cube **out)
{
    hsi_status st = hsi_cube_new_like(in, n, out);
    if (st) return st;
    hsi_cube *cube = *out;
    size_t pixels = in->rows * in->cols;
    for (size_t i = 0; i < pixels; i++) {
        const float *src = in->data + i * in->bands;
        float *dst = cube->data + i * n;
        for (size_t k = 0; k < n; k++) dst[k] = src[bands[k]];
    }
    if (in->wavelength || in->fwhm) {
        double *w = in->wavelength ? malloc(n * sizeof *w) : NULL;
        double *f = in->fwhm ? malloc(n * sizeof *f) : NULL;
        for (size_t k = 0; k < n; k++) {
            if (w) w[k] = in->wavelength[bands[k]];
            if (f) f[k] = in->fwhm[bands[k]];
        }
        st = hsi_cube_set_wavelengths(cube, w, f);
        free(w);
        free(f);
    }
    if (!st && in->band_names)
        for (size_t k = 0; k < n && !st; k++)
            if (in->band_names[bands[k]])
                st = hsi_cube_set_band_name(cube, k, in->band_names[bands[k]]);
    if (st) {
        hsi_cube_free(cube);
        *out = NULL;
    }
    return st;
}

int hsi_path_has_ext(const char *path, const char *ext)
{
    size_t lp = strlen(path), le = strlen(ext);
    return lp >= le && strcasecmp(path + lp - le, ext) == 0;
}

int hsi_io_parse_envi_list(const char *s, double *out, size_t n)
{
    const char *p = strchr(s, '{');
    p = p ? p + 1 : s;
    for (size_t i = 0; i < n; i++) {
        char *end;
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        errno = 0;
        out[i] = strtod(p, &end);
        if (end == p || errno) return -1;
        p = end;
    }
    return 0;
}

hsi_status hsi_band_table_read(const char *path, double **wavelength, double **fwhm, size_t *n)
{
    *wavelength = *fwhm = NULL;
    *n = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0, count = 0, line_no = 0;
    double *w = NULL, *f = NULL;
    char line[1024];
    hsi_status st = HSI_OK;
    while (fgets(line, sizeof line, fp)) {
        line_no++;
        char *p = line, *end;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || !(isdigit((unsigned char)*p) || *p == '.')) {
            if (count > 0 && *p) {
                st = hsi_error(HSI_ERR_FORMAT, "%s:%zu: not a band table row", path, line_no);
                break;
            }
            continue; /* header lines */
        }
        double centre = strtod(p, &end), width = 0;
        if (end == p || centre <= 0) {
            st = hsi_error(HSI_ERR_FORMAT, "%s:%zu: bad band centre", path, line_no);
            break;
        }
        p = end;
        width = strtod(p, &end);
        if (end == p || width < 0) {
            st = hsi_error(HSI_ERR_FORMAT, "%s:%zu: missing FWHM after the band centre", path, line_no);
            break;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 256;
            double *gw = realloc(w, cap * sizeof *w), *gf = gw ? realloc(f, cap * sizeof *f) : NULL;
            if (gw) w = gw;
            if (gf) f = gf;
            if (!gw || !gf) {
                st = hsi_error(HSI_ERR_NOMEM, "out of memory");
                break;
            }
        }
        w[count] = centre;
        f[count] = width;
        count++;
    }
    fclose(fp);
    if (!st && count == 0) st = hsi_error(HSI_ERR_FORMAT, "%s: no band table rows", path);
    if (st) {
        free(w);
        free(f);
        return st;
    }
    *wavelength = w;
    *fwhm = f;
    *n = count;
    return HSI_OK;
}
