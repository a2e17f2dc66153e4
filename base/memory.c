/* memory.c - memory budgets: parsing, the default, rows per block. */
#include "base/memory.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

size_t hsi_memory_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    return (size_t)pages * (size_t)page;
}

size_t hsi_memory_resident(void)
{
    /* statm: size resident shared text lib data dt, in pages. */
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (size_t)resident * (size_t)page : 0;
}

size_t hsi_memory_default(void)
{
    size_t phys = hsi_memory_physical();
    if (!phys) return (size_t)1 << 30;
    return (size_t)((double)phys * HSI_MEMORY_DEFAULT_FRACTION);
}

hsi_status hsi_memory_parse(const char *s, size_t *bytes)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || errno || !isfinite(v) || v <= 0)
        return hsi_error(HSI_ERR_ARG, "'%s' is not a memory size (e.g. 512M, 2G)", s ? s : "");
    double scale = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': scale = 1024.0, end++; break;
    case 'M': scale = 1024.0 * 1024, end++; break;
    case 'G': scale = 1024.0 * 1024 * 1024, end++; break;
    case 'T': scale = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: end = NULL;
    }
    /* The suffix may be spelt K, KB or KiB (all binary). */
    if (end && scale > 1 && (!strcasecmp(end, "B") || !strcasecmp(end, "iB"))) end += strlen(end);
    if (!end || *end)
        return hsi_error(HSI_ERR_ARG, "'%s' is not a memory size (e.g. 512M, 2G)", s);
    v *= scale;
    if (v >= (double)SIZE_MAX / 2)
        return hsi_error(HSI_ERR_ARG, "memory size '%s' is too large", s);
    if (v < (double)HSI_MEMORY_MIN)
        return hsi_error(HSI_ERR_ARG, "memory size '%s' is below the minimum of 1K", s);
    *bytes = (size_t)v;
    return HSI_OK;
}

void hsi_memory_format(size_t bytes, char *buf, size_t len)
{
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0) snprintf(buf, len, "%zu bytes", bytes);
    else if (v < 10 && v != floor(v)) snprintf(buf, len, "%.1f %s", v, unit[u]);
    else snprintf(buf, len, "%.0f %s", ceil(v), unit[u]);
}

/* A budget that covers `need` bytes beyond what the budget's own share for
 * GDAL's cache (an eighth, io/io.h) takes, with 5% headroom, as an option
 * value: whole KiB below 16 MiB, whole MiB above. */
static void advice(size_t need, char *buf, size_t len)
{
    double a = (double)need * 8.0 / 7.0 * 1.05;
    if (a < 16.0 * 1048576)
        snprintf(buf, len, "%.0fK", ceil(a / 1024));
    else
        snprintf(buf, len, "%.0fM", ceil(a / 1048576));
}

hsi_status hsi_memory_check(size_t budget, size_t fixed_bytes, size_t need, const char *what)
{
    if (fixed_bytes <= budget && need <= budget - fixed_bytes) return HSI_OK;
    char n[32], f[32], b[32], a[32];
    hsi_memory_format(need, n, sizeof n);
    hsi_memory_format(fixed_bytes, f, sizeof f);
    hsi_memory_format(budget, b, sizeof b);
    advice(need + fixed_bytes, a, sizeof a);
    if (fixed_bytes)
        return hsi_error(HSI_ERR_NOMEM,
                         "%s needs %s, on top of %s of buffers, but the memory budget is %s; "
                         "give --memory %s or more",
                         what, n, f, b, a);
    return hsi_error(HSI_ERR_NOMEM, "%s needs %s but the memory budget is %s; give --memory %s or more",
                     what, n, b, a);
}

hsi_status hsi_memory_rows_per_block(size_t budget, size_t fixed_bytes, size_t row_bytes,
                                     size_t copies, size_t max_rows, const char *what,
                                     size_t *rows)
{
    *rows = 0;
    if (copies == 0) copies = 1;
    if (row_bytes == 0 || max_rows == 0) {
        *rows = max_rows ? max_rows : 1;
        return HSI_OK;
    }
    size_t per_row = row_bytes * copies;
    if (per_row / copies != row_bytes)
        return hsi_error(HSI_ERR_SIZE, "%s: a row of %zu bytes is too large", what, row_bytes);
    hsi_status st = hsi_memory_check(budget, fixed_bytes, per_row, what);
    if (st) return st;
    size_t n = (budget - fixed_bytes) / per_row;
    *rows = n < max_rows ? n : max_rows;
    return HSI_OK;
}
