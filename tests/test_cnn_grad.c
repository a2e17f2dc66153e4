/* test_cnn_grad.c - finite-difference gradient checks of every layer, every
 * activation and both losses, on small nets, with the reference (naive conv)
 * and the CPU (vol2col/depth-shift + sgemm) backends; the two backends'
 * analytic gradients also agree with each other.
 *
 * For a parameter or input value v: (L(v + h) - L(v - h)) / 2h must match the
 * backward pass. Dropout masks are held fixed by restoring the net's RNG
 * before every forward pass.
 */
#include <stdlib.h>

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "tests/check.h"

#define N_SAMPLES 3

typedef struct grad_case {
    const char *name;
    const char *spec;
    int bands, classes;
} grad_case;

static double loss_at(hsi_cnn_net *net, const float *x, const int32_t *labels, hsi_rng rng0)
{
    net->rng = rng0;
    const float *p = hsi_cnn_forward(net, x, N_SAMPLES, 1);
    return hsi_cnn_loss_eval(net->spec->loss, net->layers[net->n_layers - 1].spec.activation, p,
                             labels, NULL, N_SAMPLES, net->classes, NULL, NULL);
}

/* (L(v+h) - L(v-h)) / 2h for the value *v (restored after). A ReLU or max-pool
 * kink within h of the point makes the difference meaningless there: such
 * points show as one-sided differences (L(v+h) - L(v)) / h and
 * (L(v) - L(v-h)) / h that disagree; they are counted in *kinks and skipped
 * (NaN). */
static double central_difference(hsi_cnn_net *net, const float *x, const int32_t *labels,
                                 hsi_rng rng0, float *v, double h, int *kinks, int *tried)
{
    float keep = *v;
    double l0 = loss_at(net, x, labels, rng0);
    *v = keep + (float)h;
    double lp = loss_at(net, x, labels, rng0);
    *v = keep - (float)h;
    double lm = loss_at(net, x, labels, rng0);
    *v = keep;
    double forward = (lp - l0) / h, backward = (l0 - lm) / h;
    (*tried)++;
    if (fabs(forward - backward) > 2e-2 * fmax(fabs(forward), fabs(backward)) + 4e-4) {
        (*kinks)++;
        return NAN;
    }
    return (lp - lm) / (2 * h);
}

/* Compare a finite difference with the analytic value. */
static void check_one(const char *what, const char *name, size_t i, double fd, double an,
                      int *bad)
{
    double tol = 2e-2 * fmax(fabs(fd), fabs(an)) + 2e-4;
    if (fabs(fd - an) > tol && (*bad)++ < 5)
        fprintf(stderr, "%s: %s[%zu]: finite difference %.6g, backward %.6g\n", name, what, i, fd,
                an);
}

static void run_case(const grad_case *gc, const hsi_cnn_backend *be, float *grads_out,
                     float *input_grad_out)
{
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_parse(gc->spec, gc->name, &spec));
    if (!spec) return;
    hsi_cnn_net_options o = {.bands = gc->bands, .classes = gc->classes, .max_batch = N_SAMPLES,
                             .training = 1, .seed = 11, .backend = be};
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    if (!net) {
        hsi_cnn_spec_free(spec);
        return;
    }
    net->want_input_grad = 1;
    hsi_rng data_rng;
    hsi_rng_seed(&data_rng, 5);
    size_t in = hsi_cnn_shape_size(net->input) * N_SAMPLES;
    float *x = malloc(in * sizeof *x);
    for (size_t i = 0; i < in; i++) x[i] = (float)hsi_rng_normal(&data_rng);
    int32_t labels[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) labels[i] = (int32_t)((i * 2 + 1) % gc->classes);
    /* Biases start at zero: move them so their gradients are generic. */
    for (size_t i = 0; i < net->n_params; i++) net->params[i] += (float)(0.05 * hsi_rng_normal(&data_rng));

    hsi_rng rng0 = net->rng;
    const float *p = hsi_cnn_forward(net, x, N_SAMPLES, 1);
    int pre = 0;
    hsi_cnn_loss_eval(net->spec->loss, net->layers[net->n_layers - 1].spec.activation, p, labels,
                      NULL, N_SAMPLES, net->classes, net->dlogits, &pre);
    hsi_cnn_backward(net, NULL, N_SAMPLES, pre);
    float *grads = malloc(net->n_params * sizeof *grads);
    memcpy(grads, net->grads, net->n_params * sizeof *grads);
    float *dx = malloc(in * sizeof *dx);
    memcpy(dx, net->input_grad, in * sizeof *dx);
    if (grads_out) memcpy(grads_out, grads, net->n_params * sizeof *grads);
    if (input_grad_out) memcpy(input_grad_out, dx, in * sizeof *dx);

    const double h = 1e-3;
    int bad = 0, kinks = 0, tried = 0;
    /* Every parameter of small layers, a spread of indices of big ones. */
    size_t step = net->n_params > 400 ? net->n_params / 200 : 1;
    for (size_t i = 0; i < net->n_params; i += step) {
        double fd = central_difference(net, x, labels, rng0, &net->params[i], h, &kinks, &tried);
        if (!isnan(fd)) check_one("param", gc->name, i, fd, grads[i], &bad);
    }
    size_t istep = in > 200 ? in / 100 : 1;
    for (size_t i = 0; i < in; i += istep) {
        double fd = central_difference(net, x, labels, rng0, &x[i], h, &kinks, &tried);
        if (!isnan(fd)) check_one("input", gc->name, i, fd, dx[i], &bad);
    }
    CHECK_MSG(bad == 0, "%s on %s backend: %d gradients disagree", gc->name, be->name, bad);
    printf("%s on %s: %d points checked, %d skipped as non-smooth\n", gc->name, be->name, tried,
           kinks);
    /* ReLU and max-pool kinks are rare at random points: a few, not many. */
    CHECK_MSG(kinks * 20 <= tried, "%s on %s backend: %d of %d points non-smooth", gc->name,
              be->name, kinks, tried);
    free(x), free(grads), free(dx);
    hsi_cnn_net_free(net);
    hsi_cnn_spec_free(spec);
}

static const grad_case cases[] = {
    {"conv-relu-maxpool-pad-dense-softmax-cce",
     "[net]\ninput = 5, 4, auto\nclasses = auto\nloss = cce\n"
     "[conv3d]\nfilters = 3\nkernel = 3, 2, 3\nactivation = relu\n"
     "[maxpool3d]\nsize = 1, 1, 2\n[zeropad3d]\npad = 1, 0, 1\n"
     "[conv3d]\nfilters = 2\nkernel = 2, 2, 2\nactivation = relu\n"
     "[flatten]\n[dense]\nunits = 6\nactivation = relu\n[dense]\nunits = classes\nactivation = softmax\n",
     10, 4},
    {"conv-same-strided-tanh-avgpool-sigmoid-mse",
     "[net]\ninput = 5, 5, auto\nclasses = 3\nloss = mse\n"
     "[conv3d]\nfilters = 2\nkernel = 3, 3, 3\nstride = 2, 1, 2\npadding = same\nactivation = tanh\n"
     "[avgpool3d]\nsize = 2, 2, 2\nstride = 1, 1, 2\n"
     "[flatten]\n[dense]\nunits = classes\nactivation = sigmoid\n",
     9, 3},
    {"depth-shift-conv-batchnorm-dropout-softmax-mse",
     "[net]\ninput = 3, 3, auto\nclasses = auto\nloss = mse\n"
     "[conv3d]\nfilters = 8\nkernel = 1, 1, 2\nactivation = relu\n"
     "[conv3d]\nfilters = 3\nkernel = 3, 3, 3\npadding = same\n"
     "[batchnorm]\nmomentum = 0.9\n"
     "[flatten]\n[dropout]\nrate = 0.3\n"
     "[dense]\nunits = 5\nactivation = sigmoid\n[batchnorm]\n"
     "[dense]\nunits = classes\nactivation = softmax\n",
     7, 3},
    {"spectral-mlp-tanh-linear-mse",
     "[net]\ninput = 1, 1, auto\nclasses = auto\nloss = mse\n"
     "[flatten]\n[dense]\nunits = 7\nactivation = tanh\n[dense]\nunits = classes\n",
     12, 4},
    {"mlp-softmax-cce",
     "[net]\ninput = 1, 1, 6\nclasses = 5\nloss = categorical_crossentropy\n"
     "[flatten]\n[dense]\nunits = 8\nactivation = relu\n[dense]\nunits = classes\nactivation = softmax\n",
     6, 5},
    /* Recurrent layers over the bands: stacked (the sequence of one feeds
     * the next), last state and whole sequence, over a 2-pixel patch and
     * over a convolution's channels. */
    {"lstm-sequence-gru-last-softmax-cce",
     "[net]\ninput = 2, 1, auto\nclasses = auto\nloss = cce\n"
     "[lstm]\nunits = 3\nreturn_sequences = 1\n[gru]\nunits = 2\n"
     "[dense]\nunits = classes\nactivation = softmax\n",
     5, 3},
    {"gru-sequence-lstm-last-sigmoid-mse",
     "[net]\ninput = 1, 1, auto\nclasses = auto\nloss = mse\n"
     "[gru]\nunits = 3\nreturn_sequences = 1\n[lstm]\nunits = 2\nreturn_sequences = 0\n"
     "[dense]\nunits = classes\nactivation = sigmoid\n",
     6, 3},
    {"conv-lstm-sequence-flatten-gru-sequence-softmax-cce",
     "[net]\ninput = 3, 3, auto\nclasses = auto\nloss = cce\n"
     "[conv3d]\nfilters = 2\nkernel = 3, 3, 2\nactivation = tanh\n"
     "[lstm]\nunits = 2\nreturn_sequences = 1\n[gru]\nunits = 2\nreturn_sequences = yes\n"
     "[flatten]\n[dense]\nunits = classes\nactivation = softmax\n",
     6, 4},
};

static void test_loss_values(void)
{
    /* Hand values: p = (0.7, 0.2, 0.1), label 0. */
    float p[3] = {0.7f, 0.2f, 0.1f}, g[3];
    int32_t y = 0;
    int pre = -1;
    double l = hsi_cnn_loss_eval(HSI_CNN_LOSS_CCE, HSI_CNN_ACT_SOFTMAX, p, &y, NULL, 1, 3, g, &pre);
    CHECK_NEAR(l, -log(0.7), 1e-6);
    CHECK(pre == 1);
    CHECK_NEAR(g[0], -0.3, 1e-6);
    CHECK_NEAR(g[1], 0.2, 1e-6);
    l = hsi_cnn_loss_eval(HSI_CNN_LOSS_MSE, HSI_CNN_ACT_SOFTMAX, p, &y, NULL, 1, 3, g, &pre);
    CHECK_NEAR(l, (0.09 + 0.04 + 0.01) / 3, 1e-6);
    CHECK(pre == 0);
    CHECK_NEAR(g[0], 2 * -0.3 / 3, 1e-6);
    /* A sample weight of 2 doubles loss and gradient. */
    float w = 2;
    double l2 = hsi_cnn_loss_eval(HSI_CNN_LOSS_MSE, HSI_CNN_ACT_SOFTMAX, p, &y, &w, 1, 3, g, &pre);
    CHECK_NEAR(l2, 2 * l, 1e-6);
}

int main(void)
{
    test_loss_values();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hsi_cnn_spec *spec = NULL;
        CHECK_OK(hsi_cnn_spec_parse(cases[c].spec, cases[c].name, &spec));
        if (!spec) continue;
        hsi_cnn_layer layers[32];
        hsi_cnn_shape input;
        CHECK_OK(hsi_cnn_net_plan(spec, cases[c].bands, cases[c].classes, &input, layers));
        size_t np = 0;
        for (int i = 0; i < spec->n_layers; i++) np += layers[i].n_weights + layers[i].n_bias;
        size_t in = hsi_cnn_shape_size(input) * N_SAMPLES;
        float *g_ref = malloc(np * 4), *g_cpu = malloc(np * 4), *dx_ref = malloc(in * 4),
              *dx_cpu = malloc(in * 4);
        run_case(&cases[c], hsi_cnn_backend_reference(), g_ref, dx_ref);
        hsi_cnn_cpu_set_block_bytes(2048); /* several blocks per sample */
        run_case(&cases[c], hsi_cnn_backend_cpu(), g_cpu, dx_cpu);
        hsi_cnn_cpu_set_block_bytes(0);
        double worst = 0;
        for (size_t i = 0; i < np; i++)
            worst = fmax(worst, fabs(g_ref[i] - g_cpu[i]) / (1e-3 + fabs(g_ref[i])));
        for (size_t i = 0; i < in; i++)
            worst = fmax(worst, fabs(dx_ref[i] - dx_cpu[i]) / (1e-3 + fabs(dx_ref[i])));
        CHECK_MSG(worst < 1e-3, "%s: cpu and reference gradients differ (worst relative %g)",
                  cases[c].name, worst);
        free(g_ref), free(g_cpu), free(dx_ref), free(dx_cpu);
        hsi_cnn_spec_free(spec);
    }
    return check_finish();
}
