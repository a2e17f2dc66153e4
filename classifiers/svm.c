/* svm.c - C-SVC training, prediction and model bundles on top of libsvm. */
#include "classifiers/svm.h"
#include "classifiers/svm_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libsvm/svm.h>

#include "base/blob.h"

/* Bundle layout (little-endian, all sizes in bytes):
 *   magic "HSISVMB\0" (8) | version u32 | input_dim u64 | feature_dim u64 |
 *   n_classes u32 | kernel u32 | degree u32 | probability u32 |
 *   C f64 | gamma f64 | coef0 f64 |
 *   [version 2: bands_len u32 | band selection text, no NUL ("" = all)] |
 *   class table: (n_classes + 1) x { name[64], rgb[3] } |
 *   has_preprocess u32 | [hsi_preprocess_write record] |
 *   model_text_len u64 | libsvm model text |
 *   FNV-1a 64 checksum u64 of everything before it. */
static const char bundle_magic[8] = {'H', 'S', 'I', 'S', 'V', 'M', 'B', 0};
/* Version 2 added the band selection; version 1 bundles still load (as
 * trained on all bands). */
enum { BUNDLE_VERSION = 2 };
/* A stored band list longer than this is not one hsi wrote. */
#define BUNDLE_MAX_BANDS_TEXT 65536
/* Band numbers a stored selection may name: only bounds the parse of a
 * crafted list (a cube with more bands than this is not a real scene). */
#define BANDS_PARSE_BOUND ((size_t)1 << 20)
/* Bundles above this are not ours (a sanity bound against absurd lengths). */
#define BUNDLE_MAX_BYTES ((size_t)8 << 30)

struct hsi_svm_model {
    struct svm_model *svm; /* loaded from `text`, so it owns its support vectors */
    char *text;            /* libsvm model text, as stored in the bundle */
    size_t text_len;
    size_t input_dim, feature_dim;
    int n_classes;
    hsi_class_info *classes; /* [n_classes + 1] */
    hsi_preprocess *pre;     /* or NULL */
    hsi_svm_params params;
    int has_probability;
    char *bands;             /* band selection trained on, or NULL (all bands) */
    char *path;              /* the bundle it was loaded from (messages), or NULL */
};

static void libsvm_quiet(const char *s)
{
    (void)s;
}

void hsi_svm_silence_libsvm(void)
{
    svm_set_print_string_function(libsvm_quiet);
}

/* ---- parameters ---- */

hsi_status hsi_svm_kernel_parse(const char *name, hsi_svm_kernel *kernel)
{
    if (!strcmp(name, "rbf")) *kernel = HSI_SVM_RBF;
    else if (!strcmp(name, "linear")) *kernel = HSI_SVM_LINEAR;
    else if (!strcmp(name, "poly") || !strcmp(name, "polynomial")) *kernel = HSI_SVM_POLY;
    else return hsi_error(HSI_ERR_ARG, "unknown kernel '%s' (rbf, linear, poly)", name);
    return HSI_OK;
}

const char *hsi_svm_kernel_name(hsi_svm_kernel kernel)
{
    switch (kernel) {
    case HSI_SVM_RBF: return "rbf";
    case HSI_SVM_LINEAR: return "linear";
    case HSI_SVM_POLY: return "poly";
    }
    return "?";
}

void hsi_svm_params_init(hsi_svm_params *p)
{
    memset(p, 0, sizeof *p);
    p->kernel = HSI_SVM_RBF;
    p->C = 1.0;
    p->gamma = 1.0;
    p->degree = 3;
    p->coef0 = 0.0;
    p->cache_mb = 200.0;
    p->eps = 1e-3;
}

hsi_status hsi_svm_params_check(const hsi_svm_params *p)
{
    if (p->kernel != HSI_SVM_RBF && p->kernel != HSI_SVM_LINEAR && p->kernel != HSI_SVM_POLY)
        return hsi_error(HSI_ERR_ARG, "unknown kernel %d", (int)p->kernel);
    if (!(p->C > 0) || !isfinite(p->C))
        return hsi_error(HSI_ERR_ARG, "C must be a positive number (got %g)", p->C);
    if (p->kernel != HSI_SVM_LINEAR && (!(p->gamma > 0) || !isfinite(p->gamma)))
        return hsi_error(HSI_ERR_ARG, "gamma must be a positive number (got %g)", p->gamma);
    if (p->kernel == HSI_SVM_POLY && (p->degree < 1 || p->degree > 20))
        return hsi_error(HSI_ERR_ARG, "polynomial degree must be in 1..20 (got %d)", p->degree);
    if (!isfinite(p->coef0)) return hsi_error(HSI_ERR_ARG, "coef0 must be finite");
    if (!(p->cache_mb > 0)) return hsi_error(HSI_ERR_ARG, "cache size must be positive");
    if (!(p->eps > 0)) return hsi_error(HSI_ERR_ARG, "stopping tolerance must be positive");
    return HSI_OK;
}

static int libsvm_kernel_type(hsi_svm_kernel k)
{
    return k == HSI_SVM_LINEAR ? LINEAR : k == HSI_SVM_POLY ? POLY : RBF;
}

void hsi_svm_libsvm_param(const hsi_svm_params *p, struct svm_parameter *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->svm_type = C_SVC;
    sp->kernel_type = libsvm_kernel_type(p->kernel);
    sp->degree = p->degree;
    sp->gamma = p->kernel == HSI_SVM_LINEAR ? 0 : p->gamma;
    sp->coef0 = p->coef0;
    sp->cache_size = p->cache_mb;
    sp->eps = p->eps;
    sp->C = p->C;
    sp->shrinking = 1;
    sp->probability = p->probability ? 1 : 0;
}

/* ---- samples as libsvm nodes ---- */

hsi_status hsi_svm_dense_nodes(const float *x, size_t n, size_t dim, struct svm_node **rows_out,
                               struct svm_node ***ptrs_out)
{
    /* One block of n * (dim + 1) nodes: row i is features 1..dim then the
     * index -1 terminator; zeros are kept (libsvm treats missing as zero, so
     * either is the same kernel). */
    struct svm_node *nodes = malloc(n * (dim + 1) * sizeof *nodes);
    struct svm_node **ptrs = malloc(n * sizeof *ptrs);
    if (!nodes || !ptrs) {
        free(nodes);
        free(ptrs);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu x %zu training samples", n, dim);
    }
    for (size_t i = 0; i < n; i++) {
        struct svm_node *row = nodes + i * (dim + 1);
        for (size_t j = 0; j < dim; j++) {
            row[j].index = (int)j + 1;
            row[j].value = x[i * dim + j];
        }
        row[dim].index = -1;
        row[dim].value = 0;
        ptrs[i] = row;
    }
    *rows_out = nodes;
    *ptrs_out = ptrs;
    return HSI_OK;
}

hsi_status hsi_svm_class_counts(const uint16_t *y, size_t n, int n_classes, size_t *counts)
{
    memset(counts, 0, (size_t)(n_classes + 1) * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 1 || y[i] > n_classes)
            return hsi_error(HSI_ERR_DATA, "sample %zu has label %u outside 1..%d", i, y[i],
                             n_classes);
        counts[y[i]]++;
    }
    return HSI_OK;
}

/* Per-class C multipliers for libsvm (weight_label = class ids). */
hsi_status hsi_svm_class_weights(const size_t *counts, size_t n, int n_classes, int balanced,
                                 const double *class_weight, int **labels_out,
                                 double **weights_out)
{
    *labels_out = NULL;
    *weights_out = NULL;
    if (!balanced && !class_weight) return HSI_OK;
    int *labels = malloc((size_t)n_classes * sizeof *labels);
    double *weights = malloc((size_t)n_classes * sizeof *weights);
    if (!labels || !weights) {
        free(labels);
        free(weights);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    for (int k = 1; k <= n_classes; k++) {
        double w = 1.0;
        if (balanced && counts[k] > 0) w = (double)n / ((double)n_classes * (double)counts[k]);
        if (class_weight && class_weight[k - 1] > 0) w *= class_weight[k - 1];
        labels[k - 1] = k;
        weights[k - 1] = w;
    }
    *labels_out = labels;
    *weights_out = weights;
    return HSI_OK;
}

/* ---- libsvm model text ---- */

/* The model in libsvm's text format, written here rather than through
 * svm_save_model because that writes support vectors with 8 significant
 * digits; %.17g makes the text round trip exactly, so a loaded bundle
 * predicts exactly what the freshly trained model did. */
static hsi_status model_to_text(const struct svm_model *m, char **text, size_t *len)
{
    FILE *fp = open_memstream(text, len);
    if (!fp) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    const struct svm_parameter *p = &m->param;
    static const char *const kernel_names[] = {"linear", "polynomial", "rbf", "sigmoid",
                                               "precomputed"};
    int k = m->nr_class;
    fprintf(fp, "svm_type c_svc\nkernel_type %s\n", kernel_names[p->kernel_type]);
    if (p->kernel_type == POLY) fprintf(fp, "degree %d\n", p->degree);
    if (p->kernel_type == POLY || p->kernel_type == RBF) fprintf(fp, "gamma %.17g\n", p->gamma);
    if (p->kernel_type == POLY) fprintf(fp, "coef0 %.17g\n", p->coef0);
    fprintf(fp, "nr_class %d\ntotal_sv %d\nrho", k, m->l);
    for (int i = 0; i < k * (k - 1) / 2; i++) fprintf(fp, " %.17g", m->rho[i]);
    fprintf(fp, "\nlabel");
    for (int i = 0; i < k; i++) fprintf(fp, " %d", m->label[i]);
    fputc('\n', fp);
    if (m->probA) {
        fprintf(fp, "probA");
        for (int i = 0; i < k * (k - 1) / 2; i++) fprintf(fp, " %.17g", m->probA[i]);
        fprintf(fp, "\nprobB");
        for (int i = 0; i < k * (k - 1) / 2; i++) fprintf(fp, " %.17g", m->probB[i]);
        fputc('\n', fp);
    }
    fprintf(fp, "nr_sv");
    for (int i = 0; i < k; i++) fprintf(fp, " %d", m->nSV[i]);
    fprintf(fp, "\nSV\n");
    for (int i = 0; i < m->l; i++) {
        for (int j = 0; j < k - 1; j++) fprintf(fp, "%.17g ", m->sv_coef[j][i]);
        for (const struct svm_node *nd = m->SV[i]; nd->index != -1; nd++)
            fprintf(fp, "%d:%.17g ", nd->index, nd->value);
        fputc('\n', fp);
    }
    if (fclose(fp) != 0) {
        free(*text);
        *text = NULL;
        return hsi_error(HSI_ERR_NOMEM, "out of memory writing the libsvm model");
    }
    return HSI_OK;
}

/* svm_load_model only reads from a path: hand it an anonymous in-memory file
 * through /proc/self/fd, so nothing touches the disk. */
static hsi_status model_from_text(const char *text, size_t len, const char *what,
                                  struct svm_model **out)
{
    *out = NULL;
    int fd = memfd_create("hsi-svm-model", MFD_CLOEXEC);
    if (fd < 0)
        return hsi_error(HSI_ERR_IO, "%s: cannot create an in-memory file: %s", what,
                         strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w <= 0) {
            int e = errno;
            close(fd);
            return hsi_error(HSI_ERR_IO, "%s: cannot stage the libsvm model: %s", what,
                             strerror(e));
        }
        done += (size_t)w;
    }
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    struct svm_model *m = svm_load_model(proc_path);
    close(fd);
    if (!m) return hsi_error(HSI_ERR_FORMAT, "%s: the libsvm model text is malformed", what);
    *out = m;
    return HSI_OK;
}

/* ---- models ---- */

static hsi_status model_new(size_t input_dim, size_t feature_dim, int n_classes,
                            hsi_svm_model **out)
{
    hsi_svm_model *m = calloc(1, sizeof *m);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    m->classes = calloc((size_t)n_classes + 1, sizeof *m->classes);
    if (!m->classes) {
        free(m);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    snprintf(m->classes[0].name, HSI_CLASS_NAME_MAX, "Unlabelled");
    for (int k = 1; k <= n_classes; k++) {
        snprintf(m->classes[k].name, HSI_CLASS_NAME_MAX, "Class %d", k);
        hsi_default_class_colour(k, m->classes[k].rgb);
    }
    m->input_dim = input_dim;
    m->feature_dim = feature_dim;
    m->n_classes = n_classes;
    *out = m;
    return HSI_OK;
}

void hsi_svm_model_free(hsi_svm_model *m)
{
    if (!m) return;
    if (m->svm) svm_free_and_destroy_model(&m->svm);
    free(m->text);
    free(m->bands);
    free(m->path);
    free(m->classes);
    hsi_preprocess_free(m->pre);
    free(m);
}

hsi_status hsi_svm_model_set_preprocess(hsi_svm_model *m, hsi_preprocess *p)
{
    if (p && p->out_dim != m->feature_dim)
        return hsi_error(HSI_ERR_SIZE,
                         "preprocessing gives %zu features but the SVM takes %zu", p->out_dim,
                         m->feature_dim);
    hsi_preprocess_free(m->pre);
    m->pre = p;
    m->input_dim = p ? p->in_dim : m->feature_dim;
    return HSI_OK;
}

hsi_status hsi_svm_model_set_classes(hsi_svm_model *m, const hsi_class_info *classes,
                                     int n_classes)
{
    if (n_classes != m->n_classes)
        return hsi_error(HSI_ERR_SIZE, "class table has %d classes but the model %d", n_classes,
                         m->n_classes);
    memcpy(m->classes, classes, (size_t)(n_classes + 1) * sizeof *classes);
    for (int k = 0; k <= n_classes; k++) m->classes[k].name[HSI_CLASS_NAME_MAX - 1] = 0;
    return HSI_OK;
}

void hsi_svm_model_get_info(const hsi_svm_model *m, hsi_svm_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->input_dim = m->input_dim;
    info->feature_dim = m->feature_dim;
    info->n_classes = m->n_classes;
    info->n_support = m->svm ? m->svm->l : 0;
    info->has_probability = m->has_probability;
    info->params = m->params;
    info->params.class_weight = NULL;
    info->classes = m->classes;
    info->preprocess = m->pre;
    info->bands = m->bands ? m->bands : "";
}

/* ---- checking the libsvm model text ----
 *
 * libsvm's svm_load_model trusts its input: it allocates what nr_class and
 * total_sv say, reads as many support-vector lines as total_sv says without
 * noticing the text ended, and svm_predict indexes by nr_sv and the node
 * indices. A bundle's checksum only proves the file is what was written, not
 * that an hsi wrote it, so the text is checked here in full -- exactly the
 * layout model_to_text writes, every count against the others and against
 * the bundle header -- before libsvm sees a byte of it. */

typedef struct text_cursor {
    const char *p, *end; /* the rest of the text */
    const char *line;    /* the current line, without its newline */
    size_t len;
    int cut;             /* the current line had no newline (text ended) */
} text_cursor;

/* The next line; 0 at the end of the text. */
static int next_line(text_cursor *c)
{
    if (c->p >= c->end) return 0;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->line = c->p;
    c->cut = nl == NULL;
    c->len = (size_t)((nl ? nl : c->end) - c->p);
    c->p = nl ? nl + 1 : c->end;
    return 1;
}

/* The next space-separated token of [*s, end) (length in *n); 0 at the end. */
static int next_token(const char **s, const char *end, const char **tok, size_t *n)
{
    const char *p = *s;
    while (p < end && *p == ' ') p++;
    if (p >= end) return 0;
    const char *q = p;
    while (q < end && *q != ' ') q++;
    *tok = p;
    *n = (size_t)(q - p);
    *s = q;
    return 1;
}

/* A token that is a whole decimal integer / number. The text is
 * NUL-terminated and tokens end at a space, newline or NUL, so strtol and
 * strtod stop at the token's end at the latest. */
static int token_long(const char *tok, size_t n, long *v)
{
    if (n == 0 || tok[0] == ' ') return 0;
    char *end;
    errno = 0;
    *v = strtol(tok, &end, 10);
    return errno == 0 && end == tok + n;
}

static int token_double(const char *tok, size_t n, double *v)
{
    if (n == 0 || tok[0] == ' ') return 0;
    char *end;
    *v = strtod(tok, &end);
    return end == tok + n;
}

/* The current line starts with "key" followed by a space or nothing; the
 * values start at *rest. */
static int line_is(const text_cursor *c, const char *key, const char **rest)
{
    size_t k = strlen(key);
    if (c->len < k || memcmp(c->line, key, k) != 0 || (c->len > k && c->line[k] != ' '))
        return 0;
    *rest = c->line + k;
    return 1;
}

/* Count the values of a line and check each is a finite number. Returns the
 * count, or -(1 + index) of the first bad value. */
static long finite_values(const char *s, const char *end)
{
    const char *tok;
    size_t n;
    long count = 0;
    double v;
    while (next_token(&s, end, &tok, &n)) {
        if (!token_double(tok, n, &v) || !isfinite(v)) return -(1 + count);
        count++;
    }
    return count;
}

#define TEXT_BAD(...) return hsi_error(HSI_ERR_FORMAT, __VA_ARGS__)

/* Check the text against the header already in m (n_classes, feature_dim,
 * params: kernel, degree, gamma, coef0, probability). `what` names the file. */
static hsi_status check_model_text(const hsi_svm_model *m, const char *text, size_t len,
                                   const char *what)
{
    static const char *const kernel_text[] = {"rbf", "linear", "polynomial"};
    const char *pre = "the libsvm model";
    if (strlen(text) != len) TEXT_BAD("%s: %s text contains a NUL byte", what, pre);
    text_cursor c = {text, text + len, NULL, 0, 0};
    const char *rest, *tok;
    size_t n;
    long v;
    double d;
#define EXPECT(key)                                                                      \
    do {                                                                                 \
        if (!next_line(&c) || c.cut || !line_is(&c, key, &rest))                         \
            TEXT_BAD("%s: %s has no '%s' line where hsi writes one", what, pre, key);    \
    } while (0)
#define ONE_VALUE(key)                                                                   \
    do {                                                                                 \
        const char *s_ = rest, *end_ = c.line + c.len, *t2_;                             \
        size_t n2_;                                                                      \
        if (!next_token(&s_, end_, &tok, &n) || next_token(&s_, end_, &t2_, &n2_))       \
            TEXT_BAD("%s: %s's %s line is not one value", what, pre, key);               \
    } while (0)

    EXPECT("svm_type");
    ONE_VALUE("svm_type");
    if (n != 5 || memcmp(tok, "c_svc", 5) != 0)
        TEXT_BAD("%s: %s's svm_type is '%.*s', not c_svc", what, pre, (int)(n < 40 ? n : 40), tok);
    EXPECT("kernel_type");
    ONE_VALUE("kernel_type");
    const char *want_kernel = kernel_text[m->params.kernel];
    if (n != strlen(want_kernel) || memcmp(tok, want_kernel, n) != 0)
        TEXT_BAD("%s: %s's kernel_type '%.*s' is not the bundle's kernel (%s)", what, pre,
                 (int)(n < 40 ? n : 40), tok, want_kernel);
    const int poly = m->params.kernel == HSI_SVM_POLY;
    if (poly) {
        EXPECT("degree");
        ONE_VALUE("degree");
        if (!token_long(tok, n, &v) || v != m->params.degree)
            TEXT_BAD("%s: %s's degree is not the bundle's (%d)", what, pre, m->params.degree);
    }
    if (m->params.kernel != HSI_SVM_LINEAR) {
        EXPECT("gamma");
        ONE_VALUE("gamma");
        if (!token_double(tok, n, &d) || !isfinite(d) || !(d > 0))
            TEXT_BAD("%s: %s's gamma is not a positive number", what, pre);
        if (d != m->params.gamma)
            TEXT_BAD("%s: %s's gamma %.17g is not the bundle's gamma (%.17g)", what, pre, d,
                     m->params.gamma);
    }
    if (poly) {
        EXPECT("coef0");
        ONE_VALUE("coef0");
        if (!token_double(tok, n, &d) || d != m->params.coef0)
            TEXT_BAD("%s: %s's coef0 is not the bundle's (%.17g)", what, pre, m->params.coef0);
    }
    EXPECT("nr_class");
    ONE_VALUE("nr_class");
    if (!token_long(tok, n, &v) || v < 2 || v > m->n_classes)
        TEXT_BAD("%s: %s's nr_class '%.*s' is not in 2..%d (the bundle's class count)", what,
                 pre, (int)(n < 40 ? n : 40), tok, m->n_classes);
    const long k = v, pairs = k * (k - 1) / 2;
    EXPECT("total_sv");
    ONE_VALUE("total_sv");
    if (!token_long(tok, n, &v) || v < 1 || v > INT32_MAX)
        TEXT_BAD("%s: %s's total_sv '%.*s' is not in 1..%d", what, pre, (int)(n < 40 ? n : 40),
                 tok, INT32_MAX);
    const long total_sv = v;
    EXPECT("rho");
    long got = finite_values(rest, c.line + c.len);
    if (got < 0) TEXT_BAD("%s: %s's rho value %ld is not a finite number", what, pre, -got);
    if (got != pairs)
        TEXT_BAD("%s: %s has %ld rho values; %ld classes need %ld", what, pre, got, k, pairs);
    EXPECT("label");
    {
        /* Labels are class ids of the bundle's table, each once: predict
         * writes P(class label[i]) at column label[i] - 1. */
        unsigned char *seen = calloc((size_t)m->n_classes + 1, 1);
        if (!seen) return hsi_error(HSI_ERR_NOMEM, "out of memory");
        const char *s = rest, *end = c.line + c.len;
        long count = 0;
        const char *why = NULL;
        while (!why && next_token(&s, end, &tok, &n)) {
            if (!token_long(tok, n, &v) || v < 1 || v > m->n_classes) why = "not a class id in";
            else if (seen[v]) why = "repeated; labels are distinct ids in";
            else seen[v] = 1;
            count++;
        }
        free(seen);
        if (why)
            TEXT_BAD("%s: %s's label '%.*s' is %s 1..%d", what, pre, (int)(n < 40 ? n : 40), tok,
                     why, m->n_classes);
        if (count != k)
            TEXT_BAD("%s: %s has %ld labels for nr_class %ld", what, pre, count, k);
    }
    /* probA and probB, both or neither, as the header's probability flag says. */
    if (!next_line(&c) || c.cut)
        TEXT_BAD("%s: %s ends after its label line", what, pre);
    int has_prob = line_is(&c, "probA", &rest);
    if (has_prob != (m->params.probability != 0))
        TEXT_BAD("%s: %s %s probA/probB but the bundle header says it has %sprobabilities", what,
                 pre, has_prob ? "has" : "lacks", has_prob ? "no " : "");
    if (has_prob) {
        got = finite_values(rest, c.line + c.len);
        if (got < 0) TEXT_BAD("%s: %s's probA value %ld is not a finite number", what, pre, -got);
        if (got != pairs)
            TEXT_BAD("%s: %s has %ld probA values; %ld classes need %ld", what, pre, got, k,
                     pairs);
        EXPECT("probB");
        got = finite_values(rest, c.line + c.len);
        if (got < 0) TEXT_BAD("%s: %s's probB value %ld is not a finite number", what, pre, -got);
        if (got != pairs)
            TEXT_BAD("%s: %s has %ld probB values; %ld classes need %ld", what, pre, got, k,
                     pairs);
        EXPECT("nr_sv");
    } else if (!line_is(&c, "nr_sv", &rest)) {
        TEXT_BAD("%s: %s has no 'nr_sv' line where hsi writes one", what, pre);
    }
    {
        const char *s = rest, *end = c.line + c.len;
        long count = 0, sum = 0;
        while (next_token(&s, end, &tok, &n)) {
            if (!token_long(tok, n, &v) || v < 0 || v > total_sv)
                TEXT_BAD("%s: %s's nr_sv '%.*s' (class %ld) is not in 0..total_sv", what, pre,
                         (int)(n < 40 ? n : 40), tok, count + 1);
            sum += v;
            count++;
        }
        if (count != k) TEXT_BAD("%s: %s has %ld nr_sv values for nr_class %ld", what, pre, count, k);
        if (sum != total_sv)
            TEXT_BAD("%s: %s's nr_sv values add up to %ld but total_sv is %ld", what, pre, sum,
                     total_sv);
    }
    if (!next_line(&c) || c.cut || c.len != 2 || memcmp(c.line, "SV", 2) != 0)
        TEXT_BAD("%s: %s has no 'SV' line where hsi writes one", what, pre);

    /* The support vectors: nr_class - 1 finite coefficients, then index:value
     * pairs with strictly increasing indices in 1..feature_dim and finite values. */
    long max_index = 0;
    for (long i = 1; i <= total_sv; i++) {
        if (!next_line(&c))
            TEXT_BAD("%s: %s has %ld support vector lines but total_sv is %ld", what, pre, i - 1,
                     total_sv);
        if (c.cut) TEXT_BAD("%s: %s's support vector %ld is cut short", what, pre, i);
        const char *s = c.line, *end = c.line + c.len;
        for (long j = 1; j < k; j++)
            if (!next_token(&s, end, &tok, &n) || !token_double(tok, n, &d) || !isfinite(d))
                TEXT_BAD("%s: %s's support vector %ld: coefficient %ld of %ld is missing or not a "
                         "finite number",
                         what, pre, i, j, k - 1);
        long last = 0;
        while (next_token(&s, end, &tok, &n)) {
            const char *colon = memchr(tok, ':', n);
            if (!colon || !token_long(tok, (size_t)(colon - tok), &v))
                TEXT_BAD("%s: %s's support vector %ld: '%.*s' is not index:value", what, pre, i,
                         (int)(n < 40 ? n : 40), tok);
            if (v < 1 || (size_t)v > m->feature_dim)
                TEXT_BAD("%s: %s's support vector %ld: feature index %ld is outside 1..%zu", what,
                         pre, i, v, m->feature_dim);
            if (v <= last)
                TEXT_BAD("%s: %s's support vector %ld: feature indices are not strictly "
                         "increasing (%ld after %ld)",
                         what, pre, i, v, last);
            last = v;
            size_t vn = n - (size_t)(colon + 1 - tok);
            if (!token_double(colon + 1, vn, &d))
                TEXT_BAD("%s: %s's support vector %ld: the value of feature %ld is not a number",
                         what, pre, i, v);
            if (!isfinite(d))
                TEXT_BAD("%s: %s's support vector %ld: the value of feature %ld is not finite",
                         what, pre, i, v);
        }
        if (last > max_index) max_index = last;
    }
    if (next_line(&c))
        TEXT_BAD("%s: %s's text goes on after its last support vector (total_sv %ld)", what, pre,
                 total_sv);
    /* hsi writes every feature of a support vector, so the largest index is
     * the model's feature count; it must be the bundle's (and so the
     * preprocessing's, which load checked against the header). */
    if ((size_t)max_index != m->feature_dim)
        TEXT_BAD("%s: %s's support vectors have %ld features but the bundle says %zu", what, pre,
                 max_index, m->feature_dim);
#undef EXPECT
#undef ONE_VALUE
    return HSI_OK;
}
#undef TEXT_BAD

/* Fill the model's libsvm side from text (taking ownership of text) once
 * check_model_text has found it to be what hsi writes and to agree with the
 * header in m. */
static hsi_status model_attach_text(hsi_svm_model *m, char *text, size_t len, const char *what)
{
    struct svm_model *svm = NULL;
    hsi_status st = check_model_text(m, text, len, what);
    if (!st) st = model_from_text(text, len, what, &svm);
    if (st) {
        free(text);
        return st;
    }
    /* libsvm read what was checked; a disagreement here would be a libsvm
     * that parses differently, not a bad file -- still never used. */
    if (svm_get_svm_type(svm) != C_SVC ||
        svm->param.kernel_type != libsvm_kernel_type(m->params.kernel) || svm->nr_class < 2 ||
        svm->nr_class > m->n_classes || svm->l < 1) {
        svm_free_and_destroy_model(&svm);
        free(text);
        return hsi_error(HSI_ERR_FORMAT, "%s: libsvm read the model text differently from hsi",
                         what);
    }
    m->svm = svm;
    m->text = text;
    m->text_len = len;
    m->has_probability = svm_check_probability_model(svm) != 0;
    return HSI_OK;
}

hsi_status hsi_svm_train(const float *x, const uint16_t *y, size_t n, size_t dim, int n_classes,
                         const hsi_svm_params *params, hsi_svm_model **out)
{
    *out = NULL;
    hsi_status st;
    if ((st = hsi_svm_params_check(params))) return st;
    if (n == 0) return hsi_error(HSI_ERR_DATA, "no training samples");
    if (dim == 0 || dim > (size_t)INT32_MAX - 1)
        return hsi_error(HSI_ERR_SIZE, "feature dimension %zu is out of range", dim);
    if (n > (size_t)INT32_MAX) return hsi_error(HSI_ERR_SIZE, "too many training samples");
    if (n_classes < 1 || n_classes > 65535)
        return hsi_error(HSI_ERR_ARG, "class count %d out of range", n_classes);
    size_t *counts = malloc((size_t)(n_classes + 1) * sizeof *counts);
    if (!counts) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    if ((st = hsi_svm_class_counts(y, n, n_classes, counts))) {
        free(counts);
        return st;
    }
    int present = 0;
    for (int k = 1; k <= n_classes; k++) {
        present += counts[k] > 0;
        if (counts[k] == 0 && !params->allow_missing_classes) {
            free(counts);
            return hsi_error(HSI_ERR_DATA, "class %d has no training samples", k);
        }
    }
    /* One class alone is no classification problem (libsvm would make a
     * model without support vectors, which no bundle check accepts). */
    if (present < 2) {
        free(counts);
        return hsi_error(HSI_ERR_DATA, "only %d class has training samples; an SVM needs two",
                         present);
    }
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) {
            free(counts);
            return hsi_error(HSI_ERR_DATA, "training sample %zu feature %zu is not finite",
                             i / dim, i % dim + 1);
        }

    hsi_svm_silence_libsvm();
    struct svm_node *nodes = NULL, **ptrs = NULL;
    double *targets = malloc(n * sizeof *targets);
    int *weight_label = NULL;
    double *weight = NULL;
    if (!targets) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st) st = hsi_svm_dense_nodes(x, n, dim, &nodes, &ptrs);
    if (!st)
        st = hsi_svm_class_weights(counts, n, n_classes, params->balanced,
                                   params->class_weight, &weight_label, &weight);
    free(counts);
    hsi_svm_model *m = NULL;
    if (!st) st = model_new(dim, dim, n_classes, &m);
    if (st) {
        free(targets);
        free(nodes);
        free(ptrs);
        free(weight_label);
        free(weight);
        return st;
    }
    for (size_t i = 0; i < n; i++) targets[i] = y[i];
    struct svm_problem prob = {.l = (int)n, .y = targets, .x = ptrs};
    struct svm_parameter sp;
    hsi_svm_libsvm_param(params, &sp);
    sp.nr_weight = weight ? n_classes : 0;
    sp.weight_label = weight_label;
    sp.weight = weight;
    const char *why = svm_check_parameter(&prob, &sp);
    if (why) {
        st = hsi_error(HSI_ERR_ARG, "libsvm refuses the parameters: %s", why);
    } else {
        /* libsvm's probability fit shuffles with rand(): seed it so the
         * same seed gives the same model. */
        if (sp.probability) srand((unsigned)(params->seed ^ (params->seed >> 32)));
        struct svm_model *trained = svm_train(&prob, &sp);
        char *text = NULL;
        size_t len = 0;
        if (!trained) st = hsi_error(HSI_ERR_NOMEM, "libsvm training failed");
        else st = model_to_text(trained, &text, &len);
        if (trained) svm_free_and_destroy_model(&trained);
        m->params = *params;
        m->params.class_weight = NULL;
        if (!st) st = model_attach_text(m, text, len, "trained model");
    }
    free(targets);
    free(nodes);
    free(ptrs);
    free(weight_label);
    free(weight);
    if (st) {
        hsi_svm_model_free(m);
        return st;
    }
    *out = m;
    return HSI_OK;
}

hsi_status hsi_svm_gather(const hsi_cube *cube, const hsi_labels *labels, const char *what,
                          float **x_out, uint16_t **y_out, size_t *n_out)
{
    *x_out = NULL;
    *y_out = NULL;
    *n_out = 0;
    hsi_status st = hsi_labels_check_size(labels, cube->rows, cube->cols, what);
    if (st) return st;
    size_t pixels = cube->rows * cube->cols, n = 0;
    for (size_t i = 0; i < pixels; i++) n += labels->data[i] != 0;
    if (n == 0) return hsi_error(HSI_ERR_DATA, "%s: no labelled pixels", what);
    float *x = malloc(n * cube->bands * sizeof *x);
    uint16_t *y = malloc(n * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu training pixels", n);
    }
    size_t j = 0;
    for (size_t i = 0; i < pixels; i++)
        if (labels->data[i]) {
            memcpy(x + j * cube->bands, cube->data + i * cube->bands,
                   cube->bands * sizeof *x);
            y[j++] = labels->data[i];
        }
    *x_out = x;
    *y_out = y;
    *n_out = n;
    return HSI_OK;
}

hsi_status hsi_svm_check_training(const hsi_labels *train, const char *what, int allow_missing,
                                  int *n_classes_out, int *n_missing)
{
    int n_classes = train->n_classes;
    int present_max = hsi_labels_max(train);
    if (present_max > n_classes) n_classes = present_max;
    *n_classes_out = n_classes;
    if (n_missing) *n_missing = 0;
    if (n_classes < 1) return hsi_error(HSI_ERR_DATA, "%s: no labelled pixels", what);
    size_t *counts = calloc((size_t)n_classes + 1, sizeof *counts);
    if (!counts) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t pixels = train->rows * train->cols;
    for (size_t i = 0; i < pixels; i++) counts[train->data[i]]++;
    hsi_status st = HSI_OK;
    int present = 0, missing = 0;
    for (int k = 1; k <= n_classes && !st; k++) {
        present += counts[k] > 0;
        if (counts[k]) continue;
        missing++;
        if (!allow_missing) {
            const char *name = k <= train->n_classes ? train->classes[k].name : "";
            st = hsi_error(HSI_ERR_DATA,
                           "%s: class %d%s%s%s has no training pixels (a spatially disjoint split "
                           "can leave a small class out; --allow-missing-classes trains without it)",
                           what, k, *name ? " (" : "", name, *name ? ")" : "");
        }
    }
    if (!st && present < 2)
        st = hsi_error(HSI_ERR_DATA, "%s: only %d class has training pixels; an SVM needs two", what,
                       present);
    if (n_missing) *n_missing = missing;
    free(counts);
    return st;
}

hsi_status hsi_svm_train_scene(const hsi_cube *cube, const hsi_labels *train, const char *what,
                               hsi_preprocess_kind preprocess, size_t pca_k,
                               double pca_fraction, const hsi_svm_params *params,
                               hsi_svm_model **out)
{
    *out = NULL;
    float *x = NULL;
    uint16_t *y = NULL;
    size_t n = 0;
    hsi_status st = hsi_svm_gather(cube, train, what, &x, &y, &n);
    if (st) return st;
    st = hsi_svm_train_spectra(x, y, n, cube->bands, train, what, preprocess, pca_k, pca_fraction,
                               params, out);
    free(x);
    free(y);
    return st;
}

hsi_status hsi_svm_train_spectra(const float *x, const uint16_t *y, size_t n, size_t bands,
                                 const hsi_labels *train, const char *what,
                                 hsi_preprocess_kind preprocess, size_t pca_k,
                                 double pca_fraction, const hsi_svm_params *params,
                                 hsi_svm_model **out)
{
    *out = NULL;
    hsi_status st = HSI_OK;
    int n_classes = 0;
    if (!st) st = hsi_svm_check_training(train, what, params->allow_missing_classes, &n_classes, NULL);
    hsi_preprocess *pre = NULL;
    float *features = (float *)x;
    size_t feature_dim = bands;
    if (!st && preprocess != HSI_PREPROCESS_NONE) {
        st = hsi_preprocess_fit(preprocess, x, n, bands, pca_k, pca_fraction, &pre);
        if (!st) {
            feature_dim = pre->out_dim;
            features = malloc(n * feature_dim * sizeof *features);
            if (!features) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            else st = hsi_preprocess_apply(pre, x, n, features);
        }
    }
    hsi_svm_model *m = NULL;
    if (!st) st = hsi_svm_train(features, y, n, feature_dim, n_classes, params, &m);
    if (features != x) free(features);
    if (!st && pre) {
        st = hsi_svm_model_set_preprocess(m, pre);
        if (!st) pre = NULL;
    }
    if (!st) {
        if (train->n_classes == n_classes) st = hsi_svm_model_set_classes(m, train->classes, n_classes);
        else
            for (int k = 1; k <= train->n_classes; k++) m->classes[k] = train->classes[k];
    }
    hsi_preprocess_free(pre);
    if (st) {
        hsi_svm_model_free(m);
        return st;
    }
    *out = m;
    return HSI_OK;
}

/* ---- prediction ---- */

hsi_status hsi_svm_predict(const hsi_svm_model *m, const float *x, size_t n, size_t dim,
                           const char *what, uint16_t *labels, float *prob)
{
    if (dim != m->input_dim)
        return hsi_error(HSI_ERR_SIZE, "%s: %zu values per pixel but the model takes %zu",
                         what ? what : "input", dim, m->input_dim);
    if (prob && !m->has_probability)
        return hsi_error(HSI_ERR_ARG,
                         "probabilities asked for, but the model was trained without them");
    const size_t fdim = m->feature_dim;
    const int k = m->svm->nr_class;
    /* Preprocess in chunks so the extra memory stays bounded whatever n is. */
    const size_t chunk = 4096;
    float *features = NULL;
    if (m->pre) {
        features = malloc(chunk * fdim * sizeof *features);
        if (!features) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    hsi_status st = HSI_OK;
    for (size_t c0 = 0; c0 < n && !st; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        const float *fx = x + c0 * dim;
        if (m->pre) {
            if ((st = hsi_preprocess_apply(m->pre, fx, cn, features))) break;
            fx = features;
        }
        int nomem = 0;
#pragma omp parallel reduction(| : nomem)
        {
            struct svm_node *node = malloc((fdim + 1) * sizeof *node);
            double *pest = malloc((size_t)k * sizeof *pest);
            if (!node || !pest) nomem = 1;
#pragma omp for schedule(dynamic, 64)
            for (size_t i = 0; i < cn; i++) {
                if (!node || !pest) continue;
                const float *v = fx + i * fdim;
                for (size_t j = 0; j < fdim; j++) {
                    node[j].index = (int)j + 1;
                    node[j].value = v[j];
                }
                node[fdim].index = -1;
                /* The class is always libsvm's one-vs-one vote, so the class
                 * raster does not change when probabilities are asked for
                 * (their argmax can differ from the vote near boundaries). */
                double label = svm_predict(m->svm, node);
                if (prob) {
                    svm_predict_probability(m->svm, node, pest);
                    float *p = prob + (c0 + i) * (size_t)m->n_classes;
                    for (int c = 0; c < m->n_classes; c++) p[c] = 0;
                    for (int c = 0; c < k; c++) p[m->svm->label[c] - 1] = (float)pest[c];
                }
                labels[c0 + i] = (uint16_t)label;
            }
            free(node);
            free(pest);
        }
        if (nomem) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    free(features);
    return st;
}

/* ---- bundle files ---- */

hsi_status hsi_svm_model_save(const hsi_svm_model *m, const char *path)
{
    hsi_blob_writer w;
    hsi_status st = hsi_blob_writer_open(&w, bundle_magic, BUNDLE_VERSION);
    if (st) return st;
    hsi_blob_put_u64(&w, m->input_dim);
    hsi_blob_put_u64(&w, m->feature_dim);
    hsi_blob_put_u32(&w, (uint32_t)m->n_classes);
    hsi_blob_put_u32(&w, (uint32_t)m->params.kernel);
    hsi_blob_put_u32(&w, (uint32_t)m->params.degree);
    hsi_blob_put_u32(&w, (uint32_t)m->has_probability);
    hsi_blob_put_f64(&w, m->params.C);
    hsi_blob_put_f64(&w, m->params.gamma);
    hsi_blob_put_f64(&w, m->params.coef0);
    size_t bands_len = m->bands ? strlen(m->bands) : 0;
    hsi_blob_put_u32(&w, (uint32_t)bands_len);
    hsi_blob_put(&w, m->bands, bands_len);
    for (int k = 0; k <= m->n_classes; k++) {
        hsi_blob_put_fixed_string(&w, m->classes[k].name, HSI_CLASS_NAME_MAX);
        hsi_blob_put(&w, m->classes[k].rgb, 3);
    }
    hsi_blob_put_u32(&w, m->pre ? 1 : 0);
    if (m->pre) hsi_preprocess_write(m->pre, &w);
    hsi_blob_put_u64(&w, m->text_len);
    hsi_blob_put(&w, m->text, m->text_len);
    return hsi_blob_writer_commit(&w, path);
}

/* The preprocessing record at the reader, checked before its arrays are
 * allocated (hsi_preprocess_read sizes them from the record's own in/out
 * dimensions, up to 2^20 x 2^20 floats) and after: every value finite. */
static hsi_status read_preprocess(hsi_blob_reader *c, const char *path, hsi_preprocess **out)
{
    *out = NULL;
    hsi_blob_reader peek = *c;
    (void)hsi_blob_take(&peek, 8); /* magic: hsi_preprocess_read checks it */
    uint32_t kind = hsi_blob_get_u32(&peek);
    uint64_t in = hsi_blob_get_u64(&peek), outd = hsi_blob_get_u64(&peek);
    if (!peek.short_read && kind <= HSI_PREPROCESS_PCA && in >= 1 && in <= (1u << 20) &&
        outd >= 1 && outd <= in) {
        /* offset[in], then scale[in] or components[in x out] and explained[out] */
        uint64_t bytes = in * 4 + (kind == HSI_PREPROCESS_PCA ? in * outd * 4 + outd * 8 : in * 4);
        if (bytes > hsi_blob_left(&peek))
            return hsi_error(HSI_ERR_FORMAT,
                             "%s: bad SVM model: preprocessing record of %llu x %llu values is "
                             "longer than the file",
                             path, (unsigned long long)in, (unsigned long long)outd);
    }
    hsi_preprocess *p = NULL;
    hsi_status st = hsi_preprocess_read(c, path, &p);
    if (st) return st;
    int finite = 1;
    for (size_t i = 0; i < p->in_dim; i++) {
        finite &= isfinite(p->offset[i]) != 0;
        if (p->scale) finite &= isfinite(p->scale[i]) != 0;
    }
    if (p->components)
        for (size_t i = 0; i < p->in_dim * p->out_dim; i++) finite &= isfinite(p->components[i]) != 0;
    if (p->explained)
        for (size_t i = 0; i < p->out_dim; i++) finite &= isfinite(p->explained[i]) != 0;
    if (!finite) {
        hsi_preprocess_free(p);
        return hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: preprocessing record has a value "
                                         "that is not finite",
                         path);
    }
    *out = p;
    return HSI_OK;
}

/* The number of bands a band list selects, parsed against a bound large
 * enough for any real scene (the cube's own band count is not known here). */
static hsi_status band_list_count(const char *spec, size_t **list, size_t *n)
{
    return hsi_band_list_parse(spec, BANDS_PARSE_BOUND, list, n);
}

hsi_status hsi_svm_model_load(const char *path, hsi_svm_model **out)
{
    *out = NULL;
    unsigned char *buf;
    hsi_blob_reader c;
    const uint32_t version = hsi_blob_version_of(path, bundle_magic, 1, BUNDLE_VERSION);
    hsi_status st =
        hsi_blob_load(path, bundle_magic, version, BUNDLE_MAX_BYTES, "SVM model", &buf, &c);
    if (st) return st;
    uint64_t input_dim = hsi_blob_get_u64(&c), feature_dim = hsi_blob_get_u64(&c);
    uint32_t n_classes = hsi_blob_get_u32(&c), kernel = hsi_blob_get_u32(&c);
    uint32_t degree = hsi_blob_get_u32(&c), has_prob = hsi_blob_get_u32(&c);
    double C = hsi_blob_get_f64(&c), gamma = hsi_blob_get_f64(&c);
    double coef0 = hsi_blob_get_f64(&c);
    uint32_t bands_len = version >= 2 ? hsi_blob_get_u32(&c) : 0;
    const unsigned char *bands = bands_len && !c.short_read && bands_len <= BUNDLE_MAX_BANDS_TEXT
                                     ? hsi_blob_take(&c, bands_len)
                                     : NULL;
    /* Every header field is checked here as hsi_svm_params_check would at
     * training: the libsvm text is then checked against them. */
    const char *bad = NULL;
    if (c.short_read) bad = "truncated header";
    else if (n_classes < 2 || n_classes > 65535) bad = "class count out of range (2..65535)";
    else if (input_dim < 1 || feature_dim < 1 || input_dim > INT32_MAX || feature_dim > INT32_MAX)
        bad = "dimensions out of range";
    else if (kernel > HSI_SVM_POLY) bad = "unknown kernel";
    else if (kernel == HSI_SVM_POLY && (degree < 1 || degree > 20))
        bad = "polynomial degree out of range (1..20)";
    else if (has_prob > 1) bad = "bad probability flag";
    else if (!(C > 0) || !isfinite(C)) bad = "C is not a positive number";
    else if (kernel != HSI_SVM_LINEAR && (!(gamma > 0) || !isfinite(gamma)))
        bad = "gamma is not a positive number";
    else if (!isfinite(coef0)) bad = "coef0 is not finite";
    else if (bands_len > BUNDLE_MAX_BANDS_TEXT) bad = "band selection too long";
    else if (bands_len && memchr(bands, 0, bands_len)) bad = "band selection contains a NUL byte";
    if (bad) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: %s", path, bad);
    }
    hsi_svm_model *m = NULL;
    if ((st = model_new(input_dim, feature_dim, (int)n_classes, &m))) {
        free(buf);
        return st;
    }
    hsi_svm_params_init(&m->params);
    m->params.kernel = (hsi_svm_kernel)kernel;
    m->params.degree = (int)degree;
    m->params.probability = has_prob != 0;
    m->params.C = C;
    m->params.gamma = gamma;
    m->params.coef0 = coef0;
    m->path = strdup(path);
    if (!m->path) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st && bands_len) {
        /* The selection must parse and pick exactly the bands the model takes. */
        m->bands = strndup((const char *)bands, bands_len);
        size_t *list = NULL, nb = 0;
        if (!m->bands) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        else if (band_list_count(m->bands, &list, &nb))
            st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: band selection: %s", path,
                           hsi_last_error());
        else if (nb != input_dim)
            st = hsi_error(HSI_ERR_FORMAT,
                           "%s: bad SVM model: band selection '%s' has %zu bands but the model "
                           "takes %llu",
                           path, m->bands, nb, (unsigned long long)input_dim);
        free(list);
    }
    for (uint32_t k = 0; !st && k <= n_classes; k++) {
        const unsigned char *name = hsi_blob_take(&c, HSI_CLASS_NAME_MAX);
        const unsigned char *rgb = hsi_blob_take(&c, 3);
        if (!name || !rgb) break;
        /* hsi writes every name NUL-terminated within its field. */
        if (!memchr(name, 0, HSI_CLASS_NAME_MAX))
            st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: class %u's name is not terminated",
                           path, k);
        memcpy(m->classes[k].name, name, HSI_CLASS_NAME_MAX);
        m->classes[k].name[HSI_CLASS_NAME_MAX - 1] = 0;
        memcpy(m->classes[k].rgb, rgb, 3);
    }
    uint32_t has_pre = hsi_blob_get_u32(&c);
    if (!st && c.short_read) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: truncated class table", path);
    } else if (!st && has_pre > 1) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: bad preprocessing flag", path);
    } else if (!st && has_pre) {
        hsi_preprocess *pre = NULL;
        st = read_preprocess(&c, path, &pre);
        if (!st) {
            if (pre->in_dim != input_dim || pre->out_dim != feature_dim) {
                st = hsi_error(HSI_ERR_FORMAT,
                               "%s: bad SVM model: preprocessing dimensions (%zu -> %zu) disagree "
                               "with the header (%llu -> %llu)",
                               path, pre->in_dim, pre->out_dim, (unsigned long long)input_dim,
                               (unsigned long long)feature_dim);
                hsi_preprocess_free(pre); /* after the message, which reads it */
            } else {
                m->pre = pre;
            }
        }
    } else if (!st && input_dim != feature_dim) {
        st = hsi_error(HSI_ERR_FORMAT,
                       "%s: bad SVM model: %llu inputs but %llu features and no preprocessing",
                       path, (unsigned long long)input_dim, (unsigned long long)feature_dim);
    }
    if (!st) {
        uint64_t text_len = hsi_blob_get_u64(&c);
        const unsigned char *text = c.short_read ? NULL : hsi_blob_take(&c, text_len);
        if (!text || c.pos != c.len)
            st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: libsvm model length is wrong", path);
        else {
            char *copy = malloc(text_len + 1);
            if (!copy) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            else {
                memcpy(copy, text, text_len);
                copy[text_len] = 0;
                st = model_attach_text(m, copy, text_len, path);
            }
        }
    }
    free(buf);
    if (st) {
        hsi_svm_model_free(m);
        return st;
    }
    *out = m;
    return HSI_OK;
}

/* ---- band selection ---- */

hsi_status hsi_svm_model_set_bands(hsi_svm_model *m, const char *bands)
{
    char *copy = NULL;
    if (bands && *bands) {
        size_t *list = NULL, n = 0;
        hsi_status st = band_list_count(bands, &list, &n);
        free(list);
        if (st) return st;
        if (n != m->input_dim)
            return hsi_error(HSI_ERR_SIZE, "band selection '%s' has %zu bands but the model takes %zu",
                             bands, n, m->input_dim);
        if (strlen(bands) > BUNDLE_MAX_BANDS_TEXT)
            return hsi_error(HSI_ERR_ARG, "band selection longer than %d characters",
                             BUNDLE_MAX_BANDS_TEXT);
        if (!(copy = strdup(bands))) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    free(m->bands);
    m->bands = copy;
    return HSI_OK;
}

hsi_status hsi_svm_model_bands_for(const hsi_svm_model *m, const char *given, const char *what,
                                   const char **use)
{
    *use = given;
    if (!m->bands) return HSI_OK; /* trained on every band: no selection to keep to */
    if (!given || !*given) {
        *use = m->bands;
        return HSI_OK;
    }
    /* The same bands in the same order agree however they are spelled
     * ("2-5" and "2,3,4-5"). */
    size_t *a = NULL, *b = NULL, na = 0, nb = 0;
    hsi_status st = band_list_count(given, &a, &na);
    if (!st) st = band_list_count(m->bands, &b, &nb);
    int same = !st && na == nb && memcmp(a, b, na * sizeof *a) == 0;
    free(a);
    free(b);
    if (st) return st;
    if (!same) {
        return hsi_error(HSI_ERR_ARG,
                         "%s: band selection '%s' differs from '%s', the bands %s was trained on",
                         what ? what : "input", given, m->bands, m->path ? m->path : "the model");
    }
    return HSI_OK;
}
