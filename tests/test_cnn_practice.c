/* test_cnn_practice.c - the 3D-CNN in practice: learning-rate schedules and
 * warm-up (rates by hand), augmentation (flips and rotations permute a patch
 * exactly, jitter is reproducible from a seed and has the stated form,
 * mixing stays within a class), frozen layers (no update, no optimiser
 * state change; a backward pass that skips their work gives the full
 * pass's steps bit for bit), transfer learning (copied, replaced, refused), and a
 * resumed run that continues the schedule, the plateau state and the
 * augmentation draws bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "tests/check.h"

/* ---------------------------------------------------------------- schedules */

static const char *net_text(const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "[net]\ninput = 5, 5, auto\nclasses = auto\nbatch = 16\nepochs = 10\n"
             "loss = cce\noptimizer = adam\nlearning_rate = 0.1\n%s"
             "[conv3d]\nfilters = 4\nkernel = 3, 3, 3\nactivation = relu\n"
             "[maxpool3d]\nsize = 1, 1, 2\n[flatten]\n"
             "[dense]\nunits = 8\nactivation = relu\n[dense]\nunits = classes\nactivation = softmax\n",
             extra);
    return buf;
}

static hsi_cnn_net *make_net(const char *extra, int bands, int classes, uint64_t seed)
{
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_spec_parse(net_text(extra), "t.cfg", &spec));
    if (!spec) return NULL;
    hsi_cnn_net_options o = {.bands = bands, .classes = classes, .training = 1, .seed = seed};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    return net;
}

static double lr_at(hsi_cnn_net *net, int epoch, uint64_t iterations)
{
    net->epoch = epoch;
    net->iterations = iterations;
    return hsi_cnn_current_lr(net);
}

static void test_schedules(void)
{
    hsi_cnn_schedule s = {.warmup = 3};
    CHECK_OK(hsi_cnn_schedule_parse("step:4:0.5", "--schedule", &s));
    CHECK(s.kind == HSI_CNN_SCHED_STEP && s.step == 4 && s.gamma == 0.5 && s.warmup == 3);
    CHECK_OK(hsi_cnn_schedule_parse("plateau", "--schedule", &s));
    CHECK(s.kind == HSI_CNN_SCHED_PLATEAU && s.patience == 5 && s.gamma == 0.1 && s.min_lr == 0);
    CHECK_OK(hsi_cnn_schedule_parse("cosine:1e-5", "--schedule", &s));
    CHECK(s.kind == HSI_CNN_SCHED_COSINE && s.min_lr == 1e-5);
    char buf[96];
    hsi_cnn_schedule_format(&s, buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "cosine:1e-05, warm-up 3 epochs"), "%s", buf);
    CHECK_FAILS(hsi_cnn_schedule_parse("linear", "--schedule", &s), HSI_ERR_ARG, "--schedule 'linear'");
    CHECK_FAILS(hsi_cnn_schedule_parse("step:0", "--schedule", &s), HSI_ERR_ARG, "step[:EVERY");
    CHECK_FAILS(hsi_cnn_schedule_parse("step:2.5", "--schedule", &s), HSI_ERR_ARG, "step");
    CHECK_FAILS(hsi_cnn_schedule_parse("step:2:1.5", "--schedule", &s), HSI_ERR_ARG, "GAMMA");
    CHECK_FAILS(hsi_cnn_schedule_parse("cosine:1:2", "--schedule", &s), HSI_ERR_ARG, "cosine");
    CHECK_FAILS(hsi_cnn_schedule_parse("plateau:3:0.5:0:9", "--schedule", &s), HSI_ERR_ARG, "plateau");

    /* In a spec: errors name the file and line. */
    hsi_cnn_spec *spec = NULL;
    CHECK_FAILS(hsi_cnn_spec_parse(net_text("schedule = sine\n"), "t.cfg", &spec), HSI_ERR_FORMAT,
                "t.cfg:9: [net] schedule = 'sine'");
    CHECK_FAILS(hsi_cnn_spec_parse(net_text("augment = flip,spin\n"), "t.cfg", &spec),
                HSI_ERR_FORMAT, "t.cfg:9: [net] augment = 'flip,spin'");
    CHECK_FAILS(hsi_cnn_spec_parse(net_text("warmup = -1\n"), "t.cfg", &spec), HSI_ERR_FORMAT,
                "t.cfg:9: [net] warmup");

    /* step:3:0.5 on 0.1: epochs 0-2 0.1, 3-5 0.05, 6-8 0.025. */
    hsi_cnn_net *net = make_net("schedule = step:3:0.5\n", 6, 3, 1);
    if (!net) return;
    CHECK_NEAR(lr_at(net, 0, 0), 0.1, 1e-15);
    CHECK_NEAR(lr_at(net, 2, 50), 0.1, 1e-15);
    CHECK_NEAR(lr_at(net, 3, 60), 0.05, 1e-15);
    CHECK_NEAR(lr_at(net, 8, 160), 0.025, 1e-15);
    hsi_cnn_net_free(net);

    /* cosine:0.01 with warm-up 2 over 10 epochs: T = 8; epoch 6 is t = 4, the
     * midpoint: 0.01 + 0.09 / 2. Warm-up with 5 steps an epoch: step i
     * (0-based) of the first 10 runs at 0.1 (i + 1) / 10. */
    net = make_net("schedule = cosine:0.01\nwarmup = 2\n", 6, 3, 1);
    if (!net) return;
    net->epoch_steps = 5;
    CHECK_NEAR(lr_at(net, 0, 0), 0.01, 1e-15);
    CHECK_NEAR(lr_at(net, 1, 6), 0.07, 1e-15);
    CHECK_NEAR(lr_at(net, 2, 10), 0.1, 1e-15);
    CHECK_NEAR(lr_at(net, 6, 30), 0.055, 1e-15);
    CHECK_NEAR(lr_at(net, 10, 50), 0.01, 1e-15);
    CHECK_NEAR(lr_at(net, 4, 20), 0.01 + 0.09 * 0.5 * (1 + cos(M_PI * 2 / 8)), 1e-15);
    /* Without a step count (a hand loop of train steps): per epoch. */
    net->epoch_steps = 0;
    CHECK_NEAR(lr_at(net, 0, 0), 0.1 / 3, 1e-15);
    hsi_cnn_net_free(net);

    /* Keras decay multiplies: 0.1 / (1 + 0.5 x 4) x 0.5 at step 4 of epoch 3. */
    net = make_net("decay = 0.5\nschedule = step:3:0.5\n", 6, 3, 1);
    if (!net) return;
    CHECK_NEAR(lr_at(net, 3, 4), 0.1 / 3.0 * 0.5, 1e-15);
    hsi_cnn_net_free(net);

    /* plateau:2:0.5:0.03: the watched loss 1.0, 0.9, 0.95, 0.95 (2 without
     * improvement: x 0.5), 0.95, 0.95 (x 0.5 again, floored at 0.03),
     * then 0.8 (improves: stays). The warm-up epoch (1) is not watched. */
    net = make_net("schedule = plateau:2:0.5:0.03\nwarmup = 1\n", 6, 3, 1);
    if (!net) return;
    double watched[] = {5.0, 1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8};
    double want[] = {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03};
    net->epoch_steps = 1;
    for (int e = 0; e < 8; e++) {
        net->epoch = e + 1;
        hsi_cnn_schedule_epoch_end(net, watched[e]);
        CHECK_NEAR(lr_at(net, e + 1, 100), want[e], 1e-15);
    }
    CHECK_INT_EQ(net->sched.wait, 0);
    CHECK(net->sched.best == 0.8);
    hsi_cnn_net_free(net);
}

/* ---------------------------------------------------------------- augmentation */

/* The 8 images of a patch under the dihedral group: flips then k quarter
 * turns, computed here independently of augment.c: rotation by 90 degrees
 * counter-clockwise moves the pixel at (row r, column c) to (w-1-c, r). */
static void dihedral(const float *src, float *dst, int planes, int s, int fx, int fy, int k)
{
    for (int p = 0; p < planes; p++)
        for (int r = 0; r < s; r++)
            for (int c = 0; c < s; c++) {
                int rr = fy ? s - 1 - r : r, cc = fx ? s - 1 - c : c;
                for (int t = 0; t < k; t++) {
                    int nr = s - 1 - cc, nc = rr;
                    rr = nr, cc = nc;
                }
                dst[(p * s + rr) * s + cc] = src[(p * s + r) * s + c];
            }
}

static void test_augment(void)
{
    hsi_cnn_augment a;
    CHECK_OK(hsi_cnn_augment_parse("flip, rotate,gain:0.1,offset:0.2,mix:0.5", "--augment", &a));
    CHECK(a.flip && a.rotate && a.gain == 0.1 && a.offset == 0.2 && a.mix == 0.5);
    char buf[96];
    hsi_cnn_augment_format(&a, buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "flip,rotate,gain:0.1,offset:0.2,mix:0.5"), "%s", buf);
    CHECK_OK(hsi_cnn_augment_parse("none", "--augment", &a));
    CHECK(!hsi_cnn_augment_active(&a));
    CHECK_FAILS(hsi_cnn_augment_parse("flip,gain:2", "--augment", &a), HSI_ERR_ARG, "gain:SD (0..1)");
    CHECK_FAILS(hsi_cnn_augment_parse("mix", "--augment", &a), HSI_ERR_ARG, "--augment 'mix'");

    /* Flips and rotations: every output patch is exactly one of the 8
     * dihedral images of its input (values are unique, so a permutation is
     * recognised), every band moved alike, and all 8 occur. */
    enum { S = 5, D = 3, N = 64 };
    hsi_cnn_shape shape = {1, D, S, S};
    size_t sz = hsi_cnn_shape_size(shape);
    float *x = malloc(N * sz * sizeof *x), *orig = malloc(N * sz * sizeof *orig);
    float img[D * S * S];
    int32_t labels[N];
    for (size_t i = 0; i < N * sz; i++) orig[i] = (float)i;
    for (int i = 0; i < N; i++) labels[i] = i % 4;
    memcpy(x, orig, N * sz * sizeof *x);
    hsi_cnn_augment geo = {.flip = 1, .rotate = 1};
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    CHECK_OK(hsi_cnn_augment_batch(&geo, &rng, shape, x, labels, N));
    /* The group has 8 elements: a flip of x or not, then 0..3 quarter turns
     * (a flip of y is a flip of x and a half turn). */
    int seen[8] = {0}, matched = 0;
    for (int i = 0; i < N; i++) {
        int found = -1;
        for (int g = 0; g < 8 && found < 0; g++) {
            dihedral(orig + i * sz, img, D, S, g >> 2, 0, g & 3);
            if (!memcmp(img, x + i * sz, sz * sizeof *x)) found = g;
        }
        if (found >= 0) matched++, seen[found]++;
    }
    CHECK_INT_EQ(matched, N);
    int kinds = 0;
    for (int g = 0; g < 8; g++) kinds += seen[g] > 0;
    CHECK_MSG(kinds == 8, "only %d of the 8 dihedral images drawn in %d patches", kinds, N);
    /* A non-square patch cannot rotate. */
    CHECK_FAILS(hsi_cnn_augment_batch(&geo, &rng, (hsi_cnn_shape){1, D, 3, 5}, x, labels, 1),
                HSI_ERR_ARG, "square patch");

    /* Gain and offset: per patch, y = g x + o with one g and one o for the
     * whole patch; the same seed gives the same bytes, another seed others. */
    hsi_cnn_augment jit = {.gain = 0.1, .offset = 0.2};
    float *y1 = malloc(N * sz * sizeof *y1), *y2 = malloc(N * sz * sizeof *y2);
    memcpy(y1, orig, N * sz * sizeof *x);
    memcpy(y2, orig, N * sz * sizeof *x);
    hsi_rng_seed(&rng, 11);
    CHECK_OK(hsi_cnn_augment_batch(&jit, &rng, shape, y1, labels, N));
    hsi_rng_seed(&rng, 11);
    CHECK_OK(hsi_cnn_augment_batch(&jit, &rng, shape, y2, labels, N));
    CHECK(!memcmp(y1, y2, N * sz * sizeof *y1));
    hsi_rng_seed(&rng, 12);
    memcpy(y2, orig, N * sz * sizeof *x);
    CHECK_OK(hsi_cnn_augment_batch(&jit, &rng, shape, y2, labels, N));
    CHECK(memcmp(y1, y2, N * sz * sizeof *y1) != 0);
    /* The draws by hand: gain then offset for each patch in turn. */
    hsi_rng_seed(&rng, 11);
    double max_err = 0;
    for (int i = 0; i < N; i++) {
        float g = (float)(1.0 + 0.1 * hsi_rng_normal(&rng));
        float o = (float)(0.2 * hsi_rng_normal(&rng));
        for (size_t v = 0; v < sz; v++) {
            double e = fabs(y1[i * sz + v] - (g * orig[i * sz + v] + o));
            if (e > max_err) max_err = e;
        }
    }
    CHECK_MSG(max_err == 0, "jitter differs from g x + o by %g", max_err);

    /* Mixing: a blend of the patch with a patch of its own class, weight at
     * most 1/2; a patch alone in its class stays as it is. */
    hsi_cnn_augment mix = {.mix = 1.0};
    int32_t lab3[3] = {0, 0, 1};
    float m[3 * D * S * S], m0[3 * D * S * S];
    for (size_t v = 0; v < 3 * sz; v++) m0[v] = (float)(v / sz) * 10.0f + 1.0f; /* 1, 11, 21 */
    memcpy(m, m0, sizeof m);
    hsi_rng_seed(&rng, 3);
    CHECK_OK(hsi_cnn_augment_batch(&mix, &rng, shape, m, lab3, 3));
    for (size_t v = 0; v < sz; v++) {
        CHECK(m[v] >= 1.0f && m[v] <= 6.0f);                 /* 1 blended toward 11 */
        CHECK(m[sz + v] >= 6.0f && m[sz + v] <= 11.0f);      /* 11 blended toward 1 */
        CHECK(m[2 * sz + v] == 21.0f);                       /* class 1: alone */
    }
    CHECK(m[0] != 1.0f || m[sz] != 11.0f);
    free(x), free(orig), free(y1), free(y2);
}

/* ---------------------------------------------------------------- freezing, transfer */

static void test_freeze(void)
{
    hsi_cnn_net *net = make_net("", 6, 3, 5);
    if (!net) return;
    /* Layers: conv3d_1 maxpool3d_1 flatten_1 dense_1 dense_2. */
    uint8_t f[5];
    CHECK_OK(hsi_cnn_freeze_parse("conv3d_1,dense_1", net->spec->layers, 5, f));
    CHECK(f[0] && !f[1] && !f[2] && f[3] && !f[4]);
    CHECK_OK(hsi_cnn_freeze_parse("2-4", net->spec->layers, 5, f));
    CHECK(!f[0] && f[1] && f[2] && f[3] && !f[4]);
    CHECK_OK(hsi_cnn_freeze_parse("4-", net->spec->layers, 5, f));
    CHECK(!f[0] && !f[1] && !f[2] && f[3] && f[4]);
    CHECK_OK(hsi_cnn_freeze_parse("all-but-head", net->spec->layers, 5, f));
    CHECK(f[0] && f[1] && f[2] && f[3] && !f[4]);
    CHECK_FAILS(hsi_cnn_freeze_parse("conv3d_2", net->spec->layers, 5, f), HSI_ERR_ARG,
                "no layer named 'conv3d_2'");
    CHECK_FAILS(hsi_cnn_freeze_parse("0-2", net->spec->layers, 5, f), HSI_ERR_ARG, "1..5");
    CHECK_FAILS(hsi_cnn_freeze_parse("3-9", net->spec->layers, 5, f), HSI_ERR_ARG, "1..5");
    CHECK_FAILS(hsi_cnn_freeze_parse("2x", net->spec->layers, 5, f), HSI_ERR_ARG, "ranges");

    /* Freeze conv3d_1 and dense_2 (the head): one step changes only dense_1,
     * and the frozen layers' Adam moments stay zero. */
    CHECK_OK(hsi_cnn_freeze_parse("1,5", net->spec->layers, 5, f));
    CHECK_OK(hsi_cnn_net_set_frozen(net, f));
    size_t conv = net->layers[0].n_weights + net->layers[0].n_bias;
    size_t d1 = net->layers[3].n_weights + net->layers[3].n_bias;
    size_t head = net->layers[4].n_weights + net->layers[4].n_bias;
    CHECK_INT_EQ(hsi_cnn_trainable_params(net), d1);
    CHECK_INT_EQ(conv + d1 + head, net->n_params);
    float *before = malloc(net->n_params * sizeof *before);
    memcpy(before, net->params, net->n_params * sizeof *before);
    for (size_t i = 0; i < net->n_params; i++) net->grads[i] = 0.5f;
    hsi_cnn_optimizer_step(net);
    int conv_same = !memcmp(before, net->params, conv * sizeof *before);
    int head_same = !memcmp(before + conv + d1, net->params + conv + d1, head * sizeof *before);
    int d1_moved = 1;
    for (size_t i = conv; i < conv + d1; i++) d1_moved &= net->params[i] != before[i];
    CHECK(conv_same && head_same && d1_moved);
    int moments_zero = 1;
    for (size_t i = 0; i < conv; i++) moments_zero &= net->opt_m[i] == 0 && net->opt_v[i] == 0;
    for (size_t i = conv + d1; i < net->n_params; i++)
        moments_zero &= net->opt_m[i] == 0 && net->opt_v[i] == 0;
    CHECK(moments_zero);
    CHECK(net->opt_m[conv] != 0);

    /* The summary marks them and counts them out of the trainable params. */
    char *text = NULL;
    CHECK_OK(hsi_cnn_summary_frozen(net->spec, 6, 3, f, &text));
    if (text) {
        CHECK(strstr(text, "conv3d_1 (relu) *") != NULL);
        CHECK(strstr(text, "dense_2 (softmax) *") != NULL);
        CHECK(strstr(text, "dense_1 (relu) *") == NULL);
        char want[64];
        snprintf(want, sizeof want, "Trainable params: %zu\n", d1);
        CHECK_MSG(strstr(text, want) != NULL, "%s", text);
    }
    free(text);
    free(before);
    hsi_cnn_net_free(net);
}

/* Frozen layers and the backward pass: it stops at the lowest layer that
 * trains and skips the frozen layers' own gradients, so a step with frozen
 * layers must give exactly what the full backward pass gives when the
 * optimiser then skips the frozen layers (the reference: the same net and
 * seed, unfrozen for its backward pass, frozen for its update). Bit for bit:
 * the losses, all parameters, the Adam moments, the batch-norm running
 * statistics, the trainable layers' gradients and (when wanted) the input's
 * gradient. The frozen layers' gradients that need not be computed are not:
 * they keep a sentinel. */
static const char *freeze_net_text =
    "[net]\ninput = 5, 5, auto\nclasses = auto\nbatch = 16\nloss = cce\n"
    "optimizer = adam\nlearning_rate = 0.01\n"
    "[conv3d]\nfilters = 4\nkernel = 3, 3, 3\nactivation = relu\n" /* 1 */
    "[maxpool3d]\nsize = 1, 1, 2\n"                               /* 2 */
    "[conv3d]\nfilters = 4\nkernel = 1, 1, 3\n"                  /* 3 */
    "[batchnorm]\nactivation = relu\n"                            /* 4 */
    "[flatten]\n"                                                 /* 5 */
    "[dense]\nunits = 8\nactivation = relu\n"                    /* 6 */
    "[dropout]\nrate = 0.3\n"                                     /* 7 */
    "[dense]\nunits = classes\nactivation = softmax\n";          /* 8 */

/* Recurrent layers: lstm_1 gru_1 flatten_1 dense_1. */
static const char *freeze_rnn_text =
    "[net]\ninput = 3, 3, auto\nclasses = auto\nbatch = 16\nloss = cce\n"
    "optimizer = adam\nlearning_rate = 0.01\n"
    "[lstm]\nunits = 4\nreturn_sequences = 1\n[gru]\nunits = 3\nreturn_sequences = 1\n"
    "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n";

static hsi_cnn_net *freeze_net(const char *text)
{
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_spec_parse(text, "f.cfg", &spec));
    if (!spec) return NULL;
    hsi_cnn_net_options o = {.bands = 8, .classes = 3, .training = 1, .seed = 31};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    return net;
}

static int same_floats(const float *a, const float *b, size_t n)
{
    return !memcmp(a, b, n * sizeof *a);
}

/* Trains the net of spec `text` a few batches with layers `which` frozen,
 * against the reference; stop: the lowest layer (0-based) whose backward
 * pass must run. */
static void check_frozen_steps(const char *text, const char *which, int want_input_grad,
                               int stop)
{
    const float sentinel = 7.25f;
    enum { N = 12, STEPS = 4 };
    hsi_cnn_net *a = freeze_net(text), *b = freeze_net(text);
    float *x = NULL;
    if (!a || !b) goto out;
    uint8_t f[8];
    CHECK(a->n_layers <= 8);
    CHECK_OK(hsi_cnn_freeze_parse(which, a->spec->layers, a->n_layers, f));
    CHECK_OK(hsi_cnn_net_set_frozen(a, f));
    a->want_input_grad = b->want_input_grad = want_input_grad;
    for (size_t i = 0; i < a->n_params; i++) a->grads[i] = sentinel;
    size_t in_size = hsi_cnn_shape_size(a->input);
    x = malloc(N * in_size * sizeof *x);
    if (!x) goto out;
    hsi_rng rng;
    hsi_rng_seed(&rng, 77);
    int32_t labels[N];
    hsi_cnn_activation last = b->layers[b->n_layers - 1].spec.activation;
    for (int s = 0; s < STEPS; s++) {
        for (size_t v = 0; v < N * in_size; v++) x[v] = (float)hsi_rng_normal(&rng);
        for (int i = 0; i < N; i++) labels[i] = (int32_t)hsi_rng_below(&rng, 3);
        double la = hsi_cnn_train_step(a, x, labels, NULL, N, NULL);
        /* The reference: hsi_cnn_train_step's sequence with a full backward pass. */
        const float *p = hsi_cnn_forward(b, x, N, 1);
        int pre = 0;
        double lb = hsi_cnn_loss_eval(b->spec->loss, last, p, labels, NULL, N, b->classes,
                                      b->loss_grad, &pre);
        hsi_cnn_backward(b, NULL, N, pre);
        CHECK_OK(hsi_cnn_net_set_frozen(b, f));
        hsi_cnn_optimizer_step(b);
        CHECK_OK(hsi_cnn_net_set_frozen(b, NULL));
        CHECK_MSG(la == lb, "--freeze %s, step %d: loss %.17g, full backward pass %.17g", which,
                  s, la, lb);
        for (int i = 0; i < a->n_layers; i++) {
            const hsi_cnn_layer *L = &a->layers[i];
            size_t np = L->n_weights + L->n_bias, off = (size_t)(L->dw - a->grads);
            if (!np) continue;
            if (!f[i])
                CHECK_MSG(same_floats(a->grads + off, b->grads + off, np),
                          "--freeze %s, step %d: layer %d's gradients differ", which, s, i + 1);
            else if (L->spec.kind != HSI_CNN_BATCHNORM || i < stop) {
                /* Not computed (a frozen batchnorm above the stop computes its
                 * two sums for its dx, which is fine). */
                int kept = 1;
                for (size_t k = 0; k < np; k++) kept &= a->grads[off + k] == sentinel;
                CHECK_MSG(kept, "--freeze %s: frozen layer %d's gradients were computed", which,
                          i + 1);
            }
        }
        if (want_input_grad)
            CHECK_MSG(a->input_grad && b->input_grad &&
                          same_floats(a->input_grad, b->input_grad, N * in_size),
                      "--freeze %s, step %d: the input's gradient differs", which, s);
    }
    CHECK_MSG(same_floats(a->params, b->params, a->n_params) &&
                  same_floats(a->opt_m, b->opt_m, a->n_params) &&
                  same_floats(a->opt_v, b->opt_v, a->n_params),
              "--freeze %s: weights or Adam moments differ from the full backward pass's", which);
    CHECK_MSG(same_floats(a->state, b->state, a->n_state),
              "--freeze %s: batch-norm running statistics differ", which);
out:
    free(x);
    hsi_cnn_net_free(a), hsi_cnn_net_free(b);
}

static void test_freeze_backward(void)
{
    /* The convolutions and the batch norm (below the stop, in training
     * mode: its statistics still follow the batches) frozen: the pass stops
     * at dense_1. */
    check_frozen_steps(freeze_net_text, "1-4", 0, 5);
    /* conv3d_1, batchnorm_1 and the head frozen: the head and the batch
     * norm pass the gradient down to conv3d_2, the lowest that trains. */
    check_frozen_steps(freeze_net_text, "1,4,8", 0, 2);
    /* The input's gradient wanted: every layer runs, frozen ones without
     * their own gradients. */
    check_frozen_steps(freeze_net_text, "1-4", 1, 0);
    check_frozen_steps(freeze_net_text, "all-but-head", 1, 0);
    /* Nothing trains: no layer's backward pass runs, nothing moves. */
    check_frozen_steps(freeze_net_text, "1-8", 0, 8);
    /* Recurrent layers: a frozen gru passes the gradient down to the lstm
     * without its own dW; a frozen lstm below the stop does not run. */
    check_frozen_steps(freeze_rnn_text, "2", 0, 0);
    check_frozen_steps(freeze_rnn_text, "2,4", 0, 0);
    check_frozen_steps(freeze_rnn_text, "1", 0, 1);
    check_frozen_steps(freeze_rnn_text, "1-2", 1, 0);
}

static void test_transfer(void)
{
    hsi_cnn_net *src = make_net("", 6, 3, 21), *dst = make_net("", 6, 5, 22);
    hsi_cnn_net *other_bands = make_net("", 8, 3, 23);
    if (!src || !dst || !other_bands) return;
    char *report = NULL;
    CHECK_OK(hsi_cnn_transfer(dst, src, "a.ckpt", &report));
    size_t below_head = 0;
    for (int i = 0; i < dst->n_layers - 1; i++) below_head += dst->layers[i].n_weights + dst->layers[i].n_bias;
    CHECK(!memcmp(dst->params, src->params, below_head * sizeof(float)));
    CHECK(memcmp(dst->params + below_head, src->params + below_head, 8 * sizeof(float)) != 0);
    CHECK_MSG(report && strstr(report, "conv3d_1     copied") && strstr(report, "dense_1      copied") &&
                  strstr(report, "dense_2      replaced (5 classes, a.ckpt has 3)"),
              "%s", report ? report : "(none)");
    free(report);
    /* Another band count: the conv filters fit, the first dense layer does not. */
    CHECK_FAILS(hsi_cnn_transfer(other_bands, src, "a.ckpt", NULL), HSI_ERR_SIZE,
                "layer dense_1 has");
    CHECK_FAILS(hsi_cnn_transfer(other_bands, src, "a.ckpt", NULL), HSI_ERR_SIZE,
                "the band count differs (8, a.ckpt: 6)");
    hsi_cnn_net_free(src), hsi_cnn_net_free(dst), hsi_cnn_net_free(other_bands);
}

/* ---------------------------------------------------------------- resume */

#define RB 6
#define RS 5
typedef struct toy {
    size_t n;
    float *x;
    int32_t *y;
} toy;

static hsi_status gather_toy(void *ctx, const size_t *idx, size_t n, float *x)
{
    const toy *t = ctx;
    const size_t sz = RB * RS * RS;
    for (size_t i = 0; i < n; i++) memcpy(x + i * sz, t->x + idx[i] * sz, sz * sizeof(float));
    return HSI_OK;
}

static void make_toy(toy *t, size_t n, uint64_t seed)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    t->n = n;
    t->x = malloc(n * RB * RS * RS * sizeof(float));
    t->y = malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        int k = (int)hsi_rng_below(&rng, 3);
        t->y[i] = k;
        for (int v = 0; v < RB * RS * RS; v++)
            t->x[i * RB * RS * RS + v] = (float)(hsi_rng_normal(&rng) + (v / (RS * RS) == 2 * k));
    }
}

static void test_resume(const char *dir)
{
    /* 12 epochs straight, or 5 then a checkpoint round trip then 7 more: the
     * same weights, bit for bit, with a plateau schedule (its state crosses
     * the checkpoint), warm-up, augmentation (RNG draws) and a frozen layer. */
    const char *extra = "schedule = plateau:1:0.5\nwarmup = 1\naugment = flip,rotate,gain:0.05,mix:0.5\n";
    toy tr, va;
    make_toy(&tr, 96, 1);
    make_toy(&va, 24, 2);
    hsi_cnn_dataset dtr = {tr.n, tr.y, gather_toy, &tr}, dva = {va.n, va.y, gather_toy, &va};
    uint8_t f[5] = {0, 0, 0, 1, 0};
    hsi_cnn_net *a = make_net(extra, RB, 3, 9), *b = make_net(extra, RB, 3, 9);
    if (!a || !b) return;
    CHECK_OK(hsi_cnn_net_set_frozen(a, f));
    CHECK_OK(hsi_cnn_net_set_frozen(b, f));
    a->spec->epochs = b->spec->epochs = 12;
    hsi_cnn_train_options to = {.epochs = 12};
    CHECK_OK(hsi_cnn_train(a, &dtr, &dva, &to));
    to.epochs = 5;
    CHECK_OK(hsi_cnn_train(b, &dtr, &dva, &to));
    char path[4200];
    snprintf(path, sizeof path, "%s/half.ckpt", dir);
    CHECK_OK(hsi_cnn_checkpoint_write(path, b, NULL));
    hsi_cnn_net *c = NULL;
    CHECK_OK(hsi_cnn_checkpoint_read(path, 1, 0, NULL, &c, NULL));
    if (c) {
        CHECK(c->sched.scale == b->sched.scale && c->sched.wait == b->sched.wait &&
              c->sched.best == b->sched.best);
        CHECK(c->spec->augment.mix == 0.5 && c->spec->schedule.kind == HSI_CNN_SCHED_PLATEAU);
        CHECK(c->frozen && c->frozen[3] && !c->frozen[0]);
        CHECK_INT_EQ(c->spec->epochs, 12);
        to.epochs = 12;
        CHECK_OK(hsi_cnn_train(c, &dtr, &dva, &to));
        CHECK(!memcmp(a->params, c->params, a->n_params * sizeof(float)));
        CHECK(a->sched.scale == c->sched.scale);
        CHECK(a->sched.scale < 1.0); /* the plateau did reduce the rate */
        /* The frozen layer never moved from its initial weights. */
        hsi_cnn_net *fresh = make_net(extra, RB, 3, 9);
        size_t off = 0;
        for (int i = 0; i < 3; i++) off += a->layers[i].n_weights + a->layers[i].n_bias;
        size_t n3 = a->layers[3].n_weights + a->layers[3].n_bias;
        if (fresh) CHECK(!memcmp(fresh->params + off, a->params + off, n3 * sizeof(float)));
        hsi_cnn_net_free(fresh);
    }
    hsi_cnn_net_free(a), hsi_cnn_net_free(b), hsi_cnn_net_free(c);
    free(tr.x), free(tr.y), free(va.x), free(va.y);
}

int main(void)
{
    const char *dir = check_tmpdir("cnn_practice");
    test_schedules();
    test_augment();
    test_freeze();
    test_freeze_backward();
    test_transfer();
    test_resume(dir);
    return check_finish();
}
