/* experiment.h - the talk's comparison in one run: every (pipeline, split,
 * seed) job of a configuration, resumable, over MPI ranks, and its report.
 *
 * A configuration is an INI text (base/ini.h; every error names file:line):
 *
 *   [experiment]  seeds = 1,2,3 (or repeats = 3: seeds 1..3)
 *   [scene]       simulate = yes with rows, cols, difficulty, seed, bands-count;
 *                 or file = CUBE, truth = GT (var, truth-var, bands, classes =
 *                 a public scene's class names)
 *   [split NAME]  strategy = random | blocks | clusters | mask, with fraction,
 *                 count, min, small, patch, block, eps, min-pts, mask, class-map
 *                 (the options of `hsi split`)
 *   [pipeline NAME]  classifier = svm: features = raw | profile (pca, sdap, ap:
 *                 the options of `hsi profile`), preprocess, log2c, log2g,
 *                 folds, class-weights; classifier = cnn: spec, epochs, batch,
 *                 bands, preprocess, class-weights, validation-split, patience
 *
 * Output folder DIR:
 *   experiment.ini               the configuration of the first run with its
 *                                signature; a later run whose scene, splits or
 *                                pipelines differ is refused (seeds may be added)
 *   scene.tif, gt.tif            the simulated scene (file scenes stay where they are)
 *   features/PIPELINE.tif        a profile pipeline's feature cube
 *   splits/SPLIT_sSEED_{train,test}.tif
 *   jobs/PIPELINE/SPLIT/sSEED/   pred.tif (the class raster), model, epochs.csv
 *                                (CNN), result.ini: written last and atomically,
 *                                so a job with a result.ini is finished and is
 *                                skipped when the experiment runs again
 *   results.csv, results.json, report.md, report.html, figures/ (PNG)
 *
 * The figures of a job are computed from its pred.tif against its split's
 * test raster by eval/metrics.c, the code `hsi report --truth TEST --pred
 * PRED` runs, so results.csv equals what that command prints.
 */
#ifndef HSI_EXPERIMENT_H
#define HSI_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/progress.h"
#include "base/status.h"
#include "classifiers/svm.h"
#include "datasets/simulate.h"
#include "eval/split.h"
#include "features/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HSI_EXP_NAME_MAX 48
#define HSI_EXP_PATH_MAX 1024
#define HSI_EXP_MAX_SEEDS 100
#define HSI_EXP_MAX_ITEMS 32 /* pipelines, splits */

typedef enum hsi_exp_classifier { HSI_EXP_SVM = 0, HSI_EXP_CNN } hsi_exp_classifier;

typedef struct hsi_exp_pipeline {
    char name[HSI_EXP_NAME_MAX];
    int line;
    hsi_exp_classifier classifier;
    char preprocess[32];          /* standardise (default), none, minmax, pca:K */
    int balanced;                 /* class-weights = balanced */
    /* svm */
    int profile;                  /* features = profile */
    long pca;                     /* principal components before the profile (0: bands) */
    hsi_profile_spec specs[8];
    size_t n_specs;
    char profile_text[512];       /* the profile keys as given, for the report */
    hsi_svm_range log2c, log2g;
    int folds;
    /* cnn */
    char spec[HSI_EXP_PATH_MAX];
    long epochs, batch, patience; /* -1: the spec's */
    double validation_split;      /* -1: the spec's */
    char bands[256];              /* band list read for the CNN ("" = all) */
    int predict_labelled;         /* predict = labelled: classify only the pixels
                                     labelled in the ground truth (the rest 0); a
                                     scene's worth of patches costs a CNN more than
                                     its training */
} hsi_exp_pipeline;

typedef struct hsi_exp_split {
    char name[HSI_EXP_NAME_MAX];
    int line;
    hsi_split_options opt;        /* mask and mask_map are filled when run */
    char mask[HSI_EXP_PATH_MAX];
    char class_map[256];          /* "auto", "3=1,..." or "" */
    int patch;
} hsi_exp_split;

typedef struct hsi_experiment {
    char path[HSI_EXP_PATH_MAX];
    char *text;                   /* the whole configuration, for the report */
    uint64_t signature;           /* FNV-1a of every section but [experiment], keys as
                                     read (comments and spacing do not count): what the
                                     jobs' results depend on besides their seeds */
    int simulate;
    hsi_simulate_params sim;
    char scene[HSI_EXP_PATH_MAX], truth[HSI_EXP_PATH_MAX];
    char var[64], truth_var[64], bands[256], classes[64];
    int n_seeds;
    uint64_t seeds[HSI_EXP_MAX_SEEDS];
    int n_splits, n_pipelines;
    hsi_exp_split splits[HSI_EXP_MAX_ITEMS];
    hsi_exp_pipeline pipelines[HSI_EXP_MAX_ITEMS];
} hsi_experiment;

/* Read and check a configuration (HSI_ERR_FORMAT "file:line: ..."): a
 * regular file of at most 1 MiB without NUL bytes. */
hsi_status hsi_experiment_load(const char *path, hsi_experiment **out);
/* The same from text; `what` names it in messages. Nothing is read: scene
 * files, specs and masks are opened when the experiment runs. */
hsi_status hsi_experiment_parse(const char *text, const char *what, hsi_experiment **out);
void hsi_experiment_free(hsi_experiment *e);

/* Jobs are numbered pipeline-major: job = (p * n_splits + s) * n_seeds + k. */
int hsi_experiment_jobs(const hsi_experiment *e);
void hsi_experiment_job(const hsi_experiment *e, int job, int *p, int *s, int *k);

/* The paths of a job's files under dir: "pred.tif", "result.ini", ... */
void hsi_experiment_job_path(const hsi_experiment *e, const char *dir, int job, const char *file,
                             char *buf, size_t len);
void hsi_experiment_split_path(const hsi_experiment *e, const char *dir, int s, int k,
                               const char *side, char *buf, size_t len);
/* The scene and ground truth a run reads (DIR/scene.tif for a simulated one). */
void hsi_experiment_scene_paths(const hsi_experiment *e, const char *dir, char *scene,
                                char *truth, size_t len);

/* Refuse a folder whose experiment.ini has another signature (HSI_ERR_ARG);
 * with create, write experiment.ini where there is none. */
hsi_status hsi_experiment_check_folder(const hsi_experiment *e, const char *dir, int create);

typedef struct hsi_exp_run_options {
    int quiet;
    /* Called on rank 0 once before the jobs (done = jobs finished before, msg
     * NULL) and when it has finished a job: done (on any rank) of total, msg
     * names the job. */
    const hsi_progress *progress;
    /* Called on rank 0 when it starts a job. */
    void (*job_start)(void *ctx, int job, const char *msg);
    void *job_ctx;
} hsi_exp_run_options;

/* Prepare (scene, features, splits; rank 0, the others wait) and run every
 * job whose result.ini is missing, farmed over the MPI ranks when MPI is
 * initialised (every rank calls this). *ran and *skipped count the jobs this
 * rank ran and the finished ones found (may be NULL). */
hsi_status hsi_experiment_run(const hsi_experiment *e, const char *dir,
                              const hsi_exp_run_options *o, int *ran, int *skipped);

/* Write results.csv, results.json, report.md, report.html and figures/ from
 * the finished jobs (every job must be finished). `command` is the command
 * line shown in the report. */
hsi_status hsi_experiment_report(const hsi_experiment *e, const char *dir, const char *command);

#ifdef __cplusplus
}
#endif
#endif
