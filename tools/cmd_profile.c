/* cmd_profile.c - `hsi profile IN -o OUT`: attribute-profile feature cubes
 * (AP, SDAP, EAP/EMAP) of a scene or of its first principal components. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/mpi.h"
#include "base/rng.h"
#include "features/preprocess.h"
#include "features/preprocess_stream.h"
#include "features/profile.h"
#include "io/io.h"
#include "tools/cli.h"

#define MAX_SPECS 32

static const char usage[] =
    "Usage: hsi profile IN -o OUT [--pca K] (--ap|--emap|--sdap ATTR=T1,T2,...)... [options]\n"
    "\n"
    "Compute attribute profiles of a cube and write them as a feature cube that\n"
    "'hsi svm' and 'hsi cnn' take like any other cube. Each input band (or each of\n"
    "the first K principal components with --pca K) is filtered through its\n"
    "component trees with every threshold of every profile:\n"
    "\n"
    "  --ap ATTR=T1,...    attribute profile: thickenings (min-tree) for the\n"
    "                      thresholds from largest to smallest, then thinnings\n"
    "                      (max-tree) from smallest to largest; 2 bands a threshold\n"
    "  --emap ATTR=T1,...  the same as --ap; --ap/--emap for several attributes on\n"
    "                      several components stack into the extended multi-\n"
    "                      attribute profile (EMAP)\n"
    "  --sdap ATTR=T1,...  self-dual attribute profile: filters of the tree of\n"
    "                      shapes; 1 band a threshold\n"
    "\n"
    "ATTR is area (pixels), diagonal (bounding-box diagonal, pixels), inertia\n"
    "(normalised moment of inertia, 0 for one pixel, about 0.16 for a disc) or std\n"
    "(standard deviation of the region's values, in the units of the band: pick\n"
    "thresholds as a share of the band's own spread (gdalinfo -stats shows it);\n"
    "the principal components of a 10000-scaled AVIRIS scene have\n"
    "standard deviations of about 1000 to 4000, so std=250,500,1000 there, while\n"
    "a reflectance band in 0..1 needs thresholds near 0.01). A region is\n"
    "kept when its attribute is >= the threshold. Options may be repeated; at\n"
    "most 32 profiles, 32 thresholds each. Output bands, per input band: the band\n"
    "itself, then the profiles in the order given, named e.g. \"PC1\",\n"
    "\"PC1 area>=100 thick\", \"PC1 area>=100 thin\", \"PC1 std>=500 sdap\".\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT     output cube (.tif GeoTIFF, anything else ENVI; see --format)\n"
    "  --format FMT         GTiff or ENVI, overriding the extension\n"
    "  --bands LIST         read only these 1-based input bands (e.g. 1-103,109-149)\n"
    "  --var NAME           .mat variable to read (default: chosen automatically)\n"
    "  --pca K              profile the first K principal components (fitted on all\n"
    "                       pixels, or a sample; see --pca-sample) instead of the bands\n"
    "  --pca-sample N       fit the PCA on N random pixels (default 0: all pixels)\n"
    "  --seed S             seed of the PCA sample (default 1)\n"
    "  --rule RULE          filtering rule: direct (default), min, max, subtractive\n"
    "  --connectivity C     4 (default) or 8, for the max/min-trees of --ap\n"
    "                       (the tree of shapes is self-dual and needs none)\n"
    "  --quantise BITS      0 (default: exact float levels), 8 or 16: build the trees\n"
    "                       on levels quantised over each band's range\n"
    "  --no-input           leave the input bands (components) out of the output\n"
    CLI_MEMORY_HELP
    "  --block-rows N       at most N rows a block (default: as many as --memory allows)\n"
    "  -q, --quiet          no progress display\n"
    "  -h, --help           show this help\n"
    "\n"
    "Memory and MPI ranks. The scene is never held whole: it is read in blocks of\n"
    "rows, and a block holds its input rows (twice: as read and converted), their\n"
    "principal components, its output rows, and one band's tree work per thread\n"
    "(320 bytes a pixel; a block's bands are filtered in parallel by\n"
    "OMP_NUM_THREADS threads). A block gets 7/8 of --memory (an eighth goes to\n"
    "GDAL's cache), or 5/8 when the scene is split, that is about\n"
    "  (5/8 M) / (cols x (8 bands + 4 PCs + 4 output bands + 320 threads))\n"
    "rows (fewer at exact float levels, below). Under mpirun the rows are split over\n"
    "the ranks first; rank 0 writes the output as the blocks arrive. When the scene\n"
    "fits one block on one rank every tree is built whole. Otherwise each block's\n"
    "max- and min-trees are built alone and merged across the block boundaries\n"
    "(Wilkinson et al., IEEE PAMI 2008; Goetz et al., IEEE TPDS 2018), and the\n"
    "profile is the same, value for value, on any number of blocks and ranks: every\n"
    "attribute merges exactly (integer sums; std from exact fixed-point sums). The\n"
    "merge needs the boundary trees (a block's nodes that touch its first or last\n"
    "row; a node keeps only what the attributes asked for need: 28 bytes for area\n"
    "alone, 92 for area, diagonal and inertia, 220 with std, and with --rule max 8\n"
    "more for inertia and for std) and its own work (59 bytes a node for area with\n"
    "two thresholds), and the blocks then need every band's merged result (9 bytes\n"
    "a node and threshold): all count in --memory. At exact float levels a noisy\n"
    "band's boundary trees approach a node per pixel of the band (long chains of\n"
    "ancestors), and the blocks are made smaller to leave the trees that room while a\n"
    "row still fits; --quantise 16, and far more 8, makes them small. They are built\n"
    "for as many bands at once as fit beside a block, one more pass over the blocks a\n"
    "group of bands; the blocks' values (K a pixel) are kept between the passes when\n"
    "they fit in half the room a block leaves, so the scene is read once. When one\n"
    "band's trees do not fit, the run stops after measuring them, naming a --memory\n"
    "that holds them. Trees of shapes (--sdap) cannot be merged exactly: with more\n"
    "than one block they are refused, naming the --memory that gives one block. --pca\n"
    "is fitted in one more pass over the row blocks (covariance accumulated in double\n"
    "precision); its last bits depend on those blocks, so compare profiles of\n"
    "components made with the same --memory.\n"
    "\n"
    "Examples:\n"
    "  hsi profile scene.tif --pca 4 --sdap area=100,500,1000,5000 --sdap std=250,500,1000 \\\n"
    "      -o features.tif\n"
    "  hsi profile scene.tif --pca 3 --emap area=100,1000 --emap inertia=0.2,0.3,0.4 \\\n"
    "      -o emap.tif\n"
    "  hsi profile pan.tif --ap diagonal=10,25,50 --rule subtractive -o ap.dat\n"
    "\n"
    "Exit status: 0 on success, 1 on a read, data or write error, 2 on a usage error.\n";

extern const hsi_command cmd_profile;

/* The PCA of the scene, fitted in a pass over its row blocks on the pixels
 * of a seeded random sample (Floyd's algorithm: `sample` of the n pixels,
 * marked in a mask, no n-long index array) or on all of them. */
static hsi_status fit_pca(const char *path, const hsi_read_options *ro, size_t k, uint64_t sample,
                          uint64_t seed, size_t budget, int quiet, hsi_preprocess **pca)
{
    hsi_file_info info;
    hsi_status st = hsi_file_probe(path, ro->var, &info);
    if (st) return st;
    size_t bands = info.bands;
    if (ro->bands) {
        size_t *sel = NULL, n_sel = 0;
        if ((st = hsi_band_list_parse(ro->bands, info.bands, &sel, &n_sel))) return st;
        free(sel);
        bands = n_sel;
    }
    if (k > bands)
        return hsi_error(HSI_ERR_ARG, "--pca %zu asks for more components than its %zu bands",
                         k, bands);
    size_t npix = info.rows * info.cols;
    uint16_t *mask = NULL;
    if (sample && sample < npix) {
        mask = calloc(npix, sizeof *mask);
        if (!mask) return hsi_error(HSI_ERR_NOMEM, "out of memory for the PCA sample");
        hsi_rng rng;
        hsi_rng_seed(&rng, seed);
        for (size_t j = npix - sample; j < npix; j++) {
            size_t t = (size_t)hsi_rng_below(&rng, (uint64_t)j + 1);
            mask[mask[t] ? j : t] = 1;
        }
    }
    st = hsi_preprocess_fit_file(HSI_PREPROCESS_PCA, path, ro, mask, k, 0, budget, pca);
    free(mask);
    if (!st && !quiet) {
        double kept = 0;
        for (size_t j = 0; j < (*pca)->out_dim; j++) kept += (*pca)->explained[j];
        fprintf(stderr, "hsi profile: %zu principal components keep %.2f%% of the variance\n", k,
                100 * kept);
    }
    return st;
}

static hsi_status profile(const char *in_path, const hsi_read_options *ro,
                          const hsi_profile_spec *specs, size_t n_specs,
                          const hsi_profile_options *popts, size_t pca_k, uint64_t pca_sample,
                          uint64_t seed, size_t budget, size_t block_rows, const char *out_path,
                          hsi_raster_format fmt, int quiet, int rank)
{
    const char *name = "profile";
    hsi_preprocess *pca = NULL;
    hsi_status st = HSI_OK;
    if (pca_k) st = fit_pca(in_path, ro, pca_k, pca_sample, seed, budget, quiet, &pca);
    st = hsi_mpi_agree(st);
    if (st) {
        if (rank == 0) cli_fail(name, hsi_error_prefix(st, "%s", in_path));
        hsi_preprocess_free(pca);
        return st;
    }
    cli_progress bar;
    cli_progress_init(&bar, "hsi profile: blocks", quiet);
    hsi_progress cb = cli_progress_callback(&bar);
    hsi_profile_file_options fo = {.budget = budget, .block_rows = block_rows, .pca = pca,
                                   .progress = &cb};
    hsi_profile_file_report rep;
    double t0 = cli_now();
    st = hsi_profile_file(in_path, ro, specs, n_specs, popts, &fo, out_path, fmt, &rep);
    cli_progress_finish(&bar);
    hsi_preprocess_free(pca);
    if (st) {
        /* the reader's messages name the file already */
        if (strncmp(hsi_last_error(), in_path, strlen(in_path)) &&
            !strstr(hsi_last_error(), "failed: ")) st = hsi_error_prefix(st, "%s", in_path);
        if (rank == 0) cli_fail(name, st);
        return st;
    }
    if (rank == 0) {
        printf("%s: %zu x %zu x %zu (%zu input bands x %zu features) in %.2f s; %zu block%s of "
               "up to %zu rows on %zu rank%s",
               out_path, rep.rows, rep.cols, rep.out_bands, rep.in_bands,
               rep.out_bands / rep.in_bands, cli_now() - t0, rep.blocks, rep.blocks == 1 ? "" : "s",
               rep.block_rows, rep.ranks, rep.ranks == 1 ? "" : "s");
        if (rep.blocks > 1) {
            char mem[32];
            hsi_memory_format(rep.merged_bytes, mem, sizeof mem);
            printf(", %zu boundary-tree nodes merged (%s) in %zu pass%s", rep.boundary_nodes, mem,
                   rep.band_groups, rep.band_groups == 1 ? "" : "es");
        }
        printf("\n");
    }
    return HSI_OK;
}

static int run(int argc, char **argv)
{
    const char *name = "profile";
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"format", required_argument, NULL, 'f'},
        {"bands", required_argument, NULL, 'b'},    {"var", required_argument, NULL, 'v'},
        {"pca", required_argument, NULL, 'P'},      {"pca-sample", required_argument, NULL, 'S'},
        {"seed", required_argument, NULL, 's'},     {"rule", required_argument, NULL, 'r'},
        {"connectivity", required_argument, NULL, 'c'},
        {"quantise", required_argument, NULL, 'Q'}, {"quantize", required_argument, NULL, 'Q'},
        {"ap", required_argument, NULL, 'A'},       {"emap", required_argument, NULL, 'A'},
        {"sdap", required_argument, NULL, 'D'},     {"no-input", no_argument, NULL, 'n'},
        {"memory", required_argument, NULL, 'M'},   {"block-rows", required_argument, NULL, 'B'},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    hsi_read_options ropts = {0};
    hsi_profile_options popts = {0};
    hsi_profile_spec specs[MAX_SPECS];
    size_t n_specs = 0;
    const char *out_path = NULL;
    hsi_raster_format fmt = HSI_FORMAT_AUTO;
    long pca_k = 0, conn = 4, bits = 0, block_rows = 0;
    size_t budget = hsi_memory_default();
    uint64_t pca_sample = 0, seed = 1;
    int quiet = 0, c;
    hsi_status st;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:qh"), longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'f':
            if (hsi_format_parse(optarg, &fmt)) return cli_usage_error(name, "%s", hsi_last_error());
            break;
        case 'b':
            if (cli_check_bands(name, "--bands", optarg)) return 2;
            ropts.bands = optarg;
            break;
        case 'v': ropts.var = optarg; break;
        case 'P':
            if (cli_parse_long(name, "--pca", optarg, 1, 1000, &pca_k)) return 2;
            break;
        case 'S':
            if (cli_parse_u64(name, "--pca-sample", optarg, &pca_sample)) return 2;
            break;
        case 's':
            if (cli_parse_u64(name, "--seed", optarg, &seed)) return 2;
            break;
        case 'r':
            if (hsi_filter_rule_parse(optarg, &popts.rule))
                return cli_usage_error(name, "--rule: %s", hsi_last_error());
            break;
        case 'c':
            if (cli_parse_long(name, "--connectivity", optarg, 4, 8, &conn)) return 2;
            if (conn != 4 && conn != 8)
                return cli_usage_error(name, "--connectivity: '%s' is not 4 or 8", optarg);
            break;
        case 'Q':
            if (cli_parse_long(name, "--quantise", optarg, 0, 16, &bits)) return 2;
            if (bits != 0 && bits != 8 && bits != 16)
                return cli_usage_error(name, "--quantise: '%s' is not 0, 8 or 16", optarg);
            break;
        case 'A':
        case 'D':
            if (n_specs == MAX_SPECS)
                return cli_usage_error(name, "more than %d profiles", MAX_SPECS);
            if (hsi_profile_spec_parse(c == 'A' ? HSI_PROFILE_AP : HSI_PROFILE_SDAP, optarg,
                                       &specs[n_specs]))
                return cli_usage_error(name, "%s", hsi_last_error());
            n_specs++;
            break;
        case 'n': popts.omit_input = 1; break;
        case 'M':
            if (cli_parse_memory(name, optarg, &budget)) return 2;
            break;
        case 'B':
            if (cli_parse_long(name, "--block-rows", optarg, 1, 1L << 30, &block_rows)) return 2;
            break;
        case 'q': quiet = 1; break;
        case 'h': return cli_print_usage(&cmd_profile);
        case ':':
        default: return cli_getopt_error(name, NULL, c, argv);
        }
    }
    if (optind != argc - 1) return cli_usage_error(name, "give exactly one input file");
    if (!out_path) return cli_usage_error(name, "no output file (-o OUT)");
    if (n_specs == 0) return cli_usage_error(name, "no profile (give --ap, --emap or --sdap)");
    if (fmt == HSI_FORMAT_PNG) return cli_usage_error(name, "PNG cannot hold a feature cube");
    popts.connectivity = (int)conn;
    popts.quantise_bits = (int)bits;
    const char *in_path = argv[optind];

    int rank = 0, ranks = 1;
    int mpi = hsi_mpi_start(&argc, &argv, &rank, &ranks);
    if (mpi < 0) return cli_error(name, "MPI_Init failed");
    st = profile(in_path, &ropts, specs, n_specs, &popts, (size_t)pca_k, pca_sample, seed, budget,
                 (size_t)block_rows, out_path, fmt, quiet || rank != 0, rank);
    if (mpi) {
        st = hsi_mpi_finish(st);
        hsi_mpi_stop();
    }
    return st ? 1 : 0;
}

const hsi_command cmd_profile = {"profile",
                                 "attribute profiles (AP, SDAP, EMAP) of a cube as a feature cube",
                                 usage, run};
