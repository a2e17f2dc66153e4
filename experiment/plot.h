/* plot.h - the report's pictures, drawn with cairo into PNG bytes
 * (internal to libhsi): bar charts with error bars, line charts of training
 * curves, confusion-matrix heat maps (each also as SVG), and RGB images
 * (maps) as PNG. */
#ifndef HSI_EXPERIMENT_PLOT_H
#define HSI_EXPERIMENT_PLOT_H

#include <stddef.h>

#include "base/status.h"
#include "eval/maps.h"
#include "eval/metrics.h"

typedef struct plot_png {
    unsigned char *data;         /* the PNG */
    size_t len, cap;
    unsigned char *svg;          /* charts: the same drawing as SVG; NULL for images */
    size_t svg_len, svg_cap;
} plot_png;

void plot_png_free(plot_png *p);

/* An RGB image as PNG. */
hsi_status plot_rgb_png(const hsi_rgb_image *img, plot_png *out);

/* Grouped bars: n_groups groups (e.g. splits) of n_series bars (pipelines),
 * value[g * n_series + s] with +- err (NaN: no bar), y from 0 to y_max
 * (0: the largest value + error, rounded up). */
hsi_status plot_bars(const char *title, const char *y_label, const char *const *groups,
                     int n_groups, const char *const *series, int n_series, const double *value,
                     const double *err, double y_max, plot_png *out);

/* Lines: n_series series of n[s] points (x[s][i], y[s][i]); NaN points are
 * left out. dashed[s] draws series s dashed. */
hsi_status plot_lines(const char *title, const char *x_label, const char *y_label,
                      const char *const *series, int n_series, const double *const *x,
                      const double *const *y, const int *n, const int *dashed, plot_png *out);

/* Confusion matrix as a heat map of row-normalised counts (each truth
 * class's share predicted as each class), with class ids on the axes. */
hsi_status plot_confusion(const char *title, const hsi_metrics *m, plot_png *out);

#endif
