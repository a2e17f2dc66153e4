/* predict.c - whole-scene prediction with a trained net, a tile of rows at a
 * time (hsi cnn predict).
 *
 * Data flow per tile: cube rows (tile + radius halo, from the file through an
 * hsi_cube_reader) -> the checkpoint's preprocessing -> patches (N, 1, bands,
 * S, S) from the patch iterator -> forward -> argmax into the class raster
 * and, optionally, the probabilities into a rows x cols x classes cube. On a
 * GPU the tile's rows are sent once and each batch's patches gathered there
 * from them (be->gather_windows): (2r+1)^2 times less to copy than patches.
 *
 * Under MPI each rank classifies a run of the batches one process would
 * form (cnn3d/dist.c) and rank 0 gathers the rasters: the same batches give
 * the same numbers, so the output does not depend on the rank count.
 *
 * On the CPU a net whose layers before [flatten] are position-independent
 * takes the dense path instead (cnn3d/predict_dense.h): those layers once
 * over tiles of the scene, whole rows of tiles per rank; the row source,
 * the outputs and the gather are the same.
 */
#include "cnn3d/cnn.h"
#include "cnn3d/device.h"
#include "cnn3d/dist.h"
#include "cnn3d/predict_dense.h"

#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/mpi.h"
#include "features/patch.h"
#include "features/preprocess.h"
#include "io/io.h"

/* The iterator's row source: rows of the file, preprocessed, with the
 * all-nodata pixels recorded in a scene-sized mask on the way. */
typedef struct row_source {
    hsi_cube_reader *reader;
    const hsi_preprocess *pre;
    uint8_t *nodata; /* rows x cols */
    size_t cols;
    size_t nodata_rows; /* rows [0, nodata_rows) of the mask are written */
    uint8_t *block_nodata; /* a block's mask, where it overlaps rows written */
} row_source;

/* Called in row order, one call at a time, but on the iterator's prefetch
 * thread (GPU prediction): the mask rows another tile already wrote, which
 * the caller's thread may be reading, are not written again. */
static hsi_status read_rows(void *ctx, size_t row0, size_t nrows, hsi_cube **block)
{
    row_source *src = ctx;
    hsi_cube *raw = NULL;
    hsi_status st = hsi_cube_reader_rows(src->reader, row0, nrows, &raw);
    if (st) return st;
    if (row0 >= src->nodata_rows) {
        hsi_cube_nodata_mask(raw, src->nodata + row0 * src->cols);
    } else if (row0 + nrows > src->nodata_rows) {
        uint8_t *m = realloc(src->block_nodata, nrows * src->cols);
        if (!m) {
            hsi_cube_free(raw);
            return hsi_error(HSI_ERR_NOMEM, "out of memory");
        }
        src->block_nodata = m;
        hsi_cube_nodata_mask(raw, m);
        size_t skip = src->nodata_rows - row0;
        memcpy(src->nodata + src->nodata_rows * src->cols, m + skip * src->cols,
               (nrows - skip) * src->cols);
    }
    if (row0 + nrows > src->nodata_rows) src->nodata_rows = row0 + nrows;
    if (!src->pre) {
        *block = raw;
        return HSI_OK;
    }
    st = hsi_preprocess_apply_cube(src->pre, raw, block);
    hsi_cube_free(raw);
    return st;
}

/* The iterator's current tile of rows in backend memory (a GPU's window
 * gather reads it): sent when the iterator has loaded another tile, into a
 * buffer grown to the largest tile. */
typedef struct device_rows {
    float *rows;         /* backend memory [cap] */
    size_t cap;          /* floats */
    size_t first, count; /* scene rows held */
    unsigned serial;     /* hsi_patch_iter_tile's serial of the rows held (0: none) */
} device_rows;

static hsi_status device_tile(hsi_cnn_net *net, const hsi_patch_iter *it, size_t cols,
                              size_t bands, device_rows *t)
{
    const hsi_cnn_backend *be = net->be;
    size_t first, count;
    unsigned serial;
    const float *host = hsi_patch_iter_tile(it, &first, &count, &serial);
    if (serial == t->serial && t->rows) return HSI_OK;
    size_t floats = count * cols * bands;
    if (floats > t->cap) {
        if (t->rows) be->release(be, t->rows);
        t->cap = 0;
        if (!(t->rows = be->alloc(be, floats * sizeof(float)))) {
            hsi_status st = hsi_cnn_backend_check(be);
            return st ? st : hsi_error(HSI_ERR_NOMEM, "out of memory for a tile of %zu rows", count);
        }
        t->cap = floats;
    }
    be->upload(be, t->rows, host, floats * sizeof(float));
    t->first = first, t->count = count, t->serial = serial;
    return hsi_cnn_backend_check(be);
}

int hsi_cnn_predict_on_device(const hsi_cnn_net *net)
{
    return net->be->device && net->be->gather_windows &&
           hsi_cnn_resident_env() != HSI_CNN_RESIDENT_NEVER;
}

/* This rank's part of the scene: the raster pixels [*span0, *span1). */
static hsi_status predict_rows(hsi_cnn_net *net, const hsi_cnn_meta *meta, const char *path,
                               const hsi_cnn_scene_options *o, hsi_labels **labels_out,
                               hsi_cube **prob_out, size_t *classified, size_t *span0,
                               size_t *span1)
{
    *labels_out = NULL;
    if (prob_out) *prob_out = NULL;
    if (classified) *classified = 0;
    const char *model = o->model_name ? o->model_name : "the model";
    /* The patches must be the net's input: any other radius would read past
     * (or short of) each patch in the forward pass. hsi_cnn_checkpoint_read
     * checks this, but a caller may pass any metadata. */
    if (meta->radius < 0 || net->input.h != net->input.w ||
        net->input.h != 2 * (long)meta->radius + 1)
        return hsi_error(HSI_ERR_ARG, "%s: patch radius %d does not give its net's %d x %d input",
                         model, meta->radius, net->input.w, net->input.h);
    if (meta->border < HSI_BORDER_ZERO || meta->border > HSI_BORDER_SKIP)
        return hsi_error(HSI_ERR_ARG, "%s: unknown border mode %d", model, meta->border);
    hsi_read_options ro = {0};
    if (o->read) ro = *o->read;
    if (!ro.bands && meta->bands[0]) ro.bands = meta->bands;

    hsi_cube_reader *rd = NULL;
    hsi_patch_iter *it = NULL;
    uint8_t *rank_mask = NULL; /* with several ranks: this rank's pixels */
    hsi_labels *labels = NULL;
    hsi_cube *prob = NULL;
    row_source src = {0};
    size_t rows, cols, bands;
    const int k = net->classes;
    hsi_status st = hsi_cube_reader_open(path, &ro, &rd);
    if (st) return st;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    size_t in_bands = meta->preprocess ? meta->preprocess->in_dim : (size_t)net->input.d;
    size_t net_bands = meta->preprocess ? meta->preprocess->out_dim : bands;
    if (bands != in_bands) {
        st = hsi_error(HSI_ERR_SIZE, "%s: %zu bands, but %s was trained on %zu", path, bands, model,
                       in_bands);
        goto done;
    }
    if (net_bands != (size_t)net->input.d) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: its preprocessing gives %zu bands, its net takes %d",
                       model, net_bands, net->input.d);
        goto done;
    }
    if ((st = hsi_patch_check_radius(rows, cols, meta->radius))) {
        st = hsi_error_prefix(st, "%s", path); /* which scene is too small */
        goto done;
    }

    const hsi_cube *scene = hsi_cube_reader_meta(rd);
    if ((st = hsi_labels_new(rows, cols, k, &labels))) goto done;
    if (meta->classes && meta->n_classes == k &&
        (st = hsi_labels_set_classes(labels, meta->classes, k)))
        goto done;
    if ((st = hsi_georef_copy(&labels->geo, &scene->geo))) goto done;
    if (prob_out && o->probability) {
        if ((st = hsi_cube_new(rows, cols, (size_t)k, &prob))) goto done;
        if ((st = hsi_georef_copy(&prob->geo, &scene->geo))) goto done;
        for (int j = 0; j < k && !st; j++) {
            char name[HSI_CLASS_NAME_MAX + 16];
            snprintf(name, sizeof name, "P(%s)",
                     meta->classes && meta->n_classes == k ? meta->classes[j + 1].name : "class");
            st = hsi_cube_set_band_name(prob, (size_t)j, name);
        }
        if (st) goto done;
    }

    src = (row_source){rd, meta->preprocess, calloc(rows * cols, 1), cols, 0, NULL};
    if (!src.nodata) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* On the CPU, a net whose layers before [flatten] do not depend on the
     * position runs them once over tiles of the scene (cnn3d/predict_dense.h). */
    hsi_cnn_dense_scene dsc = {rows, cols, net_bands, bands, meta->radius,
                               (hsi_border_mode)meta->border, o->only, read_rows, &src,
                               src.nodata, labels, prob, o->progress};
    hsi_cnn_dense_plan plan;
    int dense = 0;
    if ((st = hsi_cnn_dense_choose(net, &dsc, o->memory ? o->memory : hsi_memory_default(), &dense,
                                   &plan, o->report)))
        goto done;
    if (dense) {
        size_t band0, band1, n = 0;
        hsi_cnn_dense_split(&plan, &dsc, &band0, &band1, span0, span1);
        st = hsi_cnn_dense_run(net, &plan, &dsc, band0, band1, &n);
        if (classified) *classified = n;
        goto done;
    }
    size_t r0 = meta->border == HSI_BORDER_SKIP ? (size_t)meta->radius : 0;
    if ((st = hsi_cnn_dist_scene_split(rows, cols, r0, o->only, (size_t)net->max_batch, &rank_mask,
                                       span0, span1)))
        goto done;
    if ((st = hsi_patch_iter_open_rows(read_rows, &src, rows, cols, net_bands, meta->radius,
                                       (hsi_border_mode)meta->border, (size_t)net->max_batch,
                                       o->tile_rows, &it)))
        goto done;
    if (rank_mask || o->only) hsi_patch_iter_set_mask(it, rank_mask ? rank_mask : o->only);
    /* On a GPU that gathers windows itself, the iterator hands out pixels
     * only: each tile's rows go to the device once and every batch's
     * windows are gathered there, instead of (2r+1)^2 copies of each
     * spectrum crossing PCIe. */
    int device_windows = hsi_cnn_predict_on_device(net);
    if (device_windows) {
        hsi_patch_iter_set_pixels_only(it, 1);
        hsi_patch_iter_set_prefetch(it, 1); /* the CPU reads tile k + 1 while the GPU computes */
    }
    const size_t total = hsi_patch_iter_total(it);
    size_t done_pixels = 0;
    const float *x;
    const hsi_pixel *px;
    size_t n, pending = 0; /* patches whose forward pass runs, not yet collected */
    device_rows tile = {0};
    size_t *pending_at = malloc((size_t)net->max_batch * sizeof *pending_at); /* raster offsets */
    if (!pending_at) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        /* On a GPU the last batch's forward pass runs while the CPU gathers
         * (and reads, and preprocesses) the next one. */
        st = hsi_patch_iter_next(it, &x, &px, &n);
        if (pending) {
            const float *p = hsi_cnn_forward_finish(net, (int)pending);
            hsi_status dev = hsi_cnn_backend_check(net->be);
            if (dev) { /* a GPU failure */
                st = dev;
                break;
            }
            hsi_cnn_scene_write(&dsc, p, pending_at, (int)pending, k);
            done_pixels += pending;
            pending = 0;
            hsi_progress_report(o->progress, (double)done_pixels, (double)total, NULL);
        }
        if (st || n == 0) break;
        if (device_windows) {
            if ((st = device_tile(net, it, cols, net_bands, &tile)))
                break;
            net->be->gather_windows(net->be, tile.rows, tile.first, tile.count, rows, cols,
                                    net_bands, (const uint32_t *)px, (int)n, meta->radius,
                                    meta->border == HSI_BORDER_MIRROR, net->x);
            x = net->x; /* forward_start uploads nothing */
        }
        hsi_cnn_forward_start(net, x, (int)n);
        for (size_t i = 0; i < n; i++) pending_at[i] = (size_t)px[i].row * cols + px[i].col;
        pending = n;
    }
    free(pending_at);
    if (tile.rows) net->be->release(net->be, tile.rows);
    if (classified) *classified = done_pixels;
done:
    hsi_patch_iter_free(it);
    free(rank_mask);
    free(src.nodata);
    free(src.block_nodata);
    hsi_cube_reader_close(rd);
    if (st) {
        hsi_labels_free(labels);
        hsi_cube_free(prob);
        return st;
    }
    *labels_out = labels;
    if (prob_out) *prob_out = prob;
    return HSI_OK;
}

hsi_status hsi_cnn_predict_file(hsi_cnn_net *net, const hsi_cnn_meta *meta, const char *path,
                                const hsi_cnn_scene_options *o, hsi_labels **labels_out,
                                hsi_cube **prob_out, size_t *classified)
{
    size_t span0 = 0, span1 = 0;
    hsi_status st =
        predict_rows(net, meta, path, o, labels_out, prob_out, classified, &span0, &span1);
    int rank, ranks;
    if (!hsi_mpi_layout(&rank, &ranks)) return st;
    /* Every rank gets here, failed or not: the gather agrees first. */
    st = hsi_cnn_dist_scene_gather(st, *labels_out, prob_out ? *prob_out : NULL, span0, span1,
                                   classified);
    if (st || rank != 0) {
        hsi_labels_free(*labels_out);
        *labels_out = NULL;
        if (prob_out) {
            hsi_cube_free(*prob_out);
            *prob_out = NULL;
        }
    }
    return st;
}
