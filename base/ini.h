/* ini.h - the one reader of hsi's INI texts (experiment configs, model
 * specs), and of the comma lists in their values and in options.
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

/* The items of a comma list, such as a spec's "kernel = 3, 3, 7", an
 * experiment's "seeds = 1, 2, 3" or an option's "--augment flip,gain:0.1",
 * one at a time: each trimmed of blanks, empty items (",,", a trailing
 * comma) skipped. The one splitter of such lists, so they all read alike:
 *
 *     hsi_list it;
 *     if (hsi_list_start(&it, text)) return ...too long...;
 *     for (char *item; (item = hsi_list_next(&it));) ...
 */
enum { HSI_LIST_MAX = 4096 }; /* bytes of the longest list, its NUL included */
typedef struct hsi_list {
    char buf[HSI_LIST_MAX];
    char *next; /* the rest of buf to split; NULL after the last item */
} hsi_list;

/* Copies text into it. Returns 0, or -1 when text is HSI_LIST_MAX bytes or
 * longer (then the list is empty). */
int hsi_list_start(hsi_list *it, const char *text);

/* The next item (a string in it->buf the caller may change), or NULL after
 * the last. */
char *hsi_list_next(hsi_list *it);

#ifdef __cplusplus
}
#endif
#endif
