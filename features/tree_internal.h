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

/* Exact sums for the std attribute: the count, the sum of the values and
 * the sum of their squares as fixed-point integers (a Kulisch accumulator).
 * Every finite float is m 2^e with |m| < 2^24 and -149 <= e <= 104, so
 * v 2^149 is an integer below 2^277 and v^2 2^298 one below 2^554: with up to
 * 2^32 pixels, s1 (two's complement) fits 320 bits and s2 640. Sums of
 * integers do not depend on their order, so a node's std is the same
 * whatever way its pixels were gathered (whole image, row blocks, ranks),
 * and the std itself is sqrt(n s2 - s1^2) / n rounded once from the exact
 * integer (hsi_tree_sacc_std). 128 bytes a node. */
#define HSI_SACC_L1 5
#define HSI_SACC_L2 10
typedef struct hsi_tree_sacc {
    uint64_t n;
    uint64_t s1[HSI_SACC_L1]; /* sum v 2^149, two's complement */
    uint64_t s2[HSI_SACC_L2]; /* sum v^2 2^298 */
} hsi_tree_sacc;

/* a += val 2^off (val < 2^63), limbs little-endian; negate: a -= it. */
static inline void hsi_sacc_add(uint64_t *a, int limbs, uint64_t val, unsigned off, int negate)
{
    unsigned k = off / 64, sh = off % 64;
    uint64_t lo = val << sh, hi = sh ? val >> (64 - sh) : 0;
    if (!negate) {
        uint64_t c = 0;
        for (int i = (int)k; i < limbs; i++) {
            uint64_t add = i == (int)k ? lo : i == (int)k + 1 ? hi : 0;
            uint64_t t = a[i] + add, c1 = t < add;
            uint64_t r = t + c, c2 = r < c;
            a[i] = r;
            c = c1 | c2;
            if (!c && i > (int)k) break;
        }
    } else {
        uint64_t b = 0;
        for (int i = (int)k; i < limbs; i++) {
            uint64_t sub = i == (int)k ? lo : i == (int)k + 1 ? hi : 0;
            uint64_t t = a[i] - sub, b1 = a[i] < sub;
            uint64_t r = t - b, b2 = t < b;
            a[i] = r;
            b = b1 | b2;
            if (!b && i > (int)k) break;
        }
    }
}

static inline void hsi_tree_sacc_clear(hsi_tree_sacc *a) { memset(a, 0, sizeof *a); }

static inline void hsi_tree_sacc_value(hsi_tree_sacc *a, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint32_t ex = (u >> 23) & 255, mant = u & 0x7fffffu;
    uint64_t m = ex ? (mant | 0x800000u) : mant;
    unsigned off = ex ? ex - 1 : 0; /* e + 149, e = ex - 150 (or -149 if subnormal) */
    a->n++;
    if (!m) return;
    hsi_sacc_add(a->s1, HSI_SACC_L1, m, off, (int)(u >> 31));
    hsi_sacc_add(a->s2, HSI_SACC_L2, m * m, 2 * off, 0);
}

static inline void hsi_tree_sacc_merge(hsi_tree_sacc *a, const hsi_tree_sacc *b)
{
    a->n += b->n;
    uint64_t c = 0;
    for (int i = 0; i < HSI_SACC_L1; i++) {
        unsigned __int128 t = (unsigned __int128)a->s1[i] + b->s1[i] + c;
        a->s1[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    c = 0;
    for (int i = 0; i < HSI_SACC_L2; i++) {
        unsigned __int128 t = (unsigned __int128)a->s2[i] + b->s2[i] + c;
        a->s2[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
}

/* sqrt(n s2 - s1^2) / n from the exact integers: n s2 - s1^2 (>= 0, at most
 * 2^618) is formed exactly in 11 limbs, rounded once to the nearest double,
 * scaled by 2^-298. */
static inline double hsi_tree_sacc_std(const hsi_tree_sacc *a)
{
    enum { L = HSI_SACC_L2 + 1 };
    if (a->n < 2) return 0;
    uint64_t s1[HSI_SACC_L1], sq[L] = {0}, r[L] = {0};
    memcpy(s1, a->s1, sizeof s1);
    if (s1[HSI_SACC_L1 - 1] >> 63) { /* |s1| */
        uint64_t c = 1;
        for (int i = 0; i < HSI_SACC_L1; i++) {
            s1[i] = ~s1[i] + c;
            c = c && s1[i] == 0;
        }
    }
    for (int i = 0; i < HSI_SACC_L1; i++) { /* sq = s1^2 */
        uint64_t c = 0;
        for (int j = 0; j < HSI_SACC_L1; j++) {
            unsigned __int128 t = (unsigned __int128)s1[i] * s1[j] + sq[i + j] + c;
            sq[i + j] = (uint64_t)t;
            c = (uint64_t)(t >> 64);
        }
        for (int k = i + HSI_SACC_L1; c && k < L; k++) {
            unsigned __int128 t = (unsigned __int128)sq[k] + c;
            sq[k] = (uint64_t)t;
            c = (uint64_t)(t >> 64);
        }
    }
    uint64_t c = 0; /* r = n s2 */
    for (int i = 0; i < HSI_SACC_L2; i++) {
        unsigned __int128 t = (unsigned __int128)a->s2[i] * a->n + c;
        r[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    r[HSI_SACC_L2] = c;
    uint64_t b = 0; /* r -= sq */
    for (int i = 0; i < L; i++) {
        uint64_t t = r[i] - sq[i], b1 = r[i] < sq[i];
        uint64_t u = t - b, b2 = t < b;
        r[i] = u;
        b = b1 | b2;
    }
    int top = L - 1;
    while (top >= 0 && r[top] == 0) top--;
    if (top < 0) return 0;
    /* the top 64 bits, with a sticky bit for anything below, round once */
    int lz = __builtin_clzll(r[top]);
    long shift = 64L * top - lz; /* bit index of the top 64-bit window's lowest bit */
    uint64_t t;
    int sticky = 0;
    if (shift <= 0) {
        t = r[0];
        shift = 0;
    } else {
        long k = shift / 64, sh = shift % 64;
        t = r[k] >> sh;
        if (sh && k + 1 < L) t |= r[k + 1] << (64 - sh);
        if (sh && (r[k] << (64 - sh))) sticky = 1;
        for (long i = 0; i < k && !sticky; i++) sticky = r[i] != 0;
    }
    double d = ldexp((double)(t | (uint64_t)sticky), (int)shift - 298);
    return sqrt(d) / (double)a->n;
}

/* acc[i] = sums over node i's pixels and its children's accumulators, rows
 * numbered from row0; a node with stop[i] set is not added into its parent
 * (stop may be NULL). acc has tree->n_nodes entries. */
void hsi_tree_accumulate(const hsi_tree *tree, size_t row0, const uint8_t *stop,
                         hsi_tree_acc *acc);
/* The same for the std sums of the image's values (the tree's image). */
void hsi_tree_accumulate_std(const hsi_tree *tree, const float *image, const uint8_t *stop,
                             hsi_tree_sacc *acc);

#endif
