/* run.c - prepare an experiment's inputs and run its jobs, resumably, over
 * MPI ranks (see experiment.h).
 *
 * Every job runs in this process through the library calls the commands
 * make (`hsi svm grid/train/predict`, `hsi cnn train/predict`), so a job's
 * pred.tif is what those commands would write. Its result.ini is written
 * last, atomically: it is the mark of a finished job, and a run started
 * again skips every job that has one. A killed run leaves at most the
 * temporaries of the job it was in (removed by the signal handler).
 *
 * Under mpirun, rank 0 prepares the scene, features and splits while the
 * others wait; then jobs are handed out one at a time from a shared counter
 * (MPI one-sided fetch-and-add on rank 0, as the SVM grid hands out its
 * cells), each job running alone on its rank (hsi_mpi_solo).
 */
#include "experiment/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "base/atomic.h"
#include "base/guard.h"
#include "base/mpi.h"
#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "config.h"
#include "datasets/scenes.h"
#include "features/patch.h"
#include "features/preprocess.h"
#include "io/io.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* mkdir -p for the folder part of `path` (everything before the last '/'),
 * or all of it with whole = 1. */
static hsi_status make_dirs(const char *path, int whole)
{
    char buf[HSI_EXP_PATH_MAX + 256];
    snprintf(buf, sizeof buf, "%s", path);
    if (!whole) {
        char *slash = strrchr(buf, '/');
        if (!slash) return HSI_OK;
        *slash = '\0';
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return hsi_error(HSI_ERR_IO, "%s: cannot create the folder: %s", buf,
                                 strerror(errno));
            struct stat sb;
            if (stat(buf, &sb) || !S_ISDIR(sb.st_mode))
                return hsi_error(HSI_ERR_IO, "%s: not a folder", buf);
            *p = c;
            if (!c) break;
        }
    }
    return HSI_OK;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return NAN;
    return ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* ---------------------------------------------------------------- preparation */

static hsi_status read_truth(const hsi_experiment *e, const char *path, hsi_labels **out)
{
    hsi_status st = hsi_labels_read(path, *e->truth_var ? e->truth_var : NULL, out);
    if (!st && *e->classes) {
        const hsi_scene *sc;
        st = hsi_scene_lookup(e->classes, &sc);
        if (!st) st = hsi_scene_apply_classes(sc, *out);
    }
    return st;
}

static hsi_status feature_path(const hsi_experiment *e, const char *dir, int p, char *buf,
                               size_t len)
{
    snprintf(buf, len, "%s/features/%s.tif", dir, e->pipelines[p].name);
    return HSI_OK;
}

/* The profile cube of pipeline p: principal components fitted on every
 * pixel (as `hsi profile --pca K`), then the attribute filters. */
static hsi_status make_features(const hsi_experiment *e, const char *scene, int p, const char *out)
{
    const hsi_exp_pipeline *q = &e->pipelines[p];
    hsi_read_options ro = {.var = *e->var ? e->var : NULL, .bands = *e->bands ? e->bands : NULL};
    hsi_cube *cube = NULL, *pcs = NULL, *features = NULL;
    hsi_status st = hsi_cube_read(scene, &ro, &cube);
    if (!st && q->pca) {
        if ((size_t)q->pca > cube->bands) {
            st = hsi_error(HSI_ERR_ARG, "%s: [pipeline %s] pca = %ld, but the scene has %zu bands",
                           e->path, q->name, q->pca, cube->bands);
        } else {
            hsi_preprocess *pca = NULL;
            st = hsi_preprocess_fit_cube(HSI_PREPROCESS_PCA, cube, NULL, (size_t)q->pca, 0, &pca);
            if (!st) st = hsi_preprocess_apply_cube(pca, cube, &pcs);
            hsi_preprocess_free(pca);
        }
    }
    hsi_profile_options po = {0};
    if (!st) st = hsi_profile_cube(pcs ? pcs : cube, q->specs, q->n_specs, &po, NULL, &features);
    if (!st) st = hsi_cube_write(out, HSI_FORMAT_GTIFF, features);
    hsi_cube_free(cube);
    hsi_cube_free(pcs);
    hsi_cube_free(features);
    return st;
}

static hsi_status make_split(const hsi_experiment *e, const char *dir, const hsi_labels *truth,
                             const char *truth_path, int s, int k)
{
    const hsi_exp_split *sp = &e->splits[s];
    char train_path[HSI_EXP_PATH_MAX + 256], test_path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_split_path(e, dir, s, k, "train", train_path, sizeof train_path);
    hsi_experiment_split_path(e, dir, s, k, "test", test_path, sizeof test_path);
    if (exists(train_path) && exists(test_path)) return HSI_OK;
    hsi_split_options o = sp->opt;
    o.seed = e->seeds[k];
    hsi_labels *mask = NULL;
    int *map = NULL, n_map = 0;
    hsi_split *split = NULL;
    hsi_status st = HSI_OK;
    if (o.strategy == HSI_SPLIT_MASK) {
        st = hsi_labels_read(sp->mask, NULL, &mask);
        if (!st && !strcmp(sp->class_map, "auto")) st = hsi_mask_map_auto(mask, truth, &map, &n_map);
        else if (!st && *sp->class_map) st = hsi_mask_map_parse(sp->class_map, &map, &n_map);
        o.mask = mask;
        o.mask_name = sp->mask;
        o.mask_map = map;
        o.mask_map_n = n_map;
    }
    if (!st) st = hsi_split_make(truth, truth_path, &o, &split);
    /* The test raster last: both present means the split is complete. */
    if (!st) st = hsi_labels_write(train_path, HSI_FORMAT_GTIFF, split->train);
    if (!st) st = hsi_labels_write(test_path, HSI_FORMAT_GTIFF, split->test);
    hsi_split_free(split);
    hsi_labels_free(mask);
    free(map);
    return st;
}

/* DIR/experiment.ini: the first run's configuration under a line with its
 * signature. A folder made from other scenes, splits or pipelines is
 * refused: its splits, features and finished jobs belong to those. */
hsi_status hsi_experiment_check_folder(const hsi_experiment *e, const char *dir, int create)
{
    char path[HSI_EXP_PATH_MAX + 256], line[128];
    snprintf(path, sizeof path, "%s/experiment.ini", dir);
    FILE *fp = fopen(path, "r");
    if (fp) {
        unsigned long long sig = 0;
        int ok = fgets(line, sizeof line, fp) && sscanf(line, "# signature %llx", &sig) == 1;
        fclose(fp);
        if (!ok) return hsi_error(HSI_ERR_FORMAT, "%s: no '# signature' first line", path);
        if (sig != e->signature)
            return hsi_error(HSI_ERR_ARG,
                             "%s: made from another configuration (its scene, splits or pipelines "
                             "differ from %s; only [experiment] seeds may change): use a new "
                             "output folder",
                             dir, e->path);
        return HSI_OK;
    }
    if (!create) return HSI_OK;
    hsi_atomic_file f;
    hsi_status st = hsi_atomic_open(&f, path);
    if (st) return st;
    fprintf(f.fp, "# signature %016llx (hsi experiment: the configuration of this folder)\n%s",
            (unsigned long long)e->signature, e->text);
    return hsi_atomic_commit(&f);
}

static hsi_status prepare(const hsi_experiment *e, const char *dir)
{
    char scene[HSI_EXP_PATH_MAX + 64], truth_path[HSI_EXP_PATH_MAX + 64];
    char path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_scene_paths(e, dir, scene, truth_path, sizeof scene);
    hsi_status st = make_dirs(dir, 1);
    if (!st) st = hsi_experiment_check_folder(e, dir, 1);
    snprintf(path, sizeof path, "%s/splits", dir);
    if (!st) st = make_dirs(path, 1);
    if (!st && e->simulate && !(exists(scene) && exists(truth_path))) {
        hsi_cube *cube = NULL;
        hsi_labels *gt = NULL;
        st = hsi_simulate(&e->sim, &cube, &gt);
        if (!st) st = hsi_cube_write(scene, HSI_FORMAT_GTIFF, cube);
        if (!st) st = hsi_labels_write(truth_path, HSI_FORMAT_GTIFF, gt);
        hsi_cube_free(cube);
        hsi_labels_free(gt);
    }
    hsi_labels *truth = NULL;
    if (!st) st = read_truth(e, truth_path, &truth);
    for (int s = 0; !st && s < e->n_splits; s++)
        for (int k = 0; !st && k < e->n_seeds; k++) st = make_split(e, dir, truth, truth_path, s, k);
    hsi_labels_free(truth);
    for (int p = 0; !st && p < e->n_pipelines; p++) {
        if (!e->pipelines[p].profile) continue;
        feature_path(e, dir, p, path, sizeof path);
        if (exists(path)) continue;
        if (!(st = make_dirs(path, 0))) st = make_features(e, scene, p, path);
    }
    return st;
}

/* ---------------------------------------------------------------- one job */

typedef struct job_result {
    double train_seconds, predict_seconds;
    char detail[256];
} job_result;

static hsi_status svm_job(const hsi_experiment *e, const char *dir, int job, int p,
                          const char *cube_path, const char *train_path, uint64_t seed,
                          hsi_labels **pred, job_result *res)
{
    const hsi_exp_pipeline *q = &e->pipelines[p];
    const char *bands = q->profile || !*e->bands ? NULL : e->bands;
    hsi_read_options ro = {.var = q->profile || !*e->var ? NULL : e->var, .bands = bands};
    hsi_cube *cube = NULL;
    hsi_labels *train = NULL;
    float *x = NULL;
    uint16_t *y = NULL;
    size_t n = 0, pk = 0;
    int n_classes = 0;
    double pf = 0;
    hsi_preprocess_kind kind;
    hsi_preprocess *pre = NULL;
    hsi_svm_grid_result *grid = NULL;
    hsi_svm_model *model = NULL;
    double t0 = now();
    hsi_status st = hsi_preprocess_parse(q->preprocess, &kind, &pk, &pf);
    if (!st) st = hsi_cube_read(cube_path, &ro, &cube);
    if (!st) st = hsi_labels_read_for(train_path, NULL, cube->rows, cube->cols, &train);
    /* Spatially disjoint splits can leave a small class without training
     * pixels: it is never predicted (as --allow-missing-classes). */
    if (!st) st = hsi_svm_check_training(train, train_path, 1, &n_classes, NULL);
    if (!st) st = hsi_svm_gather(cube, train, train_path, &x, &y, &n);
    size_t dim = cube ? cube->bands : 0;
    if (!st && kind != HSI_PREPROCESS_NONE) {
        /* The grid sees the features the model will see (as hsi svm grid). */
        st = hsi_preprocess_fit(kind, x, n, dim, pk, pf, &pre);
        float *f = st ? NULL : malloc(n * pre->out_dim * sizeof *f);
        if (!st && !f) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        if (!st) st = hsi_preprocess_apply(pre, x, n, f);
        if (!st) {
            free(x);
            x = f;
            dim = pre->out_dim;
        } else {
            free(f);
        }
    }
    hsi_svm_grid_options g;
    hsi_svm_grid_options_init(&g);
    g.log2c = q->log2c;
    g.log2g = q->log2g;
    g.folds = q->folds;
    g.seed = seed;
    g.balanced = q->balanced;
    g.allow_missing_classes = 1;
    if (!st) st = hsi_svm_grid(x, y, n, dim, n_classes, &g, &grid);
    hsi_svm_params prm;
    hsi_svm_params_init(&prm);
    if (!st) {
        prm.gamma = exp2(grid->log2g[grid->best_g]);
        prm.C = exp2(grid->log2c[grid->best_c]);
        prm.balanced = q->balanced;
        prm.allow_missing_classes = 1;
        prm.seed = seed;
        snprintf(res->detail, sizeof res->detail,
                 "C = %.6g, gamma = %.6g (%d-fold CV accuracy %.2f %%, %zu training pixels)", prm.C,
                 prm.gamma, q->folds, 100 * grid->accuracy[grid->best_g * grid->n_c + grid->best_c],
                 n);
        st = hsi_svm_train_scene(cube, train, train_path, kind, pk, pf, &prm, &model);
    }
    if (!st) st = hsi_svm_model_set_bands(model, bands);
    char path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_job_path(e, dir, job, "model.svm", path, sizeof path);
    if (!st) st = hsi_svm_model_save(model, path);
    res->train_seconds = now() - t0;
    hsi_cube_free(cube);
    cube = NULL;
    t0 = now();
    hsi_svm_scene_options so;
    hsi_svm_scene_options_init(&so);
    hsi_read_options pro = {.var = ro.var};
    so.read = &pro;
    if (!st) st = hsi_svm_predict_file(model, cube_path, &so, pred, NULL);
    res->predict_seconds = now() - t0;
    hsi_svm_model_free(model);
    hsi_svm_grid_free(grid);
    hsi_preprocess_free(pre);
    hsi_labels_free(train);
    free(x);
    free(y);
    return st;
}

/* ---- cnn: the steps of `hsi cnn train` then `hsi cnn predict` ---- */

typedef struct cnn_scene {
    const hsi_cube *cube;
    const hsi_pixel *pixels;
    int radius;
} cnn_scene;

static hsi_status gather(void *ctx, const size_t *idx, size_t n, float *x)
{
    const cnn_scene *d = ctx;
    hsi_pixel *px = malloc((n + 1) * sizeof *px);
    if (!px) return hsi_error(HSI_ERR_NOMEM, "out of memory gathering patches");
    for (size_t i = 0; i < n; i++) px[i] = d->pixels[idx[i]];
    hsi_status st = hsi_patch_gather(d->cube, px, n, d->radius, HSI_BORDER_MIRROR, x);
    free(px);
    return st;
}

typedef struct epoch_log {
    hsi_cnn_epoch_stats *s;
    int n, cap;
} epoch_log;

static void log_epoch(void *ctx, const hsi_cnn_epoch_stats *s)
{
    epoch_log *l = ctx;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        hsi_cnn_epoch_stats *g = realloc(l->s, (size_t)cap * sizeof *g);
        if (!g) return;
        l->s = g;
        l->cap = cap;
    }
    l->s[l->n++] = *s;
}

static hsi_status cnn_job(const hsi_experiment *e, const char *dir, int job, int p,
                          const char *cube_path, const char *train_path, uint64_t seed,
                          hsi_labels **pred, job_result *res)
{
    const hsi_exp_pipeline *q = &e->pipelines[p];
    const char *bands = *q->bands ? q->bands : *e->bands ? e->bands : NULL;
    hsi_read_options ro = {.var = *e->var ? e->var : NULL, .bands = bands};
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta meta = {0};
    hsi_cube *raw = NULL, *cube = NULL;
    hsi_labels *train = NULL;
    hsi_pixel *px = NULL, *tr_px = NULL, *va_px = NULL;
    int32_t *cls = NULL, *tr_lab = NULL, *va_lab = NULL;
    size_t *order = NULL;
    float *weights = NULL;
    epoch_log log = {0};
    size_t pk = 0, n = 0;
    double pf = 0;
    hsi_preprocess_kind kind;
    char ckpt[HSI_EXP_PATH_MAX + 256], epochs_path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_job_path(e, dir, job, "model.ckpt", ckpt, sizeof ckpt);
    hsi_experiment_job_path(e, dir, job, "epochs.csv", epochs_path, sizeof epochs_path);
    double t0 = now();
    hsi_status st = hsi_preprocess_parse(q->preprocess, &kind, &pk, &pf);
    if (!st) st = hsi_cnn_spec_load(q->spec, &spec);
    int radius = 0, classes = 0;
    if (!st) {
        if (spec->in_w != spec->in_h || spec->in_w % 2 == 0)
            st = hsi_error(HSI_ERR_FORMAT, "%s: input x and y must be equal and odd", q->spec);
        radius = (spec->in_w - 1) / 2;
    }
    if (!st) st = hsi_cube_read(cube_path, &ro, &raw);
    if (!st) st = hsi_labels_read_for(train_path, NULL, raw->rows, raw->cols, &train);
    if (!st) {
        classes = hsi_labels_max(train);
        if (train->n_classes > classes) classes = train->n_classes;
        if (classes < 2) st = hsi_error(HSI_ERR_DATA, "%s: fewer than two classes", train_path);
    }
    if (!st && kind != HSI_PREPROCESS_NONE)
        st = hsi_preprocess_fit_cube(kind, raw, train->data, pk, pf, &meta.preprocess);
    if (!st && meta.preprocess) st = hsi_preprocess_apply_cube(meta.preprocess, raw, &cube);
    const hsi_cube *c = cube ? cube : raw;
    int batch = q->batch > 0 ? (int)q->batch : spec ? spec->batch : 1;
    if (!st) {
        hsi_cnn_net_options o = {.bands = (int)c->bands, .classes = classes, .max_batch = batch,
                                 .training = 1, .seed = seed};
        st = hsi_cnn_net_new(spec, &o, &net);
    }
    if (!st) {
        meta.radius = radius;
        meta.border = HSI_BORDER_MIRROR;
        meta.seed = seed;
        snprintf(meta.bands, sizeof meta.bands, "%s", bands ? bands : "");
        meta.n_classes = classes;
        st = hsi_labels_set_class_count(train, classes);
    }
    if (!st && !(meta.classes = malloc((size_t)(classes + 1) * sizeof *meta.classes)))
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st) memcpy(meta.classes, train->classes, (size_t)(classes + 1) * sizeof *meta.classes);
    if (!st) {
        size_t count = 0, pixels = train->rows * train->cols;
        for (size_t i = 0; i < pixels; i++) count += train->data[i] != 0;
        px = malloc((count + 1) * sizeof *px), cls = malloc((count + 1) * sizeof *cls);
        tr_px = malloc((count + 1) * sizeof *tr_px), va_px = malloc((count + 1) * sizeof *va_px);
        tr_lab = malloc((count + 1) * sizeof *tr_lab), va_lab = malloc((count + 1) * sizeof *va_lab);
        order = malloc((count + 1) * sizeof *order);
        weights = calloc((size_t)classes, sizeof *weights);
        if (!px || !cls || !tr_px || !va_px || !tr_lab || !va_lab || !order || !weights)
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < pixels; i++)
            if (train->data[i]) {
                px[n] = (hsi_pixel){(uint32_t)(i / train->cols), (uint32_t)(i % train->cols)};
                cls[n++] = (int32_t)train->data[i] - 1;
            }
    }
    if (!st) {
        /* The validation split of `hsi cnn train`: a seeded shuffle. */
        double vsplit = q->validation_split >= 0 ? q->validation_split : spec->validation_split;
        for (size_t i = 0; i < n; i++) order[i] = i;
        hsi_rng rng;
        hsi_rng_seed(&rng, seed ^ 0x5eed5eedull);
        hsi_rng_shuffle(&rng, order, n);
        size_t n_val = (size_t)floor(vsplit * n), n_tr = n - n_val;
        for (size_t i = 0; i < n_tr; i++) tr_px[i] = px[order[i]], tr_lab[i] = cls[order[i]];
        for (size_t i = 0; i < n_val; i++)
            va_px[i] = px[order[n_tr + i]], va_lab[i] = cls[order[n_tr + i]];
        if (q->balanced) {
            size_t *cnt = calloc((size_t)classes, sizeof *cnt);
            int present = 0;
            if (!cnt) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            for (size_t i = 0; cnt && i < n_tr; i++) cnt[tr_lab[i]]++;
            for (int k = 0; cnt && k < classes; k++) present += cnt[k] > 0;
            for (int k = 0; cnt && k < classes; k++)
                weights[k] = cnt[k] ? (float)((double)n_tr / ((double)present * cnt[k])) : 0.0f;
            free(cnt);
        }
        cnn_scene tr_ctx = {c, tr_px, radius}, va_ctx = {c, va_px, radius};
        hsi_cnn_dataset tr_set = {n_tr, tr_lab, gather, &tr_ctx};
        hsi_cnn_dataset va_set = {n_val, va_lab, gather, &va_ctx};
        hsi_cnn_train_options to = {
            .epochs = (int)(q->epochs >= 0 ? q->epochs : spec->epochs), .batch = batch,
            .class_weights = q->balanced ? weights : NULL,
            .patience = (int)(q->patience >= 0 ? q->patience : spec->patience), .meta = &meta,
            .epoch_end = log_epoch, .epoch_ctx = &log};
        if (!st) st = hsi_cnn_train(net, &tr_set, n_val ? &va_set : NULL, &to);
        if (!st) st = hsi_cnn_checkpoint_write(ckpt, net, &meta);
        if (!st)
            snprintf(res->detail, sizeof res->detail,
                     "%d epochs of %s (%zu training, %zu validation pixels)", log.n, q->spec, n_tr,
                     n_val);
    }
    if (!st) {
        hsi_atomic_file f;
        if (!(st = hsi_atomic_open(&f, epochs_path))) {
            fputs("epoch,loss,accuracy,val_loss,val_accuracy,seconds,lr,improved\n", f.fp);
            for (int i = 0; i < log.n; i++) {
                const hsi_cnn_epoch_stats *s = &log.s[i];
                fprintf(f.fp, "%d,%.9g,%.9g,%.9g,%.9g,%.4f,%.6g,%d\n", s->epoch, s->loss,
                        s->accuracy, s->val_loss, s->val_accuracy, s->seconds, s->lr, s->improved);
            }
            st = hsi_atomic_commit(&f);
        }
    }
    res->train_seconds = now() - t0;
    hsi_cnn_net_free(net);
    net = NULL;
    hsi_cnn_meta_clear(&meta);
    hsi_cube_free(raw);
    hsi_cube_free(cube);
    raw = cube = NULL;
    /* `hsi cnn predict`: the checkpoint read back, the scene a tile at a time. */
    t0 = now();
    if (!st) st = hsi_cnn_checkpoint_read(ckpt, 0, 64, NULL, &net, &meta);
    uint8_t *only = NULL;
    if (!st && q->predict_labelled) {
        /* Only the labelled pixels: every scored pixel, a fraction of the scene. */
        char scene[HSI_EXP_PATH_MAX + 64], truth_path[HSI_EXP_PATH_MAX + 64];
        hsi_labels *truth = NULL;
        hsi_experiment_scene_paths(e, dir, scene, truth_path, sizeof scene);
        st = hsi_labels_read_for(truth_path, *e->truth_var ? e->truth_var : NULL, train->rows,
                                 train->cols, &truth);
        if (!st && !(only = malloc(truth->rows * truth->cols)))
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < truth->rows * truth->cols; i++) only[i] = truth->data[i] != 0;
        hsi_labels_free(truth);
    }
    if (!st) {
        hsi_read_options pro = {.var = ro.var};
        hsi_cnn_scene_options so = {&pro, ckpt, 0, 0, NULL, only, 0, NULL};
        st = hsi_cnn_predict_file(net, &meta, cube_path, &so, pred, NULL, NULL);
    }
    free(only);
    res->predict_seconds = now() - t0;
    hsi_cnn_net_free(net);
    hsi_cnn_meta_clear(&meta);
    hsi_cnn_spec_free(spec);
    hsi_labels_free(train);
    free(px), free(cls), free(tr_px), free(va_px), free(tr_lab), free(va_lab), free(order);
    free(weights), free(log.s);
    return st;
}

static hsi_status run_job(const hsi_experiment *e, const char *dir, int job)
{
    int p, s, k;
    hsi_experiment_job(e, job, &p, &s, &k);
    char scene[HSI_EXP_PATH_MAX + 64], truth[HSI_EXP_PATH_MAX + 64];
    char train_path[HSI_EXP_PATH_MAX + 256], path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_scene_paths(e, dir, scene, truth, sizeof scene);
    hsi_experiment_split_path(e, dir, s, k, "train", train_path, sizeof train_path);
    hsi_experiment_job_path(e, dir, job, NULL, path, sizeof path);
    hsi_status st = make_dirs(path, 1);
    hsi_labels *pred = NULL;
    job_result res = {0};
    const hsi_exp_pipeline *q = &e->pipelines[p];
    if (!st && q->classifier == HSI_EXP_SVM) {
        char features[HSI_EXP_PATH_MAX + 256];
        feature_path(e, dir, p, features, sizeof features);
        st = svm_job(e, dir, job, p, q->profile ? features : scene, train_path, e->seeds[k], &pred,
                     &res);
    } else if (!st) {
        st = cnn_job(e, dir, job, p, scene, train_path, e->seeds[k], &pred, &res);
    }
    hsi_experiment_job_path(e, dir, job, "pred.tif", path, sizeof path);
    if (!st) st = hsi_labels_write(path, HSI_FORMAT_GTIFF, pred);
    hsi_labels_free(pred);
    if (st) return st;
    /* result.ini is INI: the detail must not hold a comment character. */
    for (char *c = res.detail; *c; c++)
        if (*c == '#' || *c == ';' || *c == '\n') *c = ' ';
    hsi_experiment_job_path(e, dir, job, "result.ini", path, sizeof path);
    hsi_atomic_file f;
    if ((st = hsi_atomic_open(&f, path))) return st;
    fprintf(f.fp,
            "# one finished job of %s; the experiment skips jobs that have this file\n"
            "[result]\npipeline = %s\nsplit = %s\nseed = %llu\ntrain_seconds = %.3f\n"
            "predict_seconds = %.3f\npeak_rss_mib = %.1f\ndetail = %s\n",
            e->path, q->name, e->splits[s].name, (unsigned long long)e->seeds[k],
            res.train_seconds, res.predict_seconds, peak_rss_mib(), res.detail);
    return hsi_atomic_commit(&f);
}

/* ---------------------------------------------------------------- the farm */

static int job_done(const hsi_experiment *e, const char *dir, int job)
{
    char path[HSI_EXP_PATH_MAX + 256];
    hsi_experiment_job_path(e, dir, job, "result.ini", path, sizeof path);
    return exists(path);
}

static int jobs_done(const hsi_experiment *e, const char *dir)
{
    int d = 0;
    for (int j = 0; j < hsi_experiment_jobs(e); j++) d += job_done(e, dir, j);
    return d;
}

static void job_name(const hsi_experiment *e, int job, char *buf, size_t len)
{
    int p, s, k;
    hsi_experiment_job(e, job, &p, &s, &k);
    snprintf(buf, len, "%s / %s / seed %llu", e->pipelines[p].name, e->splits[s].name,
             (unsigned long long)e->seeds[k]);
}

hsi_status hsi_experiment_run(const hsi_experiment *e, const char *dir,
                              const hsi_exp_run_options *o, int *ran, int *skipped)
{
    int my_ran = 0, my_skipped = 0;
    /* Jobs are handed out by a counter shared by the ranks. */
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    hsi_mpi_counter *farm = NULL;
    hsi_status st = hsi_mpi_counter_open(&farm);
    if (st) return st;
    /* Rank 0 prepares; every rank learns whether that went well. */
    if (rank == 0) st = prepare(e, dir);
    st = hsi_mpi_agree(st);
    int total = hsi_experiment_jobs(e);
    char name[160];
    /* The first report: the jobs finished before this run. */
    if (!st && rank == 0 && o && o->progress)
        hsi_progress_report(o->progress, jobs_done(e, dir), total, NULL);
    hsi_mpi_solo(1);
    for (int job; !st && (job = (int)hsi_mpi_counter_next(farm)) < total;) {
        if (job_done(e, dir, job)) {
            my_skipped++;
            continue;
        }
        job_name(e, job, name, sizeof name);
        /* Each job's inputs are its own: an output of a later job may take
         * the inode of a file an earlier one read and that is gone since. */
        hsi_input_forget_all();
        if (rank == 0 && o && o->job_start) o->job_start(o->job_ctx, job, name);
        st = run_job(e, dir, job);
        if (st) {
            char why[1024];
            snprintf(why, sizeof why, "%s", hsi_last_error());
            st = hsi_error(st, "job %s: %s", name, why);
            break;
        }
        my_ran++;
        if (rank == 0 && o && o->progress)
            hsi_progress_report(o->progress, jobs_done(e, dir), total, name);
    }
    hsi_mpi_solo(0);
    hsi_mpi_counter_close(farm);
    st = hsi_mpi_agree(st);
    if (ran) *ran = my_ran;
    if (skipped) *skipped = my_skipped;
    return st;
}
