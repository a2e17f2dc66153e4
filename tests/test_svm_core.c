/* test_svm_core.c - the SVM classifier: learning a separable problem, model
 * bundle round trips, refusing bad inputs and corrupt bundles, stratified
 * folds, and the grid search (kernel reuse equals plain RBF). */
#include <stdint.h>
#include <sys/stat.h>

#include "base/cube.h"
#include "base/rng.h"
#include "base/status.h"
#include "classifiers/svm.h"
#include "features/preprocess.h"
#include "tests/check.h"

/* n samples of `classes` Gaussian blobs in dim dimensions: class k's centre
 * is `spread` * e_k (coordinates beyond the classes stay 0), noise sd 1. */
static void blobs(size_t n, size_t dim, int classes, double spread, uint64_t seed, float *x,
                  uint16_t *y)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % (size_t)classes) + 1;
        y[i] = (uint16_t)k;
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = (float)(hsi_rng_normal(&rng) + ((int)j == k - 1 ? spread : 0.0));
    }
}

static void test_separable(void)
{
    enum { N = 150, T = 300, D = 5, K = 3 };
    float x[N * D], xt[T * D];
    uint16_t y[N], yt[T], pred[T];
    blobs(N, D, K, 12.0, 1, x, y);
    blobs(T, D, K, 12.0, 2, xt, yt);
    hsi_svm_kernel kernels[3] = {HSI_SVM_RBF, HSI_SVM_LINEAR, HSI_SVM_POLY};
    for (int kk = 0; kk < 3; kk++) {
        hsi_svm_params p;
        hsi_svm_params_init(&p);
        p.kernel = kernels[kk];
        /* gamma on the scale of the blobs (centres 12 apart) */
        p.gamma = kernels[kk] == HSI_SVM_POLY ? 0.05 : 0.01;
        p.C = 10;
        hsi_svm_model *m = NULL;
        CHECK_OK(hsi_svm_train(x, y, N, D, K, &p, &m));
        if (!m) continue;
        CHECK_OK(hsi_svm_predict(m, xt, T, D, "test", pred, NULL));
        int wrong = 0;
        for (int i = 0; i < T; i++) wrong += pred[i] != yt[i];
        CHECK_MSG(wrong == 0, "%s kernel: %d of %d wrong on well separated blobs",
                  hsi_svm_kernel_name(kernels[kk]), wrong, T);
        hsi_svm_model_info info;
        hsi_svm_model_get_info(m, &info);
        CHECK_INT_EQ(info.n_classes, K);
        CHECK(info.n_support > 0 && info.n_support < N);
        CHECK(!info.has_probability);
        float prob[T * K];
        CHECK_FAILS(hsi_svm_predict(m, xt, T, D, "test", pred, prob), HSI_ERR_ARG,
                    "without them");
        hsi_svm_model_free(m);
    }
}

static void test_probability_and_weights(void)
{
    enum { N = 200, D = 4, K = 2 };
    float x[N * D];
    uint16_t y[N], pred[N];
    blobs(N, D, K, 1.5, 3, x, y); /* overlapping classes */
    hsi_svm_params p;
    hsi_svm_params_init(&p);
    p.gamma = 0.25;
    p.probability = 1;
    p.seed = 7;
    hsi_svm_model *a = NULL, *b = NULL;
    CHECK_OK(hsi_svm_train(x, y, N, D, K, &p, &a));
    CHECK_OK(hsi_svm_train(x, y, N, D, K, &p, &b));
    float pa[N * K], pb[N * K];
    CHECK_OK(hsi_svm_predict(a, x, N, D, "x", pred, pa));
    CHECK_OK(hsi_svm_predict(b, x, N, D, "x", pred, pb));
    /* Same seed, same probability model. */
    CHECK(memcmp(pa, pb, sizeof pa) == 0);
    int bad_sum = 0;
    for (int i = 0; i < N; i++) bad_sum += fabs(pa[i * K] + pa[i * K + 1] - 1.0) > 1e-5;
    CHECK_INT_EQ(bad_sum, 0);
    hsi_svm_model_free(a);
    hsi_svm_model_free(b);

    /* A heavy weight on class 2 moves the boundary towards class 1: more
     * pixels are called class 2. */
    double w[2] = {1.0, 20.0};
    hsi_svm_params_init(&p);
    p.gamma = 0.25;
    CHECK_OK(hsi_svm_train(x, y, N, D, K, &p, &a));
    p.class_weight = w;
    CHECK_OK(hsi_svm_train(x, y, N, D, K, &p, &b));
    uint16_t pw[N];
    CHECK_OK(hsi_svm_predict(a, x, N, D, "x", pred, NULL));
    CHECK_OK(hsi_svm_predict(b, x, N, D, "x", pw, NULL));
    int two_plain = 0, two_weighted = 0;
    for (int i = 0; i < N; i++) {
        two_plain += pred[i] == 2;
        two_weighted += pw[i] == 2;
    }
    CHECK_MSG(two_weighted > two_plain, "class 2: %d unweighted, %d weighted", two_plain,
              two_weighted);
    hsi_svm_model_free(a);
    hsi_svm_model_free(b);
}

static void test_bad_inputs(void)
{
    enum { N = 30, D = 3 };
    float x[N * D];
    uint16_t y[N], pred[N];
    blobs(N, D, 3, 5.0, 4, x, y);
    hsi_svm_params p;
    hsi_svm_params_init(&p);
    hsi_svm_model *m = NULL;
    p.gamma = 0;
    CHECK_FAILS(hsi_svm_train(x, y, N, D, 3, &p, &m), HSI_ERR_ARG, "gamma must be a positive");
    p.gamma = -1;
    CHECK_FAILS(hsi_svm_train(x, y, N, D, 3, &p, &m), HSI_ERR_ARG, "gamma must be a positive");
    p.gamma = 1;
    p.C = 0;
    CHECK_FAILS(hsi_svm_train(x, y, N, D, 3, &p, &m), HSI_ERR_ARG, "C must be a positive");
    p.C = 1;
    /* Class 4 of 4 has no samples. */
    CHECK_FAILS(hsi_svm_train(x, y, N, D, 4, &p, &m), HSI_ERR_DATA,
                "class 4 has no training samples");
    CHECK(m == NULL);
    CHECK_OK(hsi_svm_train(x, y, N, D, 3, &p, &m));
    CHECK_FAILS(hsi_svm_predict(m, x, N / 2, D + 1, "scene.tif", pred, NULL), HSI_ERR_SIZE,
                "scene.tif: 4 values per pixel but the model takes 3");
    hsi_svm_model_free(m);

    /* From a scene: a class of the label table without training pixels. */
    hsi_cube *cube = NULL;
    hsi_labels *lab = NULL;
    CHECK_OK(hsi_cube_new(4, 5, D, &cube));
    CHECK_OK(hsi_labels_new(4, 5, 3, &lab));
    snprintf(lab->classes[2].name, HSI_CLASS_NAME_MAX, "Corn");
    for (size_t i = 0; i < 20; i++) {
        lab->data[i] = i % 2 ? 1 : 3;
        for (size_t b = 0; b < D; b++) cube->data[i * D + b] = (float)(lab->data[i] + 0.1 * b);
    }
    CHECK_FAILS(hsi_svm_train_scene(cube, lab, "train.tif", HSI_PREPROCESS_NONE, 0, 0, &p, &m),
                HSI_ERR_DATA, "train.tif: class 2 (Corn) has no training pixels");
    /* Allowed, the class is left out: classes 1 and 3 are learned, 2 never predicted. */
    p.allow_missing_classes = 1;
    CHECK_OK(hsi_svm_train_scene(cube, lab, "train.tif", HSI_PREPROCESS_NONE, 0, 0, &p, &m));
    if (m) {
        uint16_t scene_pred[20];
        CHECK_OK(hsi_svm_predict(m, cube->data, 20, D, "scene", scene_pred, NULL));
        int same = 1;
        for (size_t i = 0; i < 20; i++) same &= scene_pred[i] == lab->data[i];
        CHECK_MSG(same, "the two present classes are learned");
        hsi_svm_model_free(m);
        m = NULL;
    }
    /* Still, one class alone is no classification problem. */
    for (size_t i = 0; i < 20; i++) lab->data[i] = i % 2 ? 1 : 0;
    CHECK_FAILS(hsi_svm_train_scene(cube, lab, "train.tif", HSI_PREPROCESS_NONE, 0, 0, &p, &m),
                HSI_ERR_DATA, "train.tif: only 1 class has training pixels");
    for (size_t i = 0; i < 20; i++) lab->data[i] = i % 2 ? 1 : 3;
    p.allow_missing_classes = 0;
    hsi_labels *wrong = NULL;
    CHECK_OK(hsi_labels_new(3, 5, 3, &wrong));
    CHECK_FAILS(hsi_svm_train_scene(cube, wrong, "small.tif", HSI_PREPROCESS_NONE, 0, 0, &p, &m),
                HSI_ERR_SIZE, "small.tif");
    hsi_labels_free(wrong);
    hsi_labels_free(lab);
    hsi_cube_free(cube);
}

/* A scene whose three classes are bands-shaped spectra plus noise. */
static void make_scene(hsi_cube **cube_out, hsi_labels **lab_out)
{
    enum { R = 12, C = 10, B = 6 };
    hsi_cube *cube = NULL;
    hsi_labels *lab = NULL;
    hsi_cube_new(R, C, B, &cube);
    hsi_labels_new(R, C, 3, &lab);
    hsi_rng rng;
    hsi_rng_seed(&rng, 11);
    for (size_t i = 0; i < R * C; i++) {
        int k = (int)(i / C) / 4 + 1; /* 4 rows per class */
        for (size_t b = 0; b < B; b++)
            cube->data[i * B + b] = (float)(100.0 * k * (b + 1) + 40.0 * hsi_rng_normal(&rng));
        lab->data[i] = (i % 3 == 0) ? (uint16_t)k : 0; /* a third of the pixels train */
    }
    snprintf(lab->classes[1].name, HSI_CLASS_NAME_MAX, "Soil");
    lab->classes[1].rgb[0] = 200;
    *cube_out = cube;
    *lab_out = lab;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
}

static void test_bundle(void)
{
    const char *dir = check_tmpdir("svm_core");
    hsi_cube *cube;
    hsi_labels *lab;
    make_scene(&cube, &lab);
    hsi_svm_params p;
    hsi_svm_params_init(&p);
    p.gamma = 0.5;
    p.C = 4;
    p.probability = 1;
    hsi_svm_model *m = NULL, *back = NULL;
    CHECK_OK(hsi_svm_train_scene(cube, lab, "train", HSI_PREPROCESS_STANDARDISE, 0, 0, &p, &m));
    if (!m) return;
    char path[4300];
    snprintf(path, sizeof path, "%s/model.svm", dir);
    CHECK_OK(hsi_svm_model_save(m, path));
    CHECK_OK(hsi_svm_model_load(path, &back));
    if (!back) return;
    size_t n = cube->rows * cube->cols;
    uint16_t *la = malloc(n * 2), *lb = malloc(n * 2);
    float *pa = malloc(n * 3 * 4), *pb = malloc(n * 3 * 4);
    CHECK_OK(hsi_svm_predict(m, cube->data, n, cube->bands, "cube", la, pa));
    CHECK_OK(hsi_svm_predict(back, cube->data, n, cube->bands, "cube", lb, pb));
    /* The bundle keeps every digit: identical labels and probabilities. */
    CHECK(memcmp(la, lb, n * 2) == 0);
    CHECK(memcmp(pa, pb, n * 3 * 4) == 0);
    int wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += la[i] != (uint16_t)((i / cube->cols) / 4 + 1);
    CHECK_MSG(wrong <= (int)n / 20, "%d of %zu pixels wrong", wrong, n);
    hsi_svm_model_info ia, ib;
    hsi_svm_model_get_info(m, &ia);
    hsi_svm_model_get_info(back, &ib);
    CHECK_INT_EQ(ib.input_dim, cube->bands);
    CHECK_INT_EQ(ib.n_classes, 3);
    CHECK_INT_EQ(ib.n_support, ia.n_support);
    CHECK(ib.has_probability && ib.params.C == 4 && ib.params.gamma == 0.5);
    CHECK(ib.preprocess && ib.preprocess->kind == HSI_PREPROCESS_STANDARDISE);
    CHECK(strcmp(ib.classes[1].name, "Soil") == 0 && ib.classes[1].rgb[0] == 200);
    CHECK_FAILS(hsi_svm_predict(back, cube->data, n / 2, cube->bands - 1, "other.tif", lb, NULL),
                HSI_ERR_SIZE, "other.tif: 5 values per pixel but the model takes 6");
    hsi_svm_model_free(back);
    back = NULL;

    /* Corrupt, truncated and foreign files. */
    FILE *fp = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    char bad[4400];
    snprintf(bad, sizeof bad, "%s/flipped.svm", dir);
    buf[len / 2] ^= 0x20;
    write_bytes(bad, buf, len);
    CHECK_FAILS(hsi_svm_model_load(bad, &back), HSI_ERR_FORMAT,
                "flipped.svm: SVM model corrupt or truncated (checksum mismatch)");
    buf[len / 2] ^= 0x20;
    snprintf(bad, sizeof bad, "%s/truncated.svm", dir);
    write_bytes(bad, buf, len - 100);
    CHECK_FAILS(hsi_svm_model_load(bad, &back), HSI_ERR_FORMAT,
                "truncated.svm: SVM model corrupt or truncated (checksum mismatch)");
    write_bytes(bad, buf, 10);
    CHECK_FAILS(hsi_svm_model_load(bad, &back), HSI_ERR_FORMAT, "truncated.svm: SVM model truncated");
    snprintf(bad, sizeof bad, "%s/foreign.svm", dir);
    write_bytes(bad, (const unsigned char *)"svm_type c_svc\nkernel_type rbf\n", 31);
    CHECK_FAILS(hsi_svm_model_load(bad, &back), HSI_ERR_FORMAT, "foreign.svm: not an hsi SVM model");
    snprintf(bad, sizeof bad, "%s/missing.svm", dir);
    CHECK_FAILS(hsi_svm_model_load(bad, &back), HSI_ERR_IO, "missing.svm: cannot open");
    CHECK(back == NULL);
    /* A failed save leaves nothing. */
    CHECK_FAILS(hsi_svm_model_save(m, "/nonexistent-dir/m.svm"), HSI_ERR_IO, "/nonexistent-dir/m.svm");
    free(la);
    free(lb);
    free(pa);
    free(pb);
    hsi_svm_model_free(m);
    hsi_labels_free(lab);
    hsi_cube_free(cube);
}

static void test_folds_and_ranges(void)
{
    enum { N = 103 };
    uint16_t y[N];
    int fold[N], fold2[N];
    for (int i = 0; i < N; i++) y[i] = i < 60 ? 1 : i < 90 ? 2 : 3; /* 60 / 30 / 13 */
    CHECK_OK(hsi_svm_folds(y, N, 3, 10, 5, fold));
    CHECK_OK(hsi_svm_folds(y, N, 3, 10, 5, fold2));
    CHECK(memcmp(fold, fold2, sizeof fold) == 0);
    int size[10] = {0}, per[10][4] = {{0}};
    for (int i = 0; i < N; i++) {
        size[fold[i]]++;
        per[fold[i]][y[i]]++;
    }
    for (int f = 0; f < 10; f++) {
        CHECK(size[f] == 10 || size[f] == 11);
        CHECK(per[f][1] == 6);
        CHECK(per[f][2] == 3);
    }
    CHECK_FAILS(hsi_svm_folds(y, 5, 3, 10, 5, fold), HSI_ERR_ARG, "10 folds");

    /* libsvm's scheme: fold f holds the slice [f c / K, (f + 1) c / K) of each
     * class, folds laid out in order in perm, perm a permutation. */
    size_t perm[N];
    CHECK_OK(hsi_svm_folds_libsvm(y, N, 10, fold, perm));
    int seen[N] = {0}, per_l[10][4] = {{0}};
    for (int j = 0; j < N; j++) {
        seen[perm[j]]++;
        if (j > 0) CHECK(fold[perm[j]] >= fold[perm[j - 1]]);
    }
    for (int i = 0; i < N; i++) {
        CHECK(seen[i] == 1);
        per_l[fold[i]][y[i]]++;
    }
    for (int f = 0; f < 10; f++) {
        CHECK_INT_EQ(per_l[f][1], 6);
        CHECK_INT_EQ(per_l[f][2], 3);
        CHECK_INT_EQ(per_l[f][3], (f + 1) * 13 / 10 - f * 13 / 10);
    }
    hsi_svm_range r;
    double v[16];
    CHECK_OK(hsi_svm_range_parse("3,-15,-2", &r));
    CHECK_INT_EQ(hsi_svm_range_values(&r, v, 16), 10);
    CHECK(v[0] == 3 && v[9] == -15);
    CHECK_OK(hsi_svm_range_parse("-5,15,2", &r));
    CHECK_INT_EQ(hsi_svm_range_values(&r, v, 16), 11);
    CHECK_OK(hsi_svm_range_parse("0,0,1", &r));
    CHECK_INT_EQ(hsi_svm_range_values(&r, v, 16), 1);
    CHECK_FAILS(hsi_svm_range_parse("3,-15,2", &r), HSI_ERR_ARG, "step");
    CHECK_FAILS(hsi_svm_range_parse("1,2", &r), HSI_ERR_ARG, "begin,end,step");
    CHECK_FAILS(hsi_svm_range_parse("1,2,0", &r), HSI_ERR_ARG, "step");
}

static void test_grid(void)
{
    enum { N = 240, D = 6, K = 3 };
    static float x[N * D];
    uint16_t y[N];
    blobs(N, D, K, 2.0, 9, x, y); /* overlapping: accuracies differ across the grid */
    hsi_svm_grid_options o;
    hsi_svm_grid_options_init(&o);
    CHECK_OK(hsi_svm_range_parse("-3,9,4", &o.log2c));
    CHECK_OK(hsi_svm_range_parse("1,-9,-5", &o.log2g));
    o.folds = 5;
    hsi_svm_grid_result *reuse = NULL, *plain = NULL;
    CHECK_OK(hsi_svm_grid(x, y, N, D, K, &o, &reuse));
    o.kernel_mem_mb = 0;
    CHECK_OK(hsi_svm_grid(x, y, N, D, K, &o, &plain));
    if (!reuse || !plain) return;
    CHECK(reuse->kernel_reuse && !plain->kernel_reuse);
    CHECK_INT_EQ(reuse->n_gamma, 3);
    CHECK_INT_EQ(reuse->n_c, 4);
    CHECK_INT_EQ(reuse->tasks, 60);
    CHECK(reuse->log2g[0] == 1 && reuse->log2g[2] == -9 && reuse->log2c[3] == 9);
    double lo = 1, hi = 0;
    for (int i = 0; i < 12; i++) {
        /* Same folds, same kernel up to rounding: the same held-out hits. */
        CHECK_MSG(reuse->accuracy[i] == plain->accuracy[i],
                  "cell %d: kernel reuse %.4f, plain RBF %.4f", i, reuse->accuracy[i],
                  plain->accuracy[i]);
        lo = fmin(lo, reuse->accuracy[i]);
        hi = fmax(hi, reuse->accuracy[i]);
        CHECK(reuse->seconds[i] >= 0);
    }
    CHECK_MSG(hi > 0.75 && lo < hi, "accuracy range %.3f..%.3f", lo, hi);
    CHECK(reuse->best_g == plain->best_g && reuse->best_c == plain->best_c);
    CHECK(reuse->accuracy[reuse->best_g * 4 + reuse->best_c] == hi);

    /* One CV cell by hand with hsi_svm_train on the same folds. */
    int fold[N];
    CHECK_OK(hsi_svm_folds(y, N, K, 5, o.seed, fold));
    int gi = reuse->best_g, ci = reuse->best_c;
    long hits = 0;
    for (int f = 0; f < 5; f++) {
        static float tx[N * D], vx[N * D];
        uint16_t ty[N], vy[N], pred[N];
        size_t nt = 0, nv = 0;
        for (int i = 0; i < N; i++) {
            if (fold[i] == f) {
                memcpy(vx + nv * D, x + i * D, D * sizeof *x);
                vy[nv++] = y[i];
            } else {
                memcpy(tx + nt * D, x + i * D, D * sizeof *x);
                ty[nt++] = y[i];
            }
        }
        hsi_svm_params p;
        hsi_svm_params_init(&p);
        p.gamma = exp2(reuse->log2g[gi]);
        p.C = exp2(reuse->log2c[ci]);
        hsi_svm_model *m = NULL;
        CHECK_OK(hsi_svm_train(tx, ty, nt, D, K, &p, &m));
        if (!m) continue;
        CHECK_OK(hsi_svm_predict(m, vx, nv, D, "fold", pred, NULL));
        for (size_t i = 0; i < nv; i++) hits += pred[i] == vy[i];
        hsi_svm_model_free(m);
    }
    CHECK_NEAR((double)hits / N, reuse->accuracy[gi * 4 + ci], 1e-12);

    /* Bad grid inputs. */
    hsi_svm_grid_result *r = NULL;
    o.folds = N + 1;
    CHECK_FAILS(hsi_svm_grid(x, y, N, D, K, &o, &r), HSI_ERR_ARG, "folds need");
    o.folds = 5;
    CHECK_FAILS(hsi_svm_grid(x, y, N, D, K + 1, &o, &r), HSI_ERR_DATA, "class 4 has no training");
    CHECK(r == NULL);
    hsi_svm_grid_free(reuse);
    hsi_svm_grid_free(plain);
}

int main(void)
{
    test_separable();
    test_probability_and_weights();
    test_bad_inputs();
    test_bundle();
    test_folds_and_ranges();
    test_grid();
    return check_finish();
}
