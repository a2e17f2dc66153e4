/* test_features_tree_blocks.c - max/min-trees built in row blocks and merged
 * (features/tree_block.h) equal the single-process tree: same nodes (by
 * canonical pixel), same parents, same levels, the same area, diagonal and
 * inertia bit for bit, and the same filter outputs for every rule.
 *
 * Images: random few-level images (plateaus everywhere, saddles between
 * them) and smoothed ones, 4- and 8-connected, float and 8-bit quantised
 * levels, split in one-row blocks, random block heights and one block;
 * with all attributes summarised, and with random heights also a cycle of
 * summaries of some attributes, with or without their subtree maxima,
 * every other block summarised with more (the merge keeps what all have):
 * the others must read NaN and be refused by the filters, and so must the
 * max rule on inertia or std without maxima, while area and diagonal
 * (increasing) take every rule without them. At exact float levels of
 * noise, a boundary node and a merge's node of area alone take at most a
 * third of all four attributes' bytes, and area alone gives the
 * all-attributes run's area values and filters bit for bit. The bytes a
 * node takes, by summary, are checked against a hand count of its fields.
 *
 * Under mpirun (tests/test_features_tree_mpi.sh) each rank takes its share
 * of the rows (one or more blocks each), the boundary trees travel through
 * hsi_tree_boundary_allgather, and each rank checks its own rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mpi.h"
#include "base/rng.h"
#include "features/tree.h"
#include "features/tree_block.h"
#include "features/tree_internal.h"

static int failures = 0, checks = 0;
#define CHECK(c)                                                                         \
    do {                                                                                 \
        checks++;                                                                        \
        if (!(c)) {                                                                      \
            failures++;                                                                  \
            if (failures < 20) fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c); \
        }                                                                                \
    } while (0)
#define CHECK_OK(e)                                                                      \
    do {                                                                                 \
        hsi_status s_ = (e);                                                             \
        checks++;                                                                        \
        if (s_) {                                                                        \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #e, hsi_last_error()); \
        }                                                                                \
    } while (0)

static int rank = 0, ranks = 1;

static void random_image(hsi_rng *rng, float *u, size_t R, size_t C, int levels, int smooth)
{
    if (smooth == 2) { /* few values of wildly different magnitudes and signs */
        float pick[6];
        for (int k = 0; k < 6; k++)
            pick[k] = (float)((hsi_rng_below(rng, 2) ? -1 : 1) *
                              ldexp(1 + hsi_rng_uniform(rng), (int)hsi_rng_below(rng, 120) - 60));
        for (size_t p = 0; p < R * C; p++) u[p] = pick[hsi_rng_below(rng, (uint64_t)levels)];
        return;
    }
    for (size_t p = 0; p < R * C; p++) u[p] = (float)(hsi_rng_below(rng, (uint64_t)levels));
    if (!smooth) return;
    float *t = malloc(R * C * sizeof *t);
    for (size_t y = 0; y < R; y++)
        for (size_t x = 0; x < C; x++) {
            float s = 0;
            int k = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    long yy = (long)y + dy, xx = (long)x + dx;
                    if (yy < 0 || xx < 0 || yy >= (long)R || xx >= (long)C) continue;
                    s += u[yy * C + xx];
                    k++;
                }
            t[y * C + x] = floorf(s / k * 1.5f) * 0.37f - 1.0f; /* few levels, negative too */
        }
    memcpy(u, t, R * C * sizeof *t);
    free(t);
}

/* Canonical pixel of every node of a whole-image tree. */
static void whole_canon(const hsi_tree *t, uint64_t *canon)
{
    size_t n = t->rows * t->cols;
    for (size_t i = 0; i < t->n_nodes; i++) canon[i] = UINT64_MAX;
    if (t->kind == HSI_TREE_MIN)
        for (size_t p = 0; p < n; p++) canon[t->pixel_node[p]] = p;
    else
        for (size_t p = n; p-- > 0;) canon[t->pixel_node[p]] = p;
}

#define ALL_ATTRS ((1u << HSI_ATTR_COUNT) - 1)

/* One case: blocks given by their heights (sum R), summarised with `mask`
 * (a summary, tree_block.h: the attributes left out must read NaN and be
 * refused by the filters, and the max rule on a non-increasing attribute
 * without its HSI_TREE_MAXIMA bit too); with `more`, odd blocks are
 * summarised with those bits as well, which the merge leaves out. Under
 * MPI the blocks are dealt to ranks in contiguous runs. */
static void check_case(const float *u, size_t R, size_t C, hsi_tree_kind kind, int conn,
                       int bits, const size_t *heights, size_t n_blocks, unsigned mask,
                       unsigned more, const char *what)
{
    int bad = 0;
    hsi_tree_options o = {.connectivity = conn, .quantise_bits = bits};
    float lo = INFINITY, hi = -INFINITY;
    for (size_t p = 0; p < R * C; p++) {
        if (u[p] < lo) lo = u[p];
        if (u[p] > hi) hi = u[p];
    }
    hsi_tree *whole = NULL;
    CHECK_OK(hsi_tree_build(u, R, C, kind, &o, &whole));
    if (!whole) return;
    size_t nn = whole->n_nodes;
    uint64_t *wc = malloc(nn * sizeof *wc);
    double *wa[HSI_ATTR_COUNT];
    for (int a = 0; a < HSI_ATTR_COUNT; a++) {
        wa[a] = malloc(nn * sizeof *wa[a]);
        CHECK_OK(hsi_tree_attribute(whole, u, (hsi_attribute)a, wa[a]));
    }
    whole_canon(whole, wc);

    /* this rank's blocks: a contiguous run */
    size_t b0 = n_blocks * (size_t)rank / (size_t)ranks;
    size_t b1 = n_blocks * (size_t)(rank + 1) / (size_t)ranks;
    hsi_tree_options bo = o;
    bo.has_range = 1;
    bo.range_lo = lo;
    bo.range_hi = hi;
    hsi_tree_boundary **mine = calloc(n_blocks, sizeof *mine);
    size_t row = 0, *start = malloc(n_blocks * sizeof *start);
    for (size_t b = 0; b < n_blocks; b++) {
        start[b] = row;
        row += heights[b];
    }
    for (size_t b = b0; b < b1; b++) {
        hsi_tree *t = NULL;
        CHECK_OK(hsi_tree_build(u + start[b] * C, heights[b], C, kind, &bo, &t));
        if (!t) continue;
        hsi_tree_boundary *bt = NULL;
        if (mask == HSI_TREE_SUMMARY_ALL)
            CHECK_OK(hsi_tree_boundary_make(t, u + start[b] * C, start[b], R, &bo, &bt));
        else
            CHECK_OK(hsi_tree_boundary_make_ex(t, u + start[b] * C, start[b], R, &bo,
                                               b % 2 ? mask | more : mask, &bt));
        hsi_tree_free(t);
        mine[b - b0] = bt;
    }
    hsi_tree_boundary **all = NULL;
    size_t n_all = 0;
    CHECK_OK(hsi_tree_boundary_allgather(mine, b1 - b0, &all, &n_all));
    CHECK(n_all == n_blocks);
    hsi_tree_merged *m = NULL;
    if (n_all == n_blocks) CHECK_OK(hsi_tree_merge(all, n_all, conn, &m));
    if (!m) goto out;

    /* nodes, parents, levels, attributes: every pixel of this rank's blocks */
    for (size_t b = b0; b < b1; b++) {
        hsi_tree *t = NULL;
        CHECK_OK(hsi_tree_build(u + start[b] * C, heights[b], C, kind, &bo, &t));
        if (!t) continue;
        size_t ln = t->n_nodes;
        uint64_t *canon = malloc(ln * sizeof *canon), *pcanon = malloc(ln * sizeof *pcanon);
        double *la[HSI_ATTR_COUNT];
        for (int a = 0; a < HSI_ATTR_COUNT; a++) la[a] = malloc(ln * sizeof *la[a]);
        CHECK_OK(hsi_tree_block_nodes(t, u + start[b] * C, b, m, canon, pcanon, la));
        for (size_t p = 0; p < heights[b] * C; p++) {
            uint32_t i = t->pixel_node[p], w = whole->pixel_node[start[b] * C + p];
            int attrs_ok = 1;
            for (int a = 0; a < HSI_ATTR_COUNT; a++)
                attrs_ok &= (mask >> a) & 1 ? !memcmp(&la[a][i], &wa[a][w], 8) : isnan(la[a][i]);
            if (canon[i] != wc[w] || pcanon[i] != wc[whole->parent[w]] ||
                t->level[i] != whole->level[w] || !attrs_ok) {
                if (bad++ < 3)
                    fprintf(stderr,
                            "%s, block %zu, pixel %zu: node %llu parent %llu level %g attrs %.17g "
                            "%.17g %.17g %.17g; whole tree %llu %llu %g %.17g %.17g %.17g %.17g\n",
                            what, b, start[b] * C + p, (unsigned long long)canon[i],
                            (unsigned long long)pcanon[i], t->level[i], la[0][i], la[1][i],
                            la[2][i], la[3][i], (unsigned long long)wc[w],
                            (unsigned long long)wc[whole->parent[w]], whole->level[w],
                            wa[0][w], wa[1][w], wa[2][w], wa[3][w]);
            }
        }
        /* filters: every mergeable attribute and rule, a few thresholds */
        float *want = malloc(R * C * sizeof *want), *got = malloc(heights[b] * C * sizeof *got);
        for (int a = 0; a < HSI_ATTR_COUNT; a++)
            for (int rule = 0; rule <= HSI_RULE_SUBTRACTIVE; rule++) {
                const double thr[4][3] = {{2, 5, 17}, {1.5, 3, 6}, {0.1, 0.2, 0.35}, {0.3, 0.5, 1}};
                int maxima = (mask & HSI_TREE_MAXIMA(a)) ||
                             hsi_attribute_increasing((hsi_attribute)a);
                for (int k = 0; k < 3; k++) {
                    if (!((mask >> a) & 1) || (rule == HSI_RULE_MAX && !maxima)) {
                        CHECK(hsi_tree_merged_filter(m, (size_t)k, (hsi_attribute)a, thr[a][k],
                                                     (hsi_filter_rule)rule) == HSI_ERR_ARG);
                        continue;
                    }
                    CHECK_OK(hsi_tree_filter(whole, wa[a], thr[a][k], (hsi_filter_rule)rule,
                                             want));
                    CHECK_OK(hsi_tree_merged_filter(m, (size_t)k, (hsi_attribute)a, thr[a][k],
                                                    (hsi_filter_rule)rule));
                    CHECK_OK(hsi_tree_block_filter(t, u + start[b] * C, b, m, (size_t)k, got));
                    if (memcmp(got, want + start[b] * C, heights[b] * C * sizeof *got) &&
                        bad++ < 3)
                        fprintf(stderr, "%s, block %zu: filter %s>=%g rule %s differs\n", what, b,
                                hsi_attribute_name((hsi_attribute)a), thr[a][k],
                                hsi_filter_rule_name((hsi_filter_rule)rule));
                }
            }
        free(want);
        free(got);
        free(canon);
        free(pcanon);
        for (int a = 0; a < HSI_ATTR_COUNT; a++) free(la[a]);
        hsi_tree_free(t);
    }
out:
    CHECK(bad == 0);
    hsi_tree_merged_free(m);
    for (size_t i = 0; i < n_all; i++) hsi_tree_boundary_free(all[i]);
    free(all);
    for (size_t b = 0; b < n_blocks; b++) hsi_tree_boundary_free(mine[b]);
    free(mine);
    free(start);
    free(wc);
    for (int a = 0; a < HSI_ATTR_COUNT; a++) free(wa[a]);
    hsi_tree_free(whole);
}

int main(int argc, char **argv)
{
    int mpi = hsi_mpi_start(&argc, &argv, &rank, &ranks);
    if (mpi < 0) {
        fprintf(stderr, "MPI_Init failed\n");
        return 99;
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, 20260613);
    static const size_t sizes[][2] = {{1, 1}, {2, 3}, {5, 1}, {7, 9}, {16, 13}, {33, 41}, {60, 7}};
    char what[160];
    size_t n_subset = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t R = sizes[s][0], C = sizes[s][1];
        float *u = malloc(R * C * sizeof *u);
        size_t *h = malloc(R * sizeof *h);
        for (int img = 0; img < 5; img++) {
            random_image(&rng, u, R, C, img < 2 ? 2 + img : img == 4 ? 4 : 5,
                         img < 2 ? 0 : img == 4 ? 2 : 1);
            for (int kind = 0; kind < 2; kind++)
                for (int conn = 4; conn <= 8; conn += 4)
                    for (int bits = 0; bits <= 8; bits += 8)
                        for (int split = 0; split < 3; split++) {
                            size_t nb = 0;
                            if (split == 0) { /* one-row blocks */
                                for (size_t r = 0; r < R; r++) h[nb++] = 1;
                            } else if (split == 1) { /* random heights 1..5 */
                                for (size_t r = 0; r < R;) {
                                    size_t k = 1 + (size_t)(hsi_rng_below(&rng, 5));
                                    if (k > R - r) k = R - r;
                                    h[nb++] = k;
                                    r += k;
                                }
                            } else { /* one block */
                                h[nb++] = R;
                            }
                            snprintf(what, sizeof what,
                                     "%zux%zu image %d, %s-tree, c%d, %d bits, %zu blocks", R, C,
                                     img, kind ? "min" : "max", conn, bits, nb);
                            check_case(u, R, C, (hsi_tree_kind)kind, conn, bits, h, nb,
                                       HSI_TREE_SUMMARY_ALL, 0, what);
                            /* random heights: also one of a cycle of
                             * summaries (attributes, and the maxima of
                             * some: the max rule's), alone or with more
                             * in every other block */
                            if (split == 1) {
                                enum { A = 1u << HSI_ATTR_AREA, D = 1u << HSI_ATTR_DIAGONAL,
                                       I = 1u << HSI_ATTR_INERTIA, S = 1u << HSI_ATTR_STD };
                                static const unsigned subsets[][2] = {
                                    {A, 0},
                                    {D | S | HSI_TREE_MAXIMA(HSI_ATTR_STD), I},
                                    {I, HSI_TREE_MAXIMA(HSI_ATTR_INERTIA)},
                                    {A | S, HSI_TREE_SUMMARY_ALL},
                                    {D, HSI_TREE_MAXIMA(HSI_ATTR_DIAGONAL)},
                                    {S | HSI_TREE_MAXIMA(HSI_ATTR_STD), 0},
                                    {A | I | HSI_TREE_MAXIMA(HSI_ATTR_AREA) |
                                         HSI_TREE_MAXIMA(HSI_ATTR_INERTIA), S},
                                    {I | S | HSI_TREE_MAXIMA(HSI_ATTR_INERTIA),
                                     HSI_TREE_MAXIMA(HSI_ATTR_STD) | A}};
                                const unsigned *sub =
                                    subsets[n_subset++ % (sizeof subsets / sizeof *subsets)];
                                char w2[200];
                                snprintf(w2, sizeof w2, "%s, summary 0x%x (+0x%x)", what, sub[0],
                                         sub[1]);
                                check_case(u, R, C, (hsi_tree_kind)kind, conn, bits, h, nb, sub[0],
                                           sub[1], w2);
                            }
                        }
        }
        free(u);
        free(h);
    }
    /* the exact std: against a long double two-pass computation on values
     * from subnormals to 1e38, of both signs; 0 for equal values; the same
     * for the values in any order */
    {
        float vals[64];
        for (int iter = 0; iter < 300; iter++) {
            int n = 1 + (int)hsi_rng_below(&rng, 64);
            int spread = (int)hsi_rng_below(&rng, 4);
            for (int i = 0; i < n; i++) {
                double mag = spread == 0 ? 1 : ldexp(1, (int)hsi_rng_below(&rng, 40 * spread) - 20 * spread);
                vals[i] = (float)((hsi_rng_uniform(&rng) - 0.5) * mag);
                if (iter % 7 == 0) vals[i] = 1.5e-45f * (float)(1 + hsi_rng_below(&rng, 5));
                if (iter % 11 == 0) vals[i] = 3e38f * (float)(hsi_rng_uniform(&rng) - 0.5);
                if (iter % 13 == 0) vals[i] = vals[0];
            }
            hsi_tree_sacc a, b;
            hsi_tree_sacc_clear(&a);
            hsi_tree_sacc_clear(&b);
            long double mean = 0, m2 = 0;
            for (int i = 0; i < n; i++) {
                hsi_tree_sacc_value(&a, vals[i]);
                mean += vals[i];
            }
            mean /= n;
            for (int i = 0; i < n; i++) m2 += (vals[i] - mean) * (vals[i] - mean);
            for (int i = n; i-- > 0;) { /* reversed, in two halves merged */
                hsi_tree_sacc h;
                hsi_tree_sacc_clear(&h);
                hsi_tree_sacc_value(&h, vals[i]);
                hsi_tree_sacc_merge(&b, &h);
            }
            double got = hsi_tree_sacc_std(&a), want = (double)sqrtl(m2 / n);
            CHECK(memcmp(&got, &(double){hsi_tree_sacc_std(&b)}, sizeof got) == 0);
            if (iter % 13 == 0) CHECK(got == 0);
            CHECK(fabs(got - want) <= 1e-12 * want || (want < 1e-300 && fabs(got - want) < 1e-44));
            if (!(fabs(got - want) <= 1e-12 * want || (want < 1e-300 && fabs(got - want) < 1e-44)))
                fprintf(stderr, "std of %d values: %.17g, long double %.17g\n", n, got, want);
        }
    }
    /* trees of shapes: refused with one clear message */
    {
        float u[6] = {0, 1, 2, 1, 0, 1};
        hsi_tree *t = NULL;
        hsi_tree_boundary *b = NULL;
        CHECK_OK(hsi_tree_build(u, 2, 3, HSI_TREE_SHAPES, NULL, &t));
        CHECK(hsi_tree_boundary_make(t, u, 0, 4, NULL, &b) == HSI_ERR_ARG && !b);
        CHECK(strstr(hsi_last_error(), "trees of shapes cannot be merged") != NULL);
        hsi_tree_free(t);
    }
    /* the byte form round-trips, and a corrupt one is refused */
    {
        float u[12] = {3, 1, 2, 2, 0, 1, 3, 3, 1, 0, 2, 2};
        hsi_tree_options o = {.connectivity = 4};
        hsi_tree *t = NULL;
        hsi_tree_boundary *b = NULL, *c = NULL;
        void *buf = NULL;
        size_t len = 0, used = 0;
        CHECK_OK(hsi_tree_build(u + 4, 2, 4, HSI_TREE_MAX, &o, &t));
        CHECK_OK(hsi_tree_boundary_make(t, u + 4, 1, 4, &o, &b));
        CHECK_OK(hsi_tree_boundary_pack(b, &buf, &len));
        CHECK_OK(hsi_tree_boundary_unpack(buf, len, &c, &used));
        CHECK(used == len && c && hsi_tree_boundary_nodes(c) == hsi_tree_boundary_nodes(b));
        hsi_tree_boundary_free(c);
        c = NULL;
        CHECK(hsi_tree_boundary_unpack(buf, len - 1, &c, &used) == HSI_ERR_FORMAT && !c);
        free(buf);
        hsi_tree_boundary_free(b);
        hsi_tree_free(t);
    }
    /* exact float levels of noise (about a boundary node per pixel near the
     * boundaries): summarised for area alone, the boundary trees and the
     * merge take at most a third of the bytes a node of all attributes
     * does, and half of area, diagonal and inertia's; the byte form is the
     * counted bytes and a fixed header; and every area value and area
     * filter equals the all-attributes run's bit for bit */
    {
        enum { R = 48, C = 40, NB = 4 };
        const unsigned area = 1u << HSI_ATTR_AREA,
                       geo = area | 1u << HSI_ATTR_DIAGONAL | 1u << HSI_ATTR_INERTIA;
        float *u = malloc(R * C * sizeof *u);
        for (size_t p = 0; p < R * C; p++) u[p] = (float)hsi_rng_uniform(&rng);
        hsi_tree_options o = {.connectivity = 4};
        for (int kind = 0; kind < 2; kind++) {
            const unsigned masks[3] = {ALL_ATTRS, geo, area};
            hsi_tree_boundary *bt[3][NB] = {{NULL}};
            size_t bytes[3] = {0, 0, 0}, nodes[3] = {0, 0, 0};
            for (int s = 0; s < 3; s++)
                for (size_t b = 0; b < NB; b++) {
                    hsi_tree *t = NULL;
                    size_t r0 = b * (R / NB);
                    CHECK_OK(hsi_tree_build(u + r0 * C, R / NB, C, (hsi_tree_kind)kind, &o, &t));
                    if (!t) continue;
                    CHECK_OK(hsi_tree_boundary_make_ex(t, u + r0 * C, r0, R, &o, masks[s],
                                                       &bt[s][b]));
                    hsi_tree_free(t);
                    if (!bt[s][b]) continue;
                    bytes[s] += hsi_tree_boundary_bytes(bt[s][b]);
                    nodes[s] += hsi_tree_boundary_nodes(bt[s][b]);
                    void *buf = NULL;
                    size_t len = 0;
                    CHECK_OK(hsi_tree_boundary_pack(bt[s][b], &buf, &len));
                    CHECK(len == 52 + hsi_tree_boundary_bytes(bt[s][b]));
                    free(buf);
                }
            CHECK(nodes[0] == nodes[2] && nodes[1] == nodes[2] && nodes[2] > (size_t)4 * C);
            CHECK(3 * bytes[2] <= bytes[0]);
            CHECK(2 * bytes[2] <= bytes[1]);
            CHECK(3 * hsi_tree_merge_bytes(nodes[2], area, 2) <=
                  hsi_tree_merge_bytes(nodes[2], ALL_ATTRS, 2));
            CHECK(2 * hsi_tree_merge_bytes(nodes[2], area, 2) <=
                  hsi_tree_merge_bytes(nodes[2], geo, 2));
            if (rank == 0 && kind == 0)
                printf("boundary bytes a node: all %.1f, area+diagonal+inertia %.1f, area %.1f; "
                       "merge (2 filters): %.1f, %.1f, %.1f\n",
                       (double)bytes[0] / (double)nodes[0], (double)bytes[1] / (double)nodes[1],
                       (double)bytes[2] / (double)nodes[2],
                       (double)hsi_tree_merge_bytes(1000, ALL_ATTRS, 2) / 1000,
                       (double)hsi_tree_merge_bytes(1000, geo, 2) / 1000,
                       (double)hsi_tree_merge_bytes(1000, area, 2) / 1000);
            hsi_tree_merged *m_all = NULL, *m_area = NULL;
            CHECK_OK(hsi_tree_merge(bt[0], NB, 4, &m_all));
            CHECK_OK(hsi_tree_merge(bt[2], NB, 4, &m_area));
            if (m_all && m_area) {
                int slot = 0;
                for (int rule = 0; rule <= HSI_RULE_SUBTRACTIVE; rule++)
                    for (int q = 0; q < 2; q++, slot++) {
                        double thr = q ? 40 : 7;
                        CHECK_OK(hsi_tree_merged_filter(m_all, (size_t)slot, HSI_ATTR_AREA, thr,
                                                        (hsi_filter_rule)rule));
                        CHECK_OK(hsi_tree_merged_filter(m_area, (size_t)slot, HSI_ATTR_AREA, thr,
                                                        (hsi_filter_rule)rule));
                    }
                for (size_t b = 0; b < NB; b++) {
                    hsi_tree *t = NULL;
                    size_t r0 = b * (R / NB);
                    CHECK_OK(hsi_tree_build(u + r0 * C, R / NB, C, (hsi_tree_kind)kind, &o, &t));
                    if (!t) continue;
                    size_t ln = t->n_nodes;
                    uint64_t *c1 = malloc(2 * ln * sizeof *c1), *c2 = malloc(2 * ln * sizeof *c2);
                    double *a1[HSI_ATTR_COUNT], *a2[HSI_ATTR_COUNT];
                    for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                        a1[a] = malloc(ln * sizeof *a1[a]);
                        a2[a] = malloc(ln * sizeof *a2[a]);
                    }
                    CHECK_OK(hsi_tree_block_nodes(t, u + r0 * C, b, m_all, c1, c1 + ln, a1));
                    CHECK_OK(hsi_tree_block_nodes(t, u + r0 * C, b, m_area, c2, c2 + ln, a2));
                    CHECK(!memcmp(c1, c2, 2 * ln * sizeof *c1));
                    CHECK(!memcmp(a1[HSI_ATTR_AREA], a2[HSI_ATTR_AREA], ln * sizeof(double)));
                    float *f1 = malloc((R / NB) * C * sizeof *f1), *f2 = malloc((R / NB) * C * sizeof *f2);
                    for (int k = 0; k < slot; k++) {
                        CHECK_OK(hsi_tree_block_filter(t, u + r0 * C, b, m_all, (size_t)k, f1));
                        CHECK_OK(hsi_tree_block_filter(t, u + r0 * C, b, m_area, (size_t)k, f2));
                        CHECK(!memcmp(f1, f2, (R / NB) * C * sizeof *f1));
                    }
                    free(f1);
                    free(f2);
                    free(c1);
                    free(c2);
                    for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                        free(a1[a]);
                        free(a2[a]);
                    }
                    hsi_tree_free(t);
                }
            }
            hsi_tree_merged_free(m_all);
            hsi_tree_merged_free(m_area);
            for (int s = 0; s < 3; s++)
                for (size_t b = 0; b < NB; b++) hsi_tree_boundary_free(bt[s][b]);
        }
        free(u);
    }
    /* The bytes a node takes, by hand from its fields. A boundary node: its
     * identity (pref 8; dkey, level, parent 4 each: 20), its attributes'
     * sums (area the count 8, diagonal the box 16, inertia the count and
     * moments 8 + 48, std 128) and a subtree maximum (8) of each attribute
     * the max rule reads that is not increasing: inertia's and std's, not
     * area's or the diagonal's (their own values). A merged node: root,
     * mpar, order (4 each), pref (8) and level (4): 24, a value (8) per
     * attribute and the same maxima; the merge's most adds the larger of
     * its work (par and dkey, 8, and the sums) and its filters (9 bytes
     * each, and one more). Area alone under the max rule: 28 bytes a
     * boundary node, not 36, and 59 a merged one with two filters, not 67.
     * Each summary's boundary trees of a noise image in blocks then hold
     * those bytes a node and 4 a pixel of their boundary rows, the byte
     * form 52 more, the merged trees those bytes a node and 9 a filter, and
     * every filter equals the whole image's. */
    {
        enum { R = 30, C = 22, NB = 3, A = 1u << HSI_ATTR_AREA, D = 1u << HSI_ATTR_DIAGONAL,
               I = 1u << HSI_ATTR_INERTIA, S = 1u << HSI_ATTR_STD };
        static const struct {
            unsigned attrs;
            hsi_filter_rule rule;
            size_t boundary, merged, merge_most; /* merge_most: with 2 filters */
        } want[] = {
            {A, HSI_RULE_DIRECT, 20 + 8, 24 + 8, 24 + 8 + 27},
            {A, HSI_RULE_MAX, 20 + 8, 24 + 8, 24 + 8 + 27},
            {D, HSI_RULE_MAX, 20 + 16, 24 + 8, 24 + 8 + 27},
            {I, HSI_RULE_DIRECT, 20 + 56, 24 + 8, 24 + 8 + 8 + 56},
            {I, HSI_RULE_MAX, 20 + 56 + 8, 24 + 16, 24 + 16 + 8 + 56},
            {S, HSI_RULE_SUBTRACTIVE, 20 + 128, 24 + 8, 24 + 8 + 8 + 128},
            {S, HSI_RULE_MAX, 20 + 128 + 8, 24 + 16, 24 + 16 + 8 + 128},
            {A | D | I, HSI_RULE_MAX, 20 + 72 + 8, 24 + 32, 24 + 32 + 8 + 72},
            {ALL_ATTRS, HSI_RULE_MIN, 20 + 200, 24 + 32, 24 + 32 + 8 + 200},
            {ALL_ATTRS, HSI_RULE_MAX, 20 + 200 + 16, 24 + 48, 24 + 48 + 8 + 200},
        };
        float *u = malloc(R * C * sizeof *u), *f = malloc(R * C * sizeof *f);
        for (size_t p = 0; p < R * C; p++) u[p] = (float)hsi_rng_uniform(&rng);
        hsi_tree_options o = {.connectivity = 8};
        CHECK(hsi_tree_boundary_node_bytes(HSI_TREE_SUMMARY_ALL) == 236);
        for (size_t c = 0; c < sizeof want / sizeof *want; c++) {
            unsigned sum = hsi_tree_summary(want[c].attrs, want[c].rule);
            CHECK(sum == (want[c].rule == HSI_RULE_MAX ? want[c].attrs * (1u + HSI_TREE_MAXIMA(0))
                                                        : want[c].attrs));
            CHECK(hsi_tree_boundary_node_bytes(sum) == want[c].boundary);
            CHECK(hsi_tree_merge_bytes(1000, sum, 2) == 1000 * want[c].merge_most);
            for (int kind = 0; kind < 2; kind++) {
                hsi_tree *whole = NULL, *t[NB] = {NULL};
                hsi_tree_boundary *bt[NB] = {NULL};
                size_t nodes = 0;
                CHECK_OK(hsi_tree_build(u, R, C, (hsi_tree_kind)kind, &o, &whole));
                for (size_t b = 0; b < NB; b++) {
                    size_t r0 = b * (R / NB);
                    CHECK_OK(hsi_tree_build(u + r0 * C, R / NB, C, (hsi_tree_kind)kind, &o, &t[b]));
                    if (!t[b]) continue;
                    CHECK_OK(hsi_tree_boundary_make_ex(t[b], u + r0 * C, r0, R, &o, sum, &bt[b]));
                    if (!bt[b]) continue;
                    size_t n = hsi_tree_boundary_nodes(bt[b]), rows = b == 0 || b == NB - 1 ? 1 : 2;
                    nodes += n;
                    CHECK(hsi_tree_boundary_bytes(bt[b]) == n * want[c].boundary + rows * C * 4);
                    void *buf = NULL;
                    size_t len = 0;
                    CHECK_OK(hsi_tree_boundary_pack(bt[b], &buf, &len));
                    CHECK(len == 52 + hsi_tree_boundary_bytes(bt[b]));
                    free(buf);
                }
                hsi_tree_merged *m = NULL;
                if (whole && t[0] && t[1] && t[2] && bt[0] && bt[1] && bt[2])
                    CHECK_OK(hsi_tree_merge(bt, NB, 8, &m));
                if (!m) goto next;
                CHECK(hsi_tree_merged_bytes(m) == nodes * want[c].merged);
                size_t slot = 0;
                for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                    if (!((want[c].attrs >> a) & 1)) continue;
                    double *wa = malloc(whole->n_nodes * sizeof *wa);
                    float *wf = malloc(R * C * sizeof *wf);
                    CHECK_OK(hsi_tree_attribute(whole, u, (hsi_attribute)a, wa));
                    double thr[4] = {12, 9, 0.3, 0.25}; /* a deep, a shallow threshold each */
                    for (int q = 0; q < 2; q++, slot++) {
                        double th = q ? thr[a] * (a == 2 ? 1.4 : a == 3 ? 1.2 : 6) : thr[a];
                        CHECK_OK(hsi_tree_filter(whole, wa, th, want[c].rule, wf));
                        CHECK_OK(hsi_tree_merged_filter(m, slot, (hsi_attribute)a, th,
                                                        want[c].rule));
                        CHECK(hsi_tree_merged_bytes(m) ==
                              nodes * (want[c].merged + 9 * (slot + 1)));
                        for (size_t b = 0; b < NB; b++) {
                            CHECK_OK(hsi_tree_block_filter(t[b], u + b * (R / NB) * C, b, m, slot,
                                                           f));
                            CHECK(!memcmp(f, wf + b * (R / NB) * C, (R / NB) * C * sizeof *f));
                        }
                    }
                    /* without maxima the max rule is refused, but for an
                     * increasing attribute */
                    if (want[c].rule != HSI_RULE_MAX) {
                        hsi_status st = hsi_tree_merged_filter(m, slot, (hsi_attribute)a, thr[a],
                                                               HSI_RULE_MAX);
                        CHECK((st == HSI_OK) == hsi_attribute_increasing((hsi_attribute)a));
                        if (st == HSI_OK) slot++;
                        else CHECK(strstr(hsi_last_error(), "subtree maxima") != NULL);
                    }
                    free(wa);
                    free(wf);
                }
                CHECK_OK(hsi_tree_merged_compact(m));
                CHECK(hsi_tree_merged_bytes(m) == hsi_tree_merged_compact_bytes(nodes, slot));
            next:
                hsi_tree_merged_free(m);
                for (size_t b = 0; b < NB; b++) {
                    hsi_tree_boundary_free(bt[b]);
                    hsi_tree_free(t[b]);
                }
                hsi_tree_free(whole);
            }
        }
        free(u);
        free(f);
    }
    hsi_status fin = hsi_mpi_finish(failures ? HSI_ERR_DATA : HSI_OK);
    if (rank == 0 || failures)
        printf("rank %d of %d: %d checks, %d failures\n", rank, ranks, checks, failures);
    hsi_mpi_stop();
    return failures || fin ? 1 : 0;
}
