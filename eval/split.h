/* split.h - train / test (/ validation) splits of a ground truth, with and
 * without spatial leakage.
 *
 * Lange, Cavallaro, Goetz, Erlingsson & Riedel, "The influence of sampling
 * methods on pixel-wise hyperspectral image classification with 3D
 * convolutional neural networks", IGARSS 2018, showed that random pixel
 * sampling puts test pixels inside the patch windows of training pixels, so
 * patch-based classifiers look far better than they are. A split here is
 * three label rasters of the truth's size (train, test, optional
 * validation; a pixel is in at most one) made by one of:
 *
 *   random    stratified per class: round(fraction * n_k) training pixels
 *             (or a fixed count), at least `min_per_class`;
 *   blocks    the scene cut into block_size x block_size tiles, whole tiles
 *             assigned to training or test so that each class's training
 *             share comes close to the fraction;
 *   clusters  each class's pixels grouped into spatial clusters by DBSCAN
 *             (eps, min_pts on pixel coordinates; noise points are
 *             single-pixel clusters), whole clusters assigned to one side;
 *   mask      a given training mask (class numbering mapped to the truth's),
 *             every other labelled truth pixel is a test pixel.
 *
 * Guard band (blocks, clusters): a test pixel whose (2r+1) x (2r+1) window
 * contains a training or validation pixel is left out of the test set
 * ("unused"), so no training patch of radius r covers a test pixel and the
 * leakage (below) is zero by construction. The test side gives up the band
 * because training pixels are the scarce ones.
 *
 * Small classes (random): a class is small when it has fewer than
 * 2 x min_per_class pixels or when its target would leave no test pixel.
 * Rule HALF gives it floor(n/2) training pixels (the rest test), SKIP leaves
 * it out of both sides, ERROR refuses the split.
 *
 * Validation: round(val_fraction * train_k) of each class's training pixels
 * (drawn at random) move to the validation raster.
 *
 * Everything random draws from one hsi_rng seeded with `seed`, classes in
 * order, so the same truth, options and seed give the same split.
 */
#ifndef HSI_EVAL_SPLIT_H
#define HSI_EVAL_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/cube.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_split_strategy {
    HSI_SPLIT_RANDOM = 0,
    HSI_SPLIT_BLOCKS,
    HSI_SPLIT_CLUSTERS,
    HSI_SPLIT_MASK
} hsi_split_strategy;

typedef enum hsi_small_class_rule {
    HSI_SMALL_HALF = 0,
    HSI_SMALL_SKIP,
    HSI_SMALL_ERROR
} hsi_small_class_rule;

typedef struct hsi_split_options {
    hsi_split_strategy strategy;
    uint64_t seed;               /* default 1 */
    double train_fraction;       /* share of each class for training (default 0.1) */
    size_t train_count;          /* random: training pixels per class (0: use the fraction) */
    size_t min_per_class;        /* random: at least this many (default 0) */
    hsi_small_class_rule small;  /* random: rule for small classes (default HALF) */
    double val_fraction;         /* share of training pixels moved to validation (default 0) */
    int radius;                  /* blocks/clusters: patch radius of the guard band (default 4) */
    size_t block_size;           /* blocks: tile side in pixels (0: max(16, 2(2r+1))) */
    double eps;                  /* clusters: DBSCAN radius in pixels (default 2) */
    size_t min_pts;              /* clusters: DBSCAN core size, itself included (default 4) */
    const hsi_labels *mask;      /* mask: the training mask */
    const char *mask_name;       /* its file name, for messages */
    const int *mask_map;         /* mask: class k of the mask -> truth class mask_map[k]
                                    (0 drops it); NULL keeps the numbering */
    int mask_map_n;              /* entries in mask_map (mask classes 0..n-1) */
} hsi_split_options;

void hsi_split_options_init(hsi_split_options *o);

hsi_status hsi_split_strategy_parse(const char *name, hsi_split_strategy *s);
hsi_status hsi_small_rule_parse(const char *name, hsi_small_class_rule *r);

/* Pixel counts of one class across the split. */
typedef struct hsi_split_counts {
    size_t total;  /* labelled in the truth (or mask, for mask pixels outside it) */
    size_t train, val, test;
    size_t unused; /* guard band or skipped small class */
} hsi_split_counts;

typedef struct hsi_split {
    hsi_labels *train, *test, *val; /* val is NULL without validation */
    int n_classes;
    hsi_split_counts *counts;       /* [n_classes + 1]; [0] holds the totals */
    size_t mask_disagree;           /* mask: training pixels whose mapped class differs
                                       from the truth's label there, unlabelled included */
    size_t mask_unlabelled;         /* mask: of those, pixels unlabelled in the truth */
} hsi_split;

/* Split a ground truth. Errors: nothing labelled (HSI_ERR_DATA), options out
 * of range or a patch window larger than the scene (HSI_ERR_ARG/SIZE), a small
 * class under HSI_SMALL_ERROR, a mask whose size differs or whose classes the
 * map does not cover. The rasters carry the truth's class table and georef. */
hsi_status hsi_split_make(const hsi_labels *truth, const char *truth_name,
                          const hsi_split_options *o, hsi_split **out);
void hsi_split_free(hsi_split *s);

/* Leakage of a split: *leaked of the *tested test pixels lie inside the
 * (2r+1) x (2r+1) window of some training pixel (val may be NULL; when given
 * its pixels count as training). */
hsi_status hsi_split_leakage(const hsi_labels *train, const hsi_labels *val,
                             const hsi_labels *test, int radius, size_t *leaked, size_t *tested);

/* Per-class count table: "text" aligned with class names, or CSV. */
hsi_status hsi_split_table_write(const hsi_split *s, const hsi_class_info *classes, int csv,
                                 FILE *fp);

/* Count table of existing rasters (for `hsi split --check`); val may be NULL. */
hsi_status hsi_split_count(const hsi_labels *train, const hsi_labels *val,
                           const hsi_labels *test, hsi_split **out);

/* Parse a mask class map "3=1,5=2" (mask class = truth class; unlisted mask
 * classes are dropped). *map has *n = largest mask class + 1 entries. */
hsi_status hsi_mask_map_parse(const char *spec, int **map, int *n);
/* Map each mask class to the truth class most of its pixels carry (ties to
 * the smaller class; a class over unlabelled truth only is dropped). */
hsi_status hsi_mask_map_auto(const hsi_labels *mask, const hsi_labels *truth, int **map, int *n);

#ifdef __cplusplus
}
#endif
#endif
