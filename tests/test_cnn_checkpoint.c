/* test_cnn_checkpoint.c - a checkpoint is checked field by field, not only
 * by its checksum: variants of a valid file with one field changed and the
 * checksum recomputed (a crafted file, not an accident) are refused with a
 * message naming the file and the field, before any of them reaches the
 * forward pass (a patch radius other than the spec's overflowed its input
 * buffer); the untouched file still loads and predicts what the net it was
 * written from predicts. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "base/blob.h"
#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "features/patch.h"
#include "features/preprocess.h"
#include "io/io.h"
#include "tests/check.h"

#define BANDS 6
#define CLASSES 3
#define RADIUS 4
#define ROWS 12
#define COLS 10

/* A 9 x 9 patch (radius 4) net with a batchnorm, so both n_params and n_state
 * are nonzero. */
static const char *spec_text = "[net]\n"
                               "input = 9, 9, auto\n"
                               "classes = auto\n"
                               "batch = 8\n"
                               "[conv3d]\n"
                               "filters = 2\n"
                               "kernel = 3, 3, 3\n"
                               "stride = 2, 2, 1\n"
                               "activation = relu\n"
                               "[batchnorm]\n"
                               "[flatten]\n"
                               "[dense]\n"
                               "units = classes\n"
                               "activation = softmax\n";

static const char *tmp;
static char cube_path[4200];

static const char *tmp_file(const char *name)
{
    static char buf[8][4200];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", tmp, name);
    return b;
}

/* ---- the file as bytes, and where its fields are ---- */

typedef struct ckpt_bytes {
    unsigned char *p;
    size_t len;
    /* offsets of the fields (see the layout in cnn3d/checkpoint.c) */
    size_t spec_text, bands, classes, in_h, in_w, n_params, n_state, iterations, epoch, rng,
        radius, border, seed, bands_len, band_text, n_classes, has_pre, pre, pre_in, pre_out,
        settings, n_frozen, has_opt, floats;
} ckpt_bytes;

/* Version 2's training settings (checkpoint.c): offsets inside the record. */
enum {
    SET_LR = 0, SET_EPOCHS = 8, SET_KIND = 12, SET_STEP = 16, SET_PATIENCE = 20, SET_GAMMA = 24,
    SET_MIN_LR = 32, SET_WARMUP = 40, SET_BEST = 44, SET_WAIT = 52, SET_SCALE = 56, SET_FLIP = 64,
    SET_ROTATE = 65, SET_GAIN = 66, SET_OFFSET = 74, SET_MIX = 82, SET_N_FROZEN = 90, SET_SIZE = 94
};

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int ckpt_load(const char *path, ckpt_bytes *c)
{
    memset(c, 0, sizeof *c);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    c->len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    c->p = malloc(c->len);
    if (!c->p || fread(c->p, 1, c->len, fp) != c->len) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    size_t o = 12;
    uint32_t spec_len = rd32(c->p + o);
    c->spec_text = o + 4;
    o = c->spec_text + spec_len;
    c->bands = o, c->classes = o + 4, c->in_h = o + 8, c->in_w = o + 12;
    c->n_params = o + 16, c->n_state = o + 24, c->iterations = o + 32, c->epoch = o + 40;
    c->rng = o + 44;
    o = c->rng + 32;
    c->radius = o, c->border = o + 4, c->seed = o + 8, c->bands_len = o + 16;
    c->band_text = o + 20;
    o = c->band_text + rd32(c->p + c->bands_len);
    c->n_classes = o;
    uint32_t nc = rd32(c->p + o);
    o += 4 + (nc ? (nc + 1) * (size_t)(HSI_CLASS_NAME_MAX + 3) : 0);
    c->has_pre = o;
    o += 1;
    if (c->p[c->has_pre]) {
        c->pre = o;
        uint32_t kind = rd32(c->p + o + 8);
        uint64_t in = rd64(c->p + o + 12), out = rd64(c->p + o + 20);
        c->pre_in = o + 12, c->pre_out = o + 20;
        o += 28 + in * 4;
        o += kind == HSI_PREPROCESS_PCA ? in * out * 4 + out * 8 : in * 4;
    }
    c->settings = o;
    c->n_frozen = o + SET_N_FROZEN;
    o += SET_SIZE + rd32(c->p + c->n_frozen);
    c->has_opt = o;
    c->floats = o + 1;
    return 0;
}

/* Write bytes[0..len) plus a fresh checksum: a crafted file that passes the
 * checksum. */
static const char *write_crafted(const char *name, const unsigned char *p, size_t len)
{
    const char *path = tmp_file(name);
    unsigned char *b = malloc(len + 8);
    memcpy(b, p, len);
    wr64(b + len, hsi_fnv1a64(b, len));
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(b, 1, len + 8, fp);
        fclose(fp);
    }
    free(b);
    return path;
}

/* The valid file with the u32 at `at` set to v, re-checksummed. */
static const char *patched32(const ckpt_bytes *c, const char *name, size_t at, uint32_t v)
{
    unsigned char *b = malloc(c->len);
    memcpy(b, c->p, c->len);
    wr32(b + at, v);
    const char *path = write_crafted(name, b, c->len - 8);
    free(b);
    return path;
}

static const char *patched64(const ckpt_bytes *c, const char *name, size_t at, uint64_t v)
{
    unsigned char *b = malloc(c->len);
    memcpy(b, c->p, c->len);
    wr64(b + at, v);
    const char *path = write_crafted(name, b, c->len - 8);
    free(b);
    return path;
}

static const char *patched8(const ckpt_bytes *c, const char *name, size_t at, uint8_t v)
{
    unsigned char *b = malloc(c->len);
    memcpy(b, c->p, c->len);
    b[at] = v;
    const char *path = write_crafted(name, b, c->len - 8);
    free(b);
    return path;
}

/* Loading `path` (for inference and for training) fails with
 * HSI_ERR_FORMAT, naming the file and `field`. */
static void refused(const char *path, const char *field, int line)
{
    for (int training = 0; training <= 1; training++) {
        hsi_cnn_net *net = NULL;
        hsi_cnn_meta meta = {0};
        hsi_status st = hsi_cnn_checkpoint_read(path, training, 4, NULL, &net, &meta);
        const char *msg = hsi_last_error();
        /* The field must be named in the message proper, not only in the
         * file name (the crafted files are named after their fields). */
        char rest[4096] = "";
        for (const char *m = msg, *at; *m; m = at + strlen(path)) {
            if (!(at = strstr(m, path))) {
                strncat(rest, m, sizeof rest - strlen(rest) - 1);
                break;
            }
            strncat(rest, m, (size_t)(at - m) < sizeof rest - strlen(rest) - 1
                                 ? (size_t)(at - m)
                                 : sizeof rest - strlen(rest) - 1);
        }
        check_count++;
        if (st != HSI_ERR_FORMAT || !strstr(msg, path) || !strstr(rest, field) ||
            strchr(msg, '\n')) {
            check_failures++;
            fprintf(stderr,
                    "%s:%d: loading %s (training %d) gave status %d message '%s'; wanted %d "
                    "naming the file and '%s'\n",
                    __FILE__, line, path, training, (int)st, st ? msg : "", HSI_ERR_FORMAT, field);
        }
        if (st == HSI_OK && training == 0) {
            /* The defect: what was accepted went on to predict. Show whether
             * prediction at least refuses it (before the fix it overflowed). */
            hsi_cnn_scene_options so = {0};
            hsi_labels *map = NULL;
            hsi_status pst = hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL);
            CHECK_MSG(pst != HSI_OK, "%s: predicted with a crafted checkpoint", path);
            hsi_labels_free(map);
        }
        hsi_cnn_net_free(net);
        hsi_cnn_meta_clear(&meta);
    }
}
#define REFUSED(path, field) refused(path, field, __LINE__)

/* ---- the reference net, scene and checkpoint ---- */

static hsi_cnn_net *make_net(void)
{
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_spec_parse(spec_text, "small.cfg", &spec));
    if (!spec) return NULL;
    hsi_cnn_net_options o = {.bands = BANDS, .classes = CLASSES, .max_batch = 8, .training = 1,
                             .seed = 5};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    if (!net) return NULL;
    /* A few steps, so the optimiser state and counters are not all zero. */
    hsi_rng rng;
    hsi_rng_seed(&rng, 11);
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = malloc(8 * in * sizeof *x);
    int32_t labels[8];
    for (size_t i = 0; i < 8 * in; i++) x[i] = (float)hsi_rng_normal(&rng);
    for (int i = 0; i < 8; i++) labels[i] = i % CLASSES;
    for (int s = 0; s < 3; s++) {
        int correct;
        hsi_cnn_train_step(net, x, labels, NULL, 8, &correct);
    }
    net->epoch = 2;
    free(x);
    return net;
}

static hsi_cube *make_cube(void)
{
    hsi_cube *cube = NULL;
    CHECK_OK(hsi_cube_new(ROWS, COLS, BANDS, &cube));
    if (!cube) return NULL;
    hsi_rng rng;
    hsi_rng_seed(&rng, 3);
    for (size_t i = 0; i < ROWS * COLS * BANDS; i++)
        cube->data[i] = (float)(50 + 10 * hsi_rng_normal(&rng));
    return cube;
}

/* meta with a standardisation fitted on `pre_bands` bands of the cube and
 * a three-class table. */
static void make_meta(hsi_cnn_meta *meta, const hsi_cube *cube, size_t pre_bands,
                      hsi_preprocess_kind kind, size_t pca_k, const char *band_list)
{
    memset(meta, 0, sizeof *meta);
    meta->radius = RADIUS;
    meta->border = HSI_BORDER_MIRROR;
    meta->seed = 17;
    snprintf(meta->bands, sizeof meta->bands, "%s", band_list);
    float *x = malloc(ROWS * COLS * pre_bands * sizeof *x);
    for (size_t i = 0; i < ROWS * COLS; i++)
        for (size_t b = 0; b < pre_bands; b++) x[i * pre_bands + b] = cube->data[i * BANDS + b];
    CHECK_OK(hsi_preprocess_fit(kind, x, ROWS * COLS, pre_bands, pca_k, 0, &meta->preprocess));
    free(x);
    meta->n_classes = CLASSES;
    meta->classes = calloc(CLASSES + 1, sizeof *meta->classes);
    const char *names[CLASSES + 1] = {"unlabelled", "water", "trees", "fields"};
    for (int k = 0; k <= CLASSES; k++) {
        snprintf(meta->classes[k].name, sizeof meta->classes[k].name, "%s", names[k]);
        meta->classes[k].rgb[0] = (uint8_t)(40 * k);
    }
}

/* The same cube through a net: probabilities of every pixel (the scene
 * predictor, so preprocessing, patches and the forward pass all run). */
static hsi_status predict_probs(hsi_cnn_net *net, const hsi_cnn_meta *meta, hsi_cube **prob)
{
    hsi_cnn_scene_options so = {.probability = 1};
    hsi_labels *map = NULL;
    hsi_status st = hsi_cnn_predict_file(net, meta, cube_path, &so, &map, prob, NULL);
    hsi_labels_free(map);
    return st;
}

/* ---- the tests ---- */

static void test_valid_round_trip(hsi_cnn_net *net, const hsi_cnn_meta *meta, const char *good)
{
    hsi_cnn_net *back = NULL;
    hsi_cnn_meta m = {0};
    CHECK_OK(hsi_cnn_checkpoint_read(good, 0, 8, NULL, &back, &m));
    if (!back) return;
    CHECK_INT_EQ(back->n_params, net->n_params);
    CHECK_INT_EQ(back->n_state, net->n_state);
    CHECK_INT_EQ(back->epoch, 2);
    CHECK_INT_EQ(back->iterations, 3);
    CHECK_INT_EQ(m.radius, RADIUS);
    CHECK_INT_EQ(m.border, HSI_BORDER_MIRROR);
    CHECK_INT_EQ(m.n_classes, CLASSES);
    CHECK(strcmp(m.bands, "1-6") == 0);
    CHECK(m.preprocess && m.preprocess->in_dim == BANDS);
    hsi_cube *want = NULL, *got = NULL;
    CHECK_OK(predict_probs(net, meta, &want));
    CHECK_OK(predict_probs(back, &m, &got));
    if (want && got) {
        size_t diff = 0;
        for (size_t i = 0; i < ROWS * COLS * CLASSES; i++) diff += want->data[i] != got->data[i];
        CHECK_INT_EQ(diff, 0);
    }
    hsi_cube_free(want), hsi_cube_free(got);
    hsi_cnn_net_free(back);
    hsi_cnn_meta_clear(&m);
    /* For training too (the optimiser state comes back). */
    CHECK_OK(hsi_cnn_checkpoint_read(good, 1, 8, NULL, &back, &m));
    hsi_cnn_net_free(back);
    hsi_cnn_meta_clear(&m);
}

static void test_crafted_fields(const char *good)
{
    ckpt_bytes c;
    if (ckpt_load(good, &c)) {
        CHECK_MSG(0, "cannot read %s", good);
        return;
    }
    /* Sanity of the offsets: the fields hold what was written. */
    CHECK_INT_EQ(rd32(c.p + c.radius), RADIUS);
    CHECK_INT_EQ(rd32(c.p + c.bands), BANDS);
    CHECK_INT_EQ(rd32(c.p + c.in_h), 2 * RADIUS + 1);
    CHECK_INT_EQ(c.p[c.has_opt], 1);
    CHECK_INT_EQ(c.p[c.has_pre], 1);

    /* The patch radius must make the spec's 9 x 9 input. */
    REFUSED(patched32(&c, "radius0.ckpt", c.radius, 0), "radius");
    REFUSED(patched32(&c, "radius2.ckpt", c.radius, 2), "radius");
    REFUSED(patched32(&c, "radius5.ckpt", c.radius, 5), "radius");
    REFUSED(patched32(&c, "radius_huge.ckpt", c.radius, 0x80000004u), "radius");
    /* Only the known border modes. */
    REFUSED(patched32(&c, "border7.ckpt", c.border, 7), "border");
    /* Shapes against the spec. */
    REFUSED(patched32(&c, "in_h.ckpt", c.in_h, 7), "in_h");
    REFUSED(patched32(&c, "in_w.ckpt", c.in_w, 11), "in_w");
    REFUSED(patched32(&c, "bands7.ckpt", c.bands, BANDS + 1), "bands");
    REFUSED(patched32(&c, "bands0.ckpt", c.bands, 0), "bands");
    REFUSED(patched32(&c, "bands_huge.ckpt", c.bands, 0xffffffffu), "bands");
    /* Class count against the class table (and the net). */
    REFUSED(patched32(&c, "classes4.ckpt", c.classes, CLASSES + 1), "classes");
    REFUSED(patched32(&c, "classes1.ckpt", c.classes, 1), "classes");
    REFUSED(patched32(&c, "classes_huge.ckpt", c.classes, 0xfffffff0u), "classes");
    /* Parameter and state counts against the net the spec builds. */
    REFUSED(patched64(&c, "n_params.ckpt", c.n_params, rd64(c.p + c.n_params) + 1), "n_params");
    REFUSED(patched64(&c, "n_state.ckpt", c.n_state, rd64(c.p + c.n_state) + 2), "n_state");
    /* Counters: more epochs than optimiser steps cannot happen (every epoch
     * takes at least one), nor an epoch count past an int. */
    REFUSED(patched32(&c, "epoch.ckpt", c.epoch, 1000), "epoch");
    REFUSED(patched32(&c, "epoch_neg.ckpt", c.epoch, 0x80000000u), "epoch");
    /* An all-zero xoshiro state only ever yields zeros. */
    {
        unsigned char *b = malloc(c.len);
        memcpy(b, c.p, c.len);
        memset(b + c.rng, 0, 32);
        REFUSED(write_crafted("rng0.ckpt", b, c.len - 8), "rng");
        free(b);
    }
    /* Version 2's training settings: each in the range its parser takes. */
    {
        size_t t = c.settings;
        double bad_lr = 0, huge = 1e300, two = 2, neg = -1, nan_v = NAN, minus_inf = -INFINITY;
        uint64_t u;
        memcpy(&u, &bad_lr, 8);
        REFUSED(patched64(&c, "lr0.ckpt", t + SET_LR, u), "learning rate");
        memcpy(&u, &huge, 8);
        REFUSED(patched64(&c, "lr_huge.ckpt", t + SET_LR, u), "learning rate");
        REFUSED(patched32(&c, "run_epochs.ckpt", t + SET_EPOCHS, 0xffffffffu), "epochs");
        REFUSED(patched32(&c, "sched_kind.ckpt", t + SET_KIND, 9), "schedule kind");
        REFUSED(patched32(&c, "sched_step.ckpt", t + SET_STEP, 0), "schedule step");
        REFUSED(patched32(&c, "sched_patience.ckpt", t + SET_PATIENCE, 0x80000000u), "schedule patience");
        memcpy(&u, &two, 8);
        REFUSED(patched64(&c, "sched_gamma.ckpt", t + SET_GAMMA, u), "schedule gamma");
        memcpy(&u, &neg, 8);
        REFUSED(patched64(&c, "sched_min_lr.ckpt", t + SET_MIN_LR, u), "schedule min_lr");
        REFUSED(patched32(&c, "sched_warmup.ckpt", t + SET_WARMUP, 0xfffffff0u), "warm-up");
        memcpy(&u, &nan_v, 8);
        REFUSED(patched64(&c, "plateau_best.ckpt", t + SET_BEST, u), "plateau best");
        memcpy(&u, &minus_inf, 8);
        REFUSED(patched64(&c, "plateau_best_inf.ckpt", t + SET_BEST, u), "plateau best");
        REFUSED(patched32(&c, "plateau_wait.ckpt", t + SET_WAIT, 1000), "plateau wait");
        memcpy(&u, &two, 8);
        REFUSED(patched64(&c, "plateau_scale.ckpt", t + SET_SCALE, u), "plateau scale");
        REFUSED(patched8(&c, "aug_flip.ckpt", t + SET_FLIP, 2), "augment flip");
        REFUSED(patched8(&c, "aug_rotate.ckpt", t + SET_ROTATE, 7), "augment rotate");
        memcpy(&u, &neg, 8);
        REFUSED(patched64(&c, "aug_gain.ckpt", t + SET_GAIN, u), "augment gain");
        memcpy(&u, &huge, 8);
        REFUSED(patched64(&c, "aug_offset.ckpt", t + SET_OFFSET, u), "augment offset");
        memcpy(&u, &two, 8);
        REFUSED(patched64(&c, "aug_mix.ckpt", t + SET_MIX, u), "augment mix");
        /* A frozen-layer table of another length than the spec's layers. */
        REFUSED(patched32(&c, "n_frozen.ckpt", c.n_frozen, 3), "frozen");
        REFUSED(patched32(&c, "n_frozen_huge.ckpt", c.n_frozen, 0x7fffffffu), "frozen");
    }
    /* A version 1 file (before the training settings) is still read: the
     * same bytes without the settings record, and the spec's settings. */
    {
        size_t cut = SET_SIZE + rd32(c.p + c.n_frozen), n1 = c.len - 8 - cut;
        unsigned char *b = malloc(c.len);
        memcpy(b, c.p, c.settings);
        memcpy(b + c.settings, c.p + c.settings + cut, c.len - 8 - c.settings - cut);
        wr32(b + 8, 1);
        char v1[4096], v2[4096]; /* tmp_file() reuses its buffer */
        snprintf(v1, sizeof v1, "%s", write_crafted("version1.ckpt", b, n1));
        snprintf(v2, sizeof v2, "%s", write_crafted("version2.ckpt", c.p, c.len - 8));
        hsi_cnn_net *net1 = NULL, *net2 = NULL;
        hsi_cnn_meta m1 = {0}, m2 = {0};
        CHECK_OK(hsi_cnn_checkpoint_read(v1, 1, 4, NULL, &net1, &m1));
        CHECK_OK(hsi_cnn_checkpoint_read(v2, 1, 4, NULL, &net2, &m2));
        if (net1 && net2) {
            CHECK_INT_EQ(net1->n_params, net2->n_params);
            CHECK(!memcmp(net1->params, net2->params, net1->n_params * sizeof(float)));
            CHECK(!memcmp(net1->opt_v, net2->opt_v, net1->n_params * sizeof(float)));
            CHECK(net1->spec->learning_rate == net2->spec->learning_rate);
            CHECK_INT_EQ(net1->epoch, net2->epoch);
        }
        hsi_cnn_net_free(net1), hsi_cnn_net_free(net2);
        hsi_cnn_meta_clear(&m1), hsi_cnn_meta_clear(&m2);
        /* Version 3 is not this hsi's. */
        wr32(b + 8, 3);
        REFUSED(write_crafted("version3.ckpt", b, n1), "version 3");
        free(b);
    }
    /* Flag bytes are 0 or 1. */
    REFUSED(patched8(&c, "has_opt2.ckpt", c.has_opt, 2), "has_optimizer");
    REFUSED(patched8(&c, "has_pre2.ckpt", c.has_pre, 0x81), "has_preprocess");
    /* The preprocessing record's band counts against the net's input
     * (its arrays then no longer fit either; the count is what is named). */
    REFUSED(patched64(&c, "pre_in_huge.ckpt", c.pre_in, (uint64_t)1 << 20), "preprocessing");
    REFUSED(patched64(&c, "pre_out5.ckpt", c.pre_out, BANDS - 1), "preprocessing");
    /* A PCA record claiming 2^20 x 2^20 components: refused as a record
     * larger than the file, before 4 TiB are asked for. */
    {
        unsigned char *b = malloc(c.len);
        memcpy(b, c.p, c.len);
        wr32(b + c.pre + 8, HSI_PREPROCESS_PCA);
        wr64(b + c.pre_in, (uint64_t)1 << 20);
        wr64(b + c.pre_out, (uint64_t)1 << 20);
        REFUSED(write_crafted("pca_huge.ckpt", b, c.len - 8), "preprocessing record truncated");
        free(b);
    }
    /* The band selection text parses and selects as many bands as the
     * preprocessing takes. */
    REFUSED(patched8(&c, "band_text.ckpt", c.band_text + 2, 'x'), "band selection");
    REFUSED(patched8(&c, "band_text5.ckpt", c.band_text + 2, '5'), "band selection");
    REFUSED(patched8(&c, "band_nul.ckpt", c.band_text + 1, '\0'), "band selection");
    REFUSED(patched32(&c, "band_len.ckpt", c.bands_len, 300), "band selection");
    /* The spec text fails to parse ("[net]" -> "[nEt]"), holds a NUL, or
     * claims more bytes than the file has. */
    REFUSED(patched8(&c, "spec_parse.ckpt", c.spec_text + 2, 'E'), "spec");
    REFUSED(patched8(&c, "spec_nul.ckpt", c.spec_text + 10, '\0'), "spec");
    REFUSED(patched32(&c, "spec_len.ckpt", c.spec_text - 4, 0x7fffffffu), "spec");
    /* Class table count too large for a label raster. */
    REFUSED(patched32(&c, "n_classes.ckpt", c.n_classes, 70000), "class table");
    /* Truncated arrays: a parameter missing, or an extra one. */
    REFUSED(write_crafted("params_short.ckpt", c.p, c.len - 8 - 4), "parameters");
    {
        unsigned char *b = calloc(c.len + 4, 1);
        memcpy(b, c.p, c.len - 8);
        REFUSED(write_crafted("params_long.ckpt", b, c.len - 8 + 4), "parameters");
        free(b);
    }
    /* Cut inside the preprocessing record's arrays. */
    REFUSED(write_crafted("pre_cut.ckpt", c.p, c.pre + 40), "truncated");
    /* Cut in the header. */
    REFUSED(write_crafted("header_cut.ckpt", c.p, c.radius + 2), "truncated");
    /* Untouched bytes re-checksummed still load. */
    {
        hsi_cnn_net *net = NULL;
        hsi_cnn_meta m = {0};
        CHECK_OK(hsi_cnn_checkpoint_read(write_crafted("same.ckpt", c.p, c.len - 8), 0, 4, NULL,
                                         &net, &m));
        hsi_cnn_net_free(net);
        hsi_cnn_meta_clear(&m);
    }
    free(c.p);
}

/* Consistent-looking records that disagree with each other, written by the
 * writer itself (which stores what it is given). */
static void test_inconsistent_meta(hsi_cnn_net *net, const hsi_cube *cube)
{
    hsi_cnn_meta meta;
    /* Standardisation fitted on 5 bands in front of a 6-band net. */
    make_meta(&meta, cube, BANDS - 1, HSI_PREPROCESS_STANDARDISE, 0, "1-5");
    const char *p = tmp_file("pre5.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "preprocessing");
    hsi_cnn_meta_clear(&meta);
    /* PCA to 4 components in front of a 6-band net. */
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_PCA, 4, "1-6");
    p = tmp_file("pca4.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "preprocessing");
    hsi_cnn_meta_clear(&meta);
    /* A band selection of 5 bands in front of a 6-band preprocessing. */
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "1-3,5-6");
    p = tmp_file("sel5.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "band selection");
    hsi_cnn_meta_clear(&meta);
    /* Without preprocessing, the selection is the net's input. */
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "2-6");
    hsi_preprocess_free(meta.preprocess);
    meta.preprocess = NULL;
    p = tmp_file("sel5_nopre.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "band selection");
    hsi_cnn_meta_clear(&meta);
    /* A class table of 4 classes for a 3-class net. */
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "");
    hsi_class_info *more = realloc(meta.classes, 5 * sizeof *more);
    if (more) {
        meta.classes = more;
        memset(&more[4], 0, sizeof more[4]);
        snprintf(more[4].name, sizeof more[4].name, "roads");
        meta.n_classes = 4;
    }
    p = tmp_file("table4.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "class");
    hsi_cnn_meta_clear(&meta);
    /* Radius 2 against the spec's 9 x 9 input, written consistently. */
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "");
    meta.radius = 2;
    p = tmp_file("radius2_written.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, &meta));
    REFUSED(p, "radius");
    hsi_cnn_meta_clear(&meta);
    /* No metadata at all (a library caller's checkpoint) is valid: the
     * writer records the radius the net's input implies. */
    p = tmp_file("bare.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(p, net, NULL));
    hsi_cnn_net *back = NULL;
    hsi_cnn_meta m = {0};
    CHECK_OK(hsi_cnn_checkpoint_read(p, 0, 4, NULL, &back, &m));
    CHECK_INT_EQ(m.radius, RADIUS);
    CHECK(m.n_classes == 0 && !m.classes && !m.preprocess && !m.bands[0]);
    hsi_cnn_net_free(back);
    hsi_cnn_meta_clear(&m);
}

/* The scene predictor itself refuses metadata that does not fit the net
 * (a library caller can hand it any hsi_cnn_meta). */
static void test_predict_guards(hsi_cnn_net *net, const hsi_cube *cube)
{
    hsi_cnn_meta meta;
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "");
    hsi_cnn_scene_options so = {0};
    hsi_labels *map = NULL;
    meta.radius = 0;
    CHECK_FAILS(hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL), HSI_ERR_ARG,
                "radius");
    CHECK(map == NULL);
    meta.radius = 2;
    CHECK_FAILS(hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL), HSI_ERR_ARG,
                "radius");
    meta.radius = RADIUS;
    meta.border = 7;
    CHECK_FAILS(hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL), HSI_ERR_ARG,
                "border");
    meta.border = HSI_BORDER_ZERO;
    CHECK_OK(hsi_cnn_predict_file(net, &meta, cube_path, &so, &map, NULL, NULL));
    hsi_labels_free(map);
    hsi_cnn_meta_clear(&meta);
}

/* `hsi cnn predict` and `eval` with the crafted radius-0 file: one line
 * naming the file and the field, exit 1, no crash. */
static void test_cli(void)
{
    const char *bin = getenv("HSI");
    if (!bin) return;
    const char *cmds[] = {"cnn predict cube.tif -m radius0.ckpt -o y.tif -q",
                          "cnn eval cube.tif -m radius0.ckpt --test truth.tif -q",
                          "cnn predict cube.tif -m border7.ckpt -o y.tif -q"};
    const char *want[] = {"radius0.ckpt", "radius0.ckpt", "border7.ckpt"};
    for (int i = 0; i < 3; i++) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>err.txt", tmp, bin, cmds[i]);
        int rc = system(cmd);
        rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
        char err[4096] = "";
        FILE *fp = fopen(tmp_file("err.txt"), "r");
        if (fp) {
            size_t n = fread(err, 1, sizeof err - 1, fp);
            err[n] = '\0';
            fclose(fp);
        }
        CHECK_MSG(rc == 1, "hsi %s: exit %d (%s)", cmds[i], rc, err);
        CHECK_MSG(strstr(err, want[i]) && strchr(err, '\n') == err + strlen(err) - 1,
                  "hsi %s: stderr '%s'", cmds[i], err);
    }
}

int main(void)
{
    tmp = check_tmpdir("cnn_checkpoint");
    hsi_cube *cube = make_cube();
    hsi_cnn_net *net = make_net();
    if (!cube || !net) return check_finish();
    snprintf(cube_path, sizeof cube_path, "%s/cube.tif", tmp);
    CHECK_OK(hsi_cube_write(cube_path, HSI_FORMAT_GTIFF, cube));
    hsi_labels *truth = NULL;
    CHECK_OK(hsi_labels_new(ROWS, COLS, CLASSES, &truth));
    if (truth) {
        for (size_t i = 0; i < ROWS * COLS; i++) truth->data[i] = (uint16_t)(i % CLASSES + 1);
        CHECK_OK(hsi_labels_write(tmp_file("truth.tif"), HSI_FORMAT_GTIFF, truth));
        hsi_labels_free(truth);
    }
    hsi_cnn_meta meta;
    make_meta(&meta, cube, BANDS, HSI_PREPROCESS_STANDARDISE, 0, "1-6");
    const char *good = tmp_file("good.ckpt");
    CHECK_OK(hsi_cnn_checkpoint_write(good, net, &meta));

    test_valid_round_trip(net, &meta, good);
    test_crafted_fields(good);
    test_inconsistent_meta(net, cube);
    test_predict_guards(net, cube);
    test_cli();

    hsi_cnn_meta_clear(&meta);
    hsi_cnn_net_free(net);
    hsi_cube_free(cube);
    return check_finish();
}
