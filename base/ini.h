/* ini.h - the one reader of hsi's INI texts (experiment configs).
 *
 *     # comment (also ';'), to the end of the line
 *     [section]            or  [section name]  (a kind and a name)
 *     key = value
 *
 * The walker trims blanks, strips comments, counts lines and hands every
 * section header and key = value pair to the caller's callbacks with the
 * line number, so every message the caller makes can name "file:line". It
 * refuses, naming file:line: a malformed header, a line without '=', a key
 * without a value, and a key given twice in one section. What the keys mean,
 * and whether one may come before any [section], is the caller's business
 * (cnn3d/spec.c for model specs, experiment/config.c for experiments).
 */
#ifndef HSI_INI_H
#define HSI_INI_H

#include <stddef.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_ini_handler {
    /* A section header: kind is its first word, name the rest ("" if none). */
    hsi_status (*section)(void *ctx, const char *kind, const char *name, int line);
    /* A key = value line of the current section. */
    hsi_status (*key)(void *ctx, const char *key, const char *value, int line);
    void *ctx;
} hsi_ini_handler;

/* Walk `text`; `what` names it in messages (a file name). Stops at the first
 * error (the walker's or a callback's) and returns it. */
hsi_status hsi_ini_walk(const char *text, const char *what, const hsi_ini_handler *h);

/* Read a regular file of at most max_bytes (registered as an input) and walk it. */
hsi_status hsi_ini_walk_file(const char *path, size_t max_bytes, const hsi_ini_handler *h);

#ifdef __cplusplus
}
#endif
#endif
