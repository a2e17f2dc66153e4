/* predict_dense.h - whole-scene CNN prediction by dense (fully
 * convolutional) evaluation on the CPU (used by cnn3d/predict.c).
 *
 * Per window, the net computes conv1 at a scene position once for every
 * window that contains it: 49 times for the Lange net's 9 x 9 windows
 * (conv2: 25, conv3: 9). When every layer before [flatten] is independent of
 * the spatial position (valid convolutions with spatial stride 1, pools and
 * padding along the bands only, element-wise activations, batch
 * normalisation at inference, dropout), those layers - the trunk - run once
 * over a tile of the scene instead, and each pixel's features are the h x w
 * window of the trunk's last map around it, which the layers from [flatten]
 * on (the tail) classify as before:
 *
 *   tile of the scene, (1, bands, T_r + 2r, T_c + 2r), padded by the
 *   border rule -> trunk -> (C, D, T_r + h - 1, T_c + w - 1)
 *   -> per pixel (i, j): the (C, D, h, w) window at (i, j) -> tail
 *
 * The border rule (features/patch_window.h) depends on the scene position
 * only, so a tile padded by it holds exactly what the windows read: the
 * result is the per-window one up to the order of floating-point sums.
 *
 * The scene is cut into a grid of tiles of T_r x T_c output pixels (the
 * last ones in a row or column of the grid computed in full and cut), a
 * function of the net, the scene and the memory budget only; a row of the
 * grid is a band, whose tiles run batch tiles at a time. A band whose
 * wanted pixels are few (hsi cnn eval's test pixels) is classified window by
 * window from the same rows when the estimated FLOPs say so. Under MPI each
 * rank takes whole bands, so the output does not depend on the rank count.
 *
 * HSI_CNN_DENSE=0 in the environment forces the per-window path (A/B runs),
 * =1 the dense one wherever the net allows it, whatever the cost estimate;
 * HSI_CNN_DENSE_TILE=R or RxC forces tiles of R x C pixels, at most the
 * scene's rows and columns, whatever the budget (tests, benches).
 */
#ifndef HSI_CNN_PREDICT_DENSE_H
#define HSI_CNN_PREDICT_DENSE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn3d/cnn.h"
#include "features/patch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How dense prediction covers a scene. */
typedef struct hsi_cnn_dense_plan {
    int flatten;                /* index of the net's [flatten]: the trunk is layers [0, flatten) */
    int radius;                 /* patch radius r */
    int win_h, win_w;           /* each pixel's window of the trunk's last map */
    size_t tile_rows, tile_cols; /* output pixels of a tile (T_r x T_c) */
    size_t grid_rows, grid_cols; /* tiles down and across the scene */
    int batch;                  /* tiles per trunk pass */
    double trunk_flops;         /* per tile */
    double tail_flops;          /* per pixel, [flatten] on */
    double window_flops;        /* per pixel on the per-window path */
    int all_dense;              /* HSI_CNN_DENSE=1: every band densely, whatever the estimate */
    size_t window_bands;        /* bands of tiles whose few wanted pixels go window by window */
    double dense_cost, window_cost; /* estimated FLOPs of the pixels asked for, this plan's way
                                     * (each band the cheaper way) and per window */
    size_t bytes;               /* the trunk's arenas and a band of rows */
} hsi_cnn_dense_plan;

/* What hsi_cnn_predict_file ran (hsi_cnn_scene_options.report). */
typedef struct hsi_cnn_predict_report {
    int dense;                  /* 1: the dense path; 0: per window */
    char why[256];              /* per window: why not dense */
    hsi_cnn_dense_plan plan;    /* dense (or considered): tiles and FLOPs */
} hsi_cnn_predict_report;

/* NULL when the net can be evaluated densely (*flatten: its [flatten]),
 * else why not, in buf ("conv3d_2 pads x and y (padding = same)"). */
const char *hsi_cnn_dense_unfit(const hsi_cnn_net *net, int *flatten, char *buf, size_t len);

/* The scene and what dense prediction reads and writes. */
typedef struct hsi_cnn_dense_scene {
    size_t rows, cols;
    size_t bands;               /* after preprocessing: the net's */
    size_t raw_bands;           /* as read */
    int radius;
    hsi_border_mode border;
    const uint8_t *only;        /* rows x cols, NULL: all */
    hsi_read_rows_fn read_rows; /* preprocessed rows; fills nodata for the rows read */
    void *read_ctx;
    const uint8_t *nodata;      /* rows x cols, valid for the rows read */
    hsi_labels *labels;
    hsi_cube *prob;             /* NULL: none */
    const hsi_progress *progress;
} hsi_cnn_dense_scene;

/* Decide between the paths: 1 with *plan for the dense one (where at least
 * one band is cheaper densely), 0 with why not in report->why (report may
 * be NULL): the net does not qualify, not on the CPU backend,
 * HSI_CNN_DENSE=0, or no band's estimated cost of the pixels asked for is
 * lower densely (small tiles within the budget, few pixels wanted). An
 * error only for a bad HSI_CNN_DENSE_TILE. */
hsi_status hsi_cnn_dense_choose(const hsi_cnn_net *net, const hsi_cnn_dense_scene *sc,
                                size_t budget, int *dense, hsi_cnn_dense_plan *plan,
                                hsi_cnn_predict_report *report);

/* This rank's bands and its raster span [*span0, *span1) (one process: all). */
void hsi_cnn_dense_split(const hsi_cnn_dense_plan *plan, const hsi_cnn_dense_scene *sc,
                         size_t *band0, size_t *band1, size_t *span0, size_t *span1);

/* The class of each of n pixels, at raster offsets at[0..n-1], from its
 * outputs p (n x k): the argmax into sc->labels (1-based; 0 where nodata),
 * the outputs into sc->prob. Both paths write through this. */
void hsi_cnn_scene_write(const hsi_cnn_dense_scene *sc, const float *p, const size_t *at, int n,
                         int k);

/* Classify the wanted pixels of bands [band0, band1) into sc->labels (and
 * sc->prob); *classified counts them (nodata ones included, as the
 * per-window path does). */
hsi_status hsi_cnn_dense_run(hsi_cnn_net *net, const hsi_cnn_dense_plan *plan,
                             const hsi_cnn_dense_scene *sc, size_t band0, size_t band1,
                             size_t *classified);

#ifdef __cplusplus
}
#endif
#endif
