/* test_eval_patch.c - patch gathers against direct indexing of the cube on
 * every border mode, the streaming iterator against the gather (in memory
 * and tile by tile with bounded memory), bad radii and pixels. */
#include "base/cube.h"
#include "features/patch.h"
#include "io/io.h"
#include "tests/check.h"

#define ROWS 11
#define COLS 13
#define BANDS 5

/* Every value tells where it came from: row * 10000 + col * 100 + band. */
static hsi_cube *make_cube(void)
{
    hsi_cube *c = NULL;
    if (hsi_cube_new(ROWS, COLS, BANDS, &c)) return NULL;
    for (size_t r = 0; r < ROWS; r++)
        for (size_t k = 0; k < COLS; k++)
            for (size_t b = 0; b < BANDS; b++)
                hsi_cube_pixel(c, r, k)[b] = (float)(r * 10000 + k * 100 + b);
    return c;
}

/* What the window element (y, x, b) of the patch around (row, col) must be,
 * written from the definition in patch.h rather than from patch.c. */
static float expected(size_t row, size_t col, int radius, hsi_border_mode mode, size_t y, size_t x,
                      size_t b)
{
    long sr = (long)row + (long)y - radius, sc = (long)col + (long)x - radius;
    if (mode == HSI_BORDER_MIRROR) {
        /* Reflect without repeating the edge: -1 -> 1, n -> n - 2. */
        if (sr < 0) sr = -sr;
        if (sr > ROWS - 1) sr = 2 * (ROWS - 1) - sr;
        if (sc < 0) sc = -sc;
        if (sc > COLS - 1) sc = 2 * (COLS - 1) - sc;
    } else if (sr < 0 || sr >= ROWS || sc < 0 || sc >= COLS) {
        return 0.0f;
    }
    return (float)(sr * 10000 + sc * 100 + (long)b);
}

static int patch_matches(const float *p, size_t row, size_t col, int radius, hsi_border_mode mode)
{
    size_t S = 2 * (size_t)radius + 1;
    for (size_t b = 0; b < BANDS; b++)
        for (size_t y = 0; y < S; y++)
            for (size_t x = 0; x < S; x++)
                if (p[(b * S + y) * S + x] != expected(row, col, radius, mode, y, x, b)) return 0;
    return 1;
}

static void test_gather(const hsi_cube *cube)
{
    hsi_border_mode modes[3] = {HSI_BORDER_ZERO, HSI_BORDER_MIRROR, HSI_BORDER_SKIP};
    for (int radius = 0; radius <= 5; radius++) {
        size_t S = 2 * (size_t)radius + 1, per = BANDS * S * S;
        for (int mi = 0; mi < 3; mi++) {
            /* Every pixel of the scene (corners and edges included), gathered
             * in one batch; skip mode gets the inside ones only. */
            hsi_pixel px[ROWS * COLS];
            size_t n = 0;
            for (uint32_t r = 0; r < ROWS; r++)
                for (uint32_t c = 0; c < COLS; c++)
                    if (modes[mi] != HSI_BORDER_SKIP || hsi_patch_inside(cube, r, c, radius))
                        px[n++] = (hsi_pixel){r, c};
            float *out = malloc(n * per * sizeof(float));
            CHECK_OK(hsi_patch_gather(cube, px, n, radius, modes[mi], out));
            size_t bad = 0;
            for (size_t i = 0; i < n; i++)
                if (!patch_matches(out + i * per, px[i].row, px[i].col, radius, modes[mi])) bad++;
            CHECK_MSG(bad == 0, "radius %d mode %d: %zu of %zu patches differ", radius, mi, bad, n);
            if (modes[mi] == HSI_BORDER_SKIP)
                CHECK_INT_EQ(n, (ROWS - 2 * radius) * (COLS - 2 * radius));
            free(out);
        }
    }
    /* The layout itself: patch 1, band 2, y 0, x 1 of radius 1 around (5, 6)
     * is cube(4, 6, 2). */
    hsi_pixel two[2] = {{0, 0}, {5, 6}};
    float out[2 * BANDS * 9];
    CHECK_OK(hsi_patch_gather(cube, two, 2, 1, HSI_BORDER_ZERO, out));
    CHECK(out[((1 * BANDS + 2) * 3 + 0) * 3 + 1] == 40602.0f);
    CHECK(out[((0 * BANDS + 0) * 3 + 0) * 3 + 0] == 0.0f); /* corner outside */

    /* Bad inputs: radius larger than the scene, border pixel under skip,
     * pixel outside the scene. */
    CHECK_FAILS(hsi_patch_gather(cube, two, 2, 6, HSI_BORDER_ZERO, out), HSI_ERR_SIZE,
                "patch radius 6 (window 13 x 13) is larger than the scene (11 x 13)");
    CHECK_FAILS(hsi_patch_gather(cube, two, 2, 1, HSI_BORDER_SKIP, out), HSI_ERR_ARG,
                "pixel (row 1, column 1) lies within 1 pixels of the scene edge");
    hsi_pixel far = {11, 0};
    CHECK_FAILS(hsi_patch_gather(cube, &far, 1, 1, HSI_BORDER_ZERO, out), HSI_ERR_ARG,
                "outside the 11 x 13 scene");
    hsi_border_mode m;
    CHECK_OK(hsi_border_mode_parse("mirror", &m));
    CHECK(m == HSI_BORDER_MIRROR);
    CHECK_FAILS(hsi_border_mode_parse("wrap", &m), HSI_ERR_ARG, "unknown border mode 'wrap'");
}

/* A row source over the in-memory cube that hands out copies of row blocks
 * (as a windowed file reader would) and records the largest block. */
typedef struct rows_source {
    const hsi_cube *cube;
    size_t max_rows, calls;
    int bad_request;
    size_t last_row0;  /* the last block's first row + 1 (0: none yet) */
    int out_of_order;  /* a block started before the last one */
    long fail_at;      /* a block starting at this row fails (-1: none) */
} rows_source;

static hsi_status read_rows(void *ctx, size_t row0, size_t nrows, hsi_cube **block)
{
    rows_source *s = ctx;
    s->calls++;
    if (s->last_row0 && row0 + 1 < s->last_row0) s->out_of_order = 1;
    s->last_row0 = row0 + 1;
    if (s->fail_at >= 0 && row0 == (size_t)s->fail_at)
        return hsi_error(HSI_ERR_IO, "rows %zu..%zu: simulated read error", row0 + 1, row0 + nrows);
    if (row0 + nrows > s->cube->rows || nrows == 0) s->bad_request = 1;
    if (nrows > s->max_rows) s->max_rows = nrows;
    hsi_status st = hsi_cube_new(nrows, s->cube->cols, s->cube->bands, block);
    if (st) return st;
    memcpy((*block)->data, hsi_cube_pixel(s->cube, row0, 0),
           nrows * s->cube->cols * s->cube->bands * sizeof(float));
    return HSI_OK;
}

/* Drain an iterator; check every patch against the definition, that pixels
 * come in row-major order, each once. Returns pixels seen. */
static size_t drain(hsi_patch_iter *it, int radius, hsi_border_mode mode, size_t batch)
{
    const float *x;
    const hsi_pixel *px;
    size_t n, seen = 0, bad = 0, order_bad = 0;
    size_t S = 2 * (size_t)radius + 1, per = BANDS * S * S;
    long last = -1;
    hsi_status st;
    while (!(st = hsi_patch_iter_next(it, &x, &px, &n)) && n > 0) {
        CHECK(n <= batch);
        for (size_t i = 0; i < n; i++) {
            long idx = (long)px[i].row * COLS + px[i].col;
            if (idx <= last) order_bad++;
            last = idx;
            if (!patch_matches(x + i * per, px[i].row, px[i].col, radius, mode)) bad++;
        }
        seen += n;
    }
    CHECK_INT_EQ(st, HSI_OK);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(order_bad, 0);
    return seen;
}

static void test_iterator(const hsi_cube *cube)
{
    hsi_border_mode modes[3] = {HSI_BORDER_ZERO, HSI_BORDER_MIRROR, HSI_BORDER_SKIP};
    for (int mi = 0; mi < 3; mi++)
        for (int radius = 0; radius <= 4; radius += 2) {
            size_t want = modes[mi] == HSI_BORDER_SKIP
                              ? (size_t)(ROWS - 2 * radius) * (COLS - 2 * radius)
                              : ROWS * COLS;
            hsi_patch_iter *it;
            CHECK_OK(hsi_patch_iter_open_cube(cube, radius, modes[mi], 7, &it));
            CHECK_INT_EQ(hsi_patch_iter_total(it), want);
            CHECK_INT_EQ(drain(it, radius, modes[mi], 7), want);
            hsi_patch_iter_free(it);

            /* Tile by tile: 2 output rows per tile at radius 0, else the
             * minimum 2r + 1; never more than tile + 2r rows in memory. */
            rows_source src = {cube, 0, 0, 0, 0, 0, -1};
            CHECK_OK(hsi_patch_iter_open_rows(read_rows, &src, ROWS, COLS, BANDS, radius,
                                              modes[mi], 5, 2, &it));
            size_t tile = radius == 0 ? 2 : 2 * (size_t)radius + 1;
            size_t S = 2 * (size_t)radius + 1;
            CHECK_INT_EQ(hsi_patch_iter_memory(it),
                         5 * BANDS * S * S + (tile + 2 * radius) * COLS * BANDS);
            CHECK_INT_EQ(drain(it, radius, modes[mi], 5), want);
            CHECK(!src.bad_request);
            CHECK_MSG(src.max_rows <= tile + 2 * (size_t)radius, "block of %zu rows", src.max_rows);
            CHECK(radius > 0 || src.calls == 6); /* 11 rows in tiles of 2 */
            hsi_patch_iter_free(it);
        }
    hsi_patch_iter *it = NULL;
    CHECK_FAILS(hsi_patch_iter_open_cube(cube, 6, HSI_BORDER_MIRROR, 4, &it), HSI_ERR_SIZE,
                "larger than the scene");
    CHECK(it == NULL);
    CHECK_FAILS(hsi_patch_iter_open_cube(cube, 1, HSI_BORDER_MIRROR, 0, &it), HSI_ERR_ARG,
                "batch size");
}

/* A mask: exactly its pixels come out (in order, patches as defined), the
 * total counts them, and tiles without any are not read. */
static void test_iterator_mask(const hsi_cube *cube)
{
    uint8_t mask[ROWS * COLS] = {0};
    size_t want = 0;
    for (size_t i = 0; i < ROWS * COLS; i++) {
        size_t row = i / COLS;
        mask[i] = row >= 3 && row <= 5 && (i * 7) % 3 == 0; /* rows 3..5 only */
        want += mask[i];
    }
    rows_source src = {cube, 0, 0, 0, 0, 0, -1};
    hsi_patch_iter *it;
    CHECK_OK(hsi_patch_iter_open_rows(read_rows, &src, ROWS, COLS, BANDS, 1, HSI_BORDER_MIRROR, 4,
                                      3, &it));
    hsi_patch_iter_set_mask(it, mask);
    CHECK_INT_EQ(hsi_patch_iter_total(it), want);
    const float *x;
    const hsi_pixel *px;
    size_t n, seen = 0, off_mask = 0, bad = 0, S = 3;
    while (!hsi_patch_iter_next(it, &x, &px, &n) && n > 0)
        for (size_t i = 0; i < n; i++, seen++) {
            off_mask += !mask[px[i].row * COLS + px[i].col];
            bad += !patch_matches(x + i * BANDS * S * S, px[i].row, px[i].col, 1, HSI_BORDER_MIRROR);
        }
    CHECK_INT_EQ(seen, want);
    CHECK_INT_EQ(off_mask, 0);
    CHECK_INT_EQ(bad, 0);
    /* Output rows 3..5 are one tile of 3 rows: one read, rows 2..6. */
    CHECK_INT_EQ(src.calls, 1);
    CHECK_INT_EQ(src.max_rows, 5);
    hsi_patch_iter_free(it);
}

/* Prefetching (the next tile read on a second thread) changes nothing the
 * caller sees: the same patches in the same order, the same reads in row
 * order, tiles without a pixel to visit never read; in pixels-only mode
 * every batch lies in the tile hsi_patch_iter_tile gives, whose rows are
 * the scene's; a read that fails on the prefetch thread fails the call
 * that needs its tile, with its message. */
static void test_iterator_prefetch(const hsi_cube *cube)
{
    hsi_border_mode modes[] = {HSI_BORDER_ZERO, HSI_BORDER_MIRROR, HSI_BORDER_SKIP};
    for (int mi = 0; mi < 3; mi++)
        for (int radius = 0; radius <= 2; radius++) {
            size_t want = modes[mi] == HSI_BORDER_SKIP
                              ? (size_t)(ROWS - 2 * radius) * (COLS - 2 * radius)
                              : ROWS * COLS;
            rows_source plain = {cube, 0, 0, 0, 0, 0, -1}, pre = {cube, 0, 0, 0, 0, 0, -1};
            hsi_patch_iter *it;
            CHECK_OK(hsi_patch_iter_open_rows(read_rows, &plain, ROWS, COLS, BANDS, radius,
                                              modes[mi], 5, 2, &it));
            CHECK_INT_EQ(drain(it, radius, modes[mi], 5), want);
            hsi_patch_iter_free(it);
            CHECK_OK(hsi_patch_iter_open_rows(read_rows, &pre, ROWS, COLS, BANDS, radius,
                                              modes[mi], 5, 2, &it));
            hsi_patch_iter_set_prefetch(it, 1);
            size_t tile = radius == 0 ? 2 : 2 * (size_t)radius + 1, S = 2 * (size_t)radius + 1;
            CHECK_INT_EQ(hsi_patch_iter_memory(it),
                         5 * BANDS * S * S + 2 * (tile + 2 * radius) * COLS * BANDS);
            CHECK_INT_EQ(drain(it, radius, modes[mi], 5), want);
            hsi_patch_iter_free(it);
            CHECK(pre.calls == plain.calls && !pre.out_of_order && !pre.bad_request);

            /* pixels only: each batch within its tile, the tile the scene's rows */
            rows_source po = {cube, 0, 0, 0, 0, 0, -1};
            CHECK_OK(hsi_patch_iter_open_rows(read_rows, &po, ROWS, COLS, BANDS, radius,
                                              modes[mi], 5, 2, &it));
            hsi_patch_iter_set_pixels_only(it, 1);
            hsi_patch_iter_set_prefetch(it, 1);
            const float *x;
            const hsi_pixel *px;
            size_t n, seen = 0, outside = 0, wrong_rows = 0;
            while (!hsi_patch_iter_next(it, &x, &px, &n) && n > 0) {
                CHECK(x == NULL);
                size_t first, count;
                unsigned serial;
                const float *rows = hsi_patch_iter_tile(it, &first, &count, &serial);
                for (size_t i = 0; i < n; i++, seen++) {
                    size_t lo = px[i].row >= (uint32_t)radius ? px[i].row - radius : 0;
                    size_t hi = px[i].row + radius < ROWS ? px[i].row + radius : ROWS - 1;
                    outside += lo < first || hi >= first + count;
                }
                wrong_rows += memcmp(rows, hsi_cube_pixel(cube, first, 0),
                                     count * COLS * BANDS * sizeof(float)) != 0;
            }
            CHECK_INT_EQ(seen, want);
            CHECK_MSG(outside == 0 && wrong_rows == 0, "pixels-only batches: %zu windows outside "
                      "their tile, %zu tiles with other rows", outside, wrong_rows);
            hsi_patch_iter_free(it);
        }

    /* With a mask, tiles without a pixel to visit are not read either. */
    uint8_t mask[ROWS * COLS] = {0};
    mask[1 * COLS + 2] = mask[8 * COLS + 3] = mask[9 * COLS + 0] = 1;
    rows_source plain = {cube, 0, 0, 0, 0, 0, -1}, pre = {cube, 0, 0, 0, 0, 0, -1};
    hsi_patch_iter *it;
    CHECK_OK(hsi_patch_iter_open_rows(read_rows, &plain, ROWS, COLS, BANDS, 1, HSI_BORDER_ZERO, 4,
                                      3, &it));
    hsi_patch_iter_set_mask(it, mask);
    CHECK_INT_EQ(drain(it, 1, HSI_BORDER_ZERO, 4), 3);
    hsi_patch_iter_free(it);
    CHECK_OK(hsi_patch_iter_open_rows(read_rows, &pre, ROWS, COLS, BANDS, 1, HSI_BORDER_ZERO, 4,
                                      3, &it));
    hsi_patch_iter_set_mask(it, mask);
    hsi_patch_iter_set_prefetch(it, 1);
    CHECK_INT_EQ(drain(it, 1, HSI_BORDER_ZERO, 4), 3);
    hsi_patch_iter_free(it);
    CHECK_MSG(pre.calls == plain.calls && plain.calls == 2, "%zu reads with prefetch, %zu without",
              pre.calls, plain.calls);

    /* A failing read on the prefetch thread: the error, with its message,
     * from the call that needs that tile; an iterator freed while a read is
     * under way waits for it. */
    rows_source bad = {cube, 0, 0, 0, 0, 0, 2}; /* tiles of 3 rows at radius 1: the second reads from row 2 */
    CHECK_OK(hsi_patch_iter_open_rows(read_rows, &bad, ROWS, COLS, BANDS, 1, HSI_BORDER_MIRROR, 40,
                                      2, &it));
    hsi_patch_iter_set_prefetch(it, 1);
    const float *x;
    const hsi_pixel *px;
    size_t n;
    CHECK_FAILS(hsi_patch_iter_next(it, &x, &px, &n), HSI_ERR_IO, "rows 3..7: simulated read error");
    hsi_patch_iter_free(it);
    CHECK_OK(hsi_patch_iter_open_rows(read_rows, &bad, ROWS, COLS, BANDS, 1, HSI_BORDER_MIRROR, 4,
                                      2, &it));
    hsi_patch_iter_set_prefetch(it, 1);
    CHECK_OK(hsi_patch_iter_next(it, &x, &px, &n)); /* the first tile; the second is being read */
    hsi_patch_iter_free(it);
}

/* The same through a GeoTIFF and the windowed reader of io/. */
static void test_reader(const hsi_cube *cube)
{
    const char *dir = check_tmpdir("eval_patch");
    char path[4200];
    snprintf(path, sizeof path, "%s/cube.tif", dir);
    CHECK_OK(hsi_cube_write(path, HSI_FORMAT_GTIFF, cube));
    hsi_cube_reader *rd;
    CHECK_OK(hsi_cube_reader_open(path, NULL, &rd));
    if (!rd) return;
    hsi_patch_iter *it;
    CHECK_OK(hsi_patch_iter_open_reader(rd, 2, HSI_BORDER_MIRROR, 16, 3, &it));
    CHECK_INT_EQ(drain(it, 2, HSI_BORDER_MIRROR, 16), ROWS * COLS);
    hsi_patch_iter_free(it);
    hsi_cube_reader_close(rd);
}

int main(void)
{
    hsi_cube *cube = make_cube();
    if (!cube) return 99;
    test_gather(cube);
    test_iterator(cube);
    test_iterator_mask(cube);
    test_iterator_prefetch(cube);
    test_reader(cube);
    hsi_cube_free(cube);
    return check_finish();
}
