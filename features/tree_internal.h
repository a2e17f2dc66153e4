/* tree_internal.h - pieces of tree.c that the row-block merge (tree_block.c)
 * must compute exactly as the single-process tree does: level keys and the
 * integer attribute accumulators. Not installed. */
#ifndef HSI_TREE_INTERNAL_H
#define HSI_TREE_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "features/tree.h"

/* A key whose unsigned order is the float order (-0 and +0 equal). */
static inline uint32_t hsi_tree_float_key(float v)
{
    uint32_t u;
    v += 0.0f;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Quantised key of v over [lo, hi] with `bits` bits (8 or 16). */
static inline uint32_t hsi_tree_quant_key(float v, float lo, float hi, int bits)
{
    double top = (double)((1u << bits) - 1);
    double range = (double)hi - (double)lo;
    double scale = range > 0 ? top / range : 0;
    double q = floor(((double)v - lo) * scale + 0.5);
    return (uint32_t)(q > top ? top : q < 0 ? 0 : q);
}

/* Per-node sums for area, diagonal and inertia. Every field is an integer,
 * so merging two accumulators is exact and order-free; the attribute is one
 * formula of the final sums (hsi_tree_acc_value). Rows are image rows (a
 * block adds its first row), since the inertia formula, though translation
 * invariant on paper, rounds differently at another origin. */
typedef struct hsi_tree_acc {
    uint64_t n, sy, sx;
    unsigned __int128 syy, sxx;
    uint32_t y0, y1, x0, x1; /* bounding box, inclusive */
} hsi_tree_acc;

static inline void hsi_tree_acc_clear(hsi_tree_acc *a)
{
    memset(a, 0, sizeof *a);
    a->y0 = a->x0 = UINT32_MAX;
}

static inline void hsi_tree_acc_pixel(hsi_tree_acc *a, uint32_t y, uint32_t x)
{
    a->n++;
    a->sy += y;
    a->sx += x;
    a->syy += (uint64_t)y * y;
    a->sxx += (uint64_t)x * x;
    if (y < a->y0) a->y0 = y;
    if (y > a->y1) a->y1 = y;
    if (x < a->x0) a->x0 = x;
    if (x > a->x1) a->x1 = x;
}

static inline void hsi_tree_acc_merge(hsi_tree_acc *a, const hsi_tree_acc *b)
{
    a->n += b->n;
    a->sy += b->sy;
    a->sx += b->sx;
    a->syy += b->syy;
    a->sxx += b->sxx;
    if (b->y0 < a->y0) a->y0 = b->y0;
    if (b->y1 > a->y1) a->y1 = b->y1;
    if (b->x0 < a->x0) a->x0 = b->x0;
    if (b->x1 > a->x1) a->x1 = b->x1;
}

/* Area, diagonal or inertia of a node from its (subtree) accumulator. The
 * inertia is (mu20 + mu02) / n^2 with mu20 = syy - sy^2 / n, evaluated in
 * double from the exact integer sums (each rounded once to double): a
 * function of the sums alone, so of the node's pixel set alone. */
static inline double hsi_tree_acc_value(const hsi_tree_acc *a, hsi_attribute attr)
{
    if (attr == HSI_ATTR_AREA) return (double)a->n;
    if (attr == HSI_ATTR_DIAGONAL) {
        double h = (double)a->y1 - a->y0 + 1, w = (double)a->x1 - a->x0 + 1;
        return sqrt(h * h + w * w);
    }
    double c = (double)a->n;
    double mu = ((double)a->syy - (double)a->sy * (double)a->sy / c) +
                ((double)a->sxx - (double)a->sx * (double)a->sx / c);
    return mu > 0 ? mu / (c * c) : 0;
}

/* acc[i] = sums over node i's pixels and its children's accumulators, rows
 * numbered from row0; a node with stop[i] set is not added into its parent
 * (stop may be NULL). acc has tree->n_nodes entries. */
void hsi_tree_accumulate(const hsi_tree *tree, size_t row0, const uint8_t *stop,
                         hsi_tree_acc *acc);

#endif
