/* mat.c - MATLAB .mat files (v5 and v7.3) through libmatio.
 *
 * MATLAB stores arrays column-major: element (r, c, b) of a rows x cols x
 * bands array sits at r + c*rows + b*rows*cols. We convert to BIP on read.
 * Without a --var, the cube reader picks the largest numeric 3-D variable
 * (or folds a 2-D bands x pixels matrix when scalar `lines` and `cols`
 * variables give the image size, as in the Jasper Ridge file), and the label
 * reader the largest numeric 2-D variable.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/guard.h"
#include "io/io_internal.h"

#ifndef HAVE_MATIO

hsi_status hsi_mat_read_cube(const char *path, const char *var, hsi_cube **out, char *used_var,
                             size_t used_len)
{
    *out = NULL;
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

hsi_status hsi_mat_read_labels(const char *path, const char *var, hsi_labels **out)
{
    *out = NULL;
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

hsi_status hsi_mat_probe(const char *path, const char *var, hsi_file_info *info)
{
    return hsi_error(HSI_ERR_UNSUPPORTED, "%s: .mat files need libmatio (rebuild with libmatio-dev)",
                     path);
}

#else

#include <errno.h>
#include <matio.h>
#include <sys/stat.h>

static int is_numeric(const matvar_t *v)
{
    if (v->isComplex) return 0;
    switch (v->class_type) {
    case MAT_C_DOUBLE: case MAT_C_SINGLE:
    case MAT_C_INT8: case MAT_C_UINT8: case MAT_C_INT16: case MAT_C_UINT16:
    case MAT_C_INT32: case MAT_C_UINT32: case MAT_C_INT64: case MAT_C_UINT64:
        return 1;
    default:
        return 0;
    }
}

static const char *class_name(enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    default: return "non-numeric";
    }
}

static size_t element_count(const matvar_t *v)
{
    size_t n = 1;
    for (int i = 0; i < v->rank; i++) n *= v->dims[i];
    return n;
}

/* Element i of a numeric variable as a double. */
static double element(const matvar_t *v, size_t i)
{
    switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const double *)v->data)[i];
    case MAT_C_SINGLE: return ((const float *)v->data)[i];
    case MAT_C_INT8: return ((const int8_t *)v->data)[i];
    case MAT_C_UINT8: return ((const uint8_t *)v->data)[i];
    case MAT_C_INT16: return ((const int16_t *)v->data)[i];
    case MAT_C_UINT16: return ((const uint16_t *)v->data)[i];
    case MAT_C_INT32: return ((const int32_t *)v->data)[i];
    case MAT_C_UINT32: return ((const uint32_t *)v->data)[i];
    case MAT_C_INT64: return (double)((const int64_t *)v->data)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)v->data)[i];
    default: return NAN;
    }
}

static hsi_status open_mat(const char *path, mat_t **out)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return hsi_error(HSI_ERR_FORMAT, "%s: not a MATLAB .mat file matio can read", path);
    hsi_input_register(path); /* no output of this run may replace it */
    *out = mat;
    return HSI_OK;
}

/* Bytes of a variable's data in memory; SIZE_MAX when its dimensions
 * overflow. */
static size_t data_bytes(const matvar_t *v)
{
    size_t n = Mat_SizeOfClass(v->class_type);
    if (!n) n = 1;
    for (int i = 0; i < v->rank; i++)
        if (__builtin_mul_overflow(n, v->dims[i], &n)) return SIZE_MAX;
    return n;
}

/* Mat_VarRead, but only when the file can hold the variable's data: matio
 * allocates what the dimensions say before it reads, so a header of a few
 * hundred bytes could ask for gigabytes. Uncompressed data must be in the
 * file; zlib (v5) and HDF5's deflate (v7.3) expand at most about 1032:1. */
static hsi_status read_var(mat_t *mat, const char *path, const char *name, matvar_t **out)
{
    *out = NULL;
    matvar_t *info = Mat_VarReadInfo(mat, name);
    if (!info) return hsi_error(HSI_ERR_FORMAT, "%s: cannot read variable '%s'", path, name);
    size_t need = data_bytes(info);
    int packed = info->compression != MAT_COMPRESSION_NONE || Mat_GetVersion(mat) == MAT_FT_MAT73;
    Mat_VarFree(info);
    struct stat sb;
    if (stat(path, &sb) != 0) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (need == SIZE_MAX || (double)need > (double)sb.st_size * (packed ? 1032.0 : 1.0))
        return hsi_error(HSI_ERR_FORMAT,
                         "%s: variable '%s' has more elements than the file can hold (truncated or "
                         "corrupt)",
                         path, name);
    matvar_t *v = Mat_VarRead(mat, name);
    if (!v || !v->data) {
        Mat_VarFree(v);
        return hsi_error(HSI_ERR_FORMAT, "%s: cannot read variable '%s'", path, name);
    }
    *out = v;
    return HSI_OK;
}

/* A scalar numeric variable's value, or -1. */
static double scalar_var(mat_t *mat, const char *path, const char *name)
{
    matvar_t *v = NULL;
    double value = -1;
    if (read_var(mat, path, name, &v) == HSI_OK && is_numeric(v) && element_count(v) == 1)
        value = element(v, 0);
    Mat_VarFree(v);
    return value;
}

/* The image size that scalar `lines` and `cols` variables give (Jasper Ridge
 * style bands x pixels matrices); 0 unless both are integers in 1..2^30. */
static int fold_size(mat_t *mat, const char *path, size_t *rows, size_t *cols)
{
    double l = scalar_var(mat, path, "lines"), c = scalar_var(mat, path, "cols");
    if (!(l >= 1 && c >= 1 && l <= 1 << 30 && c <= 1 << 30 && l == floor(l) && c == floor(c)))
        return 0;
    *rows = (size_t)l;
    *cols = (size_t)c;
    return 1;
}

/* Choose the variable: by name, or the largest numeric one of the wanted
 * rank. For cubes (want_rank 3) a 2-D matrix foldable by `lines`/`cols`
 * counts too. Returns a malloc'd name in *name. */
static hsi_status choose_var(mat_t *mat, const char *path, const char *var, int want_rank,
                             char **name)
{
    *name = NULL;
    if (var) {
        matvar_t *v = Mat_VarReadInfo(mat, var);
        if (!v) return hsi_error(HSI_ERR_ARG, "%s: no variable '%s'", path, var);
        int ok = is_numeric(v);
        int rank = v->rank;
        Mat_VarFree(v);
        if (!ok) return hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' is not a real numeric array", path, var);
        if (want_rank == 2 && rank != 2)
            return hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' has %d dimensions; labels need 2", path,
                             var, rank);
        *name = strdup(var);
        return *name ? HSI_OK : hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    size_t best_n = 0, best_n2 = 0;
    char *best = NULL, *best2 = NULL;
    matvar_t *v;
    Mat_Rewind(mat);
    while ((v = Mat_VarReadNextInfo(mat)) != NULL) {
        if (is_numeric(v) && v->name) {
            size_t n = element_count(v);
            int rank = v->rank;
            /* rank 3 with a trailing singleton is a 2-D image. */
            if (rank == 3 && v->dims[2] == 1) rank = 2;
            if (rank == want_rank && n > best_n) {
                best_n = n;
                free(best);
                best = strdup(v->name);
            } else if (want_rank == 3 && rank == 2 && n > best_n2 && v->dims[0] > 1 && v->dims[1] > 1) {
                best_n2 = n;
                free(best2);
                best2 = strdup(v->name);
            }
        }
        Mat_VarFree(v);
    }
    size_t fold_rows, fold_cols;
    if (!best && want_rank == 3 && best2 && fold_size(mat, path, &fold_rows, &fold_cols)) {
        best = best2;
        best2 = NULL;
    }
    free(best2);
    if (!best)
        return hsi_error(HSI_ERR_FORMAT, "%s: no numeric %s variable (name one with --var)", path,
                         want_rank == 3 ? "3-D (rows x cols x bands)" : "2-D (rows x cols)");
    *name = best;
    return HSI_OK;
}

hsi_status hsi_mat_read_cube(const char *path, const char *var, hsi_cube **out, char *used_var,
                             size_t used_len)
{
    *out = NULL;
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    matvar_t *v = NULL;
    hsi_cube *cube = NULL;
    if ((st = choose_var(mat, path, var, 3, &name))) goto done;
    if (used_var) snprintf(used_var, used_len, "%s", name);
    if ((st = read_var(mat, path, name, &v))) goto done;
    if (v->rank == 3) {
        size_t rows = v->dims[0], cols = v->dims[1], bands = v->dims[2];
        if ((st = hsi_cube_new(rows, cols, bands, &cube))) {
            hsi_error_prefix(st, "%s: variable '%s'", path, name);
            goto done;
        }
        for (size_t b = 0; b < bands; b++)
            for (size_t c = 0; c < cols; c++)
                for (size_t r = 0; r < rows; r++)
                    cube->data[(r * cols + c) * bands + b] =
                        (float)element(v, r + c * rows + b * rows * cols);
    } else if (v->rank == 2) {
        /* bands x pixels, pixels in column-major order of a lines x cols image. */
        size_t rows = 0, cols = 0, bands = v->dims[0], pixels = v->dims[1];
        if (!fold_size(mat, path, &rows, &cols) || rows * cols != pixels) {
            st = hsi_error(HSI_ERR_FORMAT,
                           "%s: variable '%s' is 2-D (%zu x %zu) and no `lines`/`cols` variables "
                           "give an image of %zu pixels to fold it into",
                           path, name, bands, pixels, pixels);
            goto done;
        }
        if ((st = hsi_cube_new(rows, cols, bands, &cube))) goto done;
        for (size_t p = 0; p < pixels; p++) {
            size_t r = p % rows, c = p / rows;
            for (size_t b = 0; b < bands; b++)
                cube->data[(r * cols + c) * bands + b] = (float)element(v, b + p * bands);
        }
    } else {
        st = hsi_error(HSI_ERR_FORMAT, "%s: variable '%s' has %d dimensions; a cube needs 3", path,
                       name, v->rank);
        goto done;
    }
done:
    if (st) {
        hsi_cube_free(cube);
        cube = NULL;
    }
    Mat_VarFree(v);
    free(name);
    Mat_Close(mat);
    *out = cube;
    return st;
}

hsi_status hsi_mat_read_labels(const char *path, const char *var, hsi_labels **out)
{
    *out = NULL;
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    matvar_t *v = NULL;
    hsi_labels *lab = NULL;
    if ((st = choose_var(mat, path, var, 2, &name))) goto done;
    if ((st = read_var(mat, path, name, &v))) goto done;
    size_t rows = v->dims[0], cols = v->dims[1];
    int max = 0;
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        double x = element(v, i);
        if (!(x >= 0 && x <= 65535 && x == floor(x))) {
            st = hsi_error(HSI_ERR_DATA,
                           "%s: variable '%s' value %g at row %zu, column %zu is not a class label",
                           path, name, x, i % rows + 1, i / rows + 1);
            goto done;
        }
        if (x > max) max = (int)x;
    }
    if ((st = hsi_labels_new(rows, cols, max, &lab))) {
        hsi_error_prefix(st, "%s: variable '%s'", path, name);
        goto done;
    }
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r < rows; r++) lab->data[r * cols + c] = (uint16_t)element(v, r + c * rows);
done:
    Mat_VarFree(v);
    free(name);
    Mat_Close(mat);
    if (st) {
        hsi_labels_free(lab);
        return st;
    }
    *out = lab;
    return HSI_OK;
}

hsi_status hsi_mat_probe(const char *path, const char *var, hsi_file_info *info)
{
    mat_t *mat;
    hsi_status st = open_mat(path, &mat);
    if (st) return st;
    char *name = NULL;
    /* A cube if there is one, else a label-like 2-D variable. */
    if (choose_var(mat, path, var, 3, &name) != HSI_OK && (st = choose_var(mat, path, var, 2, &name))) {
        Mat_Close(mat);
        return st;
    }
    hsi_clear_error();
    matvar_t *v = Mat_VarReadInfo(mat, name);
    snprintf(info->driver, sizeof info->driver, "MAT");
    snprintf(info->driver_long, sizeof info->driver_long, "MATLAB %s file (libmatio)",
             Mat_GetVersion(mat) == MAT_FT_MAT73 ? "7.3 (HDF5)" : Mat_GetVersion(mat) == MAT_FT_MAT4 ? "4" : "5");
    snprintf(info->var, sizeof info->var, "%s", name);
    if (v) {
        snprintf(info->data_type, sizeof info->data_type, "%s", class_name(v->class_type));
        info->rows = v->dims[0];
        info->cols = v->rank > 1 ? v->dims[1] : 1;
        info->bands = v->rank > 2 ? v->dims[2] : 1;
        size_t fold_rows, fold_cols;
        if (v->rank == 2 && fold_size(mat, path, &fold_rows, &fold_cols) &&
            fold_rows * fold_cols == v->dims[1] && v->dims[0] > 1 && !(v->class_type == MAT_C_UINT8)) {
            info->bands = v->dims[0];
            info->rows = fold_rows;
            info->cols = fold_cols;
        }
        info->is_label_like = info->bands == 1 && v->class_type != MAT_C_DOUBLE &&
                              v->class_type != MAT_C_SINGLE;
        if (info->bands == 1 && !info->is_label_like) {
            /* A double 2-D matrix of integers is a label raster too. */
            matvar_t *full = NULL;
            int ints = read_var(mat, path, name, &full) == HSI_OK;
            for (size_t i = 0; ints && i < element_count(full); i++) {
                double x = element(full, i);
                ints = x >= 0 && x <= 65535 && x == floor(x);
            }
            info->is_label_like = ints;
            Mat_VarFree(full);
        }
        Mat_VarFree(v);
    }
    free(name);
    Mat_Close(mat);
    return HSI_OK;
}

#endif /* HAVE_MATIO */
