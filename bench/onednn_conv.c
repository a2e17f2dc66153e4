/* onednn_conv.c - the Lange et al. net's three 3-D convolutions run by
 * oneDNN (Debian's libdnnl, the library whose convolution primitives
 * TensorFlow and PyTorch call on CPUs), timed pass by pass, to decide by
 * measurement whether hsi should hand its convolutions to oneDNN.
 *
 *   onednn_conv BANDS [BATCH [REPS]]     (defaults: 220 bands, batch 50, 20 reps)
 *
 * Geometry, as hsi runs the net (cnn3d/specs/lange2018.cfg, zero padding
 * folded into the next conv), tensors (N, C, D, H, W), D = bands:
 *   conv1  x (N,  1, B,       9, 9) * w (48,  1, 5, 3, 3)          -> (N, 48, B-4,  7, 7)
 *   pool 3 on D, then conv2 with depth padding 2:
 *   conv2  x (N, 48, P1,      7, 7) * w (32, 48, 5, 3, 3), pad 2,0,0 -> (N, 32, P1,  5, 5)
 *   conv3  x (N, 32, P2,      5, 5) * w (32, 32, 5, 3, 3), pad 2,0,0 -> (N, 32, P2,  3, 3)
 * with P1 = (B-4)/3, P2 = P1/3.
 *
 * For each layer: forward with the ReLU fused as a post-op (training
 * propagation kind, as in a training step), the filter (and bias) gradient
 * and the data gradient (not needed for conv1 in training: in brackets), in
 * the memory layout oneDNN prefers for the shape (format "any": blocked
 * nCdhw16c/8c on AVX-512/AVX2), which is the best case for oneDNN: a net
 * built on it keeps activations blocked between layers. The cost of
 * reordering the plain (N, C, D, H, W) activations hsi uses into and out of
 * that layout is printed separately, as is the implementation oneDNN chose
 * (e.g. "brgconv:avx512_core", "jit:avx2", "gemm:jit"). With ONEDNN_PLAIN=1
 * in the environment the primitives are asked for the plain layouts instead
 * (activations ncdhw, filters oidhw), which is what a drop-in replacement
 * of hsi's convolutions, with hsi's own pooling around them, would get.
 * Milliseconds per
 * batch (mean of REPS after a warm-up call) and GFLOP/s (2 per multiply-add,
 * as `hsi cnn summary` and bench/cnn_layers count them).
 *
 * Built and run by bench/onednn_compare.sh next to bench/cnn_layers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        dnnl_status_t s_ = (call);                                                       \
        if (s_ != dnnl_success) {                                                        \
            fprintf(stderr, "onednn_conv: %s failed (status %d) at line %d\n", #call,    \
                    (int)s_, __LINE__);                                                  \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* A oneDNN memory of descriptor md, filled with small deterministic values
 * (the timing does not depend on them; denormals are avoided). */
static dnnl_memory_t make_memory(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE));
    void *p;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < n; i++) f[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return m;
}

static const char *impl_name(const_dnnl_primitive_desc_t pd)
{
    const char *s = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

/* Mean milliseconds of REPS executions of prim with args (after one warm-up). */
static double time_prim(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args, int reps)
{
    CHECK(dnnl_primitive_execute(prim, stream, nargs, args));
    CHECK(dnnl_stream_wait(stream));
    double t = now();
    for (int r = 0; r < reps; r++) CHECK(dnnl_primitive_execute(prim, stream, nargs, args));
    CHECK(dnnl_stream_wait(stream));
    return (now() - t) * 1e3 / reps;
}

/* Milliseconds of a reorder between the plain ncdhw layout and md (either way). */
static double time_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int reps)
{
    if (dnnl_memory_desc_equal(from, to)) return 0;
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL));
    dnnl_primitive_t prim;
    CHECK(dnnl_primitive_create(&prim, pd));
    dnnl_memory_t a = make_memory(from), b = make_memory(to);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    double ms = time_prim(prim, 2, args, reps);
    dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(a), dnnl_memory_destroy(b);
    return ms;
}

typedef struct conv_geom {
    int n, c, d, h, w; /* input */
    int f, kd, kh, kw; /* filters, kernel */
    int pd;            /* depth padding each side */
} conv_geom;

static void run_layer(int index, const conv_geom *g, int reps, double totals[4])
{
    int plain = getenv("ONEDNN_PLAIN") && atoi(getenv("ONEDNN_PLAIN"));
    dnnl_format_tag_t act_tag = plain ? dnnl_ncdhw : dnnl_format_tag_any;
    dnnl_format_tag_t wei_tag = plain ? dnnl_oidhw : dnnl_format_tag_any;
    int od = g->d + 2 * g->pd - g->kd + 1, oh = g->h - g->kh + 1, ow = g->w - g->kw + 1;
    dnnl_dims_t src_dims = {g->n, g->c, g->d, g->h, g->w};
    dnnl_dims_t wei_dims = {g->f, g->c, g->kd, g->kh, g->kw};
    dnnl_dims_t bia_dims = {g->f};
    dnnl_dims_t dst_dims = {g->n, g->f, od, oh, ow};
    dnnl_dims_t strides = {1, 1, 1}, pad_l = {g->pd, 0, 0}, pad_r = {g->pd, 0, 0};
    dnnl_memory_desc_t src_any, wei_any, bia_md, dst_any, src_plain, dst_plain;
    CHECK(dnnl_memory_desc_init_by_tag(&src_any, 5, src_dims, dnnl_f32, act_tag));
    CHECK(dnnl_memory_desc_init_by_tag(&wei_any, 5, wei_dims, dnnl_f32, wei_tag));
    CHECK(dnnl_memory_desc_init_by_tag(&bia_md, 1, bia_dims, dnnl_f32, dnnl_a));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 5, dst_dims, dnnl_f32, act_tag));
    CHECK(dnnl_memory_desc_init_by_tag(&src_plain, 5, src_dims, dnnl_f32, dnnl_ncdhw));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_plain, 5, dst_dims, dnnl_f32, dnnl_ncdhw));

    /* Forward, ReLU fused. */
    dnnl_convolution_desc_t fd;
    CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                             &src_any, &wei_any, &bia_md, &dst_any, strides,
                                             pad_l, pad_r));
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_post_ops_create(&po));
    CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t fpd;
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL));
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
    dnnl_memory_t src = make_memory(src_md), wei = make_memory(wei_md), bia = make_memory(&bia_md);
    dnnl_memory_t dst = make_memory(dst_md);
    dnnl_primitive_t fwd;
    CHECK(dnnl_primitive_create(&fwd, fpd));
    dnnl_exec_arg_t fargs[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei},
                                {DNNL_ARG_BIAS, bia}, {DNNL_ARG_DST, dst}};
    double ms_fwd = time_prim(fwd, 4, fargs, reps);

    /* Filter and bias gradient. */
    dnnl_convolution_desc_t wd;
    CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_any,
                                                      &wei_any, &bia_md, &dst_any, strides,
                                                      pad_l, pad_r));
    dnnl_primitive_desc_t wpd;
    CHECK(dnnl_primitive_desc_create(&wpd, &wd, NULL, engine, fpd));
    const dnnl_memory_desc_t *wsrc_md = dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wdw_md =
        dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *wdd_md = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0);
    dnnl_memory_t wsrc = make_memory(wsrc_md), dw = make_memory(wdw_md), db = make_memory(&bia_md);
    dnnl_memory_t wdd = make_memory(wdd_md);
    dnnl_primitive_t bww;
    CHECK(dnnl_primitive_create(&bww, wpd));
    dnnl_exec_arg_t wargs[4] = {{DNNL_ARG_SRC, wsrc}, {DNNL_ARG_DIFF_DST, wdd},
                                {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}};
    double ms_w = time_prim(bww, 4, wargs, reps);

    /* Data gradient. */
    dnnl_convolution_desc_t dd;
    CHECK(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src_any,
                                                   &wei_any, &dst_any, strides, pad_l, pad_r));
    dnnl_primitive_desc_t dpd;
    CHECK(dnnl_primitive_desc_create(&dpd, &dd, NULL, engine, fpd));
    const dnnl_memory_desc_t *dsrc_md =
        dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0);
    const dnnl_memory_desc_t *dwei_md = dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *ddst_md =
        dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0);
    dnnl_memory_t dsrc = make_memory(dsrc_md), dwei = make_memory(dwei_md);
    dnnl_memory_t ddst = make_memory(ddst_md);
    dnnl_primitive_t bwd;
    CHECK(dnnl_primitive_create(&bwd, dpd));
    dnnl_exec_arg_t dargs[3] = {{DNNL_ARG_DIFF_SRC, dsrc}, {DNNL_ARG_WEIGHTS, dwei},
                                {DNNL_ARG_DIFF_DST, ddst}};
    double ms_d = time_prim(bwd, 3, dargs, reps);

    /* Plain <-> preferred layout: input in, output out (forward), and the
     * output gradient in (backward). */
    double ms_re = time_reorder(&src_plain, src_md, reps) + time_reorder(dst_md, &dst_plain, reps) +
                   time_reorder(&dst_plain, ddst_md, reps);

    double flops = 2.0 * g->n * g->f * od * oh * ow * (double)g->c * g->kd * g->kh * g->kw;
    int first = g->c == 1;
    printf("%2d conv3d %3dx%-3d forward %7.1f (%4.0f GFLOP/s)  filter %7.1f (%4.0f)  "
           "data %s%7.1f (%4.0f)%s  reorders %5.1f  [%s | %s | %s]\n",
           index, g->c, g->f, ms_fwd, flops / ms_fwd * 1e-6, ms_w, flops / ms_w * 1e-6,
           first ? "[" : " ", ms_d, flops / ms_d * 1e-6, first ? "]" : " ", ms_re,
           impl_name(fpd), impl_name(wpd), impl_name(dpd));
    totals[0] += ms_fwd, totals[1] += ms_w, totals[2] += first ? 0 : ms_d, totals[3] += ms_re;

    dnnl_primitive_destroy(fwd), dnnl_primitive_destroy(bww), dnnl_primitive_destroy(bwd);
    dnnl_primitive_desc_destroy(fpd), dnnl_primitive_desc_destroy(wpd);
    dnnl_primitive_desc_destroy(dpd);
    dnnl_post_ops_destroy(po), dnnl_primitive_attr_destroy(attr);
    dnnl_memory_t all[] = {src, wei, bia, dst, wsrc, dw, db, wdd, dsrc, dwei, ddst};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dnnl_memory_destroy(all[i]);
}

int main(int argc, char **argv)
{
    int bands = argc > 1 ? atoi(argv[1]) : 220;
    int batch = argc > 2 ? atoi(argv[2]) : 50;
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    if (bands < 40 || batch < 1 || reps < 1) {
        fprintf(stderr, "usage: onednn_conv BANDS [BATCH [REPS]]  (BANDS >= 40)\n");
        return 2;
    }
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    int p1 = (bands - 4) / 3, p2 = p1 / 3;
    conv_geom layers[3] = {
        {batch, 1, bands, 9, 9, 48, 5, 3, 3, 0},
        {batch, 48, p1, 7, 7, 32, 5, 3, 3, 2},
        {batch, 32, p2, 5, 5, 32, 5, 3, 3, 2},
    };
    const char *plain = getenv("ONEDNN_PLAIN");
    printf("# oneDNN %d.%d.%d (%s runtime), Lange net convolutions at 9x9x%d, batch %d, %s layout, "
           "ms per batch (mean of %d)\n",
           v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
           bands, batch, plain && atoi(plain) ? "plain ncdhw" : "preferred", reps);
    double totals[4] = {0};
    for (int i = 0; i < 3; i++) run_layer(i + 1, &layers[i], reps, totals);
    printf("# convolutions of a training step (forward + filter + data, conv1 data excluded): "
           "%.1f ms per batch; inference (forward): %.1f ms; plain-layout reorders: %.1f ms\n",
           totals[0] + totals[1] + totals[2], totals[0], totals[3]);
    dnnl_stream_destroy(stream), dnnl_engine_destroy(engine);
    return 0;
}
