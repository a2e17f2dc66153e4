/* svm.h - support vector classification of pixel feature vectors (libsvm).
 *
 * C-SVC through the system libsvm: RBF, linear and polynomial kernels,
 * one-vs-one multi-class (libsvm's own scheme), optional Platt probability
 * outputs, per-class weights for imbalanced classes.
 *
 * Samples are rows of a row-major n x dim float matrix (one pixel's raw
 * spectrum, preprocessed spectrum or any feature vector); labels are class
 * ids 1..n_classes (0 = unlabelled never enters training).
 *
 * A trained model travels as one bundle file (hsi_svm_model_save): our
 * header (magic, version, dimensions, band selection, class table), the
 * preprocessing fitted on the training pixels (features/preprocess.h), the
 * libsvm model text, and a checksum, so that a truncated, corrupt or foreign
 * file is refused with a message naming it; a file with a valid checksum is
 * still checked field by field before libsvm reads it.
 *
 * Model selection (hsi_svm_grid) runs stratified k-fold cross-validation over
 * a log2 grid of (gamma, C) as a task farm over MPI ranks; see below.
 */
#ifndef HSI_SVM_H
#define HSI_SVM_H

#include <stddef.h>
#include <stdint.h>

#include "base/cube.h"
#include "base/mpi.h"
#include "base/progress.h"
#include "features/preprocess.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_svm_kernel {
    HSI_SVM_RBF = 0, /* exp(-gamma |x - y|^2) */
    HSI_SVM_LINEAR,  /* x . y */
    HSI_SVM_POLY     /* (gamma x . y + coef0)^degree */
} hsi_svm_kernel;

/* "rbf", "linear", "poly" (or "polynomial"). */
hsi_status hsi_svm_kernel_parse(const char *name, hsi_svm_kernel *kernel);
const char *hsi_svm_kernel_name(hsi_svm_kernel kernel);

typedef struct hsi_svm_params {
    hsi_svm_kernel kernel;
    double C;              /* > 0 */
    double gamma;          /* > 0 (RBF, poly) */
    int degree;            /* poly, >= 1 */
    double coef0;          /* poly */
    int probability;       /* also fit Platt probability models (5-fold CV inside) */
    int balanced;          /* weight class k by n / (n_classes * n_k) */
    const double *class_weight; /* optional [n_classes]: class k's C multiplier at
                                 * [k-1] (0 = leave at 1); multiplies the
                                 * balanced weight when both are given */
    double cache_mb;       /* libsvm kernel cache, MB */
    double eps;            /* libsvm stopping tolerance */
    uint64_t seed;         /* seeds libsvm's rand() for the probability CV */
    int allow_missing_classes; /* 0: every class 1..n_classes needs a sample (default);
                                * 1: classes without samples are left out and never
                                * predicted (spatially disjoint splits can leave a
                                * small class out); at least 2 classes needed */
} hsi_svm_params;

/* RBF, C = 1, gamma = 1 (callers usually set 1/dim), degree 3, coef0 0,
 * no probabilities, no weights, cache 200 MB, eps 1e-3, seed 0. */
void hsi_svm_params_init(hsi_svm_params *p);

/* HSI_ERR_ARG for C or gamma <= 0 (or not finite), degree < 1, ... */
hsi_status hsi_svm_params_check(const hsi_svm_params *p);

typedef struct hsi_svm_model hsi_svm_model;

/* Train on n samples x[n x dim] with labels y[n] in 1..n_classes. Every class
 * needs at least one sample (HSI_ERR_DATA naming the class otherwise) unless
 * params->allow_missing_classes. The
 * model gets default class names "Class k" unless set below. */
hsi_status hsi_svm_train(const float *x, const uint16_t *y, size_t n, size_t dim, int n_classes,
                         const hsi_svm_params *params, hsi_svm_model **out);

/* Gather the labelled pixels of a cube: x[n x bands] and y[n] in row-major
 * pixel order (caller frees both). Labels must be the cube's size. A raster
 * without labelled pixels is HSI_ERR_DATA naming `what`. */
hsi_status hsi_svm_gather(const hsi_cube *cube, const hsi_labels *labels, const char *what,
                          float **x, uint16_t **y, size_t *n);

/* The class count a training raster asks for (its class table, or its
 * largest label if larger); every class must have a labelled pixel, else
 * HSI_ERR_DATA "what: class k (name) has no training pixels" -- unless
 * allow_missing, when at least two classes must have pixels and *n_missing
 * (if not NULL) counts the classes without any. */
hsi_status hsi_svm_check_training(const hsi_labels *train, const char *what, int allow_missing,
                                  int *n_classes, int *n_missing);

/* Train from a cube and a training label raster: gathers the labelled pixels,
 * fits the preprocessing (kind, pca_k, pca_fraction as in preprocess.h) on
 * them, trains, and keeps the preprocessing and the raster's class table in
 * the model. `what` names the label file in messages. */
hsi_status hsi_svm_train_scene(const hsi_cube *cube, const hsi_labels *train, const char *what,
                               hsi_preprocess_kind preprocess, size_t pca_k,
                               double pca_fraction, const hsi_svm_params *params,
                               hsi_svm_model **out);
/* The same from spectra already gathered (x[n x bands], y[n], in the
 * raster's row-major pixel order), e.g. block by block from a scene larger
 * than memory (io/gather.h); `train` gives the class table. */
hsi_status hsi_svm_train_spectra(const float *x, const uint16_t *y, size_t n, size_t bands,
                                 const hsi_labels *train, const char *what,
                                 hsi_preprocess_kind preprocess, size_t pca_k,
                                 double pca_fraction, const hsi_svm_params *params,
                                 hsi_svm_model **out);

void hsi_svm_model_free(hsi_svm_model *m);

/* Take ownership of a preprocessing applied to every input before the SVM
 * (its out_dim must be the model's feature dimension). */
hsi_status hsi_svm_model_set_preprocess(hsi_svm_model *m, hsi_preprocess *p);
/* Copy the class table (n_classes + 1 entries, [0] = unlabelled). */
hsi_status hsi_svm_model_set_classes(hsi_svm_model *m, const hsi_class_info *classes,
                                     int n_classes);

typedef struct hsi_svm_model_info {
    size_t input_dim;      /* values per pixel the model takes (bands of the cube) */
    size_t feature_dim;    /* values the SVM sees (after preprocessing) */
    int n_classes;
    int n_support;         /* support vectors in total */
    int has_probability;
    hsi_svm_params params; /* kernel, C, gamma, degree, coef0 (class_weight NULL) */
    const hsi_class_info *classes; /* [n_classes + 1] */
    const hsi_preprocess *preprocess; /* or NULL */
    const char *bands;     /* band selection trained on (io.h band list); "" = all */
} hsi_svm_model_info;

void hsi_svm_model_get_info(const hsi_svm_model *m, hsi_svm_model_info *info);

/* Record the band selection (an io.h band list of the training cube) the
 * model was trained on, kept in the bundle so that prediction reads the same
 * bands. NULL or "" = all bands. A list that does not select input_dim bands
 * is HSI_ERR_SIZE. */
hsi_status hsi_svm_model_set_bands(hsi_svm_model *m, const char *bands);

/* The band list to read a scene with for this model, given the caller's
 * (NULL = none): the model's selection when the caller gives none; the
 * caller's when the model has none (trained on all bands, or a version-1
 * bundle) or when it selects the same bands in the same order, however
 * spelled ("2-5" = "2,3,4-5"); otherwise HSI_ERR_ARG naming `what` (the
 * scene) and both lists. *use points into given or the model. */
hsi_status hsi_svm_model_bands_for(const hsi_svm_model *m, const char *given, const char *what,
                                   const char **use);

/* Classify n samples x[n x dim] (raw inputs: the model's preprocessing is
 * applied here). labels[n] gets class ids (libsvm's one-vs-one vote, also when
 * prob is asked for); prob (optional, n x n_classes,
 * class k at column k-1) the Platt probabilities, which needs a model trained
 * with probability = 1. dim must be the model's input_dim (HSI_ERR_SIZE
 * naming `what` and the model otherwise). Uses OpenMP threads over samples;
 * the result does not depend on the thread count. */
hsi_status hsi_svm_predict(const hsi_svm_model *m, const float *x, size_t n, size_t dim,
                           const char *what, uint16_t *labels, float *prob);

/* Bundle file (written atomically). */
hsi_status hsi_svm_model_save(const hsi_svm_model *m, const char *path);
/* Load and check a bundle: bad magic, version, checksum, truncation, any
 * header field out of range, or a libsvm model text that is not exactly what
 * hsi writes (every count, index and number is checked, and against the
 * header, before libsvm parses it) are HSI_ERR_FORMAT naming path and the
 * problem. Reads version 1 (no band selection) and version 2 bundles. */
hsi_status hsi_svm_model_load(const char *path, hsi_svm_model **out);

/* ---- whole scenes ---- */

typedef struct hsi_svm_scene_options {
    const hsi_read_options *read; /* bands, .mat variable, ... (NULL: defaults) */
    size_t block_rows;            /* rows read and classified at a time; default 64 */
    int probability;              /* also produce the probability cube */
    const hsi_progress *progress; /* rank 0's rows done of its share */
} hsi_svm_scene_options;

void hsi_svm_scene_options_init(hsi_svm_scene_options *o);

/* Classify every pixel of the cube file at path. With MPI initialised and
 * several ranks, every rank must call this; the rows are split evenly over
 * the ranks, each reads and classifies its rows block by block, and rank 0
 * gathers. On rank 0, *labels gets the class raster (the model's class
 * table, the scene's georeferencing; pixels that are nodata in every band
 * get 0) and, when prob is given and o->probability set, *prob a cube of
 * n_classes bands, P(class k) in band k-1; on other ranks both stay NULL.
 * A band count other than the model's input_dim is HSI_ERR_SIZE naming path.
 * Without o->read->bands the model's band selection is read (see
 * hsi_svm_model_bands_for; a different one is HSI_ERR_ARG).
 * The ranks agree (hsi_mpi_agree) before each collective step: if one rank
 * fails (its file, or a scene or model of another shape than rank 0's),
 * every rank returns an error and no rank is left waiting. */
hsi_status hsi_svm_predict_file(const hsi_svm_model *m, const char *path,
                                const hsi_svm_scene_options *o, hsi_labels **labels,
                                hsi_cube **prob);

/* ---- cross-validated grid search over (gamma, C) ----
 *
 * Every (gamma, C, fold) triple is one task: train on the other folds,
 * count the correct predictions on the held-out fold. Tasks are ordered
 * gamma-major and handed out dynamically (an MPI one-sided fetch-and-add
 * counter on rank 0 when MPI is initialised and there are several ranks;
 * otherwise one process runs them all), so a slow cell does not leave ranks
 * idle. A task's result depends only on its inputs, so the table is the same
 * for any number of ranks. Every rank must call hsi_svm_grid with the same
 * arguments; every rank gets the full table. Ranks whose sample count,
 * features, classes, labels or grid options differ from rank 0's are
 * refused, and a failure on one rank is an error on every rank
 * (hsi_mpi_agree).
 *
 * Kernel reuse: for the RBF kernel, each rank computes the squared distances
 * of the n training samples once (OpenBLAS dgemm: |x|^2 + |y|^2 - 2 X X^T),
 * then for each gamma the kernel matrix exp(-gamma d) once, and serves every
 * C and fold of that gamma through libsvm's precomputed-kernel mode, when
 * 24 n^2 bytes fit kernel_mem_mb; otherwise each task runs plain libsvm RBF.
 * Both give the same solutions up to rounding (double precision throughout).
 */

/* A libsvm grid.py range "begin,end,step" (inclusive, step signed towards
 * end): "-5,15,2" -> -5,-3,...,15; "3,-15,-2" -> 3,1,...,-15. */
typedef struct hsi_svm_range {
    double begin, end, step;
} hsi_svm_range;

hsi_status hsi_svm_range_parse(const char *spec, hsi_svm_range *range);
/* Number of values in the range, at most `max` filled into values (log2). */
int hsi_svm_range_values(const hsi_svm_range *range, double *values, int max);

typedef struct hsi_svm_grid_options {
    hsi_svm_range log2c;    /* default -5,15,2 */
    hsi_svm_range log2g;    /* default 3,-15,-2 */
    int folds;              /* default 10 */
    uint64_t seed;          /* fold assignment; default 1 */
    int libsvm_folds;       /* 1: assign folds and order the training samples
                             * exactly as libsvm's svm-train -v does (its
                             * stratified scheme driven by glibc rand() in its
                             * unseeded state), so that each cell reproduces
                             * `svm-train -v K` on the same samples; seed unused */
    double kernel_mem_mb;   /* budget for kernel reuse per rank; 0 = never reuse;
                             * default 1024 */
    int balanced;           /* class weights as in hsi_svm_params */
    int allow_missing_classes; /* as in hsi_svm_params */
    double cache_mb;        /* libsvm cache per task, default 200 */
    double eps;             /* default 1e-3 */
    const hsi_progress *progress; /* tasks done of total (this rank's view) */
} hsi_svm_grid_options;

void hsi_svm_grid_options_init(hsi_svm_grid_options *o);

typedef struct hsi_svm_grid_result {
    int n_gamma, n_c;
    double *log2g;          /* [n_gamma] */
    double *log2c;          /* [n_c] */
    double *accuracy;       /* [n_gamma * n_c], fraction of the n samples predicted
                             * correctly when held out; row = gamma, column = C */
    double *seconds;        /* [n_gamma * n_c] summed task time of the cell */
    int best_g, best_c;     /* highest accuracy; ties: smaller C, then smaller gamma */
    int kernel_reuse;       /* 1 if the precomputed kernel served the tasks */
    double kernel_seconds;  /* time spent building kernel matrices, all ranks */
    double wall_seconds;    /* wall time of the whole search */
    int ranks;              /* MPI ranks that shared the work (1 without MPI) */
    long tasks;
} hsi_svm_grid_result;

/* Stratified fold of each sample (0..folds-1): each class's samples are
 * shuffled with the seed and dealt round-robin, continuing across classes,
 * so every fold gets its share of every class. folds must be in 2..n. */
hsi_status hsi_svm_folds(const uint16_t *y, size_t n, int n_classes, int folds, uint64_t seed,
                         int *fold_of);

/* libsvm's svm-train -v fold scheme (see libsvm_folds): fold_of[n] and
 * order[n], the sample order libsvm trains in (its perm array). */
hsi_status hsi_svm_folds_libsvm(const uint16_t *y, size_t n, int folds, int *fold_of,
                                size_t *order);

hsi_status hsi_svm_grid(const float *x, const uint16_t *y, size_t n, size_t dim, int n_classes,
                        const hsi_svm_grid_options *opts, hsi_svm_grid_result **out);
void hsi_svm_grid_free(hsi_svm_grid_result *r);

/* The agreement between MPI ranks (hsi_mpi_agree ...) is in base/mpi.h. */

#ifdef __cplusplus
}
#endif
#endif
