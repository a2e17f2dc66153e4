/* tree.h - component trees of 2-D grey-level images, their attributes and
 * attribute filters (the building blocks of attribute profiles).
 *
 * Three trees, all stored the same way in flat arrays:
 *
 *   max-tree         nodes = connected components of the upper level sets
 *                    [u >= t] (4- or 8-connectivity); leaves are maxima.
 *   min-tree         nodes = connected components of the lower level sets
 *                    [u <= t]; leaves are minima.
 *   tree of shapes   nodes = shapes: connected components of strict upper and
 *                    lower level sets with their holes filled (self-dual,
 *                    Geraud, Carlinet, Crozet and Najman, ISMM 2013). The image
 *                    is padded with one pixel of the median border value and
 *                    immersed in the Khalimsky grid (pixels, edges, vertices;
 *                    edges and vertices take the span [min, max] of the pixels
 *                    around them), so no c4/c8 choice is involved and the tree
 *                    of -u is the tree of u with negated levels.
 *
 * Node i has parent[i] < i (node 0 is the root, parent[0] = 0), so a loop
 * i = n-1 .. 1 visits children before parents (accumulating attributes) and
 * a loop i = 1 .. n-1 parents before children (filtering). Every node owns at
 * least one pixel at its own level (except the root of a tree of shapes,
 * whose level is the padding value m when no pixel has it); pixel_node[p] is
 * the smallest node that contains pixel p, so the pixels of node i are those
 * whose pixel_node is i or a descendant of i, and u(p) == level[pixel_node[p]].
 *
 * Checked in tests/: max/min-trees against brute-force level-set components;
 * the tree of shapes against brute-force saturated components on
 * well-composed images, for self-duality and nesting on any image, and
 * against Higra's tree of shapes of the median-padded image (saddles
 * included: Higra resolves them by the same Khalimsky propagation).
 */
#ifndef HSI_TREE_H
#define HSI_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_tree_kind {
    HSI_TREE_MAX = 0,
    HSI_TREE_MIN,
    HSI_TREE_SHAPES
} hsi_tree_kind;

typedef struct hsi_tree {
    hsi_tree_kind kind;
    size_t rows, cols;
    size_t n_nodes;
    uint32_t *parent;     /* [n_nodes]; parent[0] = 0 (root), parent[i] < i */
    float *level;         /* [n_nodes] grey level of the node */
    uint32_t *pixel_node; /* [rows*cols] row-major: smallest node holding the pixel */
} hsi_tree;

typedef struct hsi_tree_options {
    int connectivity;  /* 4 or 8 for max/min-trees (default 4); the tree of
                        * shapes uses the Khalimsky grid and ignores it */
    int quantise_bits; /* 0: exact float levels (default); 8 or 16: levels
                        * quantised linearly over [min, max] of the image
                        * (node levels are the de-quantised values) */
    int has_range;     /* 1: quantise over [range_lo, range_hi] instead of the
                        * image's own range: a row block of a larger image
                        * gives it the whole image's range (tree_block.h) */
    float range_lo, range_hi;
} hsi_tree_options;

/* Build a tree of a rows x cols row-major image. opts may be NULL (4-connected,
 * float levels). NaN/Inf pixels are HSI_ERR_DATA; a bad connectivity or
 * quantisation is HSI_ERR_ARG; more than 2^32 - 2 pixels (or Khalimsky faces
 * for the tree of shapes) is HSI_ERR_SIZE. */
hsi_status hsi_tree_build(const float *image, size_t rows, size_t cols, hsi_tree_kind kind,
                          const hsi_tree_options *opts, hsi_tree **out);
void hsi_tree_free(hsi_tree *tree);

/* "max", "min", "shapes" (or "tos"). */
hsi_status hsi_tree_kind_parse(const char *name, hsi_tree_kind *kind);
const char *hsi_tree_kind_name(hsi_tree_kind kind);

/* ---- attributes ---- */

typedef enum hsi_attribute {
    HSI_ATTR_AREA = 0, /* pixels in the node (holes included for shapes) */
    HSI_ATTR_DIAGONAL, /* bounding-box diagonal sqrt(h^2 + w^2), h, w in pixels */
    HSI_ATTR_INERTIA,  /* normalised moment of inertia (first Hu invariant):
                        * (mu20 + mu02) / area^2 with discrete central moments
                        * mu20 = sum (row - mean row)^2; 0 for one pixel */
    HSI_ATTR_STD,      /* standard deviation of the image values of the node's
                        * pixels (population, divides by area) */
    HSI_ATTR_COUNT
} hsi_attribute;

/* "area", "diagonal" (or "diag"), "inertia" (or "moi"), "std" (or "sd"). */
hsi_status hsi_attribute_parse(const char *name, hsi_attribute *attr);
const char *hsi_attribute_name(hsi_attribute attr);

/* 1 when the attribute is increasing: a node's value is at least each of
 * its descendants' (a parent holds its children's pixels). Area counts
 * them; the diagonal's box holds theirs, and sqrt(h^2 + w^2) in double
 * rounds monotonically. Inertia and std are not (a pixel can make a node
 * more compact or more uniform). A node's subtree maximum is then its own
 * value, so the max rule needs no subtree maxima of it (tree_block.h), and
 * every rule gives the same filter. */
int hsi_attribute_increasing(hsi_attribute attr);

/* out[i] = attribute of node i, accumulated pixel by pixel into each pixel's
 * node, then from children into parents. Area, diagonal and inertia come
 * from integer accumulators (count, bounding box, sums of row, column and
 * their squares) and one final formula, so they do not depend on the order
 * of summation: a tree merged from row blocks (tree_block.h) gets the same
 * values bit for bit. `image` (rows*cols) is the image the
 * tree was built on; it is read only for HSI_ATTR_STD and may be NULL
 * otherwise. */
hsi_status hsi_tree_attribute(const hsi_tree *tree, const float *image, hsi_attribute attr,
                              double *out);

/* ---- filtering ---- */

typedef enum hsi_filter_rule {
    HSI_RULE_DIRECT = 0, /* remove exactly the failing nodes */
    HSI_RULE_MIN,        /* also remove every descendant of a failing node */
    HSI_RULE_MAX,        /* keep a failing node if a descendant passes */
    HSI_RULE_SUBTRACTIVE /* direct, and shift the descendants of a removed node by
                          * the level jump the removal takes away */
} hsi_filter_rule;

/* "direct", "min", "max", "subtractive". */
hsi_status hsi_filter_rule_parse(const char *name, hsi_filter_rule *rule);
const char *hsi_filter_rule_name(hsi_filter_rule rule);

/* Attribute filter: a node passes when attr[i] >= threshold (the root always
 * stays). The pixels of a removed node take the level of its nearest kept
 * ancestor. out is rows*cols. On a max-tree this is a thinning (out <= u), on
 * a min-tree a thickening (out >= u), on the tree of shapes a self-dual
 * filter; with an increasing attribute (area) every rule gives the same
 * result (an area opening, closing or grain filter). */
hsi_status hsi_tree_filter(const hsi_tree *tree, const double *attr, double threshold,
                           hsi_filter_rule rule, float *out);

#ifdef __cplusplus
}
#endif
#endif
