/* profile.h - attribute profiles of a cube: AP, SDAP and their extended,
 * multi-attribute stacks (EAP / EMAP) as a feature cube.
 *
 * For every band f of the input (typically the first principal components)
 * and every profile spec in order:
 *
 *   AP   (attribute profile, Dalla Mura et al. 2010): the thickenings of f by
 *        the min-tree for the thresholds from largest to smallest, then the
 *        thinnings by the max-tree from smallest to largest:
 *          phi_tn f, ..., phi_t1 f, gamma_t1 f, ..., gamma_tn f
 *   SDAP (self-dual attribute profile, Cavallaro et al. 2017): the filters of
 *        f by its tree of shapes for the thresholds from smallest to largest.
 *
 * A node passes a threshold t when its attribute is >= t. The output cube has,
 * per input band, the band itself (unless left out) followed by the filtered
 * bands of every spec, named e.g. "PC1", "PC1 area>=100 thick",
 * "PC1 area>=100 thin", "PC1 std>=10 sdap". With several input bands this is
 * the extended profile (EAP), with several attributes the EMAP.
 */
#ifndef HSI_PROFILE_H
#define HSI_PROFILE_H

#include <stddef.h>

#include "base/cube.h"
#include "base/progress.h"
#include "features/tree.h"
#include "io/io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HSI_PROFILE_MAX_THRESHOLDS 32

typedef enum hsi_profile_kind {
    HSI_PROFILE_AP = 0, /* thickenings (min-tree) and thinnings (max-tree) */
    HSI_PROFILE_SDAP    /* tree-of-shapes filters */
} hsi_profile_kind;

typedef struct hsi_profile_spec {
    hsi_profile_kind kind;
    hsi_attribute attr;
    size_t n_thresholds;
    double thresholds[HSI_PROFILE_MAX_THRESHOLDS]; /* ascending, distinct */
} hsi_profile_spec;

/* Parse "ATTR=T1,T2,..." (e.g. "area=100,500,1000"): a known attribute and
 * 1..HSI_PROFILE_MAX_THRESHOLDS finite thresholds >= 0, sorted on return;
 * anything else is HSI_ERR_ARG naming the text. */
hsi_status hsi_profile_spec_parse(hsi_profile_kind kind, const char *text,
                                  hsi_profile_spec *spec);

typedef struct hsi_profile_options {
    int connectivity;      /* 4 or 8 for the max/min-trees of the AP (0 = 4) */
    int quantise_bits;     /* 0 (float levels), 8 or 16; see hsi_tree_options */
    hsi_filter_rule rule;  /* filtering rule (default direct) */
    int omit_input;        /* 1: do not copy the input bands into the output */
} hsi_profile_options;

/* Bands per input band: (omit_input ? 0 : 1) + sum over specs of
 * 2 n_thresholds (AP) or n_thresholds (SDAP). */
size_t hsi_profile_bands_per_input(const hsi_profile_spec *specs, size_t n_specs,
                                   int omit_input);

/* The profile cube of `in` (rows x cols x bands_per_input * in->bands),
 * georeferencing kept, bands named as above (the input band's own name, or
 * "band K"). The trees of different input bands are built in parallel
 * (OpenMP); progress counts the trees built. opts and progress may be NULL. */
hsi_status hsi_profile_cube(const hsi_cube *in, const hsi_profile_spec *specs, size_t n_specs,
                            const hsi_profile_options *opts, const hsi_progress *progress,
                            hsi_cube **out);

/* Band names of a profile cube `out` (in_bands * bands_per_input bands) from
 * the input bands' names (NULL or empty: "band K"), as hsi_profile_cube
 * names them; the slot of (spec s, tree kind, threshold j) within an input
 * band's bands; whether a spec uses a tree kind. */
hsi_status hsi_profile_name_bands(const char *const *in_names, size_t in_bands,
                                  const hsi_profile_spec *specs, size_t n_specs, int omit_input,
                                  hsi_cube *out);
size_t hsi_profile_band_slot(const hsi_profile_spec *specs, size_t s, int omit_input,
                             hsi_tree_kind kind, size_t j);
int hsi_profile_spec_uses_tree(const hsi_profile_spec *spec, hsi_tree_kind kind);
/* HSI_ERR_ARG unless there is at least one spec and each names a known kind
 * and attribute with 1..HSI_PROFILE_MAX_THRESHOLDS thresholds. */
hsi_status hsi_profile_specs_check(const hsi_profile_spec *specs, size_t n_specs);

/* ---- profiles of scene files, in row blocks and over MPI ranks ---- */

struct hsi_preprocess;

typedef struct hsi_profile_file_options {
    size_t budget;        /* bytes for the blocks, trees and GDAL's cache (0: default) */
    size_t block_rows;    /* 0: from the budget; else at most this many rows a block */
    const struct hsi_preprocess *pca; /* profile these components instead of the bands,
                                         or NULL; applied block by block */
    const hsi_progress *progress;
} hsi_profile_file_options;

typedef struct hsi_profile_file_report {
    size_t rows, cols, in_bands, out_bands; /* in_bands: bands (components) profiled */
    size_t blocks, block_rows, ranks;       /* blocks over all ranks */
    size_t boundary_nodes;                  /* merged boundary-tree nodes, all trees */
    size_t merged_bytes;                    /* what they hold while the output is made */
    size_t band_groups;                     /* reads of the scene for the boundary trees */
} hsi_profile_file_report;

/* The profile of the scene `in_path` written to out_path, never holding the
 * whole cube: rows are split over the MPI ranks (when started under mpirun),
 * and each rank's rows into blocks that fit the budget (rows x cols x (input
 * bands + output bands) floats plus one band's tree of the block). With one
 * block in all, each band's trees are built whole, as hsi_profile_cube does;
 * with several, each block's max- and min-trees are built alone and merged
 * across the blocks (tree_block.h), so the output is the same value for
 * value. The SDAP (trees of shapes) cannot be merged exactly and is refused
 * when there is more than one block (the message names the budget that
 * gives one). Rank 0 writes the output (atomically,
 * block by block, in row order as blocks arrive from the ranks). Collective
 * under MPI. */
hsi_status hsi_profile_file(const char *in_path, const hsi_read_options *ro,
                            const hsi_profile_spec *specs, size_t n_specs,
                            const hsi_profile_options *opts, const hsi_profile_file_options *fo,
                            const char *out_path, hsi_raster_format fmt,
                            hsi_profile_file_report *report);

#ifdef __cplusplus
}
#endif
#endif
