/* test_features_trees.c - max-tree, min-tree and tree of shapes against brute
 * force on small random images, attributes against direct computation, and
 * the algebraic properties of attribute filters.
 *
 * Brute force works on images of at most 64 pixels, so a pixel set is a
 * uint64_t bit mask:
 *   max-tree nodes  == connected components of [u >= t] for every level t
 *   min-tree nodes  == connected components of [u <= t]
 *   tree of shapes  == Sat(CC([U > t])) and Sat(CC([U < t])) for every real t,
 *     where U is the padded image (one pixel of the median border value)
 *     immersed in the Khalimsky grid with span intervals, [U > t] = faces
 *     whose whole interval is above t (an open set), CC uses the 4-adjacency
 *     of the Khalimsky grid, Sat fills every hole not connected to the
 *     outer border, and the shapes are restricted to the original pixels.
 * Each side is checked to hold exactly the other's sets.
 */
#include <stdint.h>

#include "base/rng.h"
#include "features/tree.h"
#include "tests/check.h"

#define MAXPIX 64

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int add_unique(uint64_t *sets, int n, uint64_t s)
{
    for (int i = 0; i < n; i++)
        if (sets[i] == s) return n;
    sets[n] = s;
    return n + 1;
}

/* Components of the pixels with in[p] != 0 on an R x C grid. */
static int components(const uint8_t *in, int R, int C, int conn, uint64_t *out)
{
    static const int dy[8] = {-1, 0, 0, 1, -1, -1, 1, 1}, dx[8] = {0, -1, 1, 0, -1, 1, -1, 1};
    uint8_t seen[MAXPIX] = {0};
    int stack[MAXPIX], n = 0;
    for (int s = 0; s < R * C; s++) {
        if (!in[s] || seen[s]) continue;
        uint64_t mask = 0;
        int top = 0;
        stack[top++] = s;
        seen[s] = 1;
        while (top) {
            int p = stack[--top];
            mask |= (uint64_t)1 << p;
            for (int k = 0; k < conn; k++) {
                int y = p / C + dy[k], x = p % C + dx[k];
                if (y < 0 || y >= R || x < 0 || x >= C) continue;
                int q = y * C + x;
                if (in[q] && !seen[q]) {
                    seen[q] = 1;
                    stack[top++] = q;
                }
            }
        }
        out[n++] = mask;
    }
    return n;
}

/* Max-tree (upper = 1) or min-tree node sets by brute force. */
static int brute_component_tree(const float *u, int R, int C, int conn, int upper,
                                uint64_t *sets)
{
    int n = 0;
    for (int t = 0; t < R * C; t++) {
        uint8_t in[MAXPIX];
        for (int p = 0; p < R * C; p++) in[p] = upper ? u[p] >= u[t] : u[p] <= u[t];
        uint64_t comp[MAXPIX];
        int nc = components(in, R, C, conn, comp);
        for (int i = 0; i < nc; i++) n = add_unique(sets, n, comp[i]);
    }
    return n;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Tree of shapes node sets by brute force, for a well-composed image (no
 * 2 x 2 block whose diagonals are strictly separated, so 4- and 8-connected
 * components agree and the Khalimsky interpolation has no saddle to
 * resolve): on the image padded with one pixel of the median border value m,
 * the shapes are the components of [u >= t] and [u <= t] for every level t,
 * with every hole not connected to the outer frame filled, restricted to the
 * original pixels (the whole image is the root). */
#define PMAX 100
static int brute_shapes(const float *u, int R, int C, uint64_t *sets)
{
    int PH = R + 2, PW = C + 2, np = PH * PW;
    float border[MAXPIX], pv[PMAX];
    int nb = 0;
    for (int y = 0; y < R; y++)
        for (int x = 0; x < C; x++)
            if (y == 0 || x == 0 || y == R - 1 || x == C - 1) border[nb++] = u[y * C + x];
    qsort(border, nb, sizeof *border, compare_float);
    float m = (nb & 1) ? border[nb / 2] : 0.5f * border[nb / 2 - 1] + 0.5f * border[nb / 2];
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++)
            pv[y * PW + x] = (y == 0 || x == 0 || y == PH - 1 || x == PW - 1)
                                 ? m
                                 : u[(y - 1) * C + (x - 1)];
    int n = 0;
    sets[n++] = R * C == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (R * C)) - 1);
    for (int t = 0; t < np; t++)
        for (int upper = 0; upper <= 1; upper++) {
            uint8_t in[PMAX], seen[PMAX] = {0};
            for (int p = 0; p < np; p++) in[p] = upper ? pv[p] >= pv[t] : pv[p] <= pv[t];
            for (int s = 0; s < np; s++) {
                if (!in[s] || seen[s]) continue;
                uint8_t comp[PMAX] = {0}, out[PMAX] = {0};
                int stack[PMAX], top = 0;
                stack[top++] = s;
                seen[s] = comp[s] = 1;
                while (top) { /* the 4-connected component of s */
                    int p = stack[--top], y = p / PW, x = p % PW;
                    int nbr[4] = {y > 0 ? p - PW : -1, x > 0 ? p - 1 : -1,
                                  x + 1 < PW ? p + 1 : -1, y + 1 < PH ? p + PW : -1};
                    for (int k = 0; k < 4; k++)
                        if (nbr[k] >= 0 && in[nbr[k]] && !seen[nbr[k]]) {
                            seen[nbr[k]] = comp[nbr[k]] = 1;
                            stack[top++] = nbr[k];
                        }
                }
                if (!comp[0]) { /* the outside: what the frame corner reaches */
                    top = 0;
                    stack[top++] = 0;
                    out[0] = 1;
                    while (top) {
                        int p = stack[--top], y = p / PW, x = p % PW;
                        int nbr[4] = {y > 0 ? p - PW : -1, x > 0 ? p - 1 : -1,
                                      x + 1 < PW ? p + 1 : -1, y + 1 < PH ? p + PW : -1};
                        for (int k = 0; k < 4; k++)
                            if (nbr[k] >= 0 && !comp[nbr[k]] && !out[nbr[k]]) {
                                out[nbr[k]] = 1;
                                stack[top++] = nbr[k];
                            }
                    }
                }
                uint64_t mask = 0;
                for (int y = 0; y < R; y++)
                    for (int x = 0; x < C; x++)
                        if (!out[(y + 1) * PW + x + 1]) mask |= (uint64_t)1 << (y * C + x);
                if (mask) n = add_unique(sets, n, mask);
            }
        }
    return n;
}

/* A random well-composed image: each pixel drawn at random, redrawn while it
 * closes a saddle block with its three upper-left neighbours, and finally set
 * to its upper-right neighbour's value (which never makes a saddle). */
static int is_saddle(float a, float b, float c, float d) /* block a b / c d */
{
    return fminf(a, d) > fmaxf(b, c) || fminf(b, c) > fmaxf(a, d);
}

static void random_well_composed(hsi_rng *rng, float *u, int R, int C, int grey)
{
    for (int y = 0; y < R; y++)
        for (int x = 0; x < C; x++) {
            float *v = u + y * C + x;
            for (int tries = 0;; tries++) {
                *v = grey ? (float)hsi_rng_below(rng, (uint64_t)grey)
                          : (float)(hsi_rng_uniform(rng) * 100 - 50);
                if (y == 0 || x == 0 || !is_saddle(v[-C - 1], v[-C], v[-1], v[0])) break;
                if (tries == 4) {
                    *v = v[-C];
                    break;
                }
            }
        }
}

/* Pixel set of every node (subtree of pixel_node). */
static void node_masks(const hsi_tree *t, uint64_t *masks)
{
    memset(masks, 0, t->n_nodes * sizeof *masks);
    for (size_t p = 0; p < t->rows * t->cols; p++) masks[t->pixel_node[p]] |= (uint64_t)1 << p;
    for (size_t i = t->n_nodes; i-- > 1;) masks[t->parent[i]] |= masks[i];
}

/* Structure every tree must have. */
static void check_structure(const hsi_tree *t, const float *u)
{
    CHECK(t->n_nodes >= 1 && t->parent[0] == 0);
    int ok = 1;
    for (size_t i = 1; i < t->n_nodes; i++) ok &= t->parent[i] < i;
    CHECK_MSG(ok, "parent[i] < i for every non-root node");
    ok = 1;
    for (size_t p = 0; p < t->rows * t->cols; p++)
        ok &= t->pixel_node[p] < t->n_nodes && t->level[t->pixel_node[p]] == u[p];
    CHECK_MSG(ok, "every pixel sits in a node at its own level");
    /* every node owns a pixel, except possibly the tree of shapes' root */
    uint8_t *owns = calloc(t->n_nodes, 1);
    for (size_t p = 0; p < t->rows * t->cols; p++) owns[t->pixel_node[p]] = 1;
    ok = 1;
    for (size_t i = t->kind == HSI_TREE_SHAPES ? 1 : 0; i < t->n_nodes; i++) ok &= owns[i];
    CHECK_MSG(ok, "every node owns at least one pixel");
    free(owns);
}

static void random_image(hsi_rng *rng, float *u, int n, int grey_levels)
{
    for (int p = 0; p < n; p++)
        u[p] = grey_levels ? (float)hsi_rng_below(rng, (uint64_t)grey_levels)
                           : (float)(hsi_rng_uniform(rng) * 100 - 50);
}

static void test_against_brute_force(void)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 2026);
    int failures[3] = {0, 0, 0};
    for (int iter = 0; iter < 600; iter++) {
        int R = 1 + (int)hsi_rng_below(&rng, 8), C = 1 + (int)hsi_rng_below(&rng, 8);
        int grey = iter % 5 == 4 ? 0 : 2 + iter % 4; /* 2..5 levels, or distinct floats */
        float u[MAXPIX], wc[MAXPIX];
        random_image(&rng, u, R * C, grey);
        random_well_composed(&rng, wc, R, C, grey);
        for (int kind = 0; kind < 3; kind++)
            for (int conn = 4; conn <= (kind == 2 ? 4 : 8); conn += 4) {
                if (kind == 2) memcpy(u, wc, sizeof wc);
                hsi_tree_options opt = {.connectivity = conn};
                hsi_tree *t = NULL;
                CHECK_OK(hsi_tree_build(u, R, C, (hsi_tree_kind)kind, &opt, &t));
                if (!t) continue;
                check_structure(t, u);
                uint64_t want[4 * MAXPIX + 2], got[4 * MAXPIX + 2];
                int nw = kind == 2 ? brute_shapes(u, R, C, want)
                                   : brute_component_tree(u, R, C, conn, kind == 0, want);
                node_masks(t, got);
                int ng = (int)t->n_nodes;
                qsort(want, nw, sizeof *want, cmp_u64);
                qsort(got, ng, sizeof *got, cmp_u64);
                int same = nw == ng && !memcmp(want, got, nw * sizeof *want);
                if (!same && failures[kind]++ < 3) {
                    fprintf(stderr, "%s-tree c%d of %dx%d image differs: %d nodes, brute force %d\n",
                            hsi_tree_kind_name(t->kind), conn, R, C, ng, nw);
                    for (int p = 0; p < R * C; p++)
                        fprintf(stderr, "%g%c", u[p], p % C == C - 1 ? '\n' : ' ');
                }
                CHECK(same);
                /* levels: a component's level is its min (max-tree) / max (min-tree) */
                if (kind != 2) {
                    node_masks(t, got);
                    int ok = 1;
                    for (size_t i = 0; i < t->n_nodes; i++) {
                        float ext = kind == 0 ? INFINITY : -INFINITY;
                        for (int p = 0; p < R * C; p++)
                            if (got[i] >> p & 1) ext = kind == 0 ? fminf(ext, u[p]) : fmaxf(ext, u[p]);
                        ok &= ext == t->level[i];
                    }
                    CHECK_MSG(ok, "node levels are the extreme of their pixels");
                }
                hsi_tree_free(t);
            }
    }
}

/* The tree of shapes of any image (saddles included): -u has the same
 * shapes with negated levels, and the shapes are nested (a tree). */
static void test_shapes_self_dual(void)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 31);
    int bad = 0;
    for (int iter = 0; iter < 300; iter++) {
        int R = 1 + (int)hsi_rng_below(&rng, 8), C = 1 + (int)hsi_rng_below(&rng, 8);
        float u[MAXPIX], neg[MAXPIX];
        random_image(&rng, u, R * C, iter % 5 == 4 ? 0 : 2 + iter % 4);
        for (int p = 0; p < R * C; p++) neg[p] = -u[p];
        hsi_tree *a = NULL, *b = NULL;
        CHECK_OK(hsi_tree_build(u, R, C, HSI_TREE_SHAPES, NULL, &a));
        CHECK_OK(hsi_tree_build(neg, R, C, HSI_TREE_SHAPES, NULL, &b));
        if (!a || !b) continue;
        check_structure(a, u);
        check_structure(b, neg);
        uint64_t ma[MAXPIX + 1], mb[MAXPIX + 1];
        node_masks(a, ma);
        node_masks(b, mb);
        int ok = a->n_nodes == b->n_nodes;
        for (size_t i = 0; ok && i < a->n_nodes; i++) {
            size_t j = 0;
            while (j < b->n_nodes && mb[j] != ma[i]) j++;
            ok &= j < b->n_nodes && b->level[j] == -a->level[i];
            for (size_t k = 0; k < a->n_nodes; k++) /* nested or disjoint */
                ok &= !(ma[i] & ma[k]) || (ma[i] & ma[k]) == ma[i] || (ma[i] & ma[k]) == ma[k];
            ok &= (ma[a->parent[i]] & ma[i]) == ma[i] && (i == 0 || ma[a->parent[i]] != ma[i]);
        }
        if (!ok) bad++;
        hsi_tree_free(a);
        hsi_tree_free(b);
    }
    CHECK_MSG(bad == 0, "%d trees of shapes not self-dual or not nested", bad);
}

static void test_attributes(void)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    int bad[HSI_ATTR_COUNT] = {0};
    for (int iter = 0; iter < 200; iter++) {
        int R = 1 + (int)hsi_rng_below(&rng, 8), C = 1 + (int)hsi_rng_below(&rng, 8);
        float u[MAXPIX];
        random_image(&rng, u, R * C, iter % 2 ? 4 : 0);
        for (int kind = 0; kind < 3; kind++) {
            hsi_tree *t = NULL;
            CHECK_OK(hsi_tree_build(u, R, C, (hsi_tree_kind)kind, NULL, &t));
            if (!t) continue;
            uint64_t masks[MAXPIX + 1];
            node_masks(t, masks);
            double *got = malloc(t->n_nodes * sizeof *got);
            for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                CHECK_OK(hsi_tree_attribute(t, u, (hsi_attribute)a, got));
                for (size_t i = 0; i < t->n_nodes; i++) {
                    double n = 0, sy = 0, sx = 0, sv = 0;
                    int y0 = R, y1 = -1, x0 = C, x1 = -1;
                    for (int p = 0; p < R * C; p++)
                        if (masks[i] >> p & 1) {
                            int y = p / C, x = p % C;
                            n++, sy += y, sx += x, sv += u[p];
                            y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                        }
                    double mu = 0, var = 0;
                    for (int p = 0; p < R * C; p++)
                        if (masks[i] >> p & 1) {
                            double dy = p / C - sy / n, dx = p % C - sx / n, dv = u[p] - sv / n;
                            mu += dy * dy + dx * dx;
                            var += dv * dv;
                        }
                    double want = a == HSI_ATTR_AREA       ? n
                                  : a == HSI_ATTR_DIAGONAL ? hypot(y1 - y0 + 1, x1 - x0 + 1)
                                  : a == HSI_ATTR_INERTIA  ? mu / (n * n)
                                                           : sqrt(var / n);
                    if (fabs(got[i] - want) > 1e-9 * (1 + fabs(want)) && bad[a]++ < 3)
                        fprintf(stderr, "%s of %s-tree node %zu: %.12g, brute force %.12g\n",
                                hsi_attribute_name((hsi_attribute)a),
                                hsi_tree_kind_name(t->kind), i, got[i], want);
                }
            }
            free(got);
            hsi_tree_free(t);
        }
    }
    for (int a = 0; a < HSI_ATTR_COUNT; a++)
        CHECK_MSG(bad[a] == 0, "%s: %d nodes differ from brute force",
                  hsi_attribute_name((hsi_attribute)a), bad[a]);
}

/* Area opening by brute force: the highest t at which p's component of
 * [u >= t] has at least `area` pixels. */
static void brute_area_opening(const float *u, int R, int C, int conn, double area, float *out)
{
    for (int p = 0; p < R * C; p++) out[p] = -INFINITY;
    for (int t = 0; t < R * C; t++) {
        uint8_t in[MAXPIX];
        for (int p = 0; p < R * C; p++) in[p] = u[p] >= u[t];
        uint64_t comp[MAXPIX];
        int nc = components(in, R, C, conn, comp);
        for (int i = 0; i < nc; i++)
            if (__builtin_popcountll(comp[i]) >= area)
                for (int p = 0; p < R * C; p++)
                    if (comp[i] >> p & 1 && u[t] > out[p]) out[p] = u[t];
    }
    float lo = u[0];
    for (int p = 0; p < R * C; p++) lo = u[p] < lo ? u[p] : lo;
    for (int p = 0; p < R * C; p++)
        if (out[p] == -INFINITY) out[p] = lo;
}

static hsi_status filter_image(const float *u, size_t R, size_t C, hsi_tree_kind kind,
                               hsi_attribute a, double thr, hsi_filter_rule rule, float *out)
{
    hsi_tree *t = NULL;
    hsi_status st = hsi_tree_build(u, R, C, kind, NULL, &t);
    if (st) return st;
    double *attr = malloc(t->n_nodes * sizeof *attr);
    st = hsi_tree_attribute(t, u, a, attr);
    if (!st) st = hsi_tree_filter(t, attr, thr, rule, out);
    free(attr);
    hsi_tree_free(t);
    return st;
}

static void test_filters(void)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 99);
    /* area opening equals brute force, small images */
    for (int iter = 0; iter < 200; iter++) {
        int R = 1 + (int)hsi_rng_below(&rng, 8), C = 1 + (int)hsi_rng_below(&rng, 8);
        float u[MAXPIX], got[MAXPIX], want[MAXPIX];
        random_image(&rng, u, R * C, 2 + iter % 5);
        double area = 1 + (double)hsi_rng_below(&rng, 10);
        CHECK_OK(filter_image(u, R, C, HSI_TREE_MAX, HSI_ATTR_AREA, area, HSI_RULE_DIRECT, got));
        brute_area_opening(u, R, C, 4, area, want);
        CHECK(!memcmp(got, want, R * C * sizeof *got));
    }
    /* larger images: properties */
    enum { R = 37, C = 45, N = R * C };
    static float u[N], neg[N], a1[N], a2[N], b1[N], b2[N], c1[N];
    for (int iter = 0; iter < 12; iter++) {
        int grey = iter % 3 == 2 ? 0 : 3 + 20 * (iter % 3);
        random_image(&rng, u, N, grey);
        for (int p = 0; p < N; p++) neg[p] = -u[p];
        double area = 2 + (double)hsi_rng_below(&rng, 40);
        for (int rule = 0; rule <= HSI_RULE_SUBTRACTIVE; rule++) {
            /* area: thinning anti-extensive, thickening extensive, all idempotent */
            CHECK_OK(filter_image(u, R, C, HSI_TREE_MAX, HSI_ATTR_AREA, area, rule, a1));
            CHECK_OK(filter_image(a1, R, C, HSI_TREE_MAX, HSI_ATTR_AREA, area, rule, a2));
            CHECK_OK(filter_image(u, R, C, HSI_TREE_MIN, HSI_ATTR_AREA, area, rule, b1));
            CHECK_OK(filter_image(b1, R, C, HSI_TREE_MIN, HSI_ATTR_AREA, area, rule, b2));
            CHECK_OK(filter_image(u, R, C, HSI_TREE_SHAPES, HSI_ATTR_AREA, area, rule, c1));
            int anti = 1, ext = 1;
            for (int p = 0; p < N; p++) anti &= a1[p] <= u[p], ext &= b1[p] >= u[p];
            CHECK_MSG(anti, "area thinning is anti-extensive");
            CHECK_MSG(ext, "area thickening is extensive");
            CHECK_MSG(!memcmp(a1, a2, sizeof a1), "area thinning is idempotent (rule %d)", rule);
            CHECK_MSG(!memcmp(b1, b2, sizeof b1), "area thickening is idempotent (rule %d)", rule);
            CHECK_OK(filter_image(c1, R, C, HSI_TREE_SHAPES, HSI_ATTR_AREA, area, rule, a2));
            CHECK_MSG(!memcmp(c1, a2, sizeof c1), "area grain filter is idempotent (rule %d)", rule);
            /* duality: thinning of -u is -(thickening of u); SDAP is self-dual */
            CHECK_OK(filter_image(neg, R, C, HSI_TREE_MAX, HSI_ATTR_AREA, area, rule, a2));
            int dual = 1;
            for (int p = 0; p < N; p++) dual &= a2[p] == -b1[p];
            CHECK_MSG(dual, "thinning(-u) = -thickening(u)");
            for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                double thr = a == HSI_ATTR_AREA ? area : a == HSI_ATTR_DIAGONAL ? 5 : a == HSI_ATTR_INERTIA ? 0.2 : 4;
                CHECK_OK(filter_image(u, R, C, HSI_TREE_SHAPES, a, thr, rule, c1));
                CHECK_OK(filter_image(neg, R, C, HSI_TREE_SHAPES, a, thr, rule, a2));
                int sd = 1;
                for (int p = 0; p < N; p++) sd &= a2[p] == -c1[p];
                CHECK_MSG(sd, "SDAP %s rule %d is self-dual", hsi_attribute_name(a), rule);
            }
        }
        /* non-increasing attribute: min <= direct <= max <= u on the max-tree */
        CHECK_OK(filter_image(u, R, C, HSI_TREE_MAX, HSI_ATTR_INERTIA, 0.25, HSI_RULE_MIN, a1));
        CHECK_OK(filter_image(u, R, C, HSI_TREE_MAX, HSI_ATTR_INERTIA, 0.25, HSI_RULE_DIRECT, a2));
        CHECK_OK(filter_image(u, R, C, HSI_TREE_MAX, HSI_ATTR_INERTIA, 0.25, HSI_RULE_MAX, b1));
        int order = 1;
        for (int p = 0; p < N; p++) order &= a1[p] <= a2[p] && a2[p] <= b1[p] && b1[p] <= u[p];
        CHECK_MSG(order, "rules order min <= direct <= max <= u");
        /* quantised to 8 bits: an integer image 0..255 keeps its tree */
        if (grey) {
            for (int p = 0; p < N; p++) a1[p] = (float)(((int)u[p] * 7 + p % 3) % 256);
            a1[0] = 0, a1[1] = 255;
            for (int kind = 0; kind < 3; kind++) {
                hsi_tree *f = NULL, *q = NULL;
                hsi_tree_options o8 = {.connectivity = 8, .quantise_bits = 8};
                hsi_tree_options of = {.connectivity = 8};
                CHECK_OK(hsi_tree_build(a1, R, C, kind, &of, &f));
                CHECK_OK(hsi_tree_build(a1, R, C, kind, &o8, &q));
                if (f && q) {
                    CHECK_INT_EQ(f->n_nodes, q->n_nodes);
                    CHECK(!memcmp(f->pixel_node, q->pixel_node, N * sizeof *f->pixel_node));
                    CHECK(!memcmp(f->level, q->level, f->n_nodes * sizeof *f->level));
                }
                hsi_tree_free(f);
                hsi_tree_free(q);
            }
        }
    }
    /* subtractive and the other rules by hand on a 1 x 3 ramp 0, 2, 5 */
    float ramp[3] = {0, 2, 5}, out[3];
    hsi_tree *t = NULL;
    CHECK_OK(hsi_tree_build(ramp, 1, 3, HSI_TREE_MAX, NULL, &t));
    if (t) {
        CHECK_INT_EQ(t->n_nodes, 3);
        double keep[3] = {1, 0, 1}; /* nodes: 0 (level 0), 1 (level 2), 2 (level 5) */
        CHECK_OK(hsi_tree_filter(t, keep, 0.5, HSI_RULE_SUBTRACTIVE, out));
        CHECK(out[0] == 0 && out[1] == 0 && out[2] == 3);
        CHECK_OK(hsi_tree_filter(t, keep, 0.5, HSI_RULE_DIRECT, out));
        CHECK(out[0] == 0 && out[1] == 0 && out[2] == 5);
        CHECK_OK(hsi_tree_filter(t, keep, 0.5, HSI_RULE_MIN, out));
        CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0);
        CHECK_OK(hsi_tree_filter(t, keep, 0.5, HSI_RULE_MAX, out));
        CHECK(out[0] == 0 && out[1] == 2 && out[2] == 5);
        hsi_tree_free(t);
    }
}

static void test_bad_args(void)
{
    float u[4] = {1, 2, 3, NAN};
    hsi_tree *t = (hsi_tree *)1;
    CHECK_FAILS(hsi_tree_build(u, 2, 2, HSI_TREE_MAX, NULL, &t), HSI_ERR_DATA, "non-finite value at pixel 3");
    CHECK(t == NULL);
    u[3] = 4;
    hsi_tree_options o = {.connectivity = 6};
    CHECK_FAILS(hsi_tree_build(u, 2, 2, HSI_TREE_MAX, &o, &t), HSI_ERR_ARG, "connectivity 6");
    o.connectivity = 4, o.quantise_bits = 12;
    CHECK_FAILS(hsi_tree_build(u, 2, 2, HSI_TREE_MIN, &o, &t), HSI_ERR_ARG, "12 bits");
    CHECK_FAILS(hsi_tree_build(u, 0, 2, HSI_TREE_SHAPES, NULL, &t), HSI_ERR_SIZE, "empty image");
    CHECK_FAILS(hsi_tree_build(u, (size_t)1 << 20, (size_t)1 << 13, HSI_TREE_SHAPES, NULL, &t),
                HSI_ERR_SIZE, "too large");
    hsi_tree_kind k;
    hsi_attribute a;
    hsi_filter_rule r;
    CHECK_FAILS(hsi_tree_kind_parse("maximum", &k), HSI_ERR_ARG, "unknown tree 'maximum'");
    CHECK_FAILS(hsi_attribute_parse("volume", &a), HSI_ERR_ARG, "unknown attribute 'volume'");
    CHECK_FAILS(hsi_filter_rule_parse("viterbi", &r), HSI_ERR_ARG, "unknown filtering rule 'viterbi'");
    CHECK_OK(hsi_attribute_parse("moi", &a));
    CHECK(a == HSI_ATTR_INERTIA);
    /* a constant image is one node in every tree */
    float c[6] = {3, 3, 3, 3, 3, 3};
    for (int kind = 0; kind < 3; kind++) {
        CHECK_OK(hsi_tree_build(c, 2, 3, kind, NULL, &t));
        if (t) CHECK_INT_EQ(t->n_nodes, 1);
        hsi_tree_free(t);
    }
}

int main(void)
{
    test_against_brute_force();
    test_shapes_self_dual();
    test_attributes();
    test_filters();
    test_bad_args();
    return check_finish();
}
