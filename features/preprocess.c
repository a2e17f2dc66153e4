/* preprocess.c - per-band standardisation, min-max scaling and PCA, fitted
 * on training pixels only and serialisable into model files. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "features/preprocess.h"

static const char preprocess_magic[8] = {'H', 'S', 'I', 'P', 'R', 'E', '1', '\0'};

hsi_status hsi_preprocess_parse(const char *spec, hsi_preprocess_kind *kind, size_t *pca_k,
                                double *pca_fraction)
{
    *pca_k = 0;
    *pca_fraction = 0;
    if (!strcmp(spec, "none")) *kind = HSI_PREPROCESS_NONE;
    else if (!strcmp(spec, "standardise") || !strcmp(spec, "standardize") || !strcmp(spec, "zscore"))
        *kind = HSI_PREPROCESS_STANDARDISE;
    else if (!strcmp(spec, "minmax")) *kind = HSI_PREPROCESS_MINMAX;
    else if (!strncmp(spec, "pca:", 4)) {
        char *end;
        double v = strtod(spec + 4, &end);
        if (end == spec + 4 || *end || !(v > 0))
            return hsi_error(HSI_ERR_ARG, "preprocessing '%s': pca:K (components) or pca:F (variance fraction 0<F<1)",
                             spec);
        *kind = HSI_PREPROCESS_PCA;
        if (v < 1) *pca_fraction = v;
        else if (v == floor(v)) *pca_k = (size_t)v;
        else return hsi_error(HSI_ERR_ARG, "preprocessing '%s': component count must be an integer", spec);
    } else {
        return hsi_error(HSI_ERR_ARG,
                         "unknown preprocessing '%s' (none, standardise, minmax, pca:K, pca:F)", spec);
    }
    return HSI_OK;
}

void hsi_preprocess_free(hsi_preprocess *p)
{
    if (!p) return;
    free(p->offset);
    free(p->scale);
    free(p->components);
    free(p->explained);
    free(p);
}

static hsi_status alloc_preprocess(hsi_preprocess_kind kind, size_t in_dim, size_t out_dim,
                                   hsi_preprocess **out)
{
    hsi_preprocess *p = calloc(1, sizeof *p);
    if (!p) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    p->kind = kind;
    p->in_dim = in_dim;
    p->out_dim = out_dim;
    p->offset = calloc(in_dim, sizeof *p->offset);
    int ok = p->offset != NULL;
    if (kind == HSI_PREPROCESS_PCA) {
        p->components = calloc(in_dim * out_dim, sizeof *p->components);
        p->explained = calloc(out_dim, sizeof *p->explained);
        ok = ok && p->components && p->explained;
    } else {
        p->scale = malloc(in_dim * sizeof *p->scale);
        ok = ok && p->scale;
        for (size_t b = 0; ok && b < in_dim; b++) p->scale[b] = 1.0f;
    }
    if (!ok) {
        hsi_preprocess_free(p);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    *out = p;
    return HSI_OK;
}

/* Principal components from the mean and the covariance (upper triangle,
 * overwritten): eigenvectors, largest eigenvalue first, each with its
 * largest-magnitude entry positive so that the result does not depend on
 * LAPACK's sign choice. */
hsi_status hsi_preprocess_pca_from_cov(const double *mean, double *cov, size_t dim, size_t k,
                                       double fraction, hsi_preprocess **out)
{
    *out = NULL;
    if (k > dim) return hsi_error(HSI_ERR_ARG, "PCA: %zu components asked but the data has %zu bands", k, dim);
    double *eval = malloc(dim * sizeof *eval);
    hsi_status st = HSI_OK;
    if (!eval) return hsi_error(HSI_ERR_NOMEM, "out of memory for PCA (%zu bands)", dim);
    /* Eigenvalues ascending; eigenvectors in the columns of cov. */
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (int)dim, cov, (int)dim, eval) != 0) {
        st = hsi_error(HSI_ERR_DATA, "PCA: eigen-decomposition did not converge");
        goto done;
    }
    double total = 0;
    for (size_t j = 0; j < dim; j++) total += eval[j] > 0 ? eval[j] : 0;
    if (!(total > 0)) {
        st = hsi_error(HSI_ERR_DATA, "PCA: the training spectra have no variance");
        goto done;
    }
    if (k == 0) { /* smallest k keeping the variance fraction */
        double kept = 0;
        for (k = 0; k < dim && kept < fraction * total; k++) kept += eval[dim - 1 - k];
        if (k == 0) k = 1;
    }
    if ((st = alloc_preprocess(HSI_PREPROCESS_PCA, dim, k, out))) goto done;
    hsi_preprocess *p = *out;
    for (size_t b = 0; b < dim; b++) p->offset[b] = (float)mean[b];
    for (size_t j = 0; j < k; j++) {
        size_t col = dim - 1 - j;
        size_t arg = 0;
        for (size_t b = 1; b < dim; b++)
            if (fabs(cov[b * dim + col]) > fabs(cov[arg * dim + col])) arg = b;
        double sign = cov[arg * dim + col] < 0 ? -1.0 : 1.0;
        for (size_t b = 0; b < dim; b++) p->components[b * k + j] = (float)(sign * cov[b * dim + col]);
        p->explained[j] = (eval[col] > 0 ? eval[col] : 0) / total;
    }
done:
    free(eval);
    return st;
}

/* Principal components of x (n x dim): the covariance in double, then
 * hsi_preprocess_pca_from_cov. */
static hsi_status fit_pca(const float *x, size_t n, size_t dim, size_t k, double fraction,
                          hsi_preprocess **out)
{
    if (n < 2) return hsi_error(HSI_ERR_DATA, "PCA needs at least 2 training pixels (got %zu)", n);
    if (k > dim) return hsi_error(HSI_ERR_ARG, "PCA: %zu components asked but the data has %zu bands", k, dim);
    double *mean = calloc(dim, sizeof *mean);
    double *centred = malloc(n * dim * sizeof *centred);
    double *cov = calloc(dim * dim, sizeof *cov);
    hsi_status st = HSI_OK;
    if (!mean || !centred || !cov) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for PCA (%zu x %zu)", n, dim);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < dim; b++) mean[b] += x[i * dim + b];
    for (size_t b = 0; b < dim; b++) mean[b] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < dim; b++) centred[i * dim + b] = x[i * dim + b] - mean[b];
    /* cov (dim x dim, upper) = centred^T centred / (n - 1) */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dim, (int)n, 1.0 / (double)(n - 1),
                centred, (int)dim, 0.0, cov, (int)dim);
    st = hsi_preprocess_pca_from_cov(mean, cov, dim, k, fraction, out);
done:
    free(mean);
    free(centred);
    free(cov);
    return st;
}

hsi_status hsi_preprocess_from_moments(hsi_preprocess_kind kind, size_t dim, const double *mean,
                                       const double *var, const double *lo, const double *hi,
                                       hsi_preprocess **out)
{
    hsi_status st = alloc_preprocess(kind, dim, dim, out);
    if (st || kind == HSI_PREPROCESS_NONE) return st;
    hsi_preprocess *p = *out;
    for (size_t b = 0; b < dim; b++) {
        if (kind == HSI_PREPROCESS_STANDARDISE) {
            p->offset[b] = (float)mean[b];
            p->scale[b] = var[b] > 0 ? (float)(1.0 / sqrt(var[b])) : 1.0f; /* constant band: centre only */
        } else {
            p->offset[b] = (float)lo[b];
            p->scale[b] = hi[b] > lo[b] ? (float)(1.0 / (hi[b] - lo[b])) : 1.0f;
        }
    }
    return HSI_OK;
}

hsi_status hsi_preprocess_fit(hsi_preprocess_kind kind, const float *x, size_t n, size_t dim,
                              size_t pca_k, double pca_fraction, hsi_preprocess **out)
{
    *out = NULL;
    if (dim == 0) return hsi_error(HSI_ERR_ARG, "preprocessing: zero-dimensional data");
    if (n == 0) return hsi_error(HSI_ERR_DATA, "preprocessing: no training pixels to fit on");
    if (kind == HSI_PREPROCESS_PCA) {
        if (pca_k == 0 && !(pca_fraction > 0 && pca_fraction <= 1))
            return hsi_error(HSI_ERR_ARG, "PCA: give a component count or a variance fraction in (0, 1]");
        return fit_pca(x, n, dim, pca_k, pca_fraction, out);
    }
    if (kind == HSI_PREPROCESS_NONE) return alloc_preprocess(kind, dim, dim, out);
    double *m = malloc(4 * dim * sizeof *m);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    double *mv = m + dim, *ml = m + 2 * dim, *mh = m + 3 * dim;
    for (size_t b = 0; b < dim; b++) {
        /* Two passes in double: mean then spread (stable for radiance-scale data). */
        double mean = 0, lo = INFINITY, hi = -INFINITY, var = 0;
        for (size_t i = 0; i < n; i++) {
            double v = x[i * dim + b];
            mean += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = x[i * dim + b] - mean;
            var += d * d;
        }
        var /= (double)n;
        m[b] = mean, mv[b] = var, ml[b] = lo, mh[b] = hi;
    }
    hsi_status st = hsi_preprocess_from_moments(kind, dim, m, mv, ml, mh, out);
    free(m);
    return st;
}

hsi_status hsi_preprocess_fit_cube(hsi_preprocess_kind kind, const hsi_cube *cube,
                                   const uint16_t *mask, size_t pca_k, double pca_fraction,
                                   hsi_preprocess **out)
{
    *out = NULL;
    size_t pixels = cube->rows * cube->cols, n = 0;
    for (size_t i = 0; i < pixels; i++) n += !mask || mask[i];
    if (n == 0) return hsi_error(HSI_ERR_DATA, "preprocessing: the training mask selects no pixels");
    float *x = malloc(n * cube->bands * sizeof *x);
    if (!x) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t j = 0;
    for (size_t i = 0; i < pixels; i++)
        if (!mask || mask[i]) memcpy(x + (j++) * cube->bands, cube->data + i * cube->bands, cube->bands * sizeof *x);
    hsi_status st = hsi_preprocess_fit(kind, x, n, cube->bands, pca_k, pca_fraction, out);
    free(x);
    return st;
}

hsi_status hsi_preprocess_apply(const hsi_preprocess *p, const float *x, size_t n, float *y)
{
    size_t d = p->in_dim;
    if (p->kind == HSI_PREPROCESS_PCA) {
        if ((const void *)x == (void *)y) return hsi_error(HSI_ERR_ARG, "PCA cannot transform in place");
        /* y (n x k) = (x - mean) (n x d) * W (d x k), in blocks of rows to
         * bound the centred copy. */
        size_t k = p->out_dim, block = HSI_PREPROCESS_APPLY_BLOCK;
        float *centred = malloc((n < block ? n : block) * d * sizeof *centred);
        if (!centred) return hsi_error(HSI_ERR_NOMEM, "out of memory");
        for (size_t i0 = 0; i0 < n; i0 += block) {
            size_t m = n - i0 < block ? n - i0 : block;
            for (size_t i = 0; i < m; i++)
                for (size_t b = 0; b < d; b++) centred[i * d + b] = x[(i0 + i) * d + b] - p->offset[b];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)d, 1.0f, centred,
                        (int)d, p->components, (int)k, 0.0f, y + i0 * k, (int)k);
        }
        free(centred);
        return HSI_OK;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < d; b++) y[i * d + b] = (x[i * d + b] - p->offset[b]) * p->scale[b];
    return HSI_OK;
}

hsi_status hsi_preprocess_apply_cube(const hsi_preprocess *p, const hsi_cube *in, hsi_cube **out)
{
    *out = NULL;
    if (in->bands != p->in_dim)
        return hsi_error(HSI_ERR_SIZE, "preprocessing fitted on %zu bands applied to a cube of %zu",
                         p->in_dim, in->bands);
    hsi_status st = hsi_cube_new_like(in, p->out_dim, out);
    if (st) return st;
    if ((st = hsi_preprocess_apply(p, in->data, in->rows * in->cols, (*out)->data))) goto fail;
    (*out)->has_nodata = 0; /* transformed values have no nodata code */
    if (p->kind == HSI_PREPROCESS_PCA)
        for (size_t j = 0; j < p->out_dim && !st; j++) {
            char name[32];
            snprintf(name, sizeof name, "PC%zu", j + 1);
            st = hsi_cube_set_band_name(*out, j, name);
        }
    if (st) goto fail;
    return HSI_OK;
fail:
    hsi_cube_free(*out);
    *out = NULL;
    return st;
}

/* ---- serialisation (a record inside hsi's model files, base/blob.h) ---- */

void hsi_preprocess_write(const hsi_preprocess *p, hsi_blob_writer *w)
{
    hsi_blob_put(w, preprocess_magic, 8);
    hsi_blob_put_u32(w, (uint32_t)p->kind);
    hsi_blob_put_u64(w, p->in_dim);
    hsi_blob_put_u64(w, p->out_dim);
    hsi_blob_put(w, p->offset, p->in_dim * sizeof(float));
    if (p->kind == HSI_PREPROCESS_PCA) {
        hsi_blob_put(w, p->components, p->in_dim * p->out_dim * sizeof(float));
        hsi_blob_put(w, p->explained, p->out_dim * sizeof(double));
    } else {
        hsi_blob_put(w, p->scale, p->in_dim * sizeof(float));
    }
}

hsi_status hsi_preprocess_read(hsi_blob_reader *r, const char *what, hsi_preprocess **out)
{
    *out = NULL;
    const unsigned char *magic = hsi_blob_take(r, 8);
    if (!magic || memcmp(magic, preprocess_magic, 8) != 0)
        return hsi_error(HSI_ERR_FORMAT, "%s: preprocessing record missing or corrupt", what);
    uint32_t kind = hsi_blob_get_u32(r);
    uint64_t in = hsi_blob_get_u64(r), outd = hsi_blob_get_u64(r);
    if (r->short_read) return hsi_error(HSI_ERR_FORMAT, "%s: preprocessing record truncated", what);
    if (kind > HSI_PREPROCESS_PCA || in == 0 || in > (1u << 20) || outd == 0 || outd > in ||
        (kind != HSI_PREPROCESS_PCA && outd != in))
        return hsi_error(HSI_ERR_FORMAT, "%s: preprocessing record has impossible sizes", what);
    /* The arrays must be in the file before they are allocated: a crafted
     * PCA record of 2^20 x 2^20 would ask for 4 TiB. */
    uint64_t arrays = kind == HSI_PREPROCESS_PCA ? in * 4 + in * outd * 4 + outd * 8 : in * 8;
    if (arrays > hsi_blob_left(r))
        return hsi_error(HSI_ERR_FORMAT, "%s: preprocessing record truncated", what);
    hsi_status st = alloc_preprocess((hsi_preprocess_kind)kind, in, outd, out);
    if (st) return st;
    hsi_preprocess *p = *out;
    hsi_blob_get(r, p->offset, in * sizeof(float));
    if (kind == HSI_PREPROCESS_PCA) {
        hsi_blob_get(r, p->components, in * outd * sizeof(float));
        hsi_blob_get(r, p->explained, outd * sizeof(double));
    } else {
        hsi_blob_get(r, p->scale, in * sizeof(float));
    }
    if (r->short_read) {
        hsi_preprocess_free(p);
        *out = NULL;
        return hsi_error(HSI_ERR_FORMAT, "%s: preprocessing record truncated", what);
    }
    return HSI_OK;
}
