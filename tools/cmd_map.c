/* cmd_map.c - `hsi map class|correct|rgb`: pictures of class rasters,
 * correctness and false-colour composites, as PNG or GeoTIFF. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "base/memory.h"
#include "datasets/scenes.h"
#include "eval/false_colour_file.h"
#include "eval/maps.h"
#include "eval/metrics.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi map class LABELS -o OUT [options]\n"
    "       hsi map correct --truth GT --pred PRED [--train TRAIN] -o OUT [options]\n"
    "       hsi map rgb CUBE -o OUT [options]\n"
    "\n"
    "Draw a map. OUT ending in .png gives an image for looking at; .tif gives a\n"
    "GeoTIFF with the scene's georeferencing for GIS. Outputs appear only when\n"
    "complete.\n"
    "\n"
    "  class    every pixel in its class's colour from the raster's class table\n"
    "           (the scene's palette); the legend (id, colour, name, pixels) is\n"
    "           printed, or written with --legend. A .tif class map is a label\n"
    "           raster with a colour table and category names (QGIS shows the\n"
    "           legend), on the scene's own pixel grid.\n"
    "  correct  correctly classified pixels blue (0,0,255), misclassified red\n"
    "           (255,0,0), unlabelled dark grey (64,64,64); training pixels of\n"
    "           --train are not scored and drawn dark grey, or white with\n"
    "           --mark-train. Unclassified pixels (0) are drawn as errors.\n"
    "  rgb      false-colour composite of three bands picked by wavelength\n"
    "           (default 850/650/550 nm: near infrared as red, so vegetation is\n"
    "           red), each stretched between two percentiles; --overlay blends\n"
    "           class colours over labelled pixels.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT   output file (.png or .tif); required\n"
    "  --format FMT       PNG or GTiff, overriding the extension\n"
    "  --scale K          enlarge every pixel to K x K (1..64; default 1; PNG and\n"
    "                     RGB GeoTIFFs; the GeoTIFF pixel size shrinks to match)\n"
    "  --names FILE       class names, one per line (class 1 first), for the\n"
    "                     class table of LABELS / GT / --overlay\n"
    "  --scene NAME       class names and colours of a public scene (indian_pines,\n"
    "                     salinas, ...; see 'hsi datasets') for LABELS / --overlay\n"
    "  --legend FILE      class: write the legend to FILE instead of stdout: an\n"
    "                     image for .png (scaled like the map), else text\n"
    "  --truth GT         correct: the ground truth\n"
    "  --pred PRED        correct: the predicted class raster\n"
    "  --train TRAIN      correct: the training raster (its pixels are not scored)\n"
    "  --mark-train       correct: draw training pixels white\n"
    "  --nm R,G,B         rgb: wavelengths in nm (default 850,650,550)\n"
    "  --bands R,G,B      rgb: 1-based band numbers instead of wavelengths\n"
    "  --stretch LO,HI    rgb: percentiles mapped to black and white (default 2,98)\n"
    "  --overlay LABELS   rgb: blend these class colours over labelled pixels\n"
    "  --alpha A          rgb: weight of the overlay colour, 0..1 (default 0.5)\n"
    "  --band-table SPC   rgb: wavelengths for a cube without them (e.g. a .mat)\n"
    "  --memory SIZE      rgb: memory budget, e.g. 512M, 2G (default: half the\n"
    "                     physical memory); the cube is read in row blocks that\n"
    "                     fit it (three passes), the image written block by block\n"
    "                     (a PNG is assembled whole: use .tif for huge scenes)\n"
    "  --var NAME         .mat variable of LABELS, GT or CUBE\n"
    "  -q, --quiet        no summary line (the legend table is still printed)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Examples:\n"
    "  hsi map class pred.tif -o pred.png --scale 4 --legend pred_legend.png\n"
    "  hsi map class Indian_pines_gt.mat --scene indian_pines -o gt.tif\n"
    "  hsi map correct --truth gt.tif --pred pred.tif --train split_train.tif \\\n"
    "          --mark-train -o correct.png --scale 4\n"
    "  hsi map rgb scene.tif --overlay gt.tif --alpha 0.4 -o scene.png --scale 4\n"
    "  hsi map rgb Indian_pines_corrected.mat --band-table 92AV3C.spc \\\n"
    "          --bands 50,27,17 -o ip.png\n"
    "\n"
    "Exit status: 0 on success, 1 if a file cannot be read or written or the\n"
    "rasters do not fit together, 2 on a usage error.\n";

static hsi_status write_rgb(const char *path, hsi_raster_format fmt, const hsi_rgb_image *img,
                            int scale, const hsi_georef *geo)
{
    hsi_rgb_image *big = NULL;
    hsi_georef g = {0};
    hsi_status st = hsi_rgb_scale(img, scale, &big);
    if (!st) st = hsi_georef_scale(geo, scale, &g);
    if (!st) st = hsi_rgb_write(path, fmt, big->data, big->rows, big->cols, &g);
    hsi_georef_clear(&g);
    hsi_rgb_image_free(big);
    return st;
}

static int run(int argc, char **argv)
{
    const char *name = "map";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"format", required_argument, NULL, 'f'},
        {"scale", required_argument, NULL, 's'},  {"names", required_argument, NULL, 'n'},
        {"legend", required_argument, NULL, 'l'}, {"truth", required_argument, NULL, 't'},
        {"pred", required_argument, NULL, 'p'},   {"train", required_argument, NULL, 'T'},
        {"mark-train", no_argument, NULL, 'm'},   {"nm", required_argument, NULL, 'w'},
        {"bands", required_argument, NULL, 'b'},  {"stretch", required_argument, NULL, 'S'},
        {"overlay", required_argument, NULL, 'O'}, {"alpha", required_argument, NULL, 'a'},
        {"band-table", required_argument, NULL, 'B'}, {"var", required_argument, NULL, 'v'},
        {"scene", required_argument, NULL, 'Z'}, {"memory", required_argument, NULL, 'M'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return cli_print_usage(&cmd_map);
    if (argc < 2) return cli_usage_error(name, "give a map kind: class, correct or rgb");
    const char *kind = argv[1];
    if (strcmp(kind, "class") && strcmp(kind, "correct") && strcmp(kind, "rgb"))
        return cli_usage_error(name, "unknown map kind '%s' (class, correct, rgb)", kind);
    const char *out = NULL, *names = NULL, *legend = NULL, *truth_path = NULL, *pred_path = NULL;
    const char *train_path = NULL, *overlay_path = NULL, *band_table = NULL, *var = NULL;
    hsi_raster_format fmt = HSI_FORMAT_AUTO;
    const hsi_scene *scene = NULL;
    long scale = 1;
    int mark_train = 0, scale_given = 0, quiet = 0, c, n;
    hsi_false_colour_options fo;
    hsi_false_colour_options_init(&fo);
    size_t budget = hsi_memory_default();
    double list[3];
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f':
            if (hsi_format_parse(optarg, &fmt)) return cli_usage_error(name, "%s", hsi_last_error());
            if (fmt == HSI_FORMAT_ENVI) return cli_usage_error(name, "--format: maps are PNG or GTiff");
            break;
        case 's':
            if (cli_parse_long(name, "--scale", optarg, 1, 64, &scale)) return 2;
            scale_given = 1;
            break;
        case 'n': names = optarg; break;
        case 'l': legend = optarg; break;
        case 't': truth_path = optarg; break;
        case 'p': pred_path = optarg; break;
        case 'T': train_path = optarg; break;
        case 'm': mark_train = 1; break;
        case 'w':
            if (cli_parse_double_list(name, "--nm", optarg, list, 3, &n)) return 2;
            if (n != 3) return cli_usage_error(name, "--nm: give three wavelengths R,G,B");
            memcpy(fo.nm, list, sizeof list);
            break;
        case 'b':
            if (cli_parse_double_list(name, "--bands", optarg, list, 3, &n)) return 2;
            if (n != 3) return cli_usage_error(name, "--bands: give three band numbers R,G,B");
            for (int i = 0; i < 3; i++) {
                if (list[i] < 1 || list[i] != (double)(long)list[i])
                    return cli_usage_error(name, "--bands: '%s' is not three band numbers from 1",
                                           optarg);
                fo.band[i] = (long)list[i] - 1;
            }
            break;
        case 'S':
            if (cli_parse_double_list(name, "--stretch", optarg, list, 2, &n)) return 2;
            if (n != 2 || !(list[0] >= 0 && list[0] < list[1] && list[1] <= 100))
                return cli_usage_error(name, "--stretch: give LO,HI with 0 <= LO < HI <= 100");
            fo.low_pct = list[0];
            fo.high_pct = list[1];
            break;
        case 'O': overlay_path = optarg; break;
        case 'a':
            if (cli_parse_double(name, "--alpha", optarg, 0, 1, &fo.overlay_alpha)) return 2;
            break;
        case 'B': band_table = optarg; break;
        case 'Z':
            if (hsi_scene_lookup(optarg, &scene)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'v': var = optarg; break;
        case 'M':
            if (cli_parse_memory(name, optarg, &budget)) return 2;
            break;
        case 'q': quiet = 1; break;
        case 'h': return cli_print_usage(&cmd_map);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (!out) return cli_usage_error(name, "no output file (-o OUT)");
    if (fmt == HSI_FORMAT_AUTO) {
        if (hsi_path_has_ext(out, ".png"))
            fmt = HSI_FORMAT_PNG;
        else if (hsi_path_has_ext(out, ".tif") || hsi_path_has_ext(out, ".tiff"))
            fmt = HSI_FORMAT_GTIFF;
        else
            return cli_usage_error(name, "%s: name a .png or .tif output (or give --format)", out);
    }
    int is_class = !strcmp(kind, "class"), is_correct = !strcmp(kind, "correct");
    int positional = is_correct ? 0 : 1;
    if (argc - optind != positional)
        return cli_usage_error(name, is_correct ? "map correct takes no file arguments (use --truth, --pred)"
                                                : "map %s takes exactly one input file", kind);
    if (is_correct && (!truth_path || !pred_path))
        return cli_usage_error(name, "map correct needs --truth GT and --pred PRED");
    if (!is_correct && (truth_path || pred_path || train_path || mark_train))
        return cli_usage_error(name, "--truth, --pred, --train and --mark-train apply to map correct");
    if (!is_class && legend) return cli_usage_error(name, "--legend applies to map class");
    if (strcmp(kind, "rgb") && (overlay_path || band_table))
        return cli_usage_error(name, "--overlay and --band-table apply to map rgb");
    if (strcmp(kind, "rgb") && budget != hsi_memory_default())
        return cli_usage_error(name, "--memory applies to map rgb");
    if (is_class && fmt == HSI_FORMAT_GTIFF && scale_given && scale != 1)
        return cli_usage_error(name, "a class map GeoTIFF keeps the scene's pixel grid; --scale "
                                     "applies to PNG and RGB GeoTIFFs");

    hsi_status st = HSI_OK;
    hsi_rgb_image *img = NULL;
    if (is_class) {
        const char *path = argv[optind];
        hsi_labels *lab = NULL;
        st = hsi_labels_read(path, var, &lab);
        if (!st && scene) st = hsi_scene_apply_classes(scene, lab);
        if (!st && names) st = hsi_class_names_read(names, lab);
        if (!st) st = hsi_map_class(lab, path, &img);
        if (!st) {
            if (fmt == HSI_FORMAT_GTIFF)
                st = hsi_labels_write(out, fmt, lab);
            else
                st = write_rgb(out, fmt, img, (int)scale, &lab->geo);
        }
        if (!st) {
            size_t *counts = calloc((size_t)lab->n_classes + 1, sizeof *counts);
            if (!counts) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            else hsi_labels_histogram(lab, counts);
            if (!st && legend && (hsi_path_has_ext(legend, ".png") ||
                                  hsi_path_has_ext(legend, ".tif"))) {
                hsi_rgb_image *key = NULL;
                st = hsi_map_legend_image(lab, counts, 0, &key);
                if (!st)
                    st = write_rgb(legend, hsi_path_has_ext(legend, ".png") ? HSI_FORMAT_PNG
                                                                           : HSI_FORMAT_GTIFF,
                                   key, fmt == HSI_FORMAT_PNG ? (int)scale : 1,
                                   &(hsi_georef){0});
                hsi_rgb_image_free(key);
                if (!st && !quiet) printf("%s: legend of %s\n", legend, path);
            } else if (!st && legend) {
                hsi_atomic_file f;
                st = hsi_atomic_open(&f, legend);
                if (!st) {
                    st = hsi_map_legend_write(lab, counts, f.fp);
                    if (st) hsi_atomic_abort(&f);
                    else st = hsi_atomic_commit(&f);
                }
            } else if (!st) {
                if (!quiet)
                    printf("%s: %zu x %zu class map of %s\n", out, lab->rows * (fmt == HSI_FORMAT_PNG ? scale : 1),
                       lab->cols * (fmt == HSI_FORMAT_PNG ? scale : 1), path);
                st = hsi_map_legend_write(lab, counts, stdout);
            }
            free(counts);
        }
        hsi_labels_free(lab);
    } else if (is_correct) {
        hsi_labels *truth = NULL, *pred = NULL, *train = NULL;
        st = hsi_labels_read(truth_path, var, &truth);
        if (!st) st = hsi_labels_read(pred_path, NULL, &pred);
        if (!st && train_path) st = hsi_labels_read(train_path, NULL, &train);
        if (!st) st = hsi_map_correct(truth, pred, pred_path, train, train_path, mark_train, &img);
        if (!st) st = write_rgb(out, fmt, img, (int)scale, &truth->geo);
        if (!st && !quiet) {
            size_t right = 0, wrong = 0;
            for (size_t i = 0; i < img->rows * img->cols; i++) {
                const uint8_t *p = img->data + 3 * i;
                right += p[0] == 0 && p[1] == 0 && p[2] == 255;
                wrong += p[0] == 255 && p[1] == 0 && p[2] == 0;
            }
            printf("%s: %zu correct (blue), %zu wrong (red) of %zu scored pixels\n", out, right,
                   wrong, right + wrong);
        }
        hsi_labels_free(truth);
        hsi_labels_free(pred);
        hsi_labels_free(train);
    } else {
        const char *path = argv[optind];
        hsi_read_options ro = {0};
        ro.var = var;
        ro.band_table = band_table;
        hsi_labels *overlay = NULL;
        long used[3];
        double nm[3];
        if (overlay_path) {
            st = hsi_labels_read(overlay_path, NULL, &overlay);
            if (!st && scene) st = hsi_scene_apply_classes(scene, overlay);
            if (!st && names) st = hsi_class_names_read(names, overlay);
            fo.overlay = overlay;
        }
        /* Read and written in row blocks within the budget (eval/false_colour_file.h). */
        if (!st) st = hsi_map_false_colour_file(path, &ro, &fo, budget, out, fmt, (int)scale, used, nm);
        if (!st && !quiet) {
            printf("%s: false colour of %s from bands", out, path);
            for (int i = 0; i < 3; i++) {
                printf(" %ld", used[i] + 1);
                if (isfinite(nm[i])) printf(" (%.1f nm)", nm[i]);
                printf(i < 2 ? "," : "\n");
            }
        }
        hsi_labels_free(overlay);
    }
    hsi_rgb_image_free(img);
    return st ? cli_fail(name, st) : 0;
}

const hsi_command cmd_map = {"map", "class, correct/incorrect and false-colour maps (PNG, GeoTIFF)",
                             usage, run};
