/* schedule.c - learning-rate schedules with warm-up, and the rate of the
 * next optimiser step.
 *
 * The rate of an optimiser step in epoch e (0-based, net->epoch while it
 * runs), after `iterations` steps, is
 *
 *     lr = learning_rate / (1 + decay * iterations)     (Keras decay)
 *          x schedule(e)                                 (below)
 *          x min(1, (iterations + 1) / (warmup * steps per epoch))
 *
 * schedule(e):
 *     constant  1
 *     step      gamma ^ floor(e / step)
 *     cosine    m + (1 - m) (1 + cos(pi t / T)) / 2,  m = min_lr / learning_rate,
 *               t = e - warmup, T = epochs - warmup (the rate falls from the
 *               full rate after the warm-up to min_lr at the last epoch)
 *     plateau   the product of the reductions so far: each time `patience`
 *               epochs pass without a lower monitored loss (validation loss,
 *               else training loss) the rate is multiplied by gamma, never
 *               below min_lr (Keras ReduceLROnPlateau with min_delta 0)
 *
 * The step, cosine and plateau factors change once per epoch (PyTorch's
 * StepLR, CosineAnnealingLR and ReduceLROnPlateau stepped per epoch); the
 * warm-up ramps per optimiser step, over `warmup` epochs. Everything depends
 * only on the net's counters, the spec and the plateau state, which
 * checkpoints store, so a resumed run continues the same schedule.
 * hsi_cnn_current_lr (net.c) multiplies the decayed rate by
 * hsi_cnn_schedule_factor below.
 */
#include "cnn3d/cnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[] = {"constant", "step", "cosine", "plateau"};

/* Next ':'-separated field of *p as a number in [lo, hi]; 1 when absent. */
static int next_field(const char **p, double lo, double hi, double *out, int *bad)
{
    if (**p != ':') return 0;
    (*p)++;
    char *end;
    errno = 0;
    double v = strtod(*p, &end);
    if (end == *p || errno || !isfinite(v) || v < lo || v > hi || (*end && *end != ':')) {
        *bad = 1;
        return 0;
    }
    *out = v;
    *p = end;
    return 1;
}

hsi_status hsi_cnn_schedule_parse(const char *text, const char *what, hsi_cnn_schedule *out)
{
    hsi_cnn_schedule s = {.kind = HSI_CNN_SCHED_CONSTANT, .step = 10, .patience = 5, .gamma = 0.1,
                          .min_lr = 0, .warmup = out->warmup};
    size_t len = strcspn(text, ":");
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (strlen(kind_names[k]) == len && !strncmp(text, kind_names[k], len)) kind = k;
    const char *p = text + len;
    int bad = 0;
    double v;
    switch (kind) {
    case HSI_CNN_SCHED_CONSTANT: break;
    case HSI_CNN_SCHED_STEP:
        if (next_field(&p, 1, 1e8, &v, &bad)) {
            if (v != floor(v)) bad = 1;
            s.step = (int)v;
        }
        if (!bad && next_field(&p, 1e-9, 0.999999, &v, &bad)) s.gamma = v;
        break;
    case HSI_CNN_SCHED_COSINE:
        if (next_field(&p, 0, 1e6, &v, &bad)) s.min_lr = v;
        break;
    case HSI_CNN_SCHED_PLATEAU:
        if (next_field(&p, 1, 1e8, &v, &bad)) {
            if (v != floor(v)) bad = 1;
            s.patience = (int)v;
        }
        if (!bad && next_field(&p, 1e-9, 0.999999, &v, &bad)) s.gamma = v;
        if (!bad && next_field(&p, 0, 1e6, &v, &bad)) s.min_lr = v;
        break;
    default:
        return hsi_error(HSI_ERR_ARG, "%s '%s': not constant, step, cosine or plateau", what,
                         text);
    }
    if (bad || *p) {
        static const char *forms[] = {"constant", "step[:EVERY_EPOCHS[:GAMMA]] (integer >= 1, 0 < GAMMA < 1)",
                                      "cosine[:MIN_LR] (MIN_LR >= 0)",
                                      "plateau[:PATIENCE[:GAMMA[:MIN_LR]]] (integer >= 1, 0 < GAMMA < 1, MIN_LR >= 0)"};
        return hsi_error(HSI_ERR_ARG, "%s '%s': expected %s", what, text, forms[kind]);
    }
    s.kind = (hsi_cnn_schedule_kind)kind;
    *out = s;
    return HSI_OK;
}

void hsi_cnn_schedule_format(const hsi_cnn_schedule *s, char *buf, size_t len)
{
    switch (s->kind) {
    case HSI_CNN_SCHED_STEP: snprintf(buf, len, "step:%d:%g", s->step, s->gamma); break;
    case HSI_CNN_SCHED_COSINE: snprintf(buf, len, "cosine:%g", s->min_lr); break;
    case HSI_CNN_SCHED_PLATEAU:
        snprintf(buf, len, "plateau:%d:%g:%g", s->patience, s->gamma, s->min_lr);
        break;
    default: snprintf(buf, len, "constant"); break;
    }
    if (s->warmup > 0) {
        size_t used = strlen(buf);
        if (used < len) snprintf(buf + used, len - used, ", warm-up %d epochs", s->warmup);
    }
}

const char *hsi_cnn_schedule_invalid(const hsi_cnn_schedule *s)
{
    if ((unsigned)s->kind > HSI_CNN_SCHED_PLATEAU) return "schedule kind is not 0..3";
    if (s->step < 1 || s->step > 100000000) return "schedule step is not 1..1e8 epochs";
    if (s->patience < 1 || s->patience > 100000000) return "schedule patience is not 1..1e8 epochs";
    if (!(s->gamma > 0 && s->gamma < 1)) return "schedule gamma is not in (0, 1)";
    if (!(s->min_lr >= 0 && s->min_lr <= 1e6)) return "schedule min_lr is not in [0, 1e6]";
    if (s->warmup < 0 || s->warmup > 100000000) return "schedule warm-up is not 0..1e8 epochs";
    return NULL;
}

void hsi_cnn_schedule_reset(hsi_cnn_net *net)
{
    net->sched = (hsi_cnn_schedule_state){.best = INFINITY, .wait = 0, .scale = 1.0};
}

void hsi_cnn_schedule_epoch_end(hsi_cnn_net *net, double loss)
{
    const hsi_cnn_schedule *s = &net->spec->schedule;
    if (s->kind != HSI_CNN_SCHED_PLATEAU || !isfinite(loss)) return;
    /* The warm-up epochs do not count: the rate is still rising. */
    if (net->epoch <= s->warmup) return;
    if (loss < net->sched.best) {
        net->sched.best = loss;
        net->sched.wait = 0;
        return;
    }
    if (++net->sched.wait >= s->patience) {
        double floor_scale = net->spec->learning_rate > 0 ? s->min_lr / net->spec->learning_rate : 0;
        double scaled = net->sched.scale * s->gamma;
        net->sched.scale = scaled > floor_scale ? scaled : floor_scale;
        net->sched.wait = 0;
    }
}

double hsi_cnn_schedule_factor(const hsi_cnn_net *net)
{
    const hsi_cnn_spec *sp = net->spec;
    const hsi_cnn_schedule *s = &sp->schedule;
    double base = sp->learning_rate, f = 1.0;
    int e = net->epoch;
    switch (s->kind) {
    case HSI_CNN_SCHED_CONSTANT: break;
    case HSI_CNN_SCHED_STEP: f = pow(s->gamma, (double)(e / s->step)); break;
    case HSI_CNN_SCHED_COSINE: {
        int t = e - s->warmup, T = sp->epochs - s->warmup;
        if (t < 0) t = 0;
        if (T < 1) T = 1;
        if (t > T) t = T;
        double m = base > 0 ? s->min_lr / base : 0;
        f = m + (1.0 - m) * 0.5 * (1.0 + cos(M_PI * (double)t / (double)T));
        break;
    }
    case HSI_CNN_SCHED_PLATEAU: f = net->sched.scale > 0 ? net->sched.scale : 1.0; break;
    }
    if (s->warmup > 0) {
        /* Linear per step over `warmup` epochs; without a step count (a loop
         * of hsi_cnn_train_step calls) per epoch. */
        double ramp = net->epoch_steps > 0
                          ? (double)(net->iterations + 1) / ((double)s->warmup * net->epoch_steps)
                          : (double)(e + 1) / (double)(s->warmup + 1);
        if (ramp < 1) f *= ramp;
    }
    return f;
}
