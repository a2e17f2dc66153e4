/* simulate.h - a seeded, deterministic Indian Pines-style scene and its ground truth.
 *
 * hsi_simulate() builds the project's embedded default scene: an AVIRIS-like
 * cube (radiance-like DN, 220 bands at the real AVIRIS band centres of the
 * 1992 Indian Pines flight, or the 200-band "corrected" subset) over an
 * agricultural landscape of jittered polygon fields, woods, grass, roads,
 * farmsteads and a tower, labelled with the 16 Indian Pines classes (names
 * and the usual colours) in roughly the real class proportions; about half
 * the scene is unlabelled background, as in the real ground truth.
 *
 * Each pixel is a linear mixture of endmember reflectances (green canopy of
 * several crop types, soil, crop residue, dry grass, tree canopy, asphalt,
 * roofing, concrete, galvanised steel); crop classes differ in canopy cover
 * and residue, so corn-notill/mintill/clean are as close as on the real
 * scene. Reflectance becomes at-sensor DN through a solar spectrum, an
 * atmosphere (water vapour bands at 940, 1140, 1380, 1870 nm and beyond
 * 2450 nm, so the water-absorption bands 104-108, 150-163 and 220 carry little
 * signal) and sensor noise. Every field gets its own perturbation of its
 * class signature, fractions drift smoothly inside a field, pixels at field
 * borders mix their neighbours, and brightness varies. `difficulty` scales
 * the noise, the within-class variability and the mixing together.
 *
 *     hsi_simulate_params p;
 *     hsi_simulate_defaults(&p);           // 145 x 145 x 220, seed 1
 *     p.seed = 7;
 *     hsi_cube *cube; hsi_labels *gt;
 *     if (hsi_simulate(&p, &cube, &gt)) ... hsi_last_error() ...
 *
 * The same parameters give the same bytes on every run.
 */
#ifndef HSI_DATASETS_SIMULATE_H
#define HSI_DATASETS_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/cube.h"
#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The AVIRIS band table of Indian Pines: [b][0] centre nm, [b][1] FWHM nm,
 * for 1-based band b+1 (copied from 92AV3C.spc). */
#define HSI_AVIRIS_BANDS 220
extern const double hsi_aviris_band_table[HSI_AVIRIS_BANDS][2];

/* Whether 1-based AVIRIS band b (1..220) is one of the 20 water-absorption
 * bands the "corrected" 200-band cube drops: 104-108, 150-163, 220. */
int hsi_aviris_is_water_band(int band_1based);

/* The default difficulty: a nearest-class-mean classifier scores 0.646 on the
 * default scene (see datasets/README.md). */
#define HSI_SIMULATE_DEFAULT_DIFFICULTY 0.7

/* Largest accepted rows/cols (a 4096 x 4096 x 220 cube is 14 GiB). */
#define HSI_SIMULATE_MAX_SIZE 4096

typedef struct hsi_simulate_params {
    size_t rows, cols;  /* scene size in pixels (default 145 x 145), 1..4096 */
    uint64_t seed;      /* every random choice derives from it (default 1) */
    double difficulty;  /* 0 (clean) .. 1 (hard); default HSI_SIMULATE_DEFAULT_DIFFICULTY */
    int bands;          /* 220 (all AVIRIS bands) or 200 (water bands dropped) */
} hsi_simulate_params;

void hsi_simulate_defaults(hsi_simulate_params *p);

/* Generate the scene. On success *cube is rows x cols x bands (float32 DN,
 * wavelengths and FWHM set, georeferenced: 20 m pixels, UTM zone 16N /
 * WGS 84, EPSG:32616) and *labels the ground truth (0 = unlabelled, 1..16
 * the Indian Pines classes with their names and colours, same
 * georeferencing). Bad parameters are HSI_ERR_ARG. */
hsi_status hsi_simulate(const hsi_simulate_params *p, hsi_cube **cube, hsi_labels **labels);

/* The same scene a block of rows at a time, for scenes larger than memory.
 * open() lays out the fields and labels the ground truth (memory: about
 * hsi_simulate_layout_bytes() while it does, the ground truth's 2 bytes a
 * pixel after); rows() then makes rows in order, from the first, in blocks
 * of any size: the draws come from one stream in pixel order, so the bytes
 * are those hsi_simulate() gives, whatever the blocking. The header is a
 * one-row cube carrying the band metadata and georeferencing (what a row
 * writer needs); labels stay the simulator's unless taken. */
typedef struct hsi_simulator hsi_simulator;
hsi_status hsi_simulator_open(const hsi_simulate_params *p, hsi_simulator **out);
const hsi_cube *hsi_simulator_header(const hsi_simulator *s);
const hsi_labels *hsi_simulator_labels(const hsi_simulator *s);
hsi_labels *hsi_simulator_take_labels(hsi_simulator *s);
/* Rows [row0, row0 + nrows) into out (nrows x cols x bands, BIP); row0 must
 * be the row after the last block made (0 at first). */
hsi_status hsi_simulator_rows(hsi_simulator *s, size_t row0, size_t nrows, float *out);
void hsi_simulator_free(hsi_simulator *s);
/* Peak bytes open() holds per the scene's size (the layout's per-pixel
 * arrays), for memory budgets. */
size_t hsi_simulate_layout_bytes(const hsi_simulate_params *p);

/* Overall accuracy of a nearest-class-mean classifier (Euclidean distance
 * on the raw spectra): train on a random `train_fraction` of the labelled
 * pixels of each class (at least one per class), test on the rest. The
 * split is drawn from `seed`. *accuracy is in [0, 1]. HSI_ERR_SIZE if the
 * sizes differ, HSI_ERR_DATA if nothing is left to test. */
hsi_status hsi_simulate_ncm_accuracy(const hsi_cube *cube, const hsi_labels *labels,
                                     double train_fraction, uint64_t seed, double *accuracy);

#ifdef __cplusplus
}
#endif
#endif
