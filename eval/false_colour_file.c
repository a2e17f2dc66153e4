/* false_colour_file.c - streamed false-colour composites (see the header).
 *
 * The stretch of hsi_map_false_colour needs two percentiles of each band's
 * valid values (finite, not nodata): values at ranks floor(pos) and
 * floor(pos) + 1 of the sorted values, pos = p/100 (n - 1). A sort needs
 * every value in memory; a radix selection needs a few reads of the band:
 * floats map to 32-bit keys that sort like the floats; each read counts one
 * digit of the keys that agree with a wanted rank's digits found so far,
 * which gives the rank's next digit. Two 16-bit digits (two reads, 8 MiB of
 * counts for the three bands) when the budget is at least 64 MiB, else
 * three digits of 11, 11 and 10 bits (three reads, 240 KiB). A last read
 * makes the image. When the three bands of the whole scene fit the budget
 * (12 bytes a pixel), the first read keeps them and the later passes run
 * on that copy: one read of the file in all. Memory: the counts, one block
 * of three float bands, its 8-bit image and its enlargement (and the copy). */
#include "eval/false_colour_file.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"

#define NRANK 4 /* per band: floor(pos) and floor(pos)+1 of the low and the high percentile */
#define MAXPASS 3

/* A key that sorts as the float does (negative floats reversed). -0 and +0
 * get different keys but equal values, which is all the stretch uses. */
static uint32_t float_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The digits, most significant first. */
typedef struct radix_plan {
    int passes;
    int bits[MAXPASS];
} radix_plan;

static const radix_plan plan_fast = {2, {16, 16, 0}};
static const radix_plan plan_small = {3, {11, 11, 10}};

static size_t plan_bytes(const radix_plan *p)
{
    int most = 0;
    for (int i = 0; i < p->passes; i++)
        if (p->bits[i] > most) most = p->bits[i];
    return 3 * NRANK * ((size_t)1 << most) * sizeof(uint64_t);
}

typedef struct band_select {
    uint64_t n;                 /* valid values (after the first pass) */
    uint64_t rank[NRANK];       /* wanted 0-based ranks */
    uint32_t prefix[NRANK];     /* the digits of each rank's key found so far */
    uint64_t below[NRANK];      /* values whose keys sort below that prefix */
    float value[NRANK];         /* the ranks' values (after the last pass) */
    uint64_t *hist;             /* [NRANK][1 << most bits] */
} band_select;

static int valid(const hsi_cube *meta, float x)
{
    return isfinite(x) && !(meta->has_nodata && x == (float)meta->nodata);
}

/* Count digit `pass` of the keys of band c of a 3-band block. The first
 * pass counts every value once (all ranks share its counts, row 0). */
static void count_pass(band_select *s, const radix_plan *p, int pass, const hsi_cube *meta,
                       const hsi_cube *b, int c)
{
    int done = 0;
    for (int i = 0; i < pass; i++) done += p->bits[i];
    int shift = 32 - done - p->bits[pass];
    uint32_t mask = ((uint32_t)1 << p->bits[pass]) - 1;
    size_t stride = (size_t)1 << p->bits[0];
    for (int i = 1; i < p->passes; i++)
        if (((size_t)1 << p->bits[i]) > stride) stride = (size_t)1 << p->bits[i];
    size_t npx = b->rows * b->cols;
    for (size_t i = 0; i < npx; i++) {
        float x = b->data[i * 3 + (size_t)c];
        if (!valid(meta, x)) continue;
        uint32_t k = float_key(x);
        if (pass == 0) {
            s->hist[(k >> shift) & mask]++;
            s->n++;
            continue;
        }
        for (int r = 0; r < NRANK; r++)
            if (k >> (32 - done) == s->prefix[r]) s->hist[(size_t)r * stride + ((k >> shift) & mask)]++;
    }
}

/* After a pass: each rank's next digit, from its counts. */
static void locate(band_select *s, const radix_plan *p, int pass)
{
    size_t stride = 0;
    for (int i = 0; i < p->passes; i++)
        if (((size_t)1 << p->bits[i]) > stride) stride = (size_t)1 << p->bits[i];
    uint32_t nbin = (uint32_t)1 << p->bits[pass];
    for (int r = 0; r < NRANK; r++) {
        const uint64_t *h = s->hist + (pass == 0 ? 0 : (size_t)r * stride);
        uint64_t acc = pass == 0 ? 0 : s->below[r];
        uint32_t bin = 0;
        while (bin < nbin - 1 && acc + h[bin] <= s->rank[r]) acc += h[bin++];
        s->prefix[r] = pass == 0 ? bin : (s->prefix[r] << p->bits[pass]) | bin;
        s->below[r] = acc;
        if (pass == p->passes - 1) s->value[r] = key_float(s->prefix[r]);
    }
    memset(s->hist, 0, NRANK * stride * sizeof *s->hist);
}

/* hsi_map_false_colour's percentile on the sorted values, from the ranks. */
static double percentile_at(const band_select *s, int which, double p)
{
    double pos = p / 100.0 * (double)(s->n - 1);
    double f = pos - floor(pos);
    return (1 - f) * s->value[2 * which] + f * s->value[2 * which + 1];
}

static void set_ranks(band_select *s, double low_pct, double high_pct)
{
    const double p[2] = {low_pct, high_pct};
    for (int w = 0; w < 2; w++) {
        double pos = p[w] / 100.0 * (double)(s->n - 1);
        uint64_t lo = (uint64_t)floor(pos), hi = lo + 1 < s->n ? lo + 1 : lo;
        s->rank[2 * w] = lo;
        s->rank[2 * w + 1] = hi;
    }
}

/* The scene's three bands, block by block: from the reader, or from a copy
 * of them all made on the first read when it fits the budget (then the
 * selection passes and the image cost one read of the file, not three or
 * four). */
typedef hsi_status (*block_fn)(void *ctx, size_t row0, const hsi_cube *block);

typedef struct band_source {
    hsi_cube_reader *rd;
    size_t rows, block;
    hsi_cube *all; /* rows x cols x 3, or NULL */
    int filled;    /* all holds the scene */
} band_source;

static hsi_status for_blocks(band_source *src, block_fn fn, void *ctx)
{
    hsi_status st = HSI_OK;
    size_t rows = src->rows, block = src->block;
    for (size_t r0 = 0; !st && r0 < rows; r0 += block) {
        size_t m = rows - r0 < block ? rows - r0 : block;
        if (src->filled) { /* a view of the copy's rows */
            hsi_cube v = *src->all;
            v.rows = m;
            v.data = src->all->data + r0 * v.cols * 3;
            st = fn(ctx, r0, &v);
            continue;
        }
        hsi_cube *b;
        if ((st = hsi_cube_reader_rows(src->rd, r0, m, &b))) break;
        if (src->all) memcpy(src->all->data + r0 * b->cols * 3, b->data, m * b->cols * 3 * sizeof(float));
        st = fn(ctx, r0, b);
        hsi_cube_free(b);
    }
    if (!st && src->all) src->filled = 1;
    return st;
}

typedef struct fc_ctx {
    const hsi_cube *meta;
    band_select sel[3];
    const hsi_false_colour_options *o;
    double lo[3], span[3];
    hsi_raster_writer *w;
    int scale;
    const radix_plan *plan;
    int pass;
} fc_ctx;

static hsi_status cb_count(void *ctx, size_t row0, const hsi_cube *b)
{
    fc_ctx *f = ctx;
    (void)row0;
    for (int c = 0; c < 3; c++)
        if (f->pass == 0 || f->sel[c].n) count_pass(&f->sel[c], f->plan, f->pass, f->meta, b, c);
    return HSI_OK;
}

/* The image of a block: the per-pixel arithmetic of hsi_map_false_colour. */
static hsi_status cb_image(void *ctx, size_t row0, const hsi_cube *b)
{
    fc_ctx *f = ctx;
    hsi_rgb_image *img, *big = NULL;
    hsi_status st = hsi_rgb_image_new(b->rows, b->cols, &img);
    if (st) return st;
    size_t npx = b->rows * b->cols;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < npx; i++) {
            float x = b->data[i * 3 + (size_t)c];
            double t = isfinite(x) ? (x - f->lo[c]) / f->span[c] : 0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            img->data[3 * i + (size_t)c] = (uint8_t)lround(255.0 * t);
        }
    const hsi_labels *ov = f->o->overlay;
    if (ov) {
        double a = f->o->overlay_alpha;
        const uint16_t *lab = ov->data + row0 * b->cols;
        for (size_t i = 0; i < npx; i++) {
            int k = lab[i];
            if (!k) continue;
            for (int c = 0; c < 3; c++) {
                uint8_t *p = img->data + 3 * i + c;
                *p = (uint8_t)lround((1 - a) * *p + a * ov->classes[k].rgb[c]);
            }
        }
    }
    if (f->scale > 1) st = hsi_rgb_scale(img, f->scale, &big);
    const hsi_rgb_image *w = big ? big : img;
    if (!st)
        st = hsi_raster_writer_rows(f->w, row0 * (size_t)f->scale, w->rows, w->data);
    hsi_rgb_image_free(big);
    hsi_rgb_image_free(img);
    return st;
}

/* Pick the bands as hsi_map_false_colour does (its checks and messages),
 * from the scene's 1-row header: the header has every band's wavelength. */
static hsi_status pick_bands(const hsi_cube *meta, const char *name,
                             const hsi_false_colour_options *o, long band[3])
{
    hsi_false_colour_options probe = *o;
    probe.overlay = NULL;
    hsi_rgb_image *img = NULL;
    hsi_status st = hsi_map_false_colour(meta, name, &probe, &img, band);
    hsi_rgb_image_free(img);
    return st;
}

hsi_status hsi_map_false_colour_file(const char *path, const hsi_read_options *ro,
                                     const hsi_false_colour_options *o, size_t budget,
                                     const char *out, hsi_raster_format fmt, int scale,
                                     long bands_used[3], double nm_used[3])
{
    if (ro && ro->bands)
        return hsi_error(HSI_ERR_ARG, "%s: the false colour picks its own bands", path);
    if (scale < 1 || scale > 64) return hsi_error(HSI_ERR_ARG, "scale factor %d is not in 1..64", scale);
    hsi_read_options opt = ro ? *ro : (hsi_read_options){0};
    hsi_cube_reader *rd;
    hsi_status st = hsi_cube_reader_open(path, &opt, &rd);
    if (st) return st;
    size_t rows, cols, bands;
    hsi_cube_reader_shape(rd, &rows, &cols, &bands);
    long band[3];
    if ((st = pick_bands(hsi_cube_reader_meta(rd), path, o, band))) {
        hsi_cube_reader_close(rd);
        return st;
    }
    for (int c = 0; c < 3; c++) {
        const hsi_cube *m = hsi_cube_reader_meta(rd);
        bands_used[c] = band[c];
        nm_used[c] = m->wavelength ? m->wavelength[band[c]] : NAN;
    }
    hsi_cube_reader_close(rd);
    if (o->overlay) {
        if ((st = hsi_labels_check_size(o->overlay, rows, cols, "overlay labels")))
            return hsi_error_prefix(st, "%s", path);
        if (hsi_labels_max(o->overlay) > o->overlay->n_classes)
            return hsi_error(HSI_ERR_DATA, "overlay labels: class %d is not in its class table",
                             hsi_labels_max(o->overlay));
    }
    /* Reopen reading only the three bands. */
    char spec[96];
    snprintf(spec, sizeof spec, "%ld,%ld,%ld", band[0] + 1, band[1] + 1, band[2] + 1);
    opt.bands = spec;
    if ((st = hsi_cube_reader_open(path, &opt, &rd))) return st;

    fc_ctx f = {.meta = hsi_cube_reader_meta(rd), .o = o, .scale = scale};
    size_t k = (size_t)scale;
    size_t fixed = hsi_io_cache_budget(budget);
    f.plan = plan_bytes(&plan_fast) <= budget / 8 ? &plan_fast : &plan_small;
    fixed += plan_bytes(f.plan);
    /* A PNG is encoded from an in-memory image at close. */
    if (fmt == HSI_FORMAT_PNG || (fmt == HSI_FORMAT_AUTO && hsi_path_has_ext(out, ".png")))
        fixed += rows * k * cols * k * 3;
    size_t row_bytes = cols * (3 * sizeof(float) + 3 + 3 * k * k), all_bytes = rows * cols * 3 * sizeof(float);
    band_source src = {rd, rows, 0, NULL, 0};
    /* Keep the three bands when they fit beside a block of rows. */
    if (fixed + row_bytes <= budget && all_bytes <= budget - fixed - row_bytes &&
        !hsi_cube_new(rows, cols, 3, &src.all))
        fixed += all_bytes;
    st = hsi_memory_rows_per_block(budget, fixed, row_bytes, 1, rows,
                                   "a row of the false-colour image", &src.block);
    for (int c = 0; c < 3 && !st; c++)
        if (!(f.sel[c].hist = calloc(plan_bytes(f.plan) / 3, 1)))
            st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (f.pass = 0; !st && f.pass < f.plan->passes; f.pass++) {
        st = for_blocks(&src, cb_count, &f);
        for (int c = 0; c < 3 && !st; c++) {
            if (!f.sel[c].n) continue;
            if (f.pass == 0) set_ranks(&f.sel[c], o->low_pct, o->high_pct);
            locate(&f.sel[c], f.plan, f.pass);
        }
    }
    for (int c = 0; c < 3 && !st; c++) {
        double lo = 0, hi = 1;
        if (f.sel[c].n) {
            lo = percentile_at(&f.sel[c], 0, o->low_pct);
            hi = percentile_at(&f.sel[c], 1, o->high_pct);
        }
        f.lo[c] = lo;
        f.span[c] = hi > lo ? hi - lo : 1;
    }
    hsi_georef g = {0};
    if (!st) st = hsi_georef_scale(&f.meta->geo, scale, &g);
    if (!st) st = hsi_rgb_writer_open(out, fmt, rows * k, cols * k, &g, &f.w);
    hsi_georef_clear(&g);
    if (!st) st = for_blocks(&src, cb_image, &f);
    if (f.w) {
        if (st) hsi_raster_writer_abort(f.w);
        else st = hsi_raster_writer_close(f.w);
    }
    for (int c = 0; c < 3; c++) free(f.sel[c].hist);
    hsi_cube_free(src.all);
    hsi_cube_reader_close(rd);
    return st;
}
