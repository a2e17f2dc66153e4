/* split.c - random, block, DBSCAN-cluster and mask splits; guard bands;
 * leakage. The rules are documented in split.h. */
#include "eval/split.h"
#include "features/patch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

/* Side of each pixel while a split is built. */
enum { SIDE_NONE = 0, SIDE_TRAIN, SIDE_VAL, SIDE_TEST, SIDE_UNUSED };

void hsi_split_options_init(hsi_split_options *o)
{
    memset(o, 0, sizeof *o);
    o->strategy = HSI_SPLIT_RANDOM;
    o->seed = 1;
    o->train_fraction = 0.1;
    o->small = HSI_SMALL_HALF;
    o->radius = 4;
    o->eps = 2.0;
    o->min_pts = 4;
}

hsi_status hsi_split_strategy_parse(const char *name, hsi_split_strategy *s)
{
    if (!strcmp(name, "random"))
        *s = HSI_SPLIT_RANDOM;
    else if (!strcmp(name, "blocks") || !strcmp(name, "block"))
        *s = HSI_SPLIT_BLOCKS;
    else if (!strcmp(name, "clusters") || !strcmp(name, "cluster") || !strcmp(name, "dbscan"))
        *s = HSI_SPLIT_CLUSTERS;
    else if (!strcmp(name, "mask"))
        *s = HSI_SPLIT_MASK;
    else
        return hsi_error(HSI_ERR_ARG,
                         "unknown split strategy '%s' (random, blocks, clusters, mask)", name);
    return HSI_OK;
}

hsi_status hsi_small_rule_parse(const char *name, hsi_small_class_rule *r)
{
    if (!strcmp(name, "half"))
        *r = HSI_SMALL_HALF;
    else if (!strcmp(name, "skip"))
        *r = HSI_SMALL_SKIP;
    else if (!strcmp(name, "error"))
        *r = HSI_SMALL_ERROR;
    else
        return hsi_error(HSI_ERR_ARG, "unknown small-class rule '%s' (half, skip, error)", name);
    return HSI_OK;
}

/* Pixels grouped by class: idx[off[k] .. off[k+1]) are the pixels of class
 * k in row-major order (k = 1..n; class 0 not listed). */
typedef struct class_lists {
    size_t *idx;
    size_t *off; /* [n + 2] */
} class_lists;

static hsi_status class_lists_make(const uint16_t *lab, size_t npx, int n, class_lists *cl)
{
    cl->off = calloc((size_t)n + 2, sizeof *cl->off);
    size_t labelled = 0;
    if (!cl->off) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < npx; i++)
        if (lab[i]) cl->off[lab[i] + 1]++, labelled++;
    for (int k = 1; k <= n; k++) cl->off[k + 1] += cl->off[k];
    cl->idx = malloc((labelled ? labelled : 1) * sizeof *cl->idx);
    size_t *fill = calloc((size_t)n + 2, sizeof *fill);
    if (!cl->idx || !fill) {
        free(fill);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < npx; i++)
        if (lab[i]) cl->idx[cl->off[lab[i]] + fill[lab[i]]++] = i;
    free(fill);
    return HSI_OK;
}

static void class_lists_free(class_lists *cl)
{
    free(cl->idx);
    free(cl->off);
}

/* Nearest integer to fraction * n (halves away from zero). */
static size_t share(double fraction, size_t n) { return (size_t)llround(fraction * (double)n); }

/* ----------------------------------------------------------------- random */

static hsi_status split_random(const hsi_labels *truth, const char *truth_name, int n,
                               const class_lists *cl, const hsi_split_options *o, hsi_rng *rng,
                               uint8_t *side)
{
    for (int k = 1; k <= n; k++) {
        size_t nk = cl->off[k + 1] - cl->off[k];
        if (nk == 0) continue;
        size_t *px = cl->idx + cl->off[k];
        size_t target = o->train_count ? o->train_count : share(o->train_fraction, nk);
        if (target < o->min_per_class) target = o->min_per_class;
        int small = nk < 2 * o->min_per_class || target >= nk;
        int skip = 0;
        if (small) {
            switch (o->small) {
            case HSI_SMALL_HALF: target = nk / 2; break;
            case HSI_SMALL_SKIP: skip = 1; break;
            case HSI_SMALL_ERROR:
                return hsi_error(HSI_ERR_DATA,
                                 "%s: class %d (%s) has %zu pixels, too few for %zu training "
                                 "pixels (minimum %zu per class) and a test set; choose the "
                                 "small-class rule half or skip",
                                 truth_name, k, truth->classes[k].name, nk, target,
                                 o->min_per_class);
            }
        }
        if (skip) {
            for (size_t i = 0; i < nk; i++) side[px[i]] = SIDE_UNUSED;
            continue;
        }
        hsi_rng_shuffle(rng, px, nk);
        for (size_t i = 0; i < nk; i++) side[px[i]] = i < target ? SIDE_TRAIN : SIDE_TEST;
    }
    return HSI_OK;
}

/* Change of the distance between the counts `have` and the targets `want`
 * when `add` joins the training side. The distance is the sum over classes
 * of |have - want| / want, so that a class of 20 pixels weighs as much as
 * one of 2000 when whole tiles or clusters are assigned. */
static double l1_change(const size_t *have, const size_t *add, const size_t *want, int n)
{
    double delta = 0;
    for (int k = 1; k <= n; k++) {
        if (!add[k]) continue;
        double h = (double)have[k], a = (double)add[k], w = (double)want[k];
        delta += (fabs(h + a - w) - fabs(h - w)) / (w > 1 ? w : 1);
    }
    return delta;
}

static int brings_closer(const size_t *have, const size_t *add, const size_t *want, int n)
{
    return l1_change(have, add, want, n) < 0;
}

/* ----------------------------------------------------------------- blocks */

/* Nonzero if taking a tile with counts tcnt for training leaves every class
 * it holds at least one pixel on the test side. */
static int leaves_test(const size_t *tcnt, const size_t *have, const class_lists *cl, int n)
{
    for (int m = 1; m <= n; m++)
        if (tcnt[m] && have[m] + tcnt[m] >= cl->off[m + 1] - cl->off[m]) return 0;
    return 1;
}

static hsi_status split_blocks(const hsi_labels *truth, int n, const class_lists *cl,
                               const hsi_split_options *o, hsi_rng *rng, uint8_t *side)
{
    size_t R = truth->rows, C = truth->cols;
    size_t bs = o->block_size;
    if (!bs) {
        bs = 2 * (2 * (size_t)o->radius + 1);
        if (bs < 16) bs = 16;
    }
    size_t tr = (R + bs - 1) / bs, tc = (C + bs - 1) / bs, nt = tr * tc, k1 = (size_t)n + 1;
    size_t *tile_counts = calloc(nt * k1, sizeof *tile_counts);
    size_t *order = malloc(nt * sizeof *order);
    size_t *want = calloc(k1, sizeof *want), *have = calloc(k1, sizeof *have);
    uint8_t *tile_side = calloc(nt, 1);
    if (!tile_counts || !order || !want || !have || !tile_side) {
        free(tile_counts), free(order), free(want), free(have), free(tile_side);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < R * C; i++)
        if (truth->data[i]) tile_counts[((i / C) / bs * tc + (i % C) / bs) * k1 + truth->data[i]]++;
    for (int k = 1; k <= n; k++) want[k] = share(o->train_fraction, cl->off[k + 1] - cl->off[k]);
    for (size_t t = 0; t < nt; t++) order[t] = t;
    hsi_rng_shuffle(rng, order, nt);
    /* Rarest class first: each class in turn takes tiles (in the shuffled
     * order) that hold it while that brings the training counts closer to
     * the targets, and at least one tile if it has no training pixel yet; a
     * tile that would leave some class without any test pixel is never
     * taken. Tiles not taken are test tiles. */
    int *by_size = malloc((size_t)n * sizeof *by_size);
    if (!by_size) {
        free(tile_counts), free(order), free(want), free(have), free(tile_side);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    for (int k = 1; k <= n; k++) by_size[k - 1] = k;
    for (int a = 1; a < n; a++) /* insertion sort by class size, stable */
        for (int b = a; b > 0; b--) {
            size_t sb = cl->off[by_size[b] + 1] - cl->off[by_size[b]];
            size_t sa = cl->off[by_size[b - 1] + 1] - cl->off[by_size[b - 1]];
            if (sb >= sa) break;
            int t = by_size[b];
            by_size[b] = by_size[b - 1];
            by_size[b - 1] = t;
        }
    for (int j = 0; j < n; j++) {
        int k = by_size[j];
        size_t total_k = cl->off[k + 1] - cl->off[k];
        if (!total_k) continue;
        /* No training pixel yet: take the eligible tile that moves the
         * counts least away from the targets (the smallest overshoot). */
        size_t best = nt;
        double best_delta = 0;
        for (size_t i = 0; i < nt && have[k] == 0; i++) {
            size_t t = order[i];
            const size_t *tcnt = tile_counts + t * k1;
            if (tile_side[t] || !tcnt[k] || !leaves_test(tcnt, have, cl, n)) continue;
            double d = l1_change(have, tcnt, want, n);
            if (best == nt || d < best_delta) best = t, best_delta = d;
        }
        if (best < nt) {
            tile_side[best] = SIDE_TRAIN;
            for (int m = 1; m <= n; m++) have[m] += tile_counts[best * k1 + m];
        }
        for (size_t i = 0; i < nt && have[k] < want[k]; i++) {
            size_t t = order[i];
            const size_t *tcnt = tile_counts + t * k1;
            if (tile_side[t] || !tcnt[k] || !leaves_test(tcnt, have, cl, n)) continue;
            if (l1_change(have, tcnt, want, n) < 0) {
                tile_side[t] = SIDE_TRAIN;
                for (int m = 1; m <= n; m++) have[m] += tcnt[m];
            }
        }
    }
    free(by_size);
    for (size_t t = 0; t < nt; t++)
        if (!tile_side[t]) tile_side[t] = SIDE_TEST;
    for (size_t i = 0; i < R * C; i++)
        if (truth->data[i]) side[i] = tile_side[(i / C) / bs * tc + (i % C) / bs];
    free(tile_counts), free(order), free(want), free(have), free(tile_side);
    return HSI_OK;
}

/* --------------------------------------------------------------- clusters */

/* Same-class pixels within eps (Euclidean, in pixels) of pixel p, p itself
 * included; written to nb (capacity enough for the window). */
static size_t neighbours(const hsi_labels *truth, size_t p, double eps, size_t *nb)
{
    size_t R = truth->rows, C = truth->cols;
    long w = (long)floor(eps), r = (long)(p / C), c = (long)(p % C);
    uint16_t k = truth->data[p];
    size_t m = 0;
    for (long dy = -w; dy <= w; dy++) {
        long y = r + dy;
        if (y < 0 || y >= (long)R) continue;
        for (long dx = -w; dx <= w; dx++) {
            long x = c + dx;
            if (x < 0 || x >= (long)C || (double)(dy * dy + dx * dx) > eps * eps) continue;
            size_t q = (size_t)y * C + (size_t)x;
            if (truth->data[q] == k) nb[m++] = q;
        }
    }
    return m;
}

#define UNVISITED (-1)
#define NOISE (-2)

static hsi_status split_clusters(const hsi_labels *truth, int n, const class_lists *cl,
                                 const hsi_split_options *o, hsi_rng *rng, uint8_t *side)
{
    size_t npx = truth->rows * truth->cols;
    long w = (long)floor(o->eps);
    size_t win = (size_t)(2 * w + 1) * (size_t)(2 * w + 1);
    long *cluster = malloc(npx * sizeof *cluster);
    size_t *nb = malloc(win * sizeof *nb), *queue = malloc((npx ? npx : 1) * sizeof *queue);
    size_t *size = NULL, *order = NULL;
    hsi_status st = HSI_OK;
    if (!cluster || !nb || !queue) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < npx; i++) cluster[i] = UNVISITED;
    for (int k = 1; k <= n; k++) {
        size_t nk = cl->off[k + 1] - cl->off[k];
        if (!nk) continue;
        const size_t *px = cl->idx + cl->off[k];
        /* DBSCAN (Ester et al. 1996) on this class's pixel coordinates. */
        long nclusters = 0;
        for (size_t i = 0; i < nk; i++) {
            size_t p = px[i];
            if (cluster[p] != UNVISITED) continue;
            if (neighbours(truth, p, o->eps, nb) < o->min_pts) {
                cluster[p] = NOISE; /* may still become a border point */
                continue;
            }
            long id = nclusters++;
            cluster[p] = id;
            size_t head = 0, tail = 0;
            queue[tail++] = p;
            while (head < tail) {
                size_t q = queue[head++];
                size_t m = neighbours(truth, q, o->eps, nb);
                if (m < o->min_pts) continue; /* border point: not expanded */
                for (size_t j = 0; j < m; j++) {
                    if (cluster[nb[j]] == UNVISITED) {
                        cluster[nb[j]] = id;
                        queue[tail++] = nb[j];
                    } else if (cluster[nb[j]] == NOISE) {
                        cluster[nb[j]] = id;
                    }
                }
            }
        }
        /* Noise points are clusters of one pixel. */
        for (size_t i = 0; i < nk; i++)
            if (cluster[px[i]] == NOISE) cluster[px[i]] = nclusters++;
        size = calloc((size_t)nclusters, sizeof *size);
        order = malloc((size_t)nclusters * sizeof *order);
        uint8_t *cside = calloc((size_t)nclusters, 1);
        if (!size || !order || !cside) {
            free(cside);
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nk; i++) size[cluster[px[i]]]++;
        for (long c = 0; c < nclusters; c++) order[c] = (size_t)c;
        hsi_rng_shuffle(rng, order, (size_t)nclusters);
        size_t want = share(o->train_fraction, nk), have = 0;
        for (long c = 0; c < nclusters; c++) {
            size_t s = size[order[c]];
            size_t add[2] = {0, s}, hv[2] = {0, have}, wt[2] = {0, want};
            if (brings_closer(hv, add, wt, 1)) {
                cside[order[c]] = SIDE_TRAIN;
                have += s;
            } else {
                cside[order[c]] = SIDE_TEST;
            }
        }
        for (size_t i = 0; i < nk; i++) side[px[i]] = cside[cluster[px[i]]];
        free(cside);
        free(size), size = NULL;
        free(order), order = NULL;
    }
done:
    free(cluster), free(nb), free(queue), free(size), free(order);
    return st;
}

/* ------------------------------------------------------------------- mask */

static hsi_status split_mask(const hsi_labels *truth, const char *truth_name, int n,
                             const hsi_split_options *o, uint16_t *train_label, uint8_t *side,
                             size_t *disagree, size_t *unlabelled)
{
    const hsi_labels *mask = o->mask;
    const char *mname = o->mask_name ? o->mask_name : "training mask";
    if (!mask) return hsi_error(HSI_ERR_ARG, "the mask strategy needs a training mask");
    hsi_status st = hsi_labels_check_size(mask, truth->rows, truth->cols, mname);
    if (st) return hsi_error_prefix(st, "does not match %s", truth_name);
    size_t npx = truth->rows * truth->cols;
    *disagree = *unlabelled = 0;
    for (size_t i = 0; i < npx; i++) {
        int m = mask->data[i];
        if (!m) {
            if (truth->data[i]) side[i] = SIDE_TEST;
            continue;
        }
        int t = m;
        if (o->mask_map) {
            if (m >= o->mask_map_n)
                return hsi_error(HSI_ERR_DATA,
                                 "%s: class %d (row %zu, column %zu) is not covered by the class "
                                 "map (mask classes 1..%d)",
                                 mname, m, i / truth->cols + 1, i % truth->cols + 1,
                                 o->mask_map_n - 1);
            t = o->mask_map[m];
        }
        if (t > n)
            return hsi_error(HSI_ERR_DATA,
                             "%s: class %d (row %zu, column %zu) maps to class %d, which is not in "
                             "the class table of %s (%d classes); give a class map",
                             mname, m, i / truth->cols + 1, i % truth->cols + 1, t, truth_name, n);
        side[i] = t ? SIDE_TRAIN : SIDE_NONE; /* a mask pixel is never a test pixel */
        train_label[i] = (uint16_t)t;
        if (t && truth->data[i] != t) (*disagree)++;
        if (t && !truth->data[i]) (*unlabelled)++;
    }
    return HSI_OK;
}

/* -------------------------------------------------------- guard, leakage */

/* Inclusive 2-D prefix sums of (in[i] != 0) over a rows x cols grid:
 * ps[(r+1)*(cols+1) + (c+1)] = count in [0..r] x [0..c]. */
static uint32_t *prefix_sums(size_t rows, size_t cols, int (*is_set)(const void *, size_t),
                             const void *ctx)
{
    size_t w = cols + 1;
    uint32_t *ps = calloc((rows + 1) * w, sizeof *ps);
    if (!ps) return NULL;
    for (size_t r = 0; r < rows; r++) {
        uint32_t run = 0;
        for (size_t c = 0; c < cols; c++) {
            run += is_set(ctx, r * cols + c) ? 1u : 0u;
            ps[(r + 1) * w + c + 1] = ps[r * w + c + 1] + run;
        }
    }
    return ps;
}

/* Count in the window of radius rad around (r, c), clipped to the grid. */
static uint32_t box_count(const uint32_t *ps, size_t rows, size_t cols, size_t r, size_t c,
                          size_t rad)
{
    size_t w = cols + 1;
    size_t r0 = r > rad ? r - rad : 0, c0 = c > rad ? c - rad : 0;
    size_t r1 = r + rad + 1 < rows ? r + rad + 1 : rows, c1 = c + rad + 1 < cols ? c + rad + 1 : cols;
    return ps[r1 * w + c1] - ps[r0 * w + c1] - ps[r1 * w + c0] + ps[r0 * w + c0];
}

static int side_is_training(const void *ctx, size_t i)
{
    uint8_t s = ((const uint8_t *)ctx)[i];
    return s == SIDE_TRAIN || s == SIDE_VAL;
}

/* Test pixels whose window holds a training or validation pixel -> unused. */
static hsi_status guard_band(size_t rows, size_t cols, int radius, uint8_t *side)
{
    uint32_t *ps = prefix_sums(rows, cols, side_is_training, side);
    if (!ps) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rows * cols; i++)
        if (side[i] == SIDE_TEST && box_count(ps, rows, cols, i / cols, i % cols, (size_t)radius))
            side[i] = SIDE_UNUSED;
    free(ps);
    return HSI_OK;
}

typedef struct two_rasters {
    const uint16_t *a, *b;
} two_rasters;

static int either_set(const void *ctx, size_t i)
{
    const two_rasters *t = ctx;
    return t->a[i] || (t->b && t->b[i]);
}

hsi_status hsi_split_leakage(const hsi_labels *train, const hsi_labels *val,
                             const hsi_labels *test, int radius, size_t *leaked, size_t *tested)
{
    *leaked = *tested = 0;
    hsi_status st;
    if ((st = hsi_labels_check_size(test, train->rows, train->cols, "test raster")) ||
        (val && (st = hsi_labels_check_size(val, train->rows, train->cols, "validation raster"))))
        return hsi_error_prefix(st, "split rasters differ in size");
    if ((st = hsi_patch_check_radius(train->rows, train->cols, radius))) return st;
    two_rasters tr = {train->data, val ? val->data : NULL};
    uint32_t *ps = prefix_sums(train->rows, train->cols, either_set, &tr);
    if (!ps) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t C = train->cols;
    for (size_t i = 0; i < train->rows * C; i++) {
        if (!test->data[i]) continue;
        (*tested)++;
        if (box_count(ps, train->rows, C, i / C, i % C, (size_t)radius)) (*leaked)++;
    }
    free(ps);
    return HSI_OK;
}

/* -------------------------------------------------------------- the split */

static hsi_status split_alloc(const hsi_labels *like, int n, int with_val, hsi_split **out)
{
    hsi_split *s = calloc(1, sizeof *s);
    if (!s) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    s->n_classes = n;
    s->counts = calloc((size_t)n + 1, sizeof *s->counts);
    hsi_status st = s->counts ? HSI_OK : hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st) st = hsi_labels_new_like(like, &s->train);
    if (!st) st = hsi_labels_new_like(like, &s->test);
    if (!st && with_val) st = hsi_labels_new_like(like, &s->val);
    if (!st && like->n_classes < n) {
        st = hsi_labels_set_class_count(s->train, n);
        if (!st) st = hsi_labels_set_class_count(s->test, n);
        if (!st && s->val) st = hsi_labels_set_class_count(s->val, n);
    }
    if (st) {
        hsi_split_free(s);
        return st;
    }
    *out = s;
    return HSI_OK;
}

void hsi_split_free(hsi_split *s)
{
    if (!s) return;
    hsi_labels_free(s->train);
    hsi_labels_free(s->test);
    hsi_labels_free(s->val);
    free(s->counts);
    free(s);
}

static hsi_status check_options(const hsi_labels *truth, const hsi_split_options *o)
{
    if (o->strategy != HSI_SPLIT_MASK && !(o->strategy == HSI_SPLIT_RANDOM && o->train_count) &&
        !(o->train_fraction > 0 && o->train_fraction < 1))
        return hsi_error(HSI_ERR_ARG, "training fraction %g is not strictly between 0 and 1",
                         o->train_fraction);
    if (o->train_count && o->strategy != HSI_SPLIT_RANDOM)
        return hsi_error(HSI_ERR_ARG, "a training count per class applies to random splits only");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return hsi_error(HSI_ERR_ARG, "validation fraction %g is not in [0, 1)", o->val_fraction);
    if (o->strategy == HSI_SPLIT_BLOCKS || o->strategy == HSI_SPLIT_CLUSTERS) {
        hsi_status st = hsi_patch_check_radius(truth->rows, truth->cols, o->radius);
        if (st) return st;
    }
    if (o->strategy == HSI_SPLIT_CLUSTERS && !(o->eps >= 1 && o->eps <= 64))
        return hsi_error(HSI_ERR_ARG, "DBSCAN eps %g is not in 1..64 pixels", o->eps);
    if (o->strategy == HSI_SPLIT_CLUSTERS && o->min_pts < 1)
        return hsi_error(HSI_ERR_ARG, "DBSCAN min_pts must be at least 1");
    return HSI_OK;
}

hsi_status hsi_split_make(const hsi_labels *truth, const char *truth_name,
                          const hsi_split_options *o, hsi_split **out)
{
    *out = NULL;
    if (!truth_name) truth_name = "ground truth";
    hsi_status st = check_options(truth, o);
    if (st) return st;
    size_t npx = truth->rows * truth->cols;
    int n = hsi_labels_max(truth);
    if (n == 0)
        return hsi_error(HSI_ERR_DATA, "%s: no labelled pixels (every pixel is 0): nothing to split",
                         truth_name);
    if (n < truth->n_classes) n = truth->n_classes;

    uint8_t *side = calloc(npx, 1);
    uint16_t *label = malloc(npx * sizeof *label);
    class_lists cl = {NULL, NULL};
    hsi_split *s = NULL;
    if (!side || !label) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(label, truth->data, npx * sizeof *label);
    if ((st = class_lists_make(truth->data, npx, n, &cl))) goto fail;
    hsi_rng rng;
    hsi_rng_seed(&rng, o->seed);
    size_t disagree = 0, mask_unlabelled = 0;
    switch (o->strategy) {
    case HSI_SPLIT_RANDOM: st = split_random(truth, truth_name, n, &cl, o, &rng, side); break;
    case HSI_SPLIT_BLOCKS: st = split_blocks(truth, n, &cl, o, &rng, side); break;
    case HSI_SPLIT_CLUSTERS: st = split_clusters(truth, n, &cl, o, &rng, side); break;
    case HSI_SPLIT_MASK: st = split_mask(truth, truth_name, n, o, label, side, &disagree,
                                            &mask_unlabelled); break;
    default: st = hsi_error(HSI_ERR_ARG, "unknown split strategy %d", (int)o->strategy);
    }
    if (st) goto fail;

    /* Validation: a random share of each class's training pixels. */
    if (o->val_fraction > 0) {
        class_lists tl = {NULL, NULL};
        uint16_t *tlab = calloc(npx, sizeof *tlab);
        if (!tlab) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < npx; i++)
            if (side[i] == SIDE_TRAIN) tlab[i] = label[i];
        st = class_lists_make(tlab, npx, n, &tl);
        free(tlab);
        if (st) goto fail;
        for (int k = 1; k <= n; k++) {
            size_t nk = tl.off[k + 1] - tl.off[k];
            size_t nv = share(o->val_fraction, nk);
            hsi_rng_shuffle(&rng, tl.idx + tl.off[k], nk);
            for (size_t i = 0; i < nv; i++) side[tl.idx[tl.off[k] + i]] = SIDE_VAL;
        }
        class_lists_free(&tl);
    }
    if ((o->strategy == HSI_SPLIT_BLOCKS || o->strategy == HSI_SPLIT_CLUSTERS) &&
        (st = guard_band(truth->rows, truth->cols, o->radius, side)))
        goto fail;

    if ((st = split_alloc(truth, n, o->val_fraction > 0, &s))) goto fail;
    s->mask_disagree = disagree;
    s->mask_unlabelled = mask_unlabelled;
    for (size_t i = 0; i < npx; i++) {
        int k = label[i];
        if (!k || side[i] == SIDE_NONE) continue;
        hsi_split_counts *c = &s->counts[k];
        c->total++;
        switch (side[i]) {
        case SIDE_TRAIN: s->train->data[i] = (uint16_t)k, c->train++; break;
        case SIDE_VAL: s->val->data[i] = (uint16_t)k, c->val++; break;
        case SIDE_TEST: s->test->data[i] = (uint16_t)k, c->test++; break;
        default: c->unused++; break;
        }
    }
    for (int k = 1; k <= n; k++) {
        s->counts[0].total += s->counts[k].total;
        s->counts[0].train += s->counts[k].train;
        s->counts[0].val += s->counts[k].val;
        s->counts[0].test += s->counts[k].test;
        s->counts[0].unused += s->counts[k].unused;
    }
    if (s->counts[0].train == 0) {
        st = hsi_error(HSI_ERR_DATA, "%s: the split has no training pixels", truth_name);
        goto fail;
    }
    if (s->counts[0].test == 0) {
        st = hsi_error(HSI_ERR_DATA,
                       "%s: the split has no test pixels (the guard band or the class rules "
                       "left none)",
                       truth_name);
        goto fail;
    }
    free(side);
    free(label);
    class_lists_free(&cl);
    *out = s;
    return HSI_OK;
fail:
    hsi_split_free(s);
    free(side);
    free(label);
    class_lists_free(&cl);
    return st;
}

hsi_status hsi_split_count(const hsi_labels *train, const hsi_labels *val,
                           const hsi_labels *test, hsi_split **out)
{
    *out = NULL;
    hsi_status st;
    if ((st = hsi_labels_check_size(test, train->rows, train->cols, "test raster")) ||
        (val && (st = hsi_labels_check_size(val, train->rows, train->cols, "validation raster"))))
        return hsi_error_prefix(st, "split rasters differ in size");
    int n = hsi_labels_max(train), m = hsi_labels_max(test);
    if (m > n) n = m;
    if (val && hsi_labels_max(val) > n) n = hsi_labels_max(val);
    if (train->n_classes > n) n = train->n_classes;
    hsi_split *s = calloc(1, sizeof *s);
    if (!s || !(s->counts = calloc((size_t)n + 1, sizeof *s->counts))) {
        free(s);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    s->n_classes = n;
    for (size_t i = 0; i < train->rows * train->cols; i++) {
        if (train->data[i]) s->counts[train->data[i]].train++, s->counts[train->data[i]].total++;
        if (val && val->data[i]) s->counts[val->data[i]].val++, s->counts[val->data[i]].total++;
        if (test->data[i]) s->counts[test->data[i]].test++, s->counts[test->data[i]].total++;
    }
    for (int k = 1; k <= n; k++) {
        s->counts[0].total += s->counts[k].total;
        s->counts[0].train += s->counts[k].train;
        s->counts[0].val += s->counts[k].val;
        s->counts[0].test += s->counts[k].test;
    }
    *out = s;
    return HSI_OK;
}

hsi_status hsi_split_table_write(const hsi_split *s, const hsi_class_info *classes, int csv,
                                 FILE *fp)
{
    int n = s->n_classes;
    if (csv) {
        fputs("class,name,total,train,val,test,unused\n", fp);
        for (int k = 0; k <= n; k++) {
            const hsi_split_counts *c = &s->counts[k];
            if (k)
                fprintf(fp, "%d,", k);
            else
                fputs("total,", fp);
            const char *name = k ? classes[k].name : "";
            if (strpbrk(name, ",\"\n")) {
                fputc('"', fp);
                for (const char *p = name; *p; p++) {
                    if (*p == '"') fputc('"', fp);
                    fputc(*p, fp);
                }
                fputc('"', fp);
            } else {
                fputs(name, fp);
            }
            fprintf(fp, ",%zu,%zu,%zu,%zu,%zu\n", c->total, c->train, c->val, c->test, c->unused);
        }
    } else {
        int w = 5;
        for (int k = 1; k <= n; k++)
            if ((int)strlen(classes[k].name) > w) w = (int)strlen(classes[k].name);
        fprintf(fp, "%3s  %-*s %7s %7s %7s %7s %7s %7s\n", "ID", w, "Class", "Total", "Train",
                "Val", "Test", "Unused", "Train%");
        for (int k = 1; k <= n + 1; k++) {
            int row = k <= n ? k : 0;
            const hsi_split_counts *c = &s->counts[row];
            if (row)
                fprintf(fp, "%3d  %-*s", k, w, classes[k].name);
            else
                fprintf(fp, "%3s  %-*s", "", w, "Total");
            char pct[16] = "-";
            if (c->total) snprintf(pct, sizeof pct, "%.2f", 100.0 * (double)c->train / (double)c->total);
            fprintf(fp, " %7zu %7zu %7zu %7zu %7zu %7s\n", c->total, c->train, c->val, c->test,
                    c->unused, pct);
        }
    }
    if (ferror(fp)) return hsi_error(HSI_ERR_IO, "writing the split table failed");
    return HSI_OK;
}

/* ---------------------------------------------------------- mask classes */

hsi_status hsi_mask_map_parse(const char *spec, int **map, int *n)
{
    *map = NULL;
    *n = 0;
    int cap = 1;
    /* First pass: largest mask class. */
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long from = strtol(p, &end, 10);
        if (end == p || *end != '=' || from < 1 || from > 65535) goto bad;
        p = end + 1;
        long to = strtol(p, &end, 10);
        if (end == p || to < 0 || to > 65535 || (*end && *end != ',')) goto bad;
        if (from + 1 > cap) cap = (int)from + 1;
        p = *end ? end + 1 : end;
    }
    if (cap == 1) goto bad;
    int *m = calloc((size_t)cap, sizeof *m);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (p = spec; *p;) {
        char *end;
        long from = strtol(p, &end, 10);
        long to = strtol(end + 1, &end, 10);
        m[from] = (int)to;
        p = *end ? end + 1 : end;
    }
    *map = m;
    *n = cap;
    return HSI_OK;
bad:
    return hsi_error(HSI_ERR_ARG,
                     "class map '%s' is not a list of MASK=TRUTH pairs such as 1=2,2=3", spec);
}

hsi_status hsi_mask_map_auto(const hsi_labels *mask, const hsi_labels *truth, int **map, int *n)
{
    *map = NULL;
    *n = 0;
    hsi_status st = hsi_labels_check_size(mask, truth->rows, truth->cols, "training mask");
    if (st) return st;
    int mm = hsi_labels_max(mask), tm = hsi_labels_max(truth);
    size_t *votes = calloc((size_t)(mm + 1) * (size_t)(tm + 1), sizeof *votes);
    int *m = calloc((size_t)mm + 1, sizeof *m);
    if (!votes || !m) {
        free(votes), free(m);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < mask->rows * mask->cols; i++)
        if (mask->data[i] && truth->data[i])
            votes[(size_t)mask->data[i] * (size_t)(tm + 1) + truth->data[i]]++;
    for (int a = 1; a <= mm; a++) {
        size_t best = 0;
        for (int t = 1; t <= tm; t++)
            if (votes[(size_t)a * (size_t)(tm + 1) + t] > best)
                best = votes[(size_t)a * (size_t)(tm + 1) + t], m[a] = t;
    }
    free(votes);
    *map = m;
    *n = mm + 1;
    return HSI_OK;
}
