/* raster_read.c - scenes in: any GDAL raster (or .mat through io/mat.c) as an
 * hsi_cube, ground truths as hsi_labels, and windowed row-block reads. */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <errno.h>
#include <gdal.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/guard.h"
#include "io/io_internal.h"

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;

static void gdal_register(void)
{
    GDALAllRegister();
}

void hsi_io_gdal_init(void)
{
    pthread_once(&gdal_once, gdal_register);
}

hsi_status hsi_io_gdal_error(hsi_status st, const char *path, const char *what)
{
    const char *msg = CPLGetLastErrorMsg();
    if (msg && *msg) return hsi_error(st, "%s: %s: %s", path, what, msg);
    return hsi_error(st, "%s: %s", path, what);
}

/* ---- band metadata ---- */

static double to_nm(double v, const char *units)
{
    if (units && (!strncasecmp(units, "micro", 5) || !strcasecmp(units, "um") ||
                  !strcasecmp(units, "µm")))
        return v * 1000.0;
    if (!units && v > 0 && v < 30) return v * 1000.0; /* micrometres by magnitude */
    return v;
}

void hsi_io_read_band_metadata(GDALDatasetH ds, double **wavelength, double **fwhm)
{
    int n = GDALGetRasterCount(ds);
    *wavelength = *fwhm = NULL;
    if (n <= 0) return;
    double *w = malloc(n * sizeof *w), *f = malloc(n * sizeof *f);
    if (!w || !f) goto none;
    int have_w = 1, have_f = 1;

    /* ENVI header lists: "wavelength = {...}", "fwhm = {...}". */
    const char *ew = GDALGetMetadataItem(ds, "wavelength", "ENVI");
    const char *ef = GDALGetMetadataItem(ds, "fwhm", "ENVI");
    const char *eu = GDALGetMetadataItem(ds, "wavelength_units", "ENVI");
    if (ew && hsi_io_parse_envi_list(ew, w, n) == 0) {
        for (int b = 0; b < n; b++) w[b] = to_nm(w[b], eu);
        if (!(ef && hsi_io_parse_envi_list(ef, f, n) == 0))
            have_f = 0;
        else
            for (int b = 0; b < n; b++) f[b] = to_nm(f[b], eu);
        goto done;
    }
    /* Per-band items: ours ("wavelength", "fwhm", "wavelength_units") and
     * GDAL >= 3.10's IMAGERY domain in micrometres. */
    for (int b = 0; b < n; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        const char *bw = GDALGetMetadataItem(band, "wavelength", NULL);
        const char *bu = GDALGetMetadataItem(band, "wavelength_units", NULL);
        const char *bf = GDALGetMetadataItem(band, "fwhm", NULL);
        const char *iw = GDALGetMetadataItem(band, "CENTRAL_WAVELENGTH_UM", "IMAGERY");
        const char *iff = GDALGetMetadataItem(band, "FWHM_UM", "IMAGERY");
        if (bw)
            w[b] = to_nm(atof(bw), bu);
        else if (iw)
            w[b] = atof(iw) * 1000.0;
        else
            have_w = 0;
        if (bf)
            f[b] = to_nm(atof(bf), bu);
        else if (iff)
            f[b] = atof(iff) * 1000.0;
        else
            have_f = 0;
    }
done:
    if (have_w) {
        *wavelength = w;
        w = NULL;
        if (have_f) {
            *fwhm = f;
            f = NULL;
        }
    }
none:
    free(w);
    free(f);
}

/* ---- GDAL datasets ---- */

static hsi_status open_dataset(const char *path, GDALDatasetH *out)
{
    struct stat sb;
    *out = NULL;
    hsi_io_gdal_init();
    if (stat(path, &sb) != 0)
        return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return hsi_error(HSI_ERR_IO, "%s: is a directory", path);
    CPLErrorReset();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds) {
        const char *msg = CPLGetLastErrorMsg();
        if (msg && *msg && !strstr(msg, "not recognized as a supported file format") &&
            !strstr(msg, "not recognised as a supported file format"))
            return hsi_error(HSI_ERR_FORMAT, "%s: cannot read: %s", path, msg);
        return hsi_error(HSI_ERR_FORMAT,
                         "%s: not a raster format GDAL can read (and not a .mat file)", path);
    }
    /* Every file the dataset is made of (ENVI data and .hdr, .aux.xml) is an
     * input that no output of this run may replace. */
    hsi_input_register(path);
    char **files = GDALGetFileList(ds);
    for (int i = 0; files && files[i]; i++) hsi_input_register(files[i]);
    CSLDestroy(files);
    if (GDALGetRasterXSize(ds) <= 0 || GDALGetRasterYSize(ds) <= 0 || GDALGetRasterCount(ds) <= 0) {
        GDALClose(ds);
        return hsi_error(HSI_ERR_SIZE, "%s: zero-sized raster", path);
    }
    *out = ds;
    return HSI_OK;
}

/* ENVI and other raw formats: make sure the data file holds what the header
 * promises, so a truncated file is an error rather than zeros. */
static hsi_status check_raw_size(GDALDatasetH ds, const char *path)
{
    GDALDriverH drv = GDALGetDatasetDriver(ds);
    const char *name = drv ? GDALGetDriverShortName(drv) : "";
    if (strcmp(name, "ENVI") != 0 && strcmp(name, "EHdr") != 0 && strcmp(name, "LAN") != 0)
        return HSI_OK;
    char **files = GDALGetFileList(ds);
    if (!files) return HSI_OK;
    const char *data = files[0];
    struct stat sb;
    hsi_status st = HSI_OK;
    int dt_size = GDALGetDataTypeSizeBytes(GDALGetRasterDataType(GDALGetRasterBand(ds, 1)));
    double need = (double)GDALGetRasterXSize(ds) * GDALGetRasterYSize(ds) *
                  GDALGetRasterCount(ds) * dt_size;
    const char *offset = GDALGetMetadataItem(ds, "header_offset", "ENVI");
    if (offset) need += atof(offset);
    if (stat(data, &sb) == 0 && (double)sb.st_size < need)
        st = hsi_error(HSI_ERR_FORMAT,
                       "%s: data file %s has %lld bytes but the header describes %.0f "
                       "(truncated file or inconsistent header)",
                       path, data, (long long)sb.st_size, need);
    CSLDestroy(files);
    return st;
}

static void read_georef(GDALDatasetH ds, hsi_georef *geo)
{
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) == CE_None) {
        int identity = gt[0] == 0 && gt[1] == 1 && gt[2] == 0 && gt[3] == 0 && gt[4] == 0 &&
                       gt[5] == 1;
        if (!identity) {
            geo->has_geotransform = 1;
            memcpy(geo->geotransform, gt, sizeof gt);
        }
    }
    const char *wkt = GDALGetProjectionRef(ds);
    if (wkt && *wkt) geo->projection_wkt = strdup(wkt);
}

/* Shift a geotransform to a window starting at (row0, col0). */
static void shift_georef(hsi_georef *geo, size_t row0)
{
    if (!geo->has_geotransform) return;
    geo->geotransform[0] += row0 * geo->geotransform[2];
    geo->geotransform[3] += row0 * geo->geotransform[5];
}

/* ---- the reader: GDAL or an in-memory .mat cube ---- */

struct hsi_cube_reader {
    char *path;
    GDALDatasetH ds;     /* GDAL source, or NULL */
    hsi_cube *mat_cube;  /* .mat source (read whole, band-selected), or NULL */
    size_t total_bands;  /* bands in the file */
    size_t *band_index;  /* selected 0-based bands */
    size_t n_bands;
    size_t rows, cols;
    hsi_cube *meta;      /* 1-row cube: band metadata, nodata, georef */
    int allow_nonfinite;
};

void hsi_cube_reader_close(hsi_cube_reader *rd)
{
    if (!rd) return;
    if (rd->ds) GDALClose(rd->ds);
    hsi_cube_free(rd->mat_cube);
    hsi_cube_free(rd->meta);
    free(rd->band_index);
    free(rd->path);
    free(rd);
}

static hsi_status reader_init_meta(hsi_cube_reader *rd, const double *w, const double *f,
                                   int has_nodata, double nodata, const hsi_georef *geo,
                                   char **names)
{
    hsi_status st = hsi_cube_new(1, rd->cols, rd->n_bands, &rd->meta);
    if (st) return st;
    double *sw = w ? malloc(rd->n_bands * sizeof *sw) : NULL;
    double *sf = f ? malloc(rd->n_bands * sizeof *sf) : NULL;
    for (size_t k = 0; k < rd->n_bands; k++) {
        if (sw) sw[k] = w[rd->band_index[k]];
        if (sf) sf[k] = f[rd->band_index[k]];
    }
    st = hsi_cube_set_wavelengths(rd->meta, sw, sf);
    free(sw);
    free(sf);
    if (st) return st;
    rd->meta->has_nodata = has_nodata;
    rd->meta->nodata = nodata;
    if (geo && (st = hsi_georef_copy(&rd->meta->geo, geo))) return st;
    if (names)
        for (size_t k = 0; k < rd->n_bands && !st; k++)
            if (names[rd->band_index[k]] && *names[rd->band_index[k]])
                st = hsi_cube_set_band_name(rd->meta, k, names[rd->band_index[k]]);
    return st;
}

/* A band table given by the user overrides what the file says. */
static hsi_status apply_band_table(const hsi_cube_reader *rd, const hsi_read_options *opts,
                                   double **w, double **f)
{
    if (!opts || !opts->band_table) return HSI_OK;
    double *tw, *tf;
    size_t n;
    hsi_status st = hsi_band_table_read(opts->band_table, &tw, &tf, &n);
    if (st) return st;
    hsi_input_register(opts->band_table);
    if (n != rd->total_bands) {
        free(tw);
        free(tf);
        return hsi_error(HSI_ERR_SIZE, "%s: band table has %zu bands but %s has %zu",
                         opts->band_table, n, rd->path, rd->total_bands);
    }
    free(*w);
    free(*f);
    *w = tw;
    *f = tf;
    return HSI_OK;
}

static hsi_status reader_select_bands(hsi_cube_reader *rd, const char *spec)
{
    if (spec) {
        hsi_status st = hsi_band_list_parse(spec, rd->total_bands, &rd->band_index, &rd->n_bands);
        if (st) return hsi_error_prefix(st, "%s", rd->path);
        return HSI_OK;
    }
    rd->band_index = malloc(rd->total_bands * sizeof *rd->band_index);
    if (!rd->band_index) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < rd->total_bands; k++) rd->band_index[k] = k;
    rd->n_bands = rd->total_bands;
    return HSI_OK;
}

static hsi_status reader_open_gdal(hsi_cube_reader *rd, const hsi_read_options *opts)
{
    hsi_status st = open_dataset(rd->path, &rd->ds);
    if (st) return st;
    if ((st = check_raw_size(rd->ds, rd->path))) return st;
    rd->rows = (size_t)GDALGetRasterYSize(rd->ds);
    rd->cols = (size_t)GDALGetRasterXSize(rd->ds);
    rd->total_bands = (size_t)GDALGetRasterCount(rd->ds);
    if ((st = reader_select_bands(rd, opts ? opts->bands : NULL))) return st;

    double *w, *f;
    hsi_io_read_band_metadata(rd->ds, &w, &f);
    if ((st = apply_band_table(rd, opts, &w, &f))) {
        free(w);
        free(f);
        return st;
    }
    int has_nodata = 0;
    double nodata = GDALGetRasterNoDataValue(GDALGetRasterBand(rd->ds, 1), &has_nodata);
    hsi_georef geo = {0};
    read_georef(rd->ds, &geo);
    char **names = calloc(rd->total_bands, sizeof *names);
    if (names)
        for (size_t b = 0; b < rd->total_bands; b++) {
            const char *d = GDALGetDescription(GDALGetRasterBand(rd->ds, (int)b + 1));
            names[b] = (char *)(d && *d ? d : NULL);
        }
    st = reader_init_meta(rd, w, f, has_nodata, nodata, &geo, names);
    free(names);
    free(w);
    free(f);
    hsi_georef_clear(&geo);
    return st;
}

static hsi_status reader_open_mat(hsi_cube_reader *rd, const hsi_read_options *opts)
{
    char used[64];
    hsi_cube *whole = NULL;
    hsi_status st = hsi_mat_read_cube(rd->path, opts ? opts->var : NULL, &whole, used, sizeof used);
    if (st) return st;
    rd->rows = whole->rows;
    rd->cols = whole->cols;
    rd->total_bands = whole->bands;
    if ((st = reader_select_bands(rd, opts ? opts->bands : NULL))) {
        hsi_cube_free(whole);
        return st;
    }
    st = hsi_io_select_bands(whole, rd->band_index, rd->n_bands, &rd->mat_cube);
    hsi_cube_free(whole);
    if (st) return st;
    double *w = NULL, *f = NULL;
    if ((st = apply_band_table(rd, opts, &w, &f))) return st;
    st = reader_init_meta(rd, w, f, 0, 0, NULL, NULL);
    free(w);
    free(f);
    return st;
}

static hsi_status hsi_cube_reader_open_impl(const char *path, const hsi_read_options *opts,
                                hsi_cube_reader **out)
{
    *out = NULL;
    hsi_cube_reader *rd = calloc(1, sizeof *rd);
    if (!rd || !(rd->path = strdup(path))) {
        free(rd);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    rd->allow_nonfinite = opts ? opts->allow_nonfinite : 0;
    hsi_status st = hsi_path_has_ext(path, ".mat") ? reader_open_mat(rd, opts)
                                                   : reader_open_gdal(rd, opts);
    if (st) {
        hsi_cube_reader_close(rd);
        return st;
    }
    *out = rd;
    return HSI_OK;
}

void hsi_cube_reader_shape(const hsi_cube_reader *rd, size_t *rows, size_t *cols, size_t *bands)
{
    *rows = rd->rows;
    *cols = rd->cols;
    *bands = rd->n_bands;
}

const hsi_cube *hsi_cube_reader_meta(const hsi_cube_reader *rd)
{
    return rd->meta;
}

static hsi_status hsi_cube_reader_rows_impl(hsi_cube_reader *rd, size_t row0, size_t nrows, hsi_cube **out)
{
    *out = NULL;
    if (row0 >= rd->rows || nrows == 0 || nrows > rd->rows - row0)
        return hsi_error(HSI_ERR_ARG, "%s: rows %zu..%zu outside the scene's 1..%zu", rd->path,
                         row0 + 1, row0 + nrows, rd->rows);
    hsi_cube *block;
    hsi_status st = hsi_cube_new(nrows, rd->cols, rd->n_bands, &block);
    if (st) return st;
    if ((st = hsi_cube_set_wavelengths(block, rd->meta->wavelength, rd->meta->fwhm))) goto fail;
    if ((st = hsi_georef_copy(&block->geo, &rd->meta->geo))) goto fail;
    if (rd->meta->band_names)
        for (size_t k = 0; k < rd->n_bands && !st; k++)
            if (rd->meta->band_names[k])
                st = hsi_cube_set_band_name(block, k, rd->meta->band_names[k]);
    if (st) goto fail;
    shift_georef(&block->geo, row0);
    block->has_nodata = rd->meta->has_nodata;
    block->nodata = rd->meta->nodata;

    if (rd->mat_cube) {
        size_t n = rd->cols * rd->n_bands;
        memcpy(block->data, rd->mat_cube->data + row0 * n, nrows * n * sizeof(float));
    } else {
        /* One call reads every selected band straight into BIP, converting
         * the file's type to float32 on the way. GDAL's band map is int. */
        int *map = malloc(rd->n_bands * sizeof *map);
        if (!map) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t k = 0; k < rd->n_bands; k++) map[k] = (int)rd->band_index[k] + 1;
        GSpacing pixel = (GSpacing)(rd->n_bands * sizeof(float));
        CPLErrorReset();
        CPLErr e = GDALDatasetRasterIOEx(rd->ds, GF_Read, 0, (int)row0, (int)rd->cols, (int)nrows,
                                         block->data, (int)rd->cols, (int)nrows, GDT_Float32,
                                         (int)rd->n_bands, map, pixel, pixel * (GSpacing)rd->cols,
                                         sizeof(float), NULL);
        free(map);
        if (e != CE_None) {
            st = hsi_io_gdal_error(HSI_ERR_IO, rd->path, "read failed");
            goto fail;
        }
    }
    /* The file's row, not the block's: a tile's error must say where to look. */
    if (!rd->allow_nonfinite && (st = hsi_cube_check_finite_rows(block, rd->path, row0))) goto fail;
    *out = block;
    return HSI_OK;
fail:
    hsi_cube_free(block);
    return st;
}

hsi_status hsi_cube_read(const char *path, const hsi_read_options *opts, hsi_cube **out)
{
    *out = NULL;
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, opts, &rd);
    if (st) return st;
    size_t row0 = opts ? opts->row0 : 0;
    size_t nrows = opts && opts->nrows ? opts->nrows : (row0 < rd->rows ? rd->rows - row0 : 0);
    st = hsi_cube_reader_rows(rd, row0, nrows, out);
    hsi_cube_reader_close(rd);
    return st;
}

/* ---- label rasters ---- */

static hsi_status labels_from_gdal(const char *path, hsi_labels **out)
{
    GDALDatasetH ds;
    hsi_status st = open_dataset(path, &ds);
    if (st) return st;
    if ((st = check_raw_size(ds, path))) {
        GDALClose(ds);
        return st;
    }
    size_t rows = (size_t)GDALGetRasterYSize(ds), cols = (size_t)GDALGetRasterXSize(ds);
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    double *buf = malloc(rows * cols * sizeof *buf);
    hsi_labels *lab = NULL;
    if (!buf) {
        GDALClose(ds);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    CPLErrorReset();
    if (GDALRasterIO(band, GF_Read, 0, 0, (int)cols, (int)rows, buf, (int)cols, (int)rows,
                     GDT_Float64, 0, 0) != CE_None) {
        st = hsi_io_gdal_error(HSI_ERR_IO, path, "read failed");
        goto done;
    }
    int max = 0;
    for (size_t i = 0; i < rows * cols; i++) {
        double v = buf[i];
        if (!(v >= 0 && v <= 65535 && v == floor(v))) {
            st = hsi_error(HSI_ERR_DATA,
                           "%s: value %g at row %zu, column %zu is not a class label "
                           "(labels are integers 0..65535)",
                           path, v, i / cols + 1, i % cols + 1);
            goto done;
        }
        if (v > max) max = (int)v;
    }
    GDALColorTableH ct = GDALGetRasterColorTable(band);
    char **cats = GDALGetRasterCategoryNames(band);
    /* The class table is the category table when there is one (a test
     * raster keeps all the classes of its scene, present or not). */
    int n_classes = max;
    if (cats && CSLCount(cats) - 1 > n_classes && CSLCount(cats) - 1 <= 65535)
        n_classes = CSLCount(cats) - 1;
    if ((st = hsi_labels_new(rows, cols, n_classes, &lab))) goto done;
    for (size_t i = 0; i < rows * cols; i++) lab->data[i] = (uint16_t)buf[i];
    for (int k = 0; k <= n_classes; k++) {
        if (ct && k < GDALGetColorEntryCount(ct)) {
            const GDALColorEntry *e = GDALGetColorEntry(ct, k);
            lab->classes[k].rgb[0] = (uint8_t)e->c1;
            lab->classes[k].rgb[1] = (uint8_t)e->c2;
            lab->classes[k].rgb[2] = (uint8_t)e->c3;
        }
        if (cats && k < CSLCount(cats) && cats[k][0])
            snprintf(lab->classes[k].name, sizeof lab->classes[k].name, "%s", cats[k]);
    }
    read_georef(ds, &lab->geo);
done:
    free(buf);
    GDALClose(ds);
    if (st) {
        hsi_labels_free(lab);
        return st;
    }
    *out = lab;
    return HSI_OK;
}

static hsi_status hsi_labels_read_impl(const char *path, const char *var, hsi_labels **out)
{
    *out = NULL;
    if (hsi_path_has_ext(path, ".mat")) return hsi_mat_read_labels(path, var, out);
    return labels_from_gdal(path, out);
}

hsi_status hsi_labels_read_for(const char *path, const char *var, size_t rows, size_t cols,
                               hsi_labels **out)
{
    hsi_status st = hsi_labels_read(path, var, out);
    if (st) return st;
    if ((st = hsi_labels_check_size(*out, rows, cols, path))) {
        hsi_labels_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- probing ---- */

static hsi_status hsi_file_probe_impl(const char *path, const char *var, hsi_file_info *info)
{
    memset(info, 0, sizeof *info);
    if (hsi_path_has_ext(path, ".mat")) return hsi_mat_probe(path, var, info);
    GDALDatasetH ds;
    hsi_status st = open_dataset(path, &ds);
    if (st) return st;
    GDALDriverH drv = GDALGetDatasetDriver(ds);
    snprintf(info->driver, sizeof info->driver, "%s", GDALGetDriverShortName(drv));
    snprintf(info->driver_long, sizeof info->driver_long, "%s", GDALGetDriverLongName(drv));
    GDALDataType dt = GDALGetRasterDataType(GDALGetRasterBand(ds, 1));
    snprintf(info->data_type, sizeof info->data_type, "%s", GDALGetDataTypeName(dt));
    info->rows = (size_t)GDALGetRasterYSize(ds);
    info->cols = (size_t)GDALGetRasterXSize(ds);
    info->bands = (size_t)GDALGetRasterCount(ds);
    info->is_label_like = info->bands == 1 && !GDALDataTypeIsFloating(dt) &&
                          !GDALDataTypeIsComplex(dt);
    GDALClose(ds);
    return HSI_OK;
}

/* ---- public entry points: GDAL reports through our messages, never on stderr ---- */

hsi_status hsi_cube_reader_open(const char *path, const hsi_read_options *opts,
                                hsi_cube_reader **out)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_cube_reader_open_impl(path, opts, out);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_cube_reader_rows(hsi_cube_reader *rd, size_t row0, size_t nrows, hsi_cube **out)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_cube_reader_rows_impl(rd, row0, nrows, out);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_labels_read(const char *path, const char *var, hsi_labels **out)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_labels_read_impl(path, var, out);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_file_probe(const char *path, const char *var, hsi_file_info *info)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_file_probe_impl(path, var, info);
    CPLPopErrorHandler();
    return st;
}
