/* svm_grid.c - cross-validated (gamma, C) grid search as a dynamic task farm.
 *
 * Task t (0 <= t < n_gamma * n_c * folds) is gamma index t / (n_c * folds),
 * then C index (largest C first: those solves are the slowest, so starting
 * them early shortens the tail), then fold. Each rank repeatedly takes the
 * next task number from a shared counter (MPI_Fetch_and_op on rank 0) and
 * keeps per-task results (correct count, seconds); a sum over ranks at the
 * end gives everyone the table. Tasks of one gamma come out together, so a
 * rank rebuilds its kernel matrix only when the gamma changes.
 */
#include "classifiers/svm.h"
#include "classifiers/svm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <libsvm/svm.h>

#include "base/rng.h"
#include "config.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

#define GRID_MAX_VALUES 256

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- ranges ---- */

hsi_status hsi_svm_range_parse(const char *spec, hsi_svm_range *range)
{
    double v[3];
    const char *p = spec;
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p || !isfinite(v[i]) || (i < 2 && *end != ',') || (i == 2 && *end))
            return hsi_error(HSI_ERR_ARG, "range '%s' is not begin,end,step", spec);
        p = end + 1;
    }
    if (v[2] == 0 || (v[1] - v[0]) * v[2] < 0)
        return hsi_error(HSI_ERR_ARG, "range '%s': the step must be nonzero and go from begin to end",
                         spec);
    if ((v[1] - v[0]) / v[2] + 1 > GRID_MAX_VALUES)
        return hsi_error(HSI_ERR_ARG, "range '%s' has more than %d values", spec, GRID_MAX_VALUES);
    range->begin = v[0];
    range->end = v[1];
    range->step = v[2];
    return HSI_OK;
}

int hsi_svm_range_values(const hsi_svm_range *r, double *values, int max)
{
    if (r->step == 0) return 0;
    double span = (r->end - r->begin) / r->step;
    if (span < 0) return 0;
    int count = (int)floor(span + 1e-9) + 1;
    for (int i = 0; i < count && i < max; i++) values[i] = r->begin + i * r->step;
    return count;
}

/* ---- folds ---- */

hsi_status hsi_svm_folds(const uint16_t *y, size_t n, int n_classes, int folds, uint64_t seed,
                         int *fold_of)
{
    if (folds < 2 || (size_t)folds > n)
        return hsi_error(HSI_ERR_ARG, "%d folds need between 2 and %zu (the sample count)", folds,
                         n);
    size_t *members = malloc(n * sizeof *members);
    if (!members) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    size_t dealt = 0;
    for (int k = 1; k <= n_classes; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (y[i] == k) members[m++] = i;
        hsi_rng_shuffle(&rng, members, m);
        for (size_t j = 0; j < m; j++) fold_of[members[j]] = (int)(dealt++ % (size_t)folds);
    }
    free(members);
    return HSI_OK;
}

/* libsvm 3.24 svm_cross_validation for C-SVC, step by step: group the
 * samples by class (classes in order of first appearance, samples in data
 * order), shuffle each class with rand() (j = i + rand() % (count - i)),
 * give fold f the slice [f count / K, (f + 1) count / K) of every class, and
 * lay the folds out one after another in perm. glibc's rand() without srand
 * is random() seeded with 1; random_r with its own state reproduces that
 * stream without touching the process's rand() state. */
hsi_status hsi_svm_folds_libsvm(const uint16_t *y, size_t n, int folds, int *fold_of,
                                size_t *perm)
{
    if (folds < 2 || (size_t)folds > n)
        return hsi_error(HSI_ERR_ARG, "%d folds need between 2 and %zu (the sample count)", folds,
                         n);
    /* Per class (at most 65536 labels): slot, size, start in index; per
     * class and later per fold: the next free position. */
    int nr_class = 0;
    int *class_of = malloc(n * sizeof *class_of);
    int *slot_of_label = malloc(65536 * sizeof *slot_of_label);
    size_t *count = calloc(65536, sizeof *count);
    size_t *start = calloc(65536, sizeof *start);
    size_t *fill = malloc(65536 * sizeof *fill);
    size_t *index = malloc(n * sizeof *index);
    size_t *fold_start = calloc((size_t)folds + 1, sizeof *fold_start);
    hsi_status st = HSI_OK;
    if (!class_of || !slot_of_label || !count || !start || !fill || !index || !fold_start) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < 65536; i++) slot_of_label[i] = -1;
    for (size_t i = 0; i < n; i++) {
        int c = slot_of_label[y[i]];
        if (c < 0) c = slot_of_label[y[i]] = nr_class++;
        class_of[i] = c;
        count[c]++;
    }
    for (int c = 1; c < nr_class; c++) start[c] = start[c - 1] + count[c - 1];
    for (int c = 0; c < nr_class; c++) fill[c] = start[c];
    for (size_t i = 0; i < n; i++) index[fill[class_of[i]]++] = i; /* libsvm's perm */

    struct random_data rd;
    char state[128];
    memset(&rd, 0, sizeof rd);
    initstate_r(1, state, sizeof state, &rd);
    for (int c = 0; c < nr_class; c++)
        for (size_t i = 0; i < count[c]; i++) {
            int32_t r;
            random_r(&rd, &r);
            size_t j = i + (size_t)r % (count[c] - i);
            size_t t = index[start[c] + j];
            index[start[c] + j] = index[start[c] + i];
            index[start[c] + i] = t;
        }
    for (int f = 0; f < folds; f++) {
        size_t fc = 0;
        for (int c = 0; c < nr_class; c++)
            fc += (f + 1) * count[c] / (size_t)folds - f * count[c] / (size_t)folds;
        fold_start[f + 1] = fold_start[f] + fc;
    }
    for (int f = 0; f < folds; f++) fill[f] = fold_start[f];
    for (int c = 0; c < nr_class; c++)
        for (int f = 0; f < folds; f++) {
            size_t begin = start[c] + f * count[c] / (size_t)folds;
            size_t end = start[c] + (f + 1) * count[c] / (size_t)folds;
            for (size_t j = begin; j < end; j++) {
                perm[fill[f]] = index[j];
                fold_of[index[j]] = f;
                fill[f]++;
            }
        }
done:
    free(class_of);
    free(slot_of_label);
    free(count);
    free(start);
    free(fill);
    free(index);
    free(fold_start);
    return st;
}

/* ---- kernel matrices ---- */

typedef struct kernel_cache {
    size_t n;
    double *sqdist;          /* [n * n] |x_i - x_j|^2, built once */
    struct svm_node *nodes;  /* [n * (n + 2)]: row i = {0: serial i+1}, {j: K(i, j-1)}..., {-1} */
    struct svm_node **rows;  /* [n] */
    int gamma_index;         /* gamma the node matrix holds, -1 none */
    double seconds;
} kernel_cache;

static hsi_status kernel_cache_init(kernel_cache *kc, size_t n)
{
    memset(kc, 0, sizeof *kc);
    kc->n = n;
    kc->gamma_index = -1;
    kc->nodes = malloc(n * (n + 2) * sizeof *kc->nodes);
    kc->rows = malloc(n * sizeof *kc->rows);
    if (!kc->nodes || !kc->rows)
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a %zu x %zu kernel matrix", n, n);
    for (size_t i = 0; i < n; i++) {
        struct svm_node *row = kc->nodes + i * (n + 2);
        row[0].index = 0;
        row[0].value = (double)(i + 1); /* libsvm: the sample's 1-based serial number */
        for (size_t j = 0; j < n; j++) row[j + 1].index = (int)j + 1;
        row[n + 1].index = -1;
        row[n + 1].value = 0;
        kc->rows[i] = row;
    }
    return HSI_OK;
}

static void kernel_cache_free(kernel_cache *kc)
{
    free(kc->sqdist);
    free(kc->nodes);
    free(kc->rows);
}

/* Squared distances as libsvm's RBF kernel forms them: |x|^2 + |y|^2 - 2 x.y,
 * with the Gram matrix G = X X^T (n x n, from X n x dim) from OpenBLAS. */
static hsi_status kernel_cache_distances(kernel_cache *kc, const float *x, size_t dim)
{
    size_t n = kc->n;
    double *xd = malloc(n * dim * sizeof *xd);
    kc->sqdist = malloc(n * n * sizeof *kc->sqdist);
    if (!xd || !kc->sqdist) {
        free(xd);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu x %zu distances", n, n);
    }
    for (size_t i = 0; i < n * dim; i++) xd[i] = x[i];
    double *g = kc->sqdist;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)dim, 1.0, xd, (int)dim,
                0.0, g, (int)n);
    free(xd);
    /* The diagonal holds |x_i|^2; turn the upper triangle into distances
     * (diagonal last, it is read by every row) and mirror it. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double d = g[i * n + i] + g[j * n + j] - 2.0 * g[i * n + j];
            g[i * n + j] = d;
            g[j * n + i] = d;
        }
    for (size_t i = 0; i < n; i++) g[i * n + i] = 0.0;
    return HSI_OK;
}

static void kernel_cache_set_gamma(kernel_cache *kc, int gamma_index, double gamma)
{
    size_t n = kc->n;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        struct svm_node *row = kc->rows[i];
        const double *d = kc->sqdist + i * n;
        for (size_t j = 0; j < n; j++) row[j + 1].value = exp(-gamma * d[j]);
    }
    kc->gamma_index = gamma_index;
}

/* ---- one task ---- */

typedef struct grid_work {
    const uint16_t *y;
    size_t n;
    int n_classes;
    const int *fold_of;
    const size_t *order;          /* training samples are taken in this order */
    const hsi_svm_grid_options *opts;
    struct svm_node **plain_rows; /* dense rows for plain RBF, or NULL */
    kernel_cache *kc;             /* precomputed kernel, or NULL */
    const float *x;
    size_t dim;
    /* scratch */
    struct svm_node **train_x;
    double *train_y;
    size_t *counts;
} grid_work;

/* Train on every fold but `fold`, count correct predictions on `fold`. */
static hsi_status run_task(grid_work *w, int gamma_index, double gamma, double C, int fold,
                           long *correct)
{
    hsi_status st;
    if (w->kc && w->kc->gamma_index != gamma_index) {
        double t0 = now_seconds();
        if (!w->kc->sqdist && (st = kernel_cache_distances(w->kc, w->x, w->dim))) return st;
        kernel_cache_set_gamma(w->kc, gamma_index, gamma);
        w->kc->seconds += now_seconds() - t0;
    }
    struct svm_node **rows = w->kc ? w->kc->rows : w->plain_rows;
    size_t m = 0;
    for (size_t j = 0; j < w->n; j++) {
        size_t i = w->order[j];
        if (w->fold_of[i] != fold) {
            w->train_x[m] = rows[i];
            w->train_y[m] = w->y[i];
            m++;
        }
    }
    hsi_svm_params p;
    hsi_svm_params_init(&p);
    p.C = C;
    p.gamma = gamma;
    p.cache_mb = w->opts->cache_mb;
    p.eps = w->opts->eps;
    struct svm_parameter sp;
    hsi_svm_libsvm_param(&p, &sp);
    if (w->kc) sp.kernel_type = PRECOMPUTED;
    int *weight_label = NULL;
    double *weight = NULL;
    if (w->opts->balanced) {
        memset(w->counts, 0, (size_t)(w->n_classes + 1) * sizeof *w->counts);
        for (size_t i = 0; i < m; i++) w->counts[(int)w->train_y[i]]++;
        if ((st = hsi_svm_class_weights(w->counts, m, w->n_classes, 1, NULL, &weight_label,
                                        &weight)))
            return st;
        sp.nr_weight = w->n_classes;
        sp.weight_label = weight_label;
        sp.weight = weight;
    }
    struct svm_problem prob = {.l = (int)m, .y = w->train_y, .x = w->train_x};
    struct svm_model *model = svm_train(&prob, &sp);
    free(weight_label);
    free(weight);
    if (!model) return hsi_error(HSI_ERR_NOMEM, "libsvm training failed");
    long ok = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->fold_of[i] == fold) ok += (int)svm_predict(model, rows[i]) == (int)w->y[i];
    svm_free_and_destroy_model(&model);
    *correct = ok;
    return HSI_OK;
}

/* ---- the farm ---- */

void hsi_svm_grid_options_init(hsi_svm_grid_options *o)
{
    memset(o, 0, sizeof *o);
    o->log2c = (hsi_svm_range){-5, 15, 2};
    o->log2g = (hsi_svm_range){3, -15, -2};
    o->folds = 10;
    o->seed = 1;
    o->kernel_mem_mb = 1024;
    o->cache_mb = 200;
    o->eps = 1e-3;
}

void hsi_svm_grid_free(hsi_svm_grid_result *r)
{
    if (!r) return;
    free(r->log2g);
    free(r->log2c);
    free(r->accuracy);
    free(r->seconds);
    free(r);
}

/* Sum the per-task results over ranks (after they agreed that all tasks ran). */
static hsi_status combine_ranks(int ranks, long *correct, double *seconds, long tasks,
                                double *kernel_seconds)
{
#ifdef HAVE_MPI
    if (ranks > 1) {
        if (MPI_Allreduce(MPI_IN_PLACE, correct, (int)tasks, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) ||
            MPI_Allreduce(MPI_IN_PLACE, seconds, (int)tasks, MPI_DOUBLE, MPI_SUM,
                          MPI_COMM_WORLD) ||
            MPI_Allreduce(MPI_IN_PLACE, kernel_seconds, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD))
            return hsi_error(HSI_ERR_MPI, "MPI_Allreduce of the grid results failed");
    }
#endif
    (void)ranks;
    (void)correct;
    (void)seconds;
    (void)tasks;
    (void)kernel_seconds;
    return HSI_OK;
}

/* FNV-1a, to compare the ranks' labels and options without sending them. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* Every rank read its own training set: agree that all are usable and the
 * same, since the task table adds up results computed on different ranks.
 * The feature values are not compared: preprocessing on other hardware or
 * thread counts may round them differently; labels and options are exact. */
static hsi_status agree_on_inputs(hsi_status st, const uint16_t *y, size_t n, size_t dim,
                                  int n_classes, const hsi_svm_grid_options *o, int ng, int nc)
{
    const uint64_t basis = 14695981039346656037u;
    uint64_t labels = st ? 0 : fnv1a(basis, y, n * sizeof *y);
    uint64_t opts = basis;
    const hsi_svm_range *ranges[2] = {&o->log2g, &o->log2c};
    for (int i = 0; i < 2; i++) {
        double v[3] = {ranges[i]->begin, ranges[i]->end, ranges[i]->step};
        opts = fnv1a(opts, v, sizeof v);
    }
    int flags[3] = {o->libsvm_folds, o->balanced, o->allow_missing_classes};
    opts = fnv1a(opts, &o->seed, sizeof o->seed);
    opts = fnv1a(opts, flags, sizeof flags);
    opts = fnv1a(opts, &o->eps, sizeof o->eps);
    static const char *const names[] = {
        "samples", "features", "classes", "(checksum of the labels)",
        "gamma values", "C values", "folds", "(checksum of the grid options)"};
    const long values[] = {(long)n,  (long)dim, n_classes, (long)labels,
                           ng,       nc,        o->folds,  (long)opts};
    return hsi_mpi_agree_same(st, "the training set", names, values,
                              (int)(sizeof values / sizeof *values));
}

static hsi_status grid_check(const float *x, const uint16_t *y, size_t n, size_t dim,
                             int n_classes, const hsi_svm_grid_options *o, int *ng, int *nc)
{
    hsi_status st;
    if (n == 0) return hsi_error(HSI_ERR_DATA, "no training samples");
    if (dim == 0 || dim > (size_t)INT32_MAX - 1 || n > (size_t)INT32_MAX - 2)
        return hsi_error(HSI_ERR_SIZE, "%zu samples of %zu features are out of range", n, dim);
    *ng = hsi_svm_range_values(&o->log2g, NULL, 0);
    *nc = hsi_svm_range_values(&o->log2c, NULL, 0);
    if (*ng < 1 || *ng > GRID_MAX_VALUES || *nc < 1 || *nc > GRID_MAX_VALUES)
        return hsi_error(HSI_ERR_ARG, "the log2 gamma and C ranges must each have 1..%d values",
                         GRID_MAX_VALUES);
    if (!(o->cache_mb > 0) || !(o->eps > 0) || !(o->kernel_mem_mb >= 0))
        return hsi_error(HSI_ERR_ARG, "cache size, tolerance and kernel memory must be positive");
    size_t *counts = malloc((size_t)(n_classes + 1) * sizeof *counts);
    if (!counts) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    st = hsi_svm_class_counts(y, n, n_classes, counts);
    int present = 0;
    for (int k = 1; k <= n_classes && !st; k++) {
        present += counts[k] > 0;
        if (!counts[k] && !o->allow_missing_classes)
            st = hsi_error(HSI_ERR_DATA, "class %d has no training samples", k);
    }
    if (!st && present < 2 && n_classes > 1)
        st = hsi_error(HSI_ERR_DATA, "only %d class has training samples; an SVM needs two", present);
    free(counts);
    if (st) return st;
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return hsi_error(HSI_ERR_DATA, "training sample %zu feature %zu is not finite",
                             i / dim, i % dim + 1);
    if (o->folds < 2 || (size_t)o->folds > n)
        return hsi_error(HSI_ERR_ARG, "%d folds need between 2 and %zu (the sample count)",
                         o->folds, n);
    return HSI_OK;
}

hsi_status hsi_svm_grid(const float *x, const uint16_t *y, size_t n, size_t dim, int n_classes,
                        const hsi_svm_grid_options *o, hsi_svm_grid_result **out)
{
    *out = NULL;
    int ng = 0, nc = 0;
    hsi_status st = grid_check(x, y, n, dim, n_classes, o, &ng, &nc);
    if ((st = agree_on_inputs(st, y, n, dim, n_classes, o, ng, nc))) return st;
    hsi_svm_silence_libsvm();
    double t_start = now_seconds();
    const int folds = o->folds;
    const long tasks = (long)ng * nc * folds;

    hsi_svm_grid_result *r = calloc(1, sizeof *r);
    int *fold_of = malloc(n * sizeof *fold_of);
    size_t *order = malloc(n * sizeof *order);
    long *correct = calloc((size_t)tasks, sizeof *correct);
    double *task_seconds = calloc((size_t)tasks, sizeof *task_seconds);
    grid_work w = {.y = y, .n = n, .n_classes = n_classes, .opts = o, .x = x, .dim = dim};
    w.train_x = malloc(n * sizeof *w.train_x);
    w.train_y = malloc(n * sizeof *w.train_y);
    w.counts = malloc((size_t)(n_classes + 1) * sizeof *w.counts);
    if (r) {
        r->log2g = malloc((size_t)ng * sizeof *r->log2g);
        r->log2c = malloc((size_t)nc * sizeof *r->log2c);
        r->accuracy = calloc((size_t)ng * nc, sizeof *r->accuracy);
        r->seconds = calloc((size_t)ng * nc, sizeof *r->seconds);
    }
    if (!r || !fold_of || !order || !correct || !task_seconds || !w.train_x || !w.train_y || !w.counts ||
        !r->log2g || !r->log2c || !r->accuracy || !r->seconds)
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for the grid search");
    if (!st) {
        r->n_gamma = ng;
        r->n_c = nc;
        hsi_svm_range_values(&o->log2g, r->log2g, ng);
        hsi_svm_range_values(&o->log2c, r->log2c, nc);
        r->tasks = tasks;
        if (o->libsvm_folds) {
            st = hsi_svm_folds_libsvm(y, n, folds, fold_of, order);
        } else {
            st = hsi_svm_folds(y, n, n_classes, folds, o->seed, fold_of);
            for (size_t i = 0; i < n; i++) order[i] = i;
        }
    }
    w.fold_of = fold_of;
    w.order = order;

    /* Kernel reuse needs the distance matrix (8 n^2 bytes) and the libsvm
     * node matrix (16 n (n + 2) bytes) on each rank. */
    kernel_cache kc;
    struct svm_node *plain_nodes = NULL;
    double need_mb = (8.0 * n * n + 16.0 * n * (n + 2)) / 1048576.0;
    int reuse = o->kernel_mem_mb > 0 && need_mb <= o->kernel_mem_mb;
    memset(&kc, 0, sizeof kc);
    if (!st) {
        if (reuse) {
            st = kernel_cache_init(&kc, n);
            w.kc = &kc;
        } else {
            st = hsi_svm_dense_nodes(x, n, dim, &plain_nodes, &w.plain_rows);
        }
    }

    hsi_mpi_counter *tc = NULL;
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    /* The task counter's window is collective: no rank may skip it alone. */
    st = hsi_mpi_agree(st);
    if (!st) {
        st = hsi_mpi_counter_open(&tc);
        if (!st) {
            r->ranks = ranks;
            r->kernel_reuse = reuse;
            hsi_status task_st = HSI_OK;
            for (;;) {
                long t = hsi_mpi_counter_next(tc);
                if (t >= tasks) break;
                int gi = (int)(t / ((long)nc * folds));
                int ci = nc - 1 - (int)(t / folds % nc);
                int fold = (int)(t % folds);
                double t0 = now_seconds();
                task_st = run_task(&w, gi, exp2(r->log2g[gi]), exp2(r->log2c[ci]), fold,
                                   &correct[t]);
                task_seconds[t] = now_seconds() - t0;
                if (task_st) break; /* the other ranks finish the remaining tasks */
                hsi_progress_report(o->progress, (double)(t + 1), (double)tasks, NULL);
            }
            hsi_mpi_counter_close(tc);
            double kernel_seconds = kc.seconds;
            /* A failed task leaves a hole in the table: every rank returns
             * the failing rank's error rather than a partial sum. */
            st = hsi_mpi_agree(task_st);
            if (!st) st = combine_ranks(ranks, correct, task_seconds, tasks, &kernel_seconds);
            r->kernel_seconds = kernel_seconds;
        }
    }

    if (!st) {
        long best = -1;
        for (int gi = 0; gi < ng; gi++)
            for (int ci = 0; ci < nc; ci++) {
                long ok = 0;
                double secs = 0;
                for (int f = 0; f < folds; f++) {
                    long t = ((long)gi * nc + (nc - 1 - ci)) * folds + f;
                    ok += correct[t];
                    secs += task_seconds[t];
                }
                r->accuracy[gi * nc + ci] = (double)ok / (double)n;
                r->seconds[gi * nc + ci] = secs;
                /* Ties: the smaller C, then the smaller gamma (smoother models). */
                int better = ok > best;
                if (ok == best) {
                    double bc = r->log2c[r->best_c], bg = r->log2g[r->best_g];
                    better = r->log2c[ci] < bc || (r->log2c[ci] == bc && r->log2g[gi] < bg);
                }
                if (better) {
                    best = ok;
                    r->best_g = gi;
                    r->best_c = ci;
                }
            }
        r->wall_seconds = now_seconds() - t_start;
    }
    kernel_cache_free(&kc);
    free(plain_nodes);
    free(w.plain_rows);
    free(w.train_x);
    free(w.train_y);
    free(w.counts);
    free(fold_of);
    free(order);
    free(correct);
    free(task_seconds);
    if (st) {
        hsi_svm_grid_free(r);
        return st;
    }
    *out = r;
    return HSI_OK;
}
