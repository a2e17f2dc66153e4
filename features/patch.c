/* patch.c - patch windows gathered straight from a BIP cube into the CNN's
 * (N, 1, B, S, S) layout, and a tile-by-tile iterator over a whole scene. */
#include "features/patch.h"
#include "features/patch_window.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hsi_status hsi_border_mode_parse(const char *name, hsi_border_mode *mode)
{
    if (!strcmp(name, "zero"))
        *mode = HSI_BORDER_ZERO;
    else if (!strcmp(name, "mirror") || !strcmp(name, "reflect"))
        *mode = HSI_BORDER_MIRROR;
    else if (!strcmp(name, "skip"))
        *mode = HSI_BORDER_SKIP;
    else
        return hsi_error(HSI_ERR_ARG, "unknown border mode '%s' (zero, mirror, skip)", name);
    return HSI_OK;
}

static int inside(size_t rows, size_t cols, size_t row, size_t col, int radius)
{
    size_t r = (size_t)radius;
    return row >= r && col >= r && row + r < rows && col + r < cols;
}

int hsi_patch_inside(const hsi_cube *cube, size_t row, size_t col, int radius)
{
    return radius >= 0 && inside(cube->rows, cube->cols, row, col, radius);
}

hsi_status hsi_patch_check_radius(size_t rows, size_t cols, int radius)
{
    if (radius < 0) return hsi_error(HSI_ERR_ARG, "patch radius %d is negative", radius);
    size_t s = 2 * (size_t)radius + 1;
    if (s > rows || s > cols)
        return hsi_error(HSI_ERR_SIZE,
                         "patch radius %d (window %zu x %zu) is larger than the scene (%zu x %zu)",
                         radius, s, s, rows, cols);
    return HSI_OK;
}

/* A band of scene rows held in memory: rows [first, first + count) of a
 * scene of scene_rows x cols x bands, BIP. */
typedef struct row_band {
    const float *data;
    size_t first, count;
    size_t scene_rows, cols, bands;
} row_band;

/* Gather the window around (row, col) into out[(b * S + y) * S + x] by the
 * rule of features/patch_window.h. The band must hold rows row - r ..
 * row + r (clipped to the scene). */
static void gather_one(const row_band *v, size_t row, size_t col, int radius,
                       hsi_border_mode mode, float *out)
{
    size_t S = 2 * (size_t)radius + 1, B = v->bands, plane = S * S;
    int mirror = mode == HSI_BORDER_MIRROR;
    for (size_t y = 0; y < S; y++)
        for (size_t x = 0; x < S; x++) {
            long p = hsi_window_pixel((long)row, (long)col, (long)y, (long)x, radius,
                                      (long)v->scene_rows, (long)v->cols, (long)v->first, mirror);
            float *dst = out + y * S + x;
            if (p < 0) {
                for (size_t b = 0; b < B; b++) dst[b * plane] = 0.0f;
                continue;
            }
            /* Spectrum of the source pixel: contiguous in the BIP band;
             * scattered with stride S*S into the band planes of the patch. */
            const float *src = v->data + (size_t)p * B;
            for (size_t b = 0; b < B; b++) dst[b * plane] = src[b];
        }
}

hsi_status hsi_patch_gather(const hsi_cube *cube, const hsi_pixel *pixels, size_t n, int radius,
                            hsi_border_mode mode, float *out)
{
    hsi_status st = hsi_patch_check_radius(cube->rows, cube->cols, radius);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        if (pixels[i].row >= cube->rows || pixels[i].col >= cube->cols)
            return hsi_error(HSI_ERR_ARG, "pixel %zu (row %u, column %u) is outside the %zu x %zu scene",
                             i, pixels[i].row + 1, pixels[i].col + 1, cube->rows, cube->cols);
        if (mode == HSI_BORDER_SKIP && !inside(cube->rows, cube->cols, pixels[i].row, pixels[i].col, radius))
            return hsi_error(HSI_ERR_ARG,
                             "pixel (row %u, column %u) lies within %d pixels of the scene edge: "
                             "its window leaves the scene, which the skip border mode does not allow",
                             pixels[i].row + 1, pixels[i].col + 1, radius);
    }
    row_band band = {cube->data, 0, cube->rows, cube->rows, cube->cols, cube->bands};
    size_t S = 2 * (size_t)radius + 1, per = cube->bands * S * S;
    for (size_t i = 0; i < n; i++)
        gather_one(&band, pixels[i].row, pixels[i].col, radius, mode, out + i * per);
    return HSI_OK;
}

hsi_status hsi_patch_gather_band(const hsi_cube *band, size_t first, size_t scene_rows,
                                 const hsi_pixel *pixels, size_t n, int radius,
                                 hsi_border_mode mode, float *out)
{
    hsi_status st = hsi_patch_check_radius(scene_rows, band->cols, radius);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        size_t r = pixels[i].row;
        /* Rows the window reads, mirrored ones included: r - radius .. r +
         * radius clipped to the scene (a reflection lands inside that range). */
        size_t lo = r >= (size_t)radius ? r - (size_t)radius : 0;
        size_t hi = r + (size_t)radius < scene_rows ? r + (size_t)radius : scene_rows - 1;
        if (r >= scene_rows || pixels[i].col >= band->cols || lo < first || hi >= first + band->rows)
            return hsi_error(HSI_ERR_ARG, "pixel (row %u, column %u): its window is not in rows %zu..%zu",
                             pixels[i].row + 1, pixels[i].col + 1, first + 1, first + band->rows);
        if (mode == HSI_BORDER_SKIP && !inside(scene_rows, band->cols, r, pixels[i].col, radius))
            return hsi_error(HSI_ERR_ARG,
                             "pixel (row %u, column %u) lies within %d pixels of the scene edge: "
                             "its window leaves the scene, which the skip border mode does not allow",
                             pixels[i].row + 1, pixels[i].col + 1, radius);
    }
    hsi_patch_gather_rows_unchecked(band->data, first, band->rows, scene_rows, band->cols,
                                    band->bands, pixels, n, radius, mode, out);
    return HSI_OK;
}

void hsi_patch_gather_rows_unchecked(const float *data, size_t first, size_t count,
                                     size_t scene_rows, size_t cols, size_t bands,
                                     const hsi_pixel *pixels, size_t n, int radius,
                                     hsi_border_mode mode, float *out)
{
    row_band v = {data, first, count, scene_rows, cols, bands};
    size_t S = 2 * (size_t)radius + 1, per = bands * S * S;
    for (size_t i = 0; i < n; i++)
        gather_one(&v, pixels[i].row, pixels[i].col, radius, mode, out + i * per);
}

/* ------------------------------------------------------------ iterator */

struct hsi_patch_iter {
    const hsi_cube *cube;   /* in-memory source, or NULL */
    hsi_read_rows_fn read_rows; /* windowed source, or NULL */
    void *read_ctx;
    hsi_cube *tile;         /* reader: rows [tile_first, tile_first + tile->rows) */
    size_t tile_first;
    size_t tile_rows;       /* output rows per tile (reader) */
    size_t tile_end;        /* first output row not covered by the loaded tile */
    size_t rows, cols, bands;
    int radius;
    hsi_border_mode mode;
    size_t batch;
    size_t row, col;        /* next pixel to visit */
    const uint8_t *mask;    /* rows x cols: visit where nonzero (NULL: all) */
    size_t total;
    float *patches;         /* [batch * bands * S * S] */
    hsi_pixel *pixels;      /* [batch] */
    int pixels_only;        /* hand out pixels, not windows; a batch stays in one tile */
    unsigned tile_serial;   /* counts the tiles loaded */
    int prefetch;           /* read the next tile on a second thread */
    struct tile_read {      /* that read: rows [first, last) for output row `row` */
        pthread_t thread;
        int running;
        const struct hsi_patch_iter *it;
        size_t row, first, last;
        hsi_cube *tile;
        hsi_status st;
        char msg[HSI_ERROR_MAX];
    } next;
};

static hsi_status iter_new(size_t rows, size_t cols, size_t bands, int radius,
                           hsi_border_mode mode, size_t batch, hsi_patch_iter **out)
{
    *out = NULL;
    hsi_status st = hsi_patch_check_radius(rows, cols, radius);
    if (st) return st;
    if (batch == 0) return hsi_error(HSI_ERR_ARG, "patch batch size must be at least 1");
    hsi_patch_iter *it = calloc(1, sizeof *it);
    if (!it) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    size_t S = 2 * (size_t)radius + 1;
    it->rows = rows;
    it->cols = cols;
    it->bands = bands;
    it->radius = radius;
    it->mode = mode;
    it->batch = batch;
    it->patches = malloc(batch * bands * S * S * sizeof(float));
    it->pixels = malloc(batch * sizeof *it->pixels);
    if (!it->patches || !it->pixels) {
        hsi_patch_iter_free(it);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a batch of %zu patches of %zu x %zu x %zu",
                         batch, S, S, bands);
    }
    size_t r = (size_t)radius;
    if (mode == HSI_BORDER_SKIP) {
        it->total = (rows - 2 * r) * (cols - 2 * r);
        it->row = r;
        it->col = r;
    } else {
        it->total = rows * cols;
    }
    *out = it;
    return HSI_OK;
}

hsi_status hsi_patch_iter_open_cube(const hsi_cube *cube, int radius, hsi_border_mode mode,
                                    size_t batch, hsi_patch_iter **out)
{
    hsi_status st = iter_new(cube->rows, cube->cols, cube->bands, radius, mode, batch, out);
    if (st) return st;
    (*out)->cube = cube;
    (*out)->tile_end = cube->rows;
    return HSI_OK;
}

hsi_status hsi_patch_iter_open_rows(hsi_read_rows_fn read_rows, void *ctx, size_t rows,
                                    size_t cols, size_t bands, int radius, hsi_border_mode mode,
                                    size_t batch, size_t tile_rows, hsi_patch_iter **out)
{
    hsi_status st = iter_new(rows, cols, bands, radius, mode, batch, out);
    if (st) return st;
    hsi_patch_iter *it = *out;
    it->read_rows = read_rows;
    it->read_ctx = ctx;
    if (tile_rows == 0) {
        size_t row_bytes = cols * bands * sizeof(float);
        tile_rows = ((size_t)64 << 20) / (row_bytes ? row_bytes : 1);
    }
    if (tile_rows < 2 * (size_t)radius + 1) tile_rows = 2 * (size_t)radius + 1;
    if (tile_rows > rows) tile_rows = rows;
    it->tile_rows = tile_rows;
    it->tile_end = 0; /* nothing loaded */
    return HSI_OK;
}

static hsi_status reader_rows(void *ctx, size_t row0, size_t nrows, hsi_cube **block)
{
    return hsi_cube_reader_rows(ctx, row0, nrows, block);
}

hsi_status hsi_patch_iter_open_reader(hsi_cube_reader *reader, int radius, hsi_border_mode mode,
                                      size_t batch, size_t tile_rows, hsi_patch_iter **out)
{
    size_t rows, cols, bands;
    hsi_cube_reader_shape(reader, &rows, &cols, &bands);
    return hsi_patch_iter_open_rows(reader_rows, reader, rows, cols, bands, radius, mode, batch,
                                    tile_rows, out);
}

/* The rows a tile of output rows [row, row + tile_rows) needs, halo
 * included: [*first, *last); *end is its first output row past the tile. */
static void tile_span(const hsi_patch_iter *it, size_t row, size_t *first, size_t *last,
                      size_t *end)
{
    size_t r = (size_t)it->radius;
    *end = row + it->tile_rows;
    if (*end > it->rows) *end = it->rows;
    *first = row > r ? row - r : 0;
    *last = *end + r < it->rows ? *end + r : it->rows;
}

static hsi_status read_tile(const hsi_patch_iter *it, size_t first, size_t last,
                            hsi_cube **tile)
{
    *tile = NULL;
    hsi_status st = it->read_rows(it->read_ctx, first, last - first, tile);
    if (st) return st;
    if ((*tile)->rows != last - first || (*tile)->cols != it->cols || (*tile)->bands != it->bands) {
        st = hsi_error(HSI_ERR_SIZE, "reader returned a %zu x %zu x %zu block for rows %zu..%zu",
                       (*tile)->rows, (*tile)->cols, (*tile)->bands, first + 1, last);
        hsi_cube_free(*tile);
        *tile = NULL;
    }
    return st;
}

/* The prefetch thread: one read_tile; its message is thread-local, so it
 * is kept for the caller's thread. */
static void *tile_read_main(void *arg)
{
    struct tile_read *t = arg;
    t->st = read_tile(t->it, t->first, t->last, &t->tile);
    if (t->st) snprintf(t->msg, sizeof t->msg, "%s", hsi_last_error());
    return NULL;
}

/* The first row at or after `row` with a pixel to visit (rows: none). */
static size_t next_visited_row(const hsi_patch_iter *it, size_t row)
{
    size_t r = it->mode == HSI_BORDER_SKIP ? (size_t)it->radius : 0;
    for (; row < it->rows - r; row++) {
        if (!it->mask) return row;
        for (size_t c = r; c < it->cols - r; c++)
            if (it->mask[row * it->cols + c]) return row;
    }
    return it->rows;
}

/* Wait for the prefetch thread; its tile if it read the one for `row`
 * (else dropped), and its status. */
static hsi_status join_next(hsi_patch_iter *it, size_t row, hsi_cube **tile)
{
    *tile = NULL;
    if (!it->next.running) return HSI_OK;
    pthread_join(it->next.thread, NULL);
    it->next.running = 0;
    hsi_status st = it->next.st;
    if (it->next.row == row && !st) *tile = it->next.tile;
    else hsi_cube_free(it->next.tile);
    it->next.tile = NULL;
    if (it->next.row != row) return HSI_OK; /* a tile not needed: its failure neither */
    return st ? hsi_error(st, "%s", it->next.msg) : HSI_OK;
}

/* Load the rows needed for output rows [row, row + tile_rows) plus halo:
 * read now, or taken from the prefetch thread, which then starts on the
 * next tile that has a pixel to visit (two tiles are held meanwhile). */
static hsi_status load_tile(hsi_patch_iter *it, size_t row)
{
    size_t first, last, end;
    tile_span(it, row, &first, &last, &end);
    hsi_cube *tile = NULL;
    hsi_status st = join_next(it, row, &tile);
    if (st) return st;
    if (!tile) {
        hsi_cube_free(it->tile); /* one tile at a time */
        it->tile = NULL;
        if ((st = read_tile(it, first, last, &tile))) return st;
    }
    hsi_cube_free(it->tile);
    it->tile = tile;
    it->tile_first = first;
    it->tile_end = end;
    it->tile_serial++;
    size_t next = it->prefetch ? next_visited_row(it, end) : it->rows;
    if (next < it->rows) {
        struct tile_read *t = &it->next;
        t->it = it;
        t->row = next;
        t->tile = NULL;
        t->st = HSI_OK;
        size_t next_end;
        tile_span(it, next, &t->first, &t->last, &next_end);
        /* No thread (resources): the next tile is read when it is needed. */
        t->running = pthread_create(&t->thread, NULL, tile_read_main, t) == 0;
    }
    return HSI_OK;
}

/* Move the cursor to the next pixel in row-major order (inside pixels only
 * under the skip mode); past the last row when the scene is done. */
static void advance(hsi_patch_iter *it)
{
    size_t r = it->mode == HSI_BORDER_SKIP ? (size_t)it->radius : 0;
    if (++it->col >= it->cols - r) {
        it->col = r;
        it->row++;
    }
}

hsi_status hsi_patch_iter_next(hsi_patch_iter *it, const float **patches,
                               const hsi_pixel **pixels, size_t *n)
{
    size_t r = it->mode == HSI_BORDER_SKIP ? (size_t)it->radius : 0;
    size_t S = 2 * (size_t)it->radius + 1, per = it->bands * S * S;
    size_t k = 0;
    *n = 0;
    *patches = it->pixels_only ? NULL : it->patches;
    *pixels = it->pixels;
    while (k < it->batch && it->row < it->rows - r) {
        if (it->mask && !it->mask[it->row * it->cols + it->col]) {
            advance(it); /* before any tile is read for it */
            continue;
        }
        if (it->read_rows && it->row >= it->tile_end) {
            if (it->pixels_only && k > 0) break; /* the batch keeps its tile */
            hsi_status st = load_tile(it, it->row);
            if (st) return st;
        }
        if (it->pixels_only) {
            it->pixels[k].row = (uint32_t)it->row;
            it->pixels[k].col = (uint32_t)it->col;
            k++;
            advance(it);
            continue;
        }
        row_band band;
        if (it->read_rows)
            band = (row_band){it->tile->data, it->tile_first, it->tile->rows, it->rows, it->cols,
                              it->bands};
        else
            band = (row_band){it->cube->data, 0, it->rows, it->rows, it->cols, it->bands};
        gather_one(&band, it->row, it->col, it->radius, it->mode, it->patches + k * per);
        it->pixels[k].row = (uint32_t)it->row;
        it->pixels[k].col = (uint32_t)it->col;
        k++;
        advance(it);
    }
    *n = k;
    return HSI_OK;
}

void hsi_patch_iter_set_mask(hsi_patch_iter *it, const uint8_t *mask)
{
    size_t r = it->mode == HSI_BORDER_SKIP ? (size_t)it->radius : 0, total = 0;
    it->mask = mask;
    for (size_t row = r; row < it->rows - r; row++)
        for (size_t col = r; col < it->cols - r; col++) total += mask[row * it->cols + col] != 0;
    it->total = total;
}

size_t hsi_patch_iter_total(const hsi_patch_iter *it) { return it->total; }

void hsi_patch_iter_set_pixels_only(hsi_patch_iter *it, int on) { it->pixels_only = on != 0; }

void hsi_patch_iter_set_prefetch(hsi_patch_iter *it, int on) { it->prefetch = on != 0; }

const float *hsi_patch_iter_tile(const hsi_patch_iter *it, size_t *first, size_t *count,
                                 unsigned *serial)
{
    if (!it->read_rows) { /* an in-memory cube: one tile, the whole scene */
        *first = 0, *count = it->rows, *serial = 1;
        return it->cube->data;
    }
    *first = it->tile_first;
    *count = it->tile ? it->tile->rows : 0;
    *serial = it->tile_serial;
    return it->tile ? it->tile->data : NULL;
}

size_t hsi_patch_iter_memory(const hsi_patch_iter *it)
{
    size_t S = 2 * (size_t)it->radius + 1;
    size_t held = it->batch * it->bands * S * S;
    if (it->read_rows)
        held += (it->prefetch ? 2 : 1) * (it->tile_rows + 2 * (size_t)it->radius) * it->cols *
                it->bands;
    return held;
}

void hsi_patch_iter_free(hsi_patch_iter *it)
{
    if (!it) return;
    hsi_cube *unused = NULL;
    join_next(it, it->rows, &unused); /* a read under way: wait, drop it */
    hsi_cube_free(unused);
    hsi_cube_free(it->tile);
    free(it->patches);
    free(it->pixels);
    free(it);
}
