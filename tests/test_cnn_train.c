/* test_cnn_train.c - a small 3D-CNN learns a toy problem from in-memory
 * patches; the same seed gives bit-identical weights (for any thread count),
 * whether a step runs whole or in halves and whether its samples are
 * gathered on the host or held in backend memory; a checkpoint round-trips
 * (and a resumed run equals an uninterrupted one); truncated, corrupt and
 * foreign checkpoints are refused naming the file. */
#include <stdlib.h>
#include <sys/stat.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "tests/check.h"

/* Toy problem: 3 classes of 5 x 5 x 8 patches; class k has a bump at band
 * 2k+1 in the centre pixel's neighbourhood, plus noise. */
#define BANDS 8
#define S 5
#define N_TRAIN 240
#define N_TEST 120

typedef struct toy {
    size_t n;
    float *x;
    int32_t *y;
} toy;

static void make_toy(toy *t, size_t n, uint64_t seed)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    t->n = n;
    t->x = malloc(n * BANDS * S * S * sizeof(float));
    t->y = malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        int k = (int)hsi_rng_below(&rng, 3);
        t->y[i] = k;
        for (int b = 0; b < BANDS; b++)
            for (int yy = 0; yy < S; yy++)
                for (int xx = 0; xx < S; xx++) {
                    double v = hsi_rng_normal(&rng);
                    if (abs(yy - 2) <= 1 && abs(xx - 2) <= 1 && (b == 2 * k + 1 || b == 2 * k + 2))
                        v += 0.8;
                    t->x[((i * BANDS + b) * S + yy) * S + xx] = (float)v;
                }
    }
}

static hsi_status gather_toy(void *ctx, const size_t *idx, size_t n, float *x)
{
    const toy *t = ctx;
    const size_t sz = BANDS * S * S;
    for (size_t i = 0; i < n; i++) memcpy(x + i * sz, t->x + idx[i] * sz, sz * sizeof(float));
    return HSI_OK;
}

static const char *toy_spec =
    "# toy net\n[net]\ninput = 5, 5, auto\nclasses = auto\nbatch = 16\nepochs = 8\n"
    "loss = cce\noptimizer = sgd\nlearning_rate = 0.05\nmomentum = 0.9\n"
    "[conv3d]\nfilters = 6\nkernel = 3, 3, 3\nactivation = relu\n"
    "[maxpool3d]\nsize = 1, 1, 2\n[flatten]\n[dropout]\nrate = 0.2\n"
    "[dense]\nunits = 16\nactivation = relu\n[dense]\nunits = classes\nactivation = softmax\n";

/* The epochs' training and validation losses of a run. */
typedef struct epoch_log {
    int n;
    double loss[16], val_loss[16], acc[16];
} epoch_log;

static void log_epoch(void *ctx, const hsi_cnn_epoch_stats *s)
{
    epoch_log *l = ctx;
    if (l->n < 16) {
        l->loss[l->n] = s->loss, l->val_loss[l->n] = s->val_loss, l->acc[l->n] = s->accuracy;
        l->n++;
    }
}

static hsi_cnn_net *train_toy_log(const hsi_cnn_spec *spec, toy *train, toy *val, int epochs,
                                  uint64_t seed, const char *ckpt, hsi_cnn_resident resident,
                                  epoch_log *log)
{
    hsi_cnn_net_options o = {.bands = BANDS, .classes = 3, .training = 1, .seed = seed};
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    if (!net) return NULL;
    hsi_cnn_dataset tr = {train->n, train->y, gather_toy, train};
    hsi_cnn_dataset va = {val ? val->n : 0, val ? val->y : NULL, gather_toy, val};
    hsi_cnn_train_options to = {.epochs = epochs, .checkpoint_path = ckpt, .checkpoint_every = 1,
                                .resident = resident, .epoch_end = log ? log_epoch : NULL,
                                .epoch_ctx = log};
    CHECK_OK(hsi_cnn_train(net, &tr, val ? &va : NULL, &to));
    return net;
}

static hsi_cnn_net *train_toy(const hsi_cnn_spec *spec, toy *train, toy *val, int epochs,
                              uint64_t seed, const char *ckpt)
{
    return train_toy_log(spec, train, val, epochs, seed, ckpt, HSI_CNN_RESIDENT_AUTO, NULL);
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* The two halves of a step (hsi_cnn_train_step_begin/end), with the next
 * step begun before the last one ends as the training loop does, give the
 * losses, hits and weights of whole steps, in order. */
static void test_step_halves(const hsi_cnn_spec *spec, toy *train)
{
    hsi_cnn_net_options o = {.bands = BANDS, .classes = 3, .training = 1, .seed = 5};
    hsi_cnn_net *a = NULL, *b = NULL;
    CHECK_OK(hsi_cnn_net_new(spec, &o, &a));
    CHECK_OK(hsi_cnn_net_new(spec, &o, &b));
    if (!a || !b) goto out;
    const size_t sz = BANDS * S * S;
    double la[6], lb[6];
    int ha[6], hb[6];
    for (int s = 0; s < 6; s++)
        la[s] = hsi_cnn_train_step(a, train->x + s * 16 * sz, train->y + s * 16, NULL, 16, &ha[s]);
    CHECK(isnan(hsi_cnn_train_step_end(b, NULL))); /* nothing pending */
    hsi_cnn_train_step_begin(b, train->x, train->y, NULL, 16);
    for (int s = 1; s < 6; s++) {
        hsi_cnn_train_step_begin(b, train->x + s * 16 * sz, train->y + s * 16, NULL, 16);
        lb[s - 1] = hsi_cnn_train_step_end(b, &hb[s - 1]);
    }
    lb[5] = hsi_cnn_train_step_end(b, &hb[5]);
    for (int s = 0; s < 6; s++) {
        CHECK_MSG(la[s] == lb[s] && ha[s] == hb[s], "step %d: loss %.9g hits %d in halves, %.9g %d whole",
                  s, lb[s], hb[s], la[s], ha[s]);
    }
    CHECK(!memcmp(a->params, b->params, a->n_params * sizeof *a->params));
out:
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
}

/* Training from samples held in backend memory (as on a GPU: each step
 * gathers its windows there by index) equals gathering every batch on the
 * host: the same checkpoint byte for byte, the same losses every epoch. */
static void test_resident(const hsi_cnn_spec *spec, toy *train, toy *val, const char *a,
                          const char *b)
{
    epoch_log host = {0}, res = {0};
    hsi_cnn_net *n1 = train_toy_log(spec, train, val, 3, 42, a, HSI_CNN_RESIDENT_NEVER, &host);
    hsi_cnn_net *n2 = train_toy_log(spec, train, val, 3, 42, b, HSI_CNN_RESIDENT_ALWAYS, &res);
    CHECK_MSG(files_equal(a, b), "resident samples train another net than host batches");
    CHECK_INT_EQ(host.n, 3);
    CHECK_INT_EQ(res.n, 3);
    for (int e = 0; e < host.n && e < res.n; e++)
        CHECK_MSG(host.loss[e] == res.loss[e] && host.val_loss[e] == res.val_loss[e] &&
                      host.acc[e] == res.acc[e],
                  "epoch %d: loss %.9g / %.9g, val_loss %.9g / %.9g", e + 1, host.loss[e],
                  res.loss[e], host.val_loss[e], res.val_loss[e]);
    /* The plan: on the CPU nothing unless told (it would only copy); told,
     * the windows' bytes; never with augmentation (batches change on the
     * host). */
    if (n1) {
        size_t tb = 1, vb = 1;
        setenv("HSI_CNN_RESIDENT", "", 1);
        hsi_cnn_resident_plan(n1, 100, 50, HSI_CNN_RESIDENT_AUTO, &tb, &vb);
        CHECK(tb == 0 && vb == 0);
        hsi_cnn_resident_plan(n1, 100, 50, HSI_CNN_RESIDENT_ALWAYS, &tb, &vb);
        CHECK(tb == 100 * BANDS * S * S * sizeof(float) && vb == 50 * BANDS * S * S * sizeof(float));
        n1->spec->augment.flip = 1;
        hsi_cnn_resident_plan(n1, 100, 50, HSI_CNN_RESIDENT_ALWAYS, &tb, &vb);
        CHECK(tb == 0 && vb == 0);
        n1->spec->augment.flip = 0;
        unsetenv("HSI_CNN_RESIDENT");
    }
    hsi_cnn_net_free(n1);
    hsi_cnn_net_free(n2);
}

static void copy_prefix(const char *src, const char *dst, long keep, long flip_at)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int c;
    long i = 0;
    while ((c = fgetc(in)) != EOF && (keep < 0 || i < keep)) {
        if (i == flip_at) c ^= 0x10;
        fputc(c, out);
        i++;
    }
    fclose(in);
    fclose(out);
}

int main(void)
{
    const char *dir = check_tmpdir("cnn_train");
    char a[4200], b[4200], c[4200], bad[4200];
    snprintf(a, sizeof a, "%s/a.ckpt", dir);
    snprintf(b, sizeof b, "%s/b.ckpt", dir);
    snprintf(c, sizeof c, "%s/c.ckpt", dir);
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    toy train, test;
    make_toy(&train, N_TRAIN, 1);
    make_toy(&test, N_TEST, 2);
    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_parse(toy_spec, "toy.cfg", &spec));
    if (!spec) return check_finish();

    /* It learns: held-out accuracy well above chance (1/3). */
    hsi_cnn_net *net = train_toy(spec, &train, &test, 8, 42, a);
    if (!net) return check_finish();
    hsi_cnn_dataset te = {test.n, test.y, gather_toy, &test};
    double loss, acc;
    CHECK_OK(hsi_cnn_evaluate(net, &te, 16, &loss, &acc, NULL));
    printf("toy: test loss %.6f accuracy %.4f\n", loss, acc);
    CHECK_MSG(acc >= 0.9, "toy test accuracy %.3f < 0.9", acc);
    CHECK_INT_EQ(net->epoch, 8);
    CHECK_INT_EQ(net->iterations, 8 * ((N_TRAIN + 15) / 16));

    /* Same seed, same everything: identical checkpoints, byte for byte. */
    hsi_cnn_net *again = train_toy(spec, &train, &test, 8, 42, b);
    CHECK(files_equal(a, b));
    hsi_cnn_net_free(again);
#ifdef _OPENMP
    /* ... and with one thread instead of several: the conv filter gradients
     * are summed in fixed sample groups, never in thread order. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    hsi_cnn_net *single = train_toy(spec, &train, &test, 8, 42, b);
    omp_set_num_threads(threads);
    CHECK_MSG(files_equal(a, b), "1 thread and %d threads train different nets", threads);
    hsi_cnn_net_free(single);
#endif
    /* Another seed gives other weights. */
    hsi_cnn_net *other = train_toy(spec, &train, &test, 8, 43, b);
    CHECK(!files_equal(a, b));
    hsi_cnn_net_free(other);

    test_step_halves(spec, &train);
    char d[4200], e[4200];
    snprintf(d, sizeof d, "%s/d.ckpt", dir);
    snprintf(e, sizeof e, "%s/e.ckpt", dir);
    test_resident(spec, &train, &test, d, e);

    /* Resume: 5 epochs, reload, 3 more == 8 straight. */
    hsi_cnn_net *part = train_toy(spec, &train, &test, 5, 42, c);
    hsi_cnn_net_free(part);
    hsi_cnn_net *resumed = NULL;
    hsi_cnn_meta meta;
    CHECK_OK(hsi_cnn_checkpoint_read(c, 1, 0, NULL, &resumed, &meta));
    if (resumed) {
        CHECK_INT_EQ(resumed->epoch, 5);
        hsi_cnn_dataset tr = {train.n, train.y, gather_toy, &train};
        hsi_cnn_dataset va = {test.n, test.y, gather_toy, &test};
        hsi_cnn_train_options to = {.epochs = 8, .checkpoint_path = c, .checkpoint_every = 1};
        CHECK_OK(hsi_cnn_train(resumed, &tr, &va, &to));
        hsi_cnn_net_free(resumed);
        CHECK_MSG(files_equal(a, c), "a resumed run differs from an uninterrupted one");
    }
    hsi_cnn_meta_clear(&meta);

    /* An inference net from the checkpoint predicts exactly like the trained one. */
    hsi_cnn_net *infer = NULL;
    CHECK_OK(hsi_cnn_checkpoint_read(a, 0, 16, NULL, &infer, NULL));
    if (infer) {
        double l2, a2;
        CHECK_OK(hsi_cnn_evaluate(infer, &te, 16, &l2, &a2, NULL));
        CHECK(l2 == loss && a2 == acc);
        hsi_cnn_net_free(infer);
    }

    /* Refused: truncated, a flipped byte, a foreign file, a missing file. */
    struct stat sb;
    stat(a, &sb);
    hsi_cnn_net *x = NULL;
    copy_prefix(a, bad, sb.st_size - 100, -1);
    CHECK_FAILS(hsi_cnn_checkpoint_read(bad, 0, 1, NULL, &x, NULL), HSI_ERR_FORMAT,
                "bad.ckpt: CNN checkpoint corrupt or truncated");
    copy_prefix(a, bad, 10, -1);
    CHECK_FAILS(hsi_cnn_checkpoint_read(bad, 0, 1, NULL, &x, NULL), HSI_ERR_FORMAT,
                "bad.ckpt: CNN checkpoint truncated");
    copy_prefix(a, bad, -1, sb.st_size / 2);
    CHECK_FAILS(hsi_cnn_checkpoint_read(bad, 0, 1, NULL, &x, NULL), HSI_ERR_FORMAT,
                "bad.ckpt: CNN checkpoint corrupt or truncated (checksum mismatch)");
    FILE *fp = fopen(bad, "w");
    fputs(toy_spec, fp);
    fclose(fp);
    CHECK_FAILS(hsi_cnn_checkpoint_read(bad, 0, 1, NULL, &x, NULL), HSI_ERR_FORMAT,
                "bad.ckpt: not an hsi CNN checkpoint");
    CHECK_FAILS(hsi_cnn_checkpoint_read("/nonexistent/m.ckpt", 0, 1, NULL, &x, NULL), HSI_ERR_IO,
                "/nonexistent/m.ckpt: cannot open");
    CHECK(x == NULL);

    hsi_cnn_net_free(net);
    hsi_cnn_spec_free(spec);
    free(train.x), free(train.y), free(test.x), free(test.y);
    return check_finish();
}
