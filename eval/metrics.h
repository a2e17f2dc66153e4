/* metrics.h - accuracy of a classification against a ground truth.
 *
 * The confusion matrix has one row per truth class and one column per
 * predicted class (rows truth, columns prediction, the convention of
 * scikit-learn; Congalton & Green print the transpose). Only pixels whose
 * truth label is a class (1..n) are scored: label 0 ("unlabelled") in the
 * truth is never scored, and pixels of the training raster are excluded when
 * one is given, so a report always describes held-out pixels. A scored pixel
 * the classifier left at 0 (e.g. border pixels under the skip border mode) is
 * counted in column 0 ("unclassified"): it is an error, not a pixel dropped
 * from the score.
 *
 * Figures (all from the matrix n_ij, n = total scored, n_i+ row sums, n_+j
 * column sums):
 *   overall accuracy   OA = sum_i n_ii / n
 *   producer's acc.    PA_i = n_ii / n_i+          (1 - omission error)
 *   user's accuracy    UA_i = n_ii / n_+i          (1 - commission error)
 *   F1_i = 2 n_ii / (n_i+ + n_+i)  (= 2 PA_i UA_i / (PA_i + UA_i) where both exist)
 *   average accuracy   AA = mean of PA_i over classes with truth pixels
 *   Cohen's kappa      K = (p_o - p_e) / (1 - p_e), p_e = sum_i n_i+ n_+i / n^2
 * and the large-sample variance of K (Bishop, Fienberg & Holland 1975, as
 * given by Congalton & Green, "Assessing the Accuracy of Remotely Sensed
 * Data", 2nd ed. 2009, eq. for var(K-hat) in ch. 5):
 *   t1 = sum n_ii / n,  t2 = sum n_i+ n_+i / n^2,
 *   t3 = sum n_ii (n_i+ + n_+i) / n^2,  t4 = sum_ij n_ij (n_j+ + n_+i)^2 / n^3
 *   var = 1/n [ t1(1-t1)/(1-t2)^2 + 2(1-t1)(2 t1 t2 - t3)/(1-t2)^3
 *             + (1-t1)^2 (t4 - 4 t2^2)/(1-t2)^4 ]
 * The 95% interval is K +- 1.959964 sqrt(var).
 *
 * Undefined ratios (a class with no truth pixels has no PA, a class never
 * predicted has no UA, a class on neither side has no F1) are NaN and
 * printed as "-"; they never enter AA.
 */
#ifndef HSI_EVAL_METRICS_H
#define HSI_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/cube.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_metrics {
    int n_classes;            /* classes 1..n_classes */
    hsi_class_info *classes;  /* [n_classes + 1] names and colours; [0] unlabelled */
    /* confusion[(t - 1) * (n_classes + 1) + p]: truth class t (1..n), predicted
     * class p (0 = unclassified, 1..n). n_classes x (n_classes + 1). */
    uint64_t *confusion;
    uint64_t total;           /* scored pixels */
    uint64_t correct;
    uint64_t excluded_train;  /* labelled truth pixels skipped because they are training pixels */
    uint64_t *truth_count;    /* [n_classes + 1] row sums n_i+ ([0] unused, 0) */
    uint64_t *pred_count;     /* [n_classes + 1] column sums n_+j ([0] = unclassified) */
    double *producer;         /* [n_classes + 1] PA per class, NaN if no truth pixels */
    double *user;             /* [n_classes + 1] UA per class, NaN if never predicted */
    double *f1;               /* [n_classes + 1] F1 = 2TP/(2TP+FP+FN); NaN if the class
                                 has neither truth nor predicted pixels */
    int aa_classes;           /* classes with truth pixels (those averaged in AA) */
    double oa, aa, kappa;
    double kappa_var, kappa_lo, kappa_hi; /* variance and 95% interval */
} hsi_metrics;

/* An empty matrix of n_classes classes with the given class table
 * (n_classes + 1 entries; NULL for default names). */
hsi_status hsi_metrics_new(int n_classes, const hsi_class_info *classes, hsi_metrics **out);
void hsi_metrics_free(hsi_metrics *m);

/* Add one scored pixel (truth 1..n, pred 0..n); out of range is HSI_ERR_ARG. */
hsi_status hsi_metrics_add(hsi_metrics *m, int truth, int pred, uint64_t count);

/* Compute OA, AA, PA/UA/F1, kappa and its interval from the matrix.
 * HSI_ERR_DATA when nothing was scored. */
hsi_status hsi_metrics_finish(hsi_metrics *m);

/* Score a prediction raster against a truth raster. `train` (may be NULL)
 * marks pixels (label != 0) excluded from scoring. The names are used in
 * error messages (the file names). Errors: sizes differ (HSI_ERR_SIZE); a
 * prediction or truth value that is not a class of the truth's class table
 * (HSI_ERR_DATA, naming the value and its first row/column); nothing
 * labelled, or nothing left once training pixels are excluded (HSI_ERR_DATA).
 * The class table is the truth's. */
hsi_status hsi_metrics_compute(const hsi_labels *truth, const char *truth_name,
                               const hsi_labels *pred, const char *pred_name,
                               const hsi_labels *train, const char *train_name,
                               hsi_metrics **out);

/* Read class names for a label raster's class table from a text file: each
 * line that is not empty and does not start with '#' names the next class
 * (class 1 first), so the Indian Pines .mat ground truth can carry
 * "Alfalfa", "Corn-notill", ... The table grows when the file names more
 * classes. HSI_ERR_IO / HSI_ERR_FORMAT name the file. */
hsi_status hsi_class_names_read(const char *path, hsi_labels *labels);

/* ---- several runs (e.g. seeds or folds) ---- */

/* Mean and sample standard deviation (n - 1 in the denominator; 0 for one
 * run) of every figure over runs with the same class count. A per-class
 * figure that is NaN in some run is averaged over the runs where it is
 * defined (its count is in n_defined). */
typedef struct hsi_stat {
    double mean, std;
    int n; /* runs where the figure is defined */
} hsi_stat;

typedef struct hsi_metrics_summary {
    int n_runs;
    int n_classes;
    hsi_class_info *classes; /* [n_classes + 1] */
    hsi_stat oa, aa, kappa;
    hsi_stat *producer, *user, *f1; /* [n_classes + 1], index 0 unused */
    double mean_total;              /* mean scored pixels per run */
} hsi_metrics_summary;

hsi_status hsi_metrics_summarise(const hsi_metrics *const *runs, int n_runs,
                                 hsi_metrics_summary **out);
void hsi_metrics_summary_free(hsi_metrics_summary *s);

/* ---- reports ---- */

typedef enum hsi_report_format {
    HSI_REPORT_TEXT = 0, /* aligned plain text with class names (default) */
    HSI_REPORT_CSV,
    HSI_REPORT_JSON,
    HSI_REPORT_MARKDOWN
} hsi_report_format;

hsi_status hsi_report_format_parse(const char *name, hsi_report_format *fmt);

/* Write one run's report: figures, per-class table and confusion matrix.
 * Percentages are printed with 2 decimals, kappa with 4; JSON carries full
 * precision. HSI_ERR_IO if the stream fails. */
hsi_status hsi_metrics_write(const hsi_metrics *m, hsi_report_format fmt, FILE *fp);

/* Write the mean +- std of several runs in the same formats. */
hsi_status hsi_metrics_summary_write(const hsi_metrics_summary *s, hsi_report_format fmt,
                                     FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
