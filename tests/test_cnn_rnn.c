/* test_cnn_rnn.c - the [lstm] and [gru] layers: PyTorch's nn.LSTM / nn.GRU
 * reproduced (outputs and every gradient, tests/fixtures/cnn/rnn_golden.txt
 * made by rnn_golden.py; no torch needed here), PyTorch's initialisation
 * bounds, results independent of the batch they run in, the spec keys and
 * their errors, shapes in the summary, and checkpoints of a recurrent net
 * (a round trip, and crafted spec text refused). The finite-difference
 * gradient checks are in test_cnn_grad.c with the other layers'.
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "base/blob.h"
#include "base/file.h"
#include "cnn3d/cnn.h"
#include "tests/check.h"
#include "tests/fixture_arrays.h"

#define N 3 /* the fixture's batch */

/* The nets of rnn_golden.py. */
static const struct {
    const char *tag, *spec;
} golden_nets[] = {
    {"a", "[net]\ninput = 3, 2, 7\nclasses = 3\n"
          "[lstm]\nunits = 4\nreturn_sequences = 1\n"
          "[gru]\nunits = 3\nreturn_sequences = 0\n"
          "[dense]\nunits = classes\n"},
    {"b", "[net]\ninput = 1, 1, 6\nclasses = 2\n"
          "[gru]\nunits = 4\nreturn_sequences = 1\n"
          "[lstm]\nunits = 3\nreturn_sequences = 1\n"
          "[flatten]\n[dense]\nunits = classes\n"},
    {"c", "[net]\ninput = 1, 1, 8\nclasses = 4\n"
          "[lstm]\nunits = 5\n"
          "[dense]\nunits = classes\n"},
};

static hsi_cnn_net *build(const char *text, int max_batch, uint64_t seed)
{
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_parse(text, "<test>", &spec));
    if (!spec) return NULL;
    hsi_cnn_net_options o = {.max_batch = max_batch, .training = 1, .seed = seed};
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    return net;
}

/* Forward and backward of each fixture net against PyTorch. Tolerances:
 * float32 on both sides, the same operations in another order (sgemm
 * blocking, the gates' transcendentals): outputs within 2e-6 + 1e-5 |v|,
 * gradients within 1e-5 + 1e-4 |v|. */
static void test_golden(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rnn_golden.txt", dir);
    array a[32];
    int n = load_arrays(path, a, 32);
    CHECK(n == 21);
    if (n != 21) return;
    for (size_t c = 0; c < sizeof golden_nets / sizeof golden_nets[0]; c++) {
        const char *tag = golden_nets[c].tag;
        char name[32], what[64];
#define FIX(field) (snprintf(name, sizeof name, "%s_%s", tag, field), find(a, n, name))
        hsi_cnn_net *net = build(golden_nets[c].spec, N, 1);
        if (!net) continue;
        net->want_input_grad = 1;
        const array *params = FIX("params"), *x = FIX("x");
        CHECK_INT_EQ(params->n, net->n_params);
        CHECK_INT_EQ(x->n, N * hsi_cnn_shape_size(net->input));
        if (params->n != net->n_params || x->n != N * hsi_cnn_shape_size(net->input)) {
            hsi_cnn_net_free(net);
            continue;
        }
        memcpy(net->params, params->v, net->n_params * sizeof(float));
        const float *out = hsi_cnn_forward(net, x->v, N, 1);
        snprintf(what, sizeof what, "net %s: output", tag);
        compare(what, out, FIX("out"), 2e-6, 1e-5);
        snprintf(what, sizeof what, "net %s: first layer's output", tag);
        compare(what, net->layers[0].y, FIX("first"), 2e-6, 1e-5);
        hsi_cnn_backward(net, FIX("dout")->v, N, 0);
        snprintf(what, sizeof what, "net %s: parameter gradients", tag);
        compare(what, net->grads, FIX("grads"), 1e-5, 1e-4);
        snprintf(what, sizeof what, "net %s: input gradient", tag);
        compare(what, net->input_grad, FIX("dx"), 1e-5, 1e-4);
#undef FIX
        hsi_cnn_net_free(net);
    }
    for (int i = 0; i < n; i++) free(a[i].v);
}

/* PyTorch's U(-1/sqrt(units), 1/sqrt(units)) on every weight and bias,
 * from the seed, and a uniform spread (not all at one value). */
static void test_init(void)
{
    hsi_cnn_net *net = build("[net]\ninput = 1, 1, 20\nclasses = 3\n[gru]\nunits = 16\n"
                             "[dense]\nunits = classes\n",
                             2, 7);
    if (!net) return;
    hsi_cnn_layer *L = &net->layers[0];
    CHECK_INT_EQ(L->n_weights, 48 * (1 + 16));
    CHECK_INT_EQ(L->n_bias, 2 * 48);
    double k = 0.25, lo = 1, hi = -1, sum = 0;
    size_t m = L->n_weights + L->n_bias;
    for (size_t i = 0; i < m; i++) {
        lo = fmin(lo, L->w[i]), hi = fmax(hi, L->w[i]);
        sum += L->w[i];
    }
    CHECK_MSG(lo >= -k && hi <= k, "gru init in [%g, %g], not within +-%g", lo, hi, k);
    CHECK_MSG(lo < -0.9 * k && hi > 0.9 * k, "gru init spans only [%g, %g]", lo, hi);
    CHECK_MSG(fabs(sum / m) < 0.03, "gru init mean %g", sum / m);
    /* The same seed gives the same weights. */
    hsi_cnn_net *again = build("[net]\ninput = 1, 1, 20\nclasses = 3\n[gru]\nunits = 16\n"
                               "[dense]\nunits = classes\n",
                               2, 7);
    if (again) CHECK(!memcmp(net->params, again->params, net->n_params * sizeof(float)));
    hsi_cnn_net_free(again);
    hsi_cnn_net_free(net);
}

/* The layers work time-major across the batch: each sample's output and
 * gradients must not depend on the others in its batch. */
static void test_batch_independence(void)
{
    const char *text = "[net]\ninput = 3, 3, 5\nclasses = 3\n"
                       "[conv3d]\nfilters = 2\nkernel = 3, 3, 2\nactivation = relu\n"
                       "[lstm]\nunits = 3\nreturn_sequences = 1\n[gru]\nunits = 4\n"
                       "[dense]\nunits = classes\nactivation = softmax\n";
    hsi_cnn_net *net = build(text, 4, 3);
    if (!net) return;
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = malloc(4 * in * sizeof *x), whole[12];
    hsi_rng rng;
    hsi_rng_seed(&rng, 9);
    for (size_t i = 0; i < 4 * in; i++) x[i] = (float)hsi_rng_normal(&rng);
    memcpy(whole, hsi_cnn_forward(net, x, 4, 0), sizeof whole);
    double worst = 0;
    for (int s = 0; s < 4; s++) {
        const float *one = hsi_cnn_forward(net, x + s * in, 1, 0);
        for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(one[k] - whole[s * 3 + k]));
    }
    CHECK_MSG(worst < 1e-6, "a sample alone and in a batch of 4 differ by %g", worst);
    free(x);
    hsi_cnn_net_free(net);
}

/* One band is one step: W_hh only ever multiplies the zero initial state,
 * so its gradient is exactly zero (an empty GEMM, k = 0), and so is the
 * LSTM forget gate's (it scales the zero initial cell); every other weight
 * moves. */
static void test_one_step(void)
{
    const char *kinds[] = {"lstm", "gru"};
    for (int k = 0; k < 2; k++) {
        char text[200];
        snprintf(text, sizeof text,
                 "[net]\ninput = 1, 1, 1\nclasses = 2\n[%s]\nunits = 3\n[dense]\nunits = classes\n",
                 kinds[k]);
        hsi_cnn_net *net = build(text, 2, 8);
        if (!net) continue;
        hsi_cnn_layer *L = &net->layers[0];
        /* Stale values where dW_hh goes: the backward pass must overwrite them. */
        size_t g = L->n_bias / 2, f = 1;
        for (size_t i = 0; i < L->n_weights; i++) L->dw[i] = 7.0f;
        float x[2] = {0.5f, -1.5f}, dout[4] = {1, -1, 0.5f, 2};
        hsi_cnn_forward(net, x, 2, 1);
        hsi_cnn_backward(net, dout, 2, 0);
        int zero = 1, moved = 0;
        for (size_t i = g * f; i < L->n_weights; i++) zero &= L->dw[i] == 0.0f;
        for (size_t i = 0; i < g * f; i++) moved += L->dw[i] != 0.0f && L->dw[i] != 7.0f;
        CHECK_MSG(zero, "[%s] on one band: d W_hh is not zero", kinds[k]);
        size_t want = k == 0 ? g - g / 4 : g;
        CHECK_MSG(moved == (int)want, "[%s] on one band: %d of %zu d W_ih set, not %zu", kinds[k],
                  moved, g, want);
        hsi_cnn_net_free(net);
    }
}

static void test_spec_and_shapes(void)
{
    hsi_cnn_spec *spec = NULL;
    const char *head = "[net]\ninput = 1, 1, auto\n";
    char text[512];
#define SPEC_FAILS(body, substr)                                                   \
    do {                                                                          \
        snprintf(text, sizeof text, "%s%s", head, body);                          \
        CHECK_FAILS(hsi_cnn_spec_parse(text, "rnn.cfg", &spec), HSI_ERR_FORMAT, substr); \
        hsi_cnn_spec_free(spec);                                                  \
        spec = NULL;                                                              \
    } while (0)
    SPEC_FAILS("[lstm]\nunit = 8\n[dense]\nunits = classes\n",
               "rnn.cfg:4: unknown key 'unit' in [lstm]");
    SPEC_FAILS("[gru]\nunits = 8\nactivation = relu\n[dense]\nunits = classes\n",
               "rnn.cfg:5: unknown key 'activation' in [gru]");
    SPEC_FAILS("[gru]\nreturn_sequences = 1\n[dense]\nunits = classes\n",
               "rnn.cfg:3: [gru] needs 'units'");
    SPEC_FAILS("[lstm]\nunits = 0\n[dense]\nunits = classes\n",
               "rnn.cfg:4: [lstm] units = '0': expected an integer in 1..65536");
    SPEC_FAILS("[lstm]\nunits = 4\nreturn_sequences = 2\n[dense]\nunits = classes\n",
               "[lstm] return_sequences = '2': expected 0/1");
    SPEC_FAILS("[lstm]\nunits = 4\nunits = 5\n[dense]\nunits = classes\n", "units given twice");
    SPEC_FAILS("[rnn]\nunits = 4\n[dense]\nunits = classes\n", "lstm, gru)");
    SPEC_FAILS("[lstm]\nunits = 4\n", "the last layer must be [dense]");
#undef SPEC_FAILS

    /* Shapes: planning refuses a recurrent layer without steps and a
     * sequence fed to [dense] without [flatten]. */
    hsi_cnn_layer layers[8];
    hsi_cnn_shape in;
    CHECK_OK(hsi_cnn_spec_parse("[net]\ninput = 1, 1, 10\n[flatten]\n[lstm]\nunits = 4\n"
                                "[dense]\nunits = classes\n",
                                "flat.cfg", &spec));
    if (spec)
        CHECK_FAILS(hsi_cnn_net_plan(spec, 10, 3, &in, layers), HSI_ERR_SIZE,
                    "flat.cfg:4: [lstm] needs a volume, but [flatten] at line 3");
    hsi_cnn_spec_free(spec);
    CHECK_OK(hsi_cnn_spec_parse("[net]\ninput = 1, 1, 10\n[gru]\nunits = 4\n[conv3d]\n"
                                "filters = 2\nkernel = 1\n[dense]\nunits = classes\n",
                                "last.cfg", &spec));
    if (spec)
        CHECK_FAILS(hsi_cnn_net_plan(spec, 10, 3, &in, layers), HSI_ERR_SIZE,
                    "last.cfg:5: [conv3d] needs a volume, but [gru] at line 3");
    hsi_cnn_spec_free(spec);
    CHECK_OK(hsi_cnn_spec_parse("[net]\ninput = 1, 1, 10\n[gru]\nunits = 4\nreturn_sequences = 1\n"
                                "[dense]\nunits = classes\n",
                                "seq.cfg", &spec));
    if (spec)
        CHECK_FAILS(hsi_cnn_net_plan(spec, 10, 3, &in, layers), HSI_ERR_SIZE,
                    "seq.cfg:6: [dense] needs a flat input");
    hsi_cnn_spec_free(spec);

    /* A 3x3 patch after a convolution: 10 - 2 + 1 = 9 steps of 4 x 1 x 1
     * features; the summary counts PyTorch's parameters. */
    CHECK_OK(hsi_cnn_spec_parse("[net]\ninput = 3, 3, auto\n"
                                "[conv3d]\nfilters = 4\nkernel = 3, 3, 2\n"
                                "[lstm]\nunits = 6\nreturn_sequences = 1\n"
                                "[gru]\nunits = 5\n[dense]\nunits = classes\n",
                                "stack.cfg", &spec));
    if (!spec) return;
    CHECK_OK(hsi_cnn_net_plan(spec, 10, 3, &in, layers));
    CHECK(layers[1].out.c == 6 && layers[1].out.d == 9 && layers[1].out.h == 1);
    CHECK_INT_EQ(layers[1].n_weights + layers[1].n_bias, 24 * (4 + 6) + 2 * 24);
    CHECK(layers[2].out.c == 5 && layers[2].out.d == 1);
    CHECK_INT_EQ(layers[2].n_weights + layers[2].n_bias, 15 * (6 + 5) + 2 * 15);
    char *summary = NULL;
    CHECK_OK(hsi_cnn_summary(spec, 10, 3, &summary));
    if (summary) {
        CHECK_MSG(strstr(summary, "lstm_1") && strstr(summary, "(None, 1, 1, 9, 6)") &&
                      strstr(summary, "gru_1") && strstr(summary, "(None, 5)"),
                  "summary:\n%s", summary);
        CHECK_MSG(strstr(summary, " 288 ") && strstr(summary, " 195 "), "summary:\n%s", summary);
    }
    free(summary);
    hsi_cnn_spec_free(spec);
}

/* ---- checkpoints ---- */

/* The file at path with `from` in its spec text replaced by `to` (same
 * length) and the checksum recomputed: a crafted file, not an accident. */
static const char *crafted(const char *path, const char *out, const char *from, const char *to)
{
    unsigned char *b;
    size_t len;
    CHECK_OK(hsi_file_read_all(path, 1u << 24, "too big", &b, &len));
    if (!b) return out;
    unsigned char *at = memmem(b, len, from, strlen(from));
    CHECK(at != NULL && strlen(from) == strlen(to));
    if (at) memcpy(at, to, strlen(to));
    uint64_t sum = hsi_fnv1a64(b, len - 8);
    for (int i = 0; i < 8; i++) b[len - 8 + i] = (unsigned char)(sum >> (8 * i));
    FILE *fp = fopen(out, "wb");
    CHECK(fp && fwrite(b, 1, len, fp) == len);
    if (fp) fclose(fp);
    free(b);
    return out;
}

static void test_checkpoint(const char *tmp)
{
    const char *text = "[net]\ninput = 1, 1, 12\nclasses = 4\nbatch = 4\noptimizer = adam\n"
                       "learning_rate = 0.01\n"
                       "[gru]\nunits = 6\nreturn_sequences = 1\n"
                       "[lstm]\nunits = 5\nreturn_sequences = 0\n"
                       "[dense]\nunits = classes\nactivation = softmax\n";
    hsi_cnn_net *net = build(text, 4, 5);
    if (!net) return;
    float x[48];
    int32_t labels[4] = {0, 1, 2, 3};
    for (int i = 0; i < 48; i++) x[i] = (float)sin(0.37 * i) + (float)(i / 12) * 0.5f;
    for (int step = 0; step < 3; step++) hsi_cnn_train_step(net, x, labels, NULL, 4, NULL);
    char path[4200], bad[4200];
    snprintf(path, sizeof path, "%s/rnn.ckpt", tmp);
    CHECK_OK(hsi_cnn_checkpoint_write(path, net, NULL));
    float want[16];
    memcpy(want, hsi_cnn_forward(net, x, 4, 0), sizeof want);
    for (int training = 0; training <= 1; training++) {
        hsi_cnn_net *back = NULL;
        hsi_cnn_meta meta;
        CHECK_OK(hsi_cnn_checkpoint_read(path, training, 4, NULL, &back, &meta));
        if (!back) continue;
        CHECK(!memcmp(back->params, net->params, net->n_params * sizeof(float)));
        CHECK(!memcmp(hsi_cnn_forward(back, x, 4, 0), want, sizeof want));
        if (training) {
            CHECK(!memcmp(back->opt_m, net->opt_m, net->n_params * sizeof(float)));
            CHECK_INT_EQ(back->iterations, 3);
            /* Training goes on from the checkpoint exactly as it would have. */
            double l1 = hsi_cnn_train_step(back, x, labels, NULL, 4, NULL);
            double l2 = hsi_cnn_train_step(net, x, labels, NULL, 4, NULL);
            CHECK(l1 == l2);
            CHECK(!memcmp(back->params, net->params, net->n_params * sizeof(float)));
        }
        hsi_cnn_meta_clear(&meta);
        hsi_cnn_net_free(back);
    }
    /* A crafted spec with other units or the other output mode plans
     * another net: refused, naming the file and the field. */
    hsi_cnn_net *none = NULL;
    snprintf(bad, sizeof bad, "%s/units.ckpt", tmp);
    CHECK_FAILS(hsi_cnn_checkpoint_read(crafted(path, bad, "units = 6", "units = 7"), 0, 4, NULL,
                                        &none, NULL),
                HSI_ERR_FORMAT, "units.ckpt: checkpoint n_params");
    CHECK(none == NULL);
    snprintf(bad, sizeof bad, "%s/sequences.ckpt", tmp);
    CHECK_FAILS(hsi_cnn_checkpoint_read(
                    crafted(path, bad, "return_sequences = 0", "return_sequences = 1"), 0, 4,
                    NULL, &none, NULL),
                HSI_ERR_FORMAT, "sequences.ckpt:13: [dense] needs a flat input");
    CHECK(none == NULL);
    hsi_cnn_net_free(net);
}

/* The shipped spec plans the net its comment describes. */
static void test_shipped_spec(void)
{
    const char *src = getenv("HSI_SRCDIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/cnn3d/specs/mou2017_rnn.cfg", src ? src : ".");
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(path, &spec));
    if (!spec) return;
    hsi_cnn_layer layers[8];
    hsi_cnn_shape in;
    CHECK_OK(hsi_cnn_net_plan(spec, 200, 16, &in, layers));
    CHECK(spec->n_layers == 2 && layers[0].spec.kind == HSI_CNN_GRU);
    CHECK(layers[0].spec.units == 64 && !layers[0].spec.return_sequences);
    CHECK_INT_EQ(layers[0].n_weights + layers[0].n_bias, 3 * 64 * (1 + 64) + 2 * 3 * 64);
    CHECK(layers[1].out.c == 16);
    hsi_cnn_spec_free(spec);
}

/* Learning: ramps rising in one class and falling in the other, at a level
 * that varies from sample to sample more than a ramp spans, plus noise. No
 * single band tells the classes apart; the last state must carry the first
 * steps' values to the end (gradients through all ten steps). */
static void test_learns_order(void)
{
    enum { B = 64, D = 10 };
    const char *kinds[] = {"lstm", "gru"};
    for (int k = 0; k < 2; k++) {
        char text[256];
        snprintf(text, sizeof text,
                 "[net]\ninput = 1, 1, %d\nclasses = 2\noptimizer = adam\nlearning_rate = 0.01\n"
                 "[%s]\nunits = 8\n[dense]\nunits = classes\nactivation = softmax\n",
                 D, kinds[k]);
        hsi_cnn_net *net = build(text, B, 4);
        if (!net) continue;
        hsi_rng rng;
        hsi_rng_seed(&rng, 17);
        float x[B * D];
        int32_t labels[B];
        double acc = 0;
        for (int step = 0; step < 300; step++) {
            for (int i = 0; i < B; i++) {
                labels[i] = (int32_t)(hsi_rng_uniform(&rng) < 0.5);
                double level = 4 * hsi_rng_uniform(&rng) - 2;
                for (int t = 0; t < D; t++)
                    x[i * D + t] = (float)(level + (labels[i] ? -0.2 : 0.2) * t +
                                           0.1 * hsi_rng_normal(&rng));
            }
            int correct = 0;
            hsi_cnn_train_step(net, x, labels, NULL, B, &correct);
            if (step >= 280) acc += correct / (20.0 * B);
        }
        CHECK_MSG(acc > 0.95, "[%s] tells rising from falling spectra %.3f of the time", kinds[k],
                  acc);
        hsi_cnn_net_free(net);
    }
}

/* `hsi cnn train` with the shipped spec on a small simulated scene, then
 * `hsi cnn eval` and `hsi cnn predict` from the checkpoint. 30 epochs on an
 * easy 40 x 40 scene (30% of each class for training) reached 0.87 OA when
 * this was written; 0.75 leaves room for another BLAS's rounding. */
static double overall_accuracy(const char *dir)
{
    char path[4200], buf[8192];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = '\0';
    const char *at = strstr(buf, "overall_accuracy=");
    return at ? atof(at + strlen("overall_accuracy=")) : -1;
}

static int run_hsi(const char *dir, const char *args)
{
    char cmd[8192];
    const char *bin = getenv("HSI"), *src = getenv("HSI_SRCDIR");
    snprintf(cmd, sizeof cmd, "cd '%s' && SPECS='%s/cnn3d/specs' && '%s' %s >out.txt 2>err.txt", dir,
             src ? src : ".", bin ? bin : "hsi", args);
    int rc = system(cmd);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc)) {
        fprintf(stderr, "hsi %s failed:\n", args);
        snprintf(cmd, sizeof cmd, "cat '%s/err.txt' >&2", dir);
        if (system(cmd)) {
        }
        return 1;
    }
    return 0;
}

static void test_cli(const char *dir)
{
    if (run_hsi(dir, "simulate -q --rows 40 --cols 40 --seed 5 --difficulty 0.3 --bands-count 200 "
                     "-o s.tif --gt gt.tif") ||
        run_hsi(dir, "split --truth gt.tif --fraction 0.3 --seed 1 -o sp")) {
        CHECK(0);
        return;
    }
    int rc = run_hsi(dir, "cnn train s.tif --spec \"$SPECS/mou2017_rnn.cfg\" --train sp_train.tif "
                          "--test sp_test.tif --allow-missing-classes --epochs 30 -q -o gru.ckpt");
    CHECK(rc == 0);
    if (rc) return;
    double trained = overall_accuracy(dir);
    CHECK_MSG(trained > 0.75, "the mou2017 GRU reaches %.4f OA on the simulated scene", trained);
    CHECK(run_hsi(dir, "cnn eval s.tif -m gru.ckpt --test sp_test.tif") == 0);
    CHECK_NEAR(overall_accuracy(dir), trained, 1e-4);
    CHECK(run_hsi(dir, "cnn predict s.tif -m gru.ckpt -o classes.tif --prob prob.tif") == 0);
    CHECK(run_hsi(dir, "report --truth sp_test.tif --pred classes.tif") == 0);
    char path[4200], buf[8192];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = '\0';
    const char *oa = strstr(buf, "Overall accuracy (OA):");
    CHECK_MSG(oa && fabs(atof(oa + strlen("Overall accuracy (OA):")) - 100 * trained) < 0.01,
              "the predicted map scores %s, eval %.4f", oa ? oa : "?", trained);
}

int main(void)
{
    const char *src = getenv("HSI_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/cnn", src ? src : ".");
    test_golden(dir);
    test_init();
    test_batch_independence();
    test_one_step();
    test_spec_and_shapes();
    test_shipped_spec();
    test_learns_order();
    const char *tmp = check_tmpdir("cnn_rnn");
    test_checkpoint(tmp);
    test_cli(tmp);
    return check_finish();
}
