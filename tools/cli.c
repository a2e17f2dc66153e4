#include "tools/cli.h"

#include "base/memory.h"
#include "io/io.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_fail(const char *name, hsi_status st)
{
    const char *msg = hsi_last_error();
    fprintf(stderr, "hsi %s: %s\n", name, msg && *msg ? msg : hsi_status_str(st));
    return 1;
}

int cli_error(const char *name, const char *fmt, ...)
{
    /* Also the library's last error: under MPI a rank that fails alone
     * hands this message to the others (base/mpi.h). */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hsi_error(HSI_ERR_DATA, "%s", msg);
    fprintf(stderr, "hsi %s: %s\n", name, msg);
    return 1;
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hsi %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'hsi help %s')\n", name);
    return 2;
}

int cli_getopt_error(const char *name, const char *sub, int c, char **argv)
{
    /* optopt: the short option, the val of a long option given without its
     * value (or with one it does not take), 0 for an unknown long option. */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char buf[64];
    int len;
    if (!strncmp(arg, "--", 2)) {
        const char *eq = strchr(arg, '=');
        len = eq ? (int)(eq - arg) : (int)strlen(arg);
    } else if (optopt > 0 && optopt < 128) {
        snprintf(buf, sizeof buf, "-%c", optopt);
        arg = buf;
        len = (int)strlen(buf);
    } else {
        len = (int)strlen(arg);
    }
    fprintf(stderr, "hsi %s: %s%s", name, sub ? sub : "", sub ? ": " : "");
    if (c == ':')
        fprintf(stderr, "option '%.*s' needs a value", len, arg);
    else if (!strncmp(arg, "--", 2) && optopt && strchr(arg, '='))
        fprintf(stderr, "option '%.*s' takes no value", len, arg);
    else
        fprintf(stderr, "unknown option '%.*s'", len, arg);
    fprintf(stderr, " (see 'hsi help %s')\n", name);
    return 2;
}

void cli_getopt_reset(void)
{
    optind = 1;
    opterr = 0;
}

int cli_print_usage(const hsi_command *cmd)
{
    fputs(cmd->usage, stdout);
    if (strstr(cmd->usage, "--memory SIZE")) {
        char d[32], p[32];
        hsi_memory_format(hsi_memory_default(), d, sizeof d);
        hsi_memory_format(hsi_memory_physical(), p, sizeof p);
        printf("\nOn this machine --memory defaults to %s (of %s physical memory).\n", d, p);
    }
    return 0;
}

int cli_parse_memory(const char *name, const char *s, size_t *bytes)
{
    if (hsi_memory_parse(s, bytes)) {
        cli_usage_error(name, "--memory: %s", hsi_last_error());
        return -1;
    }
    return 0;
}

int cli_parse_long(const char *name, const char *opt, const char *s, long min, long max,
                   long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        cli_usage_error(name, "%s: '%s' is not an integer in %ld..%ld", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *name, const char *opt, const char *s, double min,
                     double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        cli_usage_error(name, "%s: '%s' is not a number in %g..%g", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_u64(const char *name, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-') {
        cli_usage_error(name, "%s: '%s' is not a non-negative integer", opt, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        cli_usage_error(name, "%s: '%s' is not a non-negative integer", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double_list(const char *name, const char *opt, const char *s, double *out,
                          int max_n, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v) || (*end && *end != ',') || *n >= max_n) {
            cli_usage_error(name, "%s: '%s' is not a list of at most %d numbers", opt, s, max_n);
            return -1;
        }
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) {
        cli_usage_error(name, "%s: empty list", opt);
        return -1;
    }
    return 0;
}

int cli_check_bands(const char *name, const char *opt, const char *spec)
{
    size_t *bands = NULL, n = 0;
    /* Any band number up to the largest sensible cube passes here. */
    hsi_status st = hsi_band_list_parse(spec, 1000000, &bands, &n);
    free(bands);
    if (st) {
        cli_usage_error(name, "%s: %s", opt, hsi_last_error());
        return -1;
    }
    return 0;
}

int cli_is_stdout(const char *path)
{
    return path && !strcmp(path, "-");
}

hsi_status cli_output_open(cli_output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    if (cli_is_stdout(path)) {
        o->fp = stdout;
        return HSI_OK;
    }
    hsi_status st = hsi_atomic_open(&o->af, path);
    if (!st) o->fp = o->af.fp;
    return st;
}

hsi_status cli_output_close(cli_output *o, hsi_status st)
{
    if (!o->fp) return st;
    if (o->fp == stdout) {
        if (!st && fflush(stdout) != 0) st = hsi_error(HSI_ERR_IO, "writing to standard output failed");
    } else if (st) {
        hsi_atomic_abort(&o->af);
    } else {
        st = hsi_atomic_commit(&o->af);
    }
    o->fp = NULL;
    return st;
}

void cli_json_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = lround(s);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void progress_update(void *ctx, double done, double total, const char *msg)
{
    cli_progress *p = ctx;
    if (p->quiet || total <= 0) return;
    double f = done / total;
    if (f > 1) f = 1;
    double elapsed = cli_now() - p->start_time;
    double eta = f > 0 ? elapsed * (1 - f) / f : 0;
    char el[32], et[32];
    format_duration(elapsed, el, sizeof el);
    format_duration(eta, et, sizeof et);
    if (p->is_tty) {
        int width = 30, filled = (int)(f * width);
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
        bar[width] = '\0';
        fprintf(stderr, "\r%s %.0f/%.0f [%s] %s ETA %s %s\033[K", p->label, done, total, bar,
                el, et, msg ? msg : "");
        fflush(stderr);
    } else if (f >= p->last_fraction + 0.1 || f >= 1.0) {
        fprintf(stderr, "%s %.0f/%.0f (%3.0f%%) elapsed %s ETA %s %s\n", p->label, done, total,
                100 * f, el, et, msg ? msg : "");
        p->last_fraction = f;
    }
}

void cli_progress_init(cli_progress *p, const char *label, int quiet)
{
    p->label = label;
    p->is_tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->last_fraction = -1;
    p->start_time = cli_now();
}

hsi_progress cli_progress_callback(cli_progress *p)
{
    hsi_progress cb = {progress_update, p};
    return cb;
}

void cli_progress_finish(cli_progress *p)
{
    if (!p->quiet && p->is_tty) fputc('\n', stderr);
}
