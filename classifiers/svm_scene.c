/* svm_scene.c - classify every pixel of a scene file, rows split over MPI ranks.
 *
 * Rank r of N takes rows [r R / N, (r + 1) R / N) and reads them
 * block_rows at a time through an hsi_cube_reader, so a rank holds one
 * block of the cube (block_rows x cols x bands floats) plus its own share of
 * the result; rank 0 gathers the shares into the class raster (and the
 * probability cube). Each pixel's class depends only on its spectrum and the
 * model, so the raster is the same for any rank count.
 */
#include "classifiers/svm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "io/io.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

void hsi_svm_scene_options_init(hsi_svm_scene_options *o)
{
    memset(o, 0, sizeof *o);
    o->block_rows = 64;
}

/* Classify rows [row0, row0 + nrows) into labels (nrows * cols) and prob. */
static hsi_status classify_rows(const hsi_svm_model *m, hsi_cube_reader *rd, const char *path,
                                size_t row0, size_t nrows, size_t block_rows, uint16_t *labels,
                                float *prob, const hsi_progress *progress, size_t total_rows)
{
    size_t rows, cols, bands;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    hsi_svm_model_info info;
    hsi_svm_model_get_info(m, &info);
    const size_t k = (size_t)info.n_classes;
    uint8_t *is_nodata = malloc(block_rows * cols);
    if (!is_nodata) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_status st = HSI_OK;
    for (size_t r = 0; r < nrows && !st; r += block_rows) {
        size_t nr = nrows - r < block_rows ? nrows - r : block_rows;
        hsi_cube *block = NULL;
        if ((st = hsi_cube_reader_rows(rd, row0 + r, nr, &block))) break;
        size_t npix = nr * cols;
        /* Pixels that are nodata in every band get class 0 (unlabelled). */
        hsi_cube_nodata_mask(block, is_nodata);
        st = hsi_svm_predict(m, block->data, npix, bands, path, labels + r * cols,
                             prob ? prob + r * cols * k : NULL);
        for (size_t i = 0; !st && i < npix; i++)
            if (is_nodata[i]) {
                labels[r * cols + i] = 0;
                if (prob) memset(prob + (r * cols + i) * k, 0, k * sizeof *prob);
            }
        hsi_cube_free(block);
        hsi_progress_report(progress, (double)(r + nr), (double)nrows, NULL);
    }
    (void)total_rows;
    free(is_nodata);
    return st;
}

hsi_status hsi_svm_predict_file(const hsi_svm_model *m, const char *path,
                                const hsi_svm_scene_options *o, hsi_labels **labels_out,
                                hsi_cube **prob_out)
{
    *labels_out = NULL;
    if (prob_out) *prob_out = NULL;
    int rank, size;
    hsi_mpi_layout(&rank, &size);
    hsi_svm_model_info info;
    hsi_svm_model_get_info(m, &info);
    const int want_prob = o->probability;
    const size_t k = (size_t)info.n_classes;
    /* No early returns before the agreement below: the other ranks would
     * wait in it for this one. */
    hsi_status st = HSI_OK;
    if (o->block_rows < 1) st = hsi_error(HSI_ERR_ARG, "block rows must be at least 1");
    else if (want_prob && !info.has_probability)
        st = hsi_error(HSI_ERR_ARG,
                       "probabilities asked for, but the model was trained without them");

    /* A model trained on a band selection reads the same bands. */
    hsi_read_options ro = {0};
    if (o->read) ro = *o->read;
    hsi_cube_reader *rd = NULL;
    if (!st) st = hsi_svm_model_bands_for(m, ro.bands, path, &ro.bands);
    if (!st) st = hsi_cube_reader_open(path, &ro, &rd);
    size_t rows = 0, cols = 0, bands = 0;
    if (!st) {
        hsi_cube_reader_shape(rd, &rows, &cols, &bands);
        if (bands != info.input_dim)
            st = hsi_error(HSI_ERR_SIZE, "%s: %zu bands but the model takes %zu", path, bands,
                           info.input_dim);
    }
    /* Every rank opened its own scene and model: the row split and the
     * gather assume they are the same, so refuse them otherwise. */
    static const char *const scene_names[] = {"rows", "columns", "bands"};
    const long scene[] = {(long)rows, (long)cols, (long)bands};
    st = hsi_mpi_agree_same(st, path, scene_names, scene, 3);
    static const char *const model_names[] = {"classes", "support vectors", "input features",
                                              "model features", "probability outputs (1 = yes)"};
    const long model[] = {(long)k, info.n_support, (long)info.input_dim, (long)info.feature_dim,
                          info.has_probability};
    if (!st) st = hsi_mpi_agree_same(st, "the model", model_names, model, 5);
    /* This rank's rows. */
    size_t my_row0 = rows * (size_t)rank / (size_t)size;
    size_t my_rows = rows * (size_t)(rank + 1) / (size_t)size - my_row0;
    uint16_t *my_labels = NULL;
    float *my_prob = NULL;
    if (!st) {
        my_labels = malloc((my_rows ? my_rows : 1) * cols * sizeof *my_labels);
        if (want_prob) my_prob = malloc((my_rows ? my_rows : 1) * cols * k * sizeof *my_prob);
        if (!my_labels || (want_prob && !my_prob))
            st = hsi_error(HSI_ERR_NOMEM, "out of memory for %zu rows of results", my_rows);
    }
    if (!st)
        st = classify_rows(m, rd, path, my_row0, my_rows, o->block_rows, my_labels, my_prob,
                           rank == 0 ? o->progress : NULL, rows);

    /* Rank 0 makes the outputs (class table from the model, georeferencing
     * from the scene). */
    hsi_labels *labels = NULL;
    hsi_cube *prob = NULL;
    if (!st && rank == 0) {
        st = hsi_labels_new(rows, cols, (int)k, &labels);
        if (!st) st = hsi_labels_set_classes(labels, info.classes, (int)k);
        if (!st) st = hsi_georef_copy(&labels->geo, &hsi_cube_reader_meta(rd)->geo);
        if (!st && want_prob) {
            st = hsi_cube_new(rows, cols, k, &prob);
            if (!st) st = hsi_georef_copy(&prob->geo, &hsi_cube_reader_meta(rd)->geo);
            for (size_t c = 0; !st && c < k; c++) {
                char name[HSI_CLASS_NAME_MAX + 16];
                snprintf(name, sizeof name, "P(%s)", info.classes[c + 1].name);
                st = hsi_cube_set_band_name(prob, c, name);
            }
        }
    }
    if (rd) hsi_cube_reader_close(rd);

#ifdef HAVE_MPI
    if (size > 1) {
        if (!st && (double)rows * cols * (want_prob ? k : 1) > INT_MAX)
            st = hsi_error(HSI_ERR_SIZE, "%s: scene too large to gather in one MPI message", path);
        int *counts = st ? NULL : malloc((size_t)size * sizeof *counts);
        int *displs = st ? NULL : malloc((size_t)size * sizeof *displs);
        if (!st && (!counts || !displs)) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        /* Agree on success before the collective gathers, so no rank waits
         * for one that gave up. */
        st = hsi_mpi_agree(st);
        if (!st) {
            for (int pass = 0; pass < (want_prob ? 2 : 1); pass++) {
                size_t per_pixel = pass ? k : 1;
                for (int q = 0; q < size; q++) {
                    size_t r0 = rows * (size_t)q / (size_t)size;
                    size_t r1 = rows * (size_t)(q + 1) / (size_t)size;
                    counts[q] = (int)((r1 - r0) * cols * per_pixel);
                    displs[q] = (int)(r0 * cols * per_pixel);
                }
                int mine = (int)(my_rows * cols * per_pixel);
                int rc = pass == 0
                             ? MPI_Gatherv(my_labels, mine, MPI_UINT16_T,
                                           rank == 0 ? labels->data : NULL, counts, displs,
                                           MPI_UINT16_T, 0, MPI_COMM_WORLD)
                             : MPI_Gatherv(my_prob, mine, MPI_FLOAT,
                                           rank == 0 ? prob->data : NULL, counts, displs,
                                           MPI_FLOAT, 0, MPI_COMM_WORLD);
                if (rc != MPI_SUCCESS) st = hsi_error(HSI_ERR_MPI, "MPI_Gatherv failed");
            }
        }
        free(counts);
        free(displs);
    } else
#endif
        if (!st) {
        memcpy(labels->data, my_labels, rows * cols * sizeof *my_labels);
        if (want_prob) memcpy(prob->data, my_prob, rows * cols * k * sizeof *my_prob);
    }
    free(my_labels);
    free(my_prob);
    if (st) {
        hsi_labels_free(labels);
        hsi_cube_free(prob);
        return st;
    }
    *labels_out = labels; /* NULL on ranks other than 0 */
    if (prob_out) *prob_out = prob;
    else hsi_cube_free(prob);
    return HSI_OK;
}
