/* patch_rows.c - the rows patch-based training needs (see the header). */
#include "features/patch_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"

void hsi_patch_rows_free(hsi_patch_rows *pr)
{
    if (!pr) return;
    for (size_t i = 0; i < pr->n_runs; i++) hsi_cube_free(pr->runs[i].rows);
    free(pr->runs);
    free(pr->pixels);
    free(pr->patches);
    free(pr);
}

/* keep[r] = 1 for the rows within radius of a row with a labelled pixel;
 * a run shorter than the window (at a scene edge) is widened to 2r + 1 rows
 * (or the scene), which hsi_patch_check_radius asks of every source. */
static void mark_rows(const hsi_labels *const *masks, size_t n_masks, size_t rows, size_t cols,
                      int radius, unsigned char *keep)
{
    size_t R = (size_t)radius;
    for (size_t m = 0; m < n_masks; m++) {
        if (!masks[m]) continue;
        for (size_t r = 0; r < rows; r++) {
            const uint16_t *row = masks[m]->data + r * cols;
            size_t c = 0;
            while (c < cols && !row[c]) c++;
            if (c == cols) continue;
            size_t lo = r >= R ? r - R : 0, hi = r + R < rows ? r + R : rows - 1;
            memset(keep + lo, 1, hi - lo + 1);
        }
    }
}

/* PCA through sgemm rounds according to how the spectra are blocked (see
 * HSI_PREPROCESS_APPLY_BLOCK): transform the blocks of 4096 pixels the
 * whole-cube transform makes, counted from the scene's first pixel, and keep
 * the run's part of each. Memory: the rows covering a block, raw, and its
 * transform. */
static size_t pca_chunk_bytes(const hsi_preprocess *pre, size_t cols)
{
    size_t C = HSI_PREPROCESS_APPLY_BLOCK, rows_needed = C / cols + 2;
    return rows_needed * cols * pre->in_dim * sizeof(float) + C * pre->out_dim * sizeof(float);
}

static hsi_status load_run_pca(hsi_cube_reader *rd, const hsi_preprocess *pre, hsi_patch_run *run,
                               size_t cols, size_t bands)
{
    size_t C = HSI_PREPROCESS_APPLY_BLOCK, k = pre->out_dim;
    size_t scene_rows, c2, b2;
    hsi_cube_reader_shape(rd, &scene_rows, &c2, &b2);
    size_t p_start = run->first * cols, p_end = (run->first + run->count) * cols;
    size_t total = scene_rows * cols;
    float *y = malloc(C * k * sizeof *y);
    if (!y) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_status st = HSI_OK;
    for (size_t c0 = p_start / C * C; c0 < p_end && !st; c0 += C) {
        size_t c1 = c0 + C < total ? c0 + C : total;
        size_t ra = c0 / cols, rb = (c1 - 1) / cols;
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, ra, rb - ra + 1, &b))) break;
        st = hsi_preprocess_apply(pre, b->data + (c0 - ra * cols) * bands, c1 - c0, y);
        size_t lo = c0 > p_start ? c0 : p_start, hi = c1 < p_end ? c1 : p_end;
        if (!st)
            memcpy(run->rows->data + (lo - p_start) * k, y + (lo - c0) * k, (hi - lo) * k * sizeof *y);
        hsi_cube_free(b);
    }
    free(y);
    return st;
}

/* Rows [run->first, + run->count) into run->rows (allocated here),
 * preprocessed, reading `block` rows at a time. */
static hsi_status load_run(hsi_cube_reader *rd, const hsi_preprocess *pre, hsi_patch_run *run,
                           size_t cols, size_t bands, size_t block)
{
    size_t n = run->count, out_bands = pre ? pre->out_dim : bands;
    hsi_status st = hsi_cube_new(n, cols, out_bands, &run->rows);
    if (st) return st;
    if (pre && pre->kind == HSI_PREPROCESS_PCA) return load_run_pca(rd, pre, run, cols, bands);
    for (size_t k = 0; k < n && !st; k += block) {
        size_t m = n - k < block ? n - k : block;
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(rd, run->first + k, m, &b))) break;
        float *dst = run->rows->data + k * cols * out_bands;
        if (pre)
            st = hsi_preprocess_apply(pre, b->data, m * cols, dst);
        else
            memcpy(dst, b->data, m * cols * bands * sizeof(float));
        hsi_cube_free(b);
    }
    return st;
}

static int window_inside(size_t rows, size_t cols, size_t r, size_t c, size_t R)
{
    return r >= R && c >= R && r + R < rows && c + R < cols;
}

/* The patches form: the labelled pixels (those the border mode can use),
 * row-major, and their windows, gathered from blocks of `block` rows of
 * each run with the window's margin of rows above and below. */
static hsi_status load_patches(hsi_cube_reader *rd, const hsi_preprocess *pre, hsi_patch_rows *pr,
                               const uint8_t *any, size_t n, size_t block)
{
    size_t rows = pr->shape.rows, cols = pr->shape.cols, bands;
    size_t r2, c2;
    hsi_cube_reader_shape(rd, &r2, &c2, &bands);
    size_t R = (size_t)pr->radius, S = 2 * R + 1, per = pr->shape.bands * S * S;
    pr->pixels = malloc((n + 1) * sizeof *pr->pixels);
    pr->patches = malloc((n * per + 1) * sizeof *pr->patches);
    if (!pr->pixels || !pr->patches) return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu patches", n);
    size_t k = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            if (any[r * cols + c]) pr->pixels[k++] = (hsi_pixel){(uint32_t)r, (uint32_t)c};
    pr->n_patches = k;
    hsi_status st = HSI_OK;
    size_t j = 0; /* the first pixel not gathered yet */
    for (size_t i = 0; i < pr->n_runs && !st && j < k; i++) {
        size_t first = pr->runs[i].first, end = first + pr->runs[i].count;
        for (size_t a = first; a < end && !st && j < k; a += block) {
            size_t b = end - a < block ? end - a : block, j1 = j;
            b += a; /* core rows [a, b) */
            while (j1 < k && pr->pixels[j1].row < b) j1++;
            if (j1 == j) continue;
            size_t lo = a >= first + R ? a - R : first, hi = b + R < end ? b + R : end;
            hsi_patch_run win = {lo, hi - lo, NULL};
            if (!(st = load_run(rd, pre, &win, cols, bands, block)))
                st = hsi_patch_gather_band(win.rows, lo, rows, pr->pixels + j, j1 - j, pr->radius,
                                           pr->mode, pr->patches + j * per);
            hsi_cube_free(win.rows);
            j = j1;
        }
    }
    /* The runs were only the map of where to read. */
    for (size_t i = 0; i < pr->n_runs; i++) hsi_cube_free(pr->runs[i].rows);
    free(pr->runs);
    pr->runs = NULL;
    pr->n_runs = 0;
    return st;
}

hsi_status hsi_patch_rows_load(const char *path, const hsi_read_options *ro,
                               const hsi_preprocess *pre, const hsi_labels *const *masks,
                               size_t n_masks, int radius, hsi_border_mode mode,
                               hsi_patch_store store, size_t budget, const char *what,
                               hsi_patch_rows **out)
{
    *out = NULL;
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, ro, &rd);
    if (st) return st;
    size_t rows, cols, bands;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    size_t out_bands = pre ? pre->out_dim : bands;
    unsigned char *keep = NULL;
    uint8_t *any = NULL; /* rows x cols: a pixel of some mask whose window is used */
    hsi_patch_rows *pr = calloc(1, sizeof *pr);
    if (!pr || !(keep = calloc(rows, 1)) || !(any = calloc(rows * cols, 1))) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (pre && pre->in_dim != bands) {
        st = hsi_error(HSI_ERR_SIZE, "%s: %zu bands, the preprocessing expects %zu", path, bands,
                       pre->in_dim);
        goto done;
    }
    if ((st = hsi_patch_check_radius(rows, cols, radius))) goto done;
    for (size_t m = 0; m < n_masks && !st; m++)
        if (masks[m]) st = hsi_labels_check_size(masks[m], rows, cols, what);
    if (st) goto done;
    pr->shape.rows = rows;
    pr->shape.cols = cols;
    pr->shape.bands = out_bands;
    pr->radius = radius;
    pr->mode = mode;
    mark_rows(masks, n_masks, rows, cols, radius, keep);
    size_t n_px = 0;
    for (size_t m = 0; m < n_masks; m++)
        for (size_t i = 0; masks[m] && i < rows * cols; i++)
            if (masks[m]->data[i] && !any[i] &&
                (mode != HSI_BORDER_SKIP || window_inside(rows, cols, i / cols, i % cols, (size_t)radius)))
                any[i] = 1, n_px++;

    /* Runs of kept rows, each at least 2r + 1 rows (or the scene). */
    size_t S = 2 * (size_t)radius + 1, kept = 0;
    for (size_t r = 0; r < rows;) {
        if (!keep[r]) {
            r++;
            continue;
        }
        size_t a = r, b = r;
        while (b < rows && keep[b]) b++;
        if (b - a < S) { /* widen, downwards first, within the scene */
            b = a + S <= rows ? a + S : rows;
            if (b - a < S) a = b >= S ? b - S : 0;
            for (size_t k = a; k < b; k++) keep[k] = 1;
            while (b < rows && keep[b]) b++; /* may now touch the next run */
        }
        hsi_patch_run *grown = realloc(pr->runs, (pr->n_runs + 1) * sizeof *grown);
        if (!grown) {
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            goto done;
        }
        pr->runs = grown;
        /* A widened run can reach back into the previous one: merge. */
        if (pr->n_runs && a <= pr->runs[pr->n_runs - 1].first + pr->runs[pr->n_runs - 1].count) {
            hsi_patch_run *last = &pr->runs[pr->n_runs - 1];
            kept -= last->count;
            a = last->first;
            pr->n_runs--;
        }
        pr->runs[pr->n_runs] = (hsi_patch_run){a, b - a, NULL};
        pr->n_runs++;
        kept += b - a;
        r = b;
    }
    pr->rows_kept = kept;

    /* The smaller form must fit, beside GDAL's cache and one row block
     * (raw, and its preprocessed copy; for patches, with the windows'
     * margin of rows). */
    size_t fixed = hsi_io_cache_budget(budget);
    size_t row_raw = cols * bands * sizeof(float), row_out = cols * out_bands * sizeof(float);
    size_t per = out_bands * S * S;
    size_t need_rows = kept * row_out;
    size_t need_patches = n_px * (per * sizeof(float) + sizeof(hsi_pixel));
    if (store == HSI_PATCH_STORE_AUTO)
        store = need_patches < need_rows ? HSI_PATCH_STORE_PATCHES : HSI_PATCH_STORE_ROWS;
    pr->store = store;
    int patches = store == HSI_PATCH_STORE_PATCHES;
    size_t need = patches ? need_patches : need_rows;
    size_t row_cost = patches ? row_raw + row_out : row_raw;
    size_t margin = patches ? (S - 1) * row_out : 0;
    pr->bytes = need;
    char desc[240];
    if (patches)
        snprintf(desc, sizeof desc, "the patches of %s (%zu windows of %zu x %zu x %zu values)", what,
                 n_px, S, S, out_bands);
    else
        snprintf(desc, sizeof desc,
                 "the rows around %s (%zu rows of %zu x %zu values, the patch margin of %d rows included)",
                 what, kept, cols, out_bands, radius);
    if ((st = hsi_memory_check(budget, fixed + margin + row_cost, need, desc))) goto done;
    /* PCA reads blocks of 4096 pixels of its own (load_run_pca) in place of
     * the raw rows: with patches, beside the window being filled. */
    size_t pca = pre && pre->kind == HSI_PREPROCESS_PCA ? pca_chunk_bytes(pre, cols) : 0;
    if (pca && (st = hsi_memory_check(budget, fixed + need + margin, pca,
                                      "a block of the PCA transform (4096 pixels)")))
        goto done;
    if (pca && patches) row_cost = row_out;
    size_t block;
    if ((st = hsi_memory_rows_per_block(budget, fixed + need + margin + (patches ? pca : 0), row_cost,
                                        1, rows,
                                        patches ? "a row of the scene (besides the patches)"
                                                : "a row of the scene (besides the rows kept)",
                                        &block)))
        goto done;

    if (patches) {
        st = load_patches(rd, pre, pr, any, n_px, block);
        goto done;
    }
    for (size_t i = 0; i < pr->n_runs && !st; i++)
        st = load_run(rd, pre, &pr->runs[i], cols, bands, block);
done:
    free(keep);
    free(any);
    hsi_cube_reader_close(rd);
    if (st) {
        hsi_patch_rows_free(pr);
        return st;
    }
    *out = pr;
    return HSI_OK;
}

/* The run whose rows hold `row`, or NULL. */
static const hsi_patch_run *run_of(const hsi_patch_rows *pr, size_t row)
{
    size_t lo = 0, hi = pr->n_runs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pr->runs[mid].first + pr->runs[mid].count <= row) lo = mid + 1;
        else hi = mid;
    }
    if (lo < pr->n_runs && pr->runs[lo].first <= row) return &pr->runs[lo];
    return NULL;
}

/* The index of `p` in the patches form, or n_patches. */
static size_t patch_index(const hsi_patch_rows *pr, hsi_pixel p)
{
    size_t lo = 0, hi = pr->n_patches;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const hsi_pixel q = pr->pixels[mid];
        if (q.row < p.row || (q.row == p.row && q.col < p.col)) lo = mid + 1;
        else hi = mid;
    }
    return lo < pr->n_patches && pr->pixels[lo].row == p.row && pr->pixels[lo].col == p.col
               ? lo
               : pr->n_patches;
}

hsi_status hsi_patch_rows_gather(const hsi_patch_rows *pr, const hsi_pixel *pixels, size_t n,
                                 hsi_border_mode mode, float *out)
{
    size_t S = 2 * (size_t)pr->radius + 1, per = pr->shape.bands * S * S;
    if (pr->store == HSI_PATCH_STORE_PATCHES) {
        if (mode != pr->mode)
            return hsi_error(HSI_ERR_ARG, "the patches were gathered with another border mode");
        for (size_t i = 0; i < n; i++) {
            size_t k = patch_index(pr, pixels[i]);
            if (k == pr->n_patches)
                return hsi_error(HSI_ERR_ARG, "pixel (row %u, column %u) is not among the patches kept",
                                 pixels[i].row + 1, pixels[i].col + 1);
            memcpy(out + i * per, pr->patches + k * per, per * sizeof *out);
        }
        return HSI_OK;
    }
    /* Consecutive pixels of one run go in one call. */
    for (size_t i = 0; i < n;) {
        const hsi_patch_run *run = run_of(pr, pixels[i].row);
        if (!run)
            return hsi_error(HSI_ERR_ARG, "pixel (row %u, column %u) is not among the rows kept",
                             pixels[i].row + 1, pixels[i].col + 1);
        size_t j = i + 1;
        while (j < n && pixels[j].row >= run->first && pixels[j].row < run->first + run->count) j++;
        hsi_status st = hsi_patch_gather_band(run->rows, run->first, pr->shape.rows, pixels + i,
                                              j - i, pr->radius, mode, out + i * per);
        if (st) return st;
        i = j;
    }
    return HSI_OK;
}
