/* predict_dense.c - whole-scene CNN prediction by dense evaluation of the
 * layers before [flatten] over tiles of the scene (see the header).
 *
 * The trunk is an ordinary net of the engine, planned from the model's own
 * spec with the tile's input size, batch = tiles per pass and the layers
 * before [flatten] only (hsi_cnn_net_new keeps those overrides), holding a
 * copy of the model's first parameters (the trunk's parameters and batch-norm
 * statistics are a prefix of the model's: same layers, same order). The
 * tail is the model itself, run from [flatten] on (hsi_cnn_forward_from)
 * over pixels whose windows are gathered into [flatten]'s input.
 */
#include "cnn3d/predict_dense.h"

#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/mpi.h"
#include "cnn3d/predict_budget.h"
#include "features/patch_window.h"

/* ---------------------------------------------------------------- the rule */

const char *hsi_cnn_dense_unfit(const hsi_cnn_net *net, int *flatten, char *buf, size_t len)
{
    *flatten = -1;
    char name[64];
    for (int i = 0; i < net->n_layers; i++) {
        const hsi_cnn_layer *L = &net->layers[i];
        const hsi_cnn_layer_spec *l = &L->spec;
        hsi_cnn_layer_name(net->spec->layers, i, name, sizeof name);
        const char *bad = NULL;
        switch (l->kind) {
        case HSI_CNN_FLATTEN:
            if (i == 0) {
                snprintf(buf, len, "nothing comes before its [flatten] to share between windows");
                return buf;
            }
            *flatten = i;
            return NULL;
        case HSI_CNN_CONV3D:
            if (l->stride[1] != 1 || l->stride[2] != 1) bad = "strides over x or y";
            else if (L->conv.ph || L->conv.pw) bad = "pads x and y (padding = same)";
            break;
        case HSI_CNN_MAXPOOL3D:
        case HSI_CNN_AVGPOOL3D:
            if (l->kernel[1] != 1 || l->kernel[2] != 1 || l->stride[1] != 1 || l->stride[2] != 1)
                bad = "pools over x or y";
            break;
        case HSI_CNN_ZEROPAD3D:
            if (l->pad[1] || l->pad[2]) bad = "pads x or y";
            break;
        case HSI_CNN_DROPOUT: break; /* the identity at inference */
        case HSI_CNN_BATCHNORM: break; /* running statistics per channel at inference */
        case HSI_CNN_DENSE: bad = "comes before any [flatten]"; break;
        case HSI_CNN_LSTM:
        case HSI_CNN_GRU: bad = "is recurrent"; break;
        }
        /* Softmax over a conv's output normalises over the whole volume. */
        if (!bad && (l->kind == HSI_CNN_CONV3D || l->kind == HSI_CNN_BATCHNORM) &&
            l->activation == HSI_CNN_ACT_SOFTMAX)
            bad = "has a softmax over its volume";
        if (bad) {
            snprintf(buf, len, "%s %s", name, bad);
            return buf;
        }
    }
    snprintf(buf, len, "it has no [flatten]");
    return buf;
}

/* ---------------------------------------------------------------- planning */

/* The trunk's spec: the model's, over an in_h x in_w input, layers before
 * [flatten] only. A shallow copy: hsi_cnn_net_new re-parses the text and
 * keeps these three fields. */
static hsi_cnn_spec trunk_spec(const hsi_cnn_net *net, int flatten, int in_h, int in_w)
{
    hsi_cnn_spec s = *net->spec;
    s.in_h = in_h, s.in_w = in_w, s.n_layers = flatten;
    return s;
}

/* Bytes of a trunk for `batch` tiles of in_h x in_w inputs (what trunk_new
 * will allocate), and its FLOPs per tile. */
static hsi_status trunk_size(const hsi_cnn_net *net, int flatten, int in_h, int in_w, int batch,
                             size_t *bytes, double *flops)
{
    hsi_cnn_spec s = trunk_spec(net, flatten, in_h, in_w);
    hsi_cnn_net_options o = {net->input.d, net->classes, batch, 0, 0, net->be};
    return hsi_cnn_net_size(&s, &o, bytes, flops);
}

/* Whether pixel (y, x) is asked for: inside the skip border's margin, and
 * in the mask. */
static int wanted(const hsi_cnn_dense_scene *sc, size_t y, size_t x)
{
    size_t m = sc->border == HSI_BORDER_SKIP ? (size_t)sc->radius : 0;
    if (y < m || x < m || y + m >= sc->rows || x + m >= sc->cols) return 0;
    return !sc->only || sc->only[y * sc->cols + x];
}

/* Wanted pixels of tile (gi, gj). */
static size_t tile_wanted(const hsi_cnn_dense_plan *p, const hsi_cnn_dense_scene *sc, size_t gi,
                          size_t gj)
{
    size_t y0 = gi * p->tile_rows, x0 = gj * p->tile_cols, n = 0;
    for (size_t y = y0; y < y0 + p->tile_rows && y < sc->rows; y++)
        for (size_t x = x0; x < x0 + p->tile_cols && x < sc->cols; x++) n += wanted(sc, y, x);
    return n;
}

/* Whether band gi (a row of tiles) runs densely: the trunk over its tiles
 * with a wanted pixel and the tail per pixel, against the whole net per
 * pixel (eval's test pixels may be few in a band). *dense_cost and
 * *window_cost (may be NULL) get both estimates, *want its pixels. */
static int band_dense(const hsi_cnn_dense_plan *p, const hsi_cnn_dense_scene *sc, size_t gi,
                      double *dense_cost, double *window_cost, size_t *want)
{
    double dc = 0;
    size_t n = 0;
    for (size_t gj = 0; gj < p->grid_cols; gj++) {
        size_t t = tile_wanted(p, sc, gi, gj);
        if (t) dc += p->trunk_flops + (double)t * p->tail_flops;
        n += t;
    }
    double wc = (double)n * p->window_flops;
    if (dense_cost) *dense_cost = dc;
    if (window_cost) *window_cost = wc;
    if (want) *want = n;
    return n && (p->all_dense || dc < wc);
}

static int env_mode(void)
{
    const char *e = getenv("HSI_CNN_DENSE");
    if (e && !strcmp(e, "0")) return 0;
    if (e && !strcmp(e, "1")) return 1;
    return -1;
}

/* HSI_CNN_DENSE_TILE: "R" or "RxC"; 0 when unset. */
static hsi_status env_tile(size_t *tr, size_t *tc)
{
    *tr = *tc = 0;
    const char *e = getenv("HSI_CNN_DENSE_TILE");
    if (!e || !*e) return HSI_OK;
    char *end;
    long r = strtol(e, &end, 10), c = r;
    if (*end == 'x' || *end == 'X') c = strtol(end + 1, &end, 10);
    if (*end || r < 1 || c < 1 || r > 100000 || c > 100000)
        return hsi_error(HSI_ERR_ARG, "HSI_CNN_DENSE_TILE='%s': give the tile's rows, or ROWSxCOLS", e);
    *tr = (size_t)r, *tc = (size_t)c;
    return HSI_OK;
}

/* Tiles of about `target` pixels a side, spread evenly over the scene (145
 * rows: 5 tiles of 29, not 4 of 32 and one of 17). */
static size_t even_tile(size_t n, size_t target)
{
    if (target > n) target = n;
    size_t count = (n + target - 1) / target;
    return (n + count - 1) / count;
}

#define DENSE_TILE 32     /* default tile side: halo overhead of the Lange net's conv2 (36/32)^2 */
#define DENSE_MAX_BATCH 8 /* tiles per trunk pass: work for the threads, not the budget */

hsi_status hsi_cnn_dense_choose(const hsi_cnn_net *net, const hsi_cnn_dense_scene *sc,
                                size_t budget, int *dense, hsi_cnn_dense_plan *plan,
                                hsi_cnn_predict_report *report)
{
    *dense = 0;
    memset(plan, 0, sizeof *plan);
    char why[256] = "";
    hsi_cnn_predict_report dummy;
    if (!report) report = &dummy;
    memset(report, 0, sizeof *report);
    const int mode = env_mode();
    int flatten;
    if (mode == 0) {
        snprintf(report->why, sizeof report->why, "HSI_CNN_DENSE=0");
        return HSI_OK;
    }
    if (net->be != hsi_cnn_backend_cpu()) {
        snprintf(report->why, sizeof report->why, "the net runs on %s", net->be->name);
        return HSI_OK;
    }
    if (hsi_cnn_dense_unfit(net, &flatten, why, sizeof why)) {
        snprintf(report->why, sizeof report->why, "%s", why);
        return HSI_OK;
    }
    size_t ftr, ftc;
    hsi_status st = env_tile(&ftr, &ftc);
    if (st) return st;
    /* A forced tile larger than the scene is the scene: one tile, not a
     * trunk over 100000 x 100000 pixels of which the scene is a corner. */
    if (ftr > sc->rows) ftr = sc->rows;
    if (ftc > sc->cols) ftc = sc->cols;
    const int r = sc->radius;
    plan->flatten = flatten;
    plan->radius = r;
    plan->win_h = net->layers[flatten - 1].out.h;
    plan->win_w = net->layers[flatten - 1].out.w;
    for (int i = 0; i < net->n_layers; i++) {
        plan->window_flops += net->layers[i].flops;
        if (i >= flatten) plan->tail_flops += net->layers[i].flops;
    }
    /* What prediction holds besides: the outputs (predict_budget.c). */
    size_t fixed = hsi_cnn_predict_output_bytes(sc->rows, sc->cols, net->classes, sc->prob != NULL);
    size_t avail = budget > fixed ? budget - fixed : 0;
    /* The largest tiles (and, for them, batches) that fit: a band of rows,
     * raw and preprocessed, and the trunk. */
    size_t side = ftr ? ftr : DENSE_TILE;
    for (;;) {
        size_t tr = ftr ? ftr : even_tile(sc->rows, side);
        size_t tc = ftr ? ftc : even_tile(sc->cols, side);
        size_t gc = (sc->cols + tc - 1) / tc;
        int batch = gc < DENSE_MAX_BATCH ? (int)gc : DENSE_MAX_BATCH;
        size_t band = (tr + 2 * (size_t)r) * sc->cols * (sc->bands + sc->raw_bands) * sizeof(float);
        size_t bytes = 0;
        double flops = 0;
        for (; batch >= 1; batch /= 2) {
            if ((st = trunk_size(net, flatten, (int)(tr + 2 * r), (int)(tc + 2 * r), batch, &bytes,
                                 &flops)))
                return st;
            if (bytes + band <= avail || ftr) break;
        }
        if (batch >= 1 || side == 1) {
            if (batch < 1) batch = 1;
            plan->tile_rows = tr, plan->tile_cols = tc;
            plan->grid_rows = (sc->rows + tr - 1) / tr;
            plan->grid_cols = gc;
            plan->batch = batch;
            plan->trunk_flops = flops;
            plan->bytes = bytes + band;
            break;
        }
        side = side * 3 / 4; /* 32, 24, 18, 13, 9, 6, 4, 3, 2, 1 */
    }
    /* The cost of the pixels asked for, both ways: the trunk over every
     * tile with one and the tail per pixel, or the whole net per pixel,
     * whichever is less in each band; against the whole net everywhere. */
    plan->all_dense = mode == 1;
    size_t want = 0, dense_bands = 0;
    double all_tiles = 0; /* every band densely */
    for (size_t gi = 0; gi < plan->grid_rows; gi++) {
        double dc, wc;
        size_t n;
        int d = band_dense(plan, sc, gi, &dc, &wc, &n);
        dense_bands += d;
        all_tiles += dc;
        plan->window_bands += n && !d;
        plan->dense_cost += d ? dc : wc;
        plan->window_cost += wc;
        want += n;
    }
    report->plan = *plan;
    if (plan->bytes > avail && !ftr) {
        snprintf(report->why, sizeof report->why,
                 "not even 1-pixel tiles fit the memory budget (%zu MiB beside the outputs)",
                 avail >> 20);
        return HSI_OK;
    }
    if (!want) {
        snprintf(report->why, sizeof report->why, "no pixel asked for");
        return HSI_OK;
    }
    if (!dense_bands) {
        /* Equal when the trunk does no arithmetic (dropout, padding along
         * the bands): per window then, but not "cheaper". */
        const int less = plan->window_cost < all_tiles;
        snprintf(report->why, sizeof report->why,
                 "%s for %zu pixel%s %s %zu x %zu-pixel tiles (%.3g against %.3g FLOPs)",
                 less ? "cheaper" : "as cheap", want, want == 1 ? "" : "s", less ? "than" : "as",
                 plan->tile_rows, plan->tile_cols, plan->window_cost, all_tiles);
        return HSI_OK;
    }
    report->dense = *dense = 1;
    return HSI_OK;
}

void hsi_cnn_dense_split(const hsi_cnn_dense_plan *plan, const hsi_cnn_dense_scene *sc,
                         size_t *band0, size_t *band1, size_t *span0, size_t *span1)
{
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    *band0 = 0, *band1 = plan->grid_rows;
    *span0 = 0, *span1 = sc->rows * sc->cols;
    if (ranks <= 1) return;
    /* Whole bands, about as many wanted pixels each: rank q takes the bands
     * whose first wanted pixel is in [q/ranks, (q+1)/ranks) of them all. */
    size_t total = 0, seen = 0;
    for (size_t gi = 0; gi < plan->grid_rows; gi++)
        for (size_t gj = 0; gj < plan->grid_cols; gj++) total += tile_wanted(plan, sc, gi, gj);
    size_t lo = total * (size_t)rank / ranks, hi = total * (size_t)(rank + 1) / ranks;
    size_t b0 = plan->grid_rows, b1 = plan->grid_rows;
    for (size_t gi = 0; gi < plan->grid_rows; gi++) {
        if (seen >= lo && b0 == plan->grid_rows) b0 = gi;
        if (seen >= hi && b1 == plan->grid_rows) b1 = gi;
        for (size_t gj = 0; gj < plan->grid_cols; gj++) seen += tile_wanted(plan, sc, gi, gj);
    }
    if (rank == ranks - 1) b1 = plan->grid_rows;
    if (b1 < b0) b1 = b0;
    *band0 = b0, *band1 = b1;
    size_t row0 = b0 * plan->tile_rows, row1 = b1 * plan->tile_rows;
    if (row0 > sc->rows) row0 = sc->rows;
    if (row1 > sc->rows) row1 = sc->rows;
    *span0 = rank == 0 ? 0 : row0 * sc->cols;
    *span1 = rank == ranks - 1 ? sc->rows * sc->cols : row1 * sc->cols;
}

/* ---------------------------------------------------------------- running */

/* Build the trunk: the model's layers before [flatten] over a tile with its
 * halo, `batch` tiles at a time, with the model's weights. */
static hsi_status trunk_new(const hsi_cnn_net *net, const hsi_cnn_dense_plan *p,
                            hsi_cnn_net **out)
{
    const int r = p->radius;
    hsi_cnn_spec s = trunk_spec(net, p->flatten, (int)p->tile_rows + 2 * r,
                                (int)p->tile_cols + 2 * r);
    hsi_cnn_net_options o = {net->input.d, net->classes, p->batch, 0, 0, net->be};
    hsi_cnn_net *t = NULL;
    hsi_status st = hsi_cnn_net_new(&s, &o, &t);
    if (st) return hsi_error_prefix(st, "the dense trunk of %s", net->spec->path);
    /* The trunk's parameters and batch-norm statistics are the first of
     * the model's: the same layers in the same order. */
    if (t->n_params > net->n_params || t->n_state > net->n_state) {
        hsi_cnn_net_free(t);
        return hsi_error(HSI_ERR_SIZE, "the dense trunk of %s has more parameters than it",
                         net->spec->path);
    }
    net->be->copy(net->be, t->n_params, net->params, t->params);
    if (t->n_state) net->be->copy(net->be, t->n_state, net->state, t->state);
    for (int i = 0; i < t->n_layers; i++) t->layers[i].conv.bf16 = net->layers[i].conv.bf16;
    *out = t;
    return HSI_OK;
}

/* Tile (gi, gj)'s input, (1, bands, T_r + 2r, T_c + 2r), from the band of
 * rows [first, first + count) (BIP): scene pixel (y0 - r + yy, x0 - r + xx)
 * by the windows' border rule; 0 past the padded scene, where a cut tile's
 * discarded outputs alone read. */
static void tile_input(const hsi_cnn_dense_plan *p, const hsi_cnn_dense_scene *sc,
                       const float *band, size_t first, size_t gi, size_t gj, float *x)
{
    const long r = p->radius, H = (long)p->tile_rows + 2 * r, W = (long)p->tile_cols + 2 * r;
    const long rows = (long)sc->rows, cols = (long)sc->cols, bands = (long)sc->bands;
    const long y0 = (long)(gi * p->tile_rows) - r, x0 = (long)(gj * p->tile_cols) - r;
    const int mirror = sc->border == HSI_BORDER_MIRROR;
    const size_t plane = (size_t)H * W;
    for (long yy = 0; yy < H; yy++)
        for (long xx = 0; xx < W; xx++) {
            long sy = y0 + yy, sx = x0 + xx, pix = -1;
            /* hsi_window_pixel for a window of radius 0 at (sy, sx). */
            if (sy < rows + r && sx < cols + r)
                pix = hsi_window_pixel(sy, sx, 0, 0, 0, rows, cols, (long)first, mirror);
            float *dst = x + (size_t)yy * W + xx;
            if (pix < 0) {
                for (long b = 0; b < bands; b++) dst[b * plane] = 0.0f;
                continue;
            }
            const float *src = band + (size_t)pix * bands;
            for (long b = 0; b < bands; b++) dst[b * plane] = src[b];
        }
}

void hsi_cnn_scene_write(const hsi_cnn_dense_scene *sc, const float *p, const size_t *at_of,
                         int n, int k)
{
    for (int i = 0; i < n; i++) {
        const float *pi = p + (size_t)i * k;
        size_t at = at_of[i];
        int best = hsi_cnn_argmax(pi, k);
        sc->labels->data[at] = sc->nodata[at] ? 0 : (uint16_t)(best + 1);
        if (sc->prob && !sc->nodata[at])
            memcpy(sc->prob->data + at * (size_t)k, pi, (size_t)k * sizeof *pi);
    }
}

/* Band gi window by window: its wanted pixels' windows gathered from its
 * rows (hsi_patch_gather_band: the border rule of the per-window path) and
 * the whole net run on them, max_batch at a time. */
static hsi_status band_windows(hsi_cnn_net *net, const hsi_cnn_dense_plan *p,
                               const hsi_cnn_dense_scene *sc, const hsi_cube *band, size_t first,
                               size_t gi, hsi_pixel *px, size_t *at, size_t *done)
{
    const size_t y0 = gi * p->tile_rows;
    const size_t y1 = y0 + p->tile_rows < sc->rows ? y0 + p->tile_rows : sc->rows;
    int n = 0;
    for (size_t y = y0; y < y1; y++)
        for (size_t x = 0; x < sc->cols; x++) {
            if (wanted(sc, y, x)) {
                px[n] = (hsi_pixel){(uint32_t)y, (uint32_t)x};
                at[n++] = y * sc->cols + x;
            }
            int last = y + 1 == y1 && x + 1 == sc->cols;
            if (n == net->max_batch || (last && n)) {
                hsi_status st = hsi_patch_gather_band(band, first, sc->rows, px, (size_t)n,
                                                      p->radius, sc->border, net->x);
                if (st) return st;
                hsi_cnn_scene_write(sc, hsi_cnn_forward(net, net->x, n, 0), at, n, net->classes);
                *done += (size_t)n;
                n = 0;
            }
        }
    return HSI_OK;
}

hsi_status hsi_cnn_dense_run(hsi_cnn_net *net, const hsi_cnn_dense_plan *p,
                             const hsi_cnn_dense_scene *sc, size_t band0, size_t band1,
                             size_t *classified)
{
    *classified = 0;
    hsi_cnn_net *trunk = NULL;
    hsi_status st = trunk_new(net, p, &trunk);
    if (st) return st;
    const int k = net->classes, r = p->radius, wh = p->win_h, ww = p->win_w;
    const hsi_cnn_layer *last = &trunk->layers[trunk->n_layers - 1];
    const size_t C = (size_t)last->out.c, D = (size_t)last->out.d;
    const size_t Ht = (size_t)last->out.h, Wt = (size_t)last->out.w;
    const size_t in_size = hsi_cnn_shape_size(trunk->input), map_size = hsi_cnn_shape_size(last->out);
    const size_t flat = C * D * (size_t)wh * ww;
    float *tail_in = hsi_cnn_layer_input(net, p->flatten);
    size_t *tiles = malloc(p->grid_cols * sizeof *tiles);
    size_t *px = malloc((size_t)net->max_batch * sizeof *px);
    hsi_pixel *wpx = malloc((size_t)net->max_batch * sizeof *wpx);
    hsi_cube *band = NULL;
    if (Ht != p->tile_rows + wh - 1 || Wt != p->tile_cols + ww - 1 ||
        flat != hsi_cnn_shape_size(net->layers[p->flatten].in)) {
        st = hsi_error(HSI_ERR_SIZE, "the dense trunk of %s gives a %zu x %zu map for %zu x %zu "
                       "tiles and %d x %d windows", net->spec->path, Ht, Wt, p->tile_rows,
                       p->tile_cols, wh, ww);
        goto done;
    }
    if (!tiles || !px || !wpx) {
        st = hsi_error(HSI_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t total = 0, done_pixels = 0;
    for (size_t gi = band0; gi < band1; gi++)
        for (size_t gj = 0; gj < p->grid_cols; gj++) total += tile_wanted(p, sc, gi, gj);
    for (size_t gi = band0; gi < band1 && !st; gi++) {
        /* The band's tiles with a pixel asked for; none: the rows are not read. */
        size_t nt = 0;
        for (size_t gj = 0; gj < p->grid_cols; gj++)
            if (tile_wanted(p, sc, gi, gj)) tiles[nt++] = gj;
        if (!nt) continue;
        const int dense = band_dense(p, sc, gi, NULL, NULL, NULL);
        const size_t y0 = gi * p->tile_rows;
        const size_t y1 = y0 + p->tile_rows < sc->rows ? y0 + p->tile_rows : sc->rows;
        const size_t first = y0 > (size_t)r ? y0 - r : 0;
        const size_t end = y1 + r < sc->rows ? y1 + r : sc->rows;
        hsi_cube_free(band);
        band = NULL;
        if ((st = sc->read_rows(sc->read_ctx, first, end - first, &band))) break;
        if (!dense) {
            st = band_windows(net, p, sc, band, first, gi, wpx, px, &done_pixels);
            hsi_progress_report(sc->progress, (double)done_pixels, (double)total, NULL);
            continue;
        }
        for (size_t t0 = 0; t0 < nt && !st; t0 += (size_t)p->batch) {
            const int nb = (int)(nt - t0 < (size_t)p->batch ? nt - t0 : (size_t)p->batch);
            for (int s = 0; s < nb; s++)
                tile_input(p, sc, band->data, first, gi, tiles[t0 + s], trunk->x + s * in_size);
            const float *map = hsi_cnn_forward(trunk, trunk->x, nb, 0);
            /* Each wanted pixel's (C, D, h, w) window of its tile's map,
             * [flatten]'s input as the per-window net has it, max_batch at
             * a time through the tail. */
            int n = 0;
            for (int s = 0; s < nb; s++) {
                const size_t x0 = tiles[t0 + s] * p->tile_cols;
                const size_t x1 = x0 + p->tile_cols < sc->cols ? x0 + p->tile_cols : sc->cols;
                const float *m = map + s * map_size;
                for (size_t y = y0; y < y1; y++)
                    for (size_t x = x0; x < x1; x++) {
                        if (!wanted(sc, y, x)) continue;
                        float *dst = tail_in + (size_t)n * flat;
                        const float *src = m + (y - y0) * Wt + (x - x0);
                        for (size_t cd = 0; cd < C * D; cd++)
                            for (int a = 0; a < wh; a++)
                                memcpy(dst + (cd * wh + a) * ww, src + (cd * Ht + a) * Wt,
                                       (size_t)ww * sizeof(float));
                        px[n++] = y * sc->cols + x;
                        if (n == net->max_batch) {
                            hsi_cnn_scene_write(sc, hsi_cnn_forward_from(net, p->flatten, n), px, n, k);
                            done_pixels += n;
                            n = 0;
                        }
                    }
            }
            if (n) {
                hsi_cnn_scene_write(sc, hsi_cnn_forward_from(net, p->flatten, n), px, n, k);
                done_pixels += n;
            }
            hsi_progress_report(sc->progress, (double)done_pixels, (double)total, NULL);
        }
    }
    *classified = done_pixels;
done:
    hsi_cube_free(band);
    free(tiles);
    free(px);
    free(wpx);
    hsi_cnn_net_free(trunk);
    return st;
}
