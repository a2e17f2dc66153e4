/* backend_cuda_conv.cu - conv3d on cuDNN 9 (its N-d convolution API).
 *
 * backend.h's padding is pd/ph/pw zeros before the input and as many as the
 * output needs after it: (o - 1) s + k - in - p, which for Keras "same" with
 * an even total is p, with an odd total p + 1, and after a folded
 * [zeropad3d] p. cuDNN pads p on both sides. Where both give the same
 * outputs (after <= p and cuDNN's output count is o: the Lange net) cuDNN
 * pads; otherwise the input is padded explicitly (before p, after as
 * needed) into the context's workspace and cuDNN runs unpadded, and the
 * data gradient is cropped back from the padded one.
 *
 * A plan per geometry (every field of the descriptor, n included) holds the
 * descriptors and, per direction, the algorithm, chosen at first use: by
 * timing (cudnnFind*Ex, the fastest that fits the workspace limit) or, with
 * --deterministic, by cuDNN's heuristics among deterministic algorithms, so
 * that two runs take the same algorithms and give the same bits. TF32 is
 * off (CUDNN_FMA_MATH) unless the backend was opened with tf32.
 *
 * Bias and activation follow the convolution in one pass of our own kernel
 * (hsi_cuda_bias_act); the bias gradient is a deterministic per-filter sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn3d/backend_cuda.h"
#include "cnn3d/cuda_math.h"

/* Workspace cuDNN may use for one convolution beyond the explicit padding. */
#define HSI_CUDNN_WORK_LIMIT ((size_t)512 << 20)

struct cuda_conv_plan {
    hsi_cnn_conv_desc key;      /* bf16 cleared */
    int explicit_pad;
    int before[3], after[3];    /* explicit padding per axis (d, h, w) */
    size_t pad_bytes;           /* padded input (or its gradient) in the workspace */
    cudnnTensorDescriptor_t x, y; /* x: the tensor cuDNN reads (padded or not) */
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv[3]; /* forward, backward data, backward filter */
    int found[3];
    int algo[3];
    size_t ws[3];               /* cuDNN workspace of the chosen algorithm */
};

static size_t align256(size_t b)
{
    return (b + 255) & ~(size_t)255;
}

static void describe_geometry(const hsi_cnn_conv_desc *cd, char *buf, size_t len)
{
    snprintf(buf, len, "conv3d %dx%dx%dx%dx%d * %dx%dx%dx%d -> %dx%dx%d", cd->n, cd->c, cd->d,
             cd->h, cd->w, cd->f, cd->kd, cd->kh, cd->kw, cd->od, cd->oh, cd->ow);
}

static void plan_free(struct cuda_conv_plan *p)
{
    if (!p) return;
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    for (int i = 0; i < 3; i++)
        if (p->conv[i]) cudnnDestroyConvolutionDescriptor(p->conv[i]);
    free(p);
}

void hsi_cuda_conv_plans_free(struct cuda_ctx *c)
{
    for (int i = 0; i < c->n_plans; i++) plan_free(c->plans[i]);
    free(c->plans);
    c->plans = NULL;
    c->n_plans = c->cap_plans = 0;
}

static int set_tensor(struct cuda_ctx *c, cudnnTensorDescriptor_t t, int n, int ch, int d, int h,
                      int w, const char *what)
{
    int dims[5] = {n, ch, d, h, w};
    int strides[5] = {ch * d * h * w, d * h * w, h * w, w, 1};
    return hsi_cudnn_check(c, cudnnSetTensorNdDescriptor(t, CUDNN_DATA_FLOAT, 5, dims, strides),
                           "cudnnSetTensorNdDescriptor", what);
}

/* The plan of this geometry, made at its first use (NULL after a failure). */
static struct cuda_conv_plan *plan_for(struct cuda_ctx *c, const hsi_cnn_conv_desc *cd)
{
    if (c->err) return NULL;
    hsi_cnn_conv_desc key = *cd;
    key.bf16 = 0;
    for (int i = 0; i < c->n_plans; i++)
        if (!memcmp(&c->plans[i]->key, &key, sizeof key)) return c->plans[i];
    char what[160];
    describe_geometry(cd, what, sizeof what);
    if (c->n_plans == c->cap_plans) {
        int cap = c->cap_plans ? 2 * c->cap_plans : 8;
        void *g = realloc(c->plans, cap * sizeof *c->plans);
        if (!g) {
            hsi_cuda_fail(c, HSI_ERR_NOMEM, "out of memory planning %s", what);
            return NULL;
        }
        c->plans = (struct cuda_conv_plan **)g;
        c->cap_plans = cap;
    }
    struct cuda_conv_plan *p = (struct cuda_conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        hsi_cuda_fail(c, HSI_ERR_NOMEM, "out of memory planning %s", what);
        return NULL;
    }
    p->key = key;
    const int in[3] = {cd->d, cd->h, cd->w}, k[3] = {cd->kd, cd->kh, cd->kw};
    const int s[3] = {cd->sd, cd->sh, cd->sw}, pad[3] = {cd->pd, cd->ph, cd->pw};
    const int o[3] = {cd->od, cd->oh, cd->ow};
    for (int a = 0; a < 3; a++) {
        if (!hsi_cm_conv_axis(in[a], k[a], s[a], pad[a], o[a], &p->after[a])) p->explicit_pad = 1;
        p->before[a] = pad[a];
    }
    int xd = cd->d, xh = cd->h, xw = cd->w;
    int cpad[3] = {cd->pd, cd->ph, cd->pw};
    if (p->explicit_pad) {
        xd += p->before[0] + p->after[0];
        xh += p->before[1] + p->after[1];
        xw += p->before[2] + p->after[2];
        cpad[0] = cpad[1] = cpad[2] = 0;
        p->pad_bytes = align256((size_t)cd->n * cd->c * xd * xh * xw * sizeof(float));
    }
    int fdims[5] = {cd->f, cd->c, cd->kd, cd->kh, cd->kw};
    int one[3] = {1, 1, 1};
    cudnnMathType_t math = c->tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    int bad = hsi_cudnn_check(c, cudnnCreateTensorDescriptor(&p->x), "cudnnCreateTensorDescriptor", what) ||
              hsi_cudnn_check(c, cudnnCreateTensorDescriptor(&p->y), "cudnnCreateTensorDescriptor", what) ||
              hsi_cudnn_check(c, cudnnCreateFilterDescriptor(&p->w), "cudnnCreateFilterDescriptor", what) ||
              set_tensor(c, p->x, cd->n, cd->c, xd, xh, xw, what) ||
              set_tensor(c, p->y, cd->n, cd->f, cd->od, cd->oh, cd->ow, what) ||
              hsi_cudnn_check(c, cudnnSetFilterNdDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, fdims),
                              "cudnnSetFilterNdDescriptor", what);
    for (int i = 0; i < 3 && !bad; i++)
        bad = hsi_cudnn_check(c, cudnnCreateConvolutionDescriptor(&p->conv[i]),
                              "cudnnCreateConvolutionDescriptor", what) ||
              hsi_cudnn_check(c, cudnnSetConvolutionNdDescriptor(p->conv[i], 3, cpad, s, one,
                                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                              "cudnnSetConvolutionNdDescriptor", what) ||
              hsi_cudnn_check(c, cudnnSetConvolutionMathType(p->conv[i], math),
                              "cudnnSetConvolutionMathType", what);
    if (!bad) {
        int odims[5];
        bad = hsi_cudnn_check(c, cudnnGetConvolutionNdForwardOutputDim(p->conv[0], p->x, p->w, 5, odims),
                              "cudnnGetConvolutionNdForwardOutputDim", what);
        if (!bad && (odims[0] != cd->n || odims[1] != cd->f || odims[2] != cd->od ||
                     odims[3] != cd->oh || odims[4] != cd->ow))
            bad = hsi_cuda_fail(c, HSI_ERR_DEVICE,
                                "%s: cuDNN computes an output of %dx%dx%d for this padding, the net "
                                "%dx%dx%d",
                                what, odims[2], odims[3], odims[4], cd->od, cd->oh, cd->ow);
    }
    if (bad) {
        plan_free(p);
        return NULL;
    }
    c->plans[c->n_plans++] = p;
    return p;
}

/* The first usable result: succeeded, within the limit, deterministic when
 * asked, and FP32 math unless TF32 is allowed. -1: none. */
template <typename Perf>
static int pick(const struct cuda_ctx *c, const Perf *perf, int n, size_t limit)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const Perf &r = perf[i];
            if (r.status != CUDNN_STATUS_SUCCESS || r.memory > limit) continue;
            if (c->deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
            /* Without TF32: FMA math first, the default math only when no
             * FMA algorithm is offered; the descriptor keeps CUDNN_FMA_MATH
             * either way (the default math would permit TF32 on Ampere and
             * newer), as the search ran with it. */
            if (!c->tf32 && r.mathType != CUDNN_FMA_MATH &&
                (pass == 0 || r.mathType != CUDNN_DEFAULT_MATH))
                continue;
            return i;
        }
    return -1;
}

/* Workspace for the search (timing runs the algorithms). */
static size_t search_limit(struct cuda_ctx *c)
{
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return 64u << 20;
    }
    size_t lim = (free_b / 4) & ~(size_t)255; /* aligned: an algorithm within it fits after align256 */
    return lim < HSI_CUDNN_WORK_LIMIT ? lim : HSI_CUDNN_WORK_LIMIT;
}

enum { FWD = 0, BWD_DATA = 1, BWD_FILTER = 2 };

/* Choose the algorithm of direction `dir` (buffers as the call will use
 * them: the timed search writes the outputs, which the call overwrites). */
static int choose(struct cuda_ctx *c, struct cuda_conv_plan *p, int dir, const float *x,
                  const float *w, const float *y, const char *what, size_t limit)
{
    if (p->found[dir]) return 0;
    int n = 0, i = -1;
    if (dir == FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 2];
        int want = CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 2;
        if (c->deterministic) {
            if (hsi_cudnn_check(c, cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, p->x, p->w, p->conv[FWD], p->y,
                                                                          want, &n, perf),
                                "cudnnGetConvolutionForwardAlgorithm_v7", what))
                return 1;
        } else {
            if (hsi_cudnn_check(c, cudnnFindConvolutionForwardAlgorithmEx(
                                       c->dnn, p->x, x, p->w, w, p->conv[FWD], p->y, (void *)y, want, &n,
                                       perf, (char *)c->work + p->pad_bytes, limit),
                                "cudnnFindConvolutionForwardAlgorithmEx", what))
                return 1;
        }
        if ((i = pick(c, perf, n, limit)) >= 0) {
            p->algo[FWD] = perf[i].algo;
            p->ws[FWD] = perf[i].memory;
            if (c->tf32 && hsi_cudnn_check(c, cudnnSetConvolutionMathType(p->conv[FWD], perf[i].mathType),
                                           "cudnnSetConvolutionMathType", what))
                return 1;
        }
    } else if (dir == BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT * 2];
        int want = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT * 2;
        /* x: the data gradient (or its padded form), y: dy */
        if (c->deterministic) {
            if (hsi_cudnn_check(c, cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, p->w, p->y, p->conv[BWD_DATA],
                                                                               p->x, want, &n, perf),
                                "cudnnGetConvolutionBackwardDataAlgorithm_v7", what))
                return 1;
        } else {
            if (hsi_cudnn_check(c, cudnnFindConvolutionBackwardDataAlgorithmEx(
                                       c->dnn, p->w, w, p->y, y, p->conv[BWD_DATA], p->x, (void *)x, want,
                                       &n, perf, (char *)c->work + p->pad_bytes, limit),
                                "cudnnFindConvolutionBackwardDataAlgorithmEx", what))
                return 1;
        }
        if ((i = pick(c, perf, n, limit)) >= 0) {
            p->algo[BWD_DATA] = perf[i].algo;
            p->ws[BWD_DATA] = perf[i].memory;
            if (c->tf32 && hsi_cudnn_check(c, cudnnSetConvolutionMathType(p->conv[BWD_DATA], perf[i].mathType),
                                           "cudnnSetConvolutionMathType", what))
                return 1;
        }
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT * 2];
        int want = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT * 2;
        /* w: the filter gradient */
        if (c->deterministic) {
            if (hsi_cudnn_check(c, cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, p->x, p->y,
                                                                                 p->conv[BWD_FILTER], p->w, want,
                                                                                 &n, perf),
                                "cudnnGetConvolutionBackwardFilterAlgorithm_v7", what))
                return 1;
        } else {
            if (hsi_cudnn_check(c, cudnnFindConvolutionBackwardFilterAlgorithmEx(
                                       c->dnn, p->x, x, p->y, y, p->conv[BWD_FILTER], p->w, (void *)w, want,
                                       &n, perf, (char *)c->work + p->pad_bytes, limit),
                                "cudnnFindConvolutionBackwardFilterAlgorithmEx", what))
                return 1;
        }
        if ((i = pick(c, perf, n, limit)) >= 0) {
            p->algo[BWD_FILTER] = perf[i].algo;
            p->ws[BWD_FILTER] = perf[i].memory;
            if (c->tf32 && hsi_cudnn_check(c, cudnnSetConvolutionMathType(p->conv[BWD_FILTER], perf[i].mathType),
                                           "cudnnSetConvolutionMathType", what))
                return 1;
        }
    }
    static const char *dir_name[3] = {"forward", "backward data", "backward filter"};
    if (i < 0)
        return hsi_cuda_fail(c, HSI_ERR_DEVICE,
                             "GPU %d: cuDNN offers no %s%s algorithm for %s within %zu MiB of "
                             "workspace",
                             c->device, c->deterministic ? "deterministic " : "", dir_name[dir], what,
                             limit >> 20);
    /* The heuristics' memory field is an estimate: ask for the exact size. */
    size_t exact = 0;
    cudnnStatus_t st;
    if (dir == FWD)
        st = cudnnGetConvolutionForwardWorkspaceSize(c->dnn, p->x, p->w, p->conv[FWD], p->y,
                                                     (cudnnConvolutionFwdAlgo_t)p->algo[FWD], &exact);
    else if (dir == BWD_DATA)
        st = cudnnGetConvolutionBackwardDataWorkspaceSize(c->dnn, p->w, p->y, p->conv[BWD_DATA], p->x,
                                                          (cudnnConvolutionBwdDataAlgo_t)p->algo[BWD_DATA],
                                                          &exact);
    else
        st = cudnnGetConvolutionBackwardFilterWorkspaceSize(c->dnn, p->x, p->y, p->conv[BWD_FILTER], p->w,
                                                            (cudnnConvolutionBwdFilterAlgo_t)p->algo[BWD_FILTER],
                                                            &exact);
    if (hsi_cudnn_check(c, st, "cudnnGetConvolution*WorkspaceSize", what)) return 1;
    if (exact > p->ws[dir]) p->ws[dir] = exact;
    p->found[dir] = 1;
    return hsi_cuda_workspace(c, p->pad_bytes + align256(p->ws[dir]));
}

/* Before anything is put into the workspace (growing it loses its
 * contents): with --deterministic choose now (heuristics need no buffers);
 * for the timed search reserve the padding plus the search's limit, so the
 * search, run once the inputs are in place, grows nothing. */
static int reserve(struct cuda_ctx *c, struct cuda_conv_plan *p, int dir, const char *what,
                   size_t *limit)
{
    *limit = HSI_CUDNN_WORK_LIMIT;
    if (p->found[dir]) return 0;
    if (c->deterministic) return choose(c, p, dir, NULL, NULL, NULL, what, *limit);
    *limit = search_limit(c);
    return hsi_cuda_workspace(c, p->pad_bytes + *limit);
}

size_t hsi_cuda_conv_workspace(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd)
{
    /* The context keeps its own workspace, sized per plan (it depends on n
     * and on the algorithm found), so the net's arena needs none. */
    (void)be;
    (void)cd;
    return 0;
}

/* What every pass starts with: this geometry's plan, its name for error
 * messages (what), and the workspace of pass dir reserved (limit: what the
 * algorithm may use). NULL after a failure, which the context has kept. */
static struct cuda_conv_plan *pass_start(struct cuda_ctx *c, const hsi_cnn_conv_desc *cd, int dir,
                                         char *what, size_t what_len, size_t *limit)
{
    struct cuda_conv_plan *p = plan_for(c, cd);
    if (!p) return NULL;
    describe_geometry(cd, what, what_len);
    return reserve(c, p, dir, what, limit) ? NULL : p;
}

/* The input x (n, c, d, h, w) as cuDNN reads it: padded into the start of
 * the workspace where the plan pads explicitly (cuDNN pads symmetrically
 * only), else x itself. */
static const float *padded_input(struct cuda_ctx *c, const struct cuda_conv_plan *p,
                                 const hsi_cnn_conv_desc *cd, const float *x)
{
    if (!p->explicit_pad) return x;
    hsi_cuda_pad_general(c, cd->n * cd->c, cd->d, cd->h, cd->w, p->before, p->after, x,
                         (float *)c->work, 0);
    return (const float *)c->work;
}

/* After a timed search (choose) the workspace may have grown to fit the
 * chosen algorithm's exact size, and growing frees the old block, which held
 * the padded input: pad again into the new one. */
static const float *padded_again(struct cuda_ctx *c, const struct cuda_conv_plan *p,
                                 const hsi_cnn_conv_desc *cd, const float *x, const float *xin)
{
    if (!p->explicit_pad || xin == (const float *)c->work) return xin;
    return padded_input(c, p, cd, x);
}

void hsi_cuda_conv_forward(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd, const float *x,
                           const float *w, const float *bias, hsi_cnn_activation act, float *y,
                           float *work)
{
    (void)work;
    struct cuda_ctx *c = cuda_ctx_of(be);
    char what[160];
    size_t limit;
    struct cuda_conv_plan *p = pass_start(c, cd, FWD, what, sizeof what, &limit);
    if (!p) return;
    const float *xin = padded_input(c, p, cd, x);
    if (choose(c, p, FWD, xin, w, y, what, limit)) return;
    xin = padded_again(c, p, cd, x, xin);
    const float one = 1.0f, zero = 0.0f;
    if (hsi_cudnn_check(c, cudnnConvolutionForward(c->dnn, &one, p->x, xin, p->w, w, p->conv[FWD],
                                                   (cudnnConvolutionFwdAlgo_t)p->algo[FWD],
                                                   (char *)c->work + p->pad_bytes, p->ws[FWD], &zero,
                                                   p->y, y),
                        "cudnnConvolutionForward", what))
        return;
    hsi_cuda_bias_act(c, (size_t)cd->n, cd->f, (size_t)cd->od * cd->oh * cd->ow, bias, act, y);
}

void hsi_cuda_conv_backward_data(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                 const float *dy, const float *w, float *dx, float *work)
{
    (void)work;
    struct cuda_ctx *c = cuda_ctx_of(be);
    char what[160];
    size_t limit;
    struct cuda_conv_plan *p = pass_start(c, cd, BWD_DATA, what, sizeof what, &limit);
    if (!p) return;
    /* With explicit padding cuDNN writes the padded input's gradient into
     * the workspace, and the crop below takes dx from it. */
    float *target = p->explicit_pad ? (float *)c->work : dx;
    if (choose(c, p, BWD_DATA, target, w, dy, what, limit)) return;
    if (p->explicit_pad) target = (float *)c->work; /* the search may have moved it */
    const float one = 1.0f, zero = 0.0f;
    if (hsi_cudnn_check(c, cudnnConvolutionBackwardData(c->dnn, &one, p->w, w, p->y, dy,
                                                        p->conv[BWD_DATA],
                                                        (cudnnConvolutionBwdDataAlgo_t)p->algo[BWD_DATA],
                                                        (char *)c->work + p->pad_bytes,
                                                        p->ws[BWD_DATA], &zero, p->x, target),
                        "cudnnConvolutionBackwardData", what))
        return;
    if (p->explicit_pad)
        hsi_cuda_pad_general(c, cd->n * cd->c, cd->d, cd->h, cd->w, p->before, p->after, target,
                             dx, 1);
}

void hsi_cuda_conv_backward_filter(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                   const float *x, const float *dy, float *dw, float *dbias,
                                   float *work)
{
    (void)work;
    struct cuda_ctx *c = cuda_ctx_of(be);
    char what[160];
    size_t limit;
    struct cuda_conv_plan *p = pass_start(c, cd, BWD_FILTER, what, sizeof what, &limit);
    if (!p) return;
    const float *xin = padded_input(c, p, cd, x);
    if (choose(c, p, BWD_FILTER, xin, dw, dy, what, limit)) return;
    xin = padded_again(c, p, cd, x, xin);
    const float one = 1.0f, zero = 0.0f;
    if (hsi_cudnn_check(c, cudnnConvolutionBackwardFilter(c->dnn, &one, p->x, xin, p->y, dy,
                                                          p->conv[BWD_FILTER],
                                                          (cudnnConvolutionBwdFilterAlgo_t)p->algo[BWD_FILTER],
                                                          (char *)c->work + p->pad_bytes,
                                                          p->ws[BWD_FILTER], &zero, p->w, dw),
                        "cudnnConvolutionBackwardFilter", what))
        return;
    if (dbias) hsi_cuda_channel_sums(c, cd->n, cd->f, (size_t)cd->od * cd->oh * cd->ow, dy, dbias);
}
