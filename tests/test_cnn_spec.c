/* test_cnn_spec.c - spec parsing: the shipped specs load and have the
 * published shapes and parameter counts; bad specs are refused with
 * file:line and the problem; weight initialisers have their variances. */
#include <stdlib.h>

#include "cnn3d/cnn.h"
#include "tests/check.h"

static const char *spec_path(const char *file)
{
    static char buf[4][4096];
    static int slot;
    const char *src = getenv("HSI_SRCDIR");
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/cnn3d/specs/%s", src ? src : ".", file);
    return b;
}

static void test_lange(void)
{
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(spec_path("lange2018.cfg"), &spec));
    if (!spec) return;
    CHECK_INT_EQ(spec->n_layers, 12);
    CHECK(spec->loss == HSI_CNN_LOSS_MSE && spec->optimizer == HSI_CNN_OPT_SGD);
    CHECK_NEAR(spec->learning_rate, 1.0, 0);
    CHECK_NEAR(spec->decay, 5e-6, 0);
    CHECK_INT_EQ(spec->batch, 50);
    CHECK_INT_EQ(spec->epochs, 600);
    /* kernel = 3, 3, 5 (x, y, spectral) is stored (d, h, w) = (5, 3, 3). */
    CHECK(spec->layers[0].kernel[0] == 5 && spec->layers[0].kernel[1] == 3 &&
          spec->layers[0].kernel[2] == 3);
    hsi_cnn_layer layers[12];
    hsi_cnn_shape in;
    CHECK_OK(hsi_cnn_net_plan(spec, 220, 16, &in, layers));
    /* The PyTorch peer's flatten size at 220 bands is 3456 (32 x 12 x 3 x 3). */
    CHECK_INT_EQ(layers[8].out.c, 3456);
    CHECK(layers[0].out.c == 48 && layers[0].out.d == 216 && layers[0].out.h == 7);
    size_t params = 0;
    for (int i = 0; i < 12; i++) params += layers[i].n_weights + layers[i].n_bias;
    /* 48*45+48 + 32*48*45+32 + 32*32*45+32 + 3456*128+128 + 128*128+128 + 128*16+16 */
    CHECK_INT_EQ(params, 2208 + 69152 + 46112 + 442496 + 16512 + 2064);
    CHECK_OK(hsi_cnn_net_plan(spec, 200, 16, &in, layers));
    CHECK_INT_EQ(layers[8].out.c, 2880); /* 196 -> 65 -> 69 -> 65 -> 21 -> 25 -> 21 -> 10; x 32 x 3 x 3 */
    char *text = NULL;
    CHECK_OK(hsi_cnn_summary(spec, 220, 16, &text));
    CHECK(text && strstr(text, "Total params: 578544"));
    CHECK(text && strstr(text, "(None, 7, 7, 216, 48)"));
    free(text);
    /* auto bands need a value. */
    CHECK_FAILS(hsi_cnn_net_plan(spec, 0, 16, &in, layers), HSI_ERR_ARG, "auto");
    hsi_cnn_spec_free(spec);
}

static void test_shipped(void)
{
    const char *files[] = {"hamida2018.cfg", "li2017.cfg", "spectral_mlp.cfg"};
    for (int i = 0; i < 3; i++) {
        hsi_cnn_spec *spec = NULL;
        CHECK_OK(hsi_cnn_spec_load(spec_path(files[i]), &spec));
        if (!spec) continue;
        hsi_cnn_layer layers[64];
        hsi_cnn_shape in;
        CHECK_OK(hsi_cnn_net_plan(spec, 200, 16, &in, layers));
        CHECK_INT_EQ(layers[spec->n_layers - 1].out.c, 16);
        hsi_cnn_spec_free(spec);
    }
}

static void bad(const char *text, hsi_status want, const char *message)
{
    hsi_cnn_spec *spec = NULL;
    hsi_status st = hsi_cnn_spec_parse(text, "bad.cfg", &spec);
    if (st == HSI_OK) {
        /* Shape errors show when the shapes are planned. */
        hsi_cnn_layer layers[16];
        hsi_cnn_shape in;
        st = hsi_cnn_net_plan(spec, 10, 3, &in, layers);
        hsi_cnn_spec_free(spec);
    }
    CHECK_MSG(st == want && strstr(hsi_last_error(), message),
              "spec '%s': status %d message '%s', wanted %d with '%s'", text, st, hsi_last_error(),
              want, message);
}

/* Parse and plan text with its own bands and classes; want HSI_OK or the
 * status and message. */
static void bad_or_ok(const char *text, hsi_status want, const char *message)
{
    hsi_cnn_spec *spec = NULL;
    hsi_status st = hsi_cnn_spec_parse(text, "flat.cfg", &spec);
    if (st == HSI_OK) {
        hsi_cnn_layer layers[16];
        hsi_cnn_shape in;
        st = hsi_cnn_net_plan(spec, 0, 0, &in, layers);
        hsi_cnn_spec_free(spec);
    }
    CHECK_MSG(st == want && (want == HSI_OK || strstr(hsi_last_error(), message)),
              "spec '%s': status %d message '%s', wanted %d with '%s'", text, st,
              st ? hsi_last_error() : "", want, message);
}

static void test_bad_specs(void)
{
    const char *head = "[net]\ninput = 5, 5, auto\n";
    char buf[1024];
    bad("[conv3d]\nfilters = 2\n", HSI_ERR_FORMAT, "bad.cfg:1: the spec must start with [net]");
    bad("[net]\n[dense]\nunits = 3\n", HSI_ERR_FORMAT, "bad.cfg: [net] needs 'input");
    snprintf(buf, sizeof buf, "%s# comment\n[conv3d]\nfilters = 2\nkernal = 3\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:6: unknown key 'kernal' in [conv3d]");
    snprintf(buf, sizeof buf, "%s[conv3d]\nfilters = two\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:4: [conv3d] filters = 'two': expected an integer");
    snprintf(buf, sizeof buf, "%s[conv3d]\nfilters = 2\n[dense]\nunits = 3\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:3: [conv3d] needs 'kernel'");
    snprintf(buf, sizeof buf, "%s[pool]\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:3: unknown section [pool]");
    snprintf(buf, sizeof buf, "%s[conv3d]\nfilters = 2\nkernel = 3, 3\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:5: [conv3d] kernel = '3, 3': expected x, y, spectral");
    snprintf(buf, sizeof buf, "%s[dense]\nunits = 3\nactivation = relux\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:5: [dense] activation = 'relux'");
    snprintf(buf, sizeof buf, "%s[dense]\nunits = 3\nunits = 4\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:5: [dense] units given twice");
    snprintf(buf, sizeof buf, "%sloss = hinge\n[dense]\nunits = 3\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:3: [net] loss = 'hinge'");
    snprintf(buf, sizeof buf, "%s[flatten]\n[dense]\nunits = 8\n", head);
    bad(buf, HSI_ERR_SIZE, "bad.cfg:4: [dense] the last layer has 8 units but there are 3 classes");
    snprintf(buf, sizeof buf, "%s[conv3d]\nfilters = 2\nkernel = 7, 3, 3\n[flatten]\n[dense]\nunits = classes\n", head);
    bad(buf, HSI_ERR_SIZE, "bad.cfg:3: [conv3d] kernel x=7 y=3 spectral=3 is larger than its input");
    snprintf(buf, sizeof buf, "%s[dense]\nunits = classes\n", head);
    bad(buf, HSI_ERR_SIZE, "bad.cfg:3: [dense] needs a flat input: add [flatten] before it");
    snprintf(buf, sizeof buf, "%s[flatten]\n[maxpool3d]\nsize = 1, 1, 2\n[dense]\nunits = classes\n", head);
    bad(buf, HSI_ERR_SIZE, "bad.cfg:4: [maxpool3d] needs a volume");
    snprintf(buf, sizeof buf, "%s[flatten]\n[conv3d]\nfilters = 2\nkernel = 1\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:4: the last layer must be [dense]");
    snprintf(buf, sizeof buf, "%s[flatten]\nunits 3\n", head);
    bad(buf, HSI_ERR_FORMAT, "bad.cfg:4: expected 'key = value'");
    bad("[net]\ninput = 5, 5, 4\nclasses = 3\n[flatten]\n[dense]\nunits = classes\n", HSI_ERR_SIZE,
        "bad.cfg: the spec's input has 4 bands, the data 10");
    hsi_cnn_spec *spec = NULL;
    CHECK_FAILS(hsi_cnn_spec_load("/nonexistent/x.cfg", &spec), HSI_ERR_IO, "/nonexistent/x.cfg: cannot open");
}

/* Initialisers: Glorot uniform stays within sqrt(6/(fan_in+fan_out)) with
 * the uniform variance; He normal has variance 2/fan_in; biases start at 0. */
static void test_init(void)
{
    const char *fmt = "[net]\ninput = 1, 1, 1000\nclasses = 2\ninit = %s\n[flatten]\n"
                      "[dense]\nunits = 500\n[dense]\nunits = classes\n";
    const char *inits[] = {"glorot_uniform", "he_normal", "he_uniform"};
    for (int k = 0; k < 3; k++) {
        char text[512];
        snprintf(text, sizeof text, fmt, inits[k]);
        hsi_cnn_spec *spec = NULL;
        hsi_cnn_net *net = NULL;
        CHECK_OK(hsi_cnn_spec_parse(text, "init.cfg", &spec));
        hsi_cnn_net_options o = {.max_batch = 1, .seed = 7};
        if (spec) CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
        if (!net) {
            hsi_cnn_spec_free(spec);
            continue;
        }
        const hsi_cnn_layer *L = &net->layers[1];
        double sum = 0, sq = 0, mx = 0;
        for (size_t i = 0; i < L->n_weights; i++) {
            sum += L->w[i];
            sq += (double)L->w[i] * L->w[i];
            mx = fmax(mx, fabs(L->w[i]));
        }
        double mean = sum / L->n_weights, var = sq / L->n_weights - mean * mean;
        double want = k == 0 ? 6.0 / 1500 / 3 : k == 1 ? 2.0 / 1000 : 6.0 / 1000 / 3;
        CHECK_MSG(fabs(var / want - 1) < 0.02, "%s: variance %g, wanted %g", inits[k], var, want);
        CHECK(fabs(mean) < 0.01 * sqrt(want));
        if (k == 0) CHECK(mx <= sqrt(6.0 / 1500));
        if (k == 2) CHECK(mx <= sqrt(6.0 / 1000));
        for (size_t i = 0; i < L->n_bias; i++) CHECK(L->b[i] == 0.0f);
        hsi_cnn_net_free(net);
        hsi_cnn_spec_free(spec);
    }
}

/* Flatness is where the layers put it, not a shape: a conv3d whose output is
 * 1 x 1 x 1 with many filters is still a volume, so hamida2018 on 4 bands
 * (its third conv gives 35 filters of 1 x 1 x 1, then pads depth) is a valid
 * net; 3 bands is the smallest its first 3 x 3 x 3 kernel fits, and 2 is
 * refused for that real cause. After [flatten] or [dense] a volume layer is
 * refused, even when the vector has one value. */
static void test_flat_is_a_sequence(void)
{
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(spec_path("hamida2018.cfg"), &spec));
    if (!spec) return;
    hsi_cnn_layer layers[64];
    hsi_cnn_shape in;
    CHECK_OK(hsi_cnn_net_plan(spec, 4, 16, &in, layers));
    /* conv 3x3x3: 20 x 2 x 3 x 3; pad: depth 4; conv (1,1,3)/2: depth 1;
     * pad: 3; conv 3x3x3: 35 x 1 x 1 x 1, a volume the pad after it grows. */
    CHECK(layers[4].out.c == 35 && layers[4].out.d == 1 && layers[4].out.h == 1 &&
          layers[4].out.w == 1);
    CHECK(layers[5].out.c == 35 && layers[5].out.d == 3 && layers[5].out.h == 1);
    CHECK_INT_EQ(layers[11].out.c, 35); /* flatten */
    CHECK_INT_EQ(layers[spec->n_layers - 1].out.c, 16);
    CHECK_OK(hsi_cnn_net_plan(spec, 3, 16, &in, layers));
    CHECK_INT_EQ(layers[11].out.c, 35);
    char want[256];
    snprintf(want, sizeof want,
             "%s:17: [conv3d] kernel x=3 y=3 spectral=3 is larger than its input", spec->path);
    CHECK_FAILS(hsi_cnn_net_plan(spec, 2, 16, &in, layers), HSI_ERR_SIZE, want);
    /* The 4-band net runs: probabilities that sum to 1. */
    hsi_cnn_net *net = NULL;
    hsi_cnn_net_options o = {.bands = 4, .classes = 16, .max_batch = 3, .seed = 1};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    if (net) {
        float x[3 * 4 * 5 * 5];
        for (int i = 0; i < 3 * 4 * 5 * 5; i++) x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
        const float *p = hsi_cnn_forward(net, x, 3, 0);
        for (int n = 0; n < 3; n++) {
            double sum = 0;
            for (int k = 0; k < 16; k++) sum += p[n * 16 + k];
            CHECK_NEAR(sum, 1.0, 1e-5);
        }
        hsi_cnn_net_free(net);
    }
    hsi_cnn_spec_free(spec);

    /* A pad and a 1 x 1 x 1 conv on a 1 x 1 x 1 conv output (a volume). */
    bad_or_ok("[net]\ninput = 3, 3, 3\nclasses = 3\n[conv3d]\nfilters = 4\nkernel = 3, 3, 3\n"
              "[zeropad3d]\npad = 0, 0, 1\n[conv3d]\nfilters = 2\nkernel = 1, 1, 3\n"
              "[maxpool3d]\nsize = 1, 1, 1\n[flatten]\n[dense]\nunits = classes\n",
              HSI_OK, "");
    /* Genuinely impossible: a spectral kernel of 3 on a depth of 1 names the
     * kernel, not flatness. */
    bad_or_ok("[net]\ninput = 3, 3, 3\nclasses = 3\n[conv3d]\nfilters = 4\nkernel = 3, 3, 3\n"
              "[conv3d]\nfilters = 2\nkernel = 1, 1, 3\n[flatten]\n[dense]\nunits = classes\n",
              HSI_ERR_SIZE, "flat.cfg:7: [conv3d] kernel x=1 y=1 spectral=3 is larger than its input");
    /* After [flatten] a volume layer is refused even for a one-value vector
     * (the old shape test let it through), naming the layer that flattened. */
    bad_or_ok("[net]\ninput = 1, 1, 1\nclasses = 3\n[flatten]\n[conv3d]\nfilters = 2\nkernel = 1, 1, 1\n"
              "[flatten]\n[dense]\nunits = classes\n",
              HSI_ERR_SIZE, "flat.cfg:5: [conv3d] needs a volume, but [flatten] at line 4 made its input a flat vector");
    bad_or_ok("[net]\ninput = 3, 3, 3\nclasses = 3\n[flatten]\n[dense]\nunits = 4\n[dropout]\nrate = 0.5\n"
              "[zeropad3d]\npad = 1, 1, 1\n[flatten]\n[dense]\nunits = classes\n",
              HSI_ERR_SIZE, "flat.cfg:9: [zeropad3d] needs a volume, but [dense] at line 5 made its input a flat vector");
    bad_or_ok("[net]\ninput = 3, 3, 3\nclasses = 3\n[flatten]\n[avgpool3d]\nsize = 1, 1, 1\n"
              "[flatten]\n[dense]\nunits = classes\n",
              HSI_ERR_SIZE, "flat.cfg:5: [avgpool3d] needs a volume, but [flatten] at line 4");
    /* [dense] straight on a 1 x 1 x 1 conv output stays accepted: its
     * values are laid out as the flat vector would be. */
    bad_or_ok("[net]\ninput = 3, 3, 3\nclasses = 3\n[conv3d]\nfilters = 4\nkernel = 3, 3, 3\n"
              "[dense]\nunits = classes\n",
              HSI_OK, "");
}

int main(void)
{
    test_init();
    test_lange();
    test_shipped();
    test_bad_specs();
    test_flat_is_a_sequence();
    return check_finish();
}
