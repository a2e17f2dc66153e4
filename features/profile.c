/* profile.c - AP / SDAP / EAP / EMAP feature cubes (see profile.h).
 *
 * Work is split into tasks (input band, tree kind): one tree is built per
 * task, each attribute the task's specs need is computed on it once, and
 * every threshold is one filter pass writing one output band. Tasks run in
 * parallel with OpenMP; a worker's failure is carried back to the calling
 * thread with its message (messages are thread-local).
 */
#include "features/profile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

hsi_status hsi_profile_spec_parse(hsi_profile_kind kind, const char *text,
                                  hsi_profile_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->kind = kind;
    const char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return hsi_error(HSI_ERR_ARG, "profile '%s': want ATTRIBUTE=T1,T2,... (e.g. area=100,500)",
                         text);
    char attr[32];
    size_t len = (size_t)(eq - text);
    if (len >= sizeof attr) len = sizeof attr - 1;
    memcpy(attr, text, len);
    attr[len] = '\0';
    if (hsi_attribute_parse(attr, &spec->attr))
        return hsi_error(HSI_ERR_ARG,
                         "profile '%s': unknown attribute '%s' (want area, diagonal, inertia or std)",
                         text, attr);
    const char *p = eq + 1;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v) || v < 0 || (*end && *end != ','))
            return hsi_error(HSI_ERR_ARG, "profile '%s': thresholds must be numbers >= 0 separated by commas",
                             text);
        if (spec->n_thresholds == HSI_PROFILE_MAX_THRESHOLDS)
            return hsi_error(HSI_ERR_ARG, "profile '%s': more than %d thresholds", text,
                             HSI_PROFILE_MAX_THRESHOLDS);
        spec->thresholds[spec->n_thresholds++] = v;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return hsi_error(HSI_ERR_ARG, "profile '%s': trailing comma", text);
    }
    if (spec->n_thresholds == 0)
        return hsi_error(HSI_ERR_ARG, "profile '%s': no thresholds", text);
    qsort(spec->thresholds, spec->n_thresholds, sizeof *spec->thresholds, compare_double);
    for (size_t i = 1; i < spec->n_thresholds; i++)
        if (spec->thresholds[i] == spec->thresholds[i - 1])
            return hsi_error(HSI_ERR_ARG, "profile '%s': threshold %g given twice", text,
                             spec->thresholds[i]);
    return HSI_OK;
}

size_t hsi_profile_bands_per_input(const hsi_profile_spec *specs, size_t n_specs, int omit_input)
{
    size_t n = omit_input ? 0 : 1;
    for (size_t s = 0; s < n_specs; s++)
        n += (specs[s].kind == HSI_PROFILE_AP ? 2 : 1) * specs[s].n_thresholds;
    return n;
}

/* Band within an input band's block of spec s, threshold j, for tree `kind`
 * (AP: min-tree -> thickenings, largest threshold first; max-tree ->
 * thinnings after them). */
size_t hsi_profile_band_slot(const hsi_profile_spec *specs, size_t s, int omit_input, hsi_tree_kind kind,
                        size_t j)
{
    size_t off = hsi_profile_bands_per_input(specs, s, omit_input);
    size_t n = specs[s].n_thresholds;
    if (kind == HSI_TREE_MIN) return off + (n - 1 - j);
    if (kind == HSI_TREE_MAX) return off + n + j;
    return off + j;
}

int hsi_profile_spec_uses_tree(const hsi_profile_spec *spec, hsi_tree_kind kind)
{
    return spec->kind == HSI_PROFILE_AP ? kind != HSI_TREE_SHAPES : kind == HSI_TREE_SHAPES;
}

hsi_status hsi_profile_name_bands(const char *const *in_names, size_t in_bands,
                                  const hsi_profile_spec *specs, size_t n_specs, int omit_input,
                                  hsi_cube *out)
{
    size_t per_input = hsi_profile_bands_per_input(specs, n_specs, omit_input);
    char name[160], base[96];
    hsi_status st = HSI_OK;
    for (size_t b = 0; b < in_bands && !st; b++) {
        if (in_names && in_names[b] && in_names[b][0])
            snprintf(base, sizeof base, "%s", in_names[b]);
        else
            snprintf(base, sizeof base, "band %zu", b + 1);
        size_t first = b * per_input;
        if (!omit_input) st = hsi_cube_set_band_name(out, first, base);
        for (size_t s = 0; s < n_specs && !st; s++)
            for (size_t j = 0; j < specs[s].n_thresholds && !st; j++)
                for (int k = 0; k < 3 && !st; k++) {
                    if (!hsi_profile_spec_uses_tree(&specs[s], (hsi_tree_kind)k)) continue;
                    snprintf(name, sizeof name, "%s %s>=%g %s", base,
                             hsi_attribute_name(specs[s].attr), specs[s].thresholds[j],
                             k == HSI_TREE_MIN ? "thick" : k == HSI_TREE_MAX ? "thin" : "sdap");
                    st = hsi_cube_set_band_name(
                        out, first + hsi_profile_band_slot(specs, s, omit_input, (hsi_tree_kind)k, j), name);
                }
    }
    return st;
}

/* One task: build the tree of input band b and fill its bands. */
static hsi_status run_task(const hsi_cube *in, size_t b, hsi_tree_kind kind,
                           const hsi_profile_spec *specs, size_t n_specs,
                           const hsi_profile_options *o, size_t per_input, hsi_cube *out,
                           float *image, float *filtered)
{
    size_t n = in->rows * in->cols, ob = out->bands;
    for (size_t p = 0; p < n; p++) image[p] = in->data[p * in->bands + b];
    hsi_tree_options topt = {.connectivity = o->connectivity ? o->connectivity : 4,
                             .quantise_bits = o->quantise_bits};
    hsi_tree *tree = NULL;
    hsi_status st = hsi_tree_build(image, in->rows, in->cols, kind, &topt, &tree);
    if (st) return hsi_error_prefix(st, "band %zu", b + 1);
    double *attr = malloc(tree->n_nodes * sizeof *attr);
    if (!attr) {
        hsi_tree_free(tree);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for the attributes of band %zu", b + 1);
    }
    int have = -1; /* attribute currently in attr */
    for (size_t s = 0; s < n_specs && !st; s++) {
        if (!hsi_profile_spec_uses_tree(&specs[s], kind)) continue;
        if ((int)specs[s].attr != have) {
            if ((st = hsi_tree_attribute(tree, image, specs[s].attr, attr))) break;
            have = (int)specs[s].attr;
        }
        for (size_t j = 0; j < specs[s].n_thresholds && !st; j++) {
            st = hsi_tree_filter(tree, attr, specs[s].thresholds[j], o->rule, filtered);
            if (st) break;
            size_t band = b * per_input + hsi_profile_band_slot(specs, s, o->omit_input, kind, j);
            for (size_t p = 0; p < n; p++) out->data[p * ob + band] = filtered[p];
        }
    }
    free(attr);
    hsi_tree_free(tree);
    return st;
}

hsi_status hsi_profile_specs_check(const hsi_profile_spec *specs, size_t n_specs)
{
    if (n_specs == 0 || !specs) return hsi_error(HSI_ERR_ARG, "profile: no profile requested");
    for (size_t s = 0; s < n_specs; s++)
        if (specs[s].n_thresholds == 0 || specs[s].n_thresholds > HSI_PROFILE_MAX_THRESHOLDS ||
            specs[s].attr >= HSI_ATTR_COUNT ||
            (specs[s].kind != HSI_PROFILE_AP && specs[s].kind != HSI_PROFILE_SDAP))
            return hsi_error(HSI_ERR_ARG, "profile: spec %zu is malformed", s + 1);
    return HSI_OK;
}

hsi_status hsi_profile_cube(const hsi_cube *in, const hsi_profile_spec *specs, size_t n_specs,
                            const hsi_profile_options *opts, const hsi_progress *progress,
                            hsi_cube **out)
{
    *out = NULL;
    hsi_profile_options o = {0};
    if (opts) o = *opts;
    if (!in || !in->data || in->bands == 0)
        return hsi_error(HSI_ERR_ARG, "profile: no input cube");
    hsi_status spec_st = hsi_profile_specs_check(specs, n_specs);
    if (spec_st) return spec_st;
    if (o.connectivity != 0 && o.connectivity != 4 && o.connectivity != 8)
        return hsi_error(HSI_ERR_ARG, "profile: connectivity %d (want 4 or 8)", o.connectivity);
    if (o.quantise_bits != 0 && o.quantise_bits != 8 && o.quantise_bits != 16)
        return hsi_error(HSI_ERR_ARG, "profile: quantisation to %d bits (want 0, 8 or 16)",
                         o.quantise_bits);
    if (o.rule > HSI_RULE_SUBTRACTIVE)
        return hsi_error(HSI_ERR_ARG, "profile: unknown filtering rule %d", (int)o.rule);

    size_t per_input = hsi_profile_bands_per_input(specs, n_specs, o.omit_input);
    if (per_input == 0) return hsi_error(HSI_ERR_ARG, "profile: the profile has no bands");
    hsi_cube *cube = NULL;
    hsi_status st = hsi_cube_new_like(in, per_input * in->bands, &cube);
    if (st) return st;

    /* band names, and the input bands themselves */
    st = hsi_profile_name_bands((const char *const *)in->band_names, in->bands, specs, n_specs,
                                o.omit_input, cube);
    for (size_t b = 0; b < in->bands && !st && !o.omit_input; b++) {
        size_t first = b * per_input, n = in->rows * in->cols;
        for (size_t p = 0; p < n; p++)
            cube->data[p * cube->bands + first] = in->data[p * in->bands + b];
    }
    if (st) {
        hsi_cube_free(cube);
        return st;
    }

    /* tasks: (input band, tree kind) for every kind some spec needs */
    int need[3] = {0, 0, 0};
    for (size_t s = 0; s < n_specs; s++)
        for (int k = 0; k < 3; k++) need[k] |= hsi_profile_spec_uses_tree(&specs[s], (hsi_tree_kind)k);
    int kinds[3], n_kinds = 0;
    for (int k = 0; k < 3; k++)
        if (need[k]) kinds[n_kinds++] = k;
    long n_tasks = (long)(in->bands * (size_t)n_kinds);
    size_t npix = in->rows * in->cols;
    hsi_status first_error = HSI_OK;
    char message[512] = "";
    long done = 0;

#pragma omp parallel
    {
        float *image = malloc(npix * sizeof *image);
        float *filtered = malloc(npix * sizeof *filtered);
        if (!image || !filtered) {
#pragma omp critical(hsi_profile_error)
            if (!first_error) {
                first_error = HSI_ERR_NOMEM;
                snprintf(message, sizeof message, "profile: out of memory for %zu pixels", npix);
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < n_tasks; t++) {
            int failed;
#pragma omp atomic read
            failed = first_error;
            if (failed || !image || !filtered) continue;
            size_t b = (size_t)t / (size_t)n_kinds;
            hsi_tree_kind kind = (hsi_tree_kind)kinds[t % n_kinds];
            hsi_status ts = run_task(in, b, kind, specs, n_specs, &o, per_input, cube, image,
                                     filtered);
            if (ts) {
#pragma omp critical(hsi_profile_error)
                if (!first_error) {
                    first_error = ts;
                    snprintf(message, sizeof message, "%s", hsi_last_error());
                }
            }
            long now;
#pragma omp atomic capture
            now = ++done;
#ifdef _OPENMP
            if (omp_get_thread_num() == 0)
#endif
                if (now < n_tasks) /* the last one is reported once, below */
                    hsi_progress_report(progress, (double)now, (double)n_tasks, NULL);
        }
        free(image);
        free(filtered);
    }
    if (first_error) {
        hsi_cube_free(cube);
        return hsi_error(first_error, "%s", message);
    }
    hsi_progress_report(progress, (double)n_tasks, (double)n_tasks, NULL);
    *out = cube;
    return HSI_OK;
}
