/* spec.c - parse model spec files (darknet-style INI).
 *
 *     # comment (also ';')
 *     [net]
 *     input = 9, 9, auto     # x, y, bands ("auto" = from the data)
 *     classes = auto
 *     [conv3d]
 *     filters = 48
 *     kernel = 3, 3, 5       # x, y, spectral
 *     activation = relu
 *
 * Lines, comments, section headers and repeated keys are base/ini.c's (the
 * reader experiment configs share); the keys are read here. Every problem
 * is an error naming "file:line"; nothing is silently
 * defaulted. Shapes are inferred later (net.c) when bands and classes are
 * known.
 */
#include "cnn3d/cnn.h"
#include "cnn3d/device.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/ini.h"

typedef struct parser {
    const char *what;
    int line;
    char section[64];
    hsi_cnn_spec *spec;
    hsi_cnn_layer_spec *layer; /* NULL in [net] */
    int header_line;           /* line of the current [section]; 0 before the first */
    int have_net, have_input;
} parser;

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static hsi_status bad_value(parser *p, const char *key, const char *value, const char *want)
{
    return hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] %s = '%s': %s", p->what, p->line, p->section,
                     key, value, want);
}

static hsi_status parse_int(parser *p, const char *key, const char *v, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *trim(end) || x < min || x > max) {
        char want[80];
        snprintf(want, sizeof want, "expected an integer in %d..%d", min, max);
        return bad_value(p, key, v, want);
    }
    *out = (int)x;
    return HSI_OK;
}

static hsi_status parse_real(parser *p, const char *key, const char *v, double min, double max,
                             double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *trim(end) || !isfinite(x) || x < min || x > max) {
        char want[80];
        snprintf(want, sizeof want, "expected a number in %g..%g", min, max);
        return bad_value(p, key, v, want);
    }
    *out = x;
    return HSI_OK;
}

static hsi_status parse_bool(parser *p, const char *key, const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *out = 0;
    else return bad_value(p, key, v, "expected 0/1, true/false or yes/no");
    return HSI_OK;
}

/* "x, y, spectral" (or one value for all three) -> out = (d, h, w). With
 * allow_auto, "auto" entries give 0. */
static hsi_status parse_triple(parser *p, const char *key, const char *v, int min, int max,
                               int allow_auto, int out[3])
{
    int xyz[3], n = 0;
    hsi_list it;
    if (hsi_list_start(&it, v)) return bad_value(p, key, v, "too long");
    for (char *tok; (tok = hsi_list_next(&it));) {
        if (n == 3) return bad_value(p, key, v, "expected x, y, spectral");
        if (allow_auto && !strcmp(tok, "auto")) {
            xyz[n++] = 0;
            continue;
        }
        char *end;
        errno = 0;
        long x = strtol(tok, &end, 10);
        if (errno || end == tok || *end || x < min || x > max) {
            char want[96];
            snprintf(want, sizeof want, "expected x, y, spectral integers in %d..%d%s", min, max,
                     allow_auto ? " or auto" : "");
            return bad_value(p, key, v, want);
        }
        xyz[n++] = (int)x;
    }
    if (n == 1) xyz[1] = xyz[2] = xyz[0];
    else if (n != 3) return bad_value(p, key, v, "expected x, y, spectral (or one value)");
    out[0] = xyz[2]; /* spectral = depth */
    out[1] = xyz[1]; /* y = height */
    out[2] = xyz[0]; /* x = width */
    return HSI_OK;
}

static hsi_status parse_activation(parser *p, const char *key, const char *v,
                                   hsi_cnn_activation *out)
{
    static const char *names[] = {"linear", "relu", "sigmoid", "tanh", "softmax"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(v, names[i])) {
            *out = (hsi_cnn_activation)i;
            return HSI_OK;
        }
    return bad_value(p, key, v, "expected linear, relu, sigmoid, tanh or softmax");
}

static hsi_status net_key(parser *p, const char *k, const char *v)
{
    hsi_cnn_spec *s = p->spec;
    if (!strcmp(k, "input")) {
        int dhw[3];
        hsi_status st = parse_triple(p, k, v, 1, 100000, 1, dhw);
        if (st) return st;
        s->in_bands = dhw[0], s->in_h = dhw[1], s->in_w = dhw[2];
        if (!s->in_h || !s->in_w) return bad_value(p, k, v, "only the bands may be auto");
        return HSI_OK;
    }
    if (!strcmp(k, "classes")) {
        if (!strcmp(v, "auto")) return s->classes = 0, HSI_OK;
        return parse_int(p, k, v, 2, 65535, &s->classes);
    }
    if (!strcmp(k, "batch")) return parse_int(p, k, v, 1, 1000000, &s->batch);
    if (!strcmp(k, "epochs")) return parse_int(p, k, v, 1, 100000000, &s->epochs);
    if (!strcmp(k, "loss")) {
        if (!strcmp(v, "mse") || !strcmp(v, "mean_squared_error")) s->loss = HSI_CNN_LOSS_MSE;
        else if (!strcmp(v, "cce") || !strcmp(v, "categorical_crossentropy"))
            s->loss = HSI_CNN_LOSS_CCE;
        else return bad_value(p, k, v, "expected cce (categorical_crossentropy) or mse");
        return HSI_OK;
    }
    if (!strcmp(k, "optimizer") || !strcmp(k, "optimiser")) {
        if (!strcmp(v, "sgd")) s->optimizer = HSI_CNN_OPT_SGD;
        else if (!strcmp(v, "adam")) s->optimizer = HSI_CNN_OPT_ADAM;
        else return bad_value(p, k, v, "expected sgd or adam");
        return HSI_OK;
    }
    if (!strcmp(k, "learning_rate")) return parse_real(p, k, v, 1e-12, 1e6, &s->learning_rate);
    if (!strcmp(k, "decay")) return parse_real(p, k, v, 0, 1e6, &s->decay);
    if (!strcmp(k, "momentum")) return parse_real(p, k, v, 0, 0.999999, &s->momentum);
    if (!strcmp(k, "nesterov")) return parse_bool(p, k, v, &s->nesterov);
    if (!strcmp(k, "beta1")) return parse_real(p, k, v, 0, 0.999999, &s->beta1);
    if (!strcmp(k, "beta2")) return parse_real(p, k, v, 0, 0.999999999, &s->beta2);
    if (!strcmp(k, "epsilon")) return parse_real(p, k, v, 1e-30, 1, &s->epsilon);
    if (!strcmp(k, "weight_decay")) return parse_real(p, k, v, 0, 1, &s->weight_decay);
    if (!strcmp(k, "validation_split")) return parse_real(p, k, v, 0, 0.9, &s->validation_split);
    if (!strcmp(k, "patience")) return parse_int(p, k, v, 0, 1000000, &s->patience);
    if (!strcmp(k, "warmup")) return parse_int(p, k, v, 0, 100000000, &s->schedule.warmup);
    if (!strcmp(k, "schedule") || !strcmp(k, "augment")) {
        /* One parser each (schedule.c, augment.c) serves the spec and the command line. */
        char what[160];
        snprintf(what, sizeof what, "%s:%d: [net] %s =", p->what, p->line, k);
        hsi_status st = k[0] == 's' ? hsi_cnn_schedule_parse(v, what, &s->schedule)
                                    : hsi_cnn_augment_parse(v, what, &s->augment);
        if (!st) return HSI_OK;
        char msg[512]; /* the message buffer is about to be rewritten */
        snprintf(msg, sizeof msg, "%s", hsi_last_error());
        return hsi_error(HSI_ERR_FORMAT, "%s", msg);
    }
    if (!strcmp(k, "device")) { /* cnn3d/device.h; train's --device overrides it */
        if (!hsi_cnn_device_name_ok(v)) return bad_value(p, k, v, "expected cpu, cuda, cuda:N or auto");
        snprintf(s->device, sizeof s->device, "%s", v);
        return HSI_OK;
    }
    if (!strcmp(k, "init")) {
        if (!strcmp(v, "glorot_uniform")) s->init = HSI_CNN_INIT_GLOROT_UNIFORM;
        else if (!strcmp(v, "he_normal")) s->init = HSI_CNN_INIT_HE_NORMAL;
        else if (!strcmp(v, "he_uniform")) s->init = HSI_CNN_INIT_HE_UNIFORM;
        else return bad_value(p, k, v, "expected glorot_uniform, he_normal or he_uniform");
        return HSI_OK;
    }
    return hsi_error(HSI_ERR_FORMAT, "%s:%d: unknown key '%s' in [net]", p->what, p->line, k);
}

static hsi_status layer_key(parser *p, const char *k, const char *v)
{
    hsi_cnn_layer_spec *l = p->layer;
    switch (l->kind) {
    case HSI_CNN_CONV3D:
        if (!strcmp(k, "filters")) return parse_int(p, k, v, 1, 65536, &l->units);
        if (!strcmp(k, "kernel")) return parse_triple(p, k, v, 1, 1024, 0, l->kernel);
        if (!strcmp(k, "stride")) return parse_triple(p, k, v, 1, 1024, 0, l->stride);
        if (!strcmp(k, "activation")) return parse_activation(p, k, v, &l->activation);
        if (!strcmp(k, "padding")) {
            if (!strcmp(v, "valid")) l->same = 0;
            else if (!strcmp(v, "same")) l->same = 1;
            else return bad_value(p, k, v, "expected valid or same");
            return HSI_OK;
        }
        break;
    case HSI_CNN_MAXPOOL3D:
    case HSI_CNN_AVGPOOL3D:
        if (!strcmp(k, "size")) return parse_triple(p, k, v, 1, 1024, 0, l->kernel);
        if (!strcmp(k, "stride")) return parse_triple(p, k, v, 1, 1024, 0, l->stride);
        break;
    case HSI_CNN_ZEROPAD3D:
        if (!strcmp(k, "pad")) return parse_triple(p, k, v, 0, 1024, 0, l->pad);
        break;
    case HSI_CNN_FLATTEN: break;
    case HSI_CNN_DENSE:
        if (!strcmp(k, "units")) {
            if (!strcmp(v, "classes")) return l->units_is_classes = 1, l->units = 0, HSI_OK;
            l->units_is_classes = 0;
            return parse_int(p, k, v, 1, 1 << 24, &l->units);
        }
        if (!strcmp(k, "activation")) return parse_activation(p, k, v, &l->activation);
        break;
    case HSI_CNN_DROPOUT:
        if (!strcmp(k, "rate")) {
            double r;
            hsi_status st = parse_real(p, k, v, 0, 0.99, &r);
            l->rate = (float)r;
            return st;
        }
        break;
    case HSI_CNN_LSTM:
    case HSI_CNN_GRU:
        if (!strcmp(k, "units")) return parse_int(p, k, v, 1, 65536, &l->units);
        if (!strcmp(k, "return_sequences")) return parse_bool(p, k, v, &l->return_sequences);
        break;
    case HSI_CNN_BATCHNORM:
        if (!strcmp(k, "activation")) return parse_activation(p, k, v, &l->activation);
        if (!strcmp(k, "momentum")) {
            double r;
            hsi_status st = parse_real(p, k, v, 0, 0.999999, &r);
            l->bn_momentum = (float)r;
            return st;
        }
        if (!strcmp(k, "epsilon")) {
            double r;
            hsi_status st = parse_real(p, k, v, 1e-12, 1, &r);
            l->bn_epsilon = (float)r;
            return st;
        }
        break;
    }
    return hsi_error(HSI_ERR_FORMAT, "%s:%d: unknown key '%s' in [%s]", p->what, p->line, k,
                     p->section);
}

static const struct {
    const char *name;
    hsi_cnn_layer_kind kind;
} section_names[] = {
    {"conv3d", HSI_CNN_CONV3D},       {"maxpool3d", HSI_CNN_MAXPOOL3D},
    {"avgpool3d", HSI_CNN_AVGPOOL3D}, {"zeropad3d", HSI_CNN_ZEROPAD3D},
    {"flatten", HSI_CNN_FLATTEN},     {"dense", HSI_CNN_DENSE},
    {"dropout", HSI_CNN_DROPOUT},     {"batchnorm", HSI_CNN_BATCHNORM},
    {"lstm", HSI_CNN_LSTM},           {"gru", HSI_CNN_GRU},
};

const char *hsi_cnn_layer_kind_name(hsi_cnn_layer_kind kind)
{
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++)
        if (section_names[i].kind == kind) return section_names[i].name;
    return "?";
}

const char *hsi_cnn_activation_name(hsi_cnn_activation act)
{
    static const char *names[] = {"linear", "relu", "sigmoid", "tanh", "softmax"};
    return (unsigned)act < 5 ? names[act] : "?";
}

/* Check the section just finished has what it needs. */
static hsi_status finish_section(parser *p, int header_line)
{
    hsi_cnn_layer_spec *l = p->layer;
    if (!l) return HSI_OK;
    const char *missing = NULL;
    if (l->kind == HSI_CNN_CONV3D && !l->units) missing = "filters";
    else if (l->kind == HSI_CNN_CONV3D && !l->kernel[0]) missing = "kernel";
    else if ((l->kind == HSI_CNN_MAXPOOL3D || l->kind == HSI_CNN_AVGPOOL3D) && !l->kernel[0])
        missing = "size";
    else if (l->kind == HSI_CNN_ZEROPAD3D && l->pad[0] < 0) missing = "pad";
    else if (l->kind == HSI_CNN_DENSE && !l->units && !l->units_is_classes) missing = "units";
    else if ((l->kind == HSI_CNN_LSTM || l->kind == HSI_CNN_GRU) && !l->units) missing = "units";
    if (missing)
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] needs '%s'", p->what, header_line,
                         p->section, missing);
    if ((l->kind == HSI_CNN_MAXPOOL3D || l->kind == HSI_CNN_AVGPOOL3D) && !l->stride[0])
        memcpy(l->stride, l->kernel, sizeof l->stride); /* Keras: strides = pool_size */
    if (l->kind == HSI_CNN_CONV3D && !l->stride[0]) l->stride[0] = l->stride[1] = l->stride[2] = 1;
    return HSI_OK;
}

/* A [section] header (base/ini.c has checked its syntax). */
static hsi_status on_section(void *ctx, const char *kind, const char *name, int line_no)
{
    parser *p = ctx;
    hsi_cnn_spec *s = p->spec;
    const char *what = p->what;
    hsi_status st = finish_section(p, p->header_line);
    if (st) return st;
    snprintf(p->section, sizeof p->section, "%s%s%s", kind, *name ? " " : "", name);
    p->header_line = line_no;
    if (!strcmp(p->section, "net")) {
        if (p->have_net)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: a second [net] section", what, line_no);
        if (s->n_layers)
            return hsi_error(HSI_ERR_FORMAT, "%s:%d: [net] must come before the layers", what,
                             line_no);
        p->have_net = 1;
        p->layer = NULL;
        return HSI_OK;
    }
    int k = -1;
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++)
        if (!strcmp(p->section, section_names[i].name)) k = (int)section_names[i].kind;
    if (k < 0)
        return hsi_error(HSI_ERR_FORMAT,
                         "%s:%d: unknown section [%s] (layers: conv3d, maxpool3d, avgpool3d, "
                         "zeropad3d, flatten, dense, dropout, batchnorm, lstm, gru)",
                         what, line_no, p->section);
    if (!p->have_net)
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: the spec must start with [net]", what, line_no);
    hsi_cnn_layer_spec *grown = realloc(s->layers, (s->n_layers + 1) * sizeof *grown);
    if (!grown) return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", what);
    s->layers = grown;
    p->layer = &s->layers[s->n_layers++];
    memset(p->layer, 0, sizeof *p->layer);
    p->layer->kind = (hsi_cnn_layer_kind)k;
    p->layer->line = line_no;
    p->layer->pad[0] = k == HSI_CNN_ZEROPAD3D ? -1 : 0;
    p->layer->rate = 0.5f;
    p->layer->bn_momentum = 0.99f;
    p->layer->bn_epsilon = 1e-3f;
    return HSI_OK;
}

/* A key = value line (trimmed, not empty, not repeated in its section). */
static hsi_status on_key(void *ctx, const char *k, const char *v, int line_no)
{
    parser *p = ctx;
    p->line = line_no;
    if (!p->header_line)
        return hsi_error(HSI_ERR_FORMAT, "%s:%d: the spec must start with [net]", p->what, line_no);
    hsi_status st = p->layer ? layer_key(p, k, v) : net_key(p, k, v);
    if (!p->layer && !strcmp(k, "input")) p->have_input = 1;
    return st;
}

hsi_status hsi_cnn_spec_parse(const char *text, const char *what, hsi_cnn_spec **out)
{
    *out = NULL;
    hsi_cnn_spec *s = calloc(1, sizeof *s);
    if (!s) return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", what);
    s->path = strdup(what);
    s->text = strdup(text);
    if (!s->path || !s->text) {
        hsi_cnn_spec_free(s);
        return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", what);
    }
    s->batch = 32;
    s->epochs = 10;
    s->loss = HSI_CNN_LOSS_CCE;
    s->optimizer = HSI_CNN_OPT_SGD;
    s->learning_rate = 0.01;
    s->beta1 = 0.9;
    s->beta2 = 0.999;
    s->epsilon = 1e-7;
    s->schedule = (hsi_cnn_schedule){HSI_CNN_SCHED_CONSTANT, 10, 5, 0.1, 0.0, 0};
    parser p = {.what = what, .spec = s};
    /* Lines, comments, headers and repeated keys: the shared INI walker. */
    hsi_ini_handler h = {on_section, on_key, &p};
    hsi_status st = hsi_ini_walk(text, what, &h);
    if (!st) st = finish_section(&p, p.header_line);
    if (!st && !p.have_net) st = hsi_error(HSI_ERR_FORMAT, "%s: no [net] section", what);
    if (!st && !p.have_input)
        st = hsi_error(HSI_ERR_FORMAT, "%s: [net] needs 'input = x, y, bands'", what);
    if (!st && s->n_layers == 0) st = hsi_error(HSI_ERR_FORMAT, "%s: no layers", what);
    if (!st && s->layers[s->n_layers - 1].kind != HSI_CNN_DENSE)
        st = hsi_error(HSI_ERR_FORMAT, "%s:%d: the last layer must be [dense] with units = classes",
                       what, s->layers[s->n_layers - 1].line);
    if (st) {
        hsi_cnn_spec_free(s);
        return st;
    }
    *out = s;
    return HSI_OK;
}

hsi_status hsi_cnn_spec_load(const char *path, hsi_cnn_spec **out)
{
    *out = NULL;
    unsigned char *buf;
    size_t len;
    hsi_status read_st = hsi_file_read_all(path, 1u << 20, "larger than 1 MiB: not a model spec",
                                           &buf, &len);
    if (read_st) return read_st;
    if (memchr(buf, '\0', len)) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: binary data: not a model spec", path);
    }
    hsi_status st = hsi_cnn_spec_parse((const char *)buf, path, out);
    free(buf);
    return st;
}

void hsi_cnn_spec_free(hsi_cnn_spec *spec)
{
    if (!spec) return;
    free(spec->path);
    free(spec->text);
    free(spec->layers);
    free(spec);
}
