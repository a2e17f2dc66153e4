/* conv_winograd.c - Winograd F(m, kd) along the spectral axis for the CPU
 * backend's depth-shift convolutions: transforms and block kernels (see
 * conv_winograd.h for the algebra and the names).
 *
 * Shapes, for one block of nb samples, T = ceil(od / m) tiles per sample,
 * plane = oh*ow, hw = h*w, R = c*kh*kw, N = nb*T*plane:
 *     Xt  (c x nb*T x hw)   one row xi of the input transform, per tile
 *     V   (R x N)           its window gather (vol2plane with depth = tiles)
 *     Mx  (f x N)           U[xi] . V (forward) or Dt[xi] (the gradients)
 * Xt, V and Mx are a thread's scratch and stay in its L2 for the Lange
 * net's conv2 at nb = 1 (0.17 + 0.78 + 0.06 MB); U (alpha x f x R, 0.4 MB)
 * is shared. One xi at a time: the transforms read the sample alpha times
 * from cache instead of writing alpha transformed copies of it.
 */
#include "cnn3d/conv_winograd.h"

#include <cblas.h>
#include <string.h>

/* Finite points per alpha (infinity is the last point of every set). Small
 * dyadic points keep AT and BT exact in fp32 and their entries small; which
 * set goes with which alpha follows Lavin & Gray (F(2,3): 0, +-1; F(4,3)
 * and F(6,3): adding +-2, +-1/2), extended by +-4 for alpha 9 and 10. */
static const double points[HSI_CNN_WINO_MAX_ALPHA + 1][HSI_CNN_WINO_MAX_ALPHA - 1] = {
    [3] = {0, 1},
    [4] = {0, 1, -1},
    [5] = {0, 1, -1, 2},
    [6] = {0, 1, -1, 2, -2},
    [7] = {0, 1, -1, 2, -2, 0.5},
    [8] = {0, 1, -1, 2, -2, 0.5, -0.5},
    [9] = {0, 1, -1, 2, -2, 0.5, -0.5, 4},
    [10] = {0, 1, -1, 2, -2, 0.5, -0.5, 4, -4},
};

int hsi_cnn_wino_transforms(int m, int r, double *at, double *g, double *bt)
{
    const int alpha = m + r - 1;
    if (m < 1 || r < 1 || alpha < 3 || alpha > HSI_CNN_WINO_MAX_ALPHA) return -1;
    const int nf = alpha - 1; /* finite points; point nf is infinity */
    const double *pt = points[alpha];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < alpha; j++) {
            double v = 1;
            if (j < nf)
                for (int k = 0; k < i; k++) v *= pt[j];
            else v = i == m - 1;
            at[i * alpha + j] = v;
        }
    for (int j = 0; j < alpha; j++) {
        double fj = 1;
        for (int k = 0; k < nf; k++)
            if (j < nf && k != j) fj *= pt[j] - pt[k];
        for (int a = 0; a < r; a++) {
            double v = 1;
            if (j < nf)
                for (int k = 0; k < a; k++) v *= pt[j];
            else v = a == r - 1;
            g[j * r + a] = j < nf ? v / fj : v;
        }
        /* BT row j: coefficients (degree 0 up) of prod over the finite
         * points other than j of (x - p_k); row nf: over all of them. */
        double c[HSI_CNN_WINO_MAX_ALPHA + 1] = {1};
        int deg = 0;
        for (int k = 0; k < nf; k++) {
            if (k == j) continue;
            deg++;
            for (int q = deg; q > 0; q--) c[q] = c[q - 1] - pt[k] * c[q];
            c[0] = -pt[k] * c[0];
        }
        for (int q = 0; q < alpha; q++) bt[j * alpha + q] = q <= deg ? c[q] : 0;
    }
    return 0;
}

int hsi_cnn_wino_plan_init(hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, int m, int nb)
{
    double at[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    double bt[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    memset(p, 0, sizeof *p);
    if (cd->sd != 1 || hsi_cnn_wino_transforms(m, cd->kd, at, p->g, bt)) return -1;
    p->m = m, p->r = cd->kd, p->alpha = m + cd->kd - 1;
    p->tiles = (cd->od + m - 1) / m;
    p->nb = nb < 1 ? 1 : nb;
    for (int i = 0; i < m * p->alpha; i++) p->at[i] = (float)at[i];
    for (int i = 0; i < p->alpha * p->alpha; i++) p->bt[i] = (float)bt[i];
    return 0;
}

static size_t rows(const hsi_cnn_conv_desc *cd)
{
    return (size_t)cd->c * cd->kh * cd->kw;
}

static size_t cols(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return (size_t)p->nb * p->tiles * cd->oh * cd->ow;
}

size_t hsi_cnn_wino_u_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return (size_t)p->alpha * cd->f * rows(cd);
}

static size_t xt_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return ((size_t)cd->c * p->nb * p->tiles * cd->h * cd->w + 15) & ~(size_t)15;
}

static size_t v_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return (rows(cd) * cols(p, cd) + 15) & ~(size_t)15;
}

size_t hsi_cnn_wino_scratch_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return xt_floats(p, cd) + v_floats(p, cd) + (size_t)cd->f * cols(p, cd);
}

/* The geometry vol2plane and plane2vol_add see for Xt: every tile of the
 * block one depth slice of a volume nb*T deep, read without depth taps. */
static hsi_cnn_conv_desc tile_desc(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    hsi_cnn_conv_desc t = *cd;
    t.n = 1;
    t.d = t.od = p->nb * p->tiles;
    t.kd = 1, t.sd = 1, t.pd = 0;
    return t;
}

void hsi_cnn_wino_filter_transform(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                   const float *w, float *u)
{
    const int hw = cd->kh * cd->kw, R = (int)rows(cd);
    for (int xi = 0; xi < p->alpha; xi++)
        for (int f = 0; f < cd->f; f++)
            for (int c = 0; c < cd->c; c++)
                for (int i = 0; i < hw; i++) {
                    double s = 0;
                    for (int a = 0; a < cd->kd; a++)
                        s += p->g[xi * p->r + a] *
                             w[(((size_t)f * cd->c + c) * cd->kd + a) * hw + i];
                    u[((size_t)xi * cd->f + f) * R + (size_t)c * hw + i] = (float)s;
                }
}

void hsi_cnn_wino_filter_finish(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *macc, float *dw)
{
    const int hw = cd->kh * cd->kw, R = (int)rows(cd);
    for (int f = 0; f < cd->f; f++)
        for (int c = 0; c < cd->c; c++)
            for (int a = 0; a < cd->kd; a++)
                for (int i = 0; i < hw; i++) {
                    double s = 0;
                    for (int xi = 0; xi < p->alpha; xi++)
                        s += p->g[xi * p->r + a] *
                             macc[((size_t)xi * cd->f + f) * R + (size_t)c * hw + i];
                    dw[(((size_t)f * cd->c + c) * cd->kd + a) * hw + i] = (float)s;
                }
}

/* The transforms' inner loops are dst (+)= k * src over a plane: compiled
 * for AVX2 and baseline, chosen by the loader. No FMA in either, so both
 * give the same bits. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define WINO_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef WINO_CLONES
#define WINO_CLONES
#endif

WINO_CLONES static void scale_set(float *restrict dst, const float *restrict src, float k, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) dst[i] = k * src[i];
}

WINO_CLONES static void scale_add(float *restrict dst, const float *restrict src, float k, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) dst[i] += k * src[i];
}

/* Xt[c][s*T + t] = sum_j BT[xi][j] x_s[c][t*m + j - pd] (slices outside the
 * input are the zero padding). */
static void input_transform(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                            const float *x, int step, int xi, float *xt)
{
    const int hw = cd->h * cd->w, T = p->tiles, nbT = p->nb * T;
    const size_t in_size = (size_t)cd->c * cd->d * hw;
    const float *bt = p->bt + xi * p->alpha;
    for (int s = 0; s < p->nb; s++)
        for (int c = 0; c < cd->c; c++) {
            const float *xc = x + (size_t)s * step * in_size + (size_t)c * cd->d * hw;
            for (int t = 0; t < T; t++) {
                float *o = xt + ((size_t)c * nbT + (size_t)s * T + t) * hw;
                int first = 1;
                for (int j = 0; j < p->alpha; j++) {
                    const int id = t * p->m + j - cd->pd;
                    if (bt[j] == 0.0f || id < 0 || id >= cd->d) continue;
                    if (first) scale_set(o, xc + (size_t)id * hw, bt[j], hw);
                    else scale_add(o, xc + (size_t)id * hw, bt[j], hw);
                    first = 0;
                }
                if (first) memset(o, 0, sizeof(float) * hw);
            }
        }
}

/* dx_s[c][t*m + j - pd] += BT[xi][j] dXt[c][s*T + t]: the adjoint of
 * input_transform (padding slices dropped). */
static void input_transform_adjoint(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                    const float *dxt, int step, int xi, float *dx)
{
    const int hw = cd->h * cd->w, T = p->tiles, nbT = p->nb * T;
    const size_t in_size = (size_t)cd->c * cd->d * hw;
    const float *bt = p->bt + xi * p->alpha;
    for (int s = 0; s < p->nb; s++)
        for (int c = 0; c < cd->c; c++) {
            float *dxc = dx + (size_t)s * step * in_size + (size_t)c * cd->d * hw;
            for (int t = 0; t < T; t++) {
                const float *g = dxt + ((size_t)c * nbT + (size_t)s * T + t) * hw;
                for (int j = 0; j < p->alpha; j++) {
                    const int id = t * p->m + j - cd->pd;
                    if (bt[j] == 0.0f || id < 0 || id >= cd->d) continue;
                    scale_add(dxc + (size_t)id * hw, g, bt[j], hw);
                }
            }
        }
}

/* out_s[f][t*m + i] (=, first xi; else +=) AT[i][xi] Mx[f][s*T + t]. */
static void output_transform(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                             const float *mx, int xi, float *out, size_t ostride)
{
    const int plane = cd->oh * cd->ow, T = p->tiles;
    const size_t P = (size_t)cd->od * plane, N = cols(p, cd);
    for (int s = 0; s < p->nb; s++)
        for (int f = 0; f < cd->f; f++) {
            float *ys = out + s * ostride + f * P;
            const float *mrow = mx + f * N + (size_t)s * T * plane;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < p->m && t * p->m + i < cd->od; i++) {
                    const float k = p->at[i * p->alpha + xi];
                    float *dst = ys + (size_t)(t * p->m + i) * plane;
                    if (xi == 0) scale_set(dst, mrow + (size_t)t * plane, k, plane);
                    else if (k != 0.0f) scale_add(dst, mrow + (size_t)t * plane, k, plane);
                }
        }
}

/* Dt[f][s*T + t] = sum_i AT[i][xi] dy_s[f][t*m + i]: the adjoint of
 * output_transform (outputs past od are not there: zero). */
static void output_transform_adjoint(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                     const float *dy, int step, int xi, float *dt)
{
    const int plane = cd->oh * cd->ow, T = p->tiles;
    const size_t P = (size_t)cd->od * plane, N = cols(p, cd);
    for (int s = 0; s < p->nb; s++)
        for (int f = 0; f < cd->f; f++) {
            const float *ds = dy + (size_t)s * step * cd->f * P + f * P;
            float *drow = dt + f * N + (size_t)s * T * plane;
            for (int t = 0; t < T; t++) {
                float *o = drow + (size_t)t * plane;
                int first = 1;
                for (int i = 0; i < p->m && t * p->m + i < cd->od; i++) {
                    const float k = p->at[i * p->alpha + xi];
                    if (k == 0.0f) continue;
                    if (first) scale_set(o, ds + (size_t)(t * p->m + i) * plane, k, plane);
                    else scale_add(o, ds + (size_t)(t * p->m + i) * plane, k, plane);
                    first = 0;
                }
                if (first) memset(o, 0, sizeof(float) * plane);
            }
        }
}

void hsi_cnn_wino_forward_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *u, const float *x, int nb, int step, float *out,
                                size_t ostride, float *scratch)
{
    hsi_cnn_wino_plan q = *p;
    q.nb = nb; /* the last block may be short; the scratch is sized for p->nb */
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd);
    float *xt = scratch, *v = xt + xt_floats(p, cd), *mx = v + v_floats(p, cd);
    for (int xi = 0; xi < q.alpha; xi++) {
        input_transform(&q, cd, x, step, xi, xt);
        hsi_cnn_cpu_vol2plane(&td, xt, 0, td.od, v);
        /* Mx (f x N) = U[xi] (f x R) . V (R x N) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cd->f, N, R, 1.0f,
                    u + (size_t)xi * cd->f * R, R, v, N, 0.0f, mx, N);
        output_transform(&q, cd, mx, xi, out, ostride);
    }
}

void hsi_cnn_wino_data_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                             const float *u, const float *dy, int nb, int step, float *dx,
                             float *scratch)
{
    hsi_cnn_wino_plan q = *p;
    q.nb = nb;
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd);
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w;
    float *dxt = scratch, *dv = dxt + xt_floats(p, cd), *dt = dv + v_floats(p, cd);
    for (int s = 0; s < nb; s++) memset(dx + (size_t)s * step * in_size, 0, sizeof(float) * in_size);
    for (int xi = 0; xi < q.alpha; xi++) {
        output_transform_adjoint(&q, cd, dy, step, xi, dt);
        /* dV (R x N) = U[xi]^T (R x f) . Dt (f x N) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, N, cd->f, 1.0f,
                    u + (size_t)xi * cd->f * R, R, dt, N, 0.0f, dv, N);
        memset(dxt, 0, sizeof(float) * (size_t)cd->c * td.d * cd->h * cd->w);
        hsi_cnn_cpu_plane2vol_add(&td, dv, 0, td.od, dxt);
        input_transform_adjoint(&q, cd, dxt, step, xi, dx);
    }
}

void hsi_cnn_wino_filter_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                               const float *x, const float *dy, int nb, int step, float *macc,
                               float *scratch)
{
    hsi_cnn_wino_plan q = *p;
    q.nb = nb;
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd);
    float *xt = scratch, *v = xt + xt_floats(p, cd), *dt = v + v_floats(p, cd);
    for (int xi = 0; xi < q.alpha; xi++) {
        input_transform(&q, cd, x, step, xi, xt);
        hsi_cnn_cpu_vol2plane(&td, xt, 0, td.od, v);
        output_transform_adjoint(&q, cd, dy, step, xi, dt);
        /* M[xi] (f x R) += Dt (f x N) . V^T (N x R) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cd->f, R, N, 1.0f, dt, N, v, N,
                    1.0f, macc + (size_t)xi * cd->f * R, R);
    }
}
