/* cmd_svm.c - `hsi svm grid|train|predict`: SVM model selection, training and
 * whole-scene classification, spread over MPI ranks under mpirun. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "base/memory.h"
#include "base/rng.h"
#include "classifiers/svm.h"
#include "config.h"
#include "features/preprocess.h"
#include "io/gather.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi svm grid    CUBE (--train LABELS | --truth GT --fraction F) [options]\n"
    "       hsi svm train   CUBE (--train LABELS | --truth GT --fraction F) -o MODEL [options]\n"
    "       hsi svm predict CUBE -m MODEL -o CLASSES [--prob PROB] [options]\n"
    "       mpirun -np N hsi svm grid|train --grid|predict ...\n"
    "\n"
    "Support vector classification of every pixel's feature vector (its spectrum,\n"
    "or the bands of any feature cube) with libsvm's C-SVC: RBF, linear or\n"
    "polynomial kernel, one-vs-one multi-class, optional probability outputs and\n"
    "class weights.\n"
    "\n"
    "  grid     stratified k-fold cross-validation of the RBF SVM over a log2 grid\n"
    "           of gamma and C (libsvm grid.py style). Prints the table: gamma rows,\n"
    "           C columns, cross-validation accuracy (%) and the minutes spent on\n"
    "           each cell, then the best pair. Every (gamma, C, fold) is one task,\n"
    "           handed out dynamically to the MPI ranks; for each gamma a rank\n"
    "           computes the kernel matrix of the training pixels once (OpenBLAS)\n"
    "           and reuses it for every C and fold when it fits --kernel-mem.\n"
    "  train    fit the preprocessing and the SVM on the training pixels and write\n"
    "           one model file (preprocessing, class table and libsvm model). With\n"
    "           --grid, runs the grid search first and trains with the best pair.\n"
    "  predict  classify every pixel of CUBE; under mpirun the ranks split the rows\n"
    "           (each reads --block-rows rows at a time) and rank 0 writes the class\n"
    "           raster (GeoTIFF/ENVI with the class table) and the probabilities.\n"
    "\n"
    "The results do not depend on the number of MPI ranks.\n"
    "\n"
    "Input options:\n"
    "  CUBE                the scene or feature cube: any raster GDAL reads or a .mat\n"
    "  --var NAME          .mat variable of CUBE (default: chosen automatically)\n"
    "  --bands LIST        use these 1-based bands of CUBE, e.g. 1-103,109-149\n"
    "                      (predict reads the bands the model was trained on; a\n"
    "                      different list is refused)\n"
    "  --train LABELS      training label raster (e.g. from 'hsi split'); 0 = unused\n"
    "  --train-var NAME    .mat variable of LABELS or GT\n"
    "  --truth GT          a ground truth to draw the training pixels from instead ...\n"
    "  --fraction F        ... this fraction of each class's pixels (at least one),\n"
    "                      chosen at random (0 < F <= 1)\n"
    "  --split-seed S      seed of that draw (default 1)\n"
    "  --memory SIZE       memory budget, e.g. 512M, 2G (default:\n"
    "                      half the physical memory): the scene is read in row\n"
    "                      blocks that fit it, keeping only the training pixels,\n"
    "                      so it may be larger than memory; the training set (its\n"
    "                      spectra, their preprocessed copy and libsvm's copy) must\n"
    "                      fit, else the error says what budget it needs; predict\n"
    "                      reads fewer rows than --block-rows when the budget\n"
    "                      cannot hold them beside the class raster (and --prob\n"
    "                      cube), which it holds whole\n"
    "  --preprocess SPEC   none, standardise, minmax, pca:K or pca:FRACTION, fitted on\n"
    "                      the training pixels (default standardise; grid fits it once\n"
    "                      on all of them, like svm-scale before grid.py; train stores\n"
    "                      it in the model so predict applies the same transform)\n"
    "\n"
    "Grid options (grid, train --grid):\n"
    "  --log2c B,E,S       log2 C from B to E in steps of S (default -5,15,2)\n"
    "  --log2g B,E,S       log2 gamma from B to E in steps of S (default 3,-15,-2)\n"
    "  --folds K           cross-validation folds (default 10)\n"
    "  --seed S            seed of the fold assignment and of the probability fit\n"
    "                      (default 1)\n"
    "  --fold-scheme S     hsi: stratified folds drawn with --seed (default);\n"
    "                      libsvm: exactly the folds and sample order of libsvm's\n"
    "                      'svm-train -v K' on the same pixels (to compare with it)\n"
    "  --kernel-mem MB     memory per rank for kernel reuse (default 1024; 0 = plain\n"
    "                      libsvm RBF in every task)\n"
    "  --csv FILE          also write the table as CSV\n"
    "                      (log2g,log2c,gamma,C,accuracy,seconds); '-' for standard\n"
    "                      output, in place of the text table\n"
    "  --json FILE         the same as JSON, with the best cell ('-': standard output)\n"
    "\n"
    "Training options (train; --class-weights, --cache and --eps also apply to grid):\n"
    "  --kernel K          rbf, linear or poly (default rbf)\n"
    "  -c, --cost C        the C of C-SVC (default 1)\n"
    "  -g, --gamma G       kernel gamma (default 1 / number of features)\n"
    "  --degree D          polynomial degree (default 3)\n"
    "  --coef0 R           polynomial coef0 (default 0)\n"
    "  --probability       also fit probability outputs (needed for predict --prob)\n"

    "  --allow-missing-classes\n"
    "                      train without the classes that have no training pixels\n"
    "                      (a spatially disjoint split can leave a small class out);\n"
    "                      they are never predicted. Default: such a class is an error\n"
    "  --class-weights W   none (default); balanced: each class's C times\n"
    "                      n / (classes * n_class); or a list class:weight such as\n"
    "                      1:2,7:0.5; or balanced,LIST (both)\n"
    "  --cache MB          libsvm kernel cache (default 200)\n"
    "  --eps E             libsvm stopping tolerance (default 0.001)\n"
    "  --grid              choose C and gamma by the grid search first\n"
    "  -o, --output MODEL  the model file to write (train)\n"
    "\n"
    "Prediction options:\n"
    "  -m, --model MODEL   a model written by 'hsi svm train'\n"
    "  -o, --output FILE   the class raster (.tif GeoTIFF, else ENVI; see --format)\n"
    "  --prob FILE         also write P(class) per pixel as a float cube\n"
    "  --format FMT        GTiff or ENVI, overriding the extensions\n"
    "  --block-rows N      rows per read on each rank (default 64)\n"
    "\n"
    "Other options:\n"
    "  -q, --quiet         no progress lines\n"
    "  -h, --help          show this help\n"
    "\n"
    "Examples:\n"
    "  hsi svm grid scene.tif --train train.tif\n"
    "  mpirun -np 4 hsi svm grid scene.tif --truth gt.tif --fraction 0.1 --log2c 0,12,2\n"
    "  hsi svm train scene.tif --train train.tif -c 256 -g 0.0078125 --probability -o m.svm\n"
    "  mpirun -np 4 hsi svm train scene.tif --train train.tif --grid -o m.svm\n"
    "  mpirun -np 4 hsi svm predict scene.tif -m m.svm -o classes.tif --prob prob.tif\n"
    "  hsi report --truth gt.tif --pred classes.tif --train train.tif\n"
    "\n"
    "Exit status: 0 on success, 1 on a read, write or training error, 2 on a usage\n"
    "error.\n";

typedef struct svm_cli {
    const char *name; /* "svm grid" ... */
    int rank, ranks;
    const char *cube_path, *var, *bands;
    const char *train_path, *train_var, *gt_path;
    double fraction;
    uint64_t split_seed;
    const char *preprocess;
    hsi_svm_grid_options grid;
    const char *csv, *json;
    hsi_svm_params params;
    int gamma_given, use_grid;
    double *class_weight_pairs; /* [class id] from --class-weight, or NULL */
    int class_weight_max;
    const char *class_weight_spec;
    const char *model_path, *output, *prob_path;
    hsi_raster_format format;
    long block_rows;
    size_t memory; /* --memory: the budget of grid and train */
    int quiet;
} svm_cli;

/* The status behind the last fail(), for the ranks' last agreement. */
static hsi_status failed_with;

/* Only rank 0 speaks: N ranks hitting the same bad input print one line. */
static int fail(const svm_cli *o, hsi_status st)
{
    failed_with = st;
    return o->rank == 0 ? cli_fail(o->name, st) : 1;
}

static int usage_error(const svm_cli *o, const char *msg)
{
    return o->rank == 0 ? cli_usage_error(o->name, "%s", msg) : 2;
}

/* "1:2,7:0.5" into weights indexed by class id. */
static int parse_class_weights(svm_cli *o, const char *spec)
{
    const char *p = spec;
    while (*p) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || *end != ':' || k < 1 || k > 65535) goto bad;
        p = end + 1;
        double w = strtod(p, &end);
        if (end == p || !(w > 0) || !isfinite(w) || (*end && *end != ',')) goto bad;
        if (k > o->class_weight_max) {
            double *grown = realloc(o->class_weight_pairs, (size_t)(k + 1) * sizeof *grown);
            if (!grown) goto bad;
            for (long j = o->class_weight_max + 1; j <= k; j++) grown[j] = 0;
            o->class_weight_pairs = grown;
            o->class_weight_max = (int)k;
        }
        o->class_weight_pairs[k] = w;
        p = *end ? end + 1 : end;
    }
    return 0;
bad:
    if (o->rank == 0)
        cli_usage_error(o->name, "--class-weights: '%s' is not none, balanced or a list of class:weight", spec);
    return -1;
}

static int parse_args(svm_cli *o, int argc, char **argv)
{
    enum {
        O_VAR = 256, O_BANDS, O_TRAIN, O_TRAIN_VAR, O_GT, O_FRACTION, O_SPLIT_SEED, O_PRE,
        O_LOG2C, O_LOG2G, O_FOLDS, O_SEED, O_KMEM, O_CSV, O_JSON, O_KERNEL, O_DEGREE, O_COEF0, O_PROB,
        O_BALANCED, O_MISSING, O_CW, O_CACHE, O_EPS, O_GRID, O_PROBOUT, O_FORMAT, O_BLOCK, O_SCHEME, O_CWS, O_MEMORY
    };
    static const struct option longopts[] = {
        {"var", required_argument, NULL, O_VAR},
        {"bands", required_argument, NULL, O_BANDS},
        {"train", required_argument, NULL, O_TRAIN},
        {"train-var", required_argument, NULL, O_TRAIN_VAR},
        {"truth", required_argument, NULL, O_GT},
        {"gt", required_argument, NULL, O_GT}, /* hidden alias of --truth */
        {"fraction", required_argument, NULL, O_FRACTION},
        {"split-seed", required_argument, NULL, O_SPLIT_SEED},
        {"preprocess", required_argument, NULL, O_PRE},
        {"log2c", required_argument, NULL, O_LOG2C},
        {"log2g", required_argument, NULL, O_LOG2G},
        {"folds", required_argument, NULL, O_FOLDS},
        {"seed", required_argument, NULL, O_SEED},
        {"kernel-mem", required_argument, NULL, O_KMEM},
        {"csv", required_argument, NULL, O_CSV},
        {"json", required_argument, NULL, O_JSON},
        {"fold-scheme", required_argument, NULL, O_SCHEME},
        {"kernel", required_argument, NULL, O_KERNEL},
        {"cost", required_argument, NULL, 'c'},
        {"gamma", required_argument, NULL, 'g'},
        {"degree", required_argument, NULL, O_DEGREE},
        {"coef0", required_argument, NULL, O_COEF0},
        {"probability", no_argument, NULL, O_PROB},
        {"balanced", no_argument, NULL, O_BALANCED},
        {"allow-missing-classes", no_argument, NULL, O_MISSING},
        {"class-weights", required_argument, NULL, O_CWS},
        {"class-weight", required_argument, NULL, O_CW}, /* hidden aliases: --class-weights LIST, */
                                                         /* --balanced = --class-weights balanced */
        {"cache", required_argument, NULL, O_CACHE},
        {"eps", required_argument, NULL, O_EPS},
        {"grid", no_argument, NULL, O_GRID},
        {"output", required_argument, NULL, 'o'},
        {"model", required_argument, NULL, 'm'},
        {"prob", required_argument, NULL, O_PROBOUT},
        {"format", required_argument, NULL, O_FORMAT},
        {"block-rows", required_argument, NULL, O_BLOCK},
        {"memory", required_argument, NULL, O_MEMORY},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    /* Usage errors are reported by rank 0 only; the parsers print, so the
     * other ranks parse with stderr pointed at nothing. */
    FILE *saved_stderr = NULL;
    if (o->rank != 0) {
        saved_stderr = stderr;
        stderr = fopen("/dev/null", "w");
        if (!stderr) stderr = saved_stderr;
    }
    int rc = 0, c;
    long l;
    double d;
    hsi_status st;
    cli_getopt_reset();
    while (rc == 0 && (c = getopt_long(argc, argv, CLI_OPTSTRING("c:g:o:m:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case O_VAR: o->var = optarg; break;
        case O_BANDS:
            if (cli_check_bands(o->name, "--bands", optarg)) rc = 2;
            o->bands = optarg;
            break;
        case O_TRAIN: o->train_path = optarg; break;
        case O_TRAIN_VAR: o->train_var = optarg; break;
        case O_GT: o->gt_path = optarg; break;
        case O_FRACTION:
            if (cli_parse_double(o->name, "--fraction", optarg, 1e-9, 1, &o->fraction)) rc = 2;
            break;
        case O_SPLIT_SEED:
            if (cli_parse_u64(o->name, "--split-seed", optarg, &o->split_seed)) rc = 2;
            break;
        case O_PRE: {
            hsi_preprocess_kind k;
            size_t pk;
            double pf;
            if (hsi_preprocess_parse(optarg, &k, &pk, &pf)) {
                cli_usage_error(o->name, "--preprocess: %s", hsi_last_error());
                rc = 2;
            }
            o->preprocess = optarg;
            break;
        }
        case O_LOG2C:
        case O_LOG2G:
            st = hsi_svm_range_parse(optarg, c == O_LOG2C ? &o->grid.log2c : &o->grid.log2g);
            if (st) {
                cli_usage_error(o->name, "%s: %s", c == O_LOG2C ? "--log2c" : "--log2g",
                                hsi_last_error());
                rc = 2;
            }
            break;
        case O_FOLDS:
            if (cli_parse_long(o->name, "--folds", optarg, 2, 1000, &l)) rc = 2;
            o->grid.folds = (int)l;
            break;
        case O_SEED:
            if (cli_parse_u64(o->name, "--seed", optarg, &o->grid.seed)) rc = 2;
            o->params.seed = o->grid.seed;
            break;
        case O_KMEM:
            if (cli_parse_double(o->name, "--kernel-mem", optarg, 0, 1e9, &o->grid.kernel_mem_mb))
                rc = 2;
            break;
        case O_CSV: o->csv = optarg; break;
        case O_JSON: o->json = optarg; break;
        case O_SCHEME:
            if (!strcmp(optarg, "hsi") || !strcmp(optarg, "libsvm")) {
                o->grid.libsvm_folds = !strcmp(optarg, "libsvm");
            } else {
                cli_usage_error(o->name, "--fold-scheme: '%s' is not hsi or libsvm", optarg);
                rc = 2;
            }
            break;
        case O_KERNEL:
            if (hsi_svm_kernel_parse(optarg, &o->params.kernel)) {
                cli_usage_error(o->name, "--kernel: %s", hsi_last_error());
                rc = 2;
            }
            break;
        case 'c':
            /* A usage error, before any data is read. */
            if (cli_parse_double(o->name, "--cost", optarg, -1e300, 1e300, &o->params.C)) rc = 2;
            else if (!(o->params.C > 0))
                rc = cli_usage_error(o->name, "--cost: C must be a positive number, not '%s'", optarg);
            break;
        case 'g':
            if (cli_parse_double(o->name, "--gamma", optarg, -1e300, 1e300, &o->params.gamma))
                rc = 2;
            else if (!(o->params.gamma > 0))
                rc = cli_usage_error(o->name, "--gamma: gamma must be a positive number, not '%s'",
                                     optarg);
            o->gamma_given = 1;
            break;
        case O_DEGREE:
            if (cli_parse_long(o->name, "--degree", optarg, 1, 20, &l)) rc = 2;
            o->params.degree = (int)l;
            break;
        case O_COEF0:
            if (cli_parse_double(o->name, "--coef0", optarg, -1e300, 1e300, &o->params.coef0))
                rc = 2;
            break;
        case O_PROB: o->params.probability = 1; break;
        case O_BALANCED: o->params.balanced = o->grid.balanced = 1; break;
        case O_MISSING: o->params.allow_missing_classes = o->grid.allow_missing_classes = 1; break;
        case O_CWS:
            /* none | balanced | LIST | balanced,LIST (the same option as cnn's) */
            o->params.balanced = o->grid.balanced = 0;
            if (!strcmp(optarg, "none")) break;
            if (!strncmp(optarg, "balanced", 8) && (optarg[8] == '\0' || optarg[8] == ',')) {
                o->params.balanced = o->grid.balanced = 1;
                if (!optarg[8]) break;
                optarg += 9;
            }
            /* the class:weight list */
            __attribute__((fallthrough));
        case O_CW:
            o->class_weight_spec = optarg;
            if (parse_class_weights(o, optarg)) rc = 2;
            break;
        case O_CACHE:
            if (cli_parse_double(o->name, "--cache", optarg, 1, 1e6, &d)) rc = 2;
            o->params.cache_mb = o->grid.cache_mb = d;
            break;
        case O_EPS:
            if (cli_parse_double(o->name, "--eps", optarg, 1e-12, 1, &d)) rc = 2;
            o->params.eps = o->grid.eps = d;
            break;
        case O_GRID: o->use_grid = 1; break;
        case 'o': o->output = optarg; break;
        case 'm': o->model_path = optarg; break;
        case O_PROBOUT: o->prob_path = optarg; break;
        case O_FORMAT:
            if (hsi_format_parse(optarg, &o->format)) {
                cli_usage_error(o->name, "--format: %s", hsi_last_error());
                rc = 2;
            }
            break;
        case O_BLOCK:
            if (cli_parse_long(o->name, "--block-rows", optarg, 1, 1 << 20, &o->block_rows)) rc = 2;
            break;
        case O_MEMORY:
            if (cli_parse_memory(o->name, optarg, &o->memory)) rc = 2;
            break;
        case 'q': o->quiet = 1; break;
        case 'h': rc = 3; break;
        case ':':
        default: rc = cli_getopt_error("svm", o->name + 4, c, argv);
        }
    }
    if (rc == 0) {
        if (optind + 1 != argc) {
            cli_usage_error(o->name, optind >= argc ? "missing CUBE" : "more than one CUBE given");
            rc = 2;
        } else {
            o->cube_path = argv[optind];
        }
    }
    if (saved_stderr) {
        fclose(stderr);
        stderr = saved_stderr;
    }
    return rc;
}

/* ---- training pixels ---- */

/* A fraction of each class's pixels of a ground truth, drawn with the seed. */
static hsi_status sample_fraction(const hsi_labels *gt, double fraction, uint64_t seed,
                                  hsi_labels **out)
{
    hsi_labels *train = NULL;
    hsi_status st = hsi_labels_new_like(gt, &train);
    if (st) return st;
    size_t pixels = gt->rows * gt->cols;
    size_t *members = malloc(pixels * sizeof *members);
    if (!members) {
        hsi_labels_free(train);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    int max = hsi_labels_max(gt);
    for (int k = 1; k <= max; k++) {
        size_t m = 0;
        for (size_t i = 0; i < pixels; i++)
            if (gt->data[i] == k) members[m++] = i;
        if (!m) continue;
        hsi_rng_shuffle(&rng, members, m);
        size_t keep = (size_t)ceil(fraction * (double)m);
        if (keep < 1) keep = 1;
        for (size_t j = 0; j < keep && j < m; j++) train->data[members[j]] = (uint16_t)k;
    }
    free(members);
    *out = train;
    return HSI_OK;
}

static hsi_status load_training(const svm_cli *o, size_t rows, size_t cols, hsi_labels **train,
                                const char **what)
{
    *train = NULL;
    hsi_status st;
    if (o->train_path) {
        *what = o->train_path;
        return hsi_labels_read_for(o->train_path, o->train_var, rows, cols, train);
    }
    *what = o->gt_path;
    hsi_labels *gt = NULL;
    if ((st = hsi_labels_read_for(o->gt_path, o->train_var, rows, cols, &gt)))
        return st;
    st = sample_fraction(gt, o->fraction, o->split_seed, train);
    hsi_labels_free(gt);
    return st;
}

/* The training samples after preprocessing (fitted on them), and their
 * spectra as read (what train fits the model's preprocessing on). */
typedef struct training_set {
    hsi_labels *labels;
    const char *what;
    float *x;
    float *spectra; /* [n x bands]: x itself when there is no preprocessing */
    uint16_t *y;
    size_t n, dim, bands;
    int n_classes;
    hsi_preprocess_kind pre_kind;
    size_t pca_k;
    double pca_fraction;
} training_set;

static void training_set_free(training_set *t)
{
    hsi_labels_free(t->labels);
    if (t->spectra != t->x) free(t->spectra);
    free(t->x);
    free(t->y);
}

static hsi_status load_training_set(const svm_cli *o, training_set *t)
{
    memset(t, 0, sizeof *t);
    hsi_status st;
    if ((st = hsi_preprocess_parse(o->preprocess, &t->pre_kind, &t->pca_k, &t->pca_fraction)))
        return st;
    /* The scene is read a row block at a time (io/gather.h): only the
     * training pixels are kept. */
    hsi_read_options ro = {.var = o->var, .bands = o->bands};
    hsi_cube_reader *rd;
    size_t rows, cols;
    if ((st = hsi_cube_reader_open(o->cube_path, &ro, &rd))) return st;
    hsi_cube_reader_shape(rd, &rows, &cols, &t->bands);
    hsi_cube_reader_close(rd);
    if ((st = load_training(o, rows, cols, &t->labels, &t->what))) return st;
    int missing = 0;
    if ((st = hsi_svm_check_training(t->labels, t->what, o->params.allow_missing_classes,
                                     &t->n_classes, &missing)))
        return st;
    if (missing && o->rank == 0)
        fprintf(stderr, "hsi %s: warning: %s: %d of %d classes have no training pixels and will "
                        "never be predicted\n",
                o->name, t->what, missing, t->n_classes);
    /* Beyond the spectra: their preprocessed copy, and libsvm's (a 16-byte
     * node per feature, plus one). */
    size_t extra = (t->pre_kind != HSI_PREPROCESS_NONE ? t->bands * sizeof(float) : 0) +
                   (t->bands + 1) * 16;
    if ((st = hsi_gather_spectra_file(o->cube_path, &ro, t->labels, t->what, o->memory, extra,
                                      &t->x, &t->y, &t->n)))
        return st;
    t->spectra = t->x;
    t->dim = t->bands;
    if (t->pre_kind != HSI_PREPROCESS_NONE) {
        hsi_preprocess *pre = NULL;
        if ((st = hsi_preprocess_fit(t->pre_kind, t->x, t->n, t->dim, t->pca_k, t->pca_fraction,
                                     &pre)))
            return st;
        float *f = malloc(t->n * pre->out_dim * sizeof *f);
        if (!f) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        else st = hsi_preprocess_apply(pre, t->x, t->n, f);
        if (!st) {
            t->x = f; /* t->spectra keeps the spectra */
            t->dim = pre->out_dim;
        } else {
            free(f);
        }
        hsi_preprocess_free(pre);
    }
    return st;
}

/* ---- grid ---- */

/* The grid table as CSV or JSON ("-": standard output). */
static hsi_status write_table(const char *path, int json, const hsi_svm_grid_result *r)
{
    cli_output f;
    hsi_status st = cli_output_open(&f, path);
    if (st) return st;
    if (!json) fprintf(f.fp, "log2g,log2c,gamma,C,accuracy,seconds\n");
    else fputs("{\"cells\": [", f.fp);
    for (int gi = 0; gi < r->n_gamma; gi++)
        for (int ci = 0; ci < r->n_c; ci++)
            fprintf(f.fp,
                    json ? "%s\n  {\"log2g\": %g, \"log2c\": %g, \"gamma\": %.10g, \"C\": %.10g, "
                           "\"accuracy\": %.6f, \"seconds\": %.4f}"
                         : "%s%g,%g,%.10g,%.10g,%.6f,%.4f\n",
                    json ? (gi || ci ? "," : "") : "", r->log2g[gi], r->log2c[ci],
                    exp2(r->log2g[gi]), exp2(r->log2c[ci]), r->accuracy[gi * r->n_c + ci],
                    r->seconds[gi * r->n_c + ci]);
    if (json)
        fprintf(f.fp, "],\n \"best\": {\"log2g\": %g, \"log2c\": %g, \"accuracy\": %.6f}}\n",
                r->log2g[r->best_g], r->log2c[r->best_c],
                r->accuracy[r->best_g * r->n_c + r->best_c]);
    return cli_output_close(&f, HSI_OK);
}

static void print_table(const training_set *t, const hsi_svm_grid_options *g,
                        const hsi_svm_grid_result *r)
{
    printf("SVM grid search: %zu training pixels, %zu features, %d classes, %d-fold CV\n", t->n,
           t->dim, t->n_classes, g->folds);
    printf("%d gamma x %d C = %d cells, %ld tasks on %d rank%s; kernel reuse: %s\n", r->n_gamma,
           r->n_c, r->n_gamma * r->n_c, r->tasks, r->ranks, r->ranks == 1 ? "" : "s",
           r->kernel_reuse ? "yes" : "no (plain RBF per task)");
    printf("accuracy %% (minutes) per cell; rows log2(gamma), columns log2(C)\n");
    printf("%9s", "log2g\\c");
    for (int ci = 0; ci < r->n_c; ci++) printf(" %16g", r->log2c[ci]);
    putchar('\n');
    for (int gi = 0; gi < r->n_gamma; gi++) {
        printf("%9g", r->log2g[gi]);
        for (int ci = 0; ci < r->n_c; ci++)
            printf("  %6.2f (%6.3f)", 100.0 * r->accuracy[gi * r->n_c + ci],
                   r->seconds[gi * r->n_c + ci] / 60.0);
        putchar('\n');
    }
    double task_total = 0;
    for (int i = 0; i < r->n_gamma * r->n_c; i++) task_total += r->seconds[i];
    int b = r->best_g * r->n_c + r->best_c;
    printf("best: log2(gamma) = %g, log2(C) = %g (gamma = %.8g, C = %.8g): accuracy %.2f %%\n",
           r->log2g[r->best_g], r->log2c[r->best_c], exp2(r->log2g[r->best_g]),
           exp2(r->log2c[r->best_c]), 100.0 * r->accuracy[b]);
    printf("time: %.2f s wall, %.2f s in tasks, %.2f s building kernel matrices (all ranks)\n",
           r->wall_seconds, task_total, r->kernel_seconds);
    fflush(stdout);
}

static int run_grid_search(const svm_cli *o, const training_set *t, hsi_svm_grid_result **out)
{
    cli_progress bar;
    cli_progress_init(&bar, "hsi svm grid", o->quiet || o->rank != 0);
    hsi_progress cb = cli_progress_callback(&bar);
    hsi_svm_grid_options g = o->grid;
    g.progress = &cb;
    hsi_status st = hsi_svm_grid(t->x, t->y, t->n, t->dim, t->n_classes, &g, out);
    cli_progress_finish(&bar);
    if (st) return fail(o, st);
    if (o->rank == 0) {
        /* --csv - / --json - put that table on standard output in place of the text. */
        if (!cli_is_stdout(o->csv) && !cli_is_stdout(o->json)) print_table(t, &g, *out);
        if (o->csv && (st = write_table(o->csv, 0, *out))) return fail(o, st);
        if (o->json && (st = write_table(o->json, 1, *out))) return fail(o, st);
    }
    return 0;
}

static int cmd_grid(svm_cli *o)
{
    if (!o->train_path && !o->gt_path)
        return usage_error(o, "give the training pixels: --train LABELS or --truth GT --fraction F");
    training_set t;
    /* Each rank reads its own inputs: all go on, or all stop. */
    hsi_status st = hsi_mpi_agree(load_training_set(o, &t));
    if (st) {
        training_set_free(&t);
        return fail(o, st);
    }
    hsi_svm_grid_result *r = NULL;
    int rc = run_grid_search(o, &t, &r);
    hsi_svm_grid_free(r);
    training_set_free(&t);
    return rc;
}

/* ---- train ---- */

static int cmd_train(svm_cli *o)
{
    if (!o->train_path && !o->gt_path)
        return usage_error(o, "give the training pixels: --train LABELS or --truth GT --fraction F");
    if (!o->output) return usage_error(o, "give the model file: -o MODEL");
    training_set t;
    /* Each rank reads its own inputs: all go on, or all stop. */
    hsi_status st = hsi_mpi_agree(load_training_set(o, &t));
    if (st) {
        training_set_free(&t);
        return fail(o, st);
    }
    hsi_svm_params p = o->params;
    if (!o->gamma_given) p.gamma = 1.0 / (double)t.dim;
    if (o->use_grid) {
        if (p.kernel != HSI_SVM_RBF) {
            training_set_free(&t);
            return usage_error(o, "--grid searches the RBF kernel's gamma and C only");
        }
        hsi_svm_grid_result *r = NULL;
        int rc = run_grid_search(o, &t, &r);
        if (rc) {
            training_set_free(&t);
            return rc;
        }
        p.gamma = exp2(r->log2g[r->best_g]);
        p.C = exp2(r->log2c[r->best_c]);
        hsi_svm_grid_free(r);
    }
    /* Training itself is one libsvm solve: rank 0 does it, the others are done. */
    if (o->rank != 0) {
        training_set_free(&t);
        return 0;
    }
    double *weights = NULL;
    if (o->class_weight_pairs) {
        if (o->class_weight_max > t.n_classes) {
            training_set_free(&t);
            return cli_usage_error(o->name, "--class-weights: class %d, but there are %d classes",
                                   o->class_weight_max, t.n_classes);
        }
        weights = calloc((size_t)t.n_classes, sizeof *weights);
        for (int k = 1; weights && k <= o->class_weight_max; k++)
            weights[k - 1] = o->class_weight_pairs[k];
        p.class_weight = weights;
    }
    double t0 = cli_now();
    hsi_svm_model *m = NULL;
    st = hsi_svm_train_spectra(t.spectra, t.y, t.n, t.bands, t.labels, t.what, t.pre_kind, t.pca_k,
                               t.pca_fraction, &p, &m);
    free(weights);
    /* Kept in the model: predict reads the same bands of the scene. */
    if (!st) st = hsi_svm_model_set_bands(m, o->bands);
    if (!st) st = hsi_svm_model_save(m, o->output);
    if (!st && !o->quiet) {
        hsi_svm_model_info info;
        hsi_svm_model_get_info(m, &info);
        printf("trained %s SVM on %zu pixels (%zu features, %d classes): C = %.8g", 
               hsi_svm_kernel_name(p.kernel), t.n, info.feature_dim, info.n_classes, p.C);
        if (p.kernel != HSI_SVM_LINEAR) printf(", gamma = %.8g", p.gamma);
        printf(", %d support vectors, %.2f s%s\nwrote %s\n", info.n_support, cli_now() - t0,
               info.has_probability ? ", with probabilities" : "", o->output);
    }
    hsi_svm_model_free(m);
    training_set_free(&t);
    return st ? fail(o, st) : 0;
}

/* ---- predict ---- */

/* --block-rows, or fewer when --memory cannot hold that many beside the
 * outputs (each rank's share of the class raster and the gathered one,
 * likewise the probabilities) and one 4096-pixel chunk of features. */
static hsi_status predict_block_rows(const svm_cli *o, const hsi_svm_model *m,
                                     const hsi_read_options *ro, size_t *block)
{
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(o->cube_path, ro, &rd);
    if (st) return st;
    size_t rows, cols, bands, fit;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    hsi_svm_model_info info;
    hsi_svm_model_get_info(m, &info);
    size_t per_pixel = 2 * sizeof(uint16_t) + (o->prob_path ? 2 * (size_t)info.n_classes * sizeof(float) : 0);
    st = hsi_scene_block_rows(o->memory, rows, cols, per_pixel, 4096 * info.feature_dim * sizeof(float),
                              cols * (info.input_dim * sizeof(float) + 1),
                              o->prob_path ? "the class raster and probabilities" : "the class raster",
                              &fit);
    hsi_cube_reader_close(rd);
    if (!st && fit < *block) *block = fit;
    return st;
}

static int cmd_predict(svm_cli *o)
{
    if (!o->model_path) return usage_error(o, "give the model: -m MODEL");
    if (!o->output) return usage_error(o, "give the class raster to write: -o FILE");
    hsi_svm_model *m = NULL;
    /* Each rank reads its own model: all go on, or all stop. */
    hsi_status st = hsi_mpi_agree(hsi_svm_model_load(o->model_path, &m));
    if (st) {
        hsi_svm_model_free(m);
        return fail(o, st);
    }
    hsi_read_options ro = {.var = o->var, .bands = o->bands};
    hsi_svm_scene_options so;
    hsi_svm_scene_options_init(&so);
    so.read = &ro;
    so.block_rows = (size_t)o->block_rows;
    so.probability = o->prob_path != NULL;
    /* A file that cannot be read is reported by hsi_svm_predict_file, after
     * the ranks agree; here only the budget's own error counts. */
    st = predict_block_rows(o, m, &ro, &so.block_rows);
    if ((st = hsi_mpi_agree(st == HSI_ERR_NOMEM ? st : HSI_OK))) {
        hsi_svm_model_free(m);
        return fail(o, st);
    }
    cli_progress bar;
    cli_progress_init(&bar, "hsi svm predict", o->quiet || o->rank != 0);
    hsi_progress cb = cli_progress_callback(&bar);
    so.progress = &cb;
    hsi_labels *labels = NULL;
    hsi_cube *prob = NULL;
    double t0 = cli_now();
    st = hsi_svm_predict_file(m, o->cube_path, &so, &labels, &prob);
    cli_progress_finish(&bar);
    if (!st && o->rank == 0) {
        st = hsi_labels_write(o->output, o->format, labels);
        if (!st && prob) st = hsi_cube_write(o->prob_path, o->format, prob);
        if (!st && !o->quiet) {
            size_t pixels = labels->rows * labels->cols;
            double secs = cli_now() - t0;
            printf("classified %zu x %zu pixels on %d rank%s in %.2f s (%.0f pixels/s)\n",
                   labels->rows, labels->cols, o->ranks, o->ranks == 1 ? "" : "s", secs,
                   pixels / (secs > 0 ? secs : 1e-9));
            printf("wrote %s%s%s\n", o->output, prob ? " and " : "", prob ? o->prob_path : "");
        }
    }
    hsi_labels_free(labels);
    hsi_cube_free(prob);
    hsi_svm_model_free(m);
    return st ? fail(o, st) : 0;
}

/* ---- entry ---- */

static int run(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    int (*action)(svm_cli *) = !strcmp(sub, "grid")      ? cmd_grid
                               : !strcmp(sub, "train")   ? cmd_train
                               : !strcmp(sub, "predict") ? cmd_predict
                                                         : NULL;
    if (!action) return cli_usage_error("svm", "unknown subcommand '%s' (grid, train, predict)", sub);
    svm_cli o;
    memset(&o, 0, sizeof o);
    char name[32];
    snprintf(name, sizeof name, "svm %s", sub);
    o.name = name;
    o.fraction = 0;
    o.split_seed = 1;
    o.preprocess = "standardise";
    hsi_svm_grid_options_init(&o.grid);
    hsi_svm_params_init(&o.params);
    o.params.seed = o.grid.seed;
    o.block_rows = 64;
    o.memory = hsi_memory_default();

    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    int mpi = hsi_mpi_start(&sub_argc, &sub_argv, &o.rank, &o.ranks);
    if (mpi < 0) return cli_error(name, "MPI_Init failed");
    int rc = parse_args(&o, sub_argc, sub_argv);
    if (rc == 3) {
        rc = o.rank == 0 ? cli_print_usage(&(hsi_command){"svm", "", usage, NULL}) : 0;
    } else if (rc == 0) {
        if (o.gt_path && o.train_path) rc = usage_error(&o, "give either --train or --truth, not both");
        else if (o.gt_path && !(o.fraction > 0))
            rc = usage_error(&o, "--truth needs --fraction F (0 < F <= 1)");
        else if (o.prob_path && o.format == HSI_FORMAT_PNG)
            rc = usage_error(&o, "--prob cannot be PNG");
        else rc = action(&o);
    }
    free(o.class_weight_pairs);
    if (mpi) {
        /* The last agreement: ranks that waited while rank 0 trained or
         * wrote the outputs alone learn how that went, and a rank that
         * stopped without agreeing (a usage error only it saw) does not
         * leave the others waiting. If one rank failed, all exit non-zero. */
        hsi_status st = HSI_OK;
        if (rc == 1 && failed_with) st = failed_with;
        else if (rc)
            st = hsi_error(HSI_ERR_ARG, "invalid command line (only rank 0 prints usage errors)");
        st = hsi_mpi_finish(st);
        if (st && !rc) rc = fail(&o, st);
        hsi_mpi_stop();
    }
    return rc;
}

const hsi_command cmd_svm = {"svm", "SVM grid search, training and scene classification (MPI)",
                             usage, run};
