/* cmd_experiment.c - `hsi experiment CONFIG -o DIR`: every (pipeline, split,
 * seed) job of a configuration, resumable, over MPI ranks, and the report
 * folder (experiment/). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "experiment/experiment.h"
#include "tools/cli.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

static const char usage[] =
    "Usage: hsi experiment CONFIG -o DIR [options]\n"
    "       mpirun -np N hsi experiment CONFIG -o DIR [options]\n"
    "\n"
    "Run a comparison of classifiers described by CONFIG: every pipeline (SVM on\n"
    "raw spectra or on attribute profiles, 3D-CNNs and MLPs from cnn3d specs) on\n"
    "every split (random, spatially disjoint blocks, DBSCAN clusters, a training\n"
    "mask) for every seed, then write the report folder DIR:\n"
    "\n"
    "  results.csv, results.json  one row per job: pipeline, split, seed, OA, AA,\n"
    "                 kappa, test pixels, train and predict seconds, peak memory\n"
    "                 (the process's high-water mark after the job), producer's\n"
    "                 accuracy per class\n"
    "  report.md      the tables in Markdown, linking figures/: each chart as\n"
    "                 PNG and SVG (cairo), each map as PNG\n"
    "  report.html    one self-contained page (pictures embedded as PNG data, no\n"
    "                 network needed): mean +- std per pipeline and split with the\n"
    "                 best per column marked, per-class accuracy, confusion\n"
    "                 matrices as heat maps, class and correct/incorrect maps,\n"
    "                 CNN training curves, run times, machine, command, versions\n"
    "  jobs/PIPELINE/SPLIT/sSEED/  each job's class raster pred.tif, its model,\n"
    "                 epochs.csv (CNN) and result.ini\n"
    "  splits/, features/, scene.tif, gt.tif (a simulated scene)\n"
    "  experiment.ini the configuration the folder was made from: a later run\n"
    "                 whose scene, splits or pipelines differ is refused (only\n"
    "                 [experiment] may change, e.g. seeds added: their jobs run)\n"
    "\n"
    "Each job runs in this process through the same library calls as hsi svm\n"
    "grid/train/predict and hsi cnn train/predict; its figures are computed from\n"
    "pred.tif as 'hsi report --truth splits/SPLIT_sSEED_test.tif --pred\n"
    "jobs/.../pred.tif' computes them. A job writes result.ini last and\n"
    "atomically; run the same command again after a kill (or with more seeds)\n"
    "and the finished jobs are skipped. Under mpirun, rank 0 prepares the\n"
    "inputs, then jobs are handed out one at a time to whichever rank is free;\n"
    "every job runs on one rank. A class without training pixels in a split is\n"
    "never predicted (as --allow-missing-classes).\n"
    "\n"
    "CONFIG (INI; '#' comments; errors name file:line):\n"
    "  [experiment]   seeds = 1,2,3   or   repeats = 3 (seeds 1..3); default seed 1.\n"
    "                 A job's seed draws its split and seeds its classifier.\n"
    "  [scene]        simulate = yes, with rows, cols, difficulty, seed,\n"
    "                 bands-count (as hsi simulate); or file = CUBE and truth = GT,\n"
    "                 with var, truth-var (.mat variables), bands (a band list) and\n"
    "                 classes = a public scene's class names (see hsi datasets).\n"
    "                 Relative paths are taken from the current directory.\n"
    "  [split NAME]   strategy = random|blocks|clusters|mask and the options of\n"
    "                 hsi split: fraction, count, min, small, patch (default 9),\n"
    "                 block, eps, min-pts, val, mask = FILE, class-map = auto|MAP\n"
    "  [pipeline NAME]\n"
    "                 classifier = svm: features = raw|profile; pca = K, sdap =\n"
    "                 ATTR=T1,T2,..., ap = ... (one attribute per key, as hsi\n"
    "                 profile); preprocess (default standardise); log2c, log2g\n"
    "                 (grid ranges, default -5,15,2 and 3,-15,-2), folds (default\n"
    "                 5); class-weights = none|balanced. The best grid cell is\n"
    "                 trained on all training pixels and classifies the scene.\n"
    "                 classifier = cnn: spec = FILE (cnn3d/specs/*.cfg); epochs,\n"
    "                 batch, patience, validation-split (default: the spec's);\n"
    "                 bands; preprocess; class-weights; predict = scene (default:\n"
    "                 every pixel, as hsi cnn predict) or labelled (only the pixels\n"
    "                 labelled in the ground truth, the rest 0: the same figures\n"
    "                 at a fraction of the cost).\n"
    "  Shipped configurations: datasets/experiments/*.ini.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR   the report folder (created; reused to resume)\n"
    "  --report-only      only (re)write the report from finished jobs\n"
    "  --list             list the jobs and whether each has finished in DIR;\n"
    "                     reads no data (checks a configuration)\n"
    "  -q, --quiet        no progress line\n"
    "  -h, --help         show this help\n"
    "\n"
    "Progress: the jobs done of all, the time elapsed and an estimate of the time\n"
    "left (from the jobs this run has finished); on a terminal one line updated in\n"
    "place, naming the job running, otherwise one line per finished job.\n"
    "\n"
    "Examples:\n"
    "  hsi experiment datasets/experiments/main.ini -o out\n"
    "  mpirun -np 2 hsi experiment datasets/experiments/indian_pines.ini -o ip\n"
    "\n"
    "Exit status: 0 on success, 1 on a read, write, data or training error (the\n"
    "finished jobs stay), 2 on a usage error or a bad CONFIG.\n";

static const char *name = "experiment";

/* The progress line: jobs done of all, time elapsed in this run, and an
 * estimate of the time left from the jobs this run has finished (jobs found
 * finished do not count). On a terminal one line rewritten in place, with
 * the job running; otherwise one line per finished job. */
typedef struct progress_ctx {
    double t0;
    int quiet, is_tty, done0, first, done, total;
} progress_ctx;

static void duration(double s, char *buf, size_t len)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void progress_line(progress_ctx *p, const char *what, const char *job)
{
    char el[32], eta[32] = "?";
    double elapsed = cli_now() - p->t0;
    duration(elapsed, el, sizeof el);
    if (p->done > p->done0) duration(elapsed / (p->done - p->done0) * (p->total - p->done), eta, sizeof eta);
    fprintf(stderr, "%shsi experiment: %d/%d jobs, elapsed %s, ETA %s%s%s%s%s", p->is_tty ? "\r" : "",
            p->done, p->total, el, eta, job ? ": " : "", what, job ? " " : "", job ? job : "");
    fputs(p->is_tty ? "\033[K" : "\n", stderr);
    fflush(stderr);
}

static void on_progress(void *ctx, double done, double total, const char *msg)
{
    progress_ctx *p = ctx;
    p->done = (int)done, p->total = (int)total;
    if (!p->first) {
        p->first = 1;
        p->done0 = p->done;
        if (p->quiet) return;
        if (p->done0) fprintf(stderr, "hsi experiment: %d of %d jobs already finished\n", p->done0, p->total);
        return;
    }
    if (!p->quiet && !p->is_tty) progress_line(p, "done", msg);
}

static void on_start(void *ctx, int job, const char *msg)
{
    progress_ctx *p = ctx;
    (void)job;
    if (!p->quiet && p->is_tty) progress_line(p, "running", msg);
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"report-only", no_argument, NULL, 'R'},
                                             {"list", no_argument, NULL, 'L'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int quiet = 0, report_only = 0, list = 0, c, rank = 0, mpi = 0;
#ifdef HAVE_MPI
    /* MPI only under a launcher, as hsi svm. */
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK")) {
        if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return cli_error(name, "MPI_Init failed");
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        mpi = 1;
    }
#endif
    int rc = 0;
    cli_getopt_reset();
    while (!rc && (c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'R': report_only = 1; break;
        case 'L': list = 1; break;
        case 'q': quiet = 1; break;
        case 'h': rc = 3; break;
        case ':':
        default: rc = rank == 0 ? cli_getopt_error(name, NULL, c, argv) : 2;
        }
    }
    if (!rc && optind != argc - 1)
        rc = rank == 0 ? cli_usage_error(name, optind >= argc ? "missing CONFIG"
                                                              : "more than one CONFIG given")
                       : 2;
    if (!rc && !out) rc = rank == 0 ? cli_usage_error(name, "give the report folder: -o DIR") : 2;
    hsi_experiment *e = NULL;
    hsi_status st = HSI_OK;
    if (!rc) {
        st = hsi_experiment_load(argv[optind], &e);
        if (st) rc = rank == 0 ? (cli_fail(name, st), 2) : 2;
    }
    /* The command line as the report shows it. */
    char command[2048] = "hsi";
    for (int i = 0, used = 3; i < argc && used < (int)sizeof command - 1; i++)
        if (i) used += snprintf(command + used, sizeof command - used, " %s", argv[i]);
    else used += snprintf(command + used, sizeof command - used, " experiment");
    if (!rc && list) {
        if (rank == 0) {
            int n = hsi_experiment_jobs(e), done = 0;
            char path[HSI_EXP_PATH_MAX + 256];
            for (int job = 0; job < n; job++) {
                hsi_experiment_job_path(e, out, job, "result.ini", path, sizeof path);
                int fin = access(path, F_OK) == 0;
                done += fin;
                hsi_experiment_job_path(e, out, job, NULL, path, sizeof path);
                printf("%-9s %s\n", fin ? "finished" : "to run", path);
            }
            printf("%d jobs, %d finished\n", n, done);
        }
    } else if (!rc) {
        progress_ctx pc = {.t0 = cli_now(), .quiet = quiet || rank != 0, .is_tty = isatty(2)};
        hsi_progress cb = {on_progress, &pc};
        hsi_exp_run_options o = {quiet, &cb, on_start, &pc};
        int ran = 0, skipped = 0;
        if (!report_only) st = hsi_experiment_run(e, out, &o, &ran, &skipped);
        if (pc.is_tty && pc.first && !pc.quiet) fputc('\n', stderr);
        if (!st && rank == 0) {
            st = hsi_experiment_report(e, out, command);
            if (!st && !quiet)
                printf("hsi experiment: %d jobs (%d run here, %d already finished); wrote "
                       "%s/results.csv, results.json, report.md, report.html\n",
                       hsi_experiment_jobs(e), ran, skipped, out);
        }
        if (st) rc = rank == 0 ? cli_fail(name, st) : 1;
    }
    hsi_experiment_free(e);
#ifdef HAVE_MPI
    if (mpi) {
        hsi_status fin = hsi_mpi_finish(rc ? hsi_error(HSI_ERR_ARG, "failed") : HSI_OK);
        if (fin && !rc) rc = 1;
        MPI_Finalize();
    }
#else
    (void)mpi;
#endif
    if (rc == 3) return rank == 0 ? cli_print_usage(&cmd_experiment) : 0;
    return rc;
}

const hsi_command cmd_experiment = {
    "experiment", "run a comparison config (pipelines x splits x seeds) and write its report",
    usage, run};
