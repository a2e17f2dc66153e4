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
 *   class table: (n_classes + 1) x { name[64], rgb[3] } |
 *   has_preprocess u32 | [hsi_preprocess_write record] |
 *   model_text_len u64 | libsvm model text |
 *   FNV-1a 64 checksum u64 of everything before it. */
static const char bundle_magic[8] = {'H', 'S', 'I', 'S', 'V', 'M', 'B', 0};
enum { BUNDLE_VERSION = 1 };
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
}

/* Fill the model's libsvm side from text (taking ownership of text) and
 * check it agrees with the header: C-SVC, the kernel, classes within
 * 1..n_classes, feature indices within 1..feature_dim. */
static hsi_status model_attach_text(hsi_svm_model *m, char *text, size_t len, const char *what)
{
    struct svm_model *svm = NULL;
    hsi_status st = model_from_text(text, len, what, &svm);
    if (st) {
        free(text);
        return st;
    }
    const char *bad = NULL;
    if (svm_get_svm_type(svm) != C_SVC) bad = "is not a C-SVC model";
    else if (svm->param.kernel_type != libsvm_kernel_type(m->params.kernel))
        bad = "has a kernel that differs from the header";
    else if (svm->nr_class < 1 || svm->nr_class > m->n_classes)
        bad = "has a class count that differs from the header";
    for (int i = 0; !bad && i < svm->nr_class; i++)
        if (svm->label[i] < 1 || svm->label[i] > m->n_classes) bad = "has a class id out of range";
    for (int i = 0; !bad && i < svm->l; i++)
        for (const struct svm_node *nd = svm->SV[i]; nd->index != -1; nd++)
            if (nd->index < 1 || (size_t)nd->index > m->feature_dim) {
                bad = "has a support vector longer than the feature dimension";
                break;
            }
    if (bad) {
        svm_free_and_destroy_model(&svm);
        free(text);
        return hsi_error(HSI_ERR_FORMAT, "%s: the libsvm model %s", what, bad);
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
    if (present < 2 && n_classes > 1) {
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
    if (!st && present < 2 && n_classes > 1)
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
    int n_classes = 0;
    if (!st) st = hsi_svm_check_training(train, what, params->allow_missing_classes, &n_classes, NULL);
    hsi_preprocess *pre = NULL;
    float *features = x;
    size_t feature_dim = cube->bands;
    if (!st && preprocess != HSI_PREPROCESS_NONE) {
        st = hsi_preprocess_fit(preprocess, x, n, cube->bands, pca_k, pca_fraction, &pre);
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
    free(x);
    free(y);
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
    for (int k = 0; k <= m->n_classes; k++) {
        hsi_blob_put(&w, m->classes[k].name, HSI_CLASS_NAME_MAX);
        hsi_blob_put(&w, m->classes[k].rgb, 3);
    }
    hsi_blob_put_u32(&w, m->pre ? 1 : 0);
    if (m->pre) hsi_preprocess_write(m->pre, &w);
    hsi_blob_put_u64(&w, m->text_len);
    hsi_blob_put(&w, m->text, m->text_len);
    return hsi_blob_writer_commit(&w, path);
}

hsi_status hsi_svm_model_load(const char *path, hsi_svm_model **out)
{
    *out = NULL;
    unsigned char *buf;
    hsi_blob_reader c;
    hsi_status st =
        hsi_blob_load(path, bundle_magic, BUNDLE_VERSION, BUNDLE_MAX_BYTES, "SVM model", &buf, &c);
    if (st) return st;
    uint64_t input_dim = hsi_blob_get_u64(&c), feature_dim = hsi_blob_get_u64(&c);
    uint32_t n_classes = hsi_blob_get_u32(&c), kernel = hsi_blob_get_u32(&c);
    uint32_t degree = hsi_blob_get_u32(&c), has_prob = hsi_blob_get_u32(&c);
    double C = hsi_blob_get_f64(&c), gamma = hsi_blob_get_f64(&c);
    double coef0 = hsi_blob_get_f64(&c);
    const char *bad = NULL;
    if (c.short_read) bad = "truncated header";
    else if (n_classes < 1 || n_classes > 65535) bad = "class count out of range";
    else if (input_dim < 1 || feature_dim < 1 || input_dim > INT32_MAX || feature_dim > INT32_MAX)
        bad = "dimensions out of range";
    else if (kernel > HSI_SVM_POLY) bad = "unknown kernel";
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
    for (uint32_t k = 0; k <= n_classes; k++) {
        const unsigned char *name = hsi_blob_take(&c, HSI_CLASS_NAME_MAX);
        const unsigned char *rgb = hsi_blob_take(&c, 3);
        if (!name || !rgb) break;
        memcpy(m->classes[k].name, name, HSI_CLASS_NAME_MAX);
        m->classes[k].name[HSI_CLASS_NAME_MAX - 1] = 0;
        memcpy(m->classes[k].rgb, rgb, 3);
    }
    uint32_t has_pre = hsi_blob_get_u32(&c);
    if (c.short_read) st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: truncated class table", path);
    else if (has_pre > 1) st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: bad preprocessing flag", path);
    if (!st && has_pre) {
        hsi_preprocess *pre = NULL;
        st = hsi_preprocess_read(&c, path, &pre);
        if (!st) {
            if (pre->in_dim != input_dim || pre->out_dim != feature_dim) {
                hsi_preprocess_free(pre);
                st = hsi_error(HSI_ERR_FORMAT,
                               "%s: bad SVM model: preprocessing dimensions disagree with the header",
                               path);
            } else {
                m->pre = pre;
            }
        }
    } else if (!st && input_dim != feature_dim) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: bad SVM model: dimensions disagree", path);
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
