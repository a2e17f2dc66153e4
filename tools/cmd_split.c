/* cmd_split.c - `hsi split --truth GT -o PREFIX`: train / test (/ validation) rasters
 * without leakage; `hsi split --check` measures the leakage of any split. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/atomic.h"
#include "datasets/scenes.h"
#include "eval/metrics.h"
#include "eval/split.h"
#include "io/io.h"
#include "tools/cli.h"

static const char usage[] =
    "Usage: hsi split --truth GT -o PREFIX [options]\n"
    "       hsi split --check [--patch S] TRAIN TEST [VAL]\n"
    "\n"
    "Split a ground truth into training and test label rasters (and optionally a\n"
    "validation raster), print the pixels per class on each side and the leakage\n"
    "of the split: how many test pixels lie inside the S x S patch window of some\n"
    "training pixel. Random pixel sampling leaks heavily, so patch classifiers look\n"
    "better than they are (Lange et al., IGARSS 2018); the block and cluster\n"
    "strategies leave a guard band of (S-1)/2 pixels so the leakage is zero.\n"
    "\n"
    "Strategies (--strategy):\n"
    "  random    per class, round(F x n) training pixels (--fraction F) or a fixed\n"
    "            count (--count N), at least --min M; the rest is test\n"
    "  blocks    the scene cut into B x B tiles (--block B), whole tiles to one side\n"
    "            so that each class's training share comes close to F\n"
    "  clusters  each class's pixels grouped into spatial clusters by DBSCAN\n"
    "            (--eps, --min-pts), whole clusters to one side\n"
    "  mask      the training pixels of --mask FILE (e.g. the GRSS DASE mask\n"
    "            indianpines_ts.tif); every other labelled GT pixel is a test pixel\n"
    "In blocks and clusters a test pixel whose S x S window holds a training pixel\n"
    "is left out (counted as 'unused').\n"
    "\n"
    "Options:\n"
    "  --truth GT            the ground truth to split (any GDAL raster or .mat)\n"
    "  -o, --output PREFIX   write PREFIX_train.tif, PREFIX_test.tif, PREFIX_val.tif\n"
    "                        (with --val) and PREFIX_counts.csv\n"
    "  --strategy NAME       random (default), blocks, clusters or mask\n"
    "  --fraction F          training share per class, 0 < F < 1 (default 0.1)\n"
    "  --count N             random: N training pixels per class instead\n"
    "  --min M               random: at least M training pixels per class (default 0)\n"
    "  --small RULE          random: a class with fewer than 2M pixels, or whose\n"
    "                        training share would leave no test pixel, gets\n"
    "                        floor(n/2) training pixels (half, default), is left\n"
    "                        out (skip) or stops the split (error)\n"
    "  --val F               move a share F of each class's training pixels to a\n"
    "                        validation raster (default 0: none)\n"
    "  --patch S             patch window side, odd (default 9): the guard band of\n"
    "                        blocks/clusters and the window of the leakage check\n"
    "  --block B             blocks: tile side in pixels (default max(16, 2 S))\n"
    "  --eps E               clusters: DBSCAN neighbourhood radius in pixels\n"
    "                        (default 2)\n"
    "  --min-pts N           clusters: DBSCAN core-point size, itself included\n"
    "                        (default 4)\n"
    "  --mask FILE           mask: the training mask raster\n"
    "  --class-map MAP       mask: how mask classes map to GT classes: 'auto' (each\n"
    "                        mask class to the GT class most of its pixels carry),\n"
    "                        or pairs MASK=GT such as 1=2,2=3,10=1 (unlisted mask\n"
    "                        classes are dropped); default: same numbers\n"
    "  --seed N              random seed (default 1); the same seed gives the same\n"
    "                        split\n"
    "  --names FILE          class names, one per line (class 1 first)\n"
    "  --scene NAME          name GT's classes after a public scene (indian_pines,\n"
    "                        salinas, pavia_university, ...; see 'hsi datasets')\n"
    "  --var NAME            .mat variable of GT (default: chosen automatically)\n"
    "  --csv FILE            also write the count table as CSV\n"
    "                        (class,name,total,train,val,test,unused); '-' for\n"
    "                        standard output, in place of the text table\n"
    "  --json FILE           the same as JSON ('-': standard output)\n"
    "  --check               only measure: count table and leakage of the TRAIN,\n"
    "                        TEST (and VAL, counted as training) rasters given\n"
    "  -q, --quiet           accepted for uniformity (no progress to silence)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  hsi split --truth gt.tif --fraction 0.1 --seed 3 -o out/random\n"
    "  hsi split --truth gt.tif --strategy blocks --patch 9 -o out/blocks\n"
    "  hsi split --truth Indian_pines_gt.mat --strategy clusters --fraction 0.3 -o out/dbscan\n"
    "  hsi split --truth Indian_pines_gt.mat --strategy mask --mask indianpines_ts.tif \\\n"
    "            --class-map auto -o out/dase\n"
    "  hsi split --check --patch 9 out/random_train.tif out/random_test.tif\n"
    "\n"
    "Exit status: 0 on success, 1 if a file cannot be read or written or the\n"
    "split is impossible (nothing labelled, window larger than the scene, a small\n"
    "class under --small error), 2 on a usage error.\n";

static void print_leakage(size_t leaked, size_t tested, long patch)
{
    printf("Leakage: %zu of %zu test pixels (%.2f %%) lie inside the %ld x %ld window of a "
           "training pixel\n",
           leaked, tested, tested ? 100.0 * (double)leaked / (double)tested : 0.0, patch, patch);
}

/* The count table as JSON, with the leakage. */
static void split_json(FILE *fp, const hsi_split *s, const hsi_class_info *classes, size_t leaked,
                       size_t tested, long patch)
{
    fputs("{\"classes\": [", fp);
    for (int k = 1; k <= s->n_classes; k++) {
        const hsi_split_counts *c = &s->counts[k];
        fprintf(fp, "%s\n  {\"class\": %d, \"name\": ", k > 1 ? "," : "", k);
        cli_json_string(fp, classes[k].name);
        fprintf(fp, ", \"total\": %zu, \"train\": %zu, \"val\": %zu, \"test\": %zu, \"unused\": %zu}",
                c->total, c->train, c->val, c->test, c->unused);
    }
    const hsi_split_counts *t = &s->counts[0];
    fprintf(fp, "],\n \"total\": {\"total\": %zu, \"train\": %zu, \"val\": %zu, \"test\": %zu, "
            "\"unused\": %zu},\n \"leakage\": {\"patch\": %ld, \"leaked\": %zu, \"tested\": %zu}}\n",
            t->total, t->train, t->val, t->test, t->unused, patch, leaked, tested);
}

/* The count table and leakage: text on standard output unless --csv - or
 * --json - puts that table there instead; --csv/--json FILE besides. */
static hsi_status write_tables(const hsi_split *s, const hsi_class_info *classes, const char *csv,
                               const char *json, size_t leaked, size_t tested, long patch)
{
    hsi_status st = HSI_OK;
    if (!cli_is_stdout(csv) && !cli_is_stdout(json)) {
        st = hsi_split_table_write(s, classes, 0, stdout);
        if (!st) print_leakage(leaked, tested, patch);
    }
    const char *paths[2] = {csv, json};
    for (int i = 0; i < 2 && !st; i++) {
        if (!paths[i]) continue;
        cli_output out;
        if ((st = cli_output_open(&out, paths[i]))) break;
        if (i == 0) st = hsi_split_table_write(s, classes, 1, out.fp);
        else split_json(out.fp, s, classes, leaked, tested, patch);
        st = cli_output_close(&out, st);
    }
    return st;
}

static int check_mode(const char *name, int argc, char **argv, long patch, const char *csv,
                      const char *json)
{
    int nfiles = argc - optind;
    if (nfiles < 2 || nfiles > 3)
        return cli_usage_error(name, "--check takes TRAIN TEST [VAL]");
    hsi_labels *lab[3] = {NULL, NULL, NULL};
    hsi_split *s = NULL;
    hsi_status st = HSI_OK;
    for (int i = 0; i < nfiles && !st; i++) st = hsi_labels_read(argv[optind + i], NULL, &lab[i]);
    if (!st) {
        for (int i = 1; i < nfiles && !st; i++)
            if ((st = hsi_labels_check_size(lab[i], lab[0]->rows, lab[0]->cols, argv[optind + i])))
                hsi_error_prefix(st, "does not match %s", argv[optind]);
    }
    size_t leaked = 0, tested = 0;
    if (!st) st = hsi_split_count(lab[0], lab[2], lab[1], &s);
    if (!st) st = hsi_split_leakage(lab[0], lab[2], lab[1], (int)(patch / 2), &leaked, &tested);
    if (!st) {
        /* Names from whichever raster has the larger class table. */
        const hsi_labels *names = lab[0]->n_classes >= lab[1]->n_classes ? lab[0] : lab[1];
        hsi_labels *table = NULL;
        st = hsi_labels_new_like(names, &table);
        if (!st && table->n_classes < s->n_classes) st = hsi_labels_set_class_count(table, s->n_classes);
        if (!st) st = write_tables(s, table->classes, csv, json, leaked, tested, patch);
        hsi_labels_free(table);
    }
    hsi_split_free(s);
    for (int i = 0; i < 3; i++) hsi_labels_free(lab[i]);
    return st ? cli_fail(name, st) : 0;
}

/* Write the rasters and the count table; on failure remove what this run
 * wrote, so a split is either complete or absent. */
static hsi_status write_outputs(const char *prefix, const hsi_split *s, const hsi_labels *truth)
{
    const char *suffix[4] = {"_train.tif", "_test.tif", "_val.tif", "_counts.csv"};
    const hsi_labels *rasters[3] = {s->train, s->test, s->val};
    char *paths[4] = {NULL};
    hsi_status st = HSI_OK;
    int written = 0;
    for (int i = 0; i < 4 && !st; i++) {
        if (asprintf(&paths[i], "%s%s", prefix, suffix[i]) < 0) {
            paths[i] = NULL;
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            break;
        }
        if (i < 3) {
            if (!rasters[i]) continue;
            st = hsi_labels_write(paths[i], HSI_FORMAT_GTIFF, rasters[i]);
        } else {
            hsi_atomic_file f;
            st = hsi_atomic_open(&f, paths[i]);
            if (!st) {
                st = hsi_split_table_write(s, truth->classes, 1, f.fp);
                if (st)
                    hsi_atomic_abort(&f);
                else
                    st = hsi_atomic_commit(&f);
            }
        }
        if (!st) written = i + 1;
    }
    if (st)
        for (int i = 0; i < written; i++) {
            if (!paths[i] || (i < 3 && !rasters[i])) continue;
            unlink(paths[i]);
            /* GDAL keeps category names in a sidecar next to a GeoTIFF. */
            char aux[4200];
            snprintf(aux, sizeof aux, "%s.aux.xml", paths[i]);
            unlink(aux);
        }
    for (int i = 0; i < 4; i++) free(paths[i]);
    return st;
}

static int run(int argc, char **argv)
{
    const char *name = "split";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"strategy", required_argument, NULL, 's'},
        {"fraction", required_argument, NULL, 'f'}, {"count", required_argument, NULL, 'c'},
        {"min", required_argument, NULL, 'm'},      {"small", required_argument, NULL, 'S'},
        {"val", required_argument, NULL, 'V'},      {"patch", required_argument, NULL, 'p'},
        {"block", required_argument, NULL, 'b'},    {"eps", required_argument, NULL, 'e'},
        {"min-pts", required_argument, NULL, 'P'},  {"mask", required_argument, NULL, 'M'},
        {"class-map", required_argument, NULL, 'C'}, {"seed", required_argument, NULL, 'r'},
        {"names", required_argument, NULL, 'n'},    {"var", required_argument, NULL, 'v'},
        {"scene", required_argument, NULL, 'Z'},   {"truth", required_argument, NULL, 'G'},
        {"csv", required_argument, NULL, 'x'},     {"json", required_argument, NULL, 'j'},            {"check", no_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    hsi_split_options o;
    hsi_split_options_init(&o);
    const char *gt_path = NULL, *prefix = NULL, *mask_path = NULL, *class_map = NULL, *names = NULL, *var = NULL;
    const hsi_scene *scene = NULL;
    long patch = 9, lv;
    const char *csv = NULL, *json = NULL;
    int check = 0, c;
    double dv;
    uint64_t uv;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'G': gt_path = optarg; break;
        case 's':
            if (hsi_split_strategy_parse(optarg, &o.strategy))
                return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'f':
            if (cli_parse_double(name, "--fraction", optarg, 1e-9, 1 - 1e-9, &o.train_fraction)) return 2;
            break;
        case 'c':
            if (cli_parse_long(name, "--count", optarg, 1, 100000000, &lv)) return 2;
            o.train_count = (size_t)lv;
            break;
        case 'm':
            if (cli_parse_long(name, "--min", optarg, 0, 100000000, &lv)) return 2;
            o.min_per_class = (size_t)lv;
            break;
        case 'S':
            if (hsi_small_rule_parse(optarg, &o.small)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'V':
            if (cli_parse_double(name, "--val", optarg, 0, 0.99, &o.val_fraction)) return 2;
            break;
        case 'p':
            if (cli_parse_long(name, "--patch", optarg, 1, 1001, &patch)) return 2;
            if (patch % 2 == 0) return cli_usage_error(name, "--patch: window side %ld is not odd", patch);
            break;
        case 'b':
            if (cli_parse_long(name, "--block", optarg, 1, 1000000, &lv)) return 2;
            o.block_size = (size_t)lv;
            break;
        case 'e':
            if (cli_parse_double(name, "--eps", optarg, 1, 64, &dv)) return 2;
            o.eps = dv;
            break;
        case 'P':
            if (cli_parse_long(name, "--min-pts", optarg, 1, 10000, &lv)) return 2;
            o.min_pts = (size_t)lv;
            break;
        case 'M': mask_path = optarg; break;
        case 'C': class_map = optarg; break;
        case 'r':
            if (cli_parse_u64(name, "--seed", optarg, &uv)) return 2;
            o.seed = uv;
            break;
        case 'n': names = optarg; break;
        case 'v': var = optarg; break;
        case 'Z':
            if (hsi_scene_lookup(optarg, &scene)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'x': csv = optarg; break;
        case 'j': json = optarg; break;
        case 'k': check = 1; break;
        case 'q': break; /* no progress to silence: the output is the result */
        case 'h': return cli_print_usage(&cmd_split);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    o.radius = (int)(patch / 2);
    if (check) return check_mode(name, argc, argv, patch, csv, json);
    /* GT as a positional argument is the old spelling, kept as a hidden alias. */
    if (!gt_path && optind == argc - 1) gt_path = argv[optind++];
    if (optind != argc) return cli_usage_error(name, "unexpected argument '%s'", argv[optind]);
    if (!gt_path) return cli_usage_error(name, "no ground truth (--truth GT)");
    if (!prefix) return cli_usage_error(name, "no output prefix (-o PREFIX)");
    if (o.strategy == HSI_SPLIT_MASK && !mask_path)
        return cli_usage_error(name, "the mask strategy needs --mask FILE");
    if (o.strategy != HSI_SPLIT_MASK && (mask_path || class_map))
        return cli_usage_error(name, "--mask and --class-map apply to --strategy mask");
    if (o.train_count && o.strategy != HSI_SPLIT_RANDOM)
        return cli_usage_error(name, "--count applies to --strategy random");

    hsi_labels *truth = NULL, *mask = NULL;
    hsi_split *s = NULL;
    int *map = NULL, map_n = 0;
    hsi_status st = hsi_labels_read(gt_path, var, &truth);
    if (!st && scene) st = hsi_scene_apply_classes(scene, truth);
    if (!st && names) st = hsi_class_names_read(names, truth);
    if (!st && mask_path) {
        st = hsi_labels_read(mask_path, NULL, &mask);
        if (!st && class_map) {
            if (!strcmp(class_map, "auto"))
                st = hsi_mask_map_auto(mask, truth, &map, &map_n);
            else if (hsi_mask_map_parse(class_map, &map, &map_n)) {
                hsi_labels_free(truth);
                hsi_labels_free(mask);
                return cli_usage_error(name, "--class-map: %s", hsi_last_error());
            }
        }
        o.mask = mask;
        o.mask_name = mask_path;
        o.mask_map = map;
        o.mask_map_n = map_n;
    }
    if (!st) st = hsi_split_make(truth, gt_path, &o, &s);
    size_t leaked = 0, tested = 0;
    if (!st) st = hsi_split_leakage(s->train, s->val, s->test, o.radius, &leaked, &tested);
    if (!st) st = write_outputs(prefix, s, truth);
    int table_on_stdout = cli_is_stdout(csv) || cli_is_stdout(json);
    if (!st && !table_on_stdout) {
        static const char *strategy_names[] = {"random", "blocks", "clusters", "mask"};
        printf("Split of %s (%s, seed %llu): wrote %s_train.tif %s_test.tif ", gt_path,
               strategy_names[o.strategy], (unsigned long long)o.seed, prefix, prefix);
        if (s->val) printf("%s_val.tif ", prefix);
        printf("%s_counts.csv\n", prefix);
        if (map) {
            printf("Mask classes -> %s classes:", gt_path);
            for (int k = 1; k < map_n; k++)
                if (map[k]) printf(" %d=%d", k, map[k]);
            printf("\n");
        }
        if (o.strategy == HSI_SPLIT_MASK)
            printf("%zu of %zu training pixels carry another class than %s there (%zu of them "
                   "unlabelled in it)%s\n",
                   s->mask_disagree, s->counts[0].train, gt_path, s->mask_unlabelled,
                   2 * s->mask_disagree > s->counts[0].train
                       ? " (most of them: is --class-map needed?)"
                       : "");
    }
    if (!st) st = write_tables(s, s->train->classes, csv, json, leaked, tested, patch);
    hsi_split_free(s);
    hsi_labels_free(truth);
    hsi_labels_free(mask);
    free(map);
    return st ? cli_fail(name, st) : 0;
}

const hsi_command cmd_split = {"split", "train/test split without leakage; leakage check", usage,
                               run};
