/* maps.c - class, correctness and false-colour maps as RGB images. */
#include "eval/maps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <fontconfig/fontconfig.h>

hsi_status hsi_rgb_image_new(size_t rows, size_t cols, hsi_rgb_image **out)
{
    *out = NULL;
    if (rows == 0 || cols == 0)
        return hsi_error(HSI_ERR_SIZE, "zero-sized image (%zu x %zu)", rows, cols);
    if (rows > ((size_t)1 << 20) || cols > ((size_t)1 << 20) || rows * cols > ((size_t)1 << 31))
        return hsi_error(HSI_ERR_SIZE, "image %zu x %zu is too large", rows, cols);
    hsi_rgb_image *img = calloc(1, sizeof *img);
    if (!img) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    img->data = calloc(rows * cols, 3);
    if (!img->data) {
        free(img);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a %zu x %zu image", rows, cols);
    }
    img->rows = rows;
    img->cols = cols;
    *out = img;
    return HSI_OK;
}

void hsi_rgb_image_free(hsi_rgb_image *img)
{
    if (!img) return;
    free(img->data);
    free(img);
}

static void put(uint8_t *px, uint8_t r, uint8_t g, uint8_t b)
{
    px[0] = r;
    px[1] = g;
    px[2] = b;
}

hsi_status hsi_map_class(const hsi_labels *labels, const char *name, hsi_rgb_image **out)
{
    *out = NULL;
    int mx = hsi_labels_max(labels);
    if (mx > labels->n_classes) {
        size_t i = 0;
        while (labels->data[i] != mx) i++;
        return hsi_error(HSI_ERR_DATA,
                         "%s: class %d (row %zu, column %zu) is not in its class table of %d "
                         "classes",
                         name ? name : "labels", mx, i / labels->cols + 1, i % labels->cols + 1,
                         labels->n_classes);
    }
    hsi_status st = hsi_rgb_image_new(labels->rows, labels->cols, out);
    if (st) return st;
    for (size_t i = 0; i < labels->rows * labels->cols; i++)
        memcpy((*out)->data + 3 * i, labels->classes[labels->data[i]].rgb, 3);
    return HSI_OK;
}

hsi_status hsi_map_correct(const hsi_labels *truth, const hsi_labels *pred, const char *pred_name,
                           const hsi_labels *train, const char *train_name, int mark_train,
                           hsi_rgb_image **out)
{
    *out = NULL;
    hsi_status st = hsi_labels_check_size(pred, truth->rows, truth->cols,
                                          pred_name ? pred_name : "prediction");
    if (!st && train)
        st = hsi_labels_check_size(train, truth->rows, truth->cols,
                                   train_name ? train_name : "training raster");
    if (st) return hsi_error_prefix(st, "differs from the truth");
    if ((st = hsi_rgb_image_new(truth->rows, truth->cols, out))) return st;
    for (size_t i = 0; i < truth->rows * truth->cols; i++) {
        uint8_t *px = (*out)->data + 3 * i;
        if (train && train->data[i]) {
            if (mark_train)
                put(px, HSI_MAP_TRAIN_RGB);
            else
                put(px, HSI_MAP_UNLABELLED_RGB);
        } else if (!truth->data[i]) {
            put(px, HSI_MAP_UNLABELLED_RGB);
        } else if (pred->data[i] == truth->data[i]) {
            put(px, HSI_MAP_CORRECT_RGB);
        } else {
            put(px, HSI_MAP_WRONG_RGB);
        }
    }
    return HSI_OK;
}

void hsi_false_colour_options_init(hsi_false_colour_options *o)
{
    memset(o, 0, sizeof *o);
    o->nm[0] = 850;
    o->nm[1] = 650;
    o->nm[2] = 550;
    o->band[0] = o->band[1] = o->band[2] = -1;
    o->low_pct = 2;
    o->high_pct = 98;
    o->overlay_alpha = 0.5;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Value at percentile p (0..100) of sorted v[0..n-1], linear interpolation. */
static double percentile(const float *v, size_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    double f = pos - (double)lo;
    return (1 - f) * v[lo] + f * v[hi];
}

hsi_status hsi_map_false_colour(const hsi_cube *cube, const char *name,
                                const hsi_false_colour_options *o, hsi_rgb_image **out,
                                long bands_used[3])
{
    *out = NULL;
    if (!name) name = "cube";
    if (!(o->low_pct >= 0 && o->low_pct < o->high_pct && o->high_pct <= 100))
        return hsi_error(HSI_ERR_ARG, "stretch percentiles %g..%g are not 0 <= low < high <= 100",
                         o->low_pct, o->high_pct);
    if (!(o->overlay_alpha >= 0 && o->overlay_alpha <= 1))
        return hsi_error(HSI_ERR_ARG, "overlay weight %g is not in 0..1", o->overlay_alpha);
    long band[3];
    for (int c = 0; c < 3; c++) {
        if (o->band[0] >= 0) {
            band[c] = o->band[c];
            if (band[c] < 0 || (size_t)band[c] >= cube->bands)
                return hsi_error(HSI_ERR_ARG, "%s: band %ld is not in 1..%zu", name, band[c] + 1,
                                 cube->bands);
        } else {
            if (!cube->wavelength)
                return hsi_error(HSI_ERR_ARG,
                                 "%s: the cube has no band wavelengths; pick bands by number or "
                                 "attach a band table",
                                 name);
            band[c] = hsi_cube_band_at(cube, o->nm[c]);
            /* A wavelength outside the sensor's range would silently pick an
             * edge band: refuse it. */
            double got = cube->wavelength[band[c]];
            double step = cube->bands > 1 ? fabs(cube->wavelength[cube->bands - 1] -
                                                 cube->wavelength[0]) / (double)(cube->bands - 1)
                                          : 0;
            if (fabs(got - o->nm[c]) > 2 * step + 10)
                return hsi_error(HSI_ERR_ARG,
                                 "%s: no band near %g nm (closest: band %ld at %g nm)", name,
                                 o->nm[c], band[c] + 1, got);
        }
        if (bands_used) bands_used[c] = band[c];
    }
    if (o->overlay) {
        hsi_status st = hsi_labels_check_size(o->overlay, cube->rows, cube->cols, "overlay labels");
        if (st) return hsi_error_prefix(st, "%s", name);
        if (hsi_labels_max(o->overlay) > o->overlay->n_classes)
            return hsi_error(HSI_ERR_DATA, "overlay labels: class %d is not in its class table",
                             hsi_labels_max(o->overlay));
    }
    size_t npx = cube->rows * cube->cols;
    float *v = malloc(npx * sizeof *v);
    if (!v) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_status st = hsi_rgb_image_new(cube->rows, cube->cols, out);
    if (st) {
        free(v);
        return st;
    }
    for (int c = 0; c < 3; c++) {
        /* The stretch ignores nodata and non-finite values. */
        size_t n = 0;
        for (size_t i = 0; i < npx; i++) {
            float x = cube->data[i * cube->bands + (size_t)band[c]];
            if (!isfinite(x) || (cube->has_nodata && x == (float)cube->nodata)) continue;
            v[n++] = x;
        }
        double lo = 0, hi = 1;
        if (n) {
            qsort(v, n, sizeof *v, cmp_float);
            lo = percentile(v, n, o->low_pct);
            hi = percentile(v, n, o->high_pct);
        }
        double span = hi > lo ? hi - lo : 1;
        for (size_t i = 0; i < npx; i++) {
            float x = cube->data[i * cube->bands + (size_t)band[c]];
            double t = isfinite(x) ? (x - lo) / span : 0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            (*out)->data[3 * i + (size_t)c] = (uint8_t)lround(255.0 * t);
        }
    }
    free(v);
    if (o->overlay) {
        double a = o->overlay_alpha;
        for (size_t i = 0; i < npx; i++) {
            int k = o->overlay->data[i];
            if (!k) continue;
            for (int c = 0; c < 3; c++) {
                uint8_t *p = (*out)->data + 3 * i + c;
                *p = (uint8_t)lround((1 - a) * *p + a * o->overlay->classes[k].rgb[c]);
            }
        }
    }
    return HSI_OK;
}

hsi_status hsi_rgb_scale(const hsi_rgb_image *in, int factor, hsi_rgb_image **out)
{
    *out = NULL;
    if (factor < 1 || factor > 64)
        return hsi_error(HSI_ERR_ARG, "scale factor %d is not in 1..64", factor);
    size_t k = (size_t)factor;
    hsi_status st = hsi_rgb_image_new(in->rows * k, in->cols * k, out);
    if (st) return st;
    size_t oc = in->cols * k;
    for (size_t r = 0; r < in->rows; r++) {
        uint8_t *row = (*out)->data + (r * k) * oc * 3;
        for (size_t c = 0; c < in->cols; c++)
            for (size_t j = 0; j < k; j++) memcpy(row + (c * k + j) * 3, in->data + (r * in->cols + c) * 3, 3);
        for (size_t j = 1; j < k; j++) memcpy(row + j * oc * 3, row, oc * 3);
    }
    return HSI_OK;
}

hsi_status hsi_georef_scale(const hsi_georef *in, int factor, hsi_georef *out)
{
    memset(out, 0, sizeof *out);
    hsi_status st = hsi_georef_copy(out, in);
    if (st) return st;
    if (out->has_geotransform && factor > 0) {
        out->geotransform[1] /= factor;
        out->geotransform[2] /= factor;
        out->geotransform[4] /= factor;
        out->geotransform[5] /= factor;
    }
    return HSI_OK;
}

hsi_status hsi_map_legend_write(const hsi_labels *labels, const size_t *counts, FILE *fp)
{
    int w = 5;
    for (int k = 0; k <= labels->n_classes; k++)
        if ((int)strlen(labels->classes[k].name) > w) w = (int)strlen(labels->classes[k].name);
    fprintf(fp, "%3s  %-7s  %-11s  %-*s%s\n", "ID", "Colour", "R,G,B", w, "Class",
            counts ? "   Pixels" : "");
    for (int k = 0; k <= labels->n_classes; k++) {
        if (counts && !counts[k]) continue;
        const hsi_class_info *c = &labels->classes[k];
        char rgb[16];
        snprintf(rgb, sizeof rgb, "%u,%u,%u", c->rgb[0], c->rgb[1], c->rgb[2]);
        fprintf(fp, "%3d  #%02x%02x%02x  %-11s  %-*s", k, c->rgb[0], c->rgb[1], c->rgb[2], rgb, w,
                c->name);
        if (counts) fprintf(fp, " %8zu", counts[k]);
        fputc('\n', fp);
    }
    if (ferror(fp)) return hsi_error(HSI_ERR_IO, "writing the legend failed");
    return HSI_OK;
}

void hsi_graphics_release(void)
{
    cairo_debug_reset_static_data();
    FcFini(); /* fontconfig's configuration, which cairo loaded */
}

/* The legend is drawn with cairo: DejaVu Sans (fontconfig's "sans-serif")
 * at 12 px, antialiased, dark on white; swatches are filled pixel-exact. */
hsi_status hsi_map_legend_image(const hsi_labels *labels, const size_t *counts,
                                int with_unlabelled, hsi_rgb_image **out)
{
    *out = NULL;
    enum { PAD = 6, SWATCH = 12, ROW = 17, GAP = 8 };
    int n = labels->n_classes;
    char line[HSI_CLASS_NAME_MAX + 48];
    size_t rows = 0;
    double width = 0;
    /* A scratch surface to measure the text with the real font. */
    cairo_surface_t *probe = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(probe);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    for (int k = with_unlabelled ? 0 : 1; k <= n; k++) {
        if (counts && !counts[k]) continue;
        if (counts)
            snprintf(line, sizeof line, "%2d %s (%zu px)", k, labels->classes[k].name, counts[k]);
        else
            snprintf(line, sizeof line, "%2d %s", k, labels->classes[k].name);
        cairo_text_extents_t te;
        cairo_text_extents(cr, line, &te);
        if (te.x_advance > width) width = te.x_advance;
        rows++;
    }
    cairo_destroy(cr);
    cairo_surface_destroy(probe);
    if (!rows) return hsi_error(HSI_ERR_DATA, "no classes to put in a legend");
    size_t h = 2 * PAD + rows * ROW - (ROW - SWATCH - 2);
    size_t w = 2 * PAD + SWATCH + GAP + (size_t)ceil(width);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a legend image");
    }
    cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double y = PAD;
    for (int k = with_unlabelled ? 0 : 1; k <= n; k++) {
        if (counts && !counts[k]) continue;
        /* Swatch with a grey frame so white or black classes stay visible. */
        const uint8_t *c = labels->classes[k].rgb;
        cairo_set_source_rgb(cr, 96 / 255.0, 96 / 255.0, 96 / 255.0);
        cairo_rectangle(cr, PAD, y + 1, SWATCH, SWATCH);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
        cairo_rectangle(cr, PAD + 1, y + 2, SWATCH - 2, SWATCH - 2);
        cairo_fill(cr);
        if (counts)
            snprintf(line, sizeof line, "%2d %s (%zu px)", k, labels->classes[k].name, counts[k]);
        else
            snprintf(line, sizeof line, "%2d %s", k, labels->classes[k].name);
        cairo_set_source_rgb(cr, 20 / 255.0, 20 / 255.0, 20 / 255.0);
        /* Text centred on the swatch. */
        cairo_move_to(cr, PAD + SWATCH + GAP, y + 1 + SWATCH / 2.0 + (fe.ascent - fe.descent) / 2);
        cairo_show_text(cr, line);
        y += ROW;
    }
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    hsi_status st = cs == CAIRO_STATUS_SUCCESS
                        ? hsi_rgb_image_new(h, w, out)
                        : hsi_error(HSI_ERR_NOMEM, "drawing the legend failed: %s",
                                    cairo_status_to_string(cs));
    if (!st) {
        const unsigned char *d = cairo_image_surface_get_data(surf);
        int stride = cairo_image_surface_get_stride(surf);
        for (size_t r = 0; r < h; r++)
            for (size_t x = 0; x < w; x++) {
                uint32_t v = ((const uint32_t *)(d + r * (size_t)stride))[x];
                uint8_t *p = (*out)->data + (r * w + x) * 3;
                p[0] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v;
            }
    }
    cairo_surface_destroy(surf);
    return st;
}
