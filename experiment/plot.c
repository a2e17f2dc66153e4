/* plot.c - see plot.h. Everything is drawn at 1 px = 1 CSS px on white,
 * in DejaVu Sans (cairo's "sans-serif" through fontconfig), antialiased. */
#include "experiment/plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A palette that stays apart for colour-blind readers (Okabe & Ito 2008). */
static const double palette[8][3] = {
    {0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.000, 0.620, 0.451}, {0.800, 0.475, 0.655},
    {0.337, 0.706, 0.914}, {0.902, 0.624, 0.000}, {0.941, 0.894, 0.259}, {0.0, 0.0, 0.0}};

void plot_png_free(plot_png *p)
{
    free(p->data);
    free(p->svg);
    memset(p, 0, sizeof *p);
}

static cairo_status_t sink(plot_png *p, unsigned char **data, size_t *len, size_t *cap,
                           const unsigned char *bytes, unsigned int length)
{
    (void)p;
    if (*len + length > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *len + length) c *= 2;
        unsigned char *g = realloc(*data, c);
        if (!g) return CAIRO_STATUS_NO_MEMORY;
        *data = g;
        *cap = c;
    }
    memcpy(*data + *len, bytes, length);
    *len += length;
    return CAIRO_STATUS_SUCCESS;
}

static cairo_status_t png_sink(void *closure, const unsigned char *data, unsigned int length)
{
    plot_png *p = closure;
    return sink(p, &p->data, &p->len, &p->cap, data, length);
}

static cairo_status_t svg_sink(void *closure, const unsigned char *data, unsigned int length)
{
    plot_png *p = closure;
    return sink(p, &p->svg, &p->svg_len, &p->svg_cap, data, length);
}

/* Pass 0 draws into an image written out as PNG, pass 1 the same drawing
 * into an SVG stream (vector, for print). */
static hsi_status finish(cairo_t *cr, cairo_surface_t *surf, plot_png *out, int pass)
{
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    if (cs == CAIRO_STATUS_SUCCESS && pass == 0)
        cs = cairo_surface_write_to_png_stream(surf, png_sink, out);
    if (cs == CAIRO_STATUS_SUCCESS && pass == 1) {
        cairo_surface_finish(surf);
        cs = cairo_surface_status(surf);
    }
    cairo_surface_destroy(surf);
    if (cs != CAIRO_STATUS_SUCCESS) {
        plot_png_free(out);
        return hsi_error(HSI_ERR_NOMEM, "drawing a plot failed: %s", cairo_status_to_string(cs));
    }
    return HSI_OK;
}

static cairo_t *canvas(int w, int h, cairo_surface_t **surf, int pass, plot_png *out)
{
    if (pass == 0) memset(out, 0, sizeof *out);
    *surf = pass == 0 ? cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h)
                      : cairo_svg_surface_create_for_stream(svg_sink, out, w, h);
    cairo_t *cr = cairo_create(*surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    return cr;
}

/* Text anchored at (x, y): ax, ay = 0 left/top, 0.5 centre, 1 right/bottom. */
static void text(cairo_t *cr, double x, double y, double ax, double ay, const char *s)
{
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    double h = fe.ascent;
    cairo_move_to(cr, x - ax * te.x_advance, y - ay * h + h);
    cairo_show_text(cr, s);
}

static void title_text(cairo_t *cr, double w, const char *title)
{
    cairo_save(cr);
    cairo_set_font_size(cr, 14);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, w / 2, 8, 0.5, 0, title);
    cairo_restore(cr);
}

/* A "nice" axis step for a range: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int ticks)
{
    double raw = range / ticks, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Axes with y ticks over [y0, y1] in the plot box (l, t, r, b). */
static void y_axis(cairo_t *cr, double l, double t, double r, double b, double y0, double y1,
                   const char *label)
{
    double step = nice_step(y1 - y0, 5);
    char buf[32];
    cairo_set_line_width(cr, 1);
    for (double v = ceil(y0 / step) * step; v <= y1 + 1e-9 * step; v += step) {
        double y = b - (v - y0) / (y1 - y0) * (b - t);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, l, floor(y) + 0.5);
        cairo_line_to(cr, r, floor(y) + 0.5);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < 1e-12 ? 0 : v);
        text(cr, l - 5, y, 1, 0.5, buf);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, floor(l) + 0.5, floor(t) + 0.5, floor(r - l), floor(b - t));
    cairo_stroke(cr);
    cairo_save(cr);
    cairo_translate(cr, 12, (t + b) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, 0.5, 0.5, label);
    cairo_restore(cr);
}

hsi_status plot_rgb_png(const hsi_rgb_image *img, plot_png *out)
{
    cairo_surface_t *surf =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)img->cols, (int)img->rows);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for a %zu x %zu image", img->rows, img->cols);
    }
    cairo_surface_flush(surf);
    unsigned char *d = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (size_t r = 0; r < img->rows; r++) {
        uint32_t *row = (uint32_t *)(d + r * (size_t)stride);
        for (size_t c = 0; c < img->cols; c++) {
            const uint8_t *p = img->data + (r * img->cols + c) * 3;
            row[c] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        }
    }
    cairo_surface_mark_dirty(surf);
    memset(out, 0, sizeof *out);
    return finish(cairo_create(surf), surf, out, 0);
}

hsi_status plot_bars(const char *title, const char *y_label, const char *const *groups,
                     int n_groups, const char *const *series, int n_series, const double *value,
                     const double *err, double y_max, plot_png *out)
{
    const int W = 640, H = 360;
    const double l = 60, t = 34, r = W - 150, b = H - 40;
    if (y_max <= 0) {
        for (int i = 0; i < n_groups * n_series; i++)
            if (!isnan(value[i]) && value[i] + (isnan(err[i]) ? 0 : err[i]) > y_max)
                y_max = value[i] + (isnan(err[i]) ? 0 : err[i]);
        if (y_max <= 0) y_max = 1;
        double step = nice_step(y_max, 5);
        y_max = ceil(y_max / step) * step;
    }
    hsi_status st = HSI_OK;
    for (int pass = 0; !st && pass < 2; pass++) {
        cairo_surface_t *surf;
        cairo_t *cr = canvas(W, H, &surf, pass, out);
        title_text(cr, W, title);
        y_axis(cr, l, t, r, b, 0, y_max, y_label);
        double gw = (r - l) / n_groups, bw = gw * 0.8 / n_series;
        for (int g = 0; g < n_groups; g++) {
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text(cr, l + (g + 0.5) * gw, b + 6, 0.5, 0, groups[g]);
            for (int s = 0; s < n_series; s++) {
                double v = value[g * n_series + s], e = err[g * n_series + s];
                if (isnan(v)) continue;
                double x = l + g * gw + gw * 0.1 + s * bw;
                double y = b - v / y_max * (b - t);
                const double *c = palette[s % 8];
                cairo_set_source_rgb(cr, c[0], c[1], c[2]);
                cairo_rectangle(cr, x + 1, y, bw - 2, b - y);
                cairo_fill(cr);
                if (!isnan(e) && e > 0) {
                    double y1 = b - (v + e) / y_max * (b - t), y0 = b - (v - e) / y_max * (b - t);
                    cairo_set_source_rgb(cr, 0, 0, 0);
                    cairo_set_line_width(cr, 1.2);
                    cairo_move_to(cr, x + bw / 2, y0);
                    cairo_line_to(cr, x + bw / 2, y1);
                    cairo_move_to(cr, x + bw / 2 - 4, y1);
                    cairo_line_to(cr, x + bw / 2 + 4, y1);
                    cairo_move_to(cr, x + bw / 2 - 4, y0);
                    cairo_line_to(cr, x + bw / 2 + 4, y0);
                    cairo_stroke(cr);
                }
            }
        }
        for (int s = 0; s < n_series; s++) {
            const double *c = palette[s % 8];
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_rectangle(cr, r + 12, t + 4 + s * 20, 12, 12);
            cairo_fill(cr);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text(cr, r + 30, t + 10 + s * 20, 0, 0.5, series[s]);
        }
        st = finish(cr, surf, out, pass);
    }
    return st;
}

hsi_status plot_lines(const char *title, const char *x_label, const char *y_label,
                      const char *const *series, int n_series, const double *const *x,
                      const double *const *y, const int *n, const int *dashed, plot_png *out)
{
    const int W = 480, H = 300;
    const double l = 60, t = 34, r = W - 20, b = H - 86;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < n[s]; i++) {
            if (isnan(y[s][i]) || isnan(x[s][i])) continue;
            x0 = fmin(x0, x[s][i]), x1 = fmax(x1, x[s][i]);
            y0 = fmin(y0, y[s][i]), y1 = fmax(y1, y[s][i]);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    y0 = fmin(y0, 0);
    if (y1 <= y0) y1 = y0 + 1;
    double step = nice_step(y1 - y0, 5);
    y1 = ceil(y1 / step) * step;
    hsi_status st = HSI_OK;
    for (int pass = 0; !st && pass < 2; pass++) {
        cairo_surface_t *surf;
        cairo_t *cr = canvas(W, H, &surf, pass, out);
        title_text(cr, W, title);
        y_axis(cr, l, t, r, b, y0, y1, y_label);
        double xs = nice_step(x1 - x0, 6);
        /* Whole x values (epochs): whole ticks. */
        int whole = 1;
        for (int s = 0; s < n_series && whole; s++)
            for (int i = 0; i < n[s]; i++)
                if (x[s][i] != floor(x[s][i])) whole = 0;
        if (whole && xs < 1) xs = 1;
        char buf[32];
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        for (double v = ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
            snprintf(buf, sizeof buf, "%g", v);
            text(cr, l + (v - x0) / (x1 - x0) * (r - l), b + 4, 0.5, 0, buf);
        }
        text(cr, (l + r) / 2, b + 22, 0.5, 0, x_label);
        int shown = 0;
        for (int s = 0; s < n_series; s++) {
            int any = 0;
            for (int i = 0; i < n[s]; i++) any |= !isnan(y[s][i]);
            if (!any) continue; /* e.g. no validation share: no line, no legend entry */
            const double *c = palette[s / 2 % 8];
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_set_line_width(cr, 1.8);
            double dash[2] = {5, 3};
            cairo_set_dash(cr, dash, dashed && dashed[s] ? 2 : 0, 0);
            int pen = 0;
            for (int i = 0; i < n[s]; i++) {
                if (isnan(y[s][i])) {
                    pen = 0;
                    continue;
                }
                double px = l + (x[s][i] - x0) / (x1 - x0) * (r - l);
                double py = b - (y[s][i] - y0) / (y1 - y0) * (b - t);
                if (pen) cairo_line_to(cr, px, py);
                else cairo_move_to(cr, px, py);
                pen = 1;
            }
            cairo_stroke(cr);
            /* Legend below the axis, two entries a row. */
            double lx = l + (shown % 2) * (r - l) / 2, ly = b + 42 + (shown / 2) * 16;
            shown++;
            cairo_move_to(cr, lx, ly + 6);
            cairo_line_to(cr, lx + 22, ly + 6);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text(cr, lx + 28, ly + 6, 0, 0.5, series[s]);
        }
        st = finish(cr, surf, out, pass);
    }
    return st;
}

hsi_status plot_confusion(const char *title, const hsi_metrics *m, plot_png *out)
{
    int k = m->n_classes, cell = k > 24 ? 12 : 22;
    const double l = 46, t = 64;
    int W = (int)(l + (k + 1) * cell + 30), H = (int)(t + k * cell + 44);
    if (W < 300) W = 300;
    hsi_status st = HSI_OK;
    for (int pass = 0; !st && pass < 2; pass++) {
        cairo_surface_t *surf;
        cairo_t *cr = canvas(W, H, &surf, pass, out);
        title_text(cr, W, title);
        cairo_set_font_size(cr, cell > 12 ? 10 : 7);
        char buf[16];
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text(cr, l + (k + 1) * cell / 2.0, t - 32, 0.5, 0, "predicted class (0: unclassified)");
        for (int p = 0; p <= k; p++) {
            snprintf(buf, sizeof buf, "%d", p);
            text(cr, l + (p + 0.5) * cell, t - 14, 0.5, 0, buf);
        }
        for (int tr = 1; tr <= k; tr++) {
            uint64_t row = m->truth_count[tr];
            snprintf(buf, sizeof buf, "%d", tr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            text(cr, l - 6, t + (tr - 0.5) * cell, 1, 0.5, buf);
            for (int p = 0; p <= k; p++) {
                double f = row ? (double)m->confusion[(size_t)(tr - 1) * (k + 1) + p] / row : 0;
                /* white -> dark blue on the diagonal, white -> dark red elsewhere */
                double g = 1 - f;
                if (p == tr) cairo_set_source_rgb(cr, g, g * 0.7 + 0.3 * g * g, 1 - 0.55 * f);
                else cairo_set_source_rgb(cr, 1 - 0.3 * f, g, g);
                if (!row) cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
                cairo_rectangle(cr, l + p * cell, t + (tr - 1) * cell, cell - 1, cell - 1);
                cairo_fill(cr);
                if (f >= 0.005 && cell > 12) {
                    snprintf(buf, sizeof buf, "%.0f", 100 * f);
                    if (f > 0.55) cairo_set_source_rgb(cr, 1, 1, 1);
                    else cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
                    text(cr, l + (p + 0.5) * cell, t + (tr - 0.5) * cell, 0.5, 0.5, buf);
                }
            }
        }
        cairo_set_font_size(cr, 11);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text(cr, l, t + k * cell + 10, 0, 0,
             "rows: truth class; cells: % of its test pixels");
        st = finish(cr, surf, out, pass);
    }
    return st;
}
