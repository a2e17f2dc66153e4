/* ini.c - see ini.h. */
#include "base/ini.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

enum { SEEN_MAX = 64, KEY_MAX = 64 };

hsi_status hsi_ini_walk(const char *text, const char *what, const hsi_ini_handler *h)
{
    char *copy = strdup(text);
    if (!copy) return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", what);
    hsi_status st = HSI_OK;
    char section[KEY_MAX] = "";
    char seen[SEEN_MAX][KEY_MAX];
    int n_seen = 0, line_no = 0;
    /* strtok would skip empty lines and lose the count: walk by hand. */
    for (char *line = copy; line && !st;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        line_no++;
        char *c = strpbrk(line, "#;");
        if (c) *c = '\0';
        char *t = trim(line);
        if (*t == '[') {
            char *close = strchr(t, ']');
            if (!close || *trim(close + 1) || close == t + 1) {
                st = hsi_error(HSI_ERR_FORMAT, "%s:%d: malformed section header '%s'", what,
                               line_no, t);
                break;
            }
            *close = '\0';
            char *kind = trim(t + 1), *name = kind;
            while (*name && !isspace((unsigned char)*name)) name++;
            if (*name) *name++ = '\0';
            name = trim(name);
            snprintf(section, sizeof section, "%s%s%s", kind, *name ? " " : "", name);
            n_seen = 0;
            if (h->section) st = h->section(h->ctx, kind, name, line_no);
        } else if (*t) {
            char *eq = strchr(t, '=');
            if (!eq) {
                st = hsi_error(HSI_ERR_FORMAT, "%s:%d: expected 'key = value', got '%s'", what,
                               line_no, t);
                break;
            }
            *eq = '\0';
            char *k = trim(t), *v = trim(eq + 1);
            if (!*k) {
                st = hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] a value without a key", what, line_no,
                               section);
                break;
            }
            if (!*v) {
                st = hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] %s has no value", what, line_no,
                               section, k);
                break;
            }
            for (int i = 0; i < n_seen && !st; i++)
                if (!strcmp(seen[i], k))
                    st = hsi_error(HSI_ERR_FORMAT, "%s:%d: [%s] %s given twice", what, line_no,
                                   section, k);
            if (st) break;
            if (n_seen < SEEN_MAX) snprintf(seen[n_seen++], KEY_MAX, "%s", k);
            if (h->key) st = h->key(h->ctx, k, v, line_no);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    return st;
}

hsi_status hsi_ini_walk_file(const char *path, size_t max_bytes, const hsi_ini_handler *h)
{
    unsigned char *buf;
    size_t len;
    hsi_status st = hsi_file_read_all(path, max_bytes, "too large for a configuration file", &buf,
                                      &len);
    if (st) return st;
    if (memchr(buf, '\0', len)) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: binary data: not a configuration file", path);
    }
    st = hsi_ini_walk((const char *)buf, path, h);
    free(buf);
    return st;
}

int hsi_list_start(hsi_list *it, const char *text)
{
    size_t n = strlen(text);
    if (n >= sizeof it->buf) {
        it->buf[0] = '\0';
        it->next = NULL;
        return -1;
    }
    memcpy(it->buf, text, n + 1);
    it->next = it->buf;
    return 0;
}

char *hsi_list_next(hsi_list *it)
{
    while (it->next) {
        char *item = it->next, *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        it->next = comma ? comma + 1 : NULL;
        item = trim(item);
        if (*item) return item;
    }
    return NULL;
}
