/* tree_block.h - max-trees and min-trees of an image split in row blocks:
 * each block's tree built alone, then merged across the block boundaries
 * into exactly the tree of the whole image.
 *
 * Why: a band too large for one process's memory, or split over MPI ranks,
 * is processed a row block at a time. The merge follows Wilkinson, Gao,
 * Hesselink, Jan & Westenberg, "Concurrent computation of attribute filters
 * on shared memory parallel machines" (IEEE PAMI 30(10), 2008): two trees
 * are joined by connecting each pair of neighbouring pixels across the
 * boundary, walking up both ancestor chains in level order and splicing
 * them. For distributed memory it follows Goetz, Cavallaro, Geraud, Book &
 * Riedel, "Parallel computation of component trees on distributed memory
 * machines" (IEEE TPDS 29(11), 2018): only the *boundary tree* of a block
 * (the nodes that contain a pixel of a row touching another block, i.e. the
 * ancestors of those pixels' nodes) can change, so only boundary trees are
 * exchanged and merged; every other node keeps its pixels, its attributes
 * and, up to the identity of a boundary parent, its place in the tree.
 * Here every rank receives all boundary trees and merges them itself (the
 * merge is deterministic, so all ranks agree), instead of the paper's
 * pairwise reduction: simpler, and the merged size is what each rank
 * would hold at the last level of that reduction anyway.
 *
 * Exactness. A node is identified by its canonical pixel: the first pixel
 * at the node's level in the single-process sort order (the smallest index
 * for a max-tree, the largest for a min-tree; tree.h numbers nodes in that
 * order). When the merge joins two nodes of the same level it keeps the
 * canonical one, so the merged tree has the single-process nodes, parents
 * and levels. Attributes are merged from integer accumulators
 * (tree_internal.h: counts, bounding boxes, sums of coordinates and their
 * squares, and for std exact fixed-point sums of the values and their
 * squares), which do not depend on the order of summation: every attribute
 * equals the single-process value bit for bit. Trees of shapes are refused
 * (no exact published merge is implemented here): use one block.
 *
 * Use: per block, build its tree with hsi_tree_build (quantisation over the
 * whole image's range: hsi_tree_options.has_range), summarise it with
 * hsi_tree_boundary_make (the tree may then be freed), merge all blocks'
 * summaries (hsi_tree_merge, or hsi_tree_boundary_allgather first over MPI),
 * filter the merged nodes (hsi_tree_merged_filter), and filter each
 * block's tree (rebuilt if it was freed: the build is deterministic) with
 * hsi_tree_block_filter (with the block's image: std needs the values).
 */
#ifndef HSI_TREE_BLOCK_H
#define HSI_TREE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "features/tree.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The boundary tree of one row block (opaque). */
typedef struct hsi_tree_boundary hsi_tree_boundary;

/* Summarise the tree of rows [row0, row0 + tree->rows) of an image of
 * image_rows rows. `block` is the block's image (the tree's), opts the
 * options it was built with (for the level keys). Max- and min-trees only. */
hsi_status hsi_tree_boundary_make(const hsi_tree *tree, const float *block, size_t row0,
                                  size_t image_rows, const hsi_tree_options *opts,
                                  hsi_tree_boundary **out);
/* The same for some attributes only, as a summary: bit (1 << a) for each
 * hsi_attribute a the merge must filter on, and HSI_TREE_MAXIMA(a) when
 * it filters a with the max rule (hsi_tree_summary makes both from a rule);
 * 0 is the tree structure alone (tree construction timings). Filters on an
 * attribute left out are refused, and so are max-rule filters on an
 * attribute summarised without its maxima, unless it is increasing
 * (hsi_attribute_increasing: its subtree maximum is its own value, which
 * the merge has). A boundary node keeps only the integer sums its
 * attributes need (area: the pixel count, 8 bytes; diagonal: the bounding
 * box, 16; inertia: the count and coordinate moments, 56; std: its exact
 * value sums, 128) and, for the max rule on inertia or std, the largest
 * value in its non-boundary subtrees (a double each): 28 bytes for area
 * alone under any rule, 220 for all four, 236 for all four with the max
 * rule (hsi_tree_boundary_node_bytes). */
#define HSI_TREE_MAXIMA(a) (1u << (HSI_ATTR_COUNT + (unsigned)(a)))
/* Every attribute and its maxima, for every rule: what
 * hsi_tree_boundary_make keeps. */
#define HSI_TREE_SUMMARY_ALL ((1u << (2 * HSI_ATTR_COUNT)) - 1)
/* The summary for filters of `rule` on `attributes` (bit 1 << a each): the
 * attributes, and with the max rule their maxima. */
unsigned hsi_tree_summary(unsigned attributes, hsi_filter_rule rule);
hsi_status hsi_tree_boundary_make_ex(const hsi_tree *tree, const float *block, size_t row0,
                                     size_t image_rows, const hsi_tree_options *opts,
                                     unsigned summary, hsi_tree_boundary **out);
void hsi_tree_boundary_free(hsi_tree_boundary *b);
/* Nodes in the boundary tree (for memory accounting and tests). */
size_t hsi_tree_boundary_nodes(const hsi_tree_boundary *b);
/* Bytes the boundary tree holds (for the memory budget): its nodes at
 * hsi_tree_boundary_node_bytes of its attributes, and the boundary node of
 * each pixel of its first and last rows (4 bytes a pixel). The byte form
 * (hsi_tree_boundary_pack) is these bytes and a 52-byte header. */
size_t hsi_tree_boundary_bytes(const hsi_tree_boundary *b);
/* Bytes a boundary node of `summary` (as in hsi_tree_boundary_make_ex)
 * takes: 20 for its identity, level and parent, then its attributes' sums
 * and the subtree maxima it keeps (8 bytes each). */
size_t hsi_tree_boundary_node_bytes(unsigned summary);
/* The most bytes hsi_tree_merge of `nodes` boundary nodes summarised with
 * `summary`, then n_slots hsi_tree_merged_filter calls and
 * hsi_tree_merged_compact, hold at once besides their inputs: per node 24
 * bytes of structure, a value per attribute and the subtree maxima kept (as
 * in the boundary nodes), and the larger of the merge's work (8 bytes and
 * the attributes' sums) and the filters' (9 bytes a filter, plus one): 59
 * bytes for area alone with two filters, 264 for all four attributes, 280
 * with the max rule. With exact float levels nearly every pixel next to a
 * block boundary has a long chain of ancestors, and the boundary trees
 * approach one node per pixel of the band: this is what a streaming caller
 * must budget for. */
size_t hsi_tree_merge_bytes(size_t nodes, unsigned summary, size_t n_slots);
/* Bytes of the merged trees of `nodes` nodes after hsi_tree_merged_compact,
 * with n_slots filters (what stays until the blocks are filtered). */
size_t hsi_tree_merged_compact_bytes(size_t nodes, size_t n_slots);

/* Flat byte form of boundary trees, for MPI. */
hsi_status hsi_tree_boundary_pack(const hsi_tree_boundary *b, void **buf, size_t *len);
hsi_status hsi_tree_boundary_unpack(const void *buf, size_t len, hsi_tree_boundary **out,
                                    size_t *used);

/* Collective over MPI ranks (each rank holds consecutive row blocks, rank
 * order = row order): every rank gets every rank's boundary trees in row
 * order (*all, *n_all; caller frees each and the array). Without MPI or on
 * one rank, copies of `mine`. */
hsi_status hsi_tree_boundary_allgather(hsi_tree_boundary *const *mine, size_t n_mine,
                                       hsi_tree_boundary ***all, size_t *n_all);

/* The merged boundary trees of blocks that cover the image in row order. */
typedef struct hsi_tree_merged hsi_tree_merged;

/* Merge (Wilkinson et al. 2008) with the image's connectivity (4 or 8), and
 * compute the merged nodes' attributes and subtree maxima: those every
 * block was summarised with. */
hsi_status hsi_tree_merge(hsi_tree_boundary *const *blocks, size_t n_blocks, int connectivity,
                          hsi_tree_merged **out);
void hsi_tree_merged_free(hsi_tree_merged *m);

/* Filter the merged boundary nodes (kept / new level) for one attribute,
 * threshold and rule (as hsi_tree_filter), and keep the result in m under
 * `slot` (0, 1, ...: one per threshold of a profile, so that every block
 * reuses it). An attribute the blocks were not summarised with, or the max
 * rule on one they were summarised with without its maxima (unless it is
 * increasing), is HSI_ERR_ARG. */
hsi_status hsi_tree_merged_filter(hsi_tree_merged *m, size_t slot, hsi_attribute attr,
                                  double threshold, hsi_filter_rule rule);

/* After the last hsi_tree_merged_filter: keep only what block filters read
 * (per boundary node and filter, kept or not and the new level: 9 bytes),
 * freeing the merged structure. hsi_tree_block_nodes and more filters are
 * refused after. */
hsi_status hsi_tree_merged_compact(hsi_tree_merged *m);
/* Bytes the merged trees hold now (for reports). */
size_t hsi_tree_merged_bytes(const hsi_tree_merged *m);

/* hsi_tree_filter of block number `block` (its index in the merge) with
 * the filter in `slot`: out (the block's rows x cols) is exactly the
 * single-process filter's output on those rows. */
hsi_status hsi_tree_block_filter(const hsi_tree *tree, const float *block_image, size_t block,
                                 const hsi_tree_merged *m, size_t slot, float *out);

/* The same in two steps, for several filters of one block's tree: the
 * view computes the block's own attributes once (tree and m must outlive
 * it; a view is used by one thread at a time). */
typedef struct hsi_tree_block_view hsi_tree_block_view;
hsi_status hsi_tree_block_view_new(const hsi_tree *tree, const float *block_image, size_t block,
                                   const hsi_tree_merged *m, hsi_tree_block_view **out);
hsi_status hsi_tree_block_view_filter(hsi_tree_block_view *v, size_t slot, float *out);
void hsi_tree_block_view_free(hsi_tree_block_view *v);

/* The block's nodes in whole-image terms, for tests: per local node i, the
 * canonical pixel (row-major index in the image) of the image node it
 * belongs to, that node's parent's canonical pixel (itself for the root)
 * and its attributes (attr[a][i] for every hsi_attribute a; NaN for those
 * the blocks were not summarised with). */
hsi_status hsi_tree_block_nodes(const hsi_tree *tree, const float *block_image, size_t block,
                                const hsi_tree_merged *m, uint64_t *canon, uint64_t *parent_canon,
                                double *attr[HSI_ATTR_COUNT]);

#ifdef __cplusplus
}
#endif
#endif
