/* preprocess_stream.c - block-by-block preprocessing fits (see the header). */
#include "features/preprocess_stream.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "io/gather.h"

struct hsi_preprocess_acc {
    hsi_preprocess_kind kind;
    size_t dim;
    size_t n;
    double *mean, *m2, *lo, *hi; /* [dim] each */
    double *cross;               /* PCA: [dim * dim] upper triangle of summed cross-deviations */
    double *bmean;               /* [dim] scratch: a block's mean */
    double *centred;             /* PCA scratch: a chunk of centred spectra [CHUNK * dim] */
};

/* Spectra centred at a time for the block's cross-product (bounds scratch). */
#define CHUNK 1024

void hsi_preprocess_acc_free(hsi_preprocess_acc *a)
{
    if (!a) return;
    free(a->mean);
    free(a->cross);
    free(a->centred);
    free(a);
}

hsi_status hsi_preprocess_acc_new(hsi_preprocess_kind kind, size_t dim, hsi_preprocess_acc **out)
{
    *out = NULL;
    if (dim == 0) return hsi_error(HSI_ERR_ARG, "preprocessing: zero-dimensional data");
    hsi_preprocess_acc *a = calloc(1, sizeof *a);
    if (!a) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    a->kind = kind;
    a->dim = dim;
    a->mean = calloc(5 * dim, sizeof *a->mean);
    if (a->mean) {
        a->m2 = a->mean + dim;
        a->lo = a->mean + 2 * dim;
        a->hi = a->mean + 3 * dim;
        a->bmean = a->mean + 4 * dim;
        for (size_t b = 0; b < dim; b++) a->lo[b] = INFINITY, a->hi[b] = -INFINITY;
    }
    int ok = a->mean != NULL;
    if (ok && kind == HSI_PREPROCESS_PCA) {
        a->cross = calloc(dim * dim, sizeof *a->cross);
        a->centred = malloc((size_t)CHUNK * dim * sizeof *a->centred);
        ok = a->cross && a->centred;
    }
    if (!ok) {
        hsi_preprocess_acc_free(a);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for the preprocessing fit (%zu bands)", dim);
    }
    *out = a;
    return HSI_OK;
}

size_t hsi_preprocess_acc_count(const hsi_preprocess_acc *a)
{
    return a->n;
}

/* The selected spectra of a block: x[i] for i where sel is NULL or
 * sel[i] != 0. */
static inline const float *spectrum(const float *x, size_t dim, size_t i)
{
    return x + i * dim;
}

static hsi_status add_selected(hsi_preprocess_acc *a, const float *x, size_t rows_n,
                               const uint16_t *sel)
{
    size_t d = a->dim, nb = 0;
    double *bm = a->bmean;
    memset(bm, 0, d * sizeof *bm);
    /* The block's mean, min and max. */
    for (size_t i = 0; i < rows_n; i++) {
        if (sel && !sel[i]) continue;
        const float *v = spectrum(x, d, i);
        for (size_t b = 0; b < d; b++) {
            double y = v[b];
            bm[b] += y;
            if (y < a->lo[b]) a->lo[b] = y;
            if (y > a->hi[b]) a->hi[b] = y;
        }
        nb++;
    }
    if (nb == 0) return HSI_OK;
    for (size_t b = 0; b < d; b++) bm[b] /= (double)nb;
    /* Its deviations from its own mean: M2 per band, the cross-product
     * matrix for PCA (in chunks of CHUNK spectra through dsyrk). */
    double *bm2 = calloc(d, sizeof *bm2);
    if (!bm2) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t in_chunk = 0;
    int first = 1;
    double *bcross = NULL;
    if (a->kind == HSI_PREPROCESS_PCA) {
        bcross = calloc(d * d, sizeof *bcross);
        if (!bcross) {
            free(bm2);
            return hsi_error(HSI_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < rows_n; i++) {
        if (sel && !sel[i]) continue;
        const float *v = spectrum(x, d, i);
        for (size_t b = 0; b < d; b++) {
            double e = v[b] - bm[b];
            bm2[b] += e * e;
            if (bcross) a->centred[in_chunk * d + b] = e;
        }
        if (bcross && ++in_chunk == CHUNK) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)in_chunk, 1.0,
                        a->centred, (int)d, first ? 0.0 : 1.0, bcross, (int)d);
            in_chunk = 0;
            first = 0;
        }
    }
    if (bcross && in_chunk)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)in_chunk, 1.0, a->centred,
                    (int)d, first ? 0.0 : 1.0, bcross, (int)d);
    /* Merge (Chan, Golub & LeVeque). */
    size_t na = a->n, n = na + nb;
    double w = (double)na * (double)nb / (double)n;
    for (size_t b = 0; b < d; b++) {
        double delta = bm[b] - a->mean[b];
        a->m2[b] += bm2[b] + delta * delta * w;
        bm[b] = delta; /* keep delta for the cross update */
    }
    if (bcross) {
        for (size_t r = 0; r < d; r++)
            for (size_t c = r; c < d; c++)
                a->cross[r * d + c] += bcross[r * d + c] + bm[r] * bm[c] * w;
    }
    for (size_t b = 0; b < d; b++) a->mean[b] += bm[b] * (double)nb / (double)n;
    a->n = n;
    free(bm2);
    free(bcross);
    return HSI_OK;
}

hsi_status hsi_preprocess_acc_add(hsi_preprocess_acc *a, const float *x, size_t n)
{
    return add_selected(a, x, n, NULL);
}

hsi_status hsi_preprocess_acc_add_cube(hsi_preprocess_acc *a, const hsi_cube *block,
                                       const uint16_t *mask)
{
    if (block->bands != a->dim)
        return hsi_error(HSI_ERR_SIZE, "preprocessing: a block of %zu bands added to a fit of %zu",
                         block->bands, a->dim);
    return add_selected(a, block->data, block->rows * block->cols, mask);
}

hsi_status hsi_preprocess_acc_finish(const hsi_preprocess_acc *a, size_t pca_k,
                                     double pca_fraction, hsi_preprocess **out)
{
    *out = NULL;
    size_t d = a->dim, n = a->n;
    if (n == 0) return hsi_error(HSI_ERR_DATA, "preprocessing: no training pixels to fit on");
    if (a->kind == HSI_PREPROCESS_PCA) {
        if (pca_k == 0 && !(pca_fraction > 0 && pca_fraction <= 1))
            return hsi_error(HSI_ERR_ARG, "PCA: give a component count or a variance fraction in (0, 1]");
        if (n < 2) return hsi_error(HSI_ERR_DATA, "PCA needs at least 2 training pixels (got %zu)", n);
        double *cov = malloc(d * d * sizeof *cov);
        if (!cov) return hsi_error(HSI_ERR_NOMEM, "out of memory for PCA (%zu bands)", d);
        for (size_t i = 0; i < d * d; i++) cov[i] = a->cross[i] / (double)(n - 1);
        hsi_status st = hsi_preprocess_pca_from_cov(a->mean, cov, d, pca_k, pca_fraction, out);
        free(cov);
        return st;
    }
    double *var = malloc(d * sizeof *var);
    if (!var) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (size_t b = 0; b < d; b++) var[b] = a->m2[b] / (double)n;
    hsi_status st = hsi_preprocess_from_moments(a->kind, d, a->mean, var, a->lo, a->hi, out);
    free(var);
    return st;
}

hsi_status hsi_preprocess_fit_file(hsi_preprocess_kind kind, const char *path,
                                   const hsi_read_options *ro, const uint16_t *mask,
                                   size_t pca_k, double pca_fraction, size_t budget,
                                   hsi_preprocess **out)
{
    *out = NULL;
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, ro, &rd);
    if (st) return st;
    size_t rows, cols, bands, block;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    hsi_preprocess_acc *a = NULL;
    if ((st = hsi_preprocess_acc_new(kind, bands, &a))) goto done;
    size_t fixed = hsi_io_cache_budget(budget) + 5 * bands * sizeof(double) +
                   (kind == HSI_PREPROCESS_PCA ? (2 * bands * bands + (size_t)CHUNK * bands) * sizeof(double) : 0);
    if ((st = hsi_memory_rows_per_block(budget, fixed, cols * bands * sizeof(float), 1, rows,
                                        "a row of the scene", &block)))
        goto done;
    size_t r0 = 0;
    while (r0 < rows && !st) {
        /* Skip rows without a selected pixel; a block starts at the next
         * row that has one. */
        if (mask) {
            size_t c = 0;
            while (r0 < rows) {
                for (c = 0; c < cols && !mask[r0 * cols + c]; c++) {}
                if (c < cols) break;
                r0++;
            }
            if (r0 == rows) break;
        }
        size_t m = rows - r0 < block ? rows - r0 : block;
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, r0, m, &b))) break;
        st = hsi_preprocess_acc_add_cube(a, b, mask ? mask + r0 * cols : NULL);
        hsi_cube_free(b);
        r0 += m;
    }
    if (!st) {
        if (hsi_preprocess_acc_count(a) == 0)
            st = hsi_error(HSI_ERR_DATA, "preprocessing: the training mask selects no pixels");
        else
            st = hsi_preprocess_acc_finish(a, pca_k, pca_fraction, out);
    }
done:
    hsi_preprocess_acc_free(a);
    hsi_cube_reader_close(rd);
    return st;
}

hsi_status hsi_preprocess_fit_labels_file(hsi_preprocess_kind kind, const char *path,
                                          const hsi_read_options *ro, const hsi_labels *labels,
                                          const char *what, size_t pca_k, double pca_fraction,
                                          size_t budget, hsi_preprocess **out)
{
    *out = NULL;
    float *x;
    uint16_t *y;
    size_t n;
    hsi_status st = hsi_gather_spectra_file(path, ro, labels, what, budget, 0, &x, &y, &n);
    if (st) return st;
    size_t rows, cols, bands;
    hsi_cube_reader *rd;
    if (!(st = hsi_cube_reader_open(path, ro, &rd))) {
        hsi_cube_reader_shape(rd, &rows, &cols, &bands);
        hsi_cube_reader_close(rd);
        st = hsi_preprocess_fit(kind, x, n, bands, pca_k, pca_fraction, out);
    }
    free(x);
    free(y);
    return st;
}
