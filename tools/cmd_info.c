/* cmd_info.c - `hsi info FILE`: what a scene, ground truth or band table holds. */
#include <getopt.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "datasets/scenes.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi info [options] FILE...\n"
    "\n"
    "Describe hyperspectral cubes, ground-truth (label) rasters and band tables:\n"
    "size, band count, wavelength range, data type, georeferencing, nodata and\n"
    "value range (read in row blocks within --memory, so any size of scene works);\n"
    "for label rasters the pixel count of every class. FILE is any\n"
    "raster GDAL reads (GeoTIFF, ENVI .hdr/.dat, ERDAS .lan/.gis, ...), a MATLAB\n"
    ".mat file (v5 or v7.3) or an AVIRIS-style band table (.spc).\n"
    "\n"
    "Options:\n"
    "  --var NAME        .mat variable to describe (default: the largest numeric\n"
    "                    3-D variable, else the largest 2-D one)\n"
    "  --bands LIST      describe only these 1-based bands, e.g. 1-103,109-149,164-219\n"
    "  --labels          treat FILE as a label raster even if it looks like a cube\n"
    "  --scene NAME      name label classes after a public scene (indian_pines,\n"
    "                    salinas, pavia_university, ...; see 'hsi datasets')\n"
    "  --band-table SPC  attach wavelengths and FWHM from a band table (.spc)\n"
    "  --truth GT        check that the ground truth GT has the cube's size and\n"
    "                    describe it after the cube\n"
    "  --json FILE       write one JSON object per file, instead of text, to FILE\n"
    "                    ('-': standard output)\n"
    CLI_MEMORY_HELP
    "  -q, --quiet       accepted for uniformity (no progress to silence)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Examples:\n"
    "  hsi info scene.tif\n"
    "  hsi info --json - ../shared/data/indian_pines/Indian_pines_gt.mat\n"
    "  hsi info --band-table 92AV3C.spc Indian_pines_corrected.mat --bands 1-103,109-149,164-219\n"
    "\n"
    "Exit status: 0 on success, 1 if a file cannot be read, 2 on a usage error.\n";

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

/* The fields every JSON description starts with: file, kind, format,
 * variable (for .mat files) and data type; the object is left open. */
static void json_file_header(const char *path, const char *kind, const hsi_file_info *fi)
{
    printf("{\"file\": ");
    json_string(stdout, path);
    printf(", \"kind\": \"%s\", \"format\": ", kind);
    json_string(stdout, fi->driver);
    if (fi->var[0]) {
        printf(", \"variable\": ");
        json_string(stdout, fi->var);
    }
    printf(", \"data_type\": ");
    json_string(stdout, fi->data_type);
}

/* "WGS 84 / UTM zone 16N (EPSG:32616)" from a WKT. */
static void projection_name(const char *wkt, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!wkt || !*wkt) return;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    if (OSRImportFromWkt(srs, (char **)&wkt) == OGRERR_NONE) {
        const char *name = OSRGetName(srs);
        const char *auth = OSRGetAuthorityName(srs, NULL), *code = OSRGetAuthorityCode(srs, NULL);
        if (auth && code)
            snprintf(buf, len, "%s (%s:%s)", name ? name : "?", auth, code);
        else
            snprintf(buf, len, "%s", name ? name : "unnamed");
    }
    OSRDestroySpatialReference(srs);
}

static void print_georef_text(const hsi_georef *g)
{
    if (g->has_geotransform) {
        const double *t = g->geotransform;
        printf("  origin        %.6f, %.6f\n", t[0], t[3]);
        printf("  pixel size    %.6g x %.6g%s\n", t[1], fabs(t[5]),
               (t[2] != 0 || t[4] != 0) ? " (rotated)" : "");
    } else {
        printf("  georeference  none\n");
    }
    char proj[256];
    projection_name(g->projection_wkt, proj, sizeof proj);
    printf("  projection    %s\n", proj[0] ? proj : "none");
}

static void print_georef_json(const hsi_georef *g)
{
    if (g->has_geotransform) {
        const double *t = g->geotransform;
        printf(", \"geotransform\": [%.10g, %.10g, %.10g, %.10g, %.10g, %.10g]", t[0], t[1], t[2],
               t[3], t[4], t[5]);
    } else {
        printf(", \"geotransform\": null");
    }
    char proj[256];
    projection_name(g->projection_wkt, proj, sizeof proj);
    printf(", \"projection\": ");
    if (proj[0])
        json_string(stdout, proj);
    else
        printf("null");
}

static int info_band_table(const char *name, const char *path, int json)
{
    double *w, *f;
    size_t n;
    hsi_status st = hsi_band_table_read(path, &w, &f, &n);
    if (st) return cli_fail(name, st);
    double fmin = INFINITY, fmax = -INFINITY;
    for (size_t b = 0; b < n; b++) {
        fmin = fmin < f[b] ? fmin : f[b];
        fmax = fmax > f[b] ? fmax : f[b];
    }
    if (json) {
        printf("{\"file\": ");
        json_string(stdout, path);
        printf(", \"kind\": \"band_table\", \"bands\": %zu, \"wavelength_nm\": [%.2f, %.2f], "
               "\"fwhm_nm\": [%.2f, %.2f]}\n",
               n, w[0], w[n - 1], fmin, fmax);
    } else {
        printf("%s\n  kind          band table\n  bands         %zu\n"
               "  wavelengths   %.2f .. %.2f nm\n  FWHM          %.2f .. %.2f nm\n",
               path, n, w[0], w[n - 1], fmin, fmax);
    }
    free(w);
    free(f);
    return 0;
}

static const hsi_scene *scene;

static int info_labels(const char *name, const char *path, const char *var,
                       const hsi_file_info *fi, int json)
{
    hsi_labels *lab;
    hsi_status st = hsi_labels_read(path, var, &lab);
    if (st) return cli_fail(name, st);
    if (scene && (st = hsi_scene_apply_classes(scene, lab))) {
        hsi_labels_free(lab);
        return cli_fail(name, st);
    }
    size_t *counts = calloc((size_t)lab->n_classes + 1, sizeof *counts);
    if (!counts) {
        hsi_labels_free(lab);
        return cli_error(name, "out of memory");
    }
    hsi_labels_histogram(lab, counts);
    size_t labelled = lab->rows * lab->cols - counts[0];
    int present = 0;
    for (int k = 1; k <= lab->n_classes; k++) present += counts[k] > 0;
    if (json) {
        json_file_header(path, "labels", fi);
        printf(", \"rows\": %zu, \"cols\": %zu, \"labelled\": %zu, \"classes\": [", lab->rows,
               lab->cols, labelled);
        int first = 1;
        for (int k = 1; k <= lab->n_classes; k++) {
            if (!counts[k]) continue;
            printf("%s{\"id\": %d, \"name\": ", first ? "" : ", ", k);
            json_string(stdout, lab->classes[k].name);
            printf(", \"pixels\": %zu, \"rgb\": [%d, %d, %d]}", counts[k], lab->classes[k].rgb[0],
                   lab->classes[k].rgb[1], lab->classes[k].rgb[2]);
            first = 0;
        }
        printf("]");
        print_georef_json(&lab->geo);
        printf("}\n");
    } else {
        printf("%s\n", path);
        printf("  kind          label raster (ground truth / class map)\n");
        printf("  format        %s (%s)%s%s\n", fi->driver, fi->driver_long,
               fi->var[0] ? ", variable " : "", fi->var);
        printf("  size          %zu rows x %zu cols, %s\n", lab->rows, lab->cols, fi->data_type);
        print_georef_text(&lab->geo);
        printf("  labelled      %zu of %zu pixels in %d classes (0 = unlabelled: %zu)\n", labelled,
               lab->rows * lab->cols, present, counts[0]);
        printf("  %5s  %-32s %8s\n", "class", "name", "pixels");
        for (int k = 1; k <= lab->n_classes; k++)
            if (counts[k]) printf("  %5d  %-32s %8zu\n", k, lab->classes[k].name, counts[k]);
    }
    free(counts);
    hsi_labels_free(lab);
    return 0;
}

static size_t budget;

static int info_cube(const char *name, const char *path, const hsi_read_options *opts,
                     const hsi_file_info *fi, int json)
{
    hsi_read_options o = *opts;
    o.allow_nonfinite = 1; /* describe, then report non-finite values */
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, &o, &rd);
    if (st) return cli_fail(name, st);
    /* The value range and the non-finite count, a row block at a time: the
     * same numbers as over the whole cube (min and max are exact whatever
     * the order). */
    size_t rows, cols, bands, block;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    st = hsi_memory_rows_per_block(budget, hsi_io_cache_budget(budget), cols * bands * sizeof(float),
                                   1, rows, "a row of the cube", &block);
    double lo = INFINITY, hi = -INFINITY;
    size_t nonfinite = 0, n = rows * cols * bands;
    for (size_t r0 = 0; !st && r0 < rows; r0 += block) {
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, r0, rows - r0 < block ? rows - r0 : block, &b))) break;
        double blo, bhi;
        hsi_cube_minmax(b, &blo, &bhi);
        if (blo < lo) lo = blo;
        if (bhi > hi) hi = bhi;
        size_t m = b->rows * b->cols * b->bands;
        for (size_t i = 0; i < m; i++) nonfinite += !isfinite(b->data[i]);
        hsi_cube_free(b);
    }
    if (st) {
        hsi_cube_reader_close(rd);
        return cli_fail(name, st);
    }
    /* The header (band metadata, nodata, georeferencing) of the whole scene;
     * rows and bands are printed from the reader's shape. */
    const hsi_cube *cube = hsi_cube_reader_meta(rd);
    if (json) {
        json_file_header(path, "cube", fi);
        printf(", \"rows\": %zu, \"cols\": %zu, \"bands\": %zu", rows, cols, bands);
        if (cube->wavelength)
            printf(", \"wavelength_nm\": [%.4g, %.4g]", cube->wavelength[0],
                   cube->wavelength[cube->bands - 1]);
        else
            printf(", \"wavelength_nm\": null");
        if (cube->has_nodata) printf(", \"nodata\": %.10g", cube->nodata);
        else printf(", \"nodata\": null");
        printf(", \"min\": %.10g, \"max\": %.10g, \"nonfinite\": %zu", lo, hi, nonfinite);
        print_georef_json(&cube->geo);
        printf("}\n");
    } else {
        printf("%s\n", path);
        printf("  kind          spectral cube\n");
        printf("  format        %s (%s)%s%s\n", fi->driver, fi->driver_long,
               fi->var[0] ? ", variable " : "", fi->var);
        printf("  size          %zu rows x %zu cols x %zu bands, %s (%.1f MiB as float32)\n",
               rows, cols, bands, fi->data_type, n * 4.0 / 1048576.0);
        if (cube->wavelength)
            printf("  wavelengths   %.2f .. %.2f nm%s\n", cube->wavelength[0],
                   cube->wavelength[cube->bands - 1], cube->fwhm ? " (with FWHM)" : "");
        else
            printf("  wavelengths   unknown (attach with --band-table)\n");
        print_georef_text(&cube->geo);
        if (cube->has_nodata) printf("  nodata        %g\n", cube->nodata);
        else printf("  nodata        none\n");
        printf("  value range   %g .. %g\n", lo, hi);
        if (nonfinite) printf("  WARNING       %zu NaN/Inf values\n", nonfinite);
    }
    hsi_cube_reader_close(rd);
    return 0;
}

static int run(int argc, char **argv)
{
    const char *name = "info";
    static const struct option longopts[] = {
        {"var", required_argument, NULL, 'v'},   {"bands", required_argument, NULL, 'b'},
        {"labels", no_argument, NULL, 'l'},      {"band-table", required_argument, NULL, 't'},
        {"json", required_argument, NULL, 'j'},        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {"truth", required_argument, NULL, 'g'}, {"scene", required_argument, NULL, 's'},
        {"memory", required_argument, NULL, 'M'}, {NULL, 0, NULL, 0}};
    hsi_read_options opts = {0};
    int json = 0, force_labels = 0, c;
    const char *truth = NULL, *json_path = NULL;
    budget = hsi_memory_default();
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'v': opts.var = optarg; break;
        case 'b':
            if (cli_check_bands(name, "--bands", optarg)) return 2;
            opts.bands = optarg;
            break;
        case 'l': force_labels = 1; break;
        case 't': opts.band_table = optarg; break;
        case 'j': json = 1, json_path = optarg; break;
        case 'g': truth = optarg; break;
        case 's':
            if (hsi_scene_lookup(optarg, &scene)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'M':
            if (cli_parse_memory(name, optarg, &budget)) return 2;
            break;
        case 'q': break; /* no progress to silence: the output is the result */
        case 'h': return cli_print_usage(&cmd_info);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (optind >= argc) return cli_usage_error(name, "no FILE given");
    if (truth && optind != argc - 1) return cli_usage_error(name, "--truth needs exactly one cube");
    if (truth) {
        /* The ground truth must cover the cube pixel for pixel. */
        hsi_cube_reader *rd;
        hsi_status st = hsi_cube_reader_open(argv[optind], &opts, &rd);
        if (st) return cli_fail(name, st);
        size_t rows, cols, bands;
        hsi_cube_reader_shape(rd, &rows, &cols, &bands);
        hsi_cube_reader_close(rd);
        hsi_labels *lab;
        if ((st = hsi_labels_read_for(truth, NULL, rows, cols, &lab))) return cli_fail(name, st);
        hsi_labels_free(lab);
    }
    /* --json FILE: the describing functions print to stdout; point it at FILE. */
    cli_output jo = {0};
    FILE *saved_stdout = NULL;
    if (json && !cli_is_stdout(json_path)) {
        hsi_status st = cli_output_open(&jo, json_path);
        if (st) return cli_fail(name, st);
        saved_stdout = stdout;
        stdout = jo.fp;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        if (hsi_path_has_ext(path, ".spc")) {
            rc |= info_band_table(name, path, json);
            continue;
        }
        hsi_file_info fi;
        hsi_status st = hsi_file_probe(path, opts.var, &fi);
        if (st) {
            rc |= cli_fail(name, st);
            continue;
        }
        if ((fi.is_label_like || force_labels) && !opts.bands)
            rc |= info_labels(name, path, opts.var, &fi, json);
        else
            rc |= info_cube(name, path, &opts, &fi, json);
        if (!json && i + 1 < argc) putchar('\n');
    }
    if (truth && rc == 0) {
        if (!json) putchar('\n');
        hsi_file_info fi;
        hsi_status st = hsi_file_probe(truth, NULL, &fi);
        rc = st ? cli_fail(name, st) : info_labels(name, truth, NULL, &fi, json);
    }
    if (saved_stdout) {
        stdout = saved_stdout;
        hsi_status st = cli_output_close(&jo, rc ? HSI_ERR_IO : HSI_OK);
        if (st && !rc) rc = cli_fail(name, st);
    }
    return rc;
}

const hsi_command cmd_info = {"info", "describe a cube, label raster or band table", usage, run};
