/* cmd_report.c - `hsi report --truth GT --pred PRED`: accuracy figures of a
 * classification, or mean +- std over several runs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "datasets/scenes.h"
#include "eval/metrics.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi report --truth GT --pred PRED [options]\n"
    "       hsi report --truth GT --runs PRED1,PRED2,... [options]\n"
    "\n"
    "Score a predicted class raster against a ground truth: confusion matrix with\n"
    "class names (rows: truth, columns: prediction), overall accuracy (OA), average\n"
    "accuracy (AA, the mean of the per-class producer's accuracies), per-class\n"
    "producer's and user's accuracy and F1, Cohen's kappa with its 95% interval\n"
    "(variance after Congalton & Green, Assessing the Accuracy of Remotely Sensed\n"
    "Data, 2009) and pixel counts.\n"
    "\n"
    "Only pixels labelled in GT are scored (label 0 never is). With --train, the\n"
    "training pixels are excluded too, so the figures describe held-out pixels\n"
    "only. A scored pixel the classifier left at 0 counts as an error (column 0,\n"
    "'unclassified'). A class without test pixels shows '-' and is left out of AA.\n"
    "With several runs (other seeds, folds or splits) every figure is printed as\n"
    "mean +- sample standard deviation over the runs.\n"
    "\n"
    "Options:\n"
    "  --truth GT         ground truth raster (any GDAL raster or .mat); required\n"
    "  --pred PRED        predicted class raster of the same size; may be repeated,\n"
    "                     one per run\n"
    "  --runs LIST        comma-separated predicted rasters, one per run\n"
    "  --train TRAIN      training raster whose labelled pixels are not scored;\n"
    "                     give it once for all runs or once per run, in run order\n"
    "  --names FILE       class names for GT's class table, one per line (class 1\n"
    "                     first); default: the names stored in GT, else 'Class k'\n"
    "  --scene NAME       name GT's classes after a public scene (indian_pines,\n"
    "                     salinas, pavia_university, ...; see 'hsi datasets')\n"
    "  --var NAME         .mat variable of GT (default: chosen automatically)\n"
    "  -o, --output FILE  write the report to FILE (atomically) instead of stdout;\n"
    "                     its format follows the extension: .csv, .json, .md,\n"
    "                     anything else text\n"
    "  --report-format FMT  text (aligned, default), csv, json or md (Markdown),\n"
    "                     overriding the extension\n"
    "  --csv FILE         also write the report as CSV ('-': standard output, in\n"
    "                     place of the text)\n"
    "  --json FILE        also write the report as JSON ('-': standard output)\n"
    "  -q, --quiet        accepted for uniformity (no progress to silence)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Figures: percentages with 2 decimals and kappa with 4 in text and Markdown;\n"
    "fractions with 10 significant digits in CSV; full precision in JSON.\n"
    "\n"
    "Examples:\n"
    "  hsi report --truth gt.tif --pred pred.tif --train split_train.tif\n"
    "  hsi report --truth Indian_pines_gt.mat --names ip.names --pred map.tif \\\n"
    "             --report-format md\n"
    "  hsi report --truth gt.tif --runs seed1.tif,seed2.tif,seed3.tif \\\n"
    "             --train s1.tif --train s2.tif --train s3.tif -o runs.csv\n"
    "\n"
    "Exit status: 0 on success, 1 if a file cannot be read or the rasters do not\n"
    "fit together (sizes differ, a class missing from GT's class table, nothing\n"
    "to score), 2 on a usage error.\n";

#define MAX_RUNS 256

/* Split "a,b,c" into up to max pointers (modifies s). */
static int split_list(char *s, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        out[n++] = tok;
    }
    return n;
}

/* One report of one run, or the summary of several, in one format. */
static hsi_status write_report(FILE *fp, hsi_report_format fmt, const hsi_metrics *const *runs,
                               int n_pred, const char *const *preds, const char *truth_path,
                               const char *train0)
{
    hsi_status st;
    if (n_pred == 1) {
        if (fmt == HSI_REPORT_TEXT) {
            fprintf(fp, "Accuracy of %s against %s", preds[0], truth_path);
            if (train0) fprintf(fp, " (training pixels of %s not scored)", train0);
            fputs("\n\n", fp);
        }
        return hsi_metrics_write(runs[0], fmt, fp);
    }
    hsi_metrics_summary *sum = NULL;
    st = hsi_metrics_summarise(runs, n_pred, &sum);
    if (!st && fmt == HSI_REPORT_TEXT) {
        fprintf(fp, "Accuracy of %d runs against %s\n\n", n_pred, truth_path);
        for (int r = 0; r < n_pred; r++)
            fprintf(fp, "run %d: %s: OA %.2f %%, AA %.2f %%, kappa %.4f (%llu pixels)\n", r + 1,
                    preds[r], 100.0 * runs[r]->oa, 100.0 * runs[r]->aa, runs[r]->kappa,
                    (unsigned long long)runs[r]->total);
        fputc('\n', fp);
    }
    if (!st) st = hsi_metrics_summary_write(sum, fmt, fp);
    hsi_metrics_summary_free(sum);
    return st;
}

static int run(int argc, char **argv)
{
    const char *name = "report";
    static const struct option longopts[] = {
        {"truth", required_argument, NULL, 't'}, {"pred", required_argument, NULL, 'p'},
        {"runs", required_argument, NULL, 'r'},  {"train", required_argument, NULL, 'T'},
        {"names", required_argument, NULL, 'n'}, {"var", required_argument, NULL, 'v'},
        {"scene", required_argument, NULL, 's'},
        {"report-format", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'f'}, /* hidden alias of --report-format */
        {"csv", required_argument, NULL, 'c'},   {"json", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *truth_path = NULL, *names = NULL, *var = NULL, *out_path = NULL;
    const char *csv_path = NULL, *json_path = NULL;
    int fmt_given = 0;
    const char *preds[MAX_RUNS], *trains[MAX_RUNS];
    int n_pred = 0, n_train = 0, c;
    hsi_report_format fmt = HSI_REPORT_TEXT;
    const hsi_scene *scene = NULL;
    hsi_status st;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 't': truth_path = optarg; break;
        case 'p':
            if (n_pred == MAX_RUNS) return cli_usage_error(name, "more than %d runs", MAX_RUNS);
            preds[n_pred++] = optarg;
            break;
        case 'r': {
            int k = split_list(optarg, preds + n_pred, MAX_RUNS - n_pred);
            if (k <= 0) return cli_usage_error(name, "--runs: give 1..%d comma-separated files", MAX_RUNS);
            n_pred += k;
            break;
        }
        case 'T':
            if (n_train == MAX_RUNS) return cli_usage_error(name, "more than %d runs", MAX_RUNS);
            trains[n_train++] = optarg;
            break;
        case 'n': names = optarg; break;
        case 'v': var = optarg; break;
        case 's':
            if (hsi_scene_lookup(optarg, &scene)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'f':
            if (hsi_report_format_parse(optarg, &fmt)) return cli_usage_error(name, "%s", hsi_last_error());
            fmt_given = 1;
            break;
        case 'o': out_path = optarg; break;
        case 'c': csv_path = optarg; break;
        case 'j': json_path = optarg; break;
        case 'q': break; /* no progress to silence: the output is the result */
        case 'h': return cli_print_usage(&cmd_report);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (optind != argc) return cli_usage_error(name, "unexpected argument '%s'", argv[optind]);
    if (!truth_path) return cli_usage_error(name, "no ground truth (--truth GT)");
    if (n_pred == 0) return cli_usage_error(name, "no prediction (--pred PRED or --runs LIST)");
    if (n_train > 1 && n_train != n_pred)
        return cli_usage_error(name, "%d training rasters for %d runs: give one, or one per run",
                               n_train, n_pred);
    if (out_path && !fmt_given) {
        if (hsi_path_has_ext(out_path, ".csv")) fmt = HSI_REPORT_CSV;
        else if (hsi_path_has_ext(out_path, ".json")) fmt = HSI_REPORT_JSON;
        else if (hsi_path_has_ext(out_path, ".md")) fmt = HSI_REPORT_MARKDOWN;
    }
    /* The outputs: the report (-o or standard output), --csv, --json; a
     * table asked for on standard output takes the text's place there. */
    const char *out_paths[3] = {out_path ? out_path : "-", csv_path, json_path};
    hsi_report_format out_fmts[3] = {fmt, HSI_REPORT_CSV, HSI_REPORT_JSON};
    if (!out_path && (cli_is_stdout(csv_path) || cli_is_stdout(json_path))) out_paths[0] = NULL;
    if (cli_is_stdout(csv_path) && cli_is_stdout(json_path))
        return cli_usage_error(name, "--csv - and --json -: only one table can go to standard output");

    hsi_labels *truth = NULL;
    hsi_metrics *runs[MAX_RUNS] = {NULL};
    int rc = 1;
    if ((st = hsi_labels_read(truth_path, var, &truth))) return cli_fail(name, st);
    if ((scene && (st = hsi_scene_apply_classes(scene, truth))) ||
        (names && (st = hsi_class_names_read(names, truth)))) {
        hsi_labels_free(truth);
        return cli_fail(name, st);
    }
    for (int r = 0; r < n_pred; r++) {
        hsi_labels *pred = NULL, *train = NULL;
        const char *train_path = n_train ? trains[n_train == 1 ? 0 : r] : NULL;
        st = hsi_labels_read(preds[r], NULL, &pred);
        if (!st && train_path) st = hsi_labels_read(train_path, NULL, &train);
        if (!st)
            st = hsi_metrics_compute(truth, truth_path, pred, preds[r], train, train_path, &runs[r]);
        hsi_labels_free(pred);
        hsi_labels_free(train);
        if (st) {
            cli_fail(name, st);
            goto done;
        }
    }

    for (int o = 0; o < 3; o++) {
        if (!out_paths[o]) continue;
        cli_output out;
        if ((st = cli_output_open(&out, out_paths[o]))) {
            cli_fail(name, st);
            goto done;
        }
        st = write_report(out.fp, out_fmts[o], (const hsi_metrics *const *)runs, n_pred, preds,
                          truth_path, n_train ? trains[0] : NULL);
        if ((st = cli_output_close(&out, st))) {
            cli_fail(name, st);
            goto done;
        }
    }
    rc = 0;
done:
    for (int r = 0; r < n_pred; r++) hsi_metrics_free(runs[r]);
    hsi_labels_free(truth);
    return rc;
}

const hsi_command cmd_report = {"report", "accuracy report: confusion matrix, OA, AA, kappa, per class",
                                usage, run};
