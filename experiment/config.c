/* config.c - read an experiment configuration (see experiment.h) through
 * the shared INI walker; every problem names file:line. */
#include "experiment/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/ini.h"
#include "features/preprocess.h"
#include "io/io.h"

typedef enum { SEC_NONE, SEC_EXPERIMENT, SEC_SCENE, SEC_SPLIT, SEC_PIPELINE } section_kind;

typedef struct parser {
    hsi_experiment *e;
    uint64_t hash;     /* the signature being built */
    int hashing;       /* in a section that counts */
    const char *what;
    section_kind sec;
    char section[HSI_EXP_NAME_MAX + 16];
    int have_scene, have_experiment, seeds_given, repeats_given, classifier_given;
} parser;

static hsi_status bad(parser *p, int line, const char *key, const char *v, const char *want)
{
    return hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] %s = '%s': %s", p->what, line, p->section, key,
                     v, want);
}

static int to_long(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) return -1;
    *out = x;
    return 0;
}

static int to_double(const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= min && x <= max)) return -1;
    *out = x;
    return 0;
}

static int to_bool(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) *out = 0;
    else return -1;
    return 0;
}

static hsi_status copy_str(parser *p, int line, const char *k, const char *v, char *dst, size_t n)
{
    if (strlen(v) >= n) return bad(p, line, k, v, "too long");
    memcpy(dst, v, strlen(v) + 1);
    return HSI_OK;
}

/* A name used in folder names: letters, digits, '-', '_', '.'. */
static int good_name(const char *s)
{
    if (!*s || *s == '.' || strlen(s) >= HSI_EXP_NAME_MAX) return 0;
    for (; *s; s++)
        if (!(((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')) || *s == '-' || *s == '_' || *s == '.')) return 0;
    return 1;
}

static void hash(parser *p, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s;; c++) {
        p->hash = (p->hash ^ *c) * 1099511628211ull;
        if (!*c) break;
    }
}

static hsi_status on_section(void *ctx, const char *kind, const char *name, int line)
{
    parser *p = ctx;
    hsi_experiment *e = p->e;
    p->hashing = strcmp(kind, "experiment") != 0;
    if (p->hashing) hash(p, kind), hash(p, name);
    snprintf(p->section, sizeof p->section, "%s%s%s", kind, *name ? " " : "", name);
    if (!strcmp(kind, "experiment") || !strcmp(kind, "scene")) {
        int *have = !strcmp(kind, "scene") ? &p->have_scene : &p->have_experiment;
        if (*name)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] takes no name", p->what, line, kind);
        if (*have) return hsi_error(HSI_ERR_FORMAT, "%s:%d: a second [%s]", p->what, line, kind);
        *have = 1;
        p->sec = !strcmp(kind, "scene") ? SEC_SCENE : SEC_EXPERIMENT;
        return HSI_OK;
    }
    int is_split = !strcmp(kind, "split");
    if (!is_split && strcmp(kind, "pipeline"))
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: unknown section [%s] (experiment, scene, split NAME, pipeline NAME)",
                         p->what, line, kind);
    if (!good_name(name))
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: [%s NAME]: give a name of letters, digits, '-', '_' or '.' "
                         "(it names folders), not '%s'",
                         p->what, line, kind, name);
    int n = is_split ? e->n_splits : e->n_pipelines;
    if (n == HSI_EXP_MAX_ITEMS)
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: more than %d [%s] sections", p->what, line,
                         HSI_EXP_MAX_ITEMS, kind);
    for (int i = 0; i < n; i++)
        if (!strcmp(is_split ? e->splits[i].name : e->pipelines[i].name, name))
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: a second [%s %s] (first at line %d)", p->what,
                             line, kind, name,
                             is_split ? e->splits[i].line : e->pipelines[i].line);
    if (is_split) {
        hsi_exp_split *s = &e->splits[e->n_splits++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", name);
        s->line = line;
        hsi_split_options_init(&s->opt);
        s->patch = 9;
        p->sec = SEC_SPLIT;
    } else {
        hsi_exp_pipeline *q = &e->pipelines[e->n_pipelines++];
        memset(q, 0, sizeof *q);
        snprintf(q->name, sizeof q->name, "%s", name);
        q->line = line;
        snprintf(q->preprocess, sizeof q->preprocess, "standardise");
        hsi_svm_range_parse("-5,15,2", &q->log2c);
        hsi_svm_range_parse("3,-15,-2", &q->log2g);
        q->folds = 5;
        q->epochs = q->batch = q->patience = -1;
        q->validation_split = -1;
        q->classifier = -1;
        p->sec = SEC_PIPELINE;
    }
    return HSI_OK;
}

static hsi_status experiment_key(parser *p, const char *k, const char *v, int line)
{
    hsi_experiment *e = p->e;
    long l;
    if (!strcmp(k, "repeats")) {
        if (to_long(v, 1, HSI_EXP_MAX_SEEDS, &l)) return bad(p, line, k, v, "expected 1..100");
        e->n_seeds = (int)l;
        for (int i = 0; i < e->n_seeds; i++) e->seeds[i] = (uint64_t)i + 1;
        p->repeats_given = line;
    } else if (!strcmp(k, "seeds")) {
        hsi_list it;
        if (hsi_list_start(&it, v)) return bad(p, line, k, v, "too long");
        e->n_seeds = 0;
        for (char *t; (t = hsi_list_next(&it));) {
            if (e->n_seeds == HSI_EXP_MAX_SEEDS || to_long(t, 0, 1L << 62, &l))
                return bad(p, line, k, v, "expected a comma-separated list of 1..100 seeds >= 0");
            for (int i = 0; i < e->n_seeds; i++)
                if (e->seeds[i] == (uint64_t)l) return bad(p, line, k, v, "a seed given twice");
            e->seeds[e->n_seeds++] = (uint64_t)l;
        }
        if (!e->n_seeds) return bad(p, line, k, v, "no seeds");
        p->seeds_given = line;
    } else {
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: [experiment] unknown key '%s' (seeds, repeats)",
                         p->what, line, k);
    }
    if (p->seeds_given && p->repeats_given)
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: give seeds or repeats, not both", p->what, line);
    return HSI_OK;
}

static hsi_status scene_key(parser *p, const char *k, const char *v, int line)
{
    hsi_experiment *e = p->e;
    long l;
    double d;
    if (!strcmp(k, "simulate")) {
        if (to_bool(v, &e->simulate)) return bad(p, line, k, v, "expected yes or no");
    } else if (!strcmp(k, "rows") || !strcmp(k, "cols")) {
        if (to_long(v, 1, HSI_SIMULATE_MAX_SIZE, &l)) return bad(p, line, k, v, "expected 1..4096");
        *(k[0] == 'r' ? &e->sim.rows : &e->sim.cols) = (size_t)l;
    } else if (!strcmp(k, "difficulty")) {
        if (to_double(v, 0, 1, &d)) return bad(p, line, k, v, "expected 0..1");
        e->sim.difficulty = d;
    } else if (!strcmp(k, "seed")) {
        if (to_long(v, 0, 1L << 62, &l)) return bad(p, line, k, v, "expected a seed >= 0");
        e->sim.seed = (uint64_t)l;
    } else if (!strcmp(k, "bands-count")) {
        if (to_long(v, 200, 220, &l) || (l != 200 && l != 220))
            return bad(p, line, k, v, "expected 220 or 200");
        e->sim.bands = (int)l;
    } else if (!strcmp(k, "file")) {
        return copy_str(p, line, k, v, e->scene, sizeof e->scene);
    } else if (!strcmp(k, "truth")) {
        return copy_str(p, line, k, v, e->truth, sizeof e->truth);
    } else if (!strcmp(k, "var")) {
        return copy_str(p, line, k, v, e->var, sizeof e->var);
    } else if (!strcmp(k, "truth-var")) {
        return copy_str(p, line, k, v, e->truth_var, sizeof e->truth_var);
    } else if (!strcmp(k, "bands")) {
        size_t *b = NULL, n = 0;
        if (hsi_band_list_parse(v, 100000, &b, &n)) return bad(p, line, k, v, hsi_last_error());
        free(b);
        return copy_str(p, line, k, v, e->bands, sizeof e->bands);
    } else if (!strcmp(k, "classes")) {
        return copy_str(p, line, k, v, e->classes, sizeof e->classes);
    } else {
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: [scene] unknown key '%s' (simulate, rows, cols, difficulty, "
                         "seed, bands-count, file, truth, var, truth-var, bands, classes)",
                         p->what, line, k);
    }
    return HSI_OK;
}

static hsi_status split_key(parser *p, const char *k, const char *v, int line)
{
    hsi_exp_split *s = &p->e->splits[p->e->n_splits - 1];
    hsi_split_options *o = &s->opt;
    long l;
    double d;
    if (!strcmp(k, "strategy")) {
        if (hsi_split_strategy_parse(v, &o->strategy)) return bad(p, line, k, v, hsi_last_error());
    } else if (!strcmp(k, "fraction")) {
        if (to_double(v, 1e-9, 1 - 1e-9, &d)) return bad(p, line, k, v, "expected 0 < F < 1");
        o->train_fraction = d;
    } else if (!strcmp(k, "count")) {
        if (to_long(v, 1, 1L << 40, &l)) return bad(p, line, k, v, "expected a count >= 1");
        o->train_count = (size_t)l;
    } else if (!strcmp(k, "min")) {
        if (to_long(v, 0, 1L << 40, &l)) return bad(p, line, k, v, "expected a count >= 0");
        o->min_per_class = (size_t)l;
    } else if (!strcmp(k, "small")) {
        if (hsi_small_rule_parse(v, &o->small)) return bad(p, line, k, v, hsi_last_error());
    } else if (!strcmp(k, "patch")) {
        if (to_long(v, 1, 201, &l) || l % 2 == 0) return bad(p, line, k, v, "expected an odd 1..201");
        s->patch = (int)l;
    } else if (!strcmp(k, "block")) {
        if (to_long(v, 1, 100000, &l)) return bad(p, line, k, v, "expected 1..100000");
        o->block_size = (size_t)l;
    } else if (!strcmp(k, "eps")) {
        if (to_double(v, 1e-9, 1e6, &d)) return bad(p, line, k, v, "expected a radius > 0");
        o->eps = d;
    } else if (!strcmp(k, "min-pts")) {
        if (to_long(v, 1, 1000000, &l)) return bad(p, line, k, v, "expected a count >= 1");
        o->min_pts = (size_t)l;
    } else if (!strcmp(k, "val")) {
        if (to_double(v, 0, 1 - 1e-9, &d)) return bad(p, line, k, v, "expected 0 <= F < 1");
        o->val_fraction = d;
    } else if (!strcmp(k, "mask")) {
        return copy_str(p, line, k, v, s->mask, sizeof s->mask);
    } else if (!strcmp(k, "class-map")) {
        if (strcmp(v, "auto")) {
            int *map = NULL, n = 0;
            if (hsi_mask_map_parse(v, &map, &n)) return bad(p, line, k, v, hsi_last_error());
            free(map);
        }
        return copy_str(p, line, k, v, s->class_map, sizeof s->class_map);
    } else {
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: [%s] unknown key '%s' (strategy, fraction, count, min, small, "
                         "patch, block, eps, min-pts, val, mask, class-map)",
                         p->what, line, p->section, k);
    }
    return HSI_OK;
}

static hsi_status pipeline_key(parser *p, const char *k, const char *v, int line)
{
    hsi_exp_pipeline *q = &p->e->pipelines[p->e->n_pipelines - 1];
    long l;
    double d;
    if (!strcmp(k, "classifier")) {
        if (!strcmp(v, "svm")) q->classifier = HSI_EXP_SVM;
        else if (!strcmp(v, "cnn")) q->classifier = HSI_EXP_CNN;
        else return bad(p, line, k, v, "expected svm or cnn");
    } else if (!strcmp(k, "features")) {
        if (!strcmp(v, "raw")) q->profile = 0;
        else if (!strcmp(v, "profile")) q->profile = 1;
        else return bad(p, line, k, v, "expected raw or profile");
    } else if (!strcmp(k, "pca")) {
        if (to_long(v, 1, 1000, &l)) return bad(p, line, k, v, "expected 1..1000 components");
        q->pca = l;
    } else if (!strcmp(k, "sdap") || !strcmp(k, "ap")) {
        /* One attribute per key, as `hsi profile --sdap area=25,50`. */
        if (q->n_specs == sizeof q->specs / sizeof q->specs[0])
            return bad(p, line, k, v, "too many profiles");
        if (hsi_profile_spec_parse(k[0] == 's' ? HSI_PROFILE_SDAP : HSI_PROFILE_AP, v,
                                   &q->specs[q->n_specs]))
            return bad(p, line, k, v, hsi_last_error());
        q->n_specs++;
        size_t used = strlen(q->profile_text);
        snprintf(q->profile_text + used, sizeof q->profile_text - used, "%s--%s %s", used ? " " : "",
                 k, v);
    } else if (!strcmp(k, "preprocess")) {
        hsi_preprocess_kind kind;
        size_t pk;
        double pf;
        if (hsi_preprocess_parse(v, &kind, &pk, &pf)) return bad(p, line, k, v, hsi_last_error());
        return copy_str(p, line, k, v, q->preprocess, sizeof q->preprocess);
    } else if (!strcmp(k, "class-weights")) {
        if (!strcmp(v, "balanced")) q->balanced = 1;
        else if (!strcmp(v, "none")) q->balanced = 0;
        else return bad(p, line, k, v, "expected none or balanced");
    } else if (!strcmp(k, "log2c") || !strcmp(k, "log2g")) {
        if (hsi_svm_range_parse(v, k[4] == 'c' ? &q->log2c : &q->log2g))
            return bad(p, line, k, v, hsi_last_error());
    } else if (!strcmp(k, "folds")) {
        if (to_long(v, 2, 100, &l)) return bad(p, line, k, v, "expected 2..100");
        q->folds = (int)l;
    } else if (!strcmp(k, "spec")) {
        return copy_str(p, line, k, v, q->spec, sizeof q->spec);
    } else if (!strcmp(k, "epochs")) {
        if (to_long(v, 0, 100000, &l)) return bad(p, line, k, v, "expected 0..100000");
        q->epochs = l;
    } else if (!strcmp(k, "batch")) {
        if (to_long(v, 1, 100000, &l)) return bad(p, line, k, v, "expected 1..100000");
        q->batch = l;
    } else if (!strcmp(k, "patience")) {
        if (to_long(v, 0, 100000, &l)) return bad(p, line, k, v, "expected 0..100000");
        q->patience = l;
    } else if (!strcmp(k, "validation-split")) {
        if (to_double(v, 0, 0.9, &d)) return bad(p, line, k, v, "expected 0..0.9");
        q->validation_split = d;
    } else if (!strcmp(k, "bands")) {
        size_t *b = NULL, n = 0;
        if (hsi_band_list_parse(v, 100000, &b, &n)) return bad(p, line, k, v, hsi_last_error());
        free(b);
        return copy_str(p, line, k, v, q->bands, sizeof q->bands);
    } else if (!strcmp(k, "predict")) {
        if (!strcmp(v, "labelled")) q->predict_labelled = 1;
        else if (!strcmp(v, "scene")) q->predict_labelled = 0;
        else return bad(p, line, k, v, "expected scene or labelled");
    } else {
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: [%s] unknown key '%s' (classifier, features, pca, sdap, ap, "
                         "preprocess, class-weights, log2c, log2g, folds, spec, epochs, batch, "
                         "patience, validation-split, bands, predict)",
                         p->what, line, p->section, k);
    }
    return HSI_OK;
}

static hsi_status on_key(void *ctx, const char *k, const char *v, int line)
{
    parser *p = ctx;
    if (p->hashing) hash(p, k), hash(p, v);
    switch (p->sec) {
    case SEC_EXPERIMENT: return experiment_key(p, k, v, line);
    case SEC_SCENE: return scene_key(p, k, v, line);
    case SEC_SPLIT: return split_key(p, k, v, line);
    case SEC_PIPELINE: return pipeline_key(p, k, v, line);
    default: return hsi_error(HSI_ERR_FORMAT, "%s:%d: a key before any [section]", p->what, line);
    }
}

/* What can only be checked once every key of the file is in. */
static hsi_status check(parser *p)
{
    hsi_experiment *e = p->e;
    const char *w = p->what;
    if (!p->have_scene) return hsi_error(HSI_ERR_FORMAT, "%s: no [scene] section", w);
    if (e->simulate && (*e->scene || *e->truth))
        return hsi_error(HSI_ERR_FORMAT, "%s: [scene] simulate = yes takes no file or truth", w);
    if (!e->simulate && (!*e->scene || !*e->truth))
        return hsi_error(HSI_ERR_FORMAT,
                         "%s: [scene] needs file = CUBE and truth = GT (or simulate = yes)", w);
    if (!e->n_splits) return hsi_error(HSI_ERR_FORMAT, "%s: no [split NAME] section", w);
    if (!e->n_pipelines) return hsi_error(HSI_ERR_FORMAT, "%s: no [pipeline NAME] section", w);
    for (int i = 0; i < e->n_splits; i++) {
        hsi_exp_split *s = &e->splits[i];
        s->opt.radius = (s->patch - 1) / 2;
        if ((s->opt.strategy == HSI_SPLIT_MASK) != (*s->mask != 0))
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [split %s]: mask = FILE %s", w, s->line,
                             s->name,
                             *s->mask ? "is for strategy = mask" : "is needed by strategy = mask");
    }
    for (int i = 0; i < e->n_pipelines; i++) {
        hsi_exp_pipeline *q = &e->pipelines[i];
        if ((int)q->classifier < 0)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [pipeline %s] needs classifier = svm or cnn",
                             w, q->line, q->name);
        if (q->classifier == HSI_EXP_CNN && !*q->spec)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [pipeline %s] needs spec = FILE (a cnn3d spec)",
                             w, q->line, q->name);
        if (q->classifier == HSI_EXP_SVM && *q->spec)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [pipeline %s]: spec is for classifier = cnn",
                             w, q->line, q->name);
        if (q->profile != (q->n_specs > 0))
            return hsi_error(HSI_ERR_FORMAT,
                             "%s:%d: [pipeline %s]: features = profile goes with sdap = or ap = "
                             "keys, and they with it",
                             w, q->line, q->name);
        if (q->classifier == HSI_EXP_SVM && q->predict_labelled)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [pipeline %s]: predict = labelled is for "
                             "classifier = cnn (the SVM classifies a scene fast)",
                             w, q->line, q->name);
        if (q->classifier == HSI_EXP_CNN && q->profile)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [pipeline %s]: profiles are for the svm", w,
                             q->line, q->name);
    }
    return HSI_OK;
}

hsi_status hsi_experiment_parse(const char *text, const char *what, hsi_experiment **out)
{
    *out = NULL;
    hsi_experiment *e = calloc(1, sizeof *e);
    if (!e || !(e->text = strdup(text))) {
        free(e);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    snprintf(e->path, sizeof e->path, "%s", what);
    hsi_simulate_defaults(&e->sim);
    e->n_seeds = 1;
    e->seeds[0] = 1;
    parser p = {.e = e, .what = what, .hash = 14695981039346656037ull};
    hsi_ini_handler h = {on_section, on_key, &p};
    hsi_status st = hsi_ini_walk(text, what, &h);
    if (!st) st = check(&p);
    if (st) {
        hsi_experiment_free(e);
        return st;
    }
    e->signature = p.hash;
    *out = e;
    return HSI_OK;
}

hsi_status hsi_experiment_load(const char *path, hsi_experiment **out)
{
    *out = NULL;
    unsigned char *buf = NULL;
    size_t len;
    hsi_status st = hsi_file_read_all(path, 1u << 20, "larger than 1 MiB: not an experiment",
                                      &buf, &len);
    if (!st && memchr(buf, '\0', len))
        st = hsi_error(HSI_ERR_FORMAT, "%s: binary data: not an experiment configuration", path);
    if (!st) st = hsi_experiment_parse((const char *)buf, path, out);
    free(buf);
    return st;
}

void hsi_experiment_free(hsi_experiment *e)
{
    if (!e) return;
    free(e->text);
    free(e);
}

int hsi_experiment_jobs(const hsi_experiment *e)
{
    return e->n_pipelines * e->n_splits * e->n_seeds;
}

void hsi_experiment_job(const hsi_experiment *e, int job, int *p, int *s, int *k)
{
    *k = job % e->n_seeds;
    *s = job / e->n_seeds % e->n_splits;
    *p = job / e->n_seeds / e->n_splits;
}

void hsi_experiment_job_path(const hsi_experiment *e, const char *dir, int job, const char *file,
                             char *buf, size_t len)
{
    int p, s, k;
    hsi_experiment_job(e, job, &p, &s, &k);
    snprintf(buf, len, "%s/jobs/%s/%s/s%llu%s%s", dir, e->pipelines[p].name, e->splits[s].name,
             (unsigned long long)e->seeds[k], file ? "/" : "", file ? file : "");
}

void hsi_experiment_split_path(const hsi_experiment *e, const char *dir, int s, int k,
                               const char *side, char *buf, size_t len)
{
    snprintf(buf, len, "%s/splits/%s_s%llu_%s.tif", dir, e->splits[s].name,
             (unsigned long long)e->seeds[k], side);
}

void hsi_experiment_scene_paths(const hsi_experiment *e, const char *dir, char *scene, char *truth,
                                size_t len)
{
    if (e->simulate) {
        snprintf(scene, len, "%s/scene.tif", dir);
        snprintf(truth, len, "%s/gt.tif", dir);
    } else {
        snprintf(scene, len, "%s", e->scene);
        snprintf(truth, len, "%s", e->truth);
    }
}
