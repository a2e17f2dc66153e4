/* tree_block.c - row-block max/min-trees merged into the whole image's tree
 * (see tree_block.h for the method and its references).
 *
 * A block's boundary tree keeps, per boundary node k (numbered in the
 * block's node order, so parents come first):
 *   pref   the canonical pixel, as a key whose smaller value wins a tie
 *          (the pixel index for a max-tree, its complement for a min-tree)
 *   dkey   the level key, larger = deeper in the tree (complemented for a
 *          min-tree), so one merge serves both trees
 *   parent the boundary index of its parent (itself for the block's root)
 *   acc    integer accumulators of its own pixels and of the subtrees of its
 *          non-boundary children (those subtrees never change)
 *   hang   per attribute filtered with the max rule (a node is kept when
 *          some descendant passes), the largest attribute in those
 *          subtrees; none for an increasing attribute (its largest is the
 *          node's own)
 * and the boundary node of every pixel of its first and last rows. acc and
 * hang hold only what the summary asked for needs (node_fields).
 */
#include "features/tree_block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mpi.h"
#include "config.h"
#include "features/tree_internal.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

#define NIL UINT32_MAX
#define ALL_ATTR ((1u << HSI_ATTR_COUNT) - 1) /* every attribute merges exactly */

/* ---- what a set of attributes keeps per node ----
 *
 * Every attribute is one formula of integer sums (tree_internal.h): area of
 * the pixel count, diagonal of the bounding box, inertia of the count and
 * the coordinate moments, std of its own exact value sums. At exact float
 * levels the boundary trees and the merge approach a node per pixel, so a
 * node keeps only the parts of the sums its attributes need, packed in a
 * record of acc_bytes (8 for area alone, 200 for all four), a merged node
 * one value per attribute (n_attr columns), and both the subtree maxima
 * of the attributes the max rule reads (n_max columns: a boundary node's
 * hang, a merged node's submax), which an increasing attribute never
 * needs: its subtree maximum is the node's own value, bit for bit
 * (hsi_attribute_increasing). This is the one place that knows which
 * fields an attribute needs. */
enum { PART_COUNT, PART_BOX, PART_MOMENTS, PART_STD, N_PARTS };

static const size_t part_bytes[N_PARTS] = {
    [PART_COUNT] = sizeof(uint64_t),                                  /* n */
    [PART_BOX] = 4 * sizeof(uint32_t),                                /* y0, y1, x0, x1 */
    [PART_MOMENTS] = 2 * sizeof(uint64_t) + 2 * sizeof(unsigned __int128), /* sy sx syy sxx */
    [PART_STD] = sizeof(hsi_tree_sacc),
};

static const unsigned attr_parts[HSI_ATTR_COUNT] = {
    [HSI_ATTR_AREA] = 1u << PART_COUNT,
    [HSI_ATTR_DIAGONAL] = 1u << PART_BOX,
    [HSI_ATTR_INERTIA] = 1u << PART_COUNT | 1u << PART_MOMENTS,
    [HSI_ATTR_STD] = 1u << PART_STD,
};

typedef struct node_fields {
    unsigned summary;         /* mask | maxima as HSI_TREE_MAXIMA bits (tree_block.h) */
    unsigned mask;            /* the attributes, bit (1 << hsi_attribute) */
    unsigned maxima;          /* those whose subtree maxima are kept, same bits */
    unsigned parts;           /* bit (1 << PART_*): the sums they need */
    size_t off[N_PARTS];      /* each part's offset in a node's record */
    size_t acc_bytes;         /* a node's record */
    int n_attr;               /* attributes in mask: value columns */
    int col[HSI_ATTR_COUNT];  /* column of attribute a, -1 when not in mask */
    int n_max;                /* attributes in maxima: subtree maximum columns */
    int mcol[HSI_ATTR_COUNT]; /* column of a's subtree maximum, -1 when none is kept */
} node_fields;

unsigned hsi_tree_summary(unsigned attributes, hsi_filter_rule rule)
{
    attributes &= ALL_ATTR;
    return attributes | (rule == HSI_RULE_MAX ? attributes << HSI_ATTR_COUNT : 0);
}

/* The fields of a summary: maxima only of attributes it has that are not
 * increasing (so two summaries that differ only there keep the same). */
static node_fields node_fields_of(unsigned summary)
{
    node_fields f = {.mask = summary & ALL_ATTR};
    for (int a = 0; a < HSI_ATTR_COUNT; a++) {
        f.col[a] = (f.mask >> a) & 1 ? f.n_attr++ : -1;
        if (f.col[a] >= 0) f.parts |= attr_parts[a];
        int max = f.col[a] >= 0 && (summary & HSI_TREE_MAXIMA(a)) &&
                  !hsi_attribute_increasing((hsi_attribute)a);
        f.mcol[a] = max ? f.n_max++ : -1;
        if (max) f.maxima |= 1u << a;
    }
    f.summary = f.mask | f.maxima << HSI_ATTR_COUNT;
    for (int p = 0; p < N_PARTS; p++) {
        f.off[p] = f.acc_bytes;
        if ((f.parts >> p) & 1) f.acc_bytes += part_bytes[p];
    }
    return f;
}

static int has_part(const node_fields *f, int part) { return (f->parts >> part) & 1; }

/* A node's record from full accumulators (s may be NULL without std). */
static void acc_pack(const node_fields *f, uint8_t *rec, const hsi_tree_acc *g,
                     const hsi_tree_sacc *s)
{
    if (has_part(f, PART_COUNT)) memcpy(rec + f->off[PART_COUNT], &g->n, sizeof g->n);
    if (has_part(f, PART_BOX)) {
        uint32_t box[4] = {g->y0, g->y1, g->x0, g->x1};
        memcpy(rec + f->off[PART_BOX], box, sizeof box);
    }
    if (has_part(f, PART_MOMENTS)) {
        uint8_t *r = rec + f->off[PART_MOMENTS];
        memcpy(r, &g->sy, 8);
        memcpy(r + 8, &g->sx, 8);
        memcpy(r + 16, &g->syy, 16);
        memcpy(r + 32, &g->sxx, 16);
    }
    if (has_part(f, PART_STD)) memcpy(rec + f->off[PART_STD], s, sizeof *s);
}

/* Full accumulators from a record; the parts it lacks are empty. */
static void acc_unpack(const node_fields *f, const uint8_t *rec, hsi_tree_acc *g,
                       hsi_tree_sacc *s)
{
    hsi_tree_acc_clear(g);
    if (has_part(f, PART_COUNT)) memcpy(&g->n, rec + f->off[PART_COUNT], sizeof g->n);
    if (has_part(f, PART_BOX)) {
        uint32_t box[4];
        memcpy(box, rec + f->off[PART_BOX], sizeof box);
        g->y0 = box[0];
        g->y1 = box[1];
        g->x0 = box[2];
        g->x1 = box[3];
    }
    if (has_part(f, PART_MOMENTS)) {
        const uint8_t *r = rec + f->off[PART_MOMENTS];
        memcpy(&g->sy, r, 8);
        memcpy(&g->sx, r + 8, 8);
        memcpy(&g->syy, r + 16, 16);
        memcpy(&g->sxx, r + 32, 16);
    }
    if (has_part(f, PART_STD)) memcpy(s, rec + f->off[PART_STD], sizeof *s);
    else hsi_tree_sacc_clear(s);
}

/* dst (fd's record) += src (fs's record; fs has every part fd has). */
static void acc_merge(const node_fields *fd, uint8_t *dst, const node_fields *fs,
                      const uint8_t *src)
{
    hsi_tree_acc a, b;
    hsi_tree_sacc sa, sb;
    acc_unpack(fd, dst, &a, &sa);
    acc_unpack(fs, src, &b, &sb);
    hsi_tree_acc_merge(&a, &b);
    if (has_part(fd, PART_STD)) hsi_tree_sacc_merge(&sa, &sb);
    acc_pack(fd, dst, &a, &sa);
}

static void acc_clear(const node_fields *f, uint8_t *rec)
{
    hsi_tree_acc g;
    hsi_tree_sacc s;
    hsi_tree_acc_clear(&g);
    hsi_tree_sacc_clear(&s);
    acc_pack(f, rec, &g, &s);
}

/* Attribute values of a record, in f's columns. */
static void acc_values(const node_fields *f, const uint8_t *rec, double *val)
{
    hsi_tree_acc g;
    hsi_tree_sacc s;
    acc_unpack(f, rec, &g, &s);
    for (int a = 0; a < HSI_ATTR_COUNT; a++)
        if (f->col[a] >= 0)
            val[f->col[a]] = a == HSI_ATTR_STD ? hsi_tree_sacc_std(&s)
                                               : hsi_tree_acc_value(&g, (hsi_attribute)a);
}

struct hsi_tree_boundary {
    uint32_t kind;
    node_fields fields; /* the summary's fields; mask 0: structure only */
    uint64_t row0, rows, cols, image_rows;
    uint64_t n;
    uint64_t *pref;
    uint32_t *dkey;
    float *level;
    uint32_t *parent;
    uint8_t *acc;     /* [n][fields.acc_bytes] */
    double *hang;     /* [n][fields.n_max] */
    uint32_t *top;    /* [cols] or NULL at the image's top */
    uint32_t *bottom; /* [cols] or NULL at the image's bottom */
};

/* One filter of the merged nodes: kept or not, and the new level, for the
 * level roots. */
struct merged_filter {
    int set;
    hsi_attribute attr;
    double threshold;
    hsi_filter_rule rule;
    uint8_t *keep;
    double *value;
};

struct hsi_tree_merged {
    hsi_tree_kind kind;
    node_fields fields;      /* what every block's summary has */
    size_t cols, image_rows, n_blocks, n;
    size_t *offset;          /* [n_blocks + 1] first node of each block */
    uint64_t *row0, *rows;   /* [n_blocks] */
    uint32_t *root;          /* [n] level root (the merged node) of each node */
    uint32_t *mpar;          /* [n] merged parent of a level root, NIL for the image root */
    uint64_t *pref;          /* [n] */
    float *level;            /* [n] */
    double *attr;            /* [n][fields.n_attr] for level roots */
    double *submax;          /* [n][fields.n_max] largest attribute in the subtree */
    uint32_t *order;         /* level roots, shallow to deep */
    size_t n_roots;
    size_t n_slots;
    struct merged_filter *slots;
    int compact; /* slots hold per-node results; root, mpar, attributes freed */
};

static int mergeable(hsi_attribute attr) { return attr < HSI_ATTR_COUNT; }

static hsi_status refuse_attr(hsi_attribute attr)
{
    return hsi_error(HSI_ERR_ARG, "tree merge: unknown attribute %d", (int)attr);
}

void hsi_tree_boundary_free(hsi_tree_boundary *b)
{
    if (!b) return;
    free(b->pref);
    free(b->dkey);
    free(b->level);
    free(b->parent);
    free(b->acc);
    free(b->hang);
    free(b->top);
    free(b->bottom);
    free(b);
}

/* The per-node arrays of n boundary nodes with b->fields' records
 * (at least one of each, so that 0 nodes is not a failure); -1: out of
 * memory (hsi_tree_boundary_free releases what was had). */
static int alloc_nodes(hsi_tree_boundary *b, size_t n)
{
    size_t m = n ? n : 1, rec = b->fields.acc_bytes, nm = (size_t)b->fields.n_max;
    b->pref = malloc(m * sizeof *b->pref);
    b->dkey = malloc(m * sizeof *b->dkey);
    b->level = malloc(m * sizeof *b->level);
    b->parent = malloc(m * sizeof *b->parent);
    b->acc = malloc(m * (rec ? rec : 1));
    b->hang = malloc(m * (nm ? nm : 1) * sizeof *b->hang);
    return b->pref && b->dkey && b->level && b->parent && b->acc && b->hang ? 0 : -1;
}

size_t hsi_tree_boundary_nodes(const hsi_tree_boundary *b) { return (size_t)b->n; }

/* Per boundary node: pref, dkey, level, parent, the accumulator record and
 * hang. */
static size_t boundary_node_bytes(const node_fields *f)
{
    return sizeof(uint64_t) + 3 * sizeof(uint32_t) + f->acc_bytes +
           (size_t)f->n_max * sizeof(double);
}

size_t hsi_tree_boundary_node_bytes(unsigned summary)
{
    node_fields f = node_fields_of(summary);
    return boundary_node_bytes(&f);
}

size_t hsi_tree_boundary_bytes(const hsi_tree_boundary *b)
{
    size_t rows = (b->top != NULL) + (b->bottom != NULL);
    return (size_t)b->n * boundary_node_bytes(&b->fields) +
           rows * (size_t)b->cols * sizeof(uint32_t);
}

/* hsi_tree_merge keeps, per node, root, mpar, order, pref, level, per
 * attribute its value and the subtree maxima kept (32 bytes for area alone,
 * 56 for all four, 72 with the max rule), and works with par, dkey and the
 * accumulator records it merges;
 * each filter adds keep and value, and hsi_tree_merged_compact copies one
 * filter at a time before it frees the rest. */
/* Per node and filter: kept or not, and the new level. */
#define FILTER_BYTES (sizeof(uint8_t) + sizeof(double))

static size_t merged_node_bytes(const node_fields *f)
{
    return 3 * sizeof(uint32_t) + sizeof(uint64_t) + sizeof(float) +
           (size_t)(f->n_attr + f->n_max) * sizeof(double);
}

size_t hsi_tree_merge_bytes(size_t nodes, unsigned summary, size_t n_slots)
{
    node_fields f = node_fields_of(summary);
    size_t work = 2 * sizeof(uint32_t) + f.acc_bytes;
    size_t slots = (n_slots + 1) * FILTER_BYTES;
    return nodes * (merged_node_bytes(&f) + (work > slots ? work : slots));
}

size_t hsi_tree_merged_compact_bytes(size_t nodes, size_t n_slots)
{
    return nodes * n_slots * FILTER_BYTES;
}

/* bidx[i] = boundary index of node i (numbered in node order) or NIL: the
 * ancestors of the nodes of the pixels in the first row (if row0 > 0) and
 * the last row (if the block ends before the image). Returns the count. */
static size_t mark_boundary(const hsi_tree *t, size_t row0, size_t image_rows, uint32_t *bidx)
{
    size_t nn = t->n_nodes, C = t->cols;
    for (size_t i = 0; i < nn; i++) bidx[i] = NIL;
    for (int side = 0; side < 2; side++) {
        if (side == 0 && row0 == 0) continue;
        if (side == 1 && row0 + t->rows >= image_rows) continue;
        const uint32_t *pn = t->pixel_node + (side ? (t->rows - 1) * C : 0);
        for (size_t x = 0; x < C; x++)
            for (uint32_t i = pn[x]; bidx[i] == NIL; i = t->parent[i]) {
                bidx[i] = 0; /* marked; numbered below */
                if (i == 0) break;
            }
    }
    size_t nb = 0;
    for (size_t i = 0; i < nn; i++)
        if (bidx[i] != NIL) bidx[i] = (uint32_t)nb++;
    return nb;
}

/* canon[i] = canonical pixel of node i within the tree (first pixel at the
 * node's level in sort order: smallest index for a max-tree, largest for a
 * min-tree). */
static void canonical_pixels(const hsi_tree *t, uint32_t *canon)
{
    size_t nn = t->n_nodes, n = t->rows * t->cols;
    for (size_t i = 0; i < nn; i++) canon[i] = NIL;
    if (t->kind == HSI_TREE_MIN) {
        for (size_t p = 0; p < n; p++) canon[t->pixel_node[p]] = (uint32_t)p;
    } else {
        for (size_t p = n; p-- > 0;) canon[t->pixel_node[p]] = (uint32_t)p;
    }
}

/* The sums the block's tree must accumulate for f: the coordinate ones
 * (hsi_tree_acc) for area, diagonal or inertia, the value ones for std. */
static int needs_geo(const node_fields *f) { return (f->parts & ~(1u << PART_STD)) != 0; }
static int needs_std(const node_fields *f) { return has_part(f, PART_STD); }

/* Local accumulators (stopping at boundary nodes) of f's sums: acc
 * (needs_geo) and sacc (needs_std) are [nn]; with val, the attribute
 * values [nn][f->n_attr], and with smax (and val) the subtree maxima of
 * f's maxima [nn][f->n_max] (boundary nodes: over their non-boundary
 * children only). stop is nn bytes of scratch (it may be val). Nothing to
 * do without attributes. */
static void local_attributes(const hsi_tree *t, const float *image, size_t row0,
                             const uint32_t *bidx, const node_fields *f, uint8_t *stop,
                             hsi_tree_acc *acc, hsi_tree_sacc *sacc, double *val, double *smax)
{
    size_t nn = t->n_nodes, na = (size_t)f->n_attr, nm = (size_t)f->n_max;
    if (!na) return;
    for (size_t i = 0; i < nn; i++) stop[i] = bidx[i] != NIL;
    if (needs_geo(f)) hsi_tree_accumulate(t, row0, stop, acc);
    if (needs_std(f)) hsi_tree_accumulate_std(t, image, stop, sacc);
    if (!val) return;
    if (!nm) smax = NULL;
    for (size_t i = 0; i < nn; i++)
        for (int a = 0; a < HSI_ATTR_COUNT; a++) {
            int c = f->col[a], mc = f->mcol[a];
            if (c < 0) continue;
            double v = a == HSI_ATTR_STD ? hsi_tree_sacc_std(&sacc[i])
                                         : hsi_tree_acc_value(&acc[i], (hsi_attribute)a);
            val[i * na + c] = v;
            if (smax && mc >= 0) smax[i * nm + mc] = bidx[i] != NIL ? -INFINITY : v;
        }
    if (!smax) return;
    for (size_t i = nn; i-- > 1;) {
        if (bidx[i] != NIL) continue;
        double *s = smax + (size_t)t->parent[i] * nm, *c = smax + i * nm;
        for (size_t a = 0; a < nm; a++)
            if (c[a] > s[a]) s[a] = c[a];
    }
}

hsi_status hsi_tree_boundary_make(const hsi_tree *tree, const float *block, size_t row0,
                                  size_t image_rows, const hsi_tree_options *opts,
                                  hsi_tree_boundary **out)
{
    return hsi_tree_boundary_make_ex(tree, block, row0, image_rows, opts, HSI_TREE_SUMMARY_ALL,
                                     out);
}

hsi_status hsi_tree_boundary_make_ex(const hsi_tree *tree, const float *block, size_t row0,
                                     size_t image_rows, const hsi_tree_options *opts,
                                     unsigned summary, hsi_tree_boundary **out)
{
    *out = NULL;
    if (tree->kind == HSI_TREE_SHAPES)
        return hsi_error(HSI_ERR_ARG,
                         "trees of shapes cannot be merged across row blocks here (no exact "
                         "merge is implemented): the SDAP needs the whole band on one rank");
    if (row0 + tree->rows > image_rows)
        return hsi_error(HSI_ERR_ARG, "tree block: rows %zu..%zu beyond the image's %zu", row0,
                         row0 + tree->rows, image_rows);
    size_t nn = tree->n_nodes, C = tree->cols;
    int bits = opts ? opts->quantise_bits : 0;
    if (bits && !(opts && opts->has_range))
        return hsi_error(HSI_ERR_ARG, "tree block: quantised levels need the image's range");
    const node_fields f = node_fields_of(summary);
    size_t na = (size_t)f.n_attr, nm = (size_t)f.n_max, rec = f.acc_bytes;
    hsi_tree_boundary *b = calloc(1, sizeof *b);
    uint32_t *bidx = malloc(nn * sizeof *bidx);
    uint32_t *canon = malloc(nn * sizeof *canon);
    hsi_tree_acc *acc = NULL;
    hsi_tree_sacc *sacc = NULL;
    double *val = NULL, *smax = NULL;
    hsi_status st = HSI_OK;
    if (!b || !bidx || !canon) goto nomem;
    size_t nb = mark_boundary(tree, row0, image_rows, bidx);
    int local = na && nb; /* a block without boundaries needs no attributes */
    if (local) {
        /* the values only for the subtree maxima (hang) kept */
        acc = needs_geo(&f) ? malloc(nn * sizeof *acc) : NULL;
        sacc = needs_std(&f) ? malloc(nn * sizeof *sacc) : NULL;
        val = nm ? malloc(nn * na * sizeof *val) : NULL;
        smax = nm ? malloc(nn * nm * sizeof *smax) : NULL;
        if ((needs_geo(&f) && !acc) || (needs_std(&f) && !sacc) || (nm && (!val || !smax)))
            goto nomem;
        /* canon, not yet filled, is the scratch */
        local_attributes(tree, block, row0, bidx, &f, (uint8_t *)canon, acc, sacc, val, smax);
    }
    canonical_pixels(tree, canon);
    b->fields = f;
    b->kind = (uint32_t)tree->kind;
    b->row0 = row0;
    b->rows = tree->rows;
    b->cols = C;
    b->image_rows = image_rows;
    b->n = nb;
    if (alloc_nodes(b, nb)) goto nomem;
    int is_min = tree->kind == HSI_TREE_MIN;
    for (size_t i = 0; i < nn; i++) {
        uint32_t k = bidx[i];
        if (k == NIL) continue;
        uint64_t g = (uint64_t)row0 * C + canon[i];
        float v = block[canon[i]];
        uint32_t key = bits ? hsi_tree_quant_key(v, opts->range_lo, opts->range_hi, bits)
                            : hsi_tree_float_key(v);
        b->pref[k] = is_min ? ~g : g;
        b->dkey[k] = is_min ? ~key : key;
        b->level[k] = tree->level[i];
        b->parent[k] = i == 0 ? k : bidx[tree->parent[i]];
        if (local) {
            acc_pack(&f, b->acc + k * rec, acc ? &acc[i] : NULL, sacc ? &sacc[i] : NULL);
            if (nm) memcpy(b->hang + k * nm, smax + i * nm, nm * sizeof *b->hang);
        }
    }
    for (int side = 0; side < 2; side++) {
        if (side == 0 && row0 == 0) continue;
        if (side == 1 && row0 + tree->rows >= image_rows) continue;
        uint32_t *row = malloc(C * sizeof *row);
        if (!row) goto nomem;
        const uint32_t *pn = tree->pixel_node + (side ? (tree->rows - 1) * C : 0);
        for (size_t x = 0; x < C; x++) row[x] = bidx[pn[x]];
        if (side) b->bottom = row;
        else b->top = row;
    }
    goto done;
nomem:
    st = hsi_error(HSI_ERR_NOMEM, "out of memory for the boundary tree of rows %zu..%zu", row0,
                   row0 + tree->rows);
    hsi_tree_boundary_free(b);
    b = NULL;
done:
    free(bidx);
    free(canon);
    free(acc);
    free(sacc);
    free(val);
    free(smax);
    *out = b;
    return st;
}

/* ---- byte form ---- */

typedef struct packer {
    uint8_t *p;
    size_t len, cap;
    int failed;
} packer;

static void put(packer *k, const void *src, size_t n)
{
    if (k->failed) return;
    if (k->len + n > k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap < k->len + n) cap *= 2;
        uint8_t *q = realloc(k->p, cap);
        if (!q) {
            k->failed = 1;
            return;
        }
        k->p = q;
        k->cap = cap;
    }
    memcpy(k->p + k->len, src, n);
    k->len += n;
}

#define PACK_MAGIC 0x33534254u /* "TBS3": records and maxima of the summary's fields only */

hsi_status hsi_tree_boundary_pack(const hsi_tree_boundary *b, void **buf, size_t *len)
{
    packer k = {0};
    uint32_t magic = PACK_MAGIC,
             flags = (b->top ? 1u : 0u) | (b->bottom ? 2u : 0u) | b->fields.summary << 2;
    put(&k, &magic, 4);
    put(&k, &b->kind, 4);
    put(&k, &flags, 4);
    put(&k, &b->row0, 8);
    put(&k, &b->rows, 8);
    put(&k, &b->cols, 8);
    put(&k, &b->image_rows, 8);
    put(&k, &b->n, 8);
    size_t n = (size_t)b->n;
    put(&k, b->pref, n * sizeof *b->pref);
    put(&k, b->dkey, n * sizeof *b->dkey);
    put(&k, b->level, n * sizeof *b->level);
    put(&k, b->parent, n * sizeof *b->parent);
    put(&k, b->acc, n * b->fields.acc_bytes);
    put(&k, b->hang, n * (size_t)b->fields.n_max * sizeof *b->hang);
    if (b->top) put(&k, b->top, (size_t)b->cols * sizeof *b->top);
    if (b->bottom) put(&k, b->bottom, (size_t)b->cols * sizeof *b->bottom);
    if (k.failed) {
        free(k.p);
        return hsi_error(HSI_ERR_NOMEM, "out of memory packing a boundary tree");
    }
    *buf = k.p;
    *len = k.len;
    return HSI_OK;
}

static int take(const uint8_t *src, size_t len, size_t *at, void *dst, size_t n)
{
    if (*at + n > len) return -1;
    memcpy(dst, src + *at, n);
    *at += n;
    return 0;
}

hsi_status hsi_tree_boundary_unpack(const void *buf, size_t len, hsi_tree_boundary **out,
                                    size_t *used)
{
    const uint8_t *s = buf;
    size_t at = 0;
    uint32_t magic = 0, flags = 0;
    *out = NULL;
    hsi_tree_boundary *b = calloc(1, sizeof *b);
    if (!b) return hsi_error(HSI_ERR_NOMEM, "out of memory unpacking a boundary tree");
    if (take(s, len, &at, &magic, 4) || magic != PACK_MAGIC || take(s, len, &at, &b->kind, 4) ||
        take(s, len, &at, &flags, 4) || take(s, len, &at, &b->row0, 8) ||
        take(s, len, &at, &b->rows, 8) || take(s, len, &at, &b->cols, 8) ||
        take(s, len, &at, &b->image_rows, 8) || take(s, len, &at, &b->n, 8) ||
        b->n > len || ((flags & 3) && b->cols > len))
        goto bad;
    size_t n = (size_t)b->n, C = (size_t)b->cols;
    b->fields = node_fields_of(flags >> 2);
    size_t rec = b->fields.acc_bytes, nm = (size_t)b->fields.n_max;
    int failed = alloc_nodes(b, n);
    if (flags & 1) b->top = malloc(C * sizeof *b->top);
    if (flags & 2) b->bottom = malloc(C * sizeof *b->bottom);
    if (failed || ((flags & 1) && !b->top) || ((flags & 2) && !b->bottom)) {
        hsi_tree_boundary_free(b);
        return hsi_error(HSI_ERR_NOMEM, "out of memory unpacking a boundary tree");
    }
    if (take(s, len, &at, b->pref, n * sizeof *b->pref) ||
        take(s, len, &at, b->dkey, n * sizeof *b->dkey) ||
        take(s, len, &at, b->level, n * sizeof *b->level) ||
        take(s, len, &at, b->parent, n * sizeof *b->parent) ||
        take(s, len, &at, b->acc, n * rec) ||
        take(s, len, &at, b->hang, n * nm * sizeof *b->hang) ||
        (b->top && take(s, len, &at, b->top, C * sizeof *b->top)) ||
        (b->bottom && take(s, len, &at, b->bottom, C * sizeof *b->bottom)))
        goto bad;
    for (size_t k = 0; k < n; k++)
        if (b->parent[k] >= n) goto bad;
    for (size_t x = 0; x < C; x++)
        if ((b->top && b->top[x] >= n) || (b->bottom && b->bottom[x] >= n)) goto bad;
    *out = b;
    if (used) *used = at;
    return HSI_OK;
bad:
    hsi_tree_boundary_free(b);
    return hsi_error(HSI_ERR_FORMAT, "malformed boundary tree (%zu bytes)", len);
}

hsi_status hsi_tree_boundary_allgather(hsi_tree_boundary *const *mine, size_t n_mine,
                                       hsi_tree_boundary ***all, size_t *n_all)
{
    *all = NULL;
    *n_all = 0;
    packer k = {0};
    uint64_t count = n_mine;
    put(&k, &count, 8);
    for (size_t i = 0; i < n_mine && !k.failed; i++) {
        void *buf;
        size_t len;
        hsi_status st = hsi_tree_boundary_pack(mine[i], &buf, &len);
        if (st) {
            free(k.p);
            return st;
        }
        put(&k, buf, len);
        free(buf);
    }
    if (k.failed) {
        free(k.p);
        return hsi_error(HSI_ERR_NOMEM, "out of memory packing boundary trees");
    }
    int rank = 0, size = 1;
    hsi_mpi_layout(&rank, &size);
    uint8_t *gathered = k.p;
    size_t glen = k.len;
    int n_parts = 1;
#ifdef HAVE_MPI
    if (size > 1) {
        /* lengths, then the bytes (counts are ints: chunks under 2 GiB) */
        if (k.len > (size_t)0x7fffffff) {
            free(k.p);
            return hsi_error(HSI_ERR_SIZE, "boundary trees of %zu bytes on one rank (over 2 GiB)",
                             k.len);
        }
        int mylen = (int)k.len;
        int *lens = malloc((size_t)size * sizeof *lens), *displ = malloc((size_t)size * sizeof *displ);
        if (!lens || !displ) {
            free(lens);
            free(displ);
            free(k.p);
            return hsi_error(HSI_ERR_NOMEM, "out of memory gathering boundary trees");
        }
        MPI_Allgather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, MPI_COMM_WORLD);
        size_t total = 0;
        for (int r = 0; r < size; r++) {
            displ[r] = (int)total;
            total += (size_t)lens[r];
        }
        gathered = total <= (size_t)0x7fffffff ? malloc(total ? total : 1) : NULL;
        int ok = gathered != NULL, all_ok = 0;
        MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (!all_ok) {
            free(gathered);
            free(lens);
            free(displ);
            free(k.p);
            return hsi_error(HSI_ERR_NOMEM, "out of memory (or over 2 GiB) gathering %zu bytes "
                             "of boundary trees", total);
        }
        MPI_Allgatherv(k.p, mylen, MPI_BYTE, gathered, lens, displ, MPI_BYTE, MPI_COMM_WORLD);
        free(k.p);
        free(lens);
        free(displ);
        glen = total;
        n_parts = size;
    }
#else
    (void)rank;
    (void)size;
#endif
    hsi_status st = HSI_OK;
    size_t at = 0, n = 0, cap = 0;
    hsi_tree_boundary **list = NULL;
    for (int part = 0; part < n_parts && !st; part++) {
        uint64_t cnt;
        if (take(gathered, glen, &at, &cnt, 8)) {
            st = hsi_error(HSI_ERR_FORMAT, "malformed boundary trees from rank %d", part);
            break;
        }
        for (uint64_t i = 0; i < cnt && !st; i++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                hsi_tree_boundary **l = realloc(list, cap * sizeof *l);
                if (!l) {
                    st = hsi_error(HSI_ERR_NOMEM, "out of memory gathering boundary trees");
                    break;
                }
                list = l;
            }
            size_t used = 0;
            st = hsi_tree_boundary_unpack(gathered + at, glen - at, &list[n], &used);
            if (!st) {
                n++;
                at += used;
            }
        }
    }
    free(gathered);
    if (st) {
        for (size_t i = 0; i < n; i++) hsi_tree_boundary_free(list[i]);
        free(list);
        return st;
    }
    *all = list;
    *n_all = n;
    return HSI_OK;
}

/* ---- the merge ---- */

void hsi_tree_merged_free(hsi_tree_merged *m)
{
    if (!m) return;
    free(m->offset);
    free(m->row0);
    free(m->rows);
    free(m->root);
    free(m->mpar);
    free(m->pref);
    free(m->level);
    free(m->attr);
    free(m->submax);
    free(m->order);
    for (size_t i = 0; i < m->n_slots; i++) {
        free(m->slots[i].keep);
        free(m->slots[i].value);
    }
    free(m->slots);
    free(m);
}

typedef struct forest {
    uint32_t *par;
    const uint32_t *dkey;
    const uint64_t *pref;
} forest;

/* The level root of x: follow parents of the same level, halving the path. */
static uint32_t levroot(forest *f, uint32_t x)
{
    while (f->par[x] != x && f->dkey[f->par[x]] == f->dkey[x]) {
        uint32_t p = f->par[x], g = f->par[p];
        if (f->dkey[g] == f->dkey[x]) f->par[x] = g;
        x = p;
    }
    return x;
}

static uint32_t parent_root(forest *f, uint32_t x)
{
    return f->par[x] == x ? NIL : levroot(f, f->par[x]);
}

/* Wilkinson et al. (2008), connect(): join the ancestor chains of the nodes
 * of two neighbouring pixels. x stays the deeper of the two; at each step
 * either x climbs (its parent is still at least as deep as y) or y is
 * spliced in as x's parent and the walk continues with y's old chain. Two
 * level roots of the same level become one node, the canonical (smaller
 * pref) one surviving, so the merged node keeps the single-process
 * identity. */
static void connect(forest *f, uint32_t x, uint32_t y)
{
    x = levroot(f, x);
    y = levroot(f, y);
    if (f->dkey[y] > f->dkey[x]) {
        uint32_t t = x;
        x = y;
        y = t;
    }
    while (x != y && y != NIL) {
        uint32_t z = parent_root(f, x);
        if (z != NIL && f->dkey[z] >= f->dkey[y]) {
            x = z;
        } else if (f->dkey[x] == f->dkey[y]) {
            /* same level, z and y's parent both shallower: one node */
            uint32_t zy = parent_root(f, y);
            if (f->pref[y] < f->pref[x]) {
                f->par[x] = y;
                x = y;
                y = z;
            } else {
                f->par[y] = x;
                y = zy;
            }
        } else {
            f->par[x] = y; /* y between x and its old parent z */
            x = y;
            y = z;
        }
    }
}

static const uint32_t *sort_dkey;
static int compare_shallow_first(const void *a, const void *b)
{
    uint32_t x = sort_dkey[*(const uint32_t *)a], y = sort_dkey[*(const uint32_t *)b];
    return (x > y) - (x < y);
}

hsi_status hsi_tree_merge(hsi_tree_boundary *const *blocks, size_t n_blocks, int connectivity,
                          hsi_tree_merged **out)
{
    *out = NULL;
    if (n_blocks == 0) return hsi_error(HSI_ERR_ARG, "tree merge: no blocks");
    if (connectivity != 4 && connectivity != 8)
        return hsi_error(HSI_ERR_ARG, "tree merge: connectivity %d (want 4 or 8)", connectivity);
    size_t C = (size_t)blocks[0]->cols, total = 0, next_row = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        const hsi_tree_boundary *k = blocks[b];
        if (k->cols != C || k->kind != blocks[0]->kind || k->row0 != next_row ||
            k->image_rows != blocks[0]->image_rows)
            return hsi_error(HSI_ERR_ARG, "tree merge: block %zu (rows %llu..) does not follow "
                             "the previous one (row %zu)", b, (unsigned long long)k->row0,
                             next_row);
        next_row += (size_t)k->rows;
        total += (size_t)k->n;
    }
    if (next_row != blocks[0]->image_rows)
        return hsi_error(HSI_ERR_ARG, "tree merge: blocks cover %zu of the image's %llu rows",
                         next_row, (unsigned long long)blocks[0]->image_rows);
    if (total >= NIL) return hsi_error(HSI_ERR_SIZE, "tree merge: %zu boundary nodes", total);

    hsi_tree_merged *m = calloc(1, sizeof *m);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory merging trees");
    size_t t1 = total ? total : 1;
    m->kind = (hsi_tree_kind)blocks[0]->kind;
    unsigned summary = HSI_TREE_SUMMARY_ALL;
    for (size_t b = 0; b < n_blocks; b++) summary &= blocks[b]->fields.summary;
    m->fields = node_fields_of(summary);
    const node_fields *f = &m->fields;
    size_t na = (size_t)f->n_attr, nm = (size_t)f->n_max, rec = f->acc_bytes;
    m->cols = C;
    m->image_rows = (size_t)blocks[0]->image_rows;
    m->n_blocks = n_blocks;
    m->n = total;
    m->offset = malloc((n_blocks + 1) * sizeof *m->offset);
    m->row0 = malloc(n_blocks * sizeof *m->row0);
    m->rows = malloc(n_blocks * sizeof *m->rows);
    m->root = malloc(t1 * sizeof *m->root);
    m->mpar = malloc(t1 * sizeof *m->mpar);
    m->pref = malloc(t1 * sizeof *m->pref);
    m->level = malloc(t1 * sizeof *m->level);
    m->attr = malloc(t1 * (na ? na : 1) * sizeof *m->attr);
    m->submax = nm ? malloc(t1 * nm * sizeof *m->submax) : NULL;
    m->order = malloc(t1 * sizeof *m->order);
    uint32_t *par = malloc(t1 * sizeof *par), *dkey = malloc(t1 * sizeof *dkey);
    /* the accumulator records of the attributes every block summarised */
    uint8_t *acc = malloc(t1 * (rec ? rec : 1));
    if (!acc || !m->offset || !m->row0 || !m->rows || !m->root || !m->mpar || !m->pref ||
        !m->level || !m->attr || (nm && !m->submax) || !m->order || !par || !dkey) {
        free(par);
        free(dkey);
        free(acc);
        hsi_tree_merged_free(m);
        return hsi_error(HSI_ERR_NOMEM, "out of memory merging %zu boundary nodes", total);
    }
    size_t off = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        const hsi_tree_boundary *k = blocks[b];
        size_t n = (size_t)k->n;
        m->offset[b] = off;
        m->row0[b] = k->row0;
        m->rows[b] = k->rows;
        for (size_t i = 0; i < n; i++) {
            par[off + i] = (uint32_t)(off + k->parent[i]);
            dkey[off + i] = k->dkey[i];
            m->pref[off + i] = k->pref[i];
            m->level[off + i] = k->level[i];
        }
        off += n;
    }
    m->offset[n_blocks] = off;

    /* connect every pair of neighbouring pixels across each boundary */
    forest fo = {par, dkey, m->pref};
    for (size_t b = 0; b + 1 < n_blocks; b++) {
        const uint32_t *lo = blocks[b]->bottom, *hi = blocks[b + 1]->top;
        uint32_t o1 = (uint32_t)m->offset[b], o2 = (uint32_t)m->offset[b + 1];
        for (size_t x = 0; x < C; x++) {
            connect(&fo, o1 + lo[x], o2 + hi[x]);
            if (connectivity == 8) {
                if (x > 0) connect(&fo, o1 + lo[x], o2 + hi[x - 1]);
                if (x + 1 < C) connect(&fo, o1 + lo[x], o2 + hi[x + 1]);
            }
        }
    }

    /* merged nodes, their parents, and an order shallow to deep */
    size_t nr = 0;
    for (size_t i = 0; i < total; i++) {
        m->root[i] = levroot(&fo, (uint32_t)i);
        if (m->root[i] == i) m->order[nr++] = (uint32_t)i;
    }
    for (size_t j = 0; j < nr; j++) m->mpar[m->order[j]] = parent_root(&fo, m->order[j]);
    sort_dkey = dkey;
    qsort(m->order, nr, sizeof *m->order, compare_shallow_first);
    m->n_roots = nr;

    /* attributes: each node's own sums into its merged node, then deep to
     * shallow into parents; the subtree maxima kept likewise */
    if (na) {
        for (size_t i = 0; i < total; i++) acc_clear(f, acc + i * rec);
        for (size_t b = 0, i = 0; b < n_blocks; b++)
            for (size_t j = 0; j < blocks[b]->n; j++, i++)
                acc_merge(f, acc + (size_t)m->root[i] * rec, &blocks[b]->fields,
                          blocks[b]->acc + j * blocks[b]->fields.acc_bytes);
        for (size_t j = nr; j-- > 0;) {
            uint32_t r = m->order[j];
            if (m->mpar[r] != NIL) acc_merge(f, acc + (size_t)m->mpar[r] * rec, f, acc + r * rec);
        }
        for (size_t j = 0; j < nr; j++) {
            size_t r = m->order[j];
            acc_values(f, acc + r * rec, m->attr + r * na);
            for (int a = 0; a < HSI_ATTR_COUNT; a++)
                if (f->mcol[a] >= 0) m->submax[r * nm + f->mcol[a]] = m->attr[r * na + f->col[a]];
        }
    }
    if (nm) {
        for (size_t b = 0, i = 0; b < n_blocks; b++) {
            const node_fields *bf = &blocks[b]->fields;
            for (size_t j = 0; j < blocks[b]->n; j++, i++) {
                double *s = m->submax + (size_t)m->root[i] * nm;
                const double *h = blocks[b]->hang + j * (size_t)bf->n_max;
                for (int a = 0; a < HSI_ATTR_COUNT; a++) {
                    int mc = f->mcol[a], bc = bf->mcol[a];
                    if (mc >= 0 && h[bc] > s[mc]) s[mc] = h[bc];
                }
            }
        }
        for (size_t j = nr; j-- > 0;) {
            uint32_t r = m->order[j];
            if (m->mpar[r] == NIL) continue;
            double *s = m->submax + (size_t)m->mpar[r] * nm, *c = m->submax + (size_t)r * nm;
            for (size_t a = 0; a < nm; a++)
                if (c[a] > s[a]) s[a] = c[a];
        }
    }
    free(par);
    free(dkey);
    free(acc);
    *out = m;
    return HSI_OK;
}

size_t hsi_tree_merged_bytes(const hsi_tree_merged *m)
{
    size_t per = m->compact ? 0 : merged_node_bytes(&m->fields);
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].set) per += FILTER_BYTES;
    return m->n * per;
}

hsi_status hsi_tree_merged_compact(hsi_tree_merged *m)
{
    if (m->compact) return HSI_OK;
    for (size_t i = 0; i < m->n_slots; i++) {
        struct merged_filter *f = &m->slots[i];
        if (!f->set) continue;
        /* in place would overwrite roots still to be read: a copy each */
        uint8_t *keep = malloc(m->n ? m->n : 1);
        double *value = malloc((m->n ? m->n : 1) * sizeof *value);
        if (!keep || !value) {
            free(keep);
            free(value);
            return hsi_error(HSI_ERR_NOMEM, "out of memory compacting merged trees");
        }
        for (size_t k = 0; k < m->n; k++) {
            keep[k] = f->keep[m->root[k]];
            value[k] = f->value[m->root[k]];
        }
        free(f->keep);
        free(f->value);
        f->keep = keep;
        f->value = value;
    }
    free(m->root);
    free(m->mpar);
    free(m->pref);
    free(m->level);
    free(m->attr);
    free(m->submax);
    free(m->order);
    m->root = m->mpar = m->order = NULL;
    m->pref = NULL;
    m->level = NULL;
    m->attr = m->submax = NULL;
    m->compact = 1;
    return HSI_OK;
}

hsi_status hsi_tree_merged_filter(hsi_tree_merged *m, size_t slot, hsi_attribute attr,
                                  double threshold, hsi_filter_rule rule)
{
    if (m->compact) return hsi_error(HSI_ERR_ARG, "tree filter: the merged trees were compacted");
    if (!mergeable(attr)) return refuse_attr(attr);
    if (rule > HSI_RULE_SUBTRACTIVE)
        return hsi_error(HSI_ERR_ARG, "tree filter: unknown rule %d", (int)rule);
    if (m->fields.col[attr] < 0)
        return hsi_error(HSI_ERR_ARG, "tree filter: the blocks were summarised without the %s "
                         "attribute", hsi_attribute_name(attr));
    /* the max rule reads subtree maxima: kept, or an increasing attribute's own value */
    int increasing = hsi_attribute_increasing(attr);
    if (rule == HSI_RULE_MAX && !increasing && m->fields.mcol[attr] < 0)
        return hsi_error(HSI_ERR_ARG, "tree filter: the blocks were summarised without the "
                         "subtree maxima of the %s attribute (for the max rule)",
                         hsi_attribute_name(attr));
    if (slot >= m->n_slots) {
        struct merged_filter *s = realloc(m->slots, (slot + 1) * sizeof *s);
        if (!s) return hsi_error(HSI_ERR_NOMEM, "out of memory for merged filters");
        memset(s + m->n_slots, 0, (slot + 1 - m->n_slots) * sizeof *s);
        m->slots = s;
        m->n_slots = slot + 1;
    }
    struct merged_filter *f = &m->slots[slot];
    size_t t1 = m->n ? m->n : 1;
    if (!f->keep) f->keep = malloc(t1);
    if (!f->value) f->value = malloc(t1 * sizeof *f->value);
    if (!f->keep || !f->value) return hsi_error(HSI_ERR_NOMEM, "out of memory for merged filters");
    uint8_t *keep = f->keep;
    double *value = f->value;
    size_t na = (size_t)m->fields.n_attr, nm = (size_t)m->fields.n_max;
    /* the subtree maxima, [n][sn] in column sc (read by the max rule only) */
    const double *sub = increasing ? m->attr : m->submax;
    size_t sn = increasing ? na : nm;
    size_t sc = (size_t)(increasing ? m->fields.col[attr] : m->fields.mcol[attr]);
    for (size_t j = 0; j < m->n_roots; j++) { /* shallow to deep: parents first */
        uint32_t r = m->order[j], q = m->mpar[r];
        size_t ra = (size_t)r * na + (size_t)m->fields.col[attr];
        int k;
        if (q == NIL) k = 1;
        else if (rule == HSI_RULE_MAX) k = sub[(size_t)r * sn + sc] >= threshold;
        else k = m->attr[ra] >= threshold && (rule != HSI_RULE_MIN || keep[q]);
        keep[r] = (uint8_t)k;
        if (q == NIL) value[r] = m->level[r];
        else if (rule == HSI_RULE_SUBTRACTIVE)
            value[r] = k ? value[q] + ((double)m->level[r] - m->level[q]) : value[q];
        else
            value[r] = k ? m->level[r] : value[q];
    }
    f->set = 1;
    f->attr = attr;
    f->threshold = threshold;
    f->rule = rule;
    return HSI_OK;
}

/* A block's tree against the merge: its boundary marks, and the attributes
 * (val [nn][m->fields.n_attr], and the subtree maxima kept, smax
 * [nn][m->fields.n_max]) of its other nodes. */
struct hsi_tree_block_view {
    const hsi_tree *tree;
    const hsi_tree_merged *m;
    size_t block;
    uint32_t *bidx;
    double *val, *smax;
    uint8_t *keep;
    double *value;
};

void hsi_tree_block_view_free(hsi_tree_block_view *v)
{
    if (!v) return;
    free(v->bidx);
    free(v->val);
    free(v->smax);
    free(v->keep);
    free(v->value);
    free(v);
}

hsi_status hsi_tree_block_view_new(const hsi_tree *tree, const float *image, size_t block,
                                   const hsi_tree_merged *m, hsi_tree_block_view **out)
{
    *out = NULL;
    if (block >= m->n_blocks || tree->rows != m->rows[block] || tree->cols != m->cols ||
        tree->kind != m->kind)
        return hsi_error(HSI_ERR_ARG, "tree block %zu does not match the merged trees", block);
    size_t nn = tree->n_nodes, n1 = nn ? nn : 1;
    const node_fields *f = &m->fields;
    size_t na = f->n_attr ? (size_t)f->n_attr : 1, nm = (size_t)f->n_max;
    hsi_tree_block_view *v = calloc(1, sizeof *v);
    hsi_tree_acc *acc = needs_geo(f) ? malloc(n1 * sizeof *acc) : NULL;
    hsi_tree_sacc *sacc = needs_std(f) ? malloc(n1 * sizeof *sacc) : NULL;
    if (v) {
        v->tree = tree;
        v->m = m;
        v->block = block;
        v->bidx = malloc(n1 * sizeof *v->bidx);
        v->val = malloc(n1 * na * sizeof *v->val);
        v->smax = nm ? malloc(n1 * nm * sizeof *v->smax) : NULL;
        v->keep = malloc(n1);
        v->value = malloc(n1 * sizeof *v->value);
    }
    if (!v || !v->bidx || !v->val || (nm && !v->smax) || !v->keep || !v->value ||
        (needs_geo(f) && !acc) || (needs_std(f) && !sacc)) {
        free(acc);
        free(sacc);
        hsi_tree_block_view_free(v);
        return hsi_error(HSI_ERR_NOMEM, "out of memory filtering a tree block of %zu nodes", nn);
    }
    size_t nb = mark_boundary(tree, (size_t)m->row0[block], m->image_rows, v->bidx);
    if (nb != m->offset[block + 1] - m->offset[block]) {
        free(acc);
        free(sacc);
        hsi_tree_block_view_free(v);
        return hsi_error(HSI_ERR_ARG, "tree block %zu has %zu boundary nodes, the merge %zu",
                         block, nb, m->offset[block + 1] - m->offset[block]);
    }
    local_attributes(tree, image, (size_t)m->row0[block], v->bidx, f, (uint8_t *)v->val, acc,
                     sacc, v->val, v->smax);
    free(acc);
    free(sacc);
    *out = v;
    return HSI_OK;
}

hsi_status hsi_tree_block_view_filter(hsi_tree_block_view *v, size_t slot, float *out)
{
    const hsi_tree_merged *m = v->m;
    if (slot >= m->n_slots || !m->slots[slot].set)
        return hsi_error(HSI_ERR_ARG, "tree block filter: no filter in slot %zu", slot);
    const struct merged_filter *f = &m->slots[slot];
    const hsi_tree *tree = v->tree;
    size_t nn = tree->n_nodes, n = tree->rows * tree->cols, off = m->offset[v->block];
    const uint32_t *par = tree->parent, *bidx = v->bidx;
    const float *lev = tree->level;
    size_t na = (size_t)m->fields.n_attr, a = (size_t)m->fields.col[f->attr];
    const double *val = v->val;
    /* the subtree maxima the max rule reads (merged_filter checked they
     * are kept, or the attribute is increasing: its own values) */
    int increasing = hsi_attribute_increasing(f->attr);
    const double *sub = increasing ? val : v->smax;
    size_t sn = increasing ? na : (size_t)m->fields.n_max;
    size_t sc = increasing ? a : (size_t)m->fields.mcol[f->attr];
    double thr = f->threshold;
    hsi_filter_rule rule = f->rule;
    uint8_t *keep = v->keep;
    double *value = v->value;
    for (size_t i = 0; i < nn; i++) { /* parents first */
        if (bidx[i] != NIL) {
            size_t r = m->compact ? off + bidx[i] : m->root[off + bidx[i]];
            keep[i] = f->keep[r];
            value[i] = f->value[r];
            continue;
        }
        if (i == 0) { /* a block without boundaries: the image root */
            keep[0] = 1;
            value[0] = lev[0];
            continue;
        }
        uint32_t q = par[i];
        int k;
        if (rule == HSI_RULE_MAX) k = sub[i * sn + sc] >= thr;
        else k = val[i * na + a] >= thr && (rule != HSI_RULE_MIN || keep[q]);
        keep[i] = (uint8_t)k;
        if (rule == HSI_RULE_SUBTRACTIVE)
            value[i] = k ? value[q] + ((double)lev[i] - lev[q]) : value[q];
        else
            value[i] = k ? lev[i] : value[q];
    }
    for (size_t p = 0; p < n; p++) out[p] = (float)value[tree->pixel_node[p]];
    return HSI_OK;
}

hsi_status hsi_tree_block_filter(const hsi_tree *tree, const float *image, size_t block,
                                 const hsi_tree_merged *m, size_t slot, float *out)
{
    hsi_tree_block_view *v = NULL;
    hsi_status st = hsi_tree_block_view_new(tree, image, block, m, &v);
    if (!st) st = hsi_tree_block_view_filter(v, slot, out);
    hsi_tree_block_view_free(v);
    return st;
}

hsi_status hsi_tree_block_nodes(const hsi_tree *tree, const float *image, size_t block,
                                const hsi_tree_merged *m, uint64_t *canon, uint64_t *parent_canon,
                                double *attr[HSI_ATTR_COUNT])
{
    const uint32_t *bidx;
    const double *val;
    if (m->compact)
        return hsi_error(HSI_ERR_ARG, "tree block nodes: the merged trees were compacted");
    hsi_tree_block_view *v = NULL;
    hsi_status st = hsi_tree_block_view_new(tree, image, block, m, &v);
    if (st) return st;
    bidx = v->bidx;
    val = v->val;
    size_t nn = tree->n_nodes, off = m->offset[block], na = (size_t)m->fields.n_attr;
    const int *col = m->fields.col;
    uint32_t *local = malloc((nn ? nn : 1) * sizeof *local);
    if (!local) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    canonical_pixels(tree, local);
    int is_min = tree->kind == HSI_TREE_MIN;
    uint64_t base = (uint64_t)m->row0[block] * m->cols;
    for (size_t i = 0; i < nn; i++) {
        if (bidx[i] != NIL) {
            uint32_t r = m->root[off + bidx[i]], q = m->mpar[r];
            canon[i] = is_min ? ~m->pref[r] : m->pref[r];
            parent_canon[i] = q == NIL ? canon[i] : is_min ? ~m->pref[q] : m->pref[q];
            for (int a = 0; a < HSI_ATTR_COUNT; a++)
                attr[a][i] = col[a] >= 0 ? m->attr[(size_t)r * na + (size_t)col[a]] : NAN;
        } else {
            canon[i] = base + local[i];
            for (int a = 0; a < HSI_ATTR_COUNT; a++)
                attr[a][i] = col[a] >= 0 ? val[i * na + (size_t)col[a]] : NAN;
        }
    }
    for (size_t i = 0; i < nn; i++) /* parents first, so a parent's canon is set */
        if (bidx[i] == NIL) parent_canon[i] = i == 0 ? canon[0] : canon[tree->parent[i]];
done:
    free(local);
    hsi_tree_block_view_free(v);
    return st;
}
