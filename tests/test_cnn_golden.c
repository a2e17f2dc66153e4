/* test_cnn_golden.c - the engine reproduces PyTorch on the net of
 * tests/fixtures/cnn/golden.cfg: training-mode forward output and loss, the
 * parameters after two optimiser steps (SGD with Nesterov momentum on MSE;
 * Adam with weight decay on cross-entropy), batch-norm running statistics and
 * the eval-mode output. The golden values were made once by
 * tests/fixtures/cnn/make_fixtures.py (torch 1.13); this test needs no torch.
 */
#include <stdlib.h>

#include "cnn3d/cnn.h"
#include "tests/check.h"
#include "tests/fixture_arrays.h"

static void run(const char *dir, const char *kind, const array *init, int n_init)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/golden_%s.txt", dir, kind);
    array want[16];
    int n_want = load_arrays(path, want, 16);
    CHECK(n_want == 6);
    if (n_want != 6) return;
    snprintf(path, sizeof path, "%s/golden.cfg", dir);
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(path, &spec));
    if (!spec) return;
    if (!strcmp(kind, "adam")) {
        spec->loss = HSI_CNN_LOSS_CCE;
        spec->optimizer = HSI_CNN_OPT_ADAM;
        spec->learning_rate = 0.01;
        spec->beta1 = 0.9;
        spec->beta2 = 0.999;
        spec->epsilon = 1e-7;
        spec->weight_decay = 0.01;
    }
    hsi_cnn_net_options o = {.max_batch = 4, .training = 1, .seed = 1};
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    if (!net) return;
    /* The net copies the spec text; the optimiser settings above are not in it. */
    net->spec->loss = spec->loss;
    net->spec->optimizer = spec->optimizer;
    net->spec->learning_rate = spec->learning_rate;
    net->spec->epsilon = spec->epsilon;
    net->spec->weight_decay = spec->weight_decay;
    const array *params = find(init, n_init, "params"), *x = find(init, n_init, "x"),
                *lab = find(init, n_init, "labels");
    CHECK_INT_EQ(params->n, net->n_params);
    CHECK_INT_EQ(x->n, 4 * hsi_cnn_shape_size(net->input));
    memcpy(net->params, params->v, net->n_params * sizeof(float));
    int32_t labels[4];
    for (int i = 0; i < 4; i++) labels[i] = (int32_t)lab->v[i];

    double loss = hsi_cnn_train_step(net, x->v, labels, NULL, 4, NULL);
    compare("probabilities", net->layers[net->n_layers - 1].y, find(want, n_want, "probs"), 1e-6,
            1e-5);
    CHECK_NEAR(loss, find(want, n_want, "loss")->v[0], 1e-6 + 1e-5 * loss);
    hsi_cnn_train_step(net, x->v, labels, NULL, 4, NULL);
    char what[64];
    snprintf(what, sizeof what, "%s: parameters after 2 steps", kind);
    compare(what, net->params, find(want, n_want, "params"), 2e-5, 1e-4);
    /* Batch norm is layer 4; its running statistics after two batches. */
    hsi_cnn_layer *bn = &net->layers[4];
    CHECK(bn->spec.kind == HSI_CNN_BATCHNORM);
    compare("running mean", bn->running_mean, find(want, n_want, "running_mean"), 1e-6, 1e-5);
    compare("running var", bn->running_var, find(want, n_want, "running_var"), 1e-6, 1e-5);
    const float *p = hsi_cnn_forward(net, x->v, 4, 0);
    snprintf(what, sizeof what, "%s: eval-mode probabilities", kind);
    compare(what, p, find(want, n_want, "eval_probs"), 1e-5, 1e-4);
    hsi_cnn_net_free(net);
    hsi_cnn_spec_free(spec);
    for (int i = 0; i < n_want; i++) free(want[i].v);
}

int main(void)
{
    const char *src = getenv("HSI_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/cnn", src ? src : ".");
    char path[4200];
    snprintf(path, sizeof path, "%s/golden_init.txt", dir);
    array init[8];
    int n_init = load_arrays(path, init, 8);
    CHECK(n_init == 3);
    if (n_init != 3) return check_finish();
    run(dir, "sgd", init, n_init);
    run(dir, "adam", init, n_init);
    for (int i = 0; i < n_init; i++) free(init[i].v);
    return check_finish();
}
