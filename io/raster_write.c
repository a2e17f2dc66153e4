/* raster_write.c - scenes out: cubes, label rasters and RGB images as
 * GeoTIFF, ENVI or PNG, georeferenced, written under a temporary name and
 * renamed into place together with every side file GDAL made (.hdr,
 * .aux.xml), so no reader ever sees half a file. The output rules of
 * base/guard.h apply to the file and to each side file it would replace;
 * every failure, and a fatal signal, removes all the temporary files. */
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <dirent.h>
#include <errno.h>
#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/guard.h"
#include "base/memory.h"
#include "io/io_internal.h"

hsi_status hsi_format_parse(const char *name, hsi_raster_format *fmt)
{
    if (!strcasecmp(name, "auto")) *fmt = HSI_FORMAT_AUTO;
    else if (!strcasecmp(name, "gtiff") || !strcasecmp(name, "geotiff") || !strcasecmp(name, "tif"))
        *fmt = HSI_FORMAT_GTIFF;
    else if (!strcasecmp(name, "envi")) *fmt = HSI_FORMAT_ENVI;
    else if (!strcasecmp(name, "png")) *fmt = HSI_FORMAT_PNG;
    else return hsi_error(HSI_ERR_ARG, "unknown output format '%s' (GTiff, ENVI or PNG)", name);
    return HSI_OK;
}

static hsi_raster_format resolve_format(const char *path, hsi_raster_format fmt)
{
    if (fmt != HSI_FORMAT_AUTO) return fmt;
    if (hsi_path_has_ext(path, ".tif") || hsi_path_has_ext(path, ".tiff")) return HSI_FORMAT_GTIFF;
    if (hsi_path_has_ext(path, ".png")) return HSI_FORMAT_PNG;
    return HSI_FORMAT_ENVI;
}

/* ---- temporary-name output sets ---- */

typedef struct out_set {
    char *name;       /* the output as given: messages name it */
    char *final_path; /* what is replaced: name, or a symlink's target */
    char *tmp_path;
    int temp_handle;  /* hsi_temp_add's, for removal on a fatal signal */
} out_set;

static void out_free(out_set *o)
{
    hsi_temp_forget(o->temp_handle);
    free(o->name);
    free(o->final_path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
}

/* The final name of the side file that `suffix` replaces the extension of
 * `path` with (ENVI's header: "x.dat" -> "x.hdr", "x" -> "x.hdr"). */
static char *replace_ext(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t keep = dot && dot != base ? (size_t)(dot - path) : strlen(path);
    char *out = NULL;
    return asprintf(&out, "%.*s%s", (int)keep, path, suffix) < 0 ? NULL : out;
}

static hsi_status out_begin(out_set *o, const char *path, hsi_raster_format fmt)
{
    memset(o, 0, sizeof *o);
    /* Refuse a device, FIFO, directory, dangling link or input before any
     * file is made; a symlink is written through to its target. */
    char *target = NULL;
    hsi_status st = hsi_output_target(path, NULL, &target);
    if (st) return st;
    /* The side files this output will replace must not be inputs either:
     * ENVI "x.img" next to an ENVI input "x" shares its x.hdr. */
    char *sides[2] = {NULL, NULL};
    if (asprintf(&sides[0], "%s.aux.xml", target) < 0) sides[0] = NULL;
    if (fmt == HSI_FORMAT_ENVI) sides[1] = replace_ext(target, ".hdr");
    for (int i = 0; i < 2 && !st; i++)
        if (sides[i]) st = hsi_output_check_replace(sides[i], sides[i], NULL);
    free(sides[0]);
    free(sides[1]);
    if (st) {
        free(target);
        return st;
    }
    /* Say plainly when the folder is missing or read-only, before GDAL
     * reports it against the temporary name. */
    const char *slash = strrchr(target, '/');
    char *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target)) : strdup(".");
    int writable = dir && access(dir, W_OK) == 0;
    int e = errno;
    free(dir);
    if (!writable) {
        free(target);
        return hsi_error(HSI_ERR_IO, "%s: cannot write to its folder: %s", path, strerror(e));
    }
    o->final_path = target;
    o->name = strdup(path);
    o->tmp_path = hsi_atomic_temp_name(target);
    if (!o->name || !o->tmp_path) {
        out_free(o);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    /* Before GDAL makes the first file: the handler removes every file
     * that starts with the temporary stem. */
    o->temp_handle = hsi_temp_add(o->tmp_path, hsi_atomic_temp_stem_len(o->tmp_path, target));
    return HSI_OK;
}

/* Every file in the temporary name's directory that starts with its stem
 * ("dir/name~hsi-tmp-PID-N"). */
static int list_tmp_files(const out_set *o, char ***files)
{
    const char *slash = strrchr(o->tmp_path, '/');
    char *dir = slash ? strndup(o->tmp_path, (size_t)(slash - o->tmp_path)) : strdup(".");
    const char *base = slash ? slash + 1 : o->tmp_path;
    size_t stem = hsi_atomic_temp_stem_len(o->tmp_path, o->final_path) - (size_t)(base - o->tmp_path);
    int n = 0;
    *files = NULL;
    DIR *d = dir ? opendir(dir) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, base, stem) != 0) continue;
            char **grown = realloc(*files, (size_t)(n + 1) * sizeof **files);
            if (!grown) break;
            *files = grown;
            if (asprintf(&(*files)[n], "%s%s%s", slash ? dir : "", slash ? "/" : "", e->d_name) < 0)
                break;
            n++;
        }
        closedir(d);
    }
    free(dir);
    return n;
}

static void free_list(char **files, int n)
{
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

static void out_abort(out_set *o)
{
    char **files;
    int n = list_tmp_files(o, &files);
    for (int i = 0; i < n; i++) unlink(files[i]);
    free_list(files, n);
    out_free(o);
}

/* The final name of temporary file `tmp` of the set. */
static char *final_name(const out_set *o, const char *tmp)
{
    /* Both names end with the same extension; the stems before it differ. */
    size_t tprefix = hsi_atomic_temp_stem_len(o->tmp_path, o->final_path);
    size_t fprefix = strlen(o->final_path) - (strlen(o->tmp_path) - tprefix);
    char *out = NULL;
    return asprintf(&out, "%.*s%s", (int)fprefix, o->final_path, tmp + tprefix) < 0 ? NULL : out;
}

static hsi_status out_commit(out_set *o)
{
    char **files;
    int n = list_tmp_files(o, &files);
    /* Check every name the set will replace before renaming any: the paths
     * may have changed since out_begin, and GDAL may have made side files
     * out_begin did not predict. */
    hsi_status st = HSI_OK;
    for (int i = 0; i < n && !st; i++) {
        char *dst = final_name(o, files[i]);
        if (!dst) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        else st = hsi_output_check_replace(dst, strcmp(files[i], o->tmp_path) ? dst : o->name, NULL);
        free(dst);
    }
    if (st) {
        for (int i = 0; i < n; i++) unlink(files[i]);
        free_list(files, n);
        out_free(o);
        return st;
    }
    sigset_t saved;
    hsi_signals_hold(&saved);
    /* A side file of an earlier output that this one does not have would
     * describe the wrong data: remove it. */
    char *aux = NULL;
    if (asprintf(&aux, "%s.aux.xml", o->final_path) >= 0) {
        int has_aux = 0;
        for (int i = 0; i < n; i++) has_aux |= hsi_path_has_ext(files[i], ".aux.xml");
        if (!has_aux) unlink(aux);
        free(aux);
    }
    st = hsi_atomic_rename_set(o->tmp_path, o->final_path, files, n);
    out_free(o);
    hsi_signals_release(&saved);
    free_list(files, n);
    return st;
}

/* ---- shared dataset setup ---- */

static void set_georef(GDALDatasetH ds, const hsi_georef *geo)
{
    if (!geo) return;
    if (geo->has_geotransform) GDALSetGeoTransform(ds, (double *)geo->geotransform);
    if (geo->projection_wkt && *geo->projection_wkt) GDALSetProjection(ds, geo->projection_wkt);
}

static GDALDatasetH create(const char *tmp, hsi_raster_format fmt, size_t rows, size_t cols,
                           size_t bands, GDALDataType type, int bip)
{
    hsi_io_gdal_init();
    const char *driver = fmt == HSI_FORMAT_ENVI ? "ENVI" : fmt == HSI_FORMAT_PNG ? "MEM" : "GTiff";
    GDALDriverH drv = GDALGetDriverByName(driver);
    if (!drv) return NULL;
    char **opts = NULL;
    if (fmt == HSI_FORMAT_ENVI) opts = CSLSetNameValue(opts, "INTERLEAVE", bip ? "BIP" : "BSQ");
    if (fmt == HSI_FORMAT_GTIFF) {
        opts = CSLSetNameValue(opts, "INTERLEAVE", bip && bands > 1 ? "PIXEL" : "BAND");
        opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
        if (bands == 3 && type == GDT_Byte) opts = CSLSetNameValue(opts, "PHOTOMETRIC", "RGB");
        /* Large outputs: DEFLATE-compressed tiles. Tiles are 256 columns by
         * 16 rows so that a row of tiles (what a row-block writer keeps in
         * GDAL's cache until it is complete) stays small even for hundreds
         * of bands; a flight line of 6000 x 425 float32 needs 160 MiB. */
        double bytes = (double)rows * (double)cols * (double)bands * GDALGetDataTypeSizeBytes(type);
        /* HSI_LARGE_OUTPUT_BYTES in the environment lowers the threshold, so
         * that the tests can write small tiled outputs. */
        const char *env = getenv("HSI_LARGE_OUTPUT_BYTES");
        double large = env && atof(env) > 0 ? atof(env) : (double)HSI_LARGE_OUTPUT_BYTES;
        if (bytes >= large) {
            opts = CSLSetNameValue(opts, "TILED", "YES");
            opts = CSLSetNameValue(opts, "BLOCKXSIZE", "256");
            opts = CSLSetNameValue(opts, "BLOCKYSIZE", "16");
            opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
            /* The fastest level: sensor noise leaves float32 spectra little
             * to gain from a higher one (a 4096 x 4096 x 200 simulated cube:
             * about 10% smaller at level 6), and level 6 took twice the CPU
             * time of making the scene. */
            opts = CSLSetNameValue(opts, "ZLEVEL", "1");
        }
    }
    CPLErrorReset();
    GDALDatasetH ds = GDALCreate(drv, fmt == HSI_FORMAT_PNG ? "" : tmp, (int)cols, (int)rows,
                                 (int)bands, type, opts);
    CSLDestroy(opts);
    return ds;
}

/* Close a written dataset; for PNG the in-memory dataset is copied out. */
static hsi_status finish(GDALDatasetH ds, hsi_raster_format fmt, const out_set *o)
{
    hsi_status st = HSI_OK;
    if (fmt == HSI_FORMAT_PNG) {
        GDALDriverH png = GDALGetDriverByName("PNG");
        char **opts = CSLSetNameValue(NULL, "WORLDFILE", "NO");
        CPLErrorReset();
        GDALDatasetH out = png ? GDALCreateCopy(png, o->tmp_path, ds, FALSE, opts, NULL, NULL) : NULL;
        CSLDestroy(opts);
        if (!out) {
            st = hsi_io_gdal_error(HSI_ERR_IO, o->name, "cannot write PNG");
        } else {
            GDALClose(out);
            if (CPLGetLastErrorType() >= CE_Failure)
                st = hsi_io_gdal_error(HSI_ERR_IO, o->name, "write failed");
        }
        GDALClose(ds);
        return st;
    }
    /* ENVI headers carry the dataset description; let it name the final
     * file, not the temporary one. */
    if (fmt == HSI_FORMAT_ENVI) {
        const char *slash = strrchr(o->final_path, '/');
        GDALSetDescription(ds, slash ? slash + 1 : o->final_path);
    }
    CPLErrorReset();
    GDALClose(ds); /* flushes: a full disk shows up here */
    if (CPLGetLastErrorType() >= CE_Failure)
        st = hsi_io_gdal_error(HSI_ERR_IO, o->name, "write failed");
    return st;
}

/* The end of every writer: after the pixel write `e`, close the dataset and
 * rename the temporary files into place, or remove them all on failure. */
static hsi_status close_and_commit(GDALDatasetH ds, hsi_raster_format fmt, out_set *o, CPLErr e)
{
    hsi_status st;
    if (e != CE_None) {
        st = hsi_io_gdal_error(HSI_ERR_IO, o->name, "write failed");
        GDALClose(ds);
        out_abort(o);
        return st;
    }
    if ((st = finish(ds, fmt, o))) {
        out_abort(o);
        return st;
    }
    return out_commit(o);
}

static char *envi_list(const double *v, size_t n)
{
    size_t cap = n * 24 + 8, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    len += (size_t)snprintf(s + len, cap - len, "{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%.6g", i ? ", " : "", v[i]);
    snprintf(s + len, cap - len, "}");
    return s;
}

/* ---- row-block writers ---- */

/* An output being written a row block at a time: the GDAL dataset under its
 * temporary name, committed (renamed into place) by close, removed by abort. */
struct hsi_raster_writer {
    out_set o;
    GDALDatasetH ds;
    hsi_raster_format fmt;
    size_t rows, cols, bands;
    GDALDataType type; /* of the caller's rows: Float32 (cubes) or Byte (RGB) */
    size_t rows_written;
};

static hsi_status writer_begin(const char *path, hsi_raster_format fmt, size_t rows, size_t cols,
                               size_t bands, GDALDataType type, hsi_raster_writer **out)
{
    *out = NULL;
    if (rows == 0 || cols == 0 || bands == 0) return hsi_error(HSI_ERR_SIZE, "%s: zero-sized raster", path);
    if (rows > INT32_MAX || cols > INT32_MAX || bands > INT32_MAX)
        return hsi_error(HSI_ERR_SIZE, "%s: raster too large for GDAL", path);
    hsi_raster_writer *w = calloc(1, sizeof *w);
    if (!w) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_status st = out_begin(&w->o, path, fmt);
    if (st) {
        free(w);
        return st;
    }
    w->ds = create(w->o.tmp_path, fmt, rows, cols, bands, type, 1);
    if (!w->ds) {
        st = hsi_io_gdal_error(HSI_ERR_IO, path, "cannot create");
        out_abort(&w->o);
        free(w);
        return st;
    }
    w->fmt = fmt;
    w->rows = rows;
    w->cols = cols;
    w->bands = bands;
    w->type = type;
    *out = w;
    return HSI_OK;
}

static hsi_status hsi_cube_writer_open_impl(const char *path, hsi_raster_format fmt,
                                            const hsi_cube *meta, size_t rows,
                                            hsi_raster_writer **out)
{
    *out = NULL;
    fmt = resolve_format(path, fmt);
    if (fmt == HSI_FORMAT_PNG)
        return hsi_error(HSI_ERR_ARG, "%s: a spectral cube cannot be written as PNG (use .tif or ENVI)",
                         path);
    hsi_raster_writer *w;
    hsi_status st = writer_begin(path, fmt, rows, meta->cols, meta->bands, GDT_Float32, &w);
    if (st) return st;
    GDALDatasetH ds = w->ds;
    set_georef(ds, &meta->geo);
    for (size_t b = 0; b < meta->bands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, (int)b + 1);
        char buf[64];
        if (meta->has_nodata) GDALSetRasterNoDataValue(band, meta->nodata);
        if (meta->band_names && meta->band_names[b]) {
            GDALSetDescription(band, meta->band_names[b]);
        } else if (meta->wavelength) {
            snprintf(buf, sizeof buf, "Band %zu (%.2f nm)", b + 1, meta->wavelength[b]);
            GDALSetDescription(band, buf);
        }
        if (fmt == HSI_FORMAT_GTIFF && meta->wavelength) {
            snprintf(buf, sizeof buf, "%.6g", meta->wavelength[b]);
            GDALSetMetadataItem(band, "wavelength", buf, NULL);
            GDALSetMetadataItem(band, "wavelength_units", "nm", NULL);
            if (meta->fwhm) {
                snprintf(buf, sizeof buf, "%.6g", meta->fwhm[b]);
                GDALSetMetadataItem(band, "fwhm", buf, NULL);
            }
        }
    }
    if (fmt == HSI_FORMAT_ENVI && meta->wavelength) {
        char *wl = envi_list(meta->wavelength, meta->bands);
        char *f = meta->fwhm ? envi_list(meta->fwhm, meta->bands) : NULL;
        if (wl) GDALSetMetadataItem(ds, "wavelength", wl, "ENVI");
        if (f) GDALSetMetadataItem(ds, "fwhm", f, "ENVI");
        GDALSetMetadataItem(ds, "wavelength_units", "Nanometers", "ENVI");
        free(wl);
        free(f);
    }
    *out = w;
    return HSI_OK;
}

static hsi_status hsi_rgb_writer_open_impl(const char *path, hsi_raster_format fmt, size_t rows,
                                           size_t cols, const hsi_georef *geo,
                                           hsi_raster_writer **out)
{
    *out = NULL;
    fmt = resolve_format(path, fmt);
    if (fmt == HSI_FORMAT_ENVI)
        return hsi_error(HSI_ERR_ARG, "%s: write colour images as .png or .tif", path);
    if (rows == 0 || cols == 0) return hsi_error(HSI_ERR_SIZE, "%s: zero-sized image", path);
    hsi_status st = writer_begin(path, fmt, rows, cols, 3, GDT_Byte, out);
    if (st) return st;
    if (fmt != HSI_FORMAT_PNG) set_georef((*out)->ds, geo);
    return HSI_OK;
}

static hsi_status hsi_raster_writer_rows_impl(hsi_raster_writer *w, size_t row0, size_t nrows,
                                              const void *data)
{
    if (row0 >= w->rows || nrows == 0 || nrows > w->rows - row0)
        return hsi_error(HSI_ERR_ARG, "%s: rows %zu..%zu outside the output's 1..%zu", w->o.name,
                         row0 + 1, row0 + nrows, w->rows);
    size_t elem = (size_t)GDALGetDataTypeSizeBytes(w->type);
    GSpacing pixel = (GSpacing)(w->bands * elem);
    CPLErrorReset();
    CPLErr e = GDALDatasetRasterIOEx(w->ds, GF_Write, 0, (int)row0, (int)w->cols, (int)nrows,
                                     (void *)data, (int)w->cols, (int)nrows, w->type,
                                     (int)w->bands, NULL, pixel, pixel * (GSpacing)w->cols,
                                     (GSpacing)elem, NULL);
    if (e != CE_None) return hsi_io_gdal_error(HSI_ERR_IO, w->o.name, "write failed");
    w->rows_written += nrows;
    return HSI_OK;
}

static void hsi_raster_writer_abort_impl(hsi_raster_writer *w)
{
    if (!w) return;
    GDALClose(w->ds);
    out_abort(&w->o);
    free(w);
}

static hsi_status hsi_raster_writer_close_impl(hsi_raster_writer *w)
{
    /* Every row must have been written: a short output is a bug upstream,
     * never something to publish. */
    if (w->rows_written < w->rows) {
        hsi_status st = hsi_error(HSI_ERR_IO, "%s: only %zu of %zu rows were written", w->o.name,
                                  w->rows_written, w->rows);
        hsi_raster_writer_abort_impl(w);
        return st;
    }
    hsi_status st = close_and_commit(w->ds, w->fmt, &w->o, CE_None);
    free(w);
    return st;
}

/* ---- cubes ---- */

static hsi_status hsi_cube_write_impl(const char *path, hsi_raster_format fmt, const hsi_cube *cube)
{
    hsi_raster_writer *w;
    hsi_status st = hsi_cube_writer_open_impl(path, fmt, cube, cube->rows, &w);
    if (st) return st;
    if ((st = hsi_raster_writer_rows_impl(w, 0, cube->rows, cube->data))) {
        hsi_raster_writer_abort_impl(w);
        return st;
    }
    return hsi_raster_writer_close_impl(w);
}

/* ---- label rasters ---- */

static void set_class_table(GDALRasterBandH band, const hsi_labels *labels)
{
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    char **names = NULL;
    for (int k = 0; k <= labels->n_classes; k++) {
        GDALColorEntry e = {labels->classes[k].rgb[0], labels->classes[k].rgb[1],
                            labels->classes[k].rgb[2], 255};
        GDALSetColorEntry(ct, k, &e);
        names = CSLAddString(names, labels->classes[k].name);
    }
    GDALSetRasterColorTable(band, ct);
    GDALSetRasterCategoryNames(band, names);
    GDALDestroyColorTable(ct);
    CSLDestroy(names);
}

static hsi_status hsi_labels_write_impl(const char *path, hsi_raster_format fmt, const hsi_labels *labels)
{
    fmt = resolve_format(path, fmt);
    int max = hsi_labels_max(labels);
    if (max > labels->n_classes)
        return hsi_error(HSI_ERR_DATA, "%s: label %d has no entry in the class table (%d classes)",
                         path, max, labels->n_classes);
    int byte = labels->n_classes < 256;
    if (fmt == HSI_FORMAT_PNG && !byte)
        return hsi_error(HSI_ERR_ARG, "%s: PNG class maps hold at most 255 classes", path);
    out_set o;
    hsi_status st = out_begin(&o, path, fmt);
    if (st) return st;
    GDALDatasetH ds = create(o.tmp_path, fmt, labels->rows, labels->cols, 1,
                             byte ? GDT_Byte : GDT_UInt16, 0);
    if (!ds) {
        st = hsi_io_gdal_error(HSI_ERR_IO, path, "cannot create");
        out_abort(&o);
        return st;
    }
    if (fmt != HSI_FORMAT_PNG) set_georef(ds, &labels->geo);
    GDALRasterBandH band = GDALGetRasterBand(ds, 1);
    set_class_table(band, labels);
    CPLErrorReset();
    CPLErr e = GDALRasterIO(band, GF_Write, 0, 0, (int)labels->cols, (int)labels->rows,
                            labels->data, (int)labels->cols, (int)labels->rows, GDT_UInt16, 0, 0);
    return close_and_commit(ds, fmt, &o, e);
}

/* ---- RGB images ---- */

static hsi_status hsi_rgb_write_impl(const char *path, hsi_raster_format fmt, const uint8_t *rgb,
                         size_t rows, size_t cols, const hsi_georef *geo)
{
    hsi_raster_writer *w;
    hsi_status st = hsi_rgb_writer_open_impl(path, fmt, rows, cols, geo, &w);
    if (st) return st;
    if ((st = hsi_raster_writer_rows_impl(w, 0, rows, rgb))) {
        hsi_raster_writer_abort_impl(w);
        return st;
    }
    return hsi_raster_writer_close_impl(w);
}

/* ---- public entry points: GDAL reports through our messages, never on stderr ---- */

hsi_status hsi_cube_write(const char *path, hsi_raster_format fmt, const hsi_cube *cube)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_cube_write_impl(path, fmt, cube);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_labels_write(const char *path, hsi_raster_format fmt, const hsi_labels *labels)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_labels_write_impl(path, fmt, labels);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_rgb_write(const char *path, hsi_raster_format fmt, const uint8_t *rgb,
                         size_t rows, size_t cols, const hsi_georef *geo)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_rgb_write_impl(path, fmt, rgb, rows, cols, geo);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_cube_writer_open(const char *path, hsi_raster_format fmt, const hsi_cube *meta,
                                size_t rows, hsi_raster_writer **out)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_cube_writer_open_impl(path, fmt, meta, rows, out);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_rgb_writer_open(const char *path, hsi_raster_format fmt, size_t rows, size_t cols,
                               const hsi_georef *geo, hsi_raster_writer **out)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_rgb_writer_open_impl(path, fmt, rows, cols, geo, out);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_raster_writer_rows(hsi_raster_writer *w, size_t row0, size_t nrows,
                                  const void *data)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_raster_writer_rows_impl(w, row0, nrows, data);
    CPLPopErrorHandler();
    return st;
}

hsi_status hsi_raster_writer_close(hsi_raster_writer *w)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_status st = hsi_raster_writer_close_impl(w);
    CPLPopErrorHandler();
    return st;
}

void hsi_raster_writer_abort(hsi_raster_writer *w)
{
    CPLPushErrorHandler(CPLQuietErrorHandler);
    hsi_raster_writer_abort_impl(w);
    CPLPopErrorHandler();
}

#define HSI_IO_SLACK ((size_t)16 << 20)

size_t hsi_io_cache_budget(size_t budget)
{
    /* The budget bounds the process's peak resident size (what GNU time -v
     * reports), so what the process holds already comes off first: code,
     * shared libraries, GDAL's drivers (about 60 MB on Debian 12), and what
     * the command has read so far. A budget of less than twice that is a
     * toy budget (tests give a few KiB to force one-row blocks): it counts
     * the command's data alone. */
    hsi_io_gdal_init();
    size_t base = hsi_memory_resident();
    if (base > budget / 2) base = 0;
    /* ... and room for what GDAL and libtiff allocate outside the block
     * cache as they read and write (strip buffers, DEFLATE state, PROJ's
     * database pages): measured at 6-12 MiB on convert and simulate. */
    else base += (budget - base) / 4 < HSI_IO_SLACK ? (budget - base) / 4 : HSI_IO_SLACK;
    /* An eighth of the rest, at most 256 MiB: enough for a row of output
     * tiles and the read-ahead of a strip- or tile-organised input. A tiny
     * budget gives a tiny cache: slow, never wrong. */
    size_t cache = (budget - base) / 8, cap = (size_t)256 << 20;
    if (cache > cap) cache = cap;
    GDALSetCacheMax64((GIntBig)cache);
    return base + cache;
}
