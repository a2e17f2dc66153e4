/* simulate.c - the seeded Indian Pines-style scene (see simulate.h).
 *
 * The scene is built in four steps:
 *   1. layout: columns of fields (strips with slanted borders, cut into
 *      fields by slanted cross borders), all borders displaced by smooth
 *      random jitter so they are irregular; straight roads and a highway on
 *      top, and one square tower site;
 *   2. ground truth: a field's interior (2 px away from any other field) is
 *      labelled; classes are dealt to fields greedily so class sizes follow
 *      the real Indian Pines counts scaled to the scene area, large classes
 *      over several fields, small ones on part of a field; the remaining
 *      fields get an unlabelled background cover (fallow, weeds, crops);
 *   3. spectra: each field mixes perturbed endmember reflectances with its
 *      own fractions; fractions drift smoothly inside the field; each pixel
 *      integrates 3 x 3 sub-samples, so pixels on borders mix their
 *      neighbours linearly;
 *   4. sensor: reflectance -> DN through solar irradiance, two-way
 *      atmospheric transmittance, path radiance, dark level, and noise
 *      (read + shot noise, extra noise on the water-absorption bands).
 * Every random draw comes from hsi_rng streams derived from the seed, in a
 * fixed order, so a seed always gives the same bytes.
 */
#include "datasets/simulate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "base/rng.h"
#include "datasets/scenes.h"

/* ------------------------------------------------------------------ */
/* Band table                                                           */

int hsi_aviris_is_water_band(int band)
{
    return (band >= 104 && band <= 108) || (band >= 150 && band <= 163) || band == 220;
}

void hsi_simulate_defaults(hsi_simulate_params *p)
{
    p->rows = 145;
    p->cols = 145;
    p->seed = 1;
    p->difficulty = HSI_SIMULATE_DEFAULT_DIFFICULTY;
    p->bands = HSI_AVIRIS_BANDS;
}

/* ------------------------------------------------------------------ */
/* Endmember reflectances                                               */

static double gauss(double x, double mu, double sigma)
{
    double z = (x - mu) / sigma;
    return exp(-0.5 * z * z);
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Relative absorption of liquid water in leaves and soil (dimensionless,
 * multiplied by a water amount): weak bands at 970 and 1200 nm, strong ones
 * at 1450 and 1940 nm, and the continuum rising through the SWIR. */
static double liquid_water_absorption(double nm)
{
    double beyond = nm > 2250 ? (nm - 2250) / 250 : 0;
    return 0.05 * gauss(nm, 970, 30) + 0.2 * gauss(nm, 1190, 50) + 1.2 * gauss(nm, 1450, 80) +
           2.2 * gauss(nm, 1940, 110) + 0.9 * clamp01((nm - 1100) / 1400) + 0.8 * beyond * beyond;
}

typedef enum endmember_kind {
    KIND_CANOPY, /* p: chlorophyll 0..1, red-edge nm, NIR plateau, water amount */
    KIND_SOIL,   /* p: brightness, moisture */
    KIND_DRY,    /* p: brightness, lignin-cellulose depth, water amount */
    KIND_FLAT    /* p: level, SWIR slope, blue darkening */
} endmember_kind;

/* Green canopy: low visible reflectance with a green peak and the red
 * chlorophyll well, the red edge (a logistic step near 700-730 nm) up to the
 * NIR plateau, which falls slowly into the SWIR; liquid water carves the
 * 970/1200/1450/1940 nm features. */
static double canopy_reflectance(const double *p, double nm)
{
    double chl = p[0], edge = p[1], nir = p[2], water = p[3];
    double visible = 0.03 + 0.03 * (1 - chl) + (0.05 + 0.04 * (1 - chl)) * gauss(nm, 555, 38) +
                     0.04 * (1 - chl) * gauss(nm, 640, 40);
    double step = 1 / (1 + exp(-(nm - edge) / 13));
    double plateau = nir * (1 - 0.18 * clamp01((nm - 1000) / 1500));
    return (visible * (1 - step) + plateau * step) * exp(-water * liquid_water_absorption(nm));
}

/* Bare soil: dark at 400 nm and rising smoothly to the SWIR (the dark
 * mollisols of the Indian Pines site), a weak iron-oxide band near 900 nm,
 * clay hydroxyl near 2200 nm, moisture absorption. */
static double soil_reflectance(const double *p, double nm)
{
    double level = p[0], moisture = p[1];
    double shape = 0.25 + 0.75 * (1 - exp(-(nm - 350) / 600));
    shape *= (1 - 0.06 * gauss(nm, 890, 70)) * (1 - 0.10 * gauss(nm, 2205, 30));
    return level * shape * exp(-moisture * liquid_water_absorption(nm));
}

/* Dry plant matter (crop residue, dry grass, hay): brown in the visible,
 * bright in the NIR/SWIR with the lignin-cellulose bands at 1730 and
 * 2100 nm and little water. */
static double dry_reflectance(const double *p, double nm)
{
    double level = p[0], lignin = p[1], water = p[2];
    double shape = 0.15 + 0.85 * (1 - exp(-(nm - 380) / 330));
    shape *= (1 - lignin * gauss(nm, 2100, 40)) * (1 - 0.3 * lignin * gauss(nm, 1730, 25));
    return level * shape * exp(-water * liquid_water_absorption(nm));
}

/* Man-made surfaces without strong features: asphalt, roofing, concrete,
 * galvanised steel. */
static double flat_reflectance(const double *p, double nm)
{
    double level = p[0], slope = p[1], blue = p[2];
    double r = level * (1 + slope * (nm - 1000) / 1000) * (1 - blue * exp(-(nm - 400) / 120));
    return r > 0.005 ? r : 0.005;
}

typedef struct endmember {
    endmember_kind kind;
    double p[4];
} endmember;

enum {
    EM_SOIL, EM_RESIDUE, EM_DRY_GRASS, EM_HAY, EM_CORN, EM_SOYBEAN, EM_WHEAT, EM_OATS,
    EM_ALFALFA, EM_GRASS, EM_TREE, EM_SHADE, EM_ASPHALT, EM_ROOF, EM_CONCRETE, EM_STEEL,
    EM_GRAVEL, N_ENDMEMBERS
};

/* The scene's endmember library (June: crops are young and cover little of
 * the soil; wheat is ripening). */
static const endmember library[N_ENDMEMBERS] = {
    [EM_SOIL] = {KIND_SOIL, {0.24, 0.30}},
    [EM_RESIDUE] = {KIND_DRY, {0.40, 0.25, 0.20}},
    [EM_DRY_GRASS] = {KIND_DRY, {0.34, 0.18, 0.35}},
    [EM_HAY] = {KIND_DRY, {0.48, 0.22, 0.45}},
    [EM_CORN] = {KIND_CANOPY, {0.85, 718, 0.48, 1.00}},
    [EM_SOYBEAN] = {KIND_CANOPY, {0.80, 713, 0.52, 1.05}},
    [EM_WHEAT] = {KIND_CANOPY, {0.45, 705, 0.38, 0.60}},
    [EM_OATS] = {KIND_CANOPY, {0.70, 710, 0.42, 0.80}},
    [EM_ALFALFA] = {KIND_CANOPY, {0.90, 722, 0.55, 1.10}},
    [EM_GRASS] = {KIND_CANOPY, {0.75, 712, 0.40, 0.90}},
    [EM_TREE] = {KIND_CANOPY, {0.92, 725, 0.42, 1.20}},
    [EM_SHADE] = {KIND_FLAT, {0.015, 0, 0}},
    [EM_ASPHALT] = {KIND_FLAT, {0.08, 0.35, 0.20}},
    [EM_ROOF] = {KIND_FLAT, {0.16, 0.10, 0.30}},
    [EM_CONCRETE] = {KIND_FLAT, {0.30, 0.05, 0.35}},
    [EM_STEEL] = {KIND_FLAT, {0.38, -0.12, 0.05}},
    [EM_GRAVEL] = {KIND_FLAT, {0.22, 0.25, 0.40}},
};

static double endmember_reflectance(const endmember *em, double nm)
{
    switch (em->kind) {
    case KIND_CANOPY: return canopy_reflectance(em->p, nm);
    case KIND_SOIL: return soil_reflectance(em->p, nm);
    case KIND_DRY: return dry_reflectance(em->p, nm);
    case KIND_FLAT: return flat_reflectance(em->p, nm);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Land covers: the 16 classes and the unlabelled backgrounds           */

#define MAX_MIX 5
#define N_CLASSES 16 /* the Indian Pines classes */

enum {
    COVER_BARE_SOIL = N_CLASSES + 1, COVER_WEEDS, COVER_ROAD, N_COVERS
};

typedef struct cover {
    int n;
    int em[MAX_MIX];
    double frac[MAX_MIX]; /* nominal fractions; em[0] is the one that drifts in space */
    double patchiness;    /* relative amplitude of that drift inside a field */
} cover;

/* Corn and soybean were planted weeks before the June 1992 flight: canopy
 * covers 10-25% and the tillage (no-till, minimum, clean) shows as more or
 * less residue over soil. That is what makes these six classes close. */
static const cover covers[N_COVERS] = {
    [1] = {3, {EM_ALFALFA, EM_SOIL, EM_DRY_GRASS}, {0.80, 0.12, 0.08}, 0.10},
    [2] = {3, {EM_CORN, EM_RESIDUE, EM_SOIL}, {0.18, 0.47, 0.35}, 0.25},
    [3] = {3, {EM_CORN, EM_RESIDUE, EM_SOIL}, {0.20, 0.25, 0.55}, 0.25},
    [4] = {3, {EM_CORN, EM_RESIDUE, EM_SOIL}, {0.22, 0.06, 0.72}, 0.25},
    [5] = {3, {EM_GRASS, EM_DRY_GRASS, EM_SOIL}, {0.62, 0.23, 0.15}, 0.12},
    [6] = {4, {EM_TREE, EM_GRASS, EM_SHADE, EM_SOIL}, {0.35, 0.45, 0.10, 0.10}, 0.30},
    [7] = {3, {EM_GRASS, EM_DRY_GRASS, EM_SOIL}, {0.45, 0.40, 0.15}, 0.12},
    [8] = {3, {EM_HAY, EM_GRASS, EM_SOIL}, {0.45, 0.45, 0.10}, 0.15},
    [9] = {3, {EM_OATS, EM_SOIL, EM_RESIDUE}, {0.55, 0.30, 0.15}, 0.12},
    [10] = {3, {EM_SOYBEAN, EM_RESIDUE, EM_SOIL}, {0.12, 0.50, 0.38}, 0.25},
    [11] = {3, {EM_SOYBEAN, EM_RESIDUE, EM_SOIL}, {0.14, 0.28, 0.58}, 0.25},
    [12] = {3, {EM_SOYBEAN, EM_RESIDUE, EM_SOIL}, {0.15, 0.07, 0.78}, 0.25},
    [13] = {3, {EM_WHEAT, EM_RESIDUE, EM_SOIL}, {0.75, 0.10, 0.15}, 0.10},
    [14] = {3, {EM_TREE, EM_SHADE, EM_SOIL}, {0.78, 0.18, 0.04}, 0.08},
    [15] = {5, {EM_GRASS, EM_ROOF, EM_ASPHALT, EM_TREE, EM_SHADE}, {0.32, 0.22, 0.18, 0.20, 0.08}, 0.45},
    [16] = {4, {EM_STEEL, EM_CONCRETE, EM_GRASS, EM_SHADE}, {0.45, 0.35, 0.15, 0.05}, 0.20},
    [COVER_BARE_SOIL] = {2, {EM_SOIL, EM_RESIDUE}, {0.90, 0.10}, 0.10},
    [COVER_WEEDS] = {3, {EM_GRASS, EM_DRY_GRASS, EM_SOIL}, {0.35, 0.25, 0.40}, 0.30},
    [COVER_ROAD] = {3, {EM_ASPHALT, EM_GRAVEL, EM_SOIL}, {0.55, 0.30, 0.15}, 0.10},
};

/* Pixels per class in the real Indian Pines ground truth (145 x 145). */
static const int indian_pines_counts[N_CLASSES + 1] = {
    0, 46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93,
};
#define INDIAN_PINES_AREA (145.0 * 145.0)

/* Covers of the fields left unlabelled: what surrounds the surveyed fields. */
static const int background_covers[] = {COVER_BARE_SOIL, COVER_WEEDS, 2, 3, 10, 11, 5, 14};

/* ------------------------------------------------------------------ */
/* Smooth random fields (value noise)                                   */

typedef struct smooth_noise {
    size_t nr, nc;
    double cell; /* lattice spacing in pixels */
    double *v;   /* nr x nc N(0,1) values */
} smooth_noise;

static hsi_status smooth_noise_init(smooth_noise *n, size_t rows, size_t cols, double cell,
                                    hsi_rng *rng)
{
    n->cell = cell;
    n->nr = (size_t)(rows / cell) + 4;
    n->nc = (size_t)(cols / cell) + 4;
    n->v = malloc(n->nr * n->nc * sizeof *n->v);
    if (!n->v) return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulator's noise fields");
    for (size_t i = 0; i < n->nr * n->nc; i++) n->v[i] = hsi_rng_normal(rng);
    return HSI_OK;
}

static double smoothstep(double t)
{
    return t * t * (3 - 2 * t);
}

/* Value at pixel coordinates (y, x); the lattice has one cell of margin so
 * that slightly negative coordinates (jittered border look-ups) work. */
static double smooth_at(const smooth_noise *n, double y, double x)
{
    double fy = y / n->cell + 1, fx = x / n->cell + 1;
    if (fy < 0) fy = 0;
    if (fx < 0) fx = 0;
    size_t iy = (size_t)fy, ix = (size_t)fx;
    if (iy > n->nr - 2) iy = n->nr - 2;
    if (ix > n->nc - 2) ix = n->nc - 2;
    double ty = smoothstep(clamp01(fy - iy)), tx = smoothstep(clamp01(fx - ix));
    const double *a = n->v + iy * n->nc + ix, *b = a + n->nc;
    return (a[0] * (1 - tx) + a[1] * tx) * (1 - ty) + (b[0] * (1 - tx) + b[1] * tx) * ty;
}

/* ------------------------------------------------------------------ */
/* Layout                                                               */

#define MAX_STRIPS 512
#define MAX_ROADS 3
#define INTERIOR_MARGIN 2 /* px between a labelled pixel and another field */
/* Log-normal spread of the mixing fractions (times difficulty): between
 * fields of a class, and between pixels of a field. */
#define FIELD_FRACTION_SPREAD 0.10
#define PIXEL_FRACTION_SPREAD 0.35
#define MIN_LABELLED_INTERIOR 40 /* small fields and slivers cut off by roads ... */
#define CORE_MARGIN 4           /* ... and fields with no 9 x 9 block stay unlabelled */
#define MIN_LABELLED_BLOCK 12   /* a class's last few pixels are not put in a field of their own */

typedef struct road {
    double a, b, c;   /* line a*x + b*y + c = 0 with a^2 + b^2 = 1 */
    double half_width;
} road;

typedef struct layout {
    size_t rows, cols;
    int n_strips;
    double *strip_x;     /* [n_strips + 1] left border of strip i at the middle row */
    double *strip_slope; /* [n_strips + 1] dx/dy of that border */
    int *strip_first;    /* [n_strips + 1] first field id of strip i */
    double *cut_y;       /* [n_grid] top border of field f at the strip's centre column */
    double *cut_slope;   /* [n_grid] dy/dx of that border */
    int n_grid;          /* grid fields: ids 0..n_grid-1 */
    int n_roads;         /* roads: ids n_grid..n_grid+n_roads-1 */
    road roads[MAX_ROADS];
    int has_tower;       /* tower site: id n_grid+n_roads */
    double tower_y0, tower_x0, tower_side;
    int n_fields;
    smooth_noise jitter_y, jitter_x, jitter_fine_y, jitter_fine_x;
} layout;

static void layout_free(layout *L)
{
    free(L->strip_x);
    free(L->strip_slope);
    free(L->strip_first);
    free(L->cut_y);
    free(L->cut_slope);
    free(L->jitter_y.v);
    free(L->jitter_x.v);
    free(L->jitter_fine_y.v);
    free(L->jitter_fine_x.v);
}

static double uniform(hsi_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * hsi_rng_uniform(rng);
}

/* Cut [0, length) into pieces of random size in [lo, hi] (the last one
 * absorbs a remainder shorter than lo). Returns the count, fills starts. */
static int random_cuts(hsi_rng *rng, double length, double lo, double hi, double *starts,
                       int max)
{
    int n = 0;
    double pos = 0;
    while (pos < length && n < max) {
        starts[n++] = pos;
        double w = uniform(rng, lo, hi);
        if (length - (pos + w) < lo) w = length - pos;
        pos += w;
    }
    return n;
}

/* Whether a road passes within a pixel of the square [y0, y0+side) x [x0, x0+side). */
static int square_meets_road(const layout *L, double y0, double x0, double side)
{
    for (int i = 0; i < L->n_roads; i++) {
        const road *rd = &L->roads[i];
        double lo = INFINITY, hi = -INFINITY;
        for (int corner = 0; corner < 4; corner++) {
            double x = x0 + (corner & 1) * side, y = y0 + (corner >> 1) * side;
            double d = rd->a * x + rd->b * y + rd->c;
            lo = fmin(lo, d);
            hi = fmax(hi, d);
        }
        if (lo <= rd->half_width + 1 && hi >= -(rd->half_width + 1)) return 1;
    }
    return 0;
}

static hsi_status layout_build(layout *L, size_t rows, size_t cols, int tower_pixels,
                               hsi_rng *rng)
{
    hsi_status st;
    memset(L, 0, sizeof *L);
    L->rows = rows;
    L->cols = cols;
    /* Fields 280-680 m wide and 240-640 m long at 20 m pixels, like the
     * quarter-quarter sections of Indiana's survey grid. */
    double starts[MAX_STRIPS];
    L->n_strips = random_cuts(rng, (double)cols, 14, 34, starts, MAX_STRIPS);
    L->strip_x = malloc((L->n_strips + 1) * sizeof *L->strip_x);
    L->strip_slope = malloc((L->n_strips + 1) * sizeof *L->strip_slope);
    L->strip_first = malloc((L->n_strips + 1) * sizeof *L->strip_first);
    size_t max_fields = (size_t)L->n_strips * (rows / 12 + 2);
    L->cut_y = malloc(max_fields * sizeof *L->cut_y);
    L->cut_slope = malloc(max_fields * sizeof *L->cut_slope);
    if (!L->strip_x || !L->strip_slope || !L->strip_first || !L->cut_y || !L->cut_slope)
        return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated layout");
    /* Strip borders lean by up to +-4 px over the scene height, so they
     * never cross (strips are at least 14 px wide). */
    double lean = 0.06 * fmin(1.0, 145.0 / rows);
    for (int i = 0; i < L->n_strips; i++) {
        L->strip_x[i] = starts[i];
        L->strip_slope[i] = i ? uniform(rng, -lean, lean) : 0;
    }
    L->strip_x[L->n_strips] = 1e30;
    L->strip_slope[L->n_strips] = 0;
    int n = 0;
    for (int i = 0; i < L->n_strips; i++) {
        L->strip_first[i] = n;
        double ys[MAX_STRIPS];
        int k = random_cuts(rng, (double)rows, 12, 32, ys, (int)(rows / 12 + 2));
        for (int j = 0; j < k; j++) {
            L->cut_y[n] = ys[j];
            L->cut_slope[n] = j ? uniform(rng, -0.08, 0.08) : 0;
            n++;
        }
    }
    L->strip_first[L->n_strips] = n;
    L->n_grid = n;

    /* A county road along a strip border, an east-west road, and a highway
     * crossing a corner diagonally. */
    L->n_roads = 0;
    if (L->n_strips > 2) {
        int i = 1 + (int)hsi_rng_below(rng, (uint64_t)(L->n_strips - 1));
        double s = L->strip_slope[i];
        double norm = sqrt(1 + s * s);
        /* x = strip_x + s*(y - rows/2)  ->  x - s*y - (strip_x - s*rows/2) = 0 */
        L->roads[L->n_roads++] = (road){1 / norm, -s / norm,
                                        -(L->strip_x[i] - s * rows / 2.0) / norm, 0.7};
    }
    if (rows > 40) {
        double y = uniform(rng, 0.3, 0.7) * rows;
        L->roads[L->n_roads++] = (road){0, 1, -y, 0.7};
    }
    if (rows > 40 && cols > 40) {
        /* through (0, y0) and (x1, 0): a cut-off corner */
        double y0 = uniform(rng, 0.25, 0.45) * rows, x1 = uniform(rng, 0.25, 0.45) * cols;
        double norm = sqrt(y0 * y0 + x1 * x1);
        L->roads[L->n_roads++] = (road){y0 / norm, x1 / norm, -x1 * y0 / norm, 1.3};
    }

    L->n_fields = L->n_grid + L->n_roads;
    if (tower_pixels > 0) {
        L->has_tower = 1;
        L->tower_side = ceil(sqrt((double)tower_pixels)) + 2; /* eroded by 1 px */
        if (L->tower_side + 2 > rows || L->tower_side + 2 > cols) L->has_tower = 0;
        /* Somewhere no road crosses (the last try stands if all are crossed). */
        for (int attempt = 0; L->has_tower && attempt < 50; attempt++) {
            L->tower_y0 = 1 + uniform(rng, 0, 1) * (rows - L->tower_side - 2);
            L->tower_x0 = 1 + uniform(rng, 0, 1) * (cols - L->tower_side - 2);
            if (!square_meets_road(L, L->tower_y0, L->tower_x0, L->tower_side)) break;
        }
        if (L->has_tower) L->n_fields++;
    }

    if ((st = smooth_noise_init(&L->jitter_y, rows, cols, 9, rng)) ||
        (st = smooth_noise_init(&L->jitter_x, rows, cols, 9, rng)) ||
        (st = smooth_noise_init(&L->jitter_fine_y, rows, cols, 3, rng)) ||
        (st = smooth_noise_init(&L->jitter_fine_x, rows, cols, 3, rng)))
        return st;
    return HSI_OK;
}

/* Id of the field under continuous pixel coordinates (y, x) (pixel (r, c)
 * spans [r, r+1) x [c, c+1)). */
static int field_at(const layout *L, double y, double x)
{
    for (int i = 0; i < L->n_roads; i++) {
        const road *rd = &L->roads[i];
        if (fabs(rd->a * x + rd->b * y + rd->c) <= rd->half_width) return L->n_grid + i;
    }
    /* The tower site is built: straight edges. */
    if (L->has_tower && y >= L->tower_y0 && y < L->tower_y0 + L->tower_side &&
        x >= L->tower_x0 && x < L->tower_x0 + L->tower_side)
        return L->n_grid + L->n_roads;
    /* Irregular field borders: look the field up at a smoothly displaced point. */
    double jy = y + 1.6 * smooth_at(&L->jitter_y, y, x) + 0.5 * smooth_at(&L->jitter_fine_y, y, x);
    double jx = x + 1.6 * smooth_at(&L->jitter_x, y, x) + 0.5 * smooth_at(&L->jitter_fine_x, y, x);
    double mid = L->rows / 2.0;
    int i = 0;
    while (i < L->n_strips - 1 && jx >= L->strip_x[i + 1] + L->strip_slope[i + 1] * (jy - mid))
        i++;
    int first = L->strip_first[i], count = L->strip_first[i + 1] - first;
    double centre = (L->strip_x[i] + (i + 1 < L->n_strips ? L->strip_x[i + 1] : (double)L->cols)) / 2;
    int k = 0;
    while (k < count - 1 && jy >= L->cut_y[first + k + 1] + L->cut_slope[first + k + 1] * (jx - centre))
        k++;
    return first + k;
}

/* ------------------------------------------------------------------ */
/* Fields: cover, label, spectra                                        */

typedef struct field {
    int cover;          /* 1..16 a class, or a COVER_* background */
    int label;          /* ground-truth class, 0 if unlabelled */
    int is_grid;
    size_t interior;    /* pixels at least INTERIOR_MARGIN from another field */
    int has_core;       /* some pixel is CORE_MARGIN from another field (not a sliver) */
    size_t to_label;    /* how many of them the ground truth labels */
    double frac[MAX_MIX];
    double brightness;
    double drift;       /* signed amplitude of the smooth fraction drift */
    float *refl;        /* [n][bands] perturbed endmember reflectances */
} field;

/* How far a field's endmembers and fractions stray from the class's. */
static void perturb_endmember(endmember *em, double v, hsi_rng *rng)
{
    switch (em->kind) {
    case KIND_CANOPY:
        em->p[0] = clamp01(em->p[0] + 0.06 * v * hsi_rng_normal(rng));
        em->p[1] += 5 * v * hsi_rng_normal(rng);
        em->p[2] *= 1 + 0.06 * v * hsi_rng_normal(rng);
        em->p[3] = fmax(0.1, em->p[3] * (1 + 0.12 * v * hsi_rng_normal(rng)));
        break;
    case KIND_SOIL:
        em->p[0] *= 1 + 0.08 * v * hsi_rng_normal(rng);
        em->p[1] = fmax(0, em->p[1] + 0.08 * v * hsi_rng_normal(rng));
        break;
    case KIND_DRY:
        em->p[0] *= 1 + 0.08 * v * hsi_rng_normal(rng);
        em->p[1] = clamp01(em->p[1] * (1 + 0.2 * v * hsi_rng_normal(rng)));
        em->p[2] = fmax(0, em->p[2] * (1 + 0.2 * v * hsi_rng_normal(rng)));
        break;
    case KIND_FLAT:
        em->p[0] *= 1 + 0.15 * v * hsi_rng_normal(rng);
        break;
    }
    if (em->p[0] < 0.005 && em->kind != KIND_CANOPY) em->p[0] = 0.005;
}

static hsi_status field_make_spectra(field *f, const double *nm, size_t nb, double v,
                                     hsi_rng *rng)
{
    const cover *cv = &covers[f->cover];
    f->refl = malloc((size_t)cv->n * nb * sizeof *f->refl);
    if (!f->refl) return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated spectra");
    double sum = 0;
    for (int j = 0; j < cv->n; j++) {
        f->frac[j] = cv->frac[j] * exp(FIELD_FRACTION_SPREAD * v * hsi_rng_normal(rng));
        sum += f->frac[j];
    }
    for (int j = 0; j < cv->n; j++) f->frac[j] /= sum;
    for (int j = 0; j < cv->n; j++) {
        endmember em = library[cv->em[j]];
        perturb_endmember(&em, v, rng);
        for (size_t b = 0; b < nb; b++)
            f->refl[(size_t)j * nb + b] = (float)endmember_reflectance(&em, nm[b]);
    }
    f->brightness = 1 + 0.05 * v * hsi_rng_normal(rng);
    f->drift = cv->patchiness * 2 * v * (hsi_rng_uniform(rng) < 0.5 ? -1 : 1);
    return HSI_OK;
}

/* ------------------------------------------------------------------ */
/* Ground truth                                                         */

/* Whether every pixel within Chebyshev distance m of (r, c) is in the
 * scene and in the same field. */
static int box_inside(const int *fid, size_t rows, size_t cols, size_t r, size_t c, long m)
{
    if ((long)r < m || (long)c < m || r + m >= rows || c + m >= cols) return 0;
    int id = fid[r * cols + c];
    for (long dr = -m; dr <= m; dr++)
        for (long dc = -m; dc <= m; dc++)
            if (fid[(r + dr) * cols + (c + dc)] != id) return 0;
    return 1;
}

/* Deal the classes to the grid fields: repeatedly take the class furthest
 * from its target and give it the largest free field that does not
 * overshoot it (or, if all do, the smallest one, labelled in part). */
static hsi_status assign_classes(field *fields, int n_grid, const int *target, hsi_rng *rng)
{
    size_t *order = malloc((size_t)n_grid * sizeof *order);
    if (!order) return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated layout");
    for (int i = 0; i < n_grid; i++) order[i] = (size_t)i;
    hsi_rng_shuffle(rng, order, (size_t)n_grid); /* random pick among equal sizes */
    long remaining[N_CLASSES + 1];
    for (int k = 1; k <= N_CLASSES; k++) remaining[k] = target[k];
    remaining[16] = 0; /* the tower site carries class 16 */
    for (;;) {
        int k = 1;
        for (int c = 2; c <= N_CLASSES; c++)
            if (remaining[c] > remaining[k]) k = c;
        if (remaining[k] <= 0) break;
        if (remaining[k] < MIN_LABELLED_BLOCK && remaining[k] < target[k]) {
            remaining[k] = 0; /* close enough: no crumbs of a class in another field */
            continue;
        }
        int best_under = -1, best_over = -1;
        for (int o = 0; o < n_grid; o++) {
            field *f = &fields[order[o]];
            if (f->label || !f->has_core || f->interior < MIN_LABELLED_INTERIOR) continue;
            if ((double)f->interior <= remaining[k] * 1.15) {
                if (best_under < 0 || f->interior > fields[best_under].interior)
                    best_under = (int)order[o];
            } else if (best_over < 0 || f->interior < fields[best_over].interior) {
                best_over = (int)order[o];
            }
        }
        int pick = best_under >= 0 ? best_under : best_over;
        if (pick < 0) break;
        field *f = &fields[pick];
        f->label = k;
        f->cover = k;
        f->to_label = f->interior < (size_t)remaining[k] ? f->interior : (size_t)remaining[k];
        remaining[k] -= (long)f->to_label;
    }
    free(order);
    return HSI_OK;
}

typedef struct ranked_pixel {
    double key;
    size_t index;
} ranked_pixel;

static int compare_ranked(const void *a, const void *b)
{
    const ranked_pixel *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Label `to_label` of the field's interior pixels (pixels[0..n-1], raster
 * indices): all of them, or the rectangle-like block around the interior's
 * centre (as surveyors marked part of a field). */
static hsi_status label_field(const size_t *pixels, size_t n, size_t cols, const field *f,
                              uint16_t *gt)
{
    if (n == 0 || f->to_label == 0) return HSI_OK;
    double sr = 0, sc = 0;
    size_t r0 = SIZE_MAX, r1 = 0, c0 = SIZE_MAX, c1 = 0;
    for (size_t k = 0; k < n; k++) {
        size_t r = pixels[k] / cols, c = pixels[k] % cols;
        sr += r;
        sc += c;
        if (r < r0) r0 = r;
        if (r > r1) r1 = r;
        if (c < c0) c0 = c;
        if (c > c1) c1 = c;
    }
    ranked_pixel *px = malloc(n * sizeof *px);
    if (!px) return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated ground truth");
    double cr = sr / n, cc = sc / n;
    double hr = (r1 - r0 + 1) / 2.0, hc = (c1 - c0 + 1) / 2.0;
    for (size_t k = 0; k < n; k++) {
        size_t r = pixels[k] / cols, c = pixels[k] % cols;
        px[k].key = fmax(fabs(r - cr) / hr, fabs(c - cc) / hc);
        px[k].index = pixels[k];
    }
    qsort(px, n, sizeof *px, compare_ranked);
    size_t take = f->to_label < n ? f->to_label : n;
    for (size_t k = 0; k < take; k++) gt[px[k].index] = (uint16_t)f->label;
    free(px);
    return HSI_OK;
}

/* Interior pixels grouped by field (counting sort, raster order inside a
 * field): field f owns members[first[f] .. first[f+1]-1]. */
static hsi_status group_interiors(const int *fid, const uint8_t *interior, size_t npix,
                                  int n_fields, size_t **first_out, size_t **members_out)
{
    size_t *first = calloc((size_t)n_fields + 1, sizeof *first);
    size_t *fill = calloc((size_t)n_fields, sizeof *fill);
    size_t n = 0;
    for (size_t i = 0; i < npix; i++) n += interior[i];
    size_t *members = malloc((n ? n : 1) * sizeof *members);
    if (!first || !fill || !members) {
        free(first);
        free(fill);
        free(members);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated ground truth");
    }
    for (size_t i = 0; i < npix; i++)
        if (interior[i]) first[fid[i] + 1]++;
    for (int f = 0; f < n_fields; f++) first[f + 1] += first[f];
    for (size_t i = 0; i < npix; i++)
        if (interior[i]) members[first[fid[i]] + fill[fid[i]]++] = i;
    free(fill);
    *first_out = first;
    *members_out = members;
    return HSI_OK;
}

/* ------------------------------------------------------------------ */
/* Sensor                                                               */

/* Top-of-atmosphere solar irradiance, relative to 500 nm: a 5778 K black body. */
static double solar_relative(double nm)
{
    double um = nm / 1000;
    double planck = pow(um, -5) / (exp(14387.77 / (um * 5778)) - 1);
    double ref = pow(0.5, -5) / (exp(14387.77 / (0.5 * 5778)) - 1);
    return planck / ref;
}

/* Two-way (sun-ground-sensor) optical depth: Rayleigh and aerosol
 * scattering, the O2 A band, water vapour bands (820, 940, 1135, 1380,
 * 1870 nm and the edge beyond 2400 nm) and CO2 near 2010/2060 nm. */
static double atmosphere_optical_depth(double nm)
{
    double um = nm / 1000;
    double beyond = nm > 2400 ? (nm - 2400) / 100 : 0;
    return 0.018 * pow(um, -4.05) + 0.15 * pow(um / 0.55, -1.3) + 0.9 * gauss(nm, 762, 6) +
           0.15 * gauss(nm, 820, 15) + 0.7 * gauss(nm, 940, 22) + 1.0 * gauss(nm, 1135, 30) +
           5.5 * gauss(nm, 1385, 28) + 6.5 * gauss(nm, 1875, 45) + 0.4 * gauss(nm, 2010, 12) +
           0.3 * gauss(nm, 2060, 12) + 4.5 * beyond * beyond;
}

#define DN_DARK 1000.0   /* dark level: AVIRIS 1992 Indian Pines DN start near 1000 */
#define DN_SCALE 26000.0 /* DN per unit reflectance under full sun at 500 nm */
#define READ_NOISE 6.0   /* DN */
#define SHOT_NOISE 0.25  /* DN^2 per DN of signal */
#define WATER_BAND_NOISE 25.0 /* extra DN on the water-absorption bands */

typedef struct sensor {
    double *gain;  /* [nb] DN per unit reflectance */
    double *path;  /* [nb] path radiance in DN */
    double *extra; /* [nb] extra noise DN (water bands) */
} sensor;

/* ------------------------------------------------------------------ */

static hsi_status check_params(const hsi_simulate_params *p)
{
    if (!p) return hsi_error(HSI_ERR_ARG, "simulate: no parameters");
    if (p->rows < 1 || p->rows > HSI_SIMULATE_MAX_SIZE)
        return hsi_error(HSI_ERR_ARG, "simulate: rows must be 1..%d, not %zu",
                         HSI_SIMULATE_MAX_SIZE, p->rows);
    if (p->cols < 1 || p->cols > HSI_SIMULATE_MAX_SIZE)
        return hsi_error(HSI_ERR_ARG, "simulate: cols must be 1..%d, not %zu",
                         HSI_SIMULATE_MAX_SIZE, p->cols);
    if (!(p->difficulty >= 0 && p->difficulty <= 1))
        return hsi_error(HSI_ERR_ARG, "simulate: difficulty must be in 0..1, not %g", p->difficulty);
    if (p->bands != 220 && p->bands != 200)
        return hsi_error(HSI_ERR_ARG, "simulate: bands must be 220 or 200, not %d", p->bands);
    return HSI_OK;
}

static hsi_status set_georeferencing(hsi_georef *geo)
{
    /* Upper-left corner near the Purdue Indian Pine site (40.45 N, 86.95 W)
     * in UTM zone 16N; 20 m pixels, north up. */
    static const double gt[6] = {504000.0, 20.0, 0.0, 4481000.0, 0.0, -20.0};
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (!srs) return hsi_error(HSI_ERR_NOMEM, "simulate: cannot create a spatial reference");
    char *wkt = NULL;
    if (OSRImportFromEPSG(srs, 32616) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
        OSRDestroySpatialReference(srs);
        CPLFree(wkt);
        return hsi_error(HSI_ERR_UNSUPPORTED,
                         "simulate: GDAL cannot build EPSG:32616 (UTM 16N); is the PROJ database installed?");
    }
    hsi_georef_clear(geo);
    geo->projection_wkt = strdup(wkt);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    if (!geo->projection_wkt) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    geo->has_geotransform = 1;
    memcpy(geo->geotransform, gt, sizeof gt);
    return HSI_OK;
}

/* Distinct streams for layout, field spectra and pixel noise, so that
 * changing how one of them draws leaves the others alone. */
static void rng_stream(hsi_rng *rng, uint64_t seed, uint64_t stream)
{
    hsi_rng_seed(rng, seed ^ (stream * 0x9E3779B97F4A7C15ull));
}

/* What the pixel step needs: the layout, the fields' spectra, the sensor
 * and the smooth noise fields, with the pixel stream's RNG at the next pixel
 * (rows are made in order, so any blocking gives the same draws). */
struct hsi_simulator {
    hsi_simulate_params p;
    size_t nb, next_row;
    layout L;
    field *fields;
    int n_fields;
    double *nm, *fwhm, *refl;
    sensor sn;
    smooth_noise canopy, shine;
    hsi_rng rng_pixels;
    hsi_cube *header; /* 1 row: band metadata and georeferencing */
    hsi_labels *gt;
};

void hsi_simulator_free(hsi_simulator *s)
{
    if (!s) return;
    for (int f = 0; f < s->n_fields && s->fields; f++) free(s->fields[f].refl);
    free(s->fields);
    free(s->nm);
    free(s->fwhm);
    free(s->refl);
    free(s->sn.gain);
    free(s->sn.path);
    free(s->sn.extra);
    free(s->canopy.v);
    free(s->shine.v);
    layout_free(&s->L);
    hsi_cube_free(s->header);
    hsi_labels_free(s->gt);
    free(s);
}

size_t hsi_simulate_layout_bytes(const hsi_simulate_params *p)
{
    /* fid (int), interior (byte), members (size_t, at most every pixel) and
     * the ground truth (uint16) while the layout is labelled. */
    size_t npix = p->rows * p->cols;
    return npix * (sizeof(int) + 1 + sizeof(size_t) + sizeof(uint16_t));
}

hsi_status hsi_simulator_open(const hsi_simulate_params *p, hsi_simulator **out)
{
    *out = NULL;
    hsi_status st = check_params(p);
    if (st) return st;
    const size_t rows = p->rows, cols = p->cols, npix = rows * cols;
    const size_t nb = (size_t)p->bands;
    const double v = p->difficulty;

    hsi_simulator *s = calloc(1, sizeof *s);
    if (!s) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->nb = nb;
    layout *L = &s->L;
    int *fid = NULL;
    uint8_t *interior = NULL;
    size_t *first = NULL, *members = NULL; /* interior pixels by field */
    sensor *sn = &s->sn;
    hsi_labels *gt = NULL;
    field *fields = NULL;
    int n_fields = 0;

    /* Bands: all 220, or the 200 of the "corrected" cube. */
    double *nm = s->nm = malloc(nb * sizeof *nm);
    double *fwhm = s->fwhm = malloc(nb * sizeof *fwhm);
    sn->gain = malloc(nb * sizeof *sn->gain);
    sn->path = malloc(nb * sizeof *sn->path);
    sn->extra = malloc(nb * sizeof *sn->extra);
    s->refl = malloc(nb * sizeof *s->refl);
    if (!nm || !fwhm || !sn->gain || !sn->path || !sn->extra || !s->refl) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t b = 0, k = 0; b < HSI_AVIRIS_BANDS; b++) {
        int water = hsi_aviris_is_water_band((int)b + 1);
        if (nb == 200 && water) continue;
        nm[k] = hsi_aviris_band_table[b][0];
        fwhm[k] = hsi_aviris_band_table[b][1];
        double t = exp(-atmosphere_optical_depth(nm[k]));
        double sun = solar_relative(nm[k]);
        sn->gain[k] = DN_SCALE * sun * t;
        /* path radiance: Rayleigh-dominated, as an equivalent reflectance */
        sn->path[k] = DN_SCALE * sun * sqrt(t) * 0.02 * pow(nm[k] / 500, -4);
        sn->extra[k] = water ? WATER_BAND_NOISE : 0;
        k++;
    }

    /* 1. Layout. */
    hsi_rng rng_layout, rng_fields;
    rng_stream(&rng_layout, p->seed, 1);
    rng_stream(&rng_fields, p->seed, 2);
    rng_stream(&s->rng_pixels, p->seed, 3);
    double area_ratio = (double)npix / INDIAN_PINES_AREA;
    int target[N_CLASSES + 1];
    for (int k = 0; k <= N_CLASSES; k++) target[k] = (int)lround(indian_pines_counts[k] * area_ratio);
    if ((st = layout_build(L, rows, cols, target[16], &rng_layout))) goto done;
    n_fields = s->n_fields = L->n_fields;
    fields = s->fields = calloc((size_t)n_fields, sizeof *fields);
    fid = malloc(npix * sizeof *fid);
    interior = calloc(npix, 1);
    if (!fields || !fid || !interior) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for the simulated layout");
        goto done;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) fid[r * cols + c] = field_at(L, r + 0.5, c + 0.5);

    /* 2. Ground truth: interiors, classes, labelled blocks. */
    for (int f = 0; f < n_fields; f++) {
        fields[f].is_grid = f < L->n_grid;
        fields[f].cover = f < L->n_grid ? 0 : f < L->n_grid + L->n_roads ? COVER_ROAD : 16;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            int id = fid[r * cols + c];
            if (fields[id].cover == COVER_ROAD) continue;
            long m = fields[id].is_grid ? INTERIOR_MARGIN : 1;
            if (box_inside(fid, rows, cols, r, c, m)) {
                interior[r * cols + c] = 1;
                fields[id].interior++;
                if (!fields[id].has_core && box_inside(fid, rows, cols, r, c, CORE_MARGIN))
                    fields[id].has_core = 1;
            }
        }
    if (L->has_tower) {
        field *t = &fields[L->n_grid + L->n_roads];
        t->label = 16;
        t->to_label = t->interior < (size_t)target[16] ? t->interior : (size_t)target[16];
    }
    if ((st = assign_classes(fields, L->n_grid, target, &rng_layout))) goto done;
    for (int f = 0; f < L->n_grid; f++)
        if (!fields[f].label)
            fields[f].cover = background_covers[hsi_rng_below(
                &rng_layout, sizeof background_covers / sizeof background_covers[0])];

    if ((st = hsi_labels_new(rows, cols, N_CLASSES, &s->gt))) goto done;
    gt = s->gt;
    const hsi_scene *ip = hsi_scene_find("indian_pines");
    if ((st = hsi_labels_set_classes(gt, ip->classes, N_CLASSES))) goto done;
    if ((st = group_interiors(fid, interior, npix, n_fields, &first, &members))) goto done;
    for (int f = 0; f < n_fields; f++)
        if (fields[f].label && (st = label_field(members + first[f], first[f + 1] - first[f], cols,
                                                 &fields[f], gt->data)))
            goto done;

    /* 3. Field spectra. */
    for (int f = 0; f < n_fields; f++)
        if ((st = field_make_spectra(&fields[f], nm, nb, v, &rng_fields))) goto done;
    if ((st = smooth_noise_init(&s->canopy, rows, cols, 7, &rng_fields)) ||
        (st = smooth_noise_init(&s->shine, rows, cols, 11, &rng_fields)))
        goto done;

    if ((st = hsi_cube_new(1, cols, nb, &s->header))) goto done;
    if ((st = hsi_cube_set_wavelengths(s->header, nm, fwhm))) goto done;
    if ((st = set_georeferencing(&s->header->geo))) goto done;
    if ((st = hsi_georef_copy(&gt->geo, &s->header->geo))) goto done;

done:
    free(fid);
    free(interior);
    free(first);
    free(members);
    if (st) {
        hsi_simulator_free(s);
        return st;
    }
    *out = s;
    return HSI_OK;
}

const hsi_cube *hsi_simulator_header(const hsi_simulator *s)
{
    return s->header;
}

const hsi_labels *hsi_simulator_labels(const hsi_simulator *s)
{
    return s->gt;
}

hsi_labels *hsi_simulator_take_labels(hsi_simulator *s)
{
    hsi_labels *gt = s->gt;
    s->gt = NULL;
    return gt;
}

/* 4. Pixels: rows [s->next_row, + nrows) into out (nrows x cols x nb). */
hsi_status hsi_simulator_rows(hsi_simulator *s, size_t row0, size_t nrows, float *out)
{
    const size_t cols = s->p.cols, nb = s->nb;
    if (row0 != s->next_row || nrows > s->p.rows - row0)
        return hsi_error(HSI_ERR_ARG, "simulate: rows %zu..%zu asked for, the next are from %zu of %zu",
                         row0 + 1, row0 + nrows, s->next_row + 1, s->p.rows);
    const double v = s->p.difficulty;
    const layout *L = &s->L;
    const field *fields = s->fields;
    const sensor *sn = &s->sn;
    double *refl = s->refl;
    hsi_rng *rng_pixels = &s->rng_pixels;
    /* Sub-sample spread: the sensor's footprint grows with difficulty, so
     * more of each neighbour leaks into border pixels. */
    const double spread = 0.33 + 0.4 * v;
    const double noise_scale = 0.25 + 1.5 * v;
    for (size_t r = row0; r < row0 + nrows; r++)
        for (size_t c = 0; c < cols; c++) {
            int ids[9];
            double weight[9];
            int n = 0;
            for (int sy = -1; sy <= 1; sy++)
                for (int sx = -1; sx <= 1; sx++) {
                    int id = field_at(L, r + 0.5 + sy * spread, c + 0.5 + sx * spread);
                    int k = 0;
                    while (k < n && ids[k] != id) k++;
                    if (k == n) {
                        ids[n] = id;
                        weight[n++] = 0;
                    }
                    weight[k] += 1.0 / 9;
                }
            double drift = smooth_at(&s->canopy, r, c);
            double light = 1 + 0.03 * v * smooth_at(&s->shine, r, c) + 0.025 * v * hsi_rng_normal(rng_pixels);
            memset(refl, 0, nb * sizeof *refl);
            for (int k = 0; k < n; k++) {
                const field *f = &fields[ids[k]];
                const cover *cv = &covers[f->cover];
                double frac[MAX_MIX], sum = 0;
                for (int j = 0; j < cv->n; j++)
                    frac[j] = f->frac[j] * exp(PIXEL_FRACTION_SPREAD * v * hsi_rng_normal(rng_pixels));
                frac[0] *= fmax(0, 1 + f->drift * drift);
                for (int j = 0; j < cv->n; j++) sum += frac[j];
                double scale = weight[k] * f->brightness * light / sum;
                for (int j = 0; j < cv->n; j++) {
                    double a = scale * frac[j];
                    const float *e = f->refl + (size_t)j * nb;
                    for (size_t b = 0; b < nb; b++) refl[b] += a * e[b];
                }
            }
            float *px = out + ((r - row0) * cols + c) * nb;
            for (size_t b = 0; b < nb; b++) {
                double signal = sn->gain[b] * refl[b] + sn->path[b];
                double sd = noise_scale * sqrt(READ_NOISE * READ_NOISE + SHOT_NOISE * signal +
                                               sn->extra[b] * sn->extra[b]);
                double dn = DN_DARK + signal + sd * hsi_rng_normal(rng_pixels);
                px[b] = (float)(dn > 1 ? dn : 1);
            }
        }
    s->next_row = row0 + nrows;
    return HSI_OK;
}

hsi_status hsi_simulate(const hsi_simulate_params *p, hsi_cube **cube_out, hsi_labels **labels_out)
{
    *cube_out = NULL;
    *labels_out = NULL;
    hsi_simulator *s;
    hsi_status st = hsi_simulator_open(p, &s);
    if (st) return st;
    hsi_cube *cube = NULL;
    if (!(st = hsi_cube_new(p->rows, p->cols, s->nb, &cube)) &&
        !(st = hsi_cube_set_wavelengths(cube, s->nm, s->fwhm)) &&
        !(st = hsi_georef_copy(&cube->geo, &s->header->geo)))
        st = hsi_simulator_rows(s, 0, p->rows, cube->data);
    if (st) {
        hsi_cube_free(cube);
        hsi_simulator_free(s);
        return st;
    }
    *labels_out = hsi_simulator_take_labels(s);
    hsi_simulator_free(s);
    *cube_out = cube;
    return HSI_OK;
}

/* ------------------------------------------------------------------ */
/* Nearest class mean                                                   */

hsi_status hsi_simulate_ncm_accuracy(const hsi_cube *cube, const hsi_labels *labels,
                                     double train_fraction, uint64_t seed, double *accuracy)
{
    *accuracy = 0;
    hsi_status st = hsi_labels_check_size(labels, cube->rows, cube->cols, "ground truth");
    if (st) return st;
    if (!(train_fraction > 0 && train_fraction < 1))
        return hsi_error(HSI_ERR_ARG, "train fraction must be in (0, 1), not %g", train_fraction);
    const size_t npix = cube->rows * cube->cols, nb = cube->bands;
    const int nc = hsi_labels_max(labels);
    if (nc < 1) return hsi_error(HSI_ERR_DATA, "ground truth: no labelled pixel");

    size_t *counts = calloc((size_t)nc + 1, sizeof *counts);
    size_t *start = calloc((size_t)nc + 2, sizeof *start);
    size_t *members = malloc(npix * sizeof *members);
    double *mean = calloc(((size_t)nc + 1) * nb, sizeof *mean);
    size_t *ntrain = calloc((size_t)nc + 1, sizeof *ntrain);
    uint8_t *is_train = calloc(npix, 1);
    if (!counts || !start || !members || !mean || !ntrain || !is_train) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Pixels grouped by class, then a seeded shuffle per class. */
    for (size_t i = 0; i < npix; i++) counts[labels->data[i]]++;
    for (int k = 1; k <= nc; k++) start[k + 1] = start[k] + counts[k];
    {
        size_t *fill = calloc((size_t)nc + 1, sizeof *fill);
        if (!fill) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < npix; i++) {
            int k = labels->data[i];
            if (k) members[start[k] + fill[k]++] = i;
        }
        free(fill);
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, seed);
    for (int k = 1; k <= nc; k++) {
        if (!counts[k]) continue;
        hsi_rng_shuffle(&rng, members + start[k], counts[k]);
        size_t n = (size_t)lround(train_fraction * counts[k]);
        if (n < 1) n = 1;
        ntrain[k] = n;
        for (size_t t = 0; t < n; t++) {
            size_t i = members[start[k] + t];
            is_train[i] = 1;
            const float *px = cube->data + i * nb;
            for (size_t b = 0; b < nb; b++) mean[(size_t)k * nb + b] += px[b];
        }
        for (size_t b = 0; b < nb; b++) mean[(size_t)k * nb + b] /= (double)n;
    }
    size_t tested = 0, correct = 0;
    for (size_t i = 0; i < npix; i++) {
        if (!labels->data[i] || is_train[i]) continue;
        const float *px = cube->data + i * nb;
        int best = 0;
        double best_d = INFINITY;
        for (int k = 1; k <= nc; k++) {
            if (!ntrain[k]) continue;
            const double *m = mean + (size_t)k * nb;
            double d = 0;
            for (size_t b = 0; b < nb; b++) {
                double e = px[b] - m[b];
                d += e * e;
            }
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        tested++;
        correct += best == labels->data[i];
    }
    if (!tested) {
        st = hsi_error(HSI_ERR_DATA, "ground truth: no labelled pixel left to test");
        goto done;
    }
    *accuracy = (double)correct / tested;
done:
    free(counts);
    free(start);
    free(members);
    free(mean);
    free(ntrain);
    free(is_train);
    return st;
}
