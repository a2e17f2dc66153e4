#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/guard.h"

hsi_status hsi_file_read_all(const char *path, size_t max_bytes, const char *too_large,
                             unsigned char **buf_out, size_t *len_out)
{
    return hsi_file_read_kind(path, max_bytes, too_large, NULL, buf_out, len_out);
}

hsi_status hsi_file_read_kind(const char *path, size_t max_bytes, const char *too_large,
                              const char *kind, unsigned char **buf_out, size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
     * below like every file that is not regular (/dev/zero never ends). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return hsi_error(HSI_ERR_IO, "%s: not a regular file (%s)", path, hsi_file_kind(sb.st_mode));
    }
    /* Refuse by size before reading a byte; the read below stops at the
     * bound too, should the file grow meanwhile. */
    if ((unsigned long long)sb.st_size > max_bytes) {
        close(fd);
        return hsi_error(HSI_ERR_FORMAT, "%s: %s", path, too_large);
    }
    hsi_input_register_fd(fd, path, kind);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return hsi_error(HSI_ERR_NOMEM, "%s: cannot open: %s", path, strerror(e));
    }
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
