/* cmd_simulate.c - `hsi simulate`: write the embedded Indian Pines-style
 * scene and its ground truth (datasets/simulate.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/memory.h"
#include "datasets/simulate.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi simulate [options]\n"
    "\n"
    "Generate hsi's embedded default scene: a seeded, deterministic Indian\n"
    "Pines-style AVIRIS cube and its ground truth. 220 bands at the real AVIRIS\n"
    "band centres and FWHM of the 1992 Indian Pines flight (400-2500 nm; or the\n"
    "200-band 'corrected' set without the water-absorption bands 104-108,\n"
    "150-163 and 220), radiance-like DN (about 850-8000), 20 m pixels\n"
    "georeferenced in UTM zone 16N (EPSG:32616). The landscape has fields with\n"
    "irregular borders, woods, grass, roads and a tower site, labelled with the\n"
    "16 Indian Pines classes in roughly the real class sizes (about half the\n"
    "scene unlabelled). Spectra mix vegetation, soil, crop residue and man-made\n"
    "endmembers, vary from field to field and within fields, mix at field\n"
    "borders, and carry sensor noise; the water-absorption bands carry little\n"
    "signal and much noise. The same options always give the same bytes.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   the cube (default scene.tif); .tif GeoTIFF, else ENVI\n"
    "  --gt FILE           the ground truth (default: the cube's name with _gt,\n"
    "                      e.g. scene_gt.tif), with class names and colours\n"
    "  --rows N            scene height in pixels, 1..4096 (default 145)\n"
    "  --cols N            scene width in pixels, 1..4096 (default 145)\n"
    "  --seed S            random seed, a non-negative integer (default 1)\n"
    "  --difficulty D      0 (clean, separable) .. 1 (hard); scales noise, variability\n"
    "                      inside classes and mixing (default 0.7: a nearest-class-\n"
    "                      mean classifier scores 0.646 on seed 1)\n"
    "  --bands-count N     220 (all AVIRIS bands) or 200 (water bands dropped)\n"
    "                      (default 220)\n"
    "  --format FMT        GTiff or ENVI for both outputs, overriding the extension\n"
    "  --ncm               also report the overall accuracy of a nearest-class-mean\n"
    "                      classifier trained on 10% of each class (split seed = S);\n"
    "                      this holds the whole cube in memory\n"
    "  --memory SIZE       memory budget, e.g. 512M, 2G (default: half the physical\n"
    "                      memory); the cube is made and written a block of rows\n"
    "                      at a time, beside the layout (15 bytes a pixel while the\n"
    "                      fields are labelled, then the ground truth's 2), so a\n"
    "                      4096 x 4096 x 220 scene (14 GiB) fits in 1G; GeoTIFFs of\n"
    "                      1 GiB or more are tiled and DEFLATE-compressed (BigTIFF)\n"
    "  -q, --quiet         print nothing on success\n"
    "  -h, --help          show this help\n"
    "\n"
    "Examples:\n"
    "  hsi simulate -o scene.tif --gt gt.tif\n"
    "  hsi simulate --seed 7 --difficulty 0.3 --bands-count 200 -o easy.dat --gt easy_gt.dat\n"
    "  hsi simulate --rows 512 --cols 512 --ncm -o big.tif\n"
    "  hsi simulate --rows 4096 --cols 4096 --bands-count 200 --memory 2G -o large.tif\n"
    "\n"
    "Exit status: 0 on success, 1 if generating or writing failed (no output is\n"
    "left behind), 2 on a usage error.\n";

/* "dir/scene.tif" -> "dir/scene_gt.tif"; "scene" -> "scene_gt". */
static char *default_gt_path(const char *cube_path)
{
    size_t n = strlen(cube_path);
    const char *slash = strrchr(cube_path, '/');
    const char *dot = strrchr(cube_path, '.');
    if (!dot || (slash && dot < slash) || dot == cube_path || (slash && dot == slash + 1))
        dot = cube_path + n;
    char *out = malloc(n + 4);
    if (!out) return NULL;
    size_t stem = (size_t)(dot - cube_path);
    memcpy(out, cube_path, stem);
    strcpy(out + stem, "_gt");
    strcpy(out + stem + 3, dot);
    return out;
}

static int run(int argc, char **argv)
{
    const char *name = "simulate";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"gt", required_argument, NULL, 'g'},
        {"rows", required_argument, NULL, 'r'},   {"cols", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},   {"difficulty", required_argument, NULL, 'd'},
        {"bands-count", required_argument, NULL, 'b'},
        {"bands", required_argument, NULL, 'b'}, /* hidden alias of --bands-count */  {"format", required_argument, NULL, 'f'},
        {"ncm", no_argument, NULL, 'n'},          {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"memory", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    hsi_simulate_params p;
    hsi_simulate_defaults(&p);
    const char *out = "scene.tif", *gt_arg = NULL;
    hsi_raster_format fmt = HSI_FORMAT_AUTO;
    int want_ncm = 0, quiet = 0, c;
    long v;
    hsi_status st;
    size_t budget = hsi_memory_default();
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'g': gt_arg = optarg; break;
        case 'r':
            if (cli_parse_long(name, "--rows", optarg, 1, HSI_SIMULATE_MAX_SIZE, &v)) return 2;
            p.rows = (size_t)v;
            break;
        case 'c':
            if (cli_parse_long(name, "--cols", optarg, 1, HSI_SIMULATE_MAX_SIZE, &v)) return 2;
            p.cols = (size_t)v;
            break;
        case 's':
            if (cli_parse_u64(name, "--seed", optarg, &p.seed)) return 2;
            break;
        case 'd':
            if (cli_parse_double(name, "--difficulty", optarg, 0, 1, &p.difficulty)) return 2;
            break;
        case 'b':
            if (strcmp(optarg, "220") && strcmp(optarg, "200"))
                return cli_usage_error(name, "--bands-count: '%s' is not 220 or 200", optarg);
            p.bands = atoi(optarg);
            break;
        case 'f':
            if (hsi_format_parse(optarg, &fmt)) return cli_usage_error(name, "%s", hsi_last_error());
            if (fmt == HSI_FORMAT_PNG) return cli_usage_error(name, "--format: PNG cannot hold a cube");
            break;
        case 'n': want_ncm = 1; break;
        case 'M':
            if (cli_parse_memory(name, optarg, &budget)) return 2;
            break;
        case 'q': quiet = 1; break;
        case 'h': return cli_print_usage(&cmd_simulate);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (optind < argc) return cli_usage_error(name, "unexpected argument '%s'", argv[optind]);
    if (!*out) return cli_usage_error(name, "-o: empty file name");
    char *gt_path = gt_arg ? strdup(gt_arg) : default_gt_path(out);
    if (!gt_path) return cli_error(name, "out of memory");
    if (!strcmp(gt_path, out)) {
        free(gt_path);
        return cli_usage_error(name, "the cube and the ground truth would both be written to %s", out);
    }

    double t0 = cli_now();
    hsi_cube *cube = NULL; /* the whole cube, for --ncm only */
    hsi_labels *gt = NULL;
    hsi_simulator *sim = NULL;
    hsi_raster_writer *w = NULL;
    float *block_data = NULL;
    double lo = INFINITY, hi = -INFINITY;
    int rc = 0;
    /* Budget: the layout while the fields are labelled, then GDAL's cache,
     * the ground truth and one block of rows (or the cube, for --ncm). The
     * budget is split once the simulator and the writer are open, so what
     * they hold (PROJ's database among it) counts as fixed. */
    size_t block, fixed;
    size_t row_bytes = p.cols * (size_t)p.bands * sizeof(float);
    size_t gt_bytes = p.rows * p.cols * sizeof(uint16_t);
    char desc[96];
    snprintf(desc, sizeof desc, "the layout of a %zu x %zu scene", p.rows, p.cols);
    if ((st = hsi_memory_check(budget, hsi_io_cache_budget(budget), hsi_simulate_layout_bytes(&p),
                               desc)) ||
        (st = hsi_simulator_open(&p, &sim)) ||
        (st = hsi_cube_writer_open(out, fmt, hsi_simulator_header(sim), p.rows, &w)))
        goto fail;
    fixed = hsi_io_cache_budget(budget) + gt_bytes;
    if ((st = hsi_memory_rows_per_block(budget, fixed, row_bytes, 1, p.rows,
                                        "a row of the scene (besides the ground truth)", &block)) ||
        (want_ncm && (st = hsi_memory_check(budget, fixed, p.rows * row_bytes,
                                            "the whole cube (for --ncm)"))))
        goto fail;
    if (want_ncm) {
        if ((st = hsi_cube_new(p.rows, p.cols, (size_t)p.bands, &cube))) goto fail;
        block = p.rows;
    } else if (!(block_data = malloc(block * row_bytes))) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for %zu rows", block);
        goto fail;
    }
    for (size_t r0 = 0; r0 < p.rows; r0 += block) {
        size_t n = p.rows - r0 < block ? p.rows - r0 : block;
        float *d = cube ? cube->data + r0 * p.cols * p.bands : block_data;
        if ((st = hsi_simulator_rows(sim, r0, n, d)) || (st = hsi_raster_writer_rows(w, r0, n, d)))
            goto fail;
        for (size_t i = 0; i < n * p.cols * (size_t)p.bands; i++) {
            if (d[i] < lo) lo = d[i];
            if (d[i] > hi) hi = d[i];
        }
    }
    st = hsi_raster_writer_close(w);
    w = NULL;
    if (st) goto fail;
    gt = hsi_simulator_take_labels(sim);
    double seconds = cli_now() - t0;
    if ((st = hsi_labels_write(gt_path, fmt, gt))) {
        /* Both files or neither: take the cube back. A multi-file format
         * (ENVI) may leave its header; remove the usual companions too. */
        rc = cli_fail(name, st);
        unlink(out);
        char side[4096];
        snprintf(side, sizeof side, "%s.aux.xml", out);
        unlink(side);
        const char *dot = strrchr(out, '.');
        if (dot && !strchr(dot, '/')) {
            snprintf(side, sizeof side, "%.*s.hdr", (int)(dot - out), out);
            unlink(side);
        }
        snprintf(side, sizeof side, "%s.hdr", out);
        unlink(side);
        goto done;
    }
    if (quiet && !want_ncm) goto done;

    size_t counts[16 + 1] = {0}; /* the 16 Indian Pines classes */
    hsi_labels_histogram(gt, counts);
    size_t labelled = 0;
    for (int k = 1; k <= gt->n_classes; k++) labelled += counts[k];
    if (!quiet) {
        const hsi_cube *h = hsi_simulator_header(sim);
        printf("%s: %zu x %zu pixels x %zu bands (%.0f-%.0f nm), DN %.0f..%.0f, 20 m, UTM zone 16N; "
               "seed %llu, difficulty %g; generated in %.2f s\n",
               out, p.rows, p.cols, h->bands, h->wavelength[0], h->wavelength[h->bands - 1], lo, hi, (unsigned long long)p.seed, p.difficulty,
               seconds);
        printf("%s: %zu of %zu pixels labelled in %d classes\n", gt_path, labelled,
               gt->rows * gt->cols, gt->n_classes);
        printf("  %2s  %-30s %7s\n", "id", "class", "pixels");
        for (int k = 1; k <= gt->n_classes; k++)
            printf("  %2d  %-30s %7zu\n", k, gt->classes[k].name, counts[k]);
    }
    if (want_ncm) {
        double oa;
        if ((st = hsi_simulate_ncm_accuracy(cube, gt, 0.1, p.seed, &oa))) {
            goto fail;
        }
        printf("nearest-class-mean overall accuracy (10%% of each class for training): %.4f\n", oa);
    }
    goto done;
fail:
    rc = cli_fail(name, st);
done:
    if (w) hsi_raster_writer_abort(w);
    hsi_simulator_free(sim);
    free(block_data);
    hsi_cube_free(cube);
    hsi_labels_free(gt);
    free(gt_path);
    return rc;
}

const hsi_command cmd_simulate = {"simulate", "generate the embedded Indian Pines-style scene and its ground truth",
                                  usage, run};
