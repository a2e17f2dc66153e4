/* test_svm_bundle.c - SVM model bundles that carry a valid checksum but lie
 * inside: every crafted variant must be refused with HSI_ERR_FORMAT and a
 * message naming the file and the problem, never handed to libsvm (whose
 * parser trusts total_sv, nr_sv and the SV lines and crashes on a cut list).
 *
 * Each variant is the trained bundle with one edit to its libsvm text or to
 * one header field, and the checksum recomputed, so that only the new checks
 * can catch it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/blob.h"
#include "base/cube.h"
#include "base/rng.h"
#include "base/status.h"
#include "classifiers/svm.h"
#include "features/preprocess.h"
#include "tests/check.h"

enum { R = 12, C = 10, B = 6 };

static const char *dir;
static unsigned char *orig;  /* the bundle as saved */
static size_t orig_len;
static size_t text_off, text_len; /* where the libsvm text lies in orig */

/* Three classes whose spectra are band-shaped, plus noise (as test_svm_core). */
static void make_scene(hsi_cube **cube_out, hsi_labels **lab_out)
{
    hsi_cube *cube = NULL;
    hsi_labels *lab = NULL;
    hsi_cube_new(R, C, B, &cube);
    hsi_labels_new(R, C, 3, &lab);
    hsi_rng rng;
    hsi_rng_seed(&rng, 11);
    for (size_t i = 0; i < R * C; i++) {
        int k = (int)(i / C) / 4 + 1;
        for (size_t b = 0; b < B; b++)
            cube->data[i * B + b] = (float)(100.0 * k * (b + 1) + 40.0 * hsi_rng_normal(&rng));
        lab->data[i] = (i % 3 == 0) ? (uint16_t)k : 0;
    }
    *cube_out = cube;
    *lab_out = lab;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Write `name` as: prefix (the header with its fields, as given) | u64 text
 * length | text | checksum of it all. */
static const char *write_bundle(const char *name, const unsigned char *prefix, size_t prefix_len,
                                const char *text, size_t tlen)
{
    static char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n = prefix_len + 8 + tlen;
    unsigned char *b = malloc(n + 8);
    memcpy(b, prefix, prefix_len);
    put_le(b + prefix_len, tlen, 8);
    memcpy(b + prefix_len + 8, text, tlen);
    put_le(b + n, hsi_fnv1a64(b, n), 8);
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, n + 8, fp);
    fclose(fp);
    free(b);
    return path;
}

/* The original header and fields with this libsvm text. */
static const char *with_text(const char *name, const char *text)
{
    return write_bundle(name, orig, text_off - 8, text, strlen(text));
}

/* The original text with the first occurrence of `from` (searched after
 * `after`, when given) replaced by `to`. Caller frees. */
static char *edit(const char *after, const char *from, const char *to)
{
    const char *text = (const char *)orig + text_off;
    char *t = malloc(text_len + 1);
    memcpy(t, text, text_len);
    t[text_len] = 0;
    const char *start = after ? strstr(t, after) : t;
    char *at = start ? strstr(start, from) : NULL;
    if (!at) {
        fprintf(stderr, "test: '%s' not in the model text\n", from);
        check_failures++;
        return t;
    }
    size_t head = (size_t)(at - t), fl = strlen(from), tl = strlen(to);
    char *out = malloc(text_len - fl + tl + 1);
    memcpy(out, t, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    free(t);
    return out;
}

/* The text's line starting with `key ` replaced by `line` (no newline). */
static char *replace_line(const char *key, const char *line)
{
    const char *text = (const char *)orig + text_off;
    char want[64];
    snprintf(want, sizeof want, "\n%s ", key);
    const char *at = strstr(text, want);
    if (!at) {
        fprintf(stderr, "test: no '%s' line\n", key);
        check_failures++;
        return strdup(text);
    }
    at++;
    const char *end = strchr(at, '\n');
    size_t head = (size_t)(at - text);
    char *out = malloc(text_len + strlen(line) + 1);
    memcpy(out, text, head);
    strcpy(out + head, line);
    strcat(out, end);
    return out;
}

/* The value list of the text's `key` line ("rho", "label", ...). */
static void line_of(const char *key, char *dst, size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "\n%s ", key);
    const char *at = strstr((const char *)orig + text_off, want);
    dst[0] = 0;
    if (!at) return;
    at += 1;
    const char *end = strchr(at, '\n');
    size_t n = (size_t)(end - at) < cap - 1 ? (size_t)(end - at) : cap - 1;
    memcpy(dst, at, n);
    dst[n] = 0;
}

static void refused(const char *path, const char *why)
{
    hsi_svm_model *m = NULL;
    const char *base = strrchr(path, '/') + 1;
    char want[512];
    snprintf(want, sizeof want, "%s: ", base);
    hsi_status st = hsi_svm_model_load(path, &m);
    CHECK_MSG(st == HSI_ERR_FORMAT && strstr(hsi_last_error(), want) &&
                  strstr(hsi_last_error(), why),
              "%s: status %d '%s'; wanted a format error naming the file and '%s'", base, (int)st,
              hsi_last_error(), why);
    CHECK(m == NULL);
    hsi_svm_model_free(m);
}

static void refused_text(const char *name, char *text, const char *why)
{
    refused(with_text(name, text), why);
    free(text);
}

static void test_crafted_text(void)
{
    char line[4096];
    refused_text("total_sv.svm", replace_line("total_sv", "total_sv 999999"), "total_sv");
    refused_text("total_sv0.svm", replace_line("total_sv", "total_sv 0"), "total_sv");
    /* The SV list cut after its first line, total_sv and nr_sv untouched. */
    {
        const char *text = (const char *)orig + text_off;
        const char *sv = strstr(text, "\nSV\n") + 4;
        const char *cut = strchr(sv, '\n') + 1;
        char *t = strndup(text, (size_t)(cut - text));
        refused_text("cut.svm", t, "support vector");
    }
    /* Also cut in the middle of a line. */
    {
        const char *text = (const char *)orig + text_off;
        const char *sv = strstr(text, "\nSV\n") + 4;
        char *t = strndup(text, (size_t)(sv - text) + 5);
        refused_text("cut_line.svm", t, "support vector");
    }
    /* nr_sv that does not add up to total_sv. */
    line_of("nr_sv", line, sizeof line);
    {
        int a, b, c;
        CHECK(sscanf(line, "nr_sv %d %d %d", &a, &b, &c) == 3);
        char l2[128];
        snprintf(l2, sizeof l2, "nr_sv %d %d %d", a + 1, b, c);
        refused_text("nr_sv.svm", replace_line("nr_sv", l2), "nr_sv");
        snprintf(l2, sizeof l2, "nr_sv %d %d", a, b + c);
        refused_text("nr_sv_count.svm", replace_line("nr_sv", l2), "nr_sv");
        snprintf(l2, sizeof l2, "nr_sv %d %d %d", a + b + 1, -1, c);
        refused_text("nr_sv_neg.svm", replace_line("nr_sv", l2), "nr_sv");
    }
    /* Support vector entries: index past the features, order, values. */
    refused_text("index.svm", edit("\nSV\n", " 6:", " 7:"), "index");
    refused_text("index0.svm", edit("\nSV\n", " 1:", " 0:"), "index");
    refused_text("order.svm", edit("\nSV\n", " 3:", " 2:"), "increasing");
    refused_text("nan_value.svm", edit("\nSV\n", " 4:", " 4:nan "), "finite");
    {
        /* First coefficient of the first SV line. */
        const char *text = (const char *)orig + text_off;
        const char *sv = strstr(text, "\nSV\n") + 4;
        const char *sp = strchr(sv, ' ');
        size_t head = (size_t)(sv - text);
        char *t = malloc(text_len + 8);
        memcpy(t, text, head);
        strcpy(t + head, "nan");
        strcat(t, sp);
        refused_text("nan_coef.svm", t, "coefficient");
    }
    /* One coefficient too few on a line (the node list then starts early). */
    {
        const char *text = (const char *)orig + text_off;
        const char *sv = strstr(text, "\nSV\n") + 4;
        const char *sp = strchr(sv, ' ') + 1;
        size_t head = (size_t)(sv - text);
        char *t = malloc(text_len + 1);
        memcpy(t, text, head);
        strcpy(t + head, sp);
        refused_text("coef_count.svm", t, "coefficient");
    }
    refused_text("garbage.svm", edit("\nSV\n", " 5:", " 5:x"), "support vector");
    /* rho: one value too few, or not finite. */
    line_of("rho", line, sizeof line);
    {
        char *last = strrchr(line, ' ');
        *last = 0;
        refused_text("rho.svm", replace_line("rho", line), "rho");
        refused_text("rho_nan.svm", replace_line("rho", "rho nan 1 2"), "rho");
    }
    /* nr_class below 2, huge, or above the bundle's class count. */
    refused_text("nr_class1.svm", replace_line("nr_class", "nr_class 1"), "nr_class");
    refused_text("nr_class_huge.svm", replace_line("nr_class", "nr_class 2000000000"), "nr_class");
    refused_text("nr_class4.svm", replace_line("nr_class", "nr_class 4"), "nr_class");
    /* Labels: missing one, repeated, out of the class table. */
    refused_text("labels.svm", replace_line("label", "label 1 2"), "label");
    refused_text("labels_dup.svm", replace_line("label", "label 1 1 3"), "label");
    refused_text("labels_range.svm", replace_line("label", "label 1 2 9"), "label");
    refused_text("labels_none.svm", edit(NULL, "label ", "lbl "), "label");
    /* Probability models: probA/probB of the wrong length, or missing. */
    refused_text("probA.svm", replace_line("probA", "probA 1 2"), "probA");
    refused_text("probB.svm", replace_line("probB", "probB 1 2 nan"), "probB");
    refused_text("probB_none.svm", edit(NULL, "probB ", "probC "), "prob");
    /* Kernel and type. */
    refused_text("type.svm", edit(NULL, "svm_type c_svc", "svm_type nu_svc"), "svm_type");
    refused_text("kernel.svm", edit(NULL, "kernel_type rbf", "kernel_type linear"), "kernel");
    refused_text("gamma0.svm", replace_line("gamma", "gamma 0"), "gamma");
    refused_text("gamma_inf.svm", replace_line("gamma", "gamma inf"), "gamma");
    /* A support vector that stops short of the feature dimension (hsi writes
     * every feature): the text's feature count disagrees with the bundle's. */
    {
        const char *text = (const char *)orig + text_off;
        char *t = strdup(text);
        /* Drop every " 6:value" entry (the last feature). */
        char *p;
        while ((p = strstr(t, " 6:"))) {
            char *end = strchr(p + 1, ' ');
            memmove(p, end, strlen(end) + 1);
        }
        refused_text("features.svm", t, "feature");
    }
    /* Something after the last support vector. */
    {
        char *t = malloc(text_len + 32);
        memcpy(t, orig + text_off, text_len);
        strcpy(t + text_len, "1 2 1:3\n");
        refused_text("extra.svm", t, "support vector");
    }
    /* An embedded NUL would hide the rest of the text from a C parser. */
    {
        char *t = malloc(text_len + 1);
        memcpy(t, orig + text_off, text_len);
        t[text_len] = 0;
        t[text_len / 2] = 0;
        const char *p = write_bundle("nul.svm", orig, text_off - 8, t, text_len);
        refused(p, "NUL");
        free(t);
    }
}

/* Header fields at their offsets (magic 8, version 4, input_dim 8,
 * feature_dim 8, n_classes 4, kernel 4, degree 4, probability 4, C 8,
 * gamma 8, coef0 8, then in version 2 the band selection: u32 length at 68). */
static void test_crafted_fields(void)
{
    size_t plen = text_off - 8;
    unsigned char *h = malloc(plen);
    /* C not a positive number. */
    memcpy(h, orig, plen);
    double bad = -1;
    memcpy(h + 44, &bad, 8);
    refused(write_bundle("C.svm", h, plen, (const char *)orig + text_off, text_len), "C");
    /* Header gamma not the text's. */
    memcpy(h, orig, plen);
    bad = 123;
    memcpy(h + 52, &bad, 8);
    refused(write_bundle("hgamma.svm", h, plen, (const char *)orig + text_off, text_len), "gamma");
    /* Probability flag other than 0/1, or disagreeing with the text. */
    memcpy(h, orig, plen);
    put_le(h + 40, 7, 4);
    refused(write_bundle("probflag.svm", h, plen, (const char *)orig + text_off, text_len),
            "probability");
    memcpy(h, orig, plen);
    put_le(h + 40, 0, 4);
    refused(write_bundle("probflag0.svm", h, plen, (const char *)orig + text_off, text_len),
            "prob");
    /* The preprocessing record claims a PCA of 2^20 x 2^20 (4 TiB of floats):
     * refused for its size, not by trying to allocate it. */
    memcpy(h, orig, plen);
    unsigned char *pre = memmem(h, plen, "HSIPRE1", 8);
    CHECK(pre != NULL);
    if (pre) {
        put_le(pre + 8, HSI_PREPROCESS_PCA, 4);
        put_le(pre + 12, (uint64_t)1 << 20, 8);
        put_le(pre + 20, (uint64_t)1 << 20, 8);
        refused(write_bundle("pre_huge.svm", h, plen, (const char *)orig + text_off, text_len),
                "preprocessing");
    }
    /* Preprocessing with a non-finite scale. */
    memcpy(h, orig, plen);
    pre = memmem(h, plen, "HSIPRE1", 8);
    if (pre) {
        float nan_f = NAN;
        memcpy(pre + 28 + B * sizeof(float), &nan_f, 4); /* scale[0], after the offsets */
        refused(write_bundle("pre_nan.svm", h, plen, (const char *)orig + text_off, text_len),
                "preprocessing");
    }
    free(h);
}

/* The band selection: kept in the bundle (version 2), checked against the
 * model's input count, and version-1 bundles (without it) still load. The
 * model m was trained on all B bands of the scene. */
static void test_bands(hsi_svm_model *m, const hsi_cube *cube)
{
    CHECK_FAILS(hsi_svm_model_set_bands(m, "1-5"), HSI_ERR_SIZE,
                "band selection '1-5' has 5 bands but the model takes 6");
    CHECK_FAILS(hsi_svm_model_set_bands(m, "1-x"), HSI_ERR_ARG, "1-x");
    CHECK_OK(hsi_svm_model_set_bands(m, "2-7"));
    char path[4400];
    snprintf(path, sizeof path, "%s/bands.svm", dir);
    CHECK_OK(hsi_svm_model_save(m, path));
    hsi_svm_model *back = NULL;
    CHECK_OK(hsi_svm_model_load(path, &back));
    if (back) {
        hsi_svm_model_info info;
        hsi_svm_model_get_info(back, &info);
        CHECK(strcmp(info.bands, "2-7") == 0);
        const char *use = NULL;
        CHECK_OK(hsi_svm_model_bands_for(back, NULL, "s.tif", &use));
        CHECK(use && strcmp(use, "2-7") == 0);
        CHECK_OK(hsi_svm_model_bands_for(back, "2,3,4-7", "s.tif", &use));
        CHECK(use && strcmp(use, "2,3,4-7") == 0);
        CHECK_FAILS(hsi_svm_model_bands_for(back, "1-6", "s.tif", &use), HSI_ERR_ARG,
                    "s.tif: band selection '1-6' differs from '2-7', the bands ");
        CHECK(strstr(hsi_last_error(), "bands.svm was trained on"));
        CHECK_FAILS(hsi_svm_model_bands_for(back, "3,2,4-7", "s.tif", &use), HSI_ERR_ARG,
                    "differs");
    }
    hsi_svm_model_free(back);
    CHECK_OK(hsi_svm_model_set_bands(m, NULL));

    /* orig (all bands) has an empty selection at offset 68: a stored list
     * must parse and select as many bands as the model takes. */
    size_t plen = text_off - 8;
    unsigned char *h = malloc(plen + 64);
    const char *lists[] = {"1-5", "2-x", "1-2000000"};
    for (int i = 0; i < 3; i++) {
        size_t bl = strlen(lists[i]);
        memcpy(h, orig, 68);
        put_le(h + 68, bl, 4);
        memcpy(h + 72, lists[i], bl);
        memcpy(h + 72 + bl, orig + 72, plen - 72);
        char name[32];
        snprintf(name, sizeof name, "bands%d.svm", i);
        refused(write_bundle(name, h, plen + bl, (const char *)orig + text_off, text_len),
                "band selection");
    }
    /* A selection length past the file. */
    memcpy(h, orig, plen);
    put_le(h + 68, 0xfffffff0u, 4);
    refused(write_bundle("bands_len.svm", h, plen, (const char *)orig + text_off, text_len),
            "band selection");

    /* Version 1: the same bundle without the selection field. */
    memcpy(h, orig, 68);
    put_le(h + 8, 1, 4);
    memcpy(h + 68, orig + 72, plen - 72);
    const char *v1 = write_bundle("v1.svm", h, plen - 4, (const char *)orig + text_off, text_len);
    back = NULL;
    CHECK_OK(hsi_svm_model_load(v1, &back));
    if (back) {
        hsi_svm_model_info info;
        hsi_svm_model_get_info(back, &info);
        CHECK(strcmp(info.bands, "") == 0);
        const char *use = NULL;
        CHECK_OK(hsi_svm_model_bands_for(back, "1-6", "s.tif", &use));
        CHECK(use && strcmp(use, "1-6") == 0);
        size_t n = (size_t)R * C;
        uint16_t la[R * C], lb[R * C];
        CHECK_OK(hsi_svm_predict(m, cube->data, n, B, "cube", la, NULL));
        CHECK_OK(hsi_svm_predict(back, cube->data, n, B, "cube", lb, NULL));
        CHECK(memcmp(la, lb, sizeof la) == 0);
    }
    hsi_svm_model_free(back);
    /* Version 3 is not read. */
    memcpy(h, orig, plen);
    put_le(h + 8, 3, 4);
    refused(write_bundle("v3.svm", h, plen, (const char *)orig + text_off, text_len),
            "SVM model version 3");
    free(h);
}

int main(void)
{
    dir = check_tmpdir("svm_bundle");
    hsi_cube *cube;
    hsi_labels *lab;
    make_scene(&cube, &lab);
    hsi_svm_params p;
    hsi_svm_params_init(&p);
    p.gamma = 0.5;
    p.C = 4;
    p.probability = 1;
    hsi_svm_model *m = NULL;
    CHECK_OK(hsi_svm_train_scene(cube, lab, "train", HSI_PREPROCESS_STANDARDISE, 0, 0, &p, &m));
    if (!m) return check_finish();
    char path[4400];
    snprintf(path, sizeof path, "%s/model.svm", dir);
    CHECK_OK(hsi_svm_model_save(m, path));
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    orig_len = (size_t)ftell(fp);
    rewind(fp);
    orig = malloc(orig_len + 1);
    CHECK(fread(orig, 1, orig_len, fp) == orig_len);
    fclose(fp);
    orig[orig_len] = 0;
    unsigned char *t = memmem(orig, orig_len, "svm_type c_svc\n", 15);
    CHECK(t != NULL);
    if (!t) return check_finish();
    text_off = (size_t)(t - orig);
    text_len = 0;
    for (int i = 0; i < 8; i++) text_len |= (size_t)orig[text_off - 8 + i] << (8 * i);
    CHECK(text_off + text_len + 8 == orig_len);
    /* The text must be a C string for edit(): put its NUL where the checksum starts. */
    unsigned char checksum[8];
    memcpy(checksum, orig + text_off + text_len, 8);
    orig[text_off + text_len] = 0;

    /* Rewritten untouched by this test's own writer: loads, predicts exactly as
     * the trained model (so the crafting itself is sound). */
    {
        const char *same = with_text("same.svm", (const char *)orig + text_off);
        hsi_svm_model *back = NULL;
        CHECK_OK(hsi_svm_model_load(same, &back));
        size_t n = (size_t)R * C;
        uint16_t la[R * C], lb[R * C];
        float pa[R * C * 3], pb[R * C * 3];
        CHECK_OK(hsi_svm_predict(m, cube->data, n, B, "cube", la, pa));
        if (back) {
            CHECK_OK(hsi_svm_predict(back, cube->data, n, B, "cube", lb, pb));
            CHECK(memcmp(la, lb, sizeof la) == 0);
            CHECK(memcmp(pa, pb, sizeof pa) == 0);
        }
        hsi_svm_model_free(back);
    }

    test_crafted_text();
    test_crafted_fields();
    test_bands(m, cube);

    memcpy(orig + text_off + text_len, checksum, 8);
    free(orig);
    hsi_svm_model_free(m);
    hsi_labels_free(lab);
    hsi_cube_free(cube);
    return check_finish();
}
