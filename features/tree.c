/* tree.c - max-tree, min-tree and tree of shapes in flat arrays, attributes
 * and attribute filters. See tree.h for the definitions.
 *
 * Max/min-tree: Berger et al. (ICIP 2007) union-find over the pixels sorted
 * by level (radix / counting sort), processed from the leaves' end; path
 * halving in the find; a final canonicalisation pass makes every pixel point
 * to the first pixel (in sort order) of its node, and numbers the nodes in
 * sort order so that parents come before children.
 *
 * Tree of shapes: Geraud, Carlinet, Crozet, Najman (ISMM 2013). The padded
 * image is immersed in the Khalimsky grid K (size (2H-1) x (2W-1) for a padded
 * H x W image): face (y, x) with y, x even is a pixel, one odd coordinate an
 * edge, both odd a vertex; edges and vertices carry the interval [min, max]
 * of their 2 or 4 pixels. A propagation from the border with a hierarchical
 * queue (one LIFO list per level) assigns every face a single level u_b (the
 * current level clamped into its interval) and an order R; union-find on R
 * reversed, over the 4-adjacency of K, then gives the tree. Faces that are not
 * pixels of the original image are dropped at the end: a node survives when
 * it owns an original pixel (the root always survives).
 */
#include "features/tree.h"
#include "features/tree_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

void hsi_tree_free(hsi_tree *tree)
{
    if (!tree) return;
    free(tree->parent);
    free(tree->level);
    free(tree->pixel_node);
    free(tree);
}

hsi_status hsi_tree_kind_parse(const char *name, hsi_tree_kind *kind)
{
    if (!strcmp(name, "max")) *kind = HSI_TREE_MAX;
    else if (!strcmp(name, "min")) *kind = HSI_TREE_MIN;
    else if (!strcmp(name, "shapes") || !strcmp(name, "tos")) *kind = HSI_TREE_SHAPES;
    else return hsi_error(HSI_ERR_ARG, "unknown tree '%s' (want max, min or shapes)", name);
    return HSI_OK;
}

const char *hsi_tree_kind_name(hsi_tree_kind kind)
{
    switch (kind) {
    case HSI_TREE_MAX: return "max";
    case HSI_TREE_MIN: return "min";
    case HSI_TREE_SHAPES: return "shapes";
    }
    return "?";
}

hsi_status hsi_attribute_parse(const char *name, hsi_attribute *attr)
{
    if (!strcmp(name, "area")) *attr = HSI_ATTR_AREA;
    else if (!strcmp(name, "diagonal") || !strcmp(name, "diag")) *attr = HSI_ATTR_DIAGONAL;
    else if (!strcmp(name, "inertia") || !strcmp(name, "moi")) *attr = HSI_ATTR_INERTIA;
    else if (!strcmp(name, "std") || !strcmp(name, "sd")) *attr = HSI_ATTR_STD;
    else
        return hsi_error(HSI_ERR_ARG,
                         "unknown attribute '%s' (want area, diagonal, inertia or std)", name);
    return HSI_OK;
}

const char *hsi_attribute_name(hsi_attribute attr)
{
    static const char *names[] = {"area", "diagonal", "inertia", "std"};
    return attr < HSI_ATTR_COUNT ? names[attr] : "?";
}

int hsi_attribute_increasing(hsi_attribute attr)
{
    return attr == HSI_ATTR_AREA || attr == HSI_ATTR_DIAGONAL;
}

hsi_status hsi_filter_rule_parse(const char *name, hsi_filter_rule *rule)
{
    if (!strcmp(name, "direct")) *rule = HSI_RULE_DIRECT;
    else if (!strcmp(name, "min")) *rule = HSI_RULE_MIN;
    else if (!strcmp(name, "max")) *rule = HSI_RULE_MAX;
    else if (!strcmp(name, "subtractive")) *rule = HSI_RULE_SUBTRACTIVE;
    else
        return hsi_error(HSI_ERR_ARG,
                         "unknown filtering rule '%s' (want direct, min, max or subtractive)",
                         name);
    return HSI_OK;
}

const char *hsi_filter_rule_name(hsi_filter_rule rule)
{
    static const char *names[] = {"direct", "min", "max", "subtractive"};
    return rule <= HSI_RULE_SUBTRACTIVE ? names[rule] : "?";
}

/* ---- sorting ---- */

static inline uint32_t float_key(float v) { return hsi_tree_float_key(v); }

static inline float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* order[0..n) = indices 0..n-1 sorted by key ascending, stable. Keys below
 * 2^16 (quantised images) take one counting-sort pass; full 32-bit keys take
 * three 11-bit LSD radix passes, skipping a pass whose digit is constant. */
static hsi_status sort_by_key(const uint32_t *key, size_t n, uint32_t max_key, uint32_t *order)
{
    if (max_key < 65536) {
        size_t nb = (size_t)max_key + 1;
        size_t *count = calloc(nb + 1, sizeof *count);
        if (!count) return hsi_error(HSI_ERR_NOMEM, "out of memory sorting %zu pixels", n);
        for (size_t i = 0; i < n; i++) count[key[i] + 1]++;
        for (size_t b = 0; b < nb; b++) count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) order[count[key[i]]++] = (uint32_t)i;
        free(count);
        return HSI_OK;
    }
    uint32_t *tmp = malloc(n * sizeof *tmp);
    size_t *count = malloc(2048 * sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return hsi_error(HSI_ERR_NOMEM, "out of memory sorting %zu pixels", n);
    }
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    uint32_t *src = order, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 11) {
        memset(count, 0, 2048 * sizeof *count);
        for (size_t i = 0; i < n; i++) count[(key[i] >> shift) & 2047]++;
        int constant = 0;
        for (int b = 0; b < 2048; b++)
            if (count[b] == n) constant = 1;
        if (constant) continue;
        size_t sum = 0;
        for (int b = 0; b < 2048; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t p = src[i];
            dst[count[(key[p] >> shift) & 2047]++] = p;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != order) memcpy(order, src, n * sizeof *order);
    free(tmp);
    free(count);
    return HSI_OK;
}

/* Keys of the image: float order, or quantised levels 0 .. 2^bits - 1 over
 * [lo, hi]. *dequant maps a key back to a level. */
typedef struct level_map {
    int quantised;
    double lo, step; /* value of key q is lo + q * step when quantised */
} level_map;

static inline float key_level(const level_map *m, uint32_t k)
{
    return m->quantised ? (float)(m->lo + k * m->step) : key_float(k);
}

static hsi_status make_keys(const float *image, size_t n, int bits, const hsi_tree_options *opts,
                            uint32_t *key, uint32_t *max_key, level_map *map)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(image[i]))
            return hsi_error(HSI_ERR_DATA, "tree: non-finite value at pixel %zu", i);
        if (image[i] < lo) lo = image[i];
        if (image[i] > hi) hi = image[i];
    }
    memset(map, 0, sizeof *map);
    if (!bits) {
        uint32_t mk = 0;
        for (size_t i = 0; i < n; i++) {
            key[i] = float_key(image[i]);
            if (key[i] > mk) mk = key[i];
        }
        *max_key = mk;
        return HSI_OK;
    }
    if (opts && opts->has_range) {
        if (!(opts->range_lo <= lo && hi <= opts->range_hi))
            return hsi_error(HSI_ERR_ARG, "tree: values [%g, %g] outside the range [%g, %g] given",
                             lo, hi, opts->range_lo, opts->range_hi);
        lo = opts->range_lo;
        hi = opts->range_hi;
    }
    double top = (double)((1u << bits) - 1);
    double range = (double)hi - (double)lo;
    map->quantised = 1;
    map->lo = lo;
    map->step = range > 0 ? range / top : 0;
    for (size_t i = 0; i < n; i++) key[i] = hsi_tree_quant_key(image[i], lo, hi, bits);
    *max_key = (uint32_t)top;
    return HSI_OK;
}

/* ---- max-tree and min-tree ---- */

static inline uint32_t find_root(uint32_t *zpar, uint32_t x)
{
    while (zpar[x] != x) {
        zpar[x] = zpar[zpar[x]]; /* path halving */
        x = zpar[x];
    }
    return x;
}

/* order[0] is the root end of the sort (lowest level for a max-tree). */
static hsi_status build_component_tree(const uint32_t *key, const uint32_t *order,
                                       const level_map *map, size_t rows, size_t cols,
                                       int connectivity, hsi_tree *t)
{
    size_t n = rows * cols;
    uint32_t *parent = malloc(n * sizeof *parent);
    uint32_t *zpar = malloc(n * sizeof *zpar);
    t->parent = malloc(n * sizeof *t->parent);
    t->level = malloc(n * sizeof *t->level);
    if (!parent || !zpar || !t->parent || !t->level) {
        free(parent);
        free(zpar);
        return hsi_error(HSI_ERR_NOMEM, "out of memory building a %zu x %zu tree", rows, cols);
    }
    for (size_t i = 0; i < n; i++) zpar[i] = NIL;

    /* Union-find from the leaves' end: each pixel becomes the root of the
     * components of its already-processed neighbours. */
    const long R = (long)rows, C = (long)cols;
    static const int dy[8] = {-1, 0, 0, 1, -1, -1, 1, 1};
    static const int dx[8] = {0, -1, 1, 0, -1, 1, -1, 1};
    for (size_t i = n; i-- > 0;) {
        uint32_t p = order[i];
        parent[p] = p;
        zpar[p] = p;
        long y = p / C, x = p - y * C;
        for (int k = 0; k < connectivity; k++) {
            long ny = y + dy[k], nx = x + dx[k];
            if (ny < 0 || ny >= R || nx < 0 || nx >= C) continue;
            uint32_t q = (uint32_t)(ny * C + nx);
            if (zpar[q] == NIL) continue;
            uint32_t r = find_root(zpar, q);
            if (r != p) {
                parent[r] = p;
                zpar[r] = p;
            }
        }
    }

    /* Canonicalise in sort order (parents first) and number the nodes. */
    uint32_t *node_of = zpar;
    uint32_t n_nodes = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = order[i], q = parent[p];
        if (q != p && key[parent[q]] == key[q]) parent[p] = q = parent[q];
        if (q == p || key[q] != key[p]) {
            uint32_t id = n_nodes++;
            node_of[p] = id;
            t->parent[id] = q == p ? id : node_of[q];
            t->level[id] = key_level(map, key[p]);
        } else {
            node_of[p] = node_of[q];
        }
    }
    free(parent);
    t->pixel_node = node_of;
    t->n_nodes = n_nodes;
    uint32_t *sp = realloc(t->parent, n_nodes * sizeof *sp);
    float *sl = realloc(t->level, n_nodes * sizeof *sl);
    if (sp) t->parent = sp;
    if (sl) t->level = sl;
    return HSI_OK;
}

/* ---- tree of shapes ---- */

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Interval [lo, hi] (level ranks) of Khalimsky face (y, x) over the padded
 * rank image prank (PW columns). */
static inline void face_interval(const uint32_t *prank, size_t PW, size_t y, size_t x,
                                 uint32_t *lo, uint32_t *hi)
{
    const uint32_t *a = prank + (y >> 1) * PW + (x >> 1);
    uint32_t l = a[0], h = a[0];
    if (x & 1) {
        uint32_t v = a[1];
        l = v < l ? v : l;
        h = v > h ? v : h;
    }
    if (y & 1) {
        uint32_t v = a[PW];
        l = v < l ? v : l;
        h = v > h ? v : h;
        if (x & 1) {
            v = a[PW + 1];
            l = v < l ? v : l;
            h = v > h ? v : h;
        }
    }
    *lo = l;
    *hi = h;
}

/* The non-empty level nearest to l in the bitset (one exists). */
static uint32_t nearest_level(const uint64_t *bits, size_t n_words, uint32_t l)
{
    size_t w = l >> 6;
    unsigned b = l & 63;
    uint64_t up = bits[w] & (b == 63 ? 0 : (~(uint64_t)0 << (b + 1)));
    uint64_t down = bits[w] & (((uint64_t)1 << b) - 1);
    for (size_t d = 0;; d++) {
        uint32_t cu = NIL, cd = NIL;
        if (up) cu = (uint32_t)(((w + d) << 6) + (size_t)__builtin_ctzll(up));
        if (down) cd = (uint32_t)(((w - d) << 6) + 63 - (size_t)__builtin_clzll(down));
        if (cu != NIL && cd != NIL) return cu - l <= l - cd ? cu : cd;
        if (cu != NIL) return cu;
        if (cd != NIL) return cd;
        up = w + d + 1 < n_words ? bits[w + d + 1] : 0;
        down = w >= d + 1 ? bits[w - d - 1] : 0;
    }
}

static hsi_status build_tree_of_shapes(const uint32_t *key, const uint32_t *order,
                                       const level_map *map, size_t rows, size_t cols,
                                       hsi_tree *t)
{
    size_t n = rows * cols;
    const size_t PH = rows + 2, PW = cols + 2;
    const size_t KH = 2 * PH - 1, KW = 2 * PW - 1, nk = KH * KW;
    hsi_status st = HSI_OK;

    /* Dense level ranks with the padding value m (median of the border
     * pixels, the mean of the two middle ones for an even count so that it
     * negates with the image) inserted among them. */
    size_t n_border = (rows == 1 || cols == 1) ? n : 2 * (rows + cols) - 4;
    float *border = malloc(n_border * sizeof *border);
    float *vals = malloc((n + 1) * sizeof *vals);
    uint32_t *rank = malloc(n * sizeof *rank);
    uint32_t *prank = malloc(PH * PW * sizeof *prank);
    uint32_t *head = NULL, *ubar = NULL, *R = NULL, *link = NULL, *parent = NULL;
    uint64_t *bits = NULL;
    uint8_t *seen = NULL;
    if (!border || !vals || !rank || !prank) goto nomem;
    size_t nb = 0;
    for (size_t y = 0; y < rows; y++)
        for (size_t x = 0; x < cols; x++)
            if (y == 0 || x == 0 || y == rows - 1 || x == cols - 1)
                border[nb++] = key_level(map, key[y * cols + x]);
    qsort(border, nb, sizeof *border, compare_float);
    float m = (nb & 1) ? border[nb / 2] : 0.5f * border[nb / 2 - 1] + 0.5f * border[nb / 2];
    free(border);
    border = NULL;

    uint32_t n_levels = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = order[i];
        if (i == 0 || key[p] != key[order[i - 1]]) vals[n_levels++] = key_level(map, key[p]);
        rank[p] = n_levels - 1;
    }
    uint32_t pad_rank = 0;
    while (pad_rank < n_levels && vals[pad_rank] < m) pad_rank++;
    if (pad_rank == n_levels || vals[pad_rank] != m) {
        memmove(vals + pad_rank + 1, vals + pad_rank, (n_levels - pad_rank) * sizeof *vals);
        vals[pad_rank] = m;
        n_levels++;
        for (size_t i = 0; i < n; i++)
            if (rank[i] >= pad_rank) rank[i]++;
    }
    for (size_t y = 0; y < PH; y++)
        for (size_t x = 0; x < PW; x++)
            prank[y * PW + x] = (y == 0 || x == 0 || y == PH - 1 || x == PW - 1)
                                    ? pad_rank
                                    : rank[(y - 1) * cols + (x - 1)];
    free(rank);
    rank = NULL;

    size_t n_words = ((size_t)n_levels + 63) / 64;
    head = malloc((size_t)n_levels * sizeof *head);
    bits = calloc(n_words, sizeof *bits);
    ubar = malloc(nk * sizeof *ubar);
    R = malloc(nk * sizeof *R);
    link = malloc(nk * sizeof *link);
    seen = calloc(nk, 1);
    if (!head || !bits || !ubar || !R || !link || !seen) goto nomem;
    for (uint32_t l = 0; l < n_levels; l++) head[l] = NIL;

    /* Propagation from the border corner (a padding pixel): pop the current
     * level's list; when it is empty move to the nearest non-empty level.
     * Each face is pushed once, at its interval clamped to the current level. */
    uint32_t l = pad_rank;
    head[l] = 0;
    link[0] = NIL;
    bits[l >> 6] |= (uint64_t)1 << (l & 63);
    seen[0] = 1;
    for (size_t i = 0; i < nk; i++) {
        if (head[l] == NIL) l = nearest_level(bits, n_words, l);
        uint32_t h = head[l];
        head[l] = link[h];
        if (head[l] == NIL) bits[l >> 6] &= ~((uint64_t)1 << (l & 63));
        ubar[h] = l;
        R[i] = h;
        size_t y = h / KW, x = h - y * KW;
        uint32_t nbr[4];
        int nn = 0;
        if (y > 0) nbr[nn++] = h - (uint32_t)KW;
        if (x > 0) nbr[nn++] = h - 1;
        if (x + 1 < KW) nbr[nn++] = h + 1;
        if (y + 1 < KH) nbr[nn++] = h + (uint32_t)KW;
        for (int k = 0; k < nn; k++) {
            uint32_t q = nbr[k];
            if (seen[q]) continue;
            seen[q] = 1;
            size_t qy = q / KW, qx = q - qy * KW;
            uint32_t lo, hi;
            face_interval(prank, PW, qy, qx, &lo, &hi);
            uint32_t lv = l < lo ? lo : (l > hi ? hi : l);
            if (head[lv] == NIL) bits[lv >> 6] |= (uint64_t)1 << (lv & 63);
            link[q] = head[lv];
            head[lv] = q;
        }
    }
    free(head);
    free(bits);
    free(prank);
    head = NULL;
    bits = NULL;
    prank = NULL;

    /* Union-find on R reversed over the 4-adjacency of K. */
    parent = malloc(nk * sizeof *parent);
    if (!parent) goto nomem;
    uint32_t *zpar = link;
    for (size_t i = 0; i < nk; i++) zpar[i] = NIL;
    for (size_t i = nk; i-- > 0;) {
        uint32_t p = R[i];
        parent[p] = p;
        zpar[p] = p;
        size_t y = p / KW, x = p - y * KW;
        uint32_t nbr[4];
        int nn = 0;
        if (y > 0) nbr[nn++] = p - (uint32_t)KW;
        if (x > 0) nbr[nn++] = p - 1;
        if (x + 1 < KW) nbr[nn++] = p + 1;
        if (y + 1 < KH) nbr[nn++] = p + (uint32_t)KW;
        for (int k = 0; k < nn; k++) {
            uint32_t q = nbr[k];
            if (zpar[q] == NIL) continue;
            uint32_t r = find_root(zpar, q);
            if (r != p) {
                parent[r] = p;
                zpar[r] = p;
            }
        }
    }
    for (size_t i = 0; i < nk; i++) {
        uint32_t p = R[i], q = parent[p];
        if (q != p && ubar[parent[q]] == ubar[q]) parent[p] = parent[q];
    }

    /* Keep the root and the nodes owning an original pixel. */
    memset(seen, 0, nk);
    for (size_t y = 0; y < rows; y++)
        for (size_t x = 0; x < cols; x++) {
            uint32_t f = (uint32_t)((2 * y + 2) * KW + 2 * x + 2), q = parent[f];
            seen[(q == f || ubar[q] != ubar[f]) ? f : q] = 1;
        }
    t->parent = malloc((n + 1) * sizeof *t->parent);
    t->level = malloc((n + 1) * sizeof *t->level);
    t->pixel_node = malloc(n * sizeof *t->pixel_node);
    if (!t->parent || !t->level || !t->pixel_node) goto nomem;
    uint32_t *nid = link;
    uint32_t n_nodes = 0;
    for (size_t i = 0; i < nk; i++) {
        uint32_t p = R[i], q = parent[p];
        if (q == p) {
            nid[p] = n_nodes;
            t->parent[n_nodes] = n_nodes;
            t->level[n_nodes++] = vals[ubar[p]];
        } else if (ubar[q] != ubar[p]) {
            if (seen[p]) {
                nid[p] = n_nodes;
                t->parent[n_nodes] = nid[q];
                t->level[n_nodes++] = vals[ubar[p]];
            } else {
                nid[p] = nid[q];
            }
        }
    }
    for (size_t y = 0; y < rows; y++)
        for (size_t x = 0; x < cols; x++) {
            uint32_t f = (uint32_t)((2 * y + 2) * KW + 2 * x + 2), q = parent[f];
            t->pixel_node[y * cols + x] = nid[(q == f || ubar[q] != ubar[f]) ? f : q];
        }
    t->n_nodes = n_nodes;
    goto done;
nomem:
    st = hsi_error(HSI_ERR_NOMEM, "out of memory building the tree of shapes of a %zu x %zu image",
                   rows, cols);
done:
    free(border);
    free(vals);
    free(rank);
    free(prank);
    free(head);
    free(bits);
    free(ubar);
    free(R);
    free(link);
    free(parent);
    free(seen);
    return st;
}

hsi_status hsi_tree_build(const float *image, size_t rows, size_t cols, hsi_tree_kind kind,
                          const hsi_tree_options *opts, hsi_tree **out)
{
    *out = NULL;
    int connectivity = opts && opts->connectivity ? opts->connectivity : 4;
    int bits = opts ? opts->quantise_bits : 0;
    if (!image || rows == 0 || cols == 0)
        return hsi_error(HSI_ERR_SIZE, "tree: empty image (%zu x %zu)", rows, cols);
    if (kind != HSI_TREE_MAX && kind != HSI_TREE_MIN && kind != HSI_TREE_SHAPES)
        return hsi_error(HSI_ERR_ARG, "tree: unknown tree kind %d", (int)kind);
    if (connectivity != 4 && connectivity != 8)
        return hsi_error(HSI_ERR_ARG, "tree: connectivity %d (want 4 or 8)", connectivity);
    if (bits != 0 && bits != 8 && bits != 16)
        return hsi_error(HSI_ERR_ARG, "tree: quantisation to %d bits (want 0, 8 or 16)", bits);
    size_t n = rows * cols;
    double faces = kind == HSI_TREE_SHAPES ? (2.0 * rows + 3) * (2.0 * cols + 3) : (double)n;
    if (n / cols != rows || faces >= (double)NIL - 1)
        return hsi_error(HSI_ERR_SIZE, "tree: image of %zu x %zu pixels is too large", rows, cols);

    hsi_tree *t = calloc(1, sizeof *t);
    uint32_t *key = malloc(n * sizeof *key);
    uint32_t *order = malloc(n * sizeof *order);
    hsi_status st = HSI_OK;
    if (!t || !key || !order) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory building a %zu x %zu tree", rows, cols);
        goto fail;
    }
    t->kind = kind;
    t->rows = rows;
    t->cols = cols;
    level_map map;
    uint32_t max_key = 0;
    if ((st = make_keys(image, n, bits, opts, key, &max_key, &map))) goto fail;
    if ((st = sort_by_key(key, n, max_key, order))) goto fail;
    if (kind == HSI_TREE_MIN) /* root end first: the highest level */
        for (size_t i = 0, j = n - 1; i < j; i++, j--) {
            uint32_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
    if (kind == HSI_TREE_SHAPES)
        st = build_tree_of_shapes(key, order, &map, rows, cols, t);
    else
        st = build_component_tree(key, order, &map, rows, cols, connectivity, t);
    if (st) goto fail;
    free(key);
    free(order);
    *out = t;
    return HSI_OK;
fail:
    free(key);
    free(order);
    hsi_tree_free(t);
    return st;
}

/* ---- attributes ---- */

void hsi_tree_accumulate(const hsi_tree *tree, size_t row0, const uint8_t *stop, hsi_tree_acc *acc)
{
    size_t nn = tree->n_nodes, cols = tree->cols;
    const uint32_t *pn = tree->pixel_node, *par = tree->parent;
    for (size_t i = 0; i < nn; i++) hsi_tree_acc_clear(&acc[i]);
    for (size_t y = 0, p = 0; y < tree->rows; y++)
        for (size_t x = 0; x < cols; x++, p++)
            hsi_tree_acc_pixel(&acc[pn[p]], (uint32_t)(row0 + y), (uint32_t)x);
    for (size_t i = nn; i-- > 1;)
        if (!stop || !stop[i]) hsi_tree_acc_merge(&acc[par[i]], &acc[i]);
}

void hsi_tree_accumulate_std(const hsi_tree *tree, const float *image, const uint8_t *stop,
                             hsi_tree_sacc *acc)
{
    size_t nn = tree->n_nodes, n = tree->rows * tree->cols;
    const uint32_t *pn = tree->pixel_node, *par = tree->parent;
    for (size_t i = 0; i < nn; i++) hsi_tree_sacc_clear(&acc[i]);
    for (size_t p = 0; p < n; p++) hsi_tree_sacc_value(&acc[pn[p]], image[p]);
    for (size_t i = nn; i-- > 1;)
        if (!stop || !stop[i]) hsi_tree_sacc_merge(&acc[par[i]], &acc[i]);
}

hsi_status hsi_tree_attribute(const hsi_tree *tree, const float *image, hsi_attribute attr,
                              double *out)
{
    size_t nn = tree->n_nodes;
    if (attr == HSI_ATTR_STD && !image)
        return hsi_error(HSI_ERR_ARG, "tree attribute std needs the image");
    if (attr != HSI_ATTR_STD) {
        hsi_tree_acc *acc = malloc(nn * sizeof *acc);
        if (!acc) return hsi_error(HSI_ERR_NOMEM, "out of memory for tree attributes");
        hsi_tree_accumulate(tree, 0, NULL, acc);
        for (size_t i = 0; i < nn; i++) out[i] = hsi_tree_acc_value(&acc[i], attr);
        free(acc);
        return HSI_OK;
    }
    /* std: exact integer sums (tree_internal.h), so the value is one
     * rounding of the exact population std, whatever the summation order. */
    hsi_tree_sacc *sacc = malloc(nn * sizeof *sacc);
    if (!sacc) return hsi_error(HSI_ERR_NOMEM, "out of memory for tree attributes");
    hsi_tree_accumulate_std(tree, image, NULL, sacc);
    for (size_t i = 0; i < nn; i++) out[i] = hsi_tree_sacc_std(&sacc[i]);
    free(sacc);
    return HSI_OK;
}

/* ---- filtering ---- */

hsi_status hsi_tree_filter(const hsi_tree *tree, const double *attr, double threshold,
                           hsi_filter_rule rule, float *out)
{
    size_t nn = tree->n_nodes, n = tree->rows * tree->cols;
    const uint32_t *par = tree->parent;
    const float *lev = tree->level;
    if (rule > HSI_RULE_SUBTRACTIVE)
        return hsi_error(HSI_ERR_ARG, "tree filter: unknown rule %d", (int)rule);
    uint8_t *keep = malloc(nn);
    double *value = malloc(nn * sizeof *value); /* double: the subtractive sums stay exact */
    if (!keep || !value) {
        free(keep);
        free(value);
        return hsi_error(HSI_ERR_NOMEM, "out of memory filtering a tree of %zu nodes", nn);
    }
    for (size_t i = 0; i < nn; i++) keep[i] = attr[i] >= threshold;
    keep[0] = 1;
    if (rule == HSI_RULE_MIN)
        for (size_t i = 1; i < nn; i++) keep[i] = keep[i] && keep[par[i]];
    else if (rule == HSI_RULE_MAX)
        for (size_t i = nn; i-- > 1;) keep[par[i]] |= keep[i];
    value[0] = lev[0];
    for (size_t i = 1; i < nn; i++) {
        uint32_t q = par[i];
        if (rule == HSI_RULE_SUBTRACTIVE)
            value[i] = keep[i] ? value[q] + ((double)lev[i] - lev[q]) : value[q];
        else
            value[i] = keep[i] ? lev[i] : value[q];
    }
    for (size_t p = 0; p < n; p++) out[p] = (float)value[tree->pixel_node[p]];
    free(keep);
    free(value);
    return HSI_OK;
}
