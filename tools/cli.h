/* cli.h - small helpers shared by the hsi subcommands: strict number parsing,
 * uniform error lines, --help handling, progress display. */
#ifndef HSI_TOOLS_CLI_H
#define HSI_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "base/atomic.h"
#include "base/progress.h"
#include "base/status.h"
#include "tools/command.h"

/* Print "hsi NAME: <library message>" to stderr and return the exit status 1. */
int cli_fail(const char *name, hsi_status st);
/* Print "hsi NAME: <formatted message>" to stderr and return 1. */
int cli_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: one line "hsi NAME: message (see 'hsi help NAME')"; returns 2. */
int cli_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The one report of a getopt_long() failure, for every command: call it on
 * '?' (unknown option) or ':' (missing value) with opterr = 0 and ':' first in
 * the optstring (CLI_OPTSTRING). Prints one line
 *   hsi NAME: [SUB: ]unknown option '--x' (see 'hsi help NAME')
 *   hsi NAME: [SUB: ]option '--x' needs a value (see 'hsi help NAME')
 * and returns 2. `sub` (grid, train ...) may be NULL. */
int cli_getopt_error(const char *name, const char *sub, int c, char **argv);
/* Start a getopt_long() loop: optind = 1, opterr = 0 (getopt prints nothing). */
void cli_getopt_reset(void);
#define CLI_OPTSTRING(s) (":" s)

/* Print the command's usage text to stdout (for --help). Returns 0. */
int cli_print_usage(const hsi_command *cmd);

/* Strict parsers: the whole string must be a number within [min, max];
 * otherwise print a usage error naming the option and return -1. */
int cli_parse_long(const char *name, const char *opt, const char *s, long min, long max,
                   long *out);
int cli_parse_double(const char *name, const char *opt, const char *s, double min,
                     double max, double *out);
int cli_parse_u64(const char *name, const char *opt, const char *s, uint64_t *out);
/* "a,b,c" of doubles into out[0..max_n-1]; *n = count. */
int cli_parse_double_list(const char *name, const char *opt, const char *s, double *out,
                          int max_n, int *n);

/* A table output named by --csv FILE or --json FILE (the same on every
 * command): "-" is standard output, anything else a file written atomically
 * (complete or absent). close() commits when st is HSI_OK, else aborts, and
 * returns the first failure. */
typedef struct cli_output {
    const char *path;
    hsi_atomic_file af;
    FILE *fp;
} cli_output;
hsi_status cli_output_open(cli_output *o, const char *path);
hsi_status cli_output_close(cli_output *o, hsi_status st);
int cli_is_stdout(const char *path); /* path is "-" */
/* A JSON string literal (quotes and escapes). */
void cli_json_string(FILE *fp, const char *s);

/* --memory SIZE, the memory budget of every streaming command (base/memory.h):
 * parse it or print a usage error and return -1. Commands start from
 * hsi_memory_default() and put CLI_MEMORY_HELP in their usage; --help then
 * also prints the default on this machine. */
int cli_parse_memory(const char *name, const char *s, size_t *bytes);
#define CLI_MEMORY_HELP                                                                     \
    "  --memory SIZE        memory budget, e.g. 512M, 2G (default: half the physical\n"      \
    "                       memory); the scene is read and written in row blocks\n"          \
    "                       that fit it, so scenes larger than memory work. It\n"           \
    "                       bounds the peak resident size, the ~60 MB of libraries\n"       \
    "                       included\n"

/* Check the syntax of a 1-based band list (--bands) before any cube is read;
 * on error print a usage error and return -1 (the caller exits 2). Whether the
 * bands exist is checked against the cube when it is read. */
int cli_check_bands(const char *name, const char *opt, const char *spec);

/* A progress display: a Keras-like bar on a terminal, a plain line every
 * ~10% otherwise. `label` prefixes each line. */
typedef struct cli_progress {
    const char *label;
    int is_tty;
    int quiet;
    double last_fraction;
    double start_time;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label, int quiet);
hsi_progress cli_progress_callback(cli_progress *p);
void cli_progress_finish(cli_progress *p);

double cli_now(void);

#endif
