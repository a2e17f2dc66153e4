/* maxtree_scaling.c - max-tree construction of a generated image on one
 * process and over MPI ranks (features/tree_block.h), for
 * bench/maxtree_scaling.sh.
 *
 *   maxtree_scaling ROWS COLS [--write IMAGE.f32] [--no-check]
 *
 * The image is generated pixel by pixel (each rank makes only its own rows):
 * value noise of three octaves (lattice spacing 64, 16 and 4 pixels, hashed
 * lattice values, bilinear interpolation) plus a little white noise,
 * quantised to 64 grey levels, so the image is full of plateaus and saddles
 * and the tree has a realistic depth. Without mpirun the whole tree is built
 * by hsi_tree_build; under mpirun every rank builds the tree of its rows,
 * summarises its boundary tree, the boundary trees are all-gathered and
 * merged. The time is from a barrier before the first build to a barrier
 * after the merge (image generation excluded), and the lines printed are
 *
 *   single ROWSxCOLS seconds S nodes N checksum H
 *   ranks P ROWSxCOLS seconds S (build B boundary D exchange E merge M) checksum H
 *
 * H sums, over the pixels, a hash of (the pixel, its node's canonical pixel,
 * the parent's canonical pixel, the node's area): equal checksums mean the
 * same tree (bench/maxtree_scaling.sh compares them). --write stores the
 * image as raw little-endian float32 (for Higra); --no-check skips the
 * checksum (about 200 bytes a node). The timed merge is of the tree
 * structure alone (hsi_tree_boundary_make_ex without attributes); the check
 * merges again with the area, untimed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mpi.h"
#include "config.h"
#include "features/tree.h"
#include "features/tree_block.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double lattice(uint64_t oct, uint64_t y, uint64_t x)
{
    return (double)(mix(oct * 0x100000001b3ull ^ (y << 32) ^ x) >> 11) / 9007199254740992.0;
}

static float pixel(size_t y, size_t x)
{
    static const double spacing[3] = {64, 16, 4}, weight[3] = {1.0, 0.5, 0.25};
    double v = 0;
    for (int o = 0; o < 3; o++) {
        double fy = (double)y / spacing[o], fx = (double)x / spacing[o];
        uint64_t y0 = (uint64_t)fy, x0 = (uint64_t)fx;
        double ty = fy - (double)y0, tx = fx - (double)x0;
        double a = lattice((uint64_t)o, y0, x0), b = lattice((uint64_t)o, y0, x0 + 1);
        double c = lattice((uint64_t)o, y0 + 1, x0), d = lattice((uint64_t)o, y0 + 1, x0 + 1);
        v += weight[o] * ((a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty);
    }
    v += 0.1 * lattice(7, y, x);
    return (float)floor(v / 1.85 * 64);
}

static uint64_t pixel_hash(uint64_t p, uint64_t canon, uint64_t parent, double area)
{
    return mix(p ^ mix(canon ^ mix(parent ^ mix((uint64_t)area))));
}

int main(int argc, char **argv)
{
    int rank = 0, ranks = 1;
    int mpi = hsi_mpi_start(&argc, &argv, &rank, &ranks);
    if (mpi < 0) {
        fprintf(stderr, "maxtree_scaling: MPI_Init failed\n");
        return 1;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: maxtree_scaling ROWS COLS [--write IMAGE.f32] [--no-check]\n");
        return 2;
    }
    size_t R = strtoull(argv[1], NULL, 10), C = strtoull(argv[2], NULL, 10);
    const char *write_path = NULL;
    int check = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--write") && i + 1 < argc) write_path = argv[++i];
        else if (!strcmp(argv[i], "--no-check")) check = 0;
    }
    if (R == 0 || C == 0) {
        fprintf(stderr, "maxtree_scaling: bad size\n");
        return 2;
    }
    hsi_tree_options o = {.connectivity = 4};
    size_t row0 = R * (size_t)rank / (size_t)ranks, nr = R * (size_t)(rank + 1) / (size_t)ranks - row0;
    float *u = malloc((nr ? nr : 1) * C * sizeof *u);
    if (!u) {
        fprintf(stderr, "maxtree_scaling: out of memory for the image\n");
        return 1;
    }
    for (size_t y = 0; y < nr; y++)
        for (size_t x = 0; x < C; x++) u[y * C + x] = pixel(row0 + y, x);

    if (!mpi) {
        if (write_path) {
            FILE *f = fopen(write_path, "wb");
            if (!f || fwrite(u, sizeof *u, R * C, f) != R * C || fclose(f)) {
                fprintf(stderr, "maxtree_scaling: cannot write %s\n", write_path);
                return 1;
            }
        }
        hsi_tree *t = NULL;
        double t0 = now();
        if (hsi_tree_build(u, R, C, HSI_TREE_MAX, &o, &t)) {
            fprintf(stderr, "maxtree_scaling: %s\n", hsi_last_error());
            return 1;
        }
        double seconds = now() - t0;
        uint64_t h = 0;
        if (check) {
            size_t nn = t->n_nodes;
            uint64_t *canon = malloc(nn * sizeof *canon);
            double *area = malloc(nn * sizeof *area);
            if (!canon || !area || hsi_tree_attribute(t, u, HSI_ATTR_AREA, area)) {
                fprintf(stderr, "maxtree_scaling: out of memory for the check\n");
                return 1;
            }
            for (size_t p = R * C; p-- > 0;) canon[t->pixel_node[p]] = p;
            for (size_t p = 0; p < R * C; p++) {
                uint32_t i = t->pixel_node[p];
                h += pixel_hash(p, canon[i], canon[t->parent[i]], area[i]);
            }
            free(canon);
            free(area);
        }
        printf("single %zux%zu seconds %.3f nodes %zu checksum %016llx\n", R, C, seconds,
               t->n_nodes, (unsigned long long)h);
        hsi_tree_free(t);
        free(u);
        return 0;
    }

#ifdef HAVE_MPI
    hsi_tree *t = NULL;
    hsi_tree_boundary *mine = NULL, **all = NULL;
    hsi_tree_merged *m = NULL;
    size_t n_all = 0;
    /* warm-up: Open MPI connects the ranks at their first exchange */
    hsi_status st = hsi_tree_boundary_allgather(NULL, 0, &all, &n_all);
    free(all);
    all = NULL;
    n_all = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    if (nr) {
        st = hsi_tree_build(u, nr, C, HSI_TREE_MAX, &o, &t);
    }
    double t1 = now();
    if (!st && nr) st = hsi_tree_boundary_make_ex(t, u, row0, R, &o, 0, &mine);
    double t2 = now();
    st = hsi_mpi_agree(st);
    if (!st) st = hsi_tree_boundary_allgather(&mine, nr ? 1 : 0, &all, &n_all);
    double t3 = now();
    if (!st) st = hsi_tree_merge(all, n_all, 4, &m);
    st = hsi_mpi_agree(st);
    MPI_Barrier(MPI_COMM_WORLD);
    double t4 = now();
    if (st) {
        if (rank == 0) fprintf(stderr, "maxtree_scaling: %s\n", hsi_last_error());
        hsi_mpi_stop();
        return 1;
    }
    unsigned long long h = 0, total = 0;
    /* the check: the merge again, now with attributes (not timed) */
    hsi_tree_merged_free(m);
    m = NULL;
    for (size_t i = 0; i < n_all; i++) hsi_tree_boundary_free(all[i]);
    free(all);
    all = NULL;
    n_all = 0;
    hsi_tree_boundary_free(mine);
    mine = NULL;
    if (check) {
        if (nr) st = hsi_tree_boundary_make_ex(t, u, row0, R, &o, 1u << HSI_ATTR_AREA, &mine);
        st = hsi_mpi_agree(st);
        if (!st) st = hsi_tree_boundary_allgather(&mine, nr ? 1 : 0, &all, &n_all);
        if (!st) st = hsi_tree_merge(all, n_all, 4, &m);
        st = hsi_mpi_agree(st);
        if (st) {
            if (rank == 0) fprintf(stderr, "maxtree_scaling: check: %s\n", hsi_last_error());
            hsi_mpi_stop();
            return 1;
        }
    }
    if (check && nr) {
        /* this rank's block is number `rank` among the blocks with rows */
        size_t block = 0;
        for (int r = 0; r < rank; r++)
            block += R * (size_t)(r + 1) / (size_t)ranks > R * (size_t)r / (size_t)ranks;
        size_t nn = t->n_nodes;
        uint64_t *canon = malloc(nn * sizeof *canon), *pcanon = malloc(nn * sizeof *pcanon);
        double *attr[HSI_ATTR_COUNT];
        for (int a = 0; a < HSI_ATTR_COUNT; a++) attr[a] = malloc(nn * sizeof *attr[a]);
        if (!canon || !pcanon || !attr[0] || !attr[1] || !attr[2] || !attr[3] ||
            hsi_tree_block_nodes(t, u, block, m, canon, pcanon, attr)) {
            fprintf(stderr, "maxtree_scaling: rank %d: the check failed: %s\n", rank,
                    hsi_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (size_t p = 0; p < nr * C; p++) {
            uint32_t i = t->pixel_node[p];
            h += pixel_hash(row0 * C + p, canon[i], pcanon[i], attr[0][i]);
        }
        free(canon);
        free(pcanon);
        for (int a = 0; a < HSI_ATTR_COUNT; a++) free(attr[a]);
    }
    MPI_Reduce(&h, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    double times[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3}, worst[4];
    MPI_Reduce(times, worst, 4, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("ranks %d %zux%zu seconds %.3f (build %.3f boundary %.3f exchange %.3f merge %.3f) "
               "checksum %016llx\n",
               ranks, R, C, t4 - t0, worst[0], worst[1], worst[2], worst[3],
               check ? total : 0ull);
    hsi_tree_merged_free(m);
    for (size_t i = 0; i < n_all; i++) hsi_tree_boundary_free(all[i]);
    free(all);
    hsi_tree_boundary_free(mine);
    hsi_tree_free(t);
    free(u);
    hsi_mpi_stop();
    return 0;
#else
    return 1;
#endif
}
