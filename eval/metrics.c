/* metrics.c - confusion matrix, OA/AA/kappa, per-class accuracies, reports.
 * Formulas and conventions are in metrics.h. */
#include "eval/metrics.h"

#include "base/guard.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Two-sided 95% normal quantile. */
#define Z95 1.959963984540054

static size_t cm_index(const hsi_metrics *m, int truth, int pred)
{
    return (size_t)(truth - 1) * (size_t)(m->n_classes + 1) + (size_t)pred;
}

static hsi_status copy_classes(int n_classes, const hsi_class_info *src, hsi_class_info **out)
{
    hsi_class_info *c = calloc((size_t)n_classes + 1, sizeof *c);
    if (!c) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (int k = 0; k <= n_classes; k++) {
        if (src) {
            c[k] = src[k];
            c[k].name[HSI_CLASS_NAME_MAX - 1] = '\0';
        } else {
            snprintf(c[k].name, sizeof c[k].name, k ? "Class %d" : "Unlabelled", k);
            hsi_default_class_colour(k, c[k].rgb);
        }
    }
    *out = c;
    return HSI_OK;
}

hsi_status hsi_metrics_new(int n_classes, const hsi_class_info *classes, hsi_metrics **out)
{
    *out = NULL;
    if (n_classes < 1 || n_classes > 65535)
        return hsi_error(HSI_ERR_ARG, "class count %d is not in 1..65535", n_classes);
    hsi_metrics *m = calloc(1, sizeof *m);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    m->n_classes = n_classes;
    size_t k1 = (size_t)n_classes + 1;
    m->confusion = calloc((size_t)n_classes * k1, sizeof *m->confusion);
    m->truth_count = calloc(k1, sizeof *m->truth_count);
    m->pred_count = calloc(k1, sizeof *m->pred_count);
    m->producer = calloc(k1, sizeof *m->producer);
    m->user = calloc(k1, sizeof *m->user);
    m->f1 = calloc(k1, sizeof *m->f1);
    if (!m->confusion || !m->truth_count || !m->pred_count || !m->producer || !m->user ||
        !m->f1) {
        hsi_metrics_free(m);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    hsi_status st = copy_classes(n_classes, classes, &m->classes);
    if (st) {
        hsi_metrics_free(m);
        return st;
    }
    *out = m;
    return HSI_OK;
}

void hsi_metrics_free(hsi_metrics *m)
{
    if (!m) return;
    free(m->classes);
    free(m->confusion);
    free(m->truth_count);
    free(m->pred_count);
    free(m->producer);
    free(m->user);
    free(m->f1);
    free(m);
}

hsi_status hsi_metrics_add(hsi_metrics *m, int truth, int pred, uint64_t count)
{
    if (truth < 1 || truth > m->n_classes)
        return hsi_error(HSI_ERR_ARG, "truth class %d is not in 1..%d", truth, m->n_classes);
    if (pred < 0 || pred > m->n_classes)
        return hsi_error(HSI_ERR_ARG, "predicted class %d is not in 0..%d", pred, m->n_classes);
    m->confusion[cm_index(m, truth, pred)] += count;
    return HSI_OK;
}

hsi_status hsi_metrics_finish(hsi_metrics *m)
{
    int n = m->n_classes;
    memset(m->truth_count, 0, ((size_t)n + 1) * sizeof *m->truth_count);
    memset(m->pred_count, 0, ((size_t)n + 1) * sizeof *m->pred_count);
    m->total = m->correct = 0;
    for (int t = 1; t <= n; t++)
        for (int p = 0; p <= n; p++) {
            uint64_t c = m->confusion[cm_index(m, t, p)];
            m->truth_count[t] += c;
            m->pred_count[p] += c;
            m->total += c;
            if (p == t) m->correct += c;
        }
    if (m->total == 0) return hsi_error(HSI_ERR_DATA, "no pixels were scored");

    double total = (double)m->total;
    m->oa = (double)m->correct / total;
    double aa_sum = 0;
    m->aa_classes = 0;
    m->producer[0] = m->user[0] = m->f1[0] = NAN;
    for (int k = 1; k <= n; k++) {
        double nkk = (double)m->confusion[cm_index(m, k, k)];
        m->producer[k] = m->truth_count[k] ? nkk / (double)m->truth_count[k] : NAN;
        m->user[k] = m->pred_count[k] ? nkk / (double)m->pred_count[k] : NAN;
        /* F1 = 2TP / (2TP + FP + FN) = 2TP / (n_k+ + n_+k): the harmonic
         * mean of PA and UA where both exist, 0 for a class with truth pixels
         * that is never predicted (or predicted but absent), undefined only
         * when the class appears on neither side. */
        uint64_t both = m->truth_count[k] + m->pred_count[k];
        m->f1[k] = both ? 2 * nkk / (double)both : NAN;
        if (m->truth_count[k]) {
            aa_sum += m->producer[k];
            m->aa_classes++;
        }
    }
    m->aa = aa_sum / m->aa_classes;

    /* Kappa and its variance (Congalton & Green 2009; see metrics.h). Column 0
     * (unclassified) has no matching row, so it adds to n and to the row sums
     * but to no diagonal or chance-agreement term. */
    double t1 = m->oa, t2 = 0, t3 = 0, t4 = 0;
    for (int k = 1; k <= n; k++) {
        double rk = (double)m->truth_count[k], ck = (double)m->pred_count[k];
        double nkk = (double)m->confusion[cm_index(m, k, k)];
        t2 += rk * ck;
        t3 += nkk * (rk + ck);
    }
    t2 /= total * total;
    t3 /= total * total;
    for (int i = 1; i <= n; i++)     /* truth i */
        for (int j = 0; j <= n; j++) { /* prediction j */
            uint64_t c = m->confusion[cm_index(m, i, j)];
            if (!c) continue;
            /* Congalton's cell (map i, reference j) weighs n_ij by
             * (n_j+ + n_+i)^2: the map total of its reference class plus the
             * reference total of its map class. Here the cell is (truth i,
             * prediction j): predicted total of class i plus truth total of
             * class j (0 for the unclassified column). */
            double rj = j ? (double)m->truth_count[j] : 0.0;
            double ci = (double)m->pred_count[i];
            t4 += (double)c * (rj + ci) * (rj + ci);
        }
    t4 /= total * total * total;
    if (t2 >= 1) {
        /* Chance agreement is total (one class only on both sides): kappa is
         * undefined. */
        m->kappa = m->kappa_var = m->kappa_lo = m->kappa_hi = NAN;
    } else {
        double u = 1 - t2;
        m->kappa = (t1 - t2) / u;
        double v = t1 * (1 - t1) / (u * u) + 2 * (1 - t1) * (2 * t1 * t2 - t3) / (u * u * u) +
                   (1 - t1) * (1 - t1) * (t4 - 4 * t2 * t2) / (u * u * u * u);
        v /= total;
        if (v < 0) v = 0; /* rounding when the matrix is diagonal */
        m->kappa_var = v;
        m->kappa_lo = m->kappa - Z95 * sqrt(v);
        m->kappa_hi = m->kappa + Z95 * sqrt(v);
    }
    return HSI_OK;
}

/* First row/column of `value` in a raster (for error messages). */
static void first_position(const uint16_t *data, size_t rows, size_t cols, uint16_t value,
                           size_t *row, size_t *col)
{
    for (size_t i = 0; i < rows * cols; i++)
        if (data[i] == value) {
            *row = i / cols;
            *col = i % cols;
            return;
        }
    *row = *col = 0;
}

hsi_status hsi_metrics_compute(const hsi_labels *truth, const char *truth_name,
                               const hsi_labels *pred, const char *pred_name,
                               const hsi_labels *train, const char *train_name,
                               hsi_metrics **out)
{
    *out = NULL;
    if (!truth_name) truth_name = "truth";
    if (!pred_name) pred_name = "prediction";
    if (!train_name) train_name = "training raster";
    if (pred->rows != truth->rows || pred->cols != truth->cols)
        return hsi_error(HSI_ERR_SIZE, "%s: size %zu x %zu differs from the truth %s (%zu x %zu)",
                         pred_name, pred->rows, pred->cols, truth_name, truth->rows,
                         truth->cols);
    if (train && (train->rows != truth->rows || train->cols != truth->cols))
        return hsi_error(HSI_ERR_SIZE, "%s: size %zu x %zu differs from the truth %s (%zu x %zu)",
                         train_name, train->rows, train->cols, truth_name, truth->rows,
                         truth->cols);
    int n = truth->n_classes;
    size_t npx = truth->rows * truth->cols;
    int tmax = hsi_labels_max(truth);
    if (tmax == 0)
        return hsi_error(HSI_ERR_DATA, "%s: no labelled pixels (every pixel is 0): nothing to score",
                         truth_name);
    if (tmax > n) {
        size_t r, c;
        first_position(truth->data, truth->rows, truth->cols, (uint16_t)tmax, &r, &c);
        return hsi_error(HSI_ERR_DATA,
                         "%s: class %d (row %zu, column %zu) is not in its class table of %d "
                         "classes",
                         truth_name, tmax, r + 1, c + 1, n);
    }
    /* A predicted class beyond the truth's class table anywhere (scored or
     * not) means the two files do not describe the same classes. */
    int pmax = hsi_labels_max(pred);
    if (pmax > n) {
        size_t r, c;
        first_position(pred->data, pred->rows, pred->cols, (uint16_t)pmax, &r, &c);
        return hsi_error(HSI_ERR_DATA,
                         "%s: class %d (row %zu, column %zu) is not in the class table of %s "
                         "(%d classes)",
                         pred_name, pmax, r + 1, c + 1, truth_name, n);
    }
    hsi_metrics *m;
    hsi_status st = hsi_metrics_new(n, truth->classes, &m);
    if (st) return st;
    uint64_t labelled = 0;
    for (size_t i = 0; i < npx; i++) {
        int t = truth->data[i];
        if (!t) continue;
        labelled++;
        if (train && train->data[i]) {
            m->excluded_train++;
            continue;
        }
        m->confusion[cm_index(m, t, pred->data[i])]++;
    }
    if (labelled == 0) {
        hsi_metrics_free(m);
        return hsi_error(HSI_ERR_DATA, "%s: no labelled pixels (every pixel is 0): nothing to score",
                         truth_name);
    }
    if (labelled == m->excluded_train) {
        hsi_metrics_free(m);
        return hsi_error(HSI_ERR_DATA,
                         "%s: all %llu labelled pixels of %s are training pixels: nothing left "
                         "to score",
                         train_name, (unsigned long long)labelled, truth_name);
    }
    if ((st = hsi_metrics_finish(m))) {
        hsi_metrics_free(m);
        return st;
    }
    *out = m;
    return HSI_OK;
}

hsi_status hsi_class_names_read(const char *path, hsi_labels *labels)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    hsi_input_register_fd(fileno(fp), path, NULL); /* report --names N -o N must not replace it */
    char line[512];
    int k = 0, lineno = 0;
    hsi_status st = HSI_OK;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            st = hsi_error(HSI_ERR_FORMAT, "%s:%d: line too long for a class name", path, lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        char *name = line;
        while (*name == ' ' || *name == '\t') name++;
        if (!*name || *name == '#') continue;
        if (strlen(name) >= HSI_CLASS_NAME_MAX) {
            st = hsi_error(HSI_ERR_FORMAT, "%s:%d: class name longer than %d characters", path,
                           lineno, HSI_CLASS_NAME_MAX - 1);
            break;
        }
        if (++k > 65535) {
            st = hsi_error(HSI_ERR_FORMAT, "%s: more than 65535 class names", path);
            break;
        }
        if (k > labels->n_classes && (st = hsi_labels_set_class_count(labels, k))) break;
        snprintf(labels->classes[k].name, HSI_CLASS_NAME_MAX, "%s", name);
    }
    if (!st && ferror(fp)) st = hsi_error(HSI_ERR_IO, "%s: read error", path);
    if (!st && k == 0) st = hsi_error(HSI_ERR_FORMAT, "%s: no class names in the file", path);
    fclose(fp);
    return st;
}

/* ---------------------------------------------------------------- runs */

/* Two-pass mean and sample standard deviation of the defined values. */
static hsi_stat stat_of(const hsi_metrics *const *runs, int n_runs,
                        double (*get)(const hsi_metrics *, int), int k)
{
    hsi_stat s = {0, 0, 0};
    double sum = 0;
    for (int r = 0; r < n_runs; r++) {
        double v = get(runs[r], k);
        if (isnan(v)) continue;
        s.n++;
        sum += v;
    }
    if (s.n == 0) {
        s.mean = s.std = NAN;
        return s;
    }
    s.mean = sum / s.n;
    double ss = 0;
    for (int r = 0; r < n_runs; r++) {
        double v = get(runs[r], k);
        if (!isnan(v)) ss += (v - s.mean) * (v - s.mean);
    }
    s.std = s.n > 1 ? sqrt(ss / (s.n - 1)) : 0;
    return s;
}

static double get_oa(const hsi_metrics *m, int k) { (void)k; return m->oa; }
static double get_aa(const hsi_metrics *m, int k) { (void)k; return m->aa; }
static double get_kappa(const hsi_metrics *m, int k) { (void)k; return m->kappa; }
static double get_pa(const hsi_metrics *m, int k) { return m->producer[k]; }
static double get_ua(const hsi_metrics *m, int k) { return m->user[k]; }
static double get_f1(const hsi_metrics *m, int k) { return m->f1[k]; }

hsi_status hsi_metrics_summarise(const hsi_metrics *const *runs, int n_runs,
                                 hsi_metrics_summary **out)
{
    *out = NULL;
    if (n_runs < 1) return hsi_error(HSI_ERR_ARG, "no runs to summarise");
    int n = runs[0]->n_classes;
    for (int r = 1; r < n_runs; r++)
        if (runs[r]->n_classes != n)
            return hsi_error(HSI_ERR_SIZE, "run %d has %d classes, run 1 has %d", r + 1,
                             runs[r]->n_classes, n);
    hsi_metrics_summary *s = calloc(1, sizeof *s);
    if (!s) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    s->n_runs = n_runs;
    s->n_classes = n;
    s->producer = calloc((size_t)n + 1, sizeof *s->producer);
    s->user = calloc((size_t)n + 1, sizeof *s->user);
    s->f1 = calloc((size_t)n + 1, sizeof *s->f1);
    hsi_status st = (!s->producer || !s->user || !s->f1)
                        ? hsi_error(HSI_ERR_NOMEM, "out of memory")
                        : copy_classes(n, runs[0]->classes, &s->classes);
    if (st) {
        hsi_metrics_summary_free(s);
        return st;
    }
    s->oa = stat_of(runs, n_runs, get_oa, 0);
    s->aa = stat_of(runs, n_runs, get_aa, 0);
    s->kappa = stat_of(runs, n_runs, get_kappa, 0);
    for (int k = 1; k <= n; k++) {
        s->producer[k] = stat_of(runs, n_runs, get_pa, k);
        s->user[k] = stat_of(runs, n_runs, get_ua, k);
        s->f1[k] = stat_of(runs, n_runs, get_f1, k);
    }
    double tot = 0;
    for (int r = 0; r < n_runs; r++) tot += (double)runs[r]->total;
    s->mean_total = tot / n_runs;
    *out = s;
    return HSI_OK;
}

void hsi_metrics_summary_free(hsi_metrics_summary *s)
{
    if (!s) return;
    free(s->classes);
    free(s->producer);
    free(s->user);
    free(s->f1);
    free(s);
}

/* ------------------------------------------------------------- reports */

hsi_status hsi_report_format_parse(const char *name, hsi_report_format *fmt)
{
    if (!strcmp(name, "text") || !strcmp(name, "txt"))
        *fmt = HSI_REPORT_TEXT;
    else if (!strcmp(name, "csv"))
        *fmt = HSI_REPORT_CSV;
    else if (!strcmp(name, "json"))
        *fmt = HSI_REPORT_JSON;
    else if (!strcmp(name, "md") || !strcmp(name, "markdown"))
        *fmt = HSI_REPORT_MARKDOWN;
    else
        return hsi_error(HSI_ERR_ARG, "unknown report format '%s' (text, csv, json, md)", name);
    return HSI_OK;
}

/* "12.34" for a fraction as a percentage with 2 decimals, "-" when undefined. */
static const char *pct(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f", 100.0 * v);
    return buf;
}

static const char *kap(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.4f", v);
    return buf;
}

/* JSON number or null. */
static void json_num(FILE *fp, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", fp);
    else
        fprintf(fp, "%.17g", v);
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(fp, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(fp, "\\u%04x", ch);
        else
            fputc(ch, fp);
    }
    fputc('"', fp);
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void csv_str(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

/* Markdown table cell: escape the pipe. */
static void md_str(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', fp);
        fputc(*s, fp);
    }
}

static void csv_num(FILE *fp, double v)
{
    if (!isnan(v)) fprintf(fp, "%.10g", v);
}

static int name_width(const hsi_class_info *classes, int n, int min)
{
    int w = min;
    for (int k = 1; k <= n; k++) {
        int l = (int)strlen(classes[k].name);
        if (l > w) w = l;
    }
    return w;
}

static int any_unclassified(const hsi_metrics *m) { return m->pred_count[0] != 0; }

static void write_text(const hsi_metrics *m, FILE *fp)
{
    char a[32], b[32], c[32], d[32];
    int n = m->n_classes;
    fprintf(fp, "Scored pixels:          %llu", (unsigned long long)m->total);
    if (m->excluded_train)
        fprintf(fp, " (training pixels excluded: %llu)", (unsigned long long)m->excluded_train);
    fputc('\n', fp);
    if (m->pred_count[0])
        fprintf(fp, "Unclassified (pred 0):  %llu (counted as errors)\n",
                (unsigned long long)m->pred_count[0]);
    fprintf(fp, "Overall accuracy (OA):  %s %%\n", pct(a, sizeof a, m->oa));
    fprintf(fp, "Average accuracy (AA):  %s %% (mean over %d of %d classes with test pixels)\n",
            pct(a, sizeof a, m->aa), m->aa_classes, n);
    fprintf(fp, "Cohen's kappa:          %s (95%% CI %s .. %s)\n", kap(a, sizeof a, m->kappa),
            kap(b, sizeof b, m->kappa_lo), kap(c, sizeof c, m->kappa_hi));

    int w = name_width(m->classes, n, 5);
    fprintf(fp, "\n%3s  %-*s %9s %9s %9s %9s %9s %9s\n", "ID", w, "Class", "Truth", "Predicted",
            "Correct", "Producer%", "User%", "F1%");
    for (int k = 1; k <= n; k++)
        fprintf(fp, "%3d  %-*s %9llu %9llu %9llu %9s %9s %9s\n", k, w, m->classes[k].name,
                (unsigned long long)m->truth_count[k], (unsigned long long)m->pred_count[k],
                (unsigned long long)m->confusion[cm_index(m, k, k)],
                pct(a, sizeof a, m->producer[k]), pct(b, sizeof b, m->user[k]),
                pct(d, sizeof d, m->f1[k]));

    /* Confusion matrix: column width fits the largest count. */
    uint64_t big = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)(n + 1); i++)
        if (m->confusion[i] > big) big = m->confusion[i];
    int cw = snprintf(NULL, 0, "%llu", (unsigned long long)big);
    if (cw < 3) cw = 3;
    int unc = any_unclassified(m);
    fprintf(fp, "\nConfusion matrix (rows: truth, columns: prediction%s):\n",
            unc ? "; column 0: unclassified" : "");
    fprintf(fp, "%3s  %-*s", "", w, "");
    if (unc) fprintf(fp, " %*d", cw, 0);
    for (int p = 1; p <= n; p++) fprintf(fp, " %*d", cw, p);
    fputc('\n', fp);
    for (int t = 1; t <= n; t++) {
        fprintf(fp, "%3d  %-*s", t, w, m->classes[t].name);
        for (int p = unc ? 0 : 1; p <= n; p++)
            fprintf(fp, " %*llu", cw, (unsigned long long)m->confusion[cm_index(m, t, p)]);
        fputc('\n', fp);
    }
}

static void write_csv(const hsi_metrics *m, FILE *fp)
{
    /* One long table so that every figure is one row a spreadsheet or pandas
     * reads without special cases: figure, truth class, predicted class,
     * class name, value. Fractions (not percentages) with 10 digits. */
    int n = m->n_classes;
    fputs("figure,truth,prediction,name,value\n", fp);
    fprintf(fp, "scored,,,,%llu\n", (unsigned long long)m->total);
    fprintf(fp, "excluded_train,,,,%llu\n", (unsigned long long)m->excluded_train);
    fprintf(fp, "unclassified,,,,%llu\n", (unsigned long long)m->pred_count[0]);
    fputs("oa,,,,", fp), csv_num(fp, m->oa), fputc('\n', fp);
    fputs("aa,,,,", fp), csv_num(fp, m->aa), fputc('\n', fp);
    fprintf(fp, "aa_classes,,,,%d\n", m->aa_classes);
    fputs("kappa,,,,", fp), csv_num(fp, m->kappa), fputc('\n', fp);
    fputs("kappa_variance,,,,", fp), csv_num(fp, m->kappa_var), fputc('\n', fp);
    fputs("kappa_ci95_low,,,,", fp), csv_num(fp, m->kappa_lo), fputc('\n', fp);
    fputs("kappa_ci95_high,,,,", fp), csv_num(fp, m->kappa_hi), fputc('\n', fp);
    struct {
        const char *name;
        const double *v;
    } per[] = {{"producer_accuracy", m->producer}, {"user_accuracy", m->user}, {"f1", m->f1}};
    for (int k = 1; k <= n; k++) {
        fprintf(fp, "truth_pixels,%d,,", k), csv_str(fp, m->classes[k].name);
        fprintf(fp, ",%llu\n", (unsigned long long)m->truth_count[k]);
        fprintf(fp, "predicted_pixels,,%d,", k), csv_str(fp, m->classes[k].name);
        fprintf(fp, ",%llu\n", (unsigned long long)m->pred_count[k]);
        for (size_t f = 0; f < sizeof per / sizeof per[0]; f++) {
            fprintf(fp, "%s,%d,%d,", per[f].name, k, k), csv_str(fp, m->classes[k].name);
            fputc(',', fp), csv_num(fp, per[f].v[k]), fputc('\n', fp);
        }
    }
    for (int t = 1; t <= n; t++)
        for (int p = 0; p <= n; p++)
            fprintf(fp, "confusion,%d,%d,,%llu\n", t, p,
                    (unsigned long long)m->confusion[cm_index(m, t, p)]);
}

static void write_json(const hsi_metrics *m, FILE *fp)
{
    int n = m->n_classes;
    fprintf(fp, "{\n  \"scored\": %llu,\n  \"excluded_train\": %llu,\n  \"unclassified\": %llu,\n",
            (unsigned long long)m->total, (unsigned long long)m->excluded_train,
            (unsigned long long)m->pred_count[0]);
    fputs("  \"oa\": ", fp), json_num(fp, m->oa);
    fputs(",\n  \"aa\": ", fp), json_num(fp, m->aa);
    fprintf(fp, ",\n  \"aa_classes\": %d", m->aa_classes);
    fputs(",\n  \"kappa\": ", fp), json_num(fp, m->kappa);
    fputs(",\n  \"kappa_variance\": ", fp), json_num(fp, m->kappa_var);
    fputs(",\n  \"kappa_ci95\": [", fp), json_num(fp, m->kappa_lo), fputs(", ", fp);
    json_num(fp, m->kappa_hi);
    fputs("],\n  \"classes\": [\n", fp);
    for (int k = 1; k <= n; k++) {
        const hsi_class_info *c = &m->classes[k];
        fprintf(fp, "    {\"id\": %d, \"name\": ", k), json_str(fp, c->name);
        fprintf(fp, ", \"colour\": \"#%02x%02x%02x\", \"truth\": %llu, \"predicted\": %llu, "
                    "\"correct\": %llu, \"producer_accuracy\": ",
                c->rgb[0], c->rgb[1], c->rgb[2], (unsigned long long)m->truth_count[k],
                (unsigned long long)m->pred_count[k],
                (unsigned long long)m->confusion[cm_index(m, k, k)]);
        json_num(fp, m->producer[k]);
        fputs(", \"user_accuracy\": ", fp), json_num(fp, m->user[k]);
        fputs(", \"f1\": ", fp), json_num(fp, m->f1[k]);
        fprintf(fp, "}%s\n", k < n ? "," : "");
    }
    fputs("  ],\n  \"confusion_note\": \"rows: truth classes 1..n; columns: prediction 0..n "
          "(0 = unclassified)\",\n  \"confusion\": [\n",
          fp);
    for (int t = 1; t <= n; t++) {
        fputs("    [", fp);
        for (int p = 0; p <= n; p++)
            fprintf(fp, "%s%llu", p ? ", " : "",
                    (unsigned long long)m->confusion[cm_index(m, t, p)]);
        fprintf(fp, "]%s\n", t < n ? "," : "");
    }
    fputs("  ]\n}\n", fp);
}

static void write_markdown(const hsi_metrics *m, FILE *fp)
{
    char a[32], b[32], c[32];
    int n = m->n_classes;
    fputs("| Figure | Value |\n|---|---:|\n", fp);
    fprintf(fp, "| Scored pixels | %llu |\n", (unsigned long long)m->total);
    if (m->excluded_train)
        fprintf(fp, "| Training pixels excluded | %llu |\n", (unsigned long long)m->excluded_train);
    if (m->pred_count[0])
        fprintf(fp, "| Unclassified (errors) | %llu |\n", (unsigned long long)m->pred_count[0]);
    fprintf(fp, "| Overall accuracy (OA) | %s %% |\n", pct(a, sizeof a, m->oa));
    fprintf(fp, "| Average accuracy (AA, %d classes) | %s %% |\n", m->aa_classes,
            pct(a, sizeof a, m->aa));
    fprintf(fp, "| Cohen's kappa (95%% CI) | %s (%s .. %s) |\n", kap(a, sizeof a, m->kappa),
            kap(b, sizeof b, m->kappa_lo), kap(c, sizeof c, m->kappa_hi));
    fputs("\n| ID | Class | Truth | Predicted | Correct | Producer % | User % | F1 % |\n"
          "|---:|---|---:|---:|---:|---:|---:|---:|\n",
          fp);
    for (int k = 1; k <= n; k++) {
        fprintf(fp, "| %d | ", k), md_str(fp, m->classes[k].name);
        fprintf(fp, " | %llu | %llu | %llu | %s | %s | %s |\n",
                (unsigned long long)m->truth_count[k], (unsigned long long)m->pred_count[k],
                (unsigned long long)m->confusion[cm_index(m, k, k)],
                pct(a, sizeof a, m->producer[k]), pct(b, sizeof b, m->user[k]),
                pct(c, sizeof c, m->f1[k]));
    }
    int unc = any_unclassified(m);
    fprintf(fp, "\nConfusion matrix (rows: truth, columns: prediction%s):\n\n| truth \\ pred |",
            unc ? "; 0 = unclassified" : "");
    for (int p = unc ? 0 : 1; p <= n; p++) fprintf(fp, " %d |", p);
    fputs("\n|---|", fp);
    for (int p = unc ? 0 : 1; p <= n; p++) fputs("---:|", fp);
    fputc('\n', fp);
    for (int t = 1; t <= n; t++) {
        fprintf(fp, "| %d ", t), md_str(fp, m->classes[t].name), fputs(" |", fp);
        for (int p = unc ? 0 : 1; p <= n; p++)
            fprintf(fp, " %llu |", (unsigned long long)m->confusion[cm_index(m, t, p)]);
        fputc('\n', fp);
    }
}

static hsi_status stream_status(FILE *fp)
{
    if (ferror(fp)) return hsi_error(HSI_ERR_IO, "writing the report failed");
    return HSI_OK;
}

hsi_status hsi_metrics_write(const hsi_metrics *m, hsi_report_format fmt, FILE *fp)
{
    switch (fmt) {
    case HSI_REPORT_TEXT: write_text(m, fp); break;
    case HSI_REPORT_CSV: write_csv(m, fp); break;
    case HSI_REPORT_JSON: write_json(m, fp); break;
    case HSI_REPORT_MARKDOWN: write_markdown(m, fp); break;
    default: return hsi_error(HSI_ERR_ARG, "unknown report format %d", (int)fmt);
    }
    return stream_status(fp);
}

/* "85.21 +- 1.03" (percent) or "0.8312 +- 0.0101" (kappa). */
static const char *pm(char *buf, size_t len, hsi_stat s, int percent)
{
    if (s.n == 0)
        snprintf(buf, len, "-");
    else if (percent)
        snprintf(buf, len, "%.2f +- %.2f", 100.0 * s.mean, 100.0 * s.std);
    else
        snprintf(buf, len, "%.4f +- %.4f", s.mean, s.std);
    return buf;
}

static void csv_stat(FILE *fp, const char *fig, int k, const char *name, hsi_stat s)
{
    if (k)
        fprintf(fp, "%s,%d,", fig, k);
    else
        fprintf(fp, "%s,,", fig);
    csv_str(fp, name);
    fputc(',', fp), csv_num(fp, s.n ? s.mean : NAN);
    fputc(',', fp), csv_num(fp, s.n ? s.std : NAN);
    fprintf(fp, ",%d\n", s.n);
}

static void json_stat(FILE *fp, hsi_stat s)
{
    fputs("{\"mean\": ", fp), json_num(fp, s.n ? s.mean : NAN);
    fputs(", \"std\": ", fp), json_num(fp, s.n ? s.std : NAN);
    fprintf(fp, ", \"runs\": %d}", s.n);
}

hsi_status hsi_metrics_summary_write(const hsi_metrics_summary *s, hsi_report_format fmt,
                                     FILE *fp)
{
    char a[64], b[64], c[64];
    int n = s->n_classes;
    int w = name_width(s->classes, n, 5);
    switch (fmt) {
    case HSI_REPORT_TEXT:
        fprintf(fp, "Runs: %d (mean +- sample standard deviation; %.0f scored pixels per run on "
                    "average)\n",
                s->n_runs, s->mean_total);
        fprintf(fp, "Overall accuracy (OA):  %s %%\n", pm(a, sizeof a, s->oa, 1));
        fprintf(fp, "Average accuracy (AA):  %s %%\n", pm(a, sizeof a, s->aa, 1));
        fprintf(fp, "Cohen's kappa:          %s\n", pm(a, sizeof a, s->kappa, 0));
        fprintf(fp, "\n%3s  %-*s %16s %16s %16s\n", "ID", w, "Class", "Producer%", "User%",
                "F1%");
        for (int k = 1; k <= n; k++)
            fprintf(fp, "%3d  %-*s %16s %16s %16s\n", k, w, s->classes[k].name,
                    pm(a, sizeof a, s->producer[k], 1), pm(b, sizeof b, s->user[k], 1),
                    pm(c, sizeof c, s->f1[k], 1));
        break;
    case HSI_REPORT_CSV:
        fputs("figure,class,name,mean,std,runs\n", fp);
        csv_stat(fp, "oa", 0, "", s->oa);
        csv_stat(fp, "aa", 0, "", s->aa);
        csv_stat(fp, "kappa", 0, "", s->kappa);
        for (int k = 1; k <= n; k++) {
            csv_stat(fp, "producer_accuracy", k, s->classes[k].name, s->producer[k]);
            csv_stat(fp, "user_accuracy", k, s->classes[k].name, s->user[k]);
            csv_stat(fp, "f1", k, s->classes[k].name, s->f1[k]);
        }
        break;
    case HSI_REPORT_JSON:
        fprintf(fp, "{\n  \"runs\": %d,\n  \"mean_scored\": ", s->n_runs);
        json_num(fp, s->mean_total);
        fputs(",\n  \"oa\": ", fp), json_stat(fp, s->oa);
        fputs(",\n  \"aa\": ", fp), json_stat(fp, s->aa);
        fputs(",\n  \"kappa\": ", fp), json_stat(fp, s->kappa);
        fputs(",\n  \"classes\": [\n", fp);
        for (int k = 1; k <= n; k++) {
            fprintf(fp, "    {\"id\": %d, \"name\": ", k), json_str(fp, s->classes[k].name);
            fputs(", \"producer_accuracy\": ", fp), json_stat(fp, s->producer[k]);
            fputs(", \"user_accuracy\": ", fp), json_stat(fp, s->user[k]);
            fputs(", \"f1\": ", fp), json_stat(fp, s->f1[k]);
            fprintf(fp, "}%s\n", k < n ? "," : "");
        }
        fputs("  ]\n}\n", fp);
        break;
    case HSI_REPORT_MARKDOWN:
        fprintf(fp, "| Figure (%d runs, mean +- std) | Value |\n|---|---:|\n", s->n_runs);
        fprintf(fp, "| Overall accuracy (OA) | %s %% |\n", pm(a, sizeof a, s->oa, 1));
        fprintf(fp, "| Average accuracy (AA) | %s %% |\n", pm(a, sizeof a, s->aa, 1));
        fprintf(fp, "| Cohen's kappa | %s |\n", pm(a, sizeof a, s->kappa, 0));
        fputs("\n| ID | Class | Producer % | User % | F1 % |\n|---:|---|---:|---:|---:|\n", fp);
        for (int k = 1; k <= n; k++) {
            fprintf(fp, "| %d | ", k), md_str(fp, s->classes[k].name);
            fprintf(fp, " | %s | %s | %s |\n", pm(a, sizeof a, s->producer[k], 1),
                    pm(b, sizeof b, s->user[k], 1), pm(c, sizeof c, s->f1[k], 1));
        }
        break;
    default: return hsi_error(HSI_ERR_ARG, "unknown report format %d", (int)fmt);
    }
    return stream_status(fp);
}
