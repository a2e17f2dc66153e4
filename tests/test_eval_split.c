/* test_eval_split.c - split invariants: train/val/test disjoint and equal to
 * the truth where set, stratification within one pixel, zero leakage for the
 * block and cluster splits at the guard radius, high leakage for random
 * splits, same seed same split, small-class rules, masks with a class map,
 * bad inputs; and the same on the real Indian Pines ground truth. */
#include <sys/stat.h>

#include "base/cube.h"
#include "base/rng.h"
#include "eval/split.h"
#include "io/io.h"
#include "tests/check.h"

#define R 64
#define C 72

/* A scene of rectangular "fields": 5 classes, fields of 6..14 pixels a side
 * separated by unlabelled lanes of 3 pixels (so DBSCAN with eps 2 sees each
 * field as one cluster), and class 6 with only 3 pixels. */
static hsi_labels *make_fields(void)
{
    hsi_labels *l = NULL;
    if (hsi_labels_new(R, C, 6, &l)) return NULL;
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    int k = 0;
    for (size_t r0 = 1; r0 + 6 < R; r0 += 16)
        for (size_t c0 = 1; c0 + 6 < C; c0 += 17) {
            size_t h = 6 + hsi_rng_below(&rng, 9), w = 6 + hsi_rng_below(&rng, 9);
            int cls = 1 + (k++ % 5);
            for (size_t r = r0; r < r0 + h && r < R; r++)
                for (size_t c = c0; c < c0 + w && c < C; c++) l->data[r * C + c] = (uint16_t)cls;
        }
    l->data[(R - 1) * C + 0] = 6;
    l->data[(R - 1) * C + 1] = 6;
    l->data[(R - 1) * C + 2] = 6;
    return l;
}

/* Disjoint, subset of the truth with its labels, and the counts add up. */
static void check_invariants(const hsi_labels *truth, const hsi_split *s, const char *what)
{
    size_t bad_overlap = 0, bad_label = 0, npx = truth->rows * truth->cols;
    for (size_t i = 0; i < npx; i++) {
        int t = s->train->data[i], e = s->test->data[i], v = s->val ? s->val->data[i] : 0;
        if ((t != 0) + (e != 0) + (v != 0) > 1) bad_overlap++;
        int any = t ? t : e ? e : v;
        if (any && any != truth->data[i]) bad_label++;
    }
    CHECK_MSG(bad_overlap == 0, "%s: %zu pixels on two sides", what, bad_overlap);
    CHECK_MSG(bad_label == 0, "%s: %zu pixels with a label not the truth's", what, bad_label);
    size_t hist[64] = {0}; /* n_classes + 1 entries */
    hsi_labels_histogram(truth, hist);
    for (int k = 1; k <= s->n_classes; k++) {
        const hsi_split_counts *c = &s->counts[k];
        CHECK_MSG(c->train + c->val + c->test + c->unused == hist[k] && c->total == hist[k],
                  "%s: class %d counts do not add up", what, k);
    }
}

static int same_rasters(const hsi_labels *a, const hsi_labels *b)
{
    return memcmp(a->data, b->data, a->rows * a->cols * sizeof *a->data) == 0;
}

static void test_random(const hsi_labels *truth)
{
    hsi_split_options o;
    hsi_split_options_init(&o);
    o.train_fraction = 0.2;
    o.seed = 11;
    hsi_split *s, *again, *other;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
    check_invariants(truth, s, "random");
    size_t hist[64];
    hsi_labels_histogram(truth, hist);
    for (int k = 1; k <= 5; k++)
        CHECK_MSG(fabs((double)s->counts[k].train - 0.2 * (double)hist[k]) <= 0.5,
                  "class %d: %zu training pixels of %zu", k, s->counts[k].train, hist[k]);
    /* Class 6 (3 pixels): round(0.6) = 1 training pixel, 2 test. */
    CHECK_INT_EQ(s->counts[6].train, 1);
    CHECK_INT_EQ(s->counts[6].test, 2);
    CHECK_OK(hsi_split_make(truth, "fields", &o, &again));
    CHECK(same_rasters(s->train, again->train) && same_rasters(s->test, again->test));
    o.seed = 12;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &other));
    CHECK(!same_rasters(s->train, other->train));
    /* Random sampling leaks: at radius 4 nearly every test pixel sits in a
     * training pixel's window. */
    size_t leaked, tested;
    CHECK_OK(hsi_split_leakage(s->train, NULL, s->test, 4, &leaked, &tested));
    CHECK_INT_EQ(tested, s->counts[0].test);
    CHECK_MSG(leaked > tested * 8 / 10, "random split: only %zu of %zu test pixels leak", leaked,
              tested);
    hsi_split_free(s), hsi_split_free(again), hsi_split_free(other);

    /* Count per class with a minimum and the small-class rules. */
    hsi_split_options_init(&o);
    o.train_count = 10;
    o.min_per_class = 5;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
    check_invariants(truth, s, "count");
    for (int k = 1; k <= 5; k++) CHECK_INT_EQ(s->counts[k].train, 10);
    CHECK_INT_EQ(s->counts[6].train, 1); /* small (3 < 2 x 5): floor(3/2) */
    CHECK_INT_EQ(s->counts[6].test, 2);
    hsi_split_free(s);
    o.small = HSI_SMALL_SKIP;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
    CHECK(s->counts[6].train == 0 && s->counts[6].test == 0 && s->counts[6].unused == 3);
    hsi_split_free(s);
    o.small = HSI_SMALL_ERROR;
    CHECK_FAILS(hsi_split_make(truth, "fields", &o, &s), HSI_ERR_DATA,
                "fields: class 6 (Class 6) has 3 pixels, too few for 10 training pixels");
    CHECK(s == NULL);

    /* Validation: round(0.25 x training) of each class, disjoint. */
    hsi_split_options_init(&o);
    o.train_fraction = 0.3;
    o.val_fraction = 0.25;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
    check_invariants(truth, s, "validation");
    for (int k = 1; k <= 5; k++) {
        size_t all = s->counts[k].train + s->counts[k].val;
        CHECK(fabs((double)all - 0.3 * (double)hist[k]) <= 0.5);
        CHECK_INT_EQ(s->counts[k].val, llround(0.25 * (double)all));
    }
    hsi_split_free(s);
}

static void test_spatial(const hsi_labels *truth, hsi_split_strategy strategy, const char *what)
{
    for (int radius = 1; radius <= 4; radius += 3) {
        hsi_split_options o;
        hsi_split_options_init(&o);
        o.strategy = strategy;
        o.train_fraction = 0.3;
        o.radius = radius;
        o.block_size = 12;
        o.seed = 5;
        hsi_split *s, *again;
        CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
        if (!s) return;
        check_invariants(truth, s, what);
        size_t leaked, tested;
        CHECK_OK(hsi_split_leakage(s->train, NULL, s->test, radius, &leaked, &tested));
        CHECK_MSG(leaked == 0, "%s radius %d: %zu of %zu test pixels leak", what, radius, leaked,
                  tested);
        CHECK(tested > 0 && s->counts[0].train > 0);
        /* A larger window than the guard band does leak (the band is exact). */
        CHECK_OK(hsi_split_leakage(s->train, NULL, s->test, radius + 2, &leaked, &tested));
        CHECK(leaked > 0);
        double share = (double)s->counts[0].train / (double)s->counts[0].total;
        CHECK_MSG(share > 0.15 && share < 0.45, "%s: training share %.3f", what, share);
        CHECK_OK(hsi_split_make(truth, "fields", &o, &again));
        CHECK(same_rasters(s->train, again->train) && same_rasters(s->test, again->test));
        if (strategy == HSI_SPLIT_CLUSTERS) {
            /* Whole clusters: no field (one class, 8-connected, lanes of 3
             * between fields) has pixels on both sides. Flood each field. */
            size_t npx = R * C, mixed = 0;
            int *seen = calloc(npx, sizeof *seen);
            size_t *stack = malloc(npx * sizeof *stack);
            for (size_t p = 0; p < npx; p++) {
                if (!truth->data[p] || seen[p]) continue;
                size_t top = 0, tr = 0, te = 0;
                stack[top++] = p;
                seen[p] = 1;
                while (top) {
                    size_t q = stack[--top];
                    tr += s->train->data[q] != 0;
                    te += s->test->data[q] != 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            long y = (long)(q / C) + dy, x = (long)(q % C) + dx;
                            if (y < 0 || y >= R || x < 0 || x >= C) continue;
                            size_t u = (size_t)y * C + (size_t)x;
                            if (!seen[u] && truth->data[u] == truth->data[q]) seen[u] = 1, stack[top++] = u;
                        }
                }
                if (tr && te) mixed++;
            }
            CHECK_MSG(mixed == 0, "%zu fields split between train and test", mixed);
            free(seen);
            free(stack);
        }
        hsi_split_free(s), hsi_split_free(again);
    }
}

static void test_leakage_hand(void)
{
    hsi_labels *tr, *te;
    CHECK_OK(hsi_labels_new(12, 12, 2, &tr));
    CHECK_OK(hsi_labels_new(12, 12, 2, &te));
    tr->data[5 * 12 + 5] = 1;
    te->data[5 * 12 + 9] = 1;  /* 4 columns away: inside a radius-4 window */
    te->data[5 * 12 + 10] = 2; /* 5 away: outside */
    te->data[1 * 12 + 1] = 2;  /* diagonal 4, 4: inside (windows are squares) */
    size_t leaked, tested;
    CHECK_OK(hsi_split_leakage(tr, NULL, te, 4, &leaked, &tested));
    CHECK(leaked == 2 && tested == 3);
    CHECK_OK(hsi_split_leakage(tr, NULL, te, 3, &leaked, &tested));
    CHECK(leaked == 0);
    CHECK_FAILS(hsi_split_leakage(tr, NULL, te, 6, &leaked, &tested), HSI_ERR_SIZE,
                "patch radius 6 (window 13 x 13) is larger than the scene (12 x 12)");
    hsi_labels *small;
    CHECK_OK(hsi_labels_new(11, 12, 2, &small));
    CHECK_FAILS(hsi_split_leakage(tr, NULL, small, 1, &leaked, &tested), HSI_ERR_SIZE,
                "test raster: size 11 x 12");
    hsi_labels_free(small);
    hsi_labels_free(tr);
    hsi_labels_free(te);
}

static void test_mask(const hsi_labels *truth)
{
    /* A training mask numbered differently: mask class k + 10 means truth
     * class k; one pixel disagrees with the truth. */
    hsi_labels *mask;
    CHECK_OK(hsi_labels_new(R, C, 15, &mask));
    size_t placed = 0;
    for (size_t i = 0; i < R * C; i += 7)
        if (truth->data[i] && truth->data[i] <= 5) mask->data[i] = truth->data[i] + 10, placed++;
    size_t odd = 0;
    while (!(truth->data[odd] == 1 && mask->data[odd] == 0)) odd++;
    mask->data[odd] = 12; /* says class 2 over a class-1 pixel */
    int *map, n;
    CHECK_OK(hsi_mask_map_auto(mask, truth, &map, &n));
    CHECK_INT_EQ(n, 16);
    for (int k = 11; k <= 15; k++) CHECK_INT_EQ(map[k], k - 10);
    free(map);
    CHECK_OK(hsi_mask_map_parse("11=1,12=2,13=3,14=4,15=5", &map, &n));
    CHECK(n == 16 && map[13] == 3 && map[10] == 0);
    hsi_split_options o;
    hsi_split_options_init(&o);
    o.strategy = HSI_SPLIT_MASK;
    o.mask = mask;
    o.mask_name = "mask.tif";
    o.mask_map = map;
    o.mask_map_n = n;
    hsi_split *s;
    CHECK_OK(hsi_split_make(truth, "fields", &o, &s));
    CHECK_INT_EQ(s->counts[0].train, placed + 1);
    CHECK_INT_EQ(s->mask_disagree, 1);
    /* Test: every labelled truth pixel not in the mask. */
    size_t labelled = 0;
    for (size_t i = 0; i < R * C; i++) labelled += truth->data[i] != 0;
    CHECK_INT_EQ(s->counts[0].test, labelled - placed - 1);
    for (size_t i = 0; i < R * C; i++)
        if (s->train->data[i] && s->test->data[i]) {
            CHECK(0);
            break;
        }
    hsi_split_free(s);
    o.mask_map = NULL;
    CHECK_FAILS(hsi_split_make(truth, "fields", &o, &s), HSI_ERR_DATA,
                "mask.tif: class 12 (row 2, column 2) maps to class 12, which is not in the class "
                "table of fields (6 classes)");
    free(map);
    CHECK_FAILS(hsi_mask_map_parse("1=2,x", &map, &n), HSI_ERR_ARG, "MASK=TRUTH pairs");
    hsi_labels_free(mask);
}

static void test_bad(const hsi_labels *truth)
{
    hsi_split_options o;
    hsi_split_options_init(&o);
    hsi_split *s;
    hsi_labels *empty;
    CHECK_OK(hsi_labels_new(10, 10, 3, &empty));
    CHECK_FAILS(hsi_split_make(empty, "gt.tif", &o, &s), HSI_ERR_DATA,
                "gt.tif: no labelled pixels (every pixel is 0): nothing to split");
    hsi_labels_free(empty);
    o.strategy = HSI_SPLIT_BLOCKS;
    o.radius = 40;
    CHECK_FAILS(hsi_split_make(truth, "gt.tif", &o, &s), HSI_ERR_SIZE,
                "patch radius 40 (window 81 x 81) is larger than the scene (64 x 72)");
    o.radius = 4;
    o.train_fraction = 1.5;
    CHECK_FAILS(hsi_split_make(truth, "gt.tif", &o, &s), HSI_ERR_ARG, "training fraction 1.5");
    hsi_split_strategy st;
    CHECK_FAILS(hsi_split_strategy_parse("kmeans", &st), HSI_ERR_ARG, "unknown split strategy");
}

/* The real Indian Pines ground truth (145 x 145, 16 classes, 10249 px). */
static void test_indian_pines(void)
{
    const char *gt_path = check_data_path("indian_pines/Indian_pines_gt.mat");
    const char *ts_path = check_data_path("indian_pines/indianpines_ts.tif");
    struct stat sb;
    if (stat(gt_path, &sb) != 0 || stat(ts_path, &sb) != 0) {
        printf("note: %s not found, real-data part skipped\n", gt_path);
        return;
    }
    hsi_labels *gt, *ts;
    CHECK_OK(hsi_labels_read(gt_path, NULL, &gt));
    CHECK_OK(hsi_labels_read(ts_path, NULL, &ts));
    if (!gt || !ts) return;
    hsi_split_options o;
    hsi_split_options_init(&o);
    o.train_fraction = 0.1;
    o.radius = 4;
    hsi_split *s;
    size_t leaked, tested;
    CHECK_OK(hsi_split_make(gt, "Indian_pines_gt.mat", &o, &s));
    CHECK_INT_EQ(s->counts[0].total, 10249);
    CHECK_OK(hsi_split_leakage(s->train, NULL, s->test, 4, &leaked, &tested));
    CHECK_MSG(leaked > tested / 2, "random: %zu of %zu leak", leaked, tested);
    hsi_split_free(s);
    hsi_split_strategy strategies[2] = {HSI_SPLIT_BLOCKS, HSI_SPLIT_CLUSTERS};
    for (int i = 0; i < 2; i++) {
        o.strategy = strategies[i];
        CHECK_OK(hsi_split_make(gt, "Indian_pines_gt.mat", &o, &s));
        if (!s) continue;
        check_invariants(gt, s, i ? "IP clusters" : "IP blocks");
        CHECK_OK(hsi_split_leakage(s->train, NULL, s->test, 4, &leaked, &tested));
        CHECK_INT_EQ(leaked, 0);
        CHECK(tested > 3000);
        hsi_split_free(s);
    }
    /* The GRSS DASE training mask: its classes map one-to-one onto the GT's. */
    int *map, n;
    CHECK_OK(hsi_mask_map_auto(ts, gt, &map, &n));
    int used[17] = {0}, distinct = 1;
    for (int k = 1; k < n; k++) {
        if (map[k] < 1 || map[k] > 16 || used[map[k]]) distinct = 0;
        else used[map[k]] = 1;
    }
    CHECK_MSG(distinct, "mask classes do not map one-to-one");
    o.strategy = HSI_SPLIT_MASK;
    o.mask = ts;
    o.mask_map = map;
    o.mask_map_n = n;
    CHECK_OK(hsi_split_make(gt, "Indian_pines_gt.mat", &o, &s));
    if (s) {
        /* Every mask pixel is a training pixel (the file holds 5689 nonzero
         * pixels; the data README says 5679), none is a test pixel. */
        size_t in_mask = 0;
        for (size_t i = 0; i < 145 * 145; i++) in_mask += ts->data[i] != 0;
        CHECK_INT_EQ(in_mask, 5689);
        CHECK_INT_EQ(s->counts[0].train, in_mask);
        printf("GRSS DASE mask -> GT classes:");
        for (int k = 1; k < n; k++) printf(" %d=%d", k, map[k]);
        printf("; %zu mask pixels disagree with the GT, %zu test pixels\n", s->mask_disagree,
               s->counts[0].test);
        hsi_split_free(s);
    }
    free(map);
    hsi_labels_free(gt);
    hsi_labels_free(ts);
}

int main(void)
{
    hsi_labels *truth = make_fields();
    if (!truth) return 99;
    test_random(truth);
    test_spatial(truth, HSI_SPLIT_BLOCKS, "blocks");
    test_spatial(truth, HSI_SPLIT_CLUSTERS, "clusters");
    test_leakage_hand();
    test_mask(truth);
    test_bad(truth);
    test_indian_pines();
    hsi_labels_free(truth);
    return check_finish();
}
