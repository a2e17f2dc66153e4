/* scenes.h - descriptors of the public hyperspectral benchmark scenes.
 *
 * Indian Pines, Salinas, Salinas-A, Pavia University, Kennedy Space Center
 * and Botswana, as published by the Grupo de Inteligencia Computacional of
 * the University of the Basque Country ("Hyperspectral Remote Sensing
 * Scenes"): size, band count, class names and the colours maps usually use,
 * the .mat variable names, the download addresses, byte sizes and sha256 of
 * the files (datasets/fetch downloads and verifies them).
 *
 * Tools use hsi_scene_lookup() to put the real class names and colours on a
 * ground truth read from a .mat file (which carries only numbers):
 *
 *     const hsi_scene *sc;
 *     if ((st = hsi_scene_lookup("indian_pines", &sc))) return st;
 *     if ((st = hsi_scene_apply_classes(sc, labels))) return st;
 */
#ifndef HSI_DATASETS_SCENES_H
#define HSI_DATASETS_SCENES_H

#include <stddef.h>

#include "base/cube.h"
#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_scene_file {
    const char *file;   /* file name, e.g. "Indian_pines_corrected.mat" */
    const char *var;    /* MATLAB variable holding the cube / ground truth */
    const char *url;    /* official download address */
    long long bytes;    /* size in bytes, 0 if no reference is known */
    const char *sha256; /* lower-case hex, NULL if no reference is known */
} hsi_scene_file;

typedef struct hsi_scene {
    const char *name;        /* short key: "indian_pines", "salinas", ... */
    const char *title;       /* "Indian Pines" */
    const char *sensor;      /* "AVIRIS", "ROSIS", "Hyperion" */
    const char *place;       /* where and when */
    size_t rows, cols;       /* as the .mat arrays are stored (rows x cols) */
    int bands;               /* bands in the distributed cube */
    int sensor_bands;        /* bands the sensor recorded */
    const char *removed_bands; /* 1-based bands dropped from the sensor's set, or "" */
    double gsd_m;            /* ground sampling distance, metres */
    int n_classes;           /* class ids 1..n_classes */
    const hsi_class_info *classes; /* [n_classes + 1], entry 0 = unlabelled */
    const char *note;        /* anything a user must know, or "" */
    hsi_scene_file cube, gt;
} hsi_scene;

/* The number of known scenes and the i-th of them (0-based). */
size_t hsi_scene_count(void);
const hsi_scene *hsi_scene_at(size_t i);

/* Find a scene by its name, case-insensitively and ignoring '_', '-' and
 * spaces ("indian_pines", "IndianPines", "Indian Pines", also the usual
 * short forms "ip", "sa", "salinasa", "pu", "paviau", "ksc", "bo").
 * NULL if unknown. */
const hsi_scene *hsi_scene_find(const char *name);

/* As hsi_scene_find, but an unknown name is HSI_ERR_ARG with a message
 * listing the known names. */
hsi_status hsi_scene_lookup(const char *name, const hsi_scene **out);

/* Give a label raster the scene's class names and colours. HSI_ERR_DATA if
 * the raster holds a class id above the scene's n_classes. */
hsi_status hsi_scene_apply_classes(const hsi_scene *scene, hsi_labels *labels);

#ifdef __cplusplus
}
#endif
#endif
