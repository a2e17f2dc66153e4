/* test_eval_metrics.c - confusion matrix figures against hand computations
 * and a published example, kappa variance against the delta method by finite
 * differences, raster scoring rules, bad inputs, reports, run aggregation. */
#include "base/cube.h"
#include "eval/metrics.h"
#include "tests/check.h"

/* A 3-class matrix worked by hand (rows truth, columns prediction 0..3):
 *   truth 1: unclassified 0, pred 1: 8, pred 2: 2, pred 3: 0   (10 pixels)
 *   truth 2: unclassified 1, pred 1: 1, pred 2: 6, pred 3: 2   (10 pixels)
 *   truth 3: no pixels
 * n = 20, correct 14: OA = 0.7. PA = 0.8, 0.6, undefined: AA = 0.7 over 2.
 * Column sums 1 | 9 | 8 | 2: UA = 8/9, 6/8, 0/2.
 * F1 = 2TP / (2TP + FP + FN): 16/19, 12/18, 0/2 = 0 (predicted, never right).
 * p_e = (10*9 + 10*8 + 0*2) / 400 = 0.425, kappa = 0.275 / 0.575 = 11/23. */
static void test_hand_matrix(void)
{
    hsi_metrics *m;
    CHECK_OK(hsi_metrics_new(3, NULL, &m));
    CHECK_OK(hsi_metrics_add(m, 1, 1, 8));
    CHECK_OK(hsi_metrics_add(m, 1, 2, 2));
    CHECK_OK(hsi_metrics_add(m, 2, 0, 1));
    CHECK_OK(hsi_metrics_add(m, 2, 1, 1));
    CHECK_OK(hsi_metrics_add(m, 2, 2, 6));
    CHECK_OK(hsi_metrics_add(m, 2, 3, 2));
    CHECK_FAILS(hsi_metrics_add(m, 0, 1, 1), HSI_ERR_ARG, "truth class 0");
    CHECK_FAILS(hsi_metrics_add(m, 1, 4, 1), HSI_ERR_ARG, "predicted class 4");
    CHECK_OK(hsi_metrics_finish(m));
    CHECK_INT_EQ(m->total, 20);
    CHECK_INT_EQ(m->correct, 14);
    CHECK_INT_EQ(m->pred_count[0], 1);
    CHECK_NEAR(m->oa, 0.7, 1e-15);
    CHECK_NEAR(m->producer[1], 0.8, 1e-15);
    CHECK_NEAR(m->producer[2], 0.6, 1e-15);
    CHECK(isnan(m->producer[3]));
    CHECK_INT_EQ(m->aa_classes, 2);
    CHECK_NEAR(m->aa, 0.7, 1e-15);
    CHECK_NEAR(m->user[1], 8.0 / 9.0, 1e-15);
    CHECK_NEAR(m->user[2], 0.75, 1e-15);
    CHECK_NEAR(m->user[3], 0.0, 0);
    CHECK_NEAR(m->f1[1], 16.0 / 19.0, 1e-15);
    CHECK_NEAR(m->f1[2], 2.0 / 3.0, 1e-15);
    CHECK_NEAR(m->f1[3], 0.0, 0);
    CHECK_NEAR(m->kappa, 11.0 / 23.0, 1e-15);
    CHECK(m->kappa_lo < m->kappa && m->kappa < m->kappa_hi);
    CHECK_NEAR(m->kappa_hi - m->kappa, 1.959963984540054 * sqrt(m->kappa_var), 1e-15);

    /* The text report shows these figures rounded, "-" where undefined, the
     * unclassified column, and class names. */
    FILE *fp = tmpfile();
    CHECK_OK(hsi_metrics_write(m, HSI_REPORT_TEXT, fp));
    rewind(fp);
    char buf[8192];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    buf[len] = '\0';
    fclose(fp);
    CHECK_MSG(strstr(buf, "Overall accuracy (OA):  70.00 %"), "%s", buf);
    CHECK_MSG(strstr(buf, "Cohen's kappa:          0.4783"), "%s", buf);
    CHECK_MSG(strstr(buf, "mean over 2 of 3 classes"), "%s", buf);
    CHECK_MSG(strstr(buf, "column 0: unclassified"), "%s", buf);
    CHECK_MSG(strstr(buf, "  3  Class 3         0         2         0         -      0.00      0.00"),
              "%s", buf);
    /* JSON: undefined figures are null, not NaN (which is not JSON). */
    fp = tmpfile();
    CHECK_OK(hsi_metrics_write(m, HSI_REPORT_JSON, fp));
    rewind(fp);
    len = fread(buf, 1, sizeof buf - 1, fp);
    buf[len] = '\0';
    fclose(fp);
    CHECK(!strstr(buf, "nan") && strstr(buf, "\"producer_accuracy\": null"));
    CHECK_MSG(strstr(buf, "[1, 1, 6, 2]"), "%s", buf);
    hsi_metrics_free(m);
}

/* Congalton (1991), "A review of assessing the accuracy of classifications
 * of remotely sensed data", Remote Sens. Environ. 37:35-46, Table 1 (also
 * the running example of Congalton & Green, "Assessing the Accuracy of
 * Remotely Sensed Data", ch. 5). Rows there are the classification, columns
 * the reference data (D = deciduous, C = conifer, BA = barren, SB = shrub):
 *        D   C  BA  SB
 *   D   65   4  22  24
 *   C    6  81   5   8
 *   BA   0  11  85  19
 *   SB   4   7   3  90
 * Published: overall accuracy 321/434 = 74%; producer's accuracy D 87%,
 * C 79%, BA 74%, SB 64%; user's accuracy D 57%, C 81%, BA 74%, SB 87%;
 * KHAT = 0.65. */
static const int congalton[4][4] = {
    {65, 4, 22, 24}, {6, 81, 5, 8}, {0, 11, 85, 19}, {4, 7, 3, 90}};

/* Kappa of a matrix of proportions q[t][p] (rows truth), as a plain function
 * of the 16 cells, for finite differences. */
static double kappa_of(const double q[4][4])
{
    double po = 0, pe = 0;
    for (int k = 0; k < 4; k++) {
        double r = 0, c = 0;
        for (int j = 0; j < 4; j++) r += q[k][j], c += q[j][k];
        po += q[k][k];
        pe += r * c;
    }
    return (po - pe) / (1 - pe);
}

static void test_congalton(void)
{
    hsi_metrics *m;
    CHECK_OK(hsi_metrics_new(4, NULL, &m));
    /* Our rows are the truth (reference): cell (truth j, pred i) = table[i][j]. */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) CHECK_OK(hsi_metrics_add(m, j + 1, i + 1, congalton[i][j]));
    CHECK_OK(hsi_metrics_finish(m));
    CHECK_INT_EQ(m->total, 434);
    CHECK_INT_EQ(m->correct, 321);
    CHECK_INT_EQ(lround(100 * m->oa), 74);
    int pa[4] = {87, 79, 74, 64}, ua[4] = {57, 81, 74, 87};
    for (int k = 0; k < 4; k++) {
        CHECK_INT_EQ(lround(100 * m->producer[k + 1]), pa[k]);
        CHECK_INT_EQ(lround(100 * m->user[k + 1]), ua[k]);
    }
    CHECK_NEAR(m->kappa, 0.65, 0.005);
    /* Exact: p_e = (115*75 + 100*103 + 115*115 + 104*141) / 434^2 = 46814/188356. */
    double pe = 46814.0 / 188356.0;
    CHECK_NEAR(m->kappa, (321.0 / 434.0 - pe) / (1 - pe), 1e-14);

    /* The Congalton & Green variance is the delta-method variance of kappa
     * under multinomial sampling: var = (1/n)[sum q g^2 - (sum q g)^2] with
     * g = dK/dq. Compute g by central differences and compare. */
    double q[4][4], n = 434;
    for (int t = 0; t < 4; t++)
        for (int p = 0; p < 4; p++) q[t][p] = congalton[p][t] / n;
    double sg = 0, sg2 = 0, h = 1e-6;
    for (int t = 0; t < 4; t++)
        for (int p = 0; p < 4; p++) {
            double keep = q[t][p];
            q[t][p] = keep + h;
            double up = kappa_of(q);
            q[t][p] = keep - h;
            double down = kappa_of(q);
            q[t][p] = keep;
            double g = (up - down) / (2 * h);
            sg += keep * g;
            sg2 += keep * g * g;
        }
    double var_delta = (sg2 - sg * sg) / n;
    CHECK_NEAR(m->kappa_var, var_delta, 1e-9);
    CHECK(m->kappa_var > 0.0005 && m->kappa_var < 0.001);
    hsi_metrics_free(m);
}

static hsi_labels *raster(size_t rows, size_t cols, int n_classes, const uint16_t *v)
{
    hsi_labels *l = NULL;
    if (hsi_labels_new(rows, cols, n_classes, &l)) return NULL;
    memcpy(l->data, v, rows * cols * sizeof *v);
    return l;
}

static void test_rasters(void)
{
    /* 3 x 4 scene, 2 classes. Pixel 0 unlabelled (never scored, whatever the
     * prediction), two training pixels excluded. */
    uint16_t t[12] = {0, 1, 1, 1, 2, 2, 2, 2, 1, 2, 0, 0};
    uint16_t p[12] = {2, 1, 2, 1, 2, 2, 1, 0, 1, 2, 1, 1};
    uint16_t tr[12] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0};
    hsi_labels *truth = raster(3, 4, 2, t), *pred = raster(3, 4, 2, p), *train = raster(3, 4, 2, tr);
    snprintf(truth->classes[1].name, HSI_CLASS_NAME_MAX, "Corn");
    hsi_metrics *m;
    CHECK_OK(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", train, "train.tif", &m));
    /* Scored: (0,2) t1 p2, (0,3) t1 p1, (1,0..3) t2 p2,2,1,0, (2,0) t1 p1. */
    CHECK_INT_EQ(m->total, 7);
    CHECK_INT_EQ(m->excluded_train, 2);
    CHECK_INT_EQ(m->correct, 4);
    CHECK_INT_EQ(m->truth_count[1], 3);
    CHECK_INT_EQ(m->truth_count[2], 4);
    CHECK_INT_EQ(m->pred_count[0], 1);
    CHECK(strcmp(m->classes[1].name, "Corn") == 0);
    hsi_metrics_free(m);
    CHECK_OK(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", NULL, NULL, &m));
    CHECK_INT_EQ(m->total, 9);
    hsi_metrics_free(m);

    /* Bad inputs: each one error naming the file and the problem. */
    hsi_labels *small = raster(2, 4, 2, p);
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", small, "pred.tif", NULL, NULL, &m),
                HSI_ERR_SIZE, "pred.tif: size 2 x 4 differs from the truth gt.tif (3 x 4)");
    CHECK(m == NULL);
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", small, "train.tif", &m),
                HSI_ERR_SIZE, "train.tif: size 2 x 4");
    pred->data[5] = 7;
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", NULL, NULL, &m),
                HSI_ERR_DATA,
                "pred.tif: class 7 (row 2, column 2) is not in the class table of gt.tif (2 classes)");
    pred->data[5] = 2;
    truth->data[11] = 3;
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", NULL, NULL, &m),
                HSI_ERR_DATA, "gt.tif: class 3 (row 3, column 4) is not in its class table");
    memset(truth->data, 0, 12 * sizeof *truth->data);
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", NULL, NULL, &m),
                HSI_ERR_DATA, "gt.tif: no labelled pixels");
    truth->data[1] = 1;
    CHECK_FAILS(hsi_metrics_compute(truth, "gt.tif", pred, "pred.tif", train, "train.tif", &m),
                HSI_ERR_DATA, "train.tif: all 1 labelled pixels of gt.tif are training pixels");
    hsi_labels_free(truth);
    hsi_labels_free(pred);
    hsi_labels_free(train);
    hsi_labels_free(small);

    /* A single class everywhere, predicted perfectly: OA 1, kappa undefined
     * (chance agreement is 1), not a crash or a division by zero. */
    CHECK_OK(hsi_metrics_new(1, NULL, &m));
    CHECK_OK(hsi_metrics_add(m, 1, 1, 5));
    CHECK_OK(hsi_metrics_finish(m));
    CHECK(m->oa == 1 && isnan(m->kappa));
    hsi_metrics_free(m);
    CHECK_OK(hsi_metrics_new(2, NULL, &m));
    CHECK_FAILS(hsi_metrics_finish(m), HSI_ERR_DATA, "no pixels were scored");
    hsi_metrics_free(m);
}

static void test_summary(void)
{
    /* Run A: OA 0.7 (hand matrix above without the unclassified pixel is not
     * needed); run B: perfect. Means and sample standard deviations. */
    hsi_metrics *a, *b;
    CHECK_OK(hsi_metrics_new(2, NULL, &a));
    CHECK_OK(hsi_metrics_add(a, 1, 1, 7));
    CHECK_OK(hsi_metrics_add(a, 1, 2, 3));
    CHECK_OK(hsi_metrics_finish(a));
    CHECK_OK(hsi_metrics_new(2, NULL, &b));
    CHECK_OK(hsi_metrics_add(b, 1, 1, 9));
    CHECK_OK(hsi_metrics_add(b, 2, 2, 1));
    CHECK_OK(hsi_metrics_finish(b));
    const hsi_metrics *runs[2] = {a, b};
    hsi_metrics_summary *s;
    CHECK_OK(hsi_metrics_summarise(runs, 2, &s));
    CHECK_NEAR(s->oa.mean, 0.85, 1e-15);
    CHECK_NEAR(s->oa.std, sqrt(2 * 0.15 * 0.15), 1e-15);
    /* Class 2 has no truth pixels in run A: its PA is averaged over run B only. */
    CHECK_INT_EQ(s->producer[2].n, 1);
    CHECK_NEAR(s->producer[2].mean, 1.0, 0);
    CHECK_NEAR(s->producer[2].std, 0.0, 0);
    FILE *fp = tmpfile();
    CHECK_OK(hsi_metrics_summary_write(s, HSI_REPORT_TEXT, fp));
    rewind(fp);
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    buf[len] = '\0';
    fclose(fp);
    CHECK_MSG(strstr(buf, "Overall accuracy (OA):  85.00 +- 21.21 %"), "%s", buf);
    hsi_metrics_summary_free(s);
    hsi_metrics *c;
    CHECK_OK(hsi_metrics_new(3, NULL, &c));
    runs[1] = c;
    CHECK_FAILS(hsi_metrics_summarise(runs, 2, &s), HSI_ERR_SIZE, "run 2 has 3 classes");
    hsi_metrics_free(a);
    hsi_metrics_free(b);
    hsi_metrics_free(c);

    hsi_report_format f;
    CHECK_OK(hsi_report_format_parse("md", &f));
    CHECK(f == HSI_REPORT_MARKDOWN);
    CHECK_FAILS(hsi_report_format_parse("xml", &f), HSI_ERR_ARG, "unknown report format 'xml'");
}

int main(void)
{
    test_hand_matrix();
    test_congalton();
    test_rasters();
    test_summary();
    return check_finish();
}
