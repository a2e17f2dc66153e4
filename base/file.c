#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hsi_status hsi_file_read_all(const char *path, size_t max_bytes, const char *too_large,
                             unsigned char **buf_out, size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    hsi_status st = HSI_OK;
    for (;;) {
        /* Room for a 64 KiB chunk and the closing NUL. */
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 + 1;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, 65536, fp);
        len += got;
        if (len > max_bytes) {
            st = hsi_error(HSI_ERR_FORMAT, "%s: %s", path, too_large);
            break;
        }
        if (got < 65536) {
            if (ferror(fp)) st = hsi_error(HSI_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
    }
    fclose(fp);
    if (st) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    *buf_out = buf;
    *len_out = len;
    return HSI_OK;
}
