/* report.c - the report folder of an experiment (see experiment.h):
 * results.csv / results.json (one row per job), report.md and a
 * self-contained report.html (every picture a PNG data URI, no script or
 * style fetched from anywhere), and figures/ (PNG files) for the Markdown.
 *
 * Figures come from each job's pred.tif scored against its split's test
 * raster by hsi_metrics_compute, exactly as `hsi report --truth TEST --pred
 * PRED`; CSV numbers are printed as that command prints them (%.10g).
 */
#include "experiment/experiment.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/ini.h"
#include "base/version.h"
#include "eval/maps.h"
#include "eval/metrics.h"
#include "experiment/plot.h"
#include "io/io.h"

typedef struct job_info {
    hsi_metrics *m;
    double train_s, predict_s, rss;
    char detail[256];
    int n_epochs;
    double *ep, *loss, *acc, *vloss, *vacc; /* [n_epochs] */
} job_info;

typedef struct report {
    const hsi_experiment *e;
    const char *dir;
    int n_jobs;
    job_info *jobs;
    hsi_metrics_summary **sum; /* [p * n_splits + s] */
    int n_classes;
    hsi_class_info *classes;
} report;

#define PATH_LEN (HSI_EXP_PATH_MAX + 256)

/* ---------------------------------------------------------------- reading */

static hsi_status result_key(void *ctx, const char *k, const char *v, int line)
{
    job_info *j = ctx;
    (void)line;
    if (!strcmp(k, "train_seconds")) j->train_s = atof(v);
    else if (!strcmp(k, "predict_seconds")) j->predict_s = atof(v);
    else if (!strcmp(k, "peak_rss_mib")) j->rss = atof(v);
    else if (!strcmp(k, "detail")) snprintf(j->detail, sizeof j->detail, "%s", v);
    return HSI_OK;
}

static double field(const char *s)
{
    return *s && strncmp(s, "nan", 3) && strncmp(s, "-nan", 4) ? atof(s) : NAN;
}

static void read_epochs(const char *path, job_info *j)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof line, fp)) {
        if (!strncmp(line, "epoch", 5)) continue;
        char *f[8] = {0};
        int n = 0;
        for (char *t = line; n < 8 && t; n++) {
            f[n] = t;
            t = strchr(t, ',');
            if (t) *t++ = '\0';
        }
        if (n < 5) continue;
        if (j->n_epochs == cap) {
            cap = cap ? 2 * cap : 64;
            j->ep = realloc(j->ep, cap * sizeof *j->ep);
            j->loss = realloc(j->loss, cap * sizeof *j->loss);
            j->acc = realloc(j->acc, cap * sizeof *j->acc);
            j->vloss = realloc(j->vloss, cap * sizeof *j->vloss);
            j->vacc = realloc(j->vacc, cap * sizeof *j->vacc);
            if (!j->ep || !j->loss || !j->acc || !j->vloss || !j->vacc) break;
        }
        int i = j->n_epochs++;
        j->ep[i] = field(f[0]), j->loss[i] = field(f[1]), j->acc[i] = field(f[2]);
        j->vloss[i] = field(f[3]), j->vacc[i] = field(f[4]);
    }
    fclose(fp);
}

static hsi_status load_jobs(report *r)
{
    const hsi_experiment *e = r->e;
    r->n_jobs = hsi_experiment_jobs(e);
    r->jobs = calloc((size_t)r->n_jobs, sizeof *r->jobs);
    r->sum = calloc((size_t)(e->n_pipelines * e->n_splits), sizeof *r->sum);
    if (!r->jobs || !r->sum) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    char path[PATH_LEN], test[PATH_LEN];
    hsi_status st = HSI_OK;
    for (int job = 0; !st && job < r->n_jobs; job++) {
        job_info *j = &r->jobs[job];
        int p, s, k;
        hsi_experiment_job(e, job, &p, &s, &k);
        hsi_experiment_job_path(e, r->dir, job, "result.ini", path, sizeof path);
        hsi_ini_handler h = {NULL, result_key, j};
        if ((st = hsi_ini_walk_file(path, 1 << 16, &h))) break;
        hsi_experiment_job_path(e, r->dir, job, "epochs.csv", path, sizeof path);
        read_epochs(path, j);
        hsi_experiment_split_path(e, r->dir, s, k, "test", test, sizeof test);
        hsi_experiment_job_path(e, r->dir, job, "pred.tif", path, sizeof path);
        hsi_labels *truth = NULL, *pred = NULL;
        st = hsi_labels_read(test, NULL, &truth);
        if (!st) st = hsi_labels_read(path, NULL, &pred);
        if (!st) st = hsi_metrics_compute(truth, test, pred, path, NULL, NULL, &j->m);
        hsi_labels_free(truth);
        hsi_labels_free(pred);
    }
    if (st) return st;
    r->n_classes = r->jobs[0].m->n_classes;
    r->classes = r->jobs[0].m->classes;
    for (int p = 0; !st && p < e->n_pipelines; p++)
        for (int s = 0; !st && s < e->n_splits; s++) {
            const hsi_metrics *runs[HSI_EXP_MAX_SEEDS];
            for (int k = 0; k < e->n_seeds; k++)
                runs[k] = r->jobs[(p * e->n_splits + s) * e->n_seeds + k].m;
            st = hsi_metrics_summarise(runs, e->n_seeds, &r->sum[p * e->n_splits + s]);
        }
    return st;
}

static void free_report(report *r)
{
    for (int i = 0; r->jobs && i < r->n_jobs; i++) {
        job_info *j = &r->jobs[i];
        hsi_metrics_free(j->m);
        free(j->ep), free(j->loss), free(j->acc), free(j->vloss), free(j->vacc);
    }
    for (int i = 0; r->sum && i < r->e->n_pipelines * r->e->n_splits; i++)
        hsi_metrics_summary_free(r->sum[i]);
    free(r->jobs);
    free(r->sum);
}

static void mean_std(const double *v, int n, double *mean, double *std)
{
    double m = 0, q = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m /= n;
    for (int i = 0; i < n; i++) q += (v[i] - m) * (v[i] - m);
    *mean = m;
    *std = n > 1 ? sqrt(q / (n - 1)) : 0;
}

static void job_times(const report *r, int p, int s, double *tm, double *ts, double *pm,
                      double *ps)
{
    double tr[HSI_EXP_MAX_SEEDS], pr[HSI_EXP_MAX_SEEDS];
    int n = r->e->n_seeds;
    for (int k = 0; k < n; k++) {
        const job_info *j = &r->jobs[(p * r->e->n_splits + s) * n + k];
        tr[k] = j->train_s, pr[k] = j->predict_s;
    }
    mean_std(tr, n, tm, ts);
    mean_std(pr, n, pm, ps);
}

/* ---------------------------------------------------------------- CSV, JSON */

static void csv_num(FILE *fp, double v)
{
    if (!isnan(v)) fprintf(fp, "%.10g", v);
}

static void write_csv(const report *r, FILE *fp)
{
    const hsi_experiment *e = r->e;
    fputs("pipeline,split,seed,oa,aa,kappa,test_pixels,train_seconds,predict_seconds,peak_rss_mib",
          fp);
    for (int c = 1; c <= r->n_classes; c++) fprintf(fp, ",pa_%d", c);
    fputc('\n', fp);
    for (int job = 0; job < r->n_jobs; job++) {
        int p, s, k;
        hsi_experiment_job(e, job, &p, &s, &k);
        const job_info *j = &r->jobs[job];
        fprintf(fp, "%s,%s,%llu,", e->pipelines[p].name, e->splits[s].name,
                (unsigned long long)e->seeds[k]);
        csv_num(fp, j->m->oa), fputc(',', fp);
        csv_num(fp, j->m->aa), fputc(',', fp);
        csv_num(fp, j->m->kappa);
        fprintf(fp, ",%llu,%.3f,%.3f,%.1f", (unsigned long long)j->m->total, j->train_s,
                j->predict_s, j->rss);
        for (int c = 1; c <= r->n_classes; c++) fputc(',', fp), csv_num(fp, j->m->producer[c]);
        fputc('\n', fp);
    }
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c < 0x20) fprintf(fp, "\\u%04x", c);
        else fputc(c, fp);
    }
    fputc('"', fp);
}

static void json_num(FILE *fp, double v)
{
    if (isnan(v)) fputs("null", fp);
    else fprintf(fp, "%.17g", v);
}

static void json_stat(FILE *fp, const char *name, hsi_stat s)
{
    fprintf(fp, "\"%s\": {\"mean\": ", name);
    json_num(fp, s.n ? s.mean : NAN);
    fputs(", \"std\": ", fp);
    json_num(fp, s.n ? s.std : NAN);
    fprintf(fp, ", \"runs\": %d}", s.n);
}

static void write_json(const report *r, FILE *fp)
{
    const hsi_experiment *e = r->e;
    fputs("{\"config\": ", fp);
    json_str(fp, e->path);
    fputs(",\n \"classes\": [", fp);
    for (int c = 1; c <= r->n_classes; c++) {
        fprintf(fp, "%s{\"class\": %d, \"name\": ", c > 1 ? ", " : "", c);
        json_str(fp, r->classes[c].name);
        fputc('}', fp);
    }
    fputs("],\n \"jobs\": [", fp);
    for (int job = 0; job < r->n_jobs; job++) {
        int p, s, k;
        hsi_experiment_job(e, job, &p, &s, &k);
        const job_info *j = &r->jobs[job];
        fprintf(fp, "%s\n  {\"pipeline\": ", job ? "," : "");
        json_str(fp, e->pipelines[p].name);
        fputs(", \"split\": ", fp);
        json_str(fp, e->splits[s].name);
        fprintf(fp, ", \"seed\": %llu, \"oa\": ", (unsigned long long)e->seeds[k]);
        json_num(fp, j->m->oa);
        fputs(", \"aa\": ", fp);
        json_num(fp, j->m->aa);
        fputs(", \"kappa\": ", fp);
        json_num(fp, j->m->kappa);
        fprintf(fp, ", \"test_pixels\": %llu, \"train_seconds\": %.3f, \"predict_seconds\": %.3f, "
                    "\"peak_rss_mib\": %.1f, \"detail\": ",
                (unsigned long long)j->m->total, j->train_s, j->predict_s, j->rss);
        json_str(fp, j->detail);
        fputs(", \"producer_accuracy\": [", fp);
        for (int c = 1; c <= r->n_classes; c++) {
            if (c > 1) fputs(", ", fp);
            json_num(fp, j->m->producer[c]);
        }
        fputs("]}", fp);
    }
    fputs("],\n \"summary\": [", fp);
    for (int p = 0; p < e->n_pipelines; p++)
        for (int s = 0; s < e->n_splits; s++) {
            const hsi_metrics_summary *m = r->sum[p * e->n_splits + s];
            fprintf(fp, "%s\n  {\"pipeline\": ", p || s ? "," : "");
            json_str(fp, e->pipelines[p].name);
            fputs(", \"split\": ", fp);
            json_str(fp, e->splits[s].name);
            fputs(", ", fp);
            json_stat(fp, "oa", m->oa);
            fputs(", ", fp);
            json_stat(fp, "aa", m->aa);
            fputs(", ", fp);
            json_stat(fp, "kappa", m->kappa);
            fputc('}', fp);
        }
    fputs("]}\n", fp);
}

/* ---------------------------------------------------------------- pictures */

typedef struct figure {
    char name[128]; /* file name under figures/ */
    char caption[256];
    plot_png png;
} figure;

typedef struct figures {
    figure *f;
    int n, cap;
} figures;

static figure *add_figure(figures *fs, const char *name, const char *caption)
{
    if (fs->n == fs->cap) {
        int cap = fs->cap ? 2 * fs->cap : 32;
        figure *g = realloc(fs->f, (size_t)cap * sizeof *g);
        if (!g) return NULL;
        fs->f = g;
        fs->cap = cap;
    }
    figure *f = &fs->f[fs->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->caption, sizeof f->caption, "%s", caption);
    return f;
}

static const figure *find_figure(const figures *fs, const char *name)
{
    for (int i = 0; i < fs->n; i++)
        if (!strcmp(fs->f[i].name, name)) return &fs->f[i];
    return NULL;
}

static hsi_status rgb_figure(figures *fs, const char *name, const char *caption,
                             hsi_rgb_image *img, int scale)
{
    hsi_rgb_image *big = NULL;
    hsi_status st = scale > 1 ? hsi_rgb_scale(img, scale, &big) : HSI_OK;
    figure *f = st ? NULL : add_figure(fs, name, caption);
    if (!st && !f) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st) st = plot_rgb_png(big ? big : img, &f->png);
    hsi_rgb_image_free(big);
    hsi_rgb_image_free(img);
    return st;
}

/* Summed confusion matrix of a (pipeline, split) over its seeds. */
static hsi_status summed_metrics(const report *r, int p, int s, hsi_metrics **out)
{
    int k = r->n_classes;
    hsi_status st = hsi_metrics_new(k, r->classes, out);
    for (int i = 0; !st && i < r->e->n_seeds; i++) {
        const hsi_metrics *m = r->jobs[(p * r->e->n_splits + s) * r->e->n_seeds + i].m;
        for (int t = 1; !st && t <= k; t++)
            for (int q = 0; !st && q <= k; q++) {
                uint64_t c = m->confusion[(size_t)(t - 1) * (k + 1) + q];
                if (c) st = hsi_metrics_add(*out, t, q, c);
            }
    }
    if (!st) st = hsi_metrics_finish(*out);
    return st;
}

static int scale_for(size_t rows, size_t cols)
{
    size_t m = rows > cols ? rows : cols;
    int s = (int)(300 / (m ? m : 1));
    return s < 1 ? 1 : s > 8 ? 8 : s;
}

static hsi_status make_figures(const report *r, figures *fs)
{
    const hsi_experiment *e = r->e;
    char name[128], cap[256], path[PATH_LEN], scene[PATH_LEN], truth_path[PATH_LEN];
    hsi_status st = HSI_OK;
    int P = e->n_pipelines, S = e->n_splits;
    const char *groups[HSI_EXP_MAX_ITEMS], *series[HSI_EXP_MAX_ITEMS];
    for (int s = 0; s < S; s++) groups[s] = e->splits[s].name;
    for (int p = 0; p < P; p++) series[p] = e->pipelines[p].name;
    double v[HSI_EXP_MAX_ITEMS * HSI_EXP_MAX_ITEMS], err[HSI_EXP_MAX_ITEMS * HSI_EXP_MAX_ITEMS];
    /* Overall accuracy and training time, mean +- std per pipeline and split. */
    for (int s = 0; s < S; s++)
        for (int p = 0; p < P; p++) {
            const hsi_metrics_summary *m = r->sum[p * S + s];
            v[s * P + p] = 100 * m->oa.mean, err[s * P + p] = 100 * m->oa.std;
        }
    figure *f = add_figure(fs, "oa.png", "Overall accuracy, mean and standard deviation over seeds");
    if (!f) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    if ((st = plot_bars("Overall accuracy on the test pixels", "OA (%)", groups, S, series, P, v,
                        err, 100, &f->png)))
        return st;
    for (int s = 0; s < S; s++)
        for (int p = 0; p < P; p++) {
            double tm, ts, pm, ps;
            job_times(r, p, s, &tm, &ts, &pm, &ps);
            v[s * P + p] = tm + pm, err[s * P + p] = sqrt(ts * ts + ps * ps);
        }
    if (!(f = add_figure(fs, "times.png", "Run time per job (training and prediction)")))
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    if ((st = plot_bars("Run time per job: training + prediction", "seconds", groups, S, series,
                        P, v, err, 0, &f->png)))
        return st;
    /* Confusion matrices, summed over seeds. */
    for (int p = 0; !st && p < P; p++)
        for (int s = 0; !st && s < S; s++) {
            hsi_metrics *m = NULL;
            snprintf(name, sizeof name, "confusion_%s_%s.png", e->pipelines[p].name,
                     e->splits[s].name);
            snprintf(cap, sizeof cap, "%s on %s (all seeds)", e->pipelines[p].name,
                     e->splits[s].name);
            st = summed_metrics(r, p, s, &m);
            if (!st && !(f = add_figure(fs, name, cap))) st = hsi_error(HSI_ERR_NOMEM, "no memory");
            if (!st) st = plot_confusion(cap, m, &f->png);
            hsi_metrics_free(m);
        }
    /* Training curves of the CNN jobs, every seed (validation dashed). */
    for (int p = 0; !st && p < P; p++) {
        if (e->pipelines[p].classifier != HSI_EXP_CNN) continue;
        for (int s = 0; !st && s < S; s++) {
            int n = e->n_seeds > 4 ? 4 : e->n_seeds;
            const char *names[8];
            char labels[8][64];
            const double *xs[8], *ys[8];
            int ns[8], dashed[8];
            for (int which = 0; !st && which < 2; which++) {
                for (int k = 0; k < n; k++) {
                    const job_info *j = &r->jobs[(p * S + s) * e->n_seeds + k];
                    for (int h = 0; h < 2; h++) {
                        int i = 2 * k + h;
                        snprintf(labels[i], sizeof labels[i], "seed %llu %s",
                                 (unsigned long long)e->seeds[k], h ? "validation" : "training");
                        names[i] = labels[i];
                        xs[i] = j->ep;
                        ys[i] = which == 0 ? (h ? j->vloss : j->loss) : (h ? j->vacc : j->acc);
                        ns[i] = j->n_epochs;
                        dashed[i] = h;
                    }
                }
                snprintf(name, sizeof name, "curve_%s_%s_%s.png", which ? "accuracy" : "loss",
                         e->pipelines[p].name, e->splits[s].name);
                snprintf(cap, sizeof cap, "%s on %s: %s per epoch", e->pipelines[p].name,
                         e->splits[s].name, which ? "accuracy" : "loss");
                if (!(f = add_figure(fs, name, cap))) st = hsi_error(HSI_ERR_NOMEM, "no memory");
                if (!st)
                    st = plot_lines(cap, "epoch", which ? "accuracy" : "loss", names, 2 * n, xs,
                                    ys, ns, dashed, &f->png);
            }
        }
    }
    /* The scene, its ground truth and legend; each pipeline's class and
     * correct/incorrect maps (first seed) per split. */
    hsi_experiment_scene_paths(e, r->dir, scene, truth_path, sizeof scene);
    hsi_labels *truth = NULL;
    hsi_cube *cube = NULL;
    hsi_read_options ro = {.var = *e->var ? e->var : NULL, .bands = *e->bands ? e->bands : NULL};
    if (!st) st = hsi_cube_read(scene, &ro, &cube);
    if (!st) st = hsi_labels_read(truth_path, *e->truth_var ? e->truth_var : NULL, &truth);
    if (!st) st = hsi_labels_set_classes(truth, r->classes, r->n_classes);
    int scale = truth ? scale_for(truth->rows, truth->cols) : 1;
    if (!st) {
        hsi_false_colour_options fo;
        hsi_false_colour_options_init(&fo);
        hsi_rgb_image *img = NULL;
        if (!cube->wavelength) fo.band[0] = 0, fo.band[1] = (long)cube->bands / 2,
                               fo.band[2] = (long)cube->bands - 1;
        st = hsi_map_false_colour(cube, scene, &fo, &img, NULL);
        if (!st) st = rgb_figure(fs, "scene.png", "The scene in false colour", img, scale);
    }
    hsi_cube_free(cube);
    if (!st) {
        hsi_rgb_image *img = NULL;
        st = hsi_map_class(truth, truth_path, &img);
        if (!st) st = rgb_figure(fs, "truth.png", "Ground truth", img, scale);
    }
    if (!st) {
        size_t *counts = calloc((size_t)truth->n_classes + 1, sizeof *counts);
        hsi_rgb_image *img = NULL;
        if (!counts) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        if (!st) hsi_labels_histogram(truth, counts);
        if (!st) st = hsi_map_legend_image(truth, counts, 0, &img);
        if (!st) st = rgb_figure(fs, "legend.png", "Classes (labelled pixels)", img, 1);
        free(counts);
    }
    for (int s = 0; !st && s < S; s++)
        for (int p = 0; !st && p < P; p++) {
            int job = (p * S + s) * e->n_seeds;
            hsi_labels *pred = NULL, *test = NULL, *train = NULL;
            hsi_rgb_image *img = NULL;
            char tp[PATH_LEN], trp[PATH_LEN];
            hsi_experiment_job_path(e, r->dir, job, "pred.tif", path, sizeof path);
            hsi_experiment_split_path(e, r->dir, s, 0, "test", tp, sizeof tp);
            hsi_experiment_split_path(e, r->dir, s, 0, "train", trp, sizeof trp);
            st = hsi_labels_read(path, NULL, &pred);
            if (!st) st = hsi_labels_read(tp, NULL, &test);
            if (!st) st = hsi_labels_read(trp, NULL, &train);
            if (!st) st = hsi_labels_set_classes(pred, r->classes, r->n_classes);
            if (!st) st = hsi_map_class(pred, path, &img);
            snprintf(name, sizeof name, "class_%s_%s.png", e->pipelines[p].name, e->splits[s].name);
            snprintf(cap, sizeof cap, "%s, %s split, seed %llu: class map%s", e->pipelines[p].name,
                     e->splits[s].name, (unsigned long long)e->seeds[0],
                     e->pipelines[p].predict_labelled ? " (labelled pixels only)" : "");
            if (!st) st = rgb_figure(fs, name, cap, img, scale);
            img = NULL;
            if (!st) st = hsi_map_correct(test, pred, path, train, trp, 1, &img);
            snprintf(name, sizeof name, "correct_%s_%s.png", e->pipelines[p].name,
                     e->splits[s].name);
            snprintf(cap, sizeof cap,
                     "%s, %s split, seed %llu: test pixels right (blue) and wrong (red), "
                     "training pixels white",
                     e->pipelines[p].name, e->splits[s].name, (unsigned long long)e->seeds[0]);
            if (!st) st = rgb_figure(fs, name, cap, img, scale);
            hsi_labels_free(pred), hsi_labels_free(test), hsi_labels_free(train);
        }
    hsi_labels_free(truth);
    return st;
}

/* ---------------------------------------------------------------- Markdown, HTML */

static void html_esc(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", fp);
        else if (*s == '>') fputs("&gt;", fp);
        else if (*s == '&') fputs("&amp;", fp);
        else if (*s == '"') fputs("&quot;", fp);
        else fputc(*s, fp);
    }
}

static void base64(FILE *fp, const unsigned char *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        fputc(a[v >> 18 & 63], fp);
        fputc(a[v >> 12 & 63], fp);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', fp);
        fputc(i + 2 < n ? a[v & 63] : '=', fp);
    }
}

static void html_img(FILE *fp, const figures *fs, const char *name)
{
    const figure *f = find_figure(fs, name);
    if (!f) return;
    fputs("<figure><img alt=\"", fp);
    html_esc(fp, f->caption);
    fputs("\" src=\"data:image/png;base64,", fp);
    base64(fp, f->png.data, f->png.len);
    fputs("\"><figcaption>", fp);
    html_esc(fp, f->caption);
    fputs("</figcaption></figure>\n", fp);
}

/* The best mean of a figure per split (column): 0 oa, 1 aa, 2 kappa. */
static double best_of(const report *r, int s, int which)
{
    double b = -INFINITY;
    for (int p = 0; p < r->e->n_pipelines; p++) {
        const hsi_metrics_summary *m = r->sum[p * r->e->n_splits + s];
        hsi_stat st = which == 0 ? m->oa : which == 1 ? m->aa : m->kappa;
        if (st.n && st.mean > b) b = st.mean;
    }
    return b;
}

static void machine(char *buf, size_t len)
{
    struct utsname u;
    char model[256] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(model, sizeof model, "%s", c + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    if (fp) fclose(fp);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == 0)
        snprintf(buf, len, "%s, %ld cores, %s %s %s", model, cores, u.sysname, u.release,
                 u.machine);
    else
        snprintf(buf, len, "%s, %ld cores", model, cores);
}

/* One summary cell "mean +- std" (percent or kappa), bold when best. */
static void cell(FILE *fp, int html, hsi_stat s, int pct, double best)
{
    double k = pct ? 100 : 1;
    int is_best = s.n && fabs(s.mean - best) < 1e-12;
    if (!s.n) {
        fputs(html ? "<td>-</td>" : " - |", fp);
        return;
    }
    if (html) fprintf(fp, "<td%s>", is_best ? " class=\"best\"" : "");
    else fputs(is_best ? " **" : " ", fp);
    fprintf(fp, pct ? "%.2f %s %.2f" : "%.4f %s %.4f", k * s.mean, html ? "&plusmn;" : "+-",
            k * s.std);
    if (html) fputs("</td>", fp);
    else fputs(is_best ? "** |" : " |", fp);
}

static void summary_table(const report *r, FILE *fp, int html)
{
    const hsi_experiment *e = r->e;
    static const char *fig[3] = {"OA %", "AA %", "kappa"};
    if (html) {
        fputs("<table id=\"results\"><thead><tr><th rowspan=\"2\">pipeline</th>", fp);
        for (int s = 0; s < e->n_splits; s++) {
            fputs("<th colspan=\"3\">", fp);
            html_esc(fp, e->splits[s].name);
            fputs(" split</th>", fp);
        }
        fputs("</tr><tr>", fp);
        for (int s = 0; s < e->n_splits; s++)
            for (int w = 0; w < 3; w++) fprintf(fp, "<th>%s</th>", fig[w]);
        fputs("</tr></thead><tbody>\n", fp);
    } else {
        fputs("| pipeline |", fp);
        for (int s = 0; s < e->n_splits; s++)
            for (int w = 0; w < 3; w++) fprintf(fp, " %s %s |", e->splits[s].name, fig[w]);
        fputs("\n|---|", fp);
        for (int s = 0; s < e->n_splits * 3; s++) fputs("---:|", fp);
        fputc('\n', fp);
    }
    for (int p = 0; p < e->n_pipelines; p++) {
        if (html) {
            fputs("<tr><th>", fp);
            html_esc(fp, e->pipelines[p].name);
            fputs("</th>", fp);
        } else {
            fprintf(fp, "| %s |", e->pipelines[p].name);
        }
        for (int s = 0; s < e->n_splits; s++) {
            const hsi_metrics_summary *m = r->sum[p * e->n_splits + s];
            cell(fp, html, m->oa, 1, best_of(r, s, 0));
            cell(fp, html, m->aa, 1, best_of(r, s, 1));
            cell(fp, html, m->kappa, 0, best_of(r, s, 2));
        }
        fputs(html ? "</tr>\n" : "\n", fp);
    }
    if (html) fputs("</tbody></table>\n", fp);
}

static void class_table(const report *r, FILE *fp, int html, int s)
{
    const hsi_experiment *e = r->e;
    if (html) {
        fputs("<table class=\"classes\"><thead><tr><th>class</th>", fp);
        for (int p = 0; p < e->n_pipelines; p++) {
            fputs("<th>", fp);
            html_esc(fp, e->pipelines[p].name);
            fputs("</th>", fp);
        }
        fputs("</tr></thead><tbody>\n", fp);
    } else {
        fputs("| class |", fp);
        for (int p = 0; p < e->n_pipelines; p++) fprintf(fp, " %s |", e->pipelines[p].name);
        fputs("\n|---|", fp);
        for (int p = 0; p < e->n_pipelines; p++) fputs("---:|", fp);
        fputc('\n', fp);
    }
    for (int c = 1; c <= r->n_classes; c++) {
        double best = -INFINITY;
        for (int p = 0; p < e->n_pipelines; p++) {
            hsi_stat st = r->sum[p * e->n_splits + s]->producer[c];
            if (st.n && st.mean > best) best = st.mean;
        }
        if (html) {
            fprintf(fp, "<tr><th>%d ", c);
            html_esc(fp, r->classes[c].name);
            fputs("</th>", fp);
        } else {
            fprintf(fp, "| %d %s |", c, r->classes[c].name);
        }
        for (int p = 0; p < e->n_pipelines; p++)
            cell(fp, html, r->sum[p * e->n_splits + s]->producer[c], 1, best);
        fputs(html ? "</tr>\n" : "\n", fp);
    }
    if (html) fputs("</tbody></table>\n", fp);
}

static void times_table(const report *r, FILE *fp, int html)
{
    const hsi_experiment *e = r->e;
    fputs(html ? "<table><thead><tr><th>pipeline</th><th>split</th><th>train s</th>"
                 "<th>predict s</th><th>peak memory MiB</th><th>first seed</th></tr></thead><tbody>\n"
               : "| pipeline | split | train s | predict s | peak memory MiB | first seed |\n"
                 "|---|---|---:|---:|---:|---|\n",
          fp);
    for (int p = 0; p < e->n_pipelines; p++)
        for (int s = 0; s < e->n_splits; s++) {
            double tm, ts, pm, ps, rss = 0;
            job_times(r, p, s, &tm, &ts, &pm, &ps);
            const job_info *j0 = &r->jobs[(p * e->n_splits + s) * e->n_seeds];
            for (int k = 0; k < e->n_seeds; k++)
                rss = fmax(rss, r->jobs[(p * e->n_splits + s) * e->n_seeds + k].rss);
            if (html) {
                fputs("<tr><td>", fp);
                html_esc(fp, e->pipelines[p].name);
                fputs("</td><td>", fp);
                html_esc(fp, e->splits[s].name);
                fprintf(fp, "</td><td>%.1f &plusmn; %.1f</td><td>%.1f &plusmn; %.1f</td><td>%.0f</td><td>",
                        tm, ts, pm, ps, rss);
                html_esc(fp, j0->detail);
                fputs("</td></tr>\n", fp);
            } else {
                fprintf(fp, "| %s | %s | %.1f +- %.1f | %.1f +- %.1f | %.0f | %s |\n",
                        e->pipelines[p].name, e->splits[s].name, tm, ts, pm, ps, rss, j0->detail);
            }
        }
    if (html) fputs("</tbody></table>\n", fp);
}

static void seeds_text(const hsi_experiment *e, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < e->n_seeds && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%llu", k ? ", " : "",
                                 (unsigned long long)e->seeds[k]);
}

static void write_md(const report *r, const figures *fs, const char *command, FILE *fp)
{
    const hsi_experiment *e = r->e;
    char seeds[512], mach[512];
    seeds_text(e, seeds, sizeof seeds);
    machine(mach, sizeof mach);
    fprintf(fp, "# Experiment %s\n\n", e->path);
    fprintf(fp, "%d pipelines x %d splits x %d seeds (%s) = %d jobs. Figures are mean +- sample "
                "standard deviation over the seeds, on each split's test pixels; the best per "
                "column is bold.\n\n",
            e->n_pipelines, e->n_splits, e->n_seeds, seeds, r->n_jobs);
    summary_table(r, fp, 0);
    fputs("\n![overall accuracy](figures/oa.png)\n\n## Producer's accuracy per class (%)\n", fp);
    for (int s = 0; s < e->n_splits; s++) {
        fprintf(fp, "\n### %s split\n\n", e->splits[s].name);
        class_table(r, fp, 0, s);
    }
    fputs("\n## Run times\n\nTraining includes the SVM's grid search; profile features are computed "
          "once per scene before the jobs and are not counted. Peak memory is the process's "
          "high-water mark after the job.\n\n", fp);
    times_table(r, fp, 0);
    fputs("\n## Figures\n\n", fp);
    for (int i = 0; i < fs->n; i++) {
        fprintf(fp, "- [%s](figures/%s)", fs->f[i].caption, fs->f[i].name);
        if (fs->f[i].png.svg) fprintf(fp, " ([SVG](figures/%.*s.svg))", (int)strlen(fs->f[i].name) - 4, fs->f[i].name);
        fputc('\n', fp);
    }
    fprintf(fp, "\n## Provenance\n\n- command: `%s`\n- hsi %s (%s)\n- cairo %s\n- machine: %s\n"
                "- per-job files: `jobs/PIPELINE/SPLIT/sSEED/` (pred.tif, model, result.ini); "
                "`hsi report --truth splits/SPLIT_sSEED_test.tif --pred "
                "jobs/PIPELINE/SPLIT/sSEED/pred.tif` prints the same figures\n",
            command, hsi_version(), hsi_build_features(), cairo_version_string(), mach);
    fputs("\n## Configuration\n\n```ini\n", fp);
    fputs(e->text, fp);
    fputs("```\n", fp);
}

static const char css[] =
    "body{font-family:'DejaVu Sans',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;"
    "padding:.25em .6em}td{text-align:right;font-variant-numeric:tabular-nums}"
    "thead th{background:#f2f2f2}td.best{font-weight:bold;background:#e8f1fb}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:.85em;"
    "color:#555;max-width:480px}pre{background:#f6f6f6;padding:.8em;overflow:auto}"
    ".maps img{image-rendering:pixelated}";

static void write_html(const report *r, const figures *fs, const char *command, FILE *fp)
{
    const hsi_experiment *e = r->e;
    char seeds[512], mach[512], name[160];
    seeds_text(e, seeds, sizeof seeds);
    machine(mach, sizeof mach);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hsi experiment ",
          fp);
    html_esc(fp, e->path);
    fprintf(fp, "</title><style>%s</style></head><body>\n<h1>Experiment ", css);
    html_esc(fp, e->path);
    fprintf(fp, "</h1>\n<p>%d pipelines &times; %d splits &times; %d seeds (%s) = %d jobs. "
                "Mean &plusmn; sample standard deviation over the seeds, on each split's test "
                "pixels; the best per column is highlighted.</p>\n",
            e->n_pipelines, e->n_splits, e->n_seeds, seeds, r->n_jobs);
    fputs("<h2>Results</h2>\n", fp);
    summary_table(r, fp, 1);
    html_img(fp, fs, "oa.png");
    fputs("<h2>Maps</h2>\n<div class=\"maps\">\n", fp);
    html_img(fp, fs, "scene.png");
    html_img(fp, fs, "truth.png");
    html_img(fp, fs, "legend.png");
    fputs("</div>\n", fp);
    for (int s = 0; s < e->n_splits; s++) {
        fputs("<h3>", fp);
        html_esc(fp, e->splits[s].name);
        fputs(" split</h3>\n<div class=\"maps\">\n", fp);
        for (int p = 0; p < e->n_pipelines; p++) {
            snprintf(name, sizeof name, "class_%s_%s.png", e->pipelines[p].name, e->splits[s].name);
            html_img(fp, fs, name);
            snprintf(name, sizeof name, "correct_%s_%s.png", e->pipelines[p].name,
                     e->splits[s].name);
            html_img(fp, fs, name);
            fputs("<br>\n", fp);
        }
        fputs("</div>\n", fp);
    }
    fputs("<h2>Producer's accuracy per class (%)</h2>\n", fp);
    for (int s = 0; s < e->n_splits; s++) {
        fputs("<h3>", fp);
        html_esc(fp, e->splits[s].name);
        fputs(" split</h3>\n", fp);
        class_table(r, fp, 1, s);
    }
    fputs("<h2>Confusion matrices</h2>\n", fp);
    for (int p = 0; p < e->n_pipelines; p++)
        for (int s = 0; s < e->n_splits; s++) {
            snprintf(name, sizeof name, "confusion_%s_%s.png", e->pipelines[p].name,
                     e->splits[s].name);
            html_img(fp, fs, name);
        }
    int any_cnn = 0;
    for (int p = 0; p < e->n_pipelines; p++) any_cnn |= e->pipelines[p].classifier == HSI_EXP_CNN;
    if (any_cnn) {
        fputs("<h2>Training curves</h2>\n<p>Per epoch, on the training pixels (solid) and the "
              "held-out validation pixels (dashed).</p>\n",
              fp);
        for (int p = 0; p < e->n_pipelines; p++) {
            if (e->pipelines[p].classifier != HSI_EXP_CNN) continue;
            for (int s = 0; s < e->n_splits; s++)
                for (int w = 0; w < 2; w++) {
                    snprintf(name, sizeof name, "curve_%s_%s_%s.png", w ? "accuracy" : "loss",
                             e->pipelines[p].name, e->splits[s].name);
                    html_img(fp, fs, name);
                }
        }
    }
    fputs("<h2>Run times</h2>\n<p>Training includes the SVM's grid search; profile features "
          "are computed once per scene before the jobs and are not counted. Peak memory is the "
          "process's high-water mark after the job.</p>\n", fp);
    times_table(r, fp, 1);
    html_img(fp, fs, "times.png");
    fputs("<h2>Provenance</h2>\n<ul><li>command: <code>", fp);
    html_esc(fp, command);
    fputs("</code></li><li>hsi ", fp);
    html_esc(fp, hsi_version());
    fputs(" (", fp);
    html_esc(fp, hsi_build_features());
    fprintf(fp, ")</li><li>cairo %s</li><li>machine: ", cairo_version_string());
    html_esc(fp, mach);
    fputs("</li><li>each job's class raster: <code>jobs/PIPELINE/SPLIT/sSEED/pred.tif</code>; "
          "<code>hsi report --truth splits/SPLIT_sSEED_test.tif --pred "
          "jobs/PIPELINE/SPLIT/sSEED/pred.tif</code> prints the same figures</li></ul>\n"
          "<h3>Configuration</h3>\n<pre>",
          fp);
    html_esc(fp, e->text);
    /* A check a browser can run: what it loaded, written into the page
     * (tests/test_experiment_html.sh reads it from the rendered DOM). */
    fputs("</pre>\n<pre id=\"render-check\" hidden></pre>\n<script>\n"
          "window.addEventListener('load', function () {\n"
          "  var im = document.images, w = [];\n"
          "  for (var i = 0; i < im.length; i++) w.push(im[i].complete ? im[i].naturalWidth : 0);\n"
          "  var t = document.getElementById('results');\n"
          "  document.getElementById('render-check').textContent = 'images=' + im.length +\n"
          "    ' widths=' + w.join(',') + ' results_rows=' + (t ? t.tBodies[0].rows.length : -1);\n"
          "});\n</script>\n</body></html>\n",
          fp);
}

/* ---------------------------------------------------------------- entry */

typedef void (*writer_fn)(const report *, const figures *, const char *, FILE *);

static hsi_status write_file(const char *dir, const char *name, const report *r,
                             const figures *fs, const char *command, writer_fn fn)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hsi_atomic_file f;
    hsi_status st = hsi_atomic_open(&f, path);
    if (st) return st;
    fn(r, fs, command, f.fp);
    return hsi_atomic_commit(&f);
}

static void csv_fn(const report *r, const figures *fs, const char *c, FILE *fp)
{
    (void)fs, (void)c;
    write_csv(r, fp);
}

static void json_fn(const report *r, const figures *fs, const char *c, FILE *fp)
{
    (void)fs, (void)c;
    write_json(r, fp);
}

hsi_status hsi_experiment_report(const hsi_experiment *e, const char *dir, const char *command)
{
    report r = {.e = e, .dir = dir};
    figures fs = {0};
    char path[PATH_LEN];
    int done = 0, first = -1;
    hsi_status st0 = hsi_experiment_check_folder(e, dir, 0);
    if (st0) return st0;
    for (int job = 0; job < hsi_experiment_jobs(e); job++) {
        struct stat sb;
        hsi_experiment_job_path(e, dir, job, "result.ini", path, sizeof path);
        if (stat(path, &sb) == 0) done++;
        else if (first < 0) first = job;
    }
    if (first >= 0) {
        hsi_experiment_job_path(e, dir, first, NULL, path, sizeof path);
        return hsi_error(HSI_ERR_DATA, "%s: %d of %d jobs finished (%s is not): run the experiment "
                                       "to finish them",
                         dir, done, hsi_experiment_jobs(e), path);
    }
    hsi_status st = load_jobs(&r);
    if (!st) st = make_figures(&r, &fs);
    snprintf(path, sizeof path, "%s/figures", dir);
    if (!st && mkdir(path, 0777) && errno != EEXIST)
        st = hsi_error(HSI_ERR_IO, "%s: cannot create the folder", path);
    /* figures/NAME.png, and NAME.svg for the charts. */
    for (int i = 0; !st && i < 2 * fs.n; i++) {
        const plot_png *pp = &fs.f[i / 2].png;
        int svg = i % 2;
        if (svg && !pp->svg) continue;
        snprintf(path, sizeof path, "%s/figures/%s", dir, fs.f[i / 2].name);
        if (svg) memcpy(path + strlen(path) - 3, "svg", 3);
        hsi_atomic_file f;
        if (!(st = hsi_atomic_open(&f, path))) {
            fwrite(svg ? pp->svg : pp->data, 1, svg ? pp->svg_len : pp->len, f.fp);
            st = hsi_atomic_commit(&f);
        }
    }
    if (!st) st = write_file(dir, "results.csv", &r, &fs, command, csv_fn);
    if (!st) st = write_file(dir, "results.json", &r, &fs, command, json_fn);
    if (!st) st = write_file(dir, "report.md", &r, &fs, command, write_md);
    if (!st) st = write_file(dir, "report.html", &r, &fs, command, write_html);
    for (int i = 0; i < fs.n; i++) plot_png_free(&fs.f[i].png);
    free(fs.f);
    free_report(&r);
    return st;
}
