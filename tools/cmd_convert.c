/* cmd_convert.c - `hsi convert IN -o OUT`: change format, select bands,
 * attach a band table; cubes and label rasters alike. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/memory.h"
#include "datasets/scenes.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi convert [options] IN -o OUT\n"
    "\n"
    "Convert a cube or a label raster between formats: any raster GDAL reads or a\n"
    "MATLAB .mat file in; GeoTIFF (.tif) or ENVI (.dat/.img with .hdr) out. Band\n"
    "centre wavelengths, FWHM, nodata and georeferencing are kept; label rasters\n"
    "keep (or get) a colour table and class names. The output appears only when\n"
    "complete (written under a temporary name, then renamed). A cube is copied\n"
    "in blocks of rows that fit the memory budget, so its size is not limited by\n"
    "memory; GeoTIFF outputs of 1 GiB or more are tiled and DEFLATE-compressed\n"
    "(BigTIFF when needed). A .mat cube is read whole.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT     output file (format from its extension: .tif GeoTIFF,\n"
    "                       anything else ENVI; see --format)\n"
    "  --format FMT         GTiff or ENVI, overriding the extension\n"
    "  --var NAME           .mat variable to read (default: chosen automatically)\n"
    "  --bands LIST         keep these 1-based bands, e.g. 1-103,109-149,164-219\n"
    "                       (the 200-band \"corrected\" AVIRIS set from 220 bands)\n"
    "  --band-table SPC     attach wavelengths and FWHM from a band table (.spc)\n"
    "  --labels             IN is a label raster (ground truth or class map)\n"
    "  --scene NAME         with --labels: class names and colours of a public scene\n"
    "                       (indian_pines, salinas, pavia_university, ...)\n"
    "  --allow-nonfinite    keep NaN/Inf values instead of refusing the cube\n"
    CLI_MEMORY_HELP
    "  -q, --quiet          no summary line of what was written\n"
    "  -h, --help           show this help\n"
    "\n"
    "Examples:\n"
    "  hsi convert Indian_pines_corrected.mat -o indian_pines.tif\n"
    "  hsi convert --labels Indian_pines_gt.mat --scene indian_pines -o gt.tif\n"
    "  hsi convert scene.tif --bands 1-103,109-149,164-219 -o scene200.dat\n"
    "\n"
    "Exit status: 0 on success, 1 on a read or write error, 2 on a usage error.\n";

/* Copy the cube a row block at a time: the budget holds GDAL's cache and
 * one block (float32 BIP), whatever the scene's size. */
static hsi_status convert_cube(const char *in, const hsi_read_options *opts, const char *out,
                               hsi_raster_format fmt, size_t budget, int quiet)
{
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(in, opts, &rd);
    if (st) return st;
    size_t rows, cols, bands, block;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    /* The budget is split once both files are open (what GDAL holds for
     * them counts as fixed). */
    hsi_raster_writer *w = NULL;
    st = hsi_cube_writer_open(out, fmt, hsi_cube_reader_meta(rd), rows, &w);
    if (!st)
        st = hsi_memory_rows_per_block(budget, hsi_io_cache_budget(budget),
                                       cols * bands * sizeof(float), 1, rows, "a row of the cube",
                                       &block);
    for (size_t r0 = 0; !st && r0 < rows; r0 += block) {
        size_t n = rows - r0 < block ? rows - r0 : block;
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, r0, n, &b))) break;
        st = hsi_raster_writer_rows(w, r0, n, b->data);
        hsi_cube_free(b);
    }
    if (w) {
        if (st) hsi_raster_writer_abort(w);
        else st = hsi_raster_writer_close(w);
    }
    hsi_cube_reader_close(rd);
    if (!st && !quiet) printf("%s: %zu x %zu x %zu\n", out, rows, cols, bands);
    return st;
}

static int run(int argc, char **argv)
{
    const char *name = "convert";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"format", required_argument, NULL, 'f'},
        {"var", required_argument, NULL, 'v'},    {"bands", required_argument, NULL, 'b'},
        {"band-table", required_argument, NULL, 't'}, {"labels", no_argument, NULL, 'l'},
        {"allow-nonfinite", no_argument, NULL, 'n'}, {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {"scene", required_argument, NULL, 's'}, {"memory", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    hsi_read_options opts = {0};
    const char *out = NULL;
    hsi_raster_format fmt = HSI_FORMAT_AUTO;
    int labels = 0, quiet = 0, c;
    const hsi_scene *scene = NULL;
    hsi_status st;
    size_t budget = hsi_memory_default();
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f':
            if ((st = hsi_format_parse(optarg, &fmt))) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'v': opts.var = optarg; break;
        case 'b':
            if (cli_check_bands(name, "--bands", optarg)) return 2;
            opts.bands = optarg;
            break;
        case 't': opts.band_table = optarg; break;
        case 'l': labels = 1; break;
        case 'n': opts.allow_nonfinite = 1; break;
        case 's':
            if (hsi_scene_lookup(optarg, &scene)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'M':
            if (cli_parse_memory(name, optarg, &budget)) return 2;
            break;
        case 'q': quiet = 1; break;
        case 'h': return cli_print_usage(&cmd_convert);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (optind != argc - 1) return cli_usage_error(name, "give exactly one input file");
    if (!out) return cli_usage_error(name, "no output file (-o OUT)");
    const char *in = argv[optind];
    if (fmt == HSI_FORMAT_PNG) return cli_usage_error(name, "PNG is for maps (hsi map), not data");
    if (scene && !labels) return cli_usage_error(name, "--scene applies to label rasters (add --labels)");

    if (labels) {
        if (opts.bands) return cli_usage_error(name, "--bands does not apply to label rasters");
        hsi_labels *lab;
        if ((st = hsi_labels_read(in, opts.var, &lab))) return cli_fail(name, st);
        st = scene ? hsi_scene_apply_classes(scene, lab) : HSI_OK;
        if (!st) st = hsi_labels_write(out, fmt, lab);
        if (!st && !quiet) printf("%s: %zu x %zu labels, %d classes\n", out, lab->rows, lab->cols, lab->n_classes);
        hsi_labels_free(lab);
        return st ? cli_fail(name, st) : 0;
    }
    st = convert_cube(in, &opts, out, fmt, budget, quiet);
    return st ? cli_fail(name, st) : 0;
}

const hsi_command cmd_convert = {"convert", "convert cubes and label rasters between formats", usage,
                                 run};
