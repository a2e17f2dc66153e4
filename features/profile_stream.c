/* profile_stream.c - attribute profiles of a scene file in row blocks and
 * over MPI ranks (hsi_profile_file, see profile.h).
 *
 * The rows are split over the ranks (rank r gets rows [R r / P, R (r+1) / P)),
 * and each rank's rows into blocks of at most B rows, B from the memory
 * budget and the same on every rank, so every rank knows the whole layout.
 * With one block in all, every band's trees are whole-image trees and this
 * is hsi_profile_cube a block at a time. With several:
 *
 *   pass 0  (quantised levels only) each band's min and max over all ranks,
 *           so that every block quantises over the image's range;
 *   pass 1  per block, band and tree kind: the block's tree, summarised as
 *           its boundary tree (tree_block.h), then freed; per band and kind
 *           the boundary trees of all ranks are gathered and merged, and the
 *           merged nodes filtered for every threshold;
 *   pass 2  per block: the block's trees again (deterministic), filtered
 *           against the merged nodes, give the block's rows of every output
 *           band; rank 0 writes them as they come (its own, then the other
 *           ranks' as they arrive), through GDAL's row-block writer.
 *
 * Memory per rank: GDAL's cache share, one block (its input rows, their
 * principal components, its output rows and one band's tree work per
 * thread), and beside it, counted by measured bytes (trees_budget): the
 * boundary trees of a group of bands, a merge's work, the merged results
 * of every band and kind (9 bytes a boundary node and threshold), and when
 * they fit, the blocks' K-band values kept between the passes so that the
 * scene is read once. Boundary trees hold the nodes that contain a pixel of
 * a boundary row: with quantised levels a few rows' worth, at exact float
 * levels of a noisy band up to about a node per pixel, so there the blocks
 * are made small enough to leave the trees room for that (trees_share).
 * A boundary node keeps only what the profile's attributes and rule need
 * (tree_block.h: 28 bytes for area alone; the subtree maxima of inertia
 * and std only for the max rule).
 */
#include "features/profile.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/memory.h"
#include "base/mpi.h"
#include "config.h"
#include "features/preprocess.h"
#include "features/tree_block.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

/* Tree work per pixel of a block, for one band at a time: the build (keys,
 * order, radix buffer, union-find and the tree's three arrays: 28 bytes),
 * then per node the integer accumulators (64), the std sums (128), attribute
 * values and subtree maxima (64), marks and filter state (13), and the
 * band's image and filtered copies (8): under 320 bytes, counted as 320. */
#define TREE_BYTES_PER_PIXEL 320

#define TAG_HEAD 7301
#define TAG_DATA 7302

typedef struct layout {
    size_t rows, cols, rpb;  /* rows per block */
    int rank, ranks;
    size_t first_block;      /* global index of this rank's first block */
    size_t n_mine, n_total;  /* blocks of this rank, of all ranks */
    size_t row0, nrows;      /* this rank's rows */
} layout;

static size_t rank_rows(size_t rows, int r, int ranks, size_t *row0)
{
    size_t a = rows * (size_t)r / (size_t)ranks, b = rows * (size_t)(r + 1) / (size_t)ranks;
    if (row0) *row0 = a;
    return b - a;
}

static size_t blocks_of(size_t n, size_t rpb) { return (n + rpb - 1) / rpb; }

/* The block's rows as K bands: the bands read, or their principal
 * components. The projection accumulates each component in double in a fixed
 * order (bands 0 .. d-1), so a pixel's components do not depend on the
 * block it came in (a BLAS product may round differently with another
 * number of rows). */
static hsi_status block_values(const hsi_cube *blk, const hsi_preprocess *pca, float **values)
{
    if (!pca) {
        *values = blk->data;
        return HSI_OK;
    }
    size_t n = blk->rows * blk->cols, d = pca->in_dim, k = pca->out_dim;
    float *y = malloc(n * k * sizeof *y);
    double *acc = malloc(k * sizeof *acc);
    if (!y || !acc) {
        free(y);
        free(acc);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for the principal components of a block");
    }
    for (size_t p = 0; p < n; p++) {
        const float *x = blk->data + p * d;
        for (size_t j = 0; j < k; j++) acc[j] = 0;
        for (size_t b = 0; b < d; b++) {
            double c = (double)x[b] - (double)pca->offset[b];
            const float *w = pca->components + b * k;
            for (size_t j = 0; j < k; j++) acc[j] += c * (double)w[j];
        }
        for (size_t j = 0; j < k; j++) y[p * k + j] = (float)acc[j];
    }
    free(acc);
    *values = y;
    return HSI_OK;
}

static hsi_status read_block(hsi_cube_reader *rd, const hsi_preprocess *pca, size_t row0,
                             size_t nrows, hsi_cube **blk, float **values)
{
    *blk = NULL;
    *values = NULL;
    hsi_status st = hsi_cube_reader_rows(rd, row0, nrows, blk);
    if (!st) st = block_values(*blk, pca, values);
    if (st) {
        hsi_cube_free(*blk);
        *blk = NULL;
    }
    return st;
}

/* The blocks' values kept between the passes, when they fit: a profile of
 * a few bands or components of a scene of many needs K values a pixel of
 * the B read, so keeping them saves every read of the scene after the
 * first (each pass over the blocks is otherwise one more read and, with
 * --pca, one more projection). */
typedef struct block_cache {
    float *values;  /* this rank's rows x cols x K, or NULL: no cache */
    size_t row0, cols, K;
    uint8_t *have;  /* [blocks of this rank] */
} block_cache;

/* read_block through the cache: a cached block comes back with *blk NULL
 * and *values pointing into the cache (free_block leaves it). */
static hsi_status get_block(hsi_cube_reader *rd, const hsi_preprocess *pca, block_cache *c,
                            size_t j, size_t row0, size_t nrows, hsi_cube **blk, float **values)
{
    float *at = c->values ? c->values + (row0 - c->row0) * c->cols * c->K : NULL;
    if (at && c->have[j]) {
        *blk = NULL;
        *values = at;
        return HSI_OK;
    }
    hsi_status st = read_block(rd, pca, row0, nrows, blk, values);
    if (!st && at) {
        memcpy(at, *values, nrows * c->cols * c->K * sizeof *at);
        c->have[j] = 1;
    }
    return st;
}

static void free_block(hsi_cube *blk, float *values)
{
    if (!blk) return; /* values in the cache */
    if (values && values != blk->data) free(values);
    hsi_cube_free(blk);
}

static void band_of(const float *values, size_t n, size_t k, size_t b, float *image)
{
    for (size_t p = 0; p < n; p++) image[p] = values[p * k + b];
}

/* Rank 0's side of the output: take whatever blocks the other ranks have
 * sent (all of them, to the last message of each, when `wait`) and write
 * them. done[r] is set by rank r's last message. A write error is kept in
 * *st while the messages are still drained, so that no rank blocks in a
 * send; a rank's own failure reaches everyone at the agreement after. */
#ifdef HAVE_MPI
static void drain(hsi_raster_writer *w, int ranks, int *done, int wait, float *buf,
                  size_t buf_floats, hsi_status *st)
{
    for (;;) {
        int left = 0;
        for (int r = 1; r < ranks; r++) left += !done[r];
        if (!left) return;
        MPI_Status ms;
        int flag = 1;
        if (wait) MPI_Probe(MPI_ANY_SOURCE, TAG_HEAD, MPI_COMM_WORLD, &ms);
        else MPI_Iprobe(MPI_ANY_SOURCE, TAG_HEAD, MPI_COMM_WORLD, &flag, &ms);
        if (!flag) return;
        int src = ms.MPI_SOURCE;
        unsigned long long head[3];
        MPI_Recv(head, 3, MPI_UNSIGNED_LONG_LONG, src, TAG_HEAD, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (head[2] == 0) { /* the rank's last message */
            done[src] = 1;
            continue;
        }
        size_t count = (size_t)head[2];
        MPI_Recv(buf, (int)(count <= buf_floats ? count : buf_floats), MPI_FLOAT, src, TAG_DATA,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (!*st && count > buf_floats)
            *st = hsi_error(HSI_ERR_MPI, "rank %d sent a block larger than expected", src);
        if (!*st) *st = hsi_raster_writer_rows(w, (size_t)head[0], (size_t)head[1], buf);
    }
}
#endif

/* The attributes the profile filters a kind of tree on, with its rule:
 * the summary its boundary trees and merges keep per node (tree_block.h). */
static unsigned tree_summary(const hsi_profile_spec *specs, size_t n_specs, hsi_tree_kind kind,
                             hsi_filter_rule rule)
{
    unsigned mask = 0;
    for (size_t s = 0; s < n_specs; s++)
        if (hsi_profile_spec_uses_tree(&specs[s], kind)) mask |= 1u << specs[s].attr;
    return hsi_tree_summary(mask, rule);
}

/* One block's work on its bands, for pass 1 (boundary trees) or pass 2
 * (output rows). */
typedef struct band_work {
    const float *values;          /* block rows x cols x K */
    size_t nr, cols, K;
    size_t b0, b1;                /* the bands to do: [b0, b1) */
    size_t row0, image_rows;
    size_t block;                 /* pass 1: this rank's block index; pass 2: global */
    size_t n_mine;
    const hsi_profile_options *o;
    const int *need;
    const float *lo, *hi;
    int blocked;
    hsi_tree_boundary **mine;     /* pass 1: [(b * 3 + kind) * n_mine + block] */
    hsi_tree_merged **merged;     /* pass 2, when blocked: [b * 3 + kind] */
    const hsi_profile_spec *specs;
    size_t n_specs, per_input, out_bands;
    float *out;                   /* pass 2: block rows x cols x out_bands */
} band_work;

static hsi_status band_pass(const band_work *w, int pass, size_t b, float *image, float *filtered)
{
    const hsi_profile_options *o = w->o;
    size_t n = w->nr * w->cols, ob = w->out_bands;
    band_of(w->values, n, w->K, b, image);
    size_t first = b * w->per_input;
    if (pass == 2 && !o->omit_input)
        for (size_t p = 0; p < n; p++) w->out[p * ob + first] = image[p];
    hsi_tree_options to = {.connectivity = o->connectivity,
                           .quantise_bits = o->quantise_bits,
                           .has_range = w->blocked && o->quantise_bits != 0,
                           .range_lo = w->lo[b],
                           .range_hi = w->hi[b]};
    hsi_status st = HSI_OK;
    double *attr = NULL;
    for (int k = 0; k < (pass == 1 ? 2 : 3) && !st; k++) {
        if (!w->need[k]) continue;
        hsi_tree *t = NULL;
        if ((st = hsi_tree_build(image, w->nr, w->cols, (hsi_tree_kind)k, &to, &t))) break;
        if (pass == 1) {
            st = hsi_tree_boundary_make_ex(t, image, w->row0, w->image_rows, &to,
                                           tree_summary(w->specs, w->n_specs, (hsi_tree_kind)k,
                                                        o->rule),
                                           &w->mine[(b * 3 + (size_t)k) * w->n_mine + w->block]);
            hsi_tree_free(t);
            continue;
        }
        int have = -1;
        hsi_tree_block_view *view = NULL;
        if (w->blocked)
            st = hsi_tree_block_view_new(t, image, w->block, w->merged[b * 3 + (size_t)k], &view);
        for (size_t s = 0; s < w->n_specs && !st; s++) {
            const hsi_profile_spec *sp = &w->specs[s];
            if (!hsi_profile_spec_uses_tree(sp, (hsi_tree_kind)k)) continue;
            if (!w->blocked && (int)sp->attr != have) {
                free(attr);
                attr = malloc(t->n_nodes * sizeof *attr);
                if (!attr) st = hsi_error(HSI_ERR_NOMEM, "out of memory for attributes");
                else st = hsi_tree_attribute(t, image, sp->attr, attr);
                have = (int)sp->attr;
            }
            for (size_t q = 0; q < sp->n_thresholds && !st; q++) {
                if (w->blocked)
                    st = hsi_tree_block_view_filter(view, s * HSI_PROFILE_MAX_THRESHOLDS + q,
                                                    filtered);
                else
                    st = hsi_tree_filter(t, attr, sp->thresholds[q], o->rule, filtered);
                size_t band = first + hsi_profile_band_slot(w->specs, s, o->omit_input,
                                                            (hsi_tree_kind)k, q);
                for (size_t p = 0; p < n && !st; p++) w->out[p * ob + band] = filtered[p];
            }
        }
        hsi_tree_block_view_free(view);
        hsi_tree_free(t);
    }
    free(attr);
    if (st)
        st = hsi_error_prefix(st, "band %zu, rows %zu..%zu", b + 1, w->row0 + 1, w->row0 + w->nr);
    return st;
}

/* band_pass over the block's bands, in parallel (OpenMP threads, each with
 * its own tree work: the budget counts one per thread); the first failure's
 * message is carried back to this thread (messages are thread-local). */
static hsi_status for_each_band(const band_work *w, int pass, size_t npix_max)
{
    hsi_status first_error = HSI_OK;
    char message[512] = "";
#pragma omp parallel
    {
        float *image = malloc((npix_max ? npix_max : 1) * sizeof *image);
        float *filtered = malloc((npix_max ? npix_max : 1) * sizeof *filtered);
#pragma omp for schedule(dynamic, 1)
        for (long b = (long)w->b0; b < (long)w->b1; b++) {
            int failed;
#pragma omp atomic read
            failed = first_error;
            if (failed) continue;
            hsi_status ts = !image || !filtered
                                ? hsi_error(HSI_ERR_NOMEM, "out of memory for a block's band")
                                : band_pass(w, pass, (size_t)b, image, filtered);
            if (ts) {
#pragma omp critical(hsi_profile_stream_error)
                if (!first_error) {
                    first_error = ts;
                    snprintf(message, sizeof message, "%s", hsi_last_error());
                }
            }
        }
        free(image);
        free(filtered);
    }
    return first_error ? hsi_error(first_error, "%s", message) : HSI_OK;
}

/* The memory of the merged boundary trees (pass 1 and the merges), within
 * what the budget leaves after GDAL's cache and the process (`fixed`):
 * pass 1 holds a block, the group's boundary trees and the merged results
 * so far; a merge holds the band's boundary trees (and on several ranks
 * the gathered copy), the merge's own work and the results so far; pass 2
 * holds a block and every band's merged results. With exact float levels
 * the boundary trees approach a node per pixel of the band, whatever the
 * block height, so a large scene under a small budget is refused as soon
 * as one band's trees outgrow the room, rather than run past the budget. */
typedef struct trees_budget {
    size_t budget, fixed, block;    /* block: one block's bytes */
    size_t bands, bands_done;
    int ranks;
    unsigned attrs[2];              /* per kind of tree: its summary (0: not built) */
    size_t slots_kind[2];           /* and its filters */
    int quantise_bits;
    size_t one_block;               /* the budget that makes the scene one block */
    size_t pixels, slots;           /* the band's pixels and filters of both kinds */
    size_t cols, row_bytes;         /* the image's columns, a block's bytes a row */
    size_t merge_work;              /* the largest merge's gathered copies and work */
    block_cache *cache;             /* given up when the trees need its room */
    size_t cached;                  /* its bytes (in `compact`), 0 once given up */
    size_t compact;                 /* held to the end: merged results so far, cached values */
    size_t compact_band, kept_band; /* the largest per band seen */
} trees_budget;

static size_t size_max(size_t a, size_t b) { return a > b ? a : b; }

/* What the budget leaves after `fixed`: the blocks' and the trees' room. */
static size_t trees_avail(const trees_budget *tb)
{
    return tb->budget > tb->fixed ? tb->budget - tb->fixed : 0;
}

/* The budget whose share after GDAL's cache (an eighth, at most 256 MiB)
 * and what the process holds (hsi_io_cache_budget: not counted in a toy
 * budget) holds `whole` bytes (e.g. a block of every row). */
static size_t budget_holding(size_t whole)
{
    size_t one = whole / 7 * 8 + 8;
    if (one / 8 > ((size_t)256 << 20)) one = whole + ((size_t)256 << 20);
    size_t base = hsi_memory_resident() + ((size_t)16 << 20);
    return base <= one ? one + base : one;
}

/* Every rank's largest value, or the sum over the ranks (the decisions
 * below must agree). */
static size_t agreed(size_t v, int ranks, int sum)
{
#ifdef HAVE_MPI
    if (ranks > 1) {
        unsigned long long x = v, y = 0;
        MPI_Allreduce(&x, &y, 1, MPI_UNSIGNED_LONG_LONG, sum ? MPI_SUM : MPI_MAX, MPI_COMM_WORLD);
        return (size_t)y;
    }
#endif
    (void)ranks;
    (void)sum;
    return v;
}
static size_t agreed_max(size_t v, int ranks) { return agreed(v, ranks, 0); }
static size_t agreed_sum(size_t v, int ranks) { return agreed(v, ranks, 1); }

/* The cached block values give way to the trees (the passes after read
 * the scene again). */
static void cache_drop(trees_budget *tb)
{
    if (!tb->cached) return;
    free(tb->cache->values);
    free(tb->cache->have);
    tb->cache->values = NULL;
    tb->cache->have = NULL;
    tb->compact -= tb->cached;
    tb->cached = 0;
}

/* Bytes (and nodes, when asked) of the boundary trees of bands [b0, b1) of
 * all this rank's blocks; free_trees frees them. */
static size_t group_bytes(hsi_tree_boundary **mine, size_t n_blocks, size_t b0, size_t b1,
                          size_t *nodes)
{
    size_t bytes = 0;
    if (nodes) *nodes = 0;
    for (size_t i = b0 * 3 * n_blocks; i < b1 * 3 * n_blocks; i++)
        if (mine[i]) {
            bytes += hsi_tree_boundary_bytes(mine[i]);
            if (nodes) *nodes += hsi_tree_boundary_nodes(mine[i]);
        }
    return bytes;
}

static void free_trees(hsi_tree_boundary **mine, size_t n_blocks, size_t b0, size_t b1)
{
    for (size_t i = b0 * 3 * n_blocks; i < b1 * 3 * n_blocks; i++) {
        hsi_tree_boundary_free(mine[i]);
        mine[i] = NULL;
    }
}

/* What the trees hold at their most with blocks of at least rows_a_block
 * rows (a boundary node per pixel of the band for each kind of tree, as a
 * block's tree has no more nodes than pixels; at the bytes a node of its
 * attributes takes: hsi_tree_boundary_node_bytes, hsi_tree_merge_bytes;
 * and the boundary rows): in passes 1 and 2 beside a block (returned: one
 * band's boundary trees and every band's results, or trees_fit's estimate
 * of them from one kind's, twice its size), and in a merge (*merge_most:
 * those, on several ranks the gathered copies of one kind's trees, and the
 * merge's work). */
static size_t trees_most(const trees_budget *tb, size_t rows_a_block, size_t *merge_most)
{
    size_t px = tb->pixels, trees = 0, copies = 0, merge = 0;
    /* each block's boundary node of every pixel of its first and last rows,
     * for at most this many blocks (each rank's last may be short) */
    size_t blocks = blocks_of(px / tb->cols, rows_a_block) + (size_t)tb->ranks;
    size_t edges = blocks * 2 * tb->cols * sizeof(uint32_t);
    for (int k = 0; k < 2; k++) {
        if (!tb->slots_kind[k]) continue;
        size_t one = px * hsi_tree_boundary_node_bytes(tb->attrs[k]) + edges;
        trees += one;
        if (tb->ranks > 1) copies = size_max(copies, 2 * one);
        merge = size_max(merge, hsi_tree_merge_bytes(px, tb->attrs[k], tb->slots_kind[k]));
    }
    size_t most_slots = size_max(tb->slots_kind[0], tb->slots_kind[1]);
    size_t results = tb->bands * size_max(hsi_tree_merged_compact_bytes(px, tb->slots),
                                          2 * hsi_tree_merged_compact_bytes(px, most_slots));
    *merge_most = trees + copies + merge + results;
    return trees + results;
}

/* The refusal, with a budget that surely holds the trees at their most
 * (trees_most) with blocks of h rows (8, or the blocks' height if lower):
 * the smaller of the one that makes the scene one block (no boundaries at
 * all) and the one whose share after GDAL's cache holds a merge, and beside
 * a block of h rows pass 1's trees (at exact float levels trees_share gives
 * them that room) or, with quantised levels, four times those (the blocks
 * take at most three quarters of the budget); and at least h rows in three
 * quarters of it. */
#define ADVICE_ROWS 8
static hsi_status trees_refuse(const trees_budget *tb, size_t band, size_t nodes)
{
    size_t h = tb->block / tb->row_bytes, merge;
    if (h > ADVICE_ROWS) h = ADVICE_ROWS;
    if (h < 1) h = 1;
    size_t pass = trees_most(tb, h, &merge), rows = h * tb->row_bytes;
    size_t most = size_max(budget_holding(size_max(merge, rows + pass)), 2 * budget_holding(rows));
    if (tb->quantise_bits) most = size_max(most, 4 * pass);
    size_t advice = most < tb->one_block ? most : tb->one_block;
    char have[32], give[32];
    hsi_memory_format(tb->budget, have, sizeof have);
    hsi_memory_format(advice + advice / 64, give, sizeof give);
    return hsi_error(HSI_ERR_NOMEM,
                     "the boundary trees of band %zu (%zu nodes%s) do not fit beside the row "
                     "blocks within --memory %s: give --memory %s or more",
                     band + 1, nodes,
                     tb->quantise_bits == 8 ? ""
                     : tb->quantise_bits == 16
                         ? "; --quantise 8 gives fewer"
                         : "; exact float levels give long chains of ancestors at block "
                           "boundaries, --quantise 16 or 8 far fewer",
                     have, give);
}

/* Before merging one band's tree of one kind: `nodes` and `bytes` are this
 * rank's boundary trees of it, `kept` all this rank still holds of the
 * group, `held` the band's results of the other kind, if merged already.
 * Collective. */
static hsi_status trees_fit(trees_budget *tb, size_t band, int kind, size_t nodes, size_t bytes,
                            size_t kept, size_t held)
{
    size_t n_slots = tb->slots_kind[kind];
    size_t all_nodes = agreed_sum(nodes, tb->ranks), all_bytes = agreed_sum(bytes, tb->ranks);
    tb->kept_band = agreed_max(tb->kept_band, tb->ranks);
    size_t avail = trees_avail(tb);
    /* the trees held in the merge (several ranks: the gathered ones too,
     * packed then unpacked) and its own work */
    size_t copies = tb->ranks > 1 ? 2 * all_bytes : 0;
    size_t work = copies + hsi_tree_merge_bytes(all_nodes, tb->attrs[kind], n_slots);
    size_t merge = agreed_max(kept, tb->ranks) + held + work;
    tb->merge_work = size_max(tb->merge_work, work);
    /* the results of the bands to come, at the largest band's size so far
     * (the first band's before any is done: its two kinds, about twice
     * this one) */
    size_t per_band = size_max(tb->compact_band, 2 * hsi_tree_merged_compact_bytes(all_nodes, n_slots));
    for (;;) { /* no collective in here: a rank may give its cache up alone */
        size_t later = tb->compact + (tb->bands - tb->bands_done) * per_band;
        size_t pass1 = tb->block + tb->kept_band + later, pass2 = tb->block + later;
        size_t peak = size_max(size_max(tb->compact + merge, pass1), pass2);
        if (peak <= avail) return HSI_OK;
        if (!tb->cached) break;
        cache_drop(tb); /* the cached values give way, then once more */
    }
    return trees_refuse(tb, band, all_nodes);
}

/* The budget's share for the trees, beside blocks of at most `rpb` rows: a
 * quarter, or at exact float levels (where a noisy band's boundary trees
 * approach a node per pixel) room for their most when a row still fits
 * beside it. Smaller blocks have more boundary rows: the share grows with
 * them until it holds the trees of its own block height (rows decrease at
 * each step, so this ends). */
static size_t trees_share(const trees_budget *tb, size_t rpb)
{
    size_t share = tb->budget / 4, avail = trees_avail(tb), merge;
    if (tb->quantise_bits) return share;
    for (;;) {
        size_t most = trees_most(tb, rpb, &merge);
        if (most <= share) return share;
        if (most >= avail || avail - most < tb->row_bytes) return tb->budget / 4;
        share = most;
        rpb = (avail - share) / tb->row_bytes;
    }
}

/* Pass 1, after each block: the group's boundary trees so far (`kept`)
 * must leave room for a block and the merged results so far (the cache
 * gives way first). */
static int trees_pass1_room(trees_budget *tb, size_t kept)
{
    size_t avail = trees_avail(tb);
    if (tb->block + kept + tb->compact > avail) cache_drop(tb);
    return tb->block + kept + tb->compact <= avail;
}

/* When one band's do not (band `band`'s trees in this rank's blocks 0 ..
 * done - 1 of n: `kept` bytes), the refusal comes now, with the band's
 * nodes extrapolated from these blocks. */
static hsi_status trees_pass1_refuse(const trees_budget *tb, hsi_tree_boundary **mine,
                                     size_t band, size_t done, size_t n)
{
    size_t nodes;
    group_bytes(mine, n, band, band + 1, &nodes);
    return trees_refuse(tb, band, done ? nodes / done * n : nodes);
}

/* Bands in the next group of pass 1: as many as hold their boundary trees
 * beside the results of every band and a block, or (while they are merged)
 * the largest merge's work so far. */
static size_t trees_group(const trees_budget *tb)
{
    size_t avail = trees_avail(tb);
    size_t later = tb->compact + (tb->bands - tb->bands_done) * tb->compact_band;
    size_t beside = later + size_max(tb->block, tb->merge_work);
    size_t room = avail > beside ? avail - beside : 0;
    size_t g = tb->kept_band ? room / tb->kept_band : tb->bands;
    return g < 1 ? 1 : g > tb->bands ? tb->bands : g;
}

hsi_status hsi_profile_file(const char *in_path, const hsi_read_options *ro,
                            const hsi_profile_spec *specs, size_t n_specs,
                            const hsi_profile_options *opts, const hsi_profile_file_options *fo,
                            const char *out_path, hsi_raster_format fmt,
                            hsi_profile_file_report *report)
{
    hsi_profile_options o = {0};
    if (opts) o = *opts;
    hsi_profile_file_options f = {0};
    if (fo) f = *fo;
    if (report) memset(report, 0, sizeof *report);
    hsi_status spec_st = hsi_profile_specs_check(specs, n_specs);
    if (spec_st) return spec_st;
    if (o.connectivity == 0) o.connectivity = 4;
    if (o.connectivity != 4 && o.connectivity != 8)
        return hsi_error(HSI_ERR_ARG, "profile: connectivity %d (want 4 or 8)", o.connectivity);
    if (o.quantise_bits != 0 && o.quantise_bits != 8 && o.quantise_bits != 16)
        return hsi_error(HSI_ERR_ARG, "profile: quantisation to %d bits (want 0, 8 or 16)",
                         o.quantise_bits);
    if (o.rule > HSI_RULE_SUBTRACTIVE)
        return hsi_error(HSI_ERR_ARG, "profile: unknown filtering rule %d", (int)o.rule);
    size_t budget = f.budget ? f.budget : hsi_memory_default();
    const hsi_preprocess *pca = f.pca;

    layout L = {0};
    hsi_mpi_layout(&L.rank, &L.ranks);
    hsi_cube_reader *rd = NULL;
    hsi_raster_writer *w = NULL;
    hsi_cube *meta_in = NULL, *meta_out = NULL, *blk = NULL;
    float *values = NULL, *out = NULL, *lo = NULL, *hi = NULL;
    hsi_tree_merged **merged = NULL;
    hsi_tree_boundary **mine = NULL;
    size_t src_bands = 0, K = 0, per_input = 0, out_bands = 0, n_trees = 0;
    size_t fixed = 0, row_bytes = 0;
    int need[3] = {0, 0, 0};
    /* the trees' memory (filled in as the layout is known) */
    trees_budget tb = {.budget = budget, .ranks = L.ranks, .quantise_bits = o.quantise_bits,
                       .attrs = {tree_summary(specs, n_specs, HSI_TREE_MAX, o.rule),
                                 tree_summary(specs, n_specs, HSI_TREE_MIN, o.rule)}};
    size_t *slots = tb.slots_kind; /* filters per kind of tree */
    for (size_t s = 0; s < n_specs; s++)
        for (int k = 0; k < 2; k++)
            if (hsi_profile_spec_uses_tree(&specs[s], (hsi_tree_kind)k))
                slots[k] += specs[s].n_thresholds;
    tb.slots = slots[0] + slots[1];

    /* No early returns from here to the agreement: every rank must reach it. */
    hsi_status st = hsi_cube_reader_open(in_path, ro, &rd);
    if (!st) {
        hsi_cube_reader_shape(rd, &L.rows, &L.cols, &src_bands);
        K = pca ? pca->out_dim : src_bands;
        if (pca && pca->in_dim != src_bands)
            st = hsi_error(HSI_ERR_SIZE, "PCA fitted on %zu bands applied to a scene of %zu",
                           pca->in_dim, src_bands);
    }
    if (!st) {
        per_input = hsi_profile_bands_per_input(specs, n_specs, o.omit_input);
        out_bands = per_input * K;
        if (per_input == 0) st = hsi_error(HSI_ERR_ARG, "profile: the profile has no bands");
        for (size_t s = 0; s < n_specs; s++)
            for (int k = 0; k < 3; k++) need[k] |= hsi_profile_spec_uses_tree(&specs[s], (hsi_tree_kind)k);
    }
    if (!st) {
        /* one block: its input rows (and the reader's conversion of them),
         * components, output rows and one band's tree work */
        fixed = hsi_io_cache_budget(budget);
        size_t threads = (size_t)hsi_max_threads();
        if (threads > K) threads = K;
        row_bytes = L.cols * (2 * src_bands * sizeof(float) + (pca ? K * sizeof(float) : 0) +
                              out_bands * sizeof(float) + threads * TREE_BYTES_PER_PIXEL);
        tb.fixed = fixed;
        tb.row_bytes = row_bytes;
        tb.bands = K;
        tb.cols = L.cols;
        tb.pixels = L.rows * L.cols;
        st = hsi_memory_rows_per_block(budget, fixed, row_bytes, 1, L.rows, "a profile block",
                                       &L.rpb);
        if (!st && f.block_rows && f.block_rows < L.rpb) L.rpb = f.block_rows;
        /* Several blocks (or ranks): the rest after the trees' share goes
         * to the blocks */
        if (!st && (L.rpb < L.rows || L.ranks > 1)) {
            size_t rpb = L.rpb; /* (when not even a row fits in the rest: the whole budget) */
            if (!hsi_memory_rows_per_block(budget - trees_share(&tb, L.rpb), fixed, row_bytes, 1,
                                           L.rows, "a profile block", &rpb) &&
                rpb < L.rpb)
                L.rpb = rpb;
        }
    }
    /* every rank must see the same layout (OMP_NUM_THREADS counts in it) */
    static const char *const layout_names[] = {"rows a block"};
    long rpb_l = (long)L.rpb;
    st = hsi_mpi_agree_same(st, "the profile's row blocks", layout_names, &rpb_l, 1);
    if (!st) {
        for (int r = 0; r < L.ranks; r++) {
            size_t nb = blocks_of(rank_rows(L.rows, r, L.ranks, NULL), L.rpb);
            if (r == L.rank) {
                L.first_block = L.n_total;
                L.n_mine = nb;
            }
            L.n_total += nb;
        }
        L.nrows = rank_rows(L.rows, L.rank, L.ranks, &L.row0);
        if (L.n_total > 1) {
            /* the trees that cannot be merged exactly, refused up front */
            char need_s[32];
            /* the budget whose share after GDAL's cache (an eighth, at most
             * 256 MiB) holds every row in one block */
            hsi_memory_format(budget_holding(L.rows * row_bytes), need_s, sizeof need_s);
            for (size_t s = 0; s < n_specs && !st; s++) {
                if (specs[s].kind == HSI_PROFILE_SDAP)
                    st = hsi_error(HSI_ERR_ARG,
                                   "the SDAP (trees of shapes) cannot be split in row blocks or over "
                                   "MPI ranks (no exact merge is implemented): run it on 1 rank "
                                   "with --memory %s or more", need_s);
            }
        }
    }
    size_t n_blocks_here = L.n_mine;
    int blocked = L.n_total > 1;
    size_t npix_max = L.rpb * L.cols;
    /* Pass 1 holds the boundary trees of a group of bands at once; the
     * first group is one band, which measures a band's boundary trees (their
     * size depends on the data and the block height) and sizes the groups
     * after it. Each group is one more pass over the blocks (a read of the
     * scene unless their values are kept, below). */
    size_t passes = 0;
    if (!st) {
        out = malloc((npix_max ? npix_max : 1) * (out_bands ? out_bands : 1) * sizeof *out);
        lo = malloc((K ? K : 1) * sizeof *lo);
        hi = malloc((K ? K : 1) * sizeof *hi);
        n_trees = K * 3;
        merged = calloc(n_trees ? n_trees : 1, sizeof *merged);
        mine = calloc((n_blocks_here ? n_blocks_here : 1) * (n_trees ? n_trees : 1), sizeof *mine);
        if (!out || !lo || !hi || !merged || !mine)
            st = hsi_error(HSI_ERR_NOMEM, "out of memory for a profile block of %zu rows", L.rpb);
        else
            for (size_t b = 0; b < K; b++) lo[b] = hi[b] = 0;
    }
    st = hsi_mpi_agree(st);

    /* the blocks' values kept between passes when they take at most half
     * of what a block leaves of the budget (counted with the merged
     * results below) */
    block_cache cache = {NULL, L.row0, L.cols, K, NULL};
    tb.block = L.rpb * row_bytes;
    tb.one_block = budget_holding(L.rows * row_bytes);
    tb.cache = &cache;
    if (!st && blocked) {
        size_t avail = trees_avail(&tb), want = L.nrows * L.cols * K * sizeof(float);
        if (want && avail > tb.block && want <= (avail - tb.block) / 2) {
            cache.values = malloc(want);
            cache.have = calloc(n_blocks_here ? n_blocks_here : 1, 1);
            if (cache.values && cache.have) tb.compact = tb.cached = want;
            else {
                free(cache.values);
                free(cache.have);
                cache.values = NULL; /* no cache: read again */
                cache.have = NULL;
            }
        }
    }

    /* pass 0: each band's range, for quantised levels */
    if (!st && blocked && o.quantise_bits) {
        for (size_t b = 0; b < K; b++) {
            lo[b] = INFINITY;
            hi[b] = -INFINITY;
        }
        for (size_t j = 0; j < n_blocks_here && !st; j++) {
            size_t r0 = L.row0 + j * L.rpb, nr = L.nrows - j * L.rpb;
            if (nr > L.rpb) nr = L.rpb;
            if ((st = get_block(rd, pca, &cache, j, r0, nr, &blk, &values))) break;
            for (size_t p = 0; p < nr * L.cols; p++)
                for (size_t b = 0; b < K; b++) {
                    float v = values[p * K + b];
                    if (v < lo[b]) lo[b] = v;
                    if (v > hi[b]) hi[b] = v;
                }
            free_block(blk, values);
            blk = NULL;
            values = NULL;
        }
        st = hsi_mpi_agree(st);
#ifdef HAVE_MPI
        if (!st && L.ranks > 1) {
            MPI_Allreduce(MPI_IN_PLACE, lo, (int)K, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, hi, (int)K, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
        }
#endif
    }

    /* pass 1: boundary trees of this rank's blocks, then the merges */
    size_t boundary_nodes = 0, merged_bytes = 0;
    size_t group = 1;
    for (size_t g0 = 0, g1; !st && blocked && g0 < K; g0 = g1) {
        g1 = g0 + group < K ? g0 + group : K;
        passes++;
        for (size_t j = 0; j < n_blocks_here && !st; j++) {
            size_t r0 = L.row0 + j * L.rpb, nr = L.nrows - j * L.rpb;
            if (nr > L.rpb) nr = L.rpb;
            if ((st = get_block(rd, pca, &cache, j, r0, nr, &blk, &values))) break;
            band_work w1 = {values, nr, L.cols, K, g0, g1, r0, L.rows, j, n_blocks_here, &o, need,
                            lo, hi, blocked, mine, NULL, specs, n_specs, per_input, out_bands, out};
            st = for_each_band(&w1, 1, npix_max);
            free_block(blk, values);
            blk = NULL;
            values = NULL;
            /* a group that outgrows its room (its later bands have larger
             * trees than the bands that sized it) gives up its last half,
             * for the next group; one band that does not fit is refused */
            size_t kept = group_bytes(mine, n_blocks_here, g0, g1, NULL);
            while (!st && g1 - g0 > 1 && !trees_pass1_room(&tb, kept)) {
                size_t mid = g0 + (g1 - g0) / 2;
                free_trees(mine, n_blocks_here, mid, g1);
                g1 = mid;
                kept = group_bytes(mine, n_blocks_here, g0, g1, NULL);
            }
            if (!st && !trees_pass1_room(&tb, kept))
                st = trees_pass1_refuse(&tb, mine, g0, j + 1, n_blocks_here);
        }
        st = hsi_mpi_agree(st);
        /* every rank merges the same bands: the smallest group of any rank */
        size_t g1_all = L.ranks > 1 ? K - agreed_max(K - g1, L.ranks) : g1;
        free_trees(mine, n_blocks_here, g1_all, g1);
        g1 = g1_all;
        /* what this rank holds of the group's boundary trees */
        size_t kept = group_bytes(mine, n_blocks_here, g0, g1, NULL);
        tb.kept_band = size_max(tb.kept_band, kept / (g1 - g0));
        for (size_t b = g0; b < g1 && !st; b++) {
            size_t band_compact = 0;
            for (int k = 0; k < 2 && !st; k++) {
                if (!need[k]) continue;
                hsi_tree_boundary **here = mine + (b * 3 + (size_t)k) * n_blocks_here, **all = NULL;
                size_t n_all = 0, here_bytes = 0, here_nodes = 0;
                for (size_t j = 0; j < n_blocks_here; j++) {
                    if (!here[j]) continue;
                    here_bytes += hsi_tree_boundary_bytes(here[j]);
                    here_nodes += hsi_tree_boundary_nodes(here[j]);
                }
                /* refuse before the merge that would not fit (on every rank) */
                st = trees_fit(&tb, b, k, here_nodes, here_bytes, kept, band_compact);
                st = hsi_mpi_agree(st);
                if (st) break;
                if (L.ranks > 1) {
                    st = hsi_tree_boundary_allgather(here, n_blocks_here, &all, &n_all);
                    for (size_t j = 0; j < n_blocks_here; j++) {
                        hsi_tree_boundary_free(here[j]);
                        here[j] = NULL;
                    }
                } else { /* one rank: the blocks' trees are all of them, no copy */
                    all = here;
                    n_all = n_blocks_here;
                }
                kept -= here_bytes;
                hsi_tree_merged *m = NULL;
                if (!st) st = hsi_tree_merge(all, n_all, o.connectivity, &m);
                for (size_t i = 0; i < n_all; i++) {
                    if (!st) boundary_nodes += hsi_tree_boundary_nodes(all[i]);
                    hsi_tree_boundary_free(all[i]);
                    all[i] = NULL;
                }
                if (all != here) free(all);
                merged[b * 3 + (size_t)k] = m;
                for (size_t s = 0; s < n_specs && !st; s++) {
                    if (!hsi_profile_spec_uses_tree(&specs[s], (hsi_tree_kind)k)) continue;
                    for (size_t t = 0; t < specs[s].n_thresholds && !st; t++)
                        st = hsi_tree_merged_filter(m, s * HSI_PROFILE_MAX_THRESHOLDS + t,
                                                    specs[s].attr, specs[s].thresholds[t], o.rule);
                }
                if (!st) st = hsi_tree_merged_compact(m);
                if (!st) band_compact += hsi_tree_merged_bytes(m);
            }
            st = hsi_mpi_agree(st);
            tb.compact += band_compact;
            if (band_compact > tb.compact_band) tb.compact_band = band_compact;
            tb.bands_done++;
        }
        merged_bytes = tb.compact - tb.cached;
        /* the next group from what this one took (the same on every rank:
         * kept_band is agreed in trees_fit) */
        if (!st) group = trees_group(&tb);
    }

    /* the output, opened by rank 0 with the profile's band names */
#ifdef HAVE_MPI
    int *done = NULL;
    if (!st && L.rank == 0 && L.ranks > 1) {
        done = calloc((size_t)L.ranks, sizeof *done);
        if (!done) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
#endif
    if (!st && L.rank == 0) {
        hsi_cube *row = NULL;
        st = hsi_cube_reader_rows(rd, 0, 1, &row);
        if (!st && pca) st = hsi_preprocess_apply_cube(pca, row, &meta_in);
        else if (!st) {
            meta_in = row;
            row = NULL;
        }
        hsi_cube_free(row);
        if (!st) st = hsi_cube_new_like(meta_in, out_bands, &meta_out);
        if (!st)
            st = hsi_profile_name_bands((const char *const *)meta_in->band_names, K, specs, n_specs,
                                        o.omit_input, meta_out);
        if (!st) st = hsi_cube_writer_open(out_path, fmt, meta_out, L.rows, &w);
    }
    st = hsi_mpi_agree(st);

    /* pass 2: every block's rows of every output band */
    for (size_t j = 0; j < n_blocks_here && !st; j++) {
        size_t r0 = L.row0 + j * L.rpb, nr = L.nrows - j * L.rpb, n;
        if (nr > L.rpb) nr = L.rpb;
        n = nr * L.cols;
        if ((st = get_block(rd, pca, &cache, j, r0, nr, &blk, &values))) break;
        band_work w2 = {values, nr, L.cols, K, 0, K, r0, L.rows, L.first_block + j, 0, &o, need, lo, hi,
                        blocked, NULL, merged, specs, n_specs, per_input, out_bands, out};
        st = for_each_band(&w2, 2, npix_max);
        if (!st && L.rank == 0) hsi_progress_report(f.progress, (double)(j + 1),
                                                    (double)n_blocks_here, NULL);
        free_block(blk, values);
        blk = NULL;
        values = NULL;
        if (st) break;
        if (L.rank == 0) {
            st = hsi_raster_writer_rows(w, r0, nr, out);
#ifdef HAVE_MPI
            if (!st && done) drain(w, L.ranks, done, 0, out, npix_max * out_bands, &st);
#endif
        }
#ifdef HAVE_MPI
        else {
            size_t count = n * out_bands;
            if (count > INT_MAX) {
                st = hsi_error(HSI_ERR_SIZE, "a block of %zu values is too large for one MPI message",
                               count);
                break;
            }
            unsigned long long head[3] = {r0, nr, count};
            MPI_Send(head, 3, MPI_UNSIGNED_LONG_LONG, 0, TAG_HEAD, MPI_COMM_WORLD);
            MPI_Send(out, (int)count, MPI_FLOAT, 0, TAG_DATA, MPI_COMM_WORLD);
        }
#endif
    }
#ifdef HAVE_MPI
    if (L.ranks > 1 && !hsi_mpi_solo_get()) {
        if (L.rank == 0) {
            if (done) {
                /* write the rest (or, after a failure here, just receive it) */
                hsi_status own = st;
                char msg[512];
                snprintf(msg, sizeof msg, "%s", own ? hsi_last_error() : "");
                hsi_status theirs = own ? HSI_ERR_IO : HSI_OK; /* nothing more written */
                drain(w, L.ranks, done, 1, out, npix_max * out_bands, &theirs);
                if (own) st = hsi_error(own, "%s", msg);
                else st = theirs;
            }
        } else if (w == NULL) {
            /* the last message: this rank's status (a failed rank stops here) */
            unsigned long long head[3] = {(unsigned long long)st, 0, 0};
            MPI_Send(head, 3, MPI_UNSIGNED_LONG_LONG, 0, TAG_HEAD, MPI_COMM_WORLD);
        }
    }
    free(done);
#endif
    st = hsi_mpi_agree(st);
    if (w) {
        if (!st) st = hsi_raster_writer_close(w);
        else hsi_raster_writer_abort(w);
        w = NULL;
    }
    st = hsi_mpi_agree(st);
    if (!st && report) {
        report->rows = L.rows;
        report->cols = L.cols;
        report->in_bands = K;
        report->out_bands = out_bands;
        report->blocks = L.n_total;
        report->block_rows = L.rpb;
        report->ranks = (size_t)L.ranks;
        report->boundary_nodes = boundary_nodes;
        report->merged_bytes = merged_bytes;
        report->band_groups = passes;
    }
    if (f.progress && L.rank == 0 && !st) hsi_progress_report(f.progress, 1, 1, NULL);
    if (mine)
        for (size_t i = 0; i < n_blocks_here * n_trees; i++) hsi_tree_boundary_free(mine[i]);
    free(mine);
    if (merged)
        for (size_t i = 0; i < n_trees; i++) hsi_tree_merged_free(merged[i]);
    free(merged);
    free(cache.values);
    free(cache.have);
    free(out);
    free(lo);
    free(hi);
    hsi_cube_free(meta_in);
    hsi_cube_free(meta_out);
    hsi_cube_reader_close(rd);
    return st;
}
