/* blob.c - hsi's binary model files (see blob.h). */
#include "base/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/file.h"
#include "base/guard.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hsi's model files store float arrays little-endian; this host is not"
#endif

uint64_t hsi_fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A model file's kind for base/guard.h: its magic in hex (magics hold NULs). */
static void blob_kind(const char magic[8], char kind[HSI_KIND_MAX])
{
    for (int i = 0; i < 8; i++) snprintf(kind + 2 * i, 3, "%02x", (unsigned char)magic[i]);
}

hsi_status hsi_blob_check_output(const char *path, const char magic[8])
{
    char kind[HSI_KIND_MAX];
    blob_kind(magic, kind);
    char *target = NULL;
    hsi_status st = hsi_output_target(path, kind, &target);
    free(target);
    return st;
}

/* ---------------------------------------------------------------- writing */

hsi_status hsi_blob_writer_open(hsi_blob_writer *w, const char magic[8], uint32_t version)
{
    memset(w, 0, sizeof *w);
    w->fp = open_memstream(&w->buf, &w->len);
    if (!w->fp) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    memcpy(w->magic, magic, 8);
    hsi_blob_put(w, magic, 8);
    hsi_blob_put_u32(w, version);
    return HSI_OK;
}

void hsi_blob_put(hsi_blob_writer *w, const void *data, size_t n)
{
    if (n && !w->failed && fwrite(data, 1, n, w->fp) != n) w->failed = 1;
}

void hsi_blob_put_fixed_string(hsi_blob_writer *w, const char *s, size_t size)
{
    size_t n = s ? strnlen(s, size - 1) : 0;
    static const char zeros[256];
    hsi_blob_put(w, s, n);
    for (size_t left = size - n; left; ) {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        hsi_blob_put(w, zeros, k);
        left -= k;
    }
}

void hsi_blob_put_u8(hsi_blob_writer *w, uint8_t v)
{
    hsi_blob_put(w, &v, 1);
}

void hsi_blob_put_u32(hsi_blob_writer *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    hsi_blob_put(w, b, 4);
}

void hsi_blob_put_u64(hsi_blob_writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    hsi_blob_put(w, b, 8);
}

void hsi_blob_put_f64(hsi_blob_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    hsi_blob_put_u64(w, bits);
}

void hsi_blob_writer_discard(hsi_blob_writer *w)
{
    if (w->fp) fclose(w->fp);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

hsi_status hsi_blob_writer_commit(hsi_blob_writer *w, const char *path)
{
    /* fclose makes buf and len final. */
    int failed = fclose(w->fp) != 0 || w->failed;
    w->fp = NULL;
    if (failed) {
        hsi_blob_writer_discard(w);
        return hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
    }
    unsigned char sum[8];
    uint64_t h = hsi_fnv1a64(w->buf, w->len);
    for (int i = 0; i < 8; i++) sum[i] = (unsigned char)(h >> (8 * i));
    /* Of its kind: training resumed from a checkpoint may write it back. */
    char kind[HSI_KIND_MAX];
    blob_kind(w->magic, kind);
    hsi_atomic_file f;
    hsi_status st = hsi_atomic_open_kind(&f, path, kind);
    if (!st) {
        if (fwrite(w->buf, 1, w->len, f.fp) != w->len || fwrite(sum, 1, 8, f.fp) != 8) {
            int err = errno;
            hsi_atomic_abort(&f);
            st = hsi_error(HSI_ERR_IO, "%s: write failed: %s", path, strerror(err));
        } else {
            st = hsi_atomic_commit(&f);
        }
    }
    hsi_blob_writer_discard(w);
    return st;
}

/* ---------------------------------------------------------------- reading */

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint32_t hsi_blob_version_of(const char *path, const char magic[8], uint32_t oldest,
                             uint32_t current)
{
    /* Non-blocking, and only a regular file is read: a FIFO or a device
     * gets `current`, and hsi_blob_load refuses it with its message. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return current;
    struct stat sb;
    unsigned char head[12];
    ssize_t got = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, head, sizeof head) : -1;
    close(fd);
    if (got != (ssize_t)sizeof head || memcmp(head, magic, 8) != 0) return current;
    uint32_t v = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 |
                 (uint32_t)head[11] << 24;
    return v >= oldest && v <= current ? v : current;
}

hsi_status hsi_blob_load(const char *path, const char magic[8], uint32_t version, size_t max_bytes,
                         const char *what, unsigned char **buf_out, hsi_blob_reader *r)
{
    *buf_out = NULL;
    memset(r, 0, sizeof *r);
    /* Every kind of model file has a bound, even when its caller gives
     * none: memory is what the file is read into. */
    if (max_bytes > HSI_BLOB_MAX_BYTES) max_bytes = HSI_BLOB_MAX_BYTES;
    char bound[32], too_large[160];
    if (max_bytes % ((size_t)1 << 30) == 0)
        snprintf(bound, sizeof bound, "%zu GiB", max_bytes >> 30);
    else if (max_bytes % ((size_t)1 << 20) == 0)
        snprintf(bound, sizeof bound, "%zu MiB", max_bytes >> 20);
    else
        snprintf(bound, sizeof bound, "%zu bytes", max_bytes);
    snprintf(too_large, sizeof too_large, "larger than %s: too large to be an hsi %s", bound, what);
    unsigned char *buf;
    size_t len;
    char kind[HSI_KIND_MAX];
    blob_kind(magic, kind);
    hsi_status st = hsi_file_read_kind(path, max_bytes, too_large, kind, &buf, &len);
    if (st) return st;
    if (len < 8 || memcmp(buf, magic, 8) != 0) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: not an hsi %s", path, what);
    }
    if (len < 8 + 4 + 8) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: %s truncated", path, what);
    }
    /* The version before the checksum: a newer file is not a corrupt one. */
    uint32_t v = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 | (uint32_t)buf[10] << 16 |
                 (uint32_t)buf[11] << 24;
    if (v != version) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: %s version %u; this hsi reads version %u", path,
                         what, v, version);
    }
    if (le64(buf + len - 8) != hsi_fnv1a64(buf, len - 8)) {
        free(buf);
        return hsi_error(HSI_ERR_FORMAT, "%s: %s corrupt or truncated (checksum mismatch)", path,
                         what);
    }
    *r = (hsi_blob_reader){buf, len - 8, 12, 0};
    *buf_out = buf;
    return HSI_OK;
}

const unsigned char *hsi_blob_take(hsi_blob_reader *r, size_t n)
{
    if (r->short_read || n > r->len - r->pos) {
        r->short_read = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->pos;
    r->pos += n;
    return p;
}

void hsi_blob_get(hsi_blob_reader *r, void *dst, size_t n)
{
    const unsigned char *p = hsi_blob_take(r, n);
    if (p) memcpy(dst, p, n);
    else memset(dst, 0, n);
}

uint8_t hsi_blob_get_u8(hsi_blob_reader *r)
{
    const unsigned char *p = hsi_blob_take(r, 1);
    return p ? p[0] : 0;
}

uint32_t hsi_blob_get_u32(hsi_blob_reader *r)
{
    const unsigned char *p = hsi_blob_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

uint64_t hsi_blob_get_u64(hsi_blob_reader *r)
{
    const unsigned char *p = hsi_blob_take(r, 8);
    return p ? le64(p) : 0;
}

double hsi_blob_get_f64(hsi_blob_reader *r)
{
    uint64_t bits = hsi_blob_get_u64(r);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}
