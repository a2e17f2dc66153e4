/* blob.h - hsi's binary model files: SVM model bundles, CNN checkpoints, and
 * the preprocessing record inside both.
 *
 * A file is built in memory, closed with a checksum and written atomically:
 *     magic (8 bytes) | u32 version | fields ... | u64 FNV-1a 64 of every byte before it
 * Reading loads the whole file and checks magic, version and checksum before
 * any field is trusted; fields are then taken through a bounds-checked cursor
 * that turns every read past the end into one "truncated" flag, so a parser
 * reads a whole header and checks the flag once.
 *
 * Integers are written byte by byte, little-endian. Float arrays are copied
 * as they are in memory, which is the same bytes on every little-endian host
 * (blob.c refuses to build on others rather than write unreadable files). */
#ifndef HSI_BLOB_H
#define HSI_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

uint64_t hsi_fnv1a64(const void *data, size_t n);

/* ---- writing ---- */

typedef struct hsi_blob_writer {
    FILE *fp;    /* an open_memstream over buf */
    char *buf;
    size_t len;
    int failed;  /* a write failed (out of memory); reported by commit */
    char magic[8]; /* the file's kind: it may replace an input of the same magic */
} hsi_blob_writer;

/* May a record with this magic be written to `path` (base/guard.h's output
 * rules: not a device or directory, not an input of another kind)? For a
 * command to refuse a bad -o before its long work, not only at the commit. */
hsi_status hsi_blob_check_output(const char *path, const char magic[8]);

/* Start a file with its magic and version. */
hsi_status hsi_blob_writer_open(hsi_blob_writer *w, const char magic[8], uint32_t version);
void hsi_blob_put(hsi_blob_writer *w, const void *data, size_t n);
void hsi_blob_put_u8(hsi_blob_writer *w, uint8_t v);
void hsi_blob_put_u32(hsi_blob_writer *w, uint32_t v);
void hsi_blob_put_u64(hsi_blob_writer *w, uint64_t v);
void hsi_blob_put_f64(hsi_blob_writer *w, double v);
/* A string in a fixed field of `size` bytes, NUL-terminated and zero-padded
 * (cut to size - 1 characters): the bytes after the terminator of a
 * caller's buffer must not leak into the file. */
void hsi_blob_put_fixed_string(hsi_blob_writer *w, const char *s, size_t size);
/* Append the checksum and write `path` atomically (a temporary file renamed
 * into place); frees the writer either way. `path` may be a file this run
 * loaded with the same magic (a checkpoint written back when training
 * resumes from it), never any other input (base/guard.h). */
hsi_status hsi_blob_writer_commit(hsi_blob_writer *w, const char *path);
/* Drop the record without writing anything. */
void hsi_blob_writer_discard(hsi_blob_writer *w);

/* ---- reading ---- */

typedef struct hsi_blob_reader {
    const unsigned char *p;
    size_t len, pos;  /* len excludes the checksum */
    int short_read;   /* a take went past len: the file is truncated */
} hsi_blob_reader;

/* No model file is read past this size, whatever max_bytes a caller gives:
 * the largest nets and SVM bundles hsi makes are far below it, and the file
 * is read whole into memory. */
#define HSI_BLOB_MAX_BYTES ((size_t)8 << 30)

/* Read `path` (a regular file of at most max_bytes, and of at most
 * HSI_BLOB_MAX_BYTES: "m.ckpt: larger than 8 GiB: too large to be an hsi
 * CNN checkpoint") and check it: magic, version, checksum.
 * `what` names the kind of file in the messages ("CNN checkpoint":
 * "m.ckpt: not an hsi CNN checkpoint", "m.ckpt: CNN checkpoint corrupt or
 * truncated (checksum mismatch)", "m.ckpt: CNN checkpoint version 2; this
 * hsi reads version 1"). On success *buf (caller frees) holds the file and r
 * is positioned after the version. */
hsi_status hsi_blob_load(const char *path, const char magic[8], uint32_t version, size_t max_bytes,
                         const char *what, unsigned char **buf, hsi_blob_reader *r);

/* The version a file of this magic says it is, when it is oldest..current,
 * so that hsi_blob_load checks it as that version; anything else (not a
 * regular file, unreadable, short, another magic or version) gets current,
 * and hsi_blob_load reports what is wrong. Never blocks (FIFOs). */
uint32_t hsi_blob_version_of(const char *path, const char magic[8], uint32_t oldest,
                             uint32_t current);

/* The next n bytes, or NULL (and short_read set) if fewer are left. */
const unsigned char *hsi_blob_take(hsi_blob_reader *r, size_t n);
/* Copy the next n bytes to dst; zeros past the end. */
void hsi_blob_get(hsi_blob_reader *r, void *dst, size_t n);
uint8_t hsi_blob_get_u8(hsi_blob_reader *r);
uint32_t hsi_blob_get_u32(hsi_blob_reader *r);
uint64_t hsi_blob_get_u64(hsi_blob_reader *r);
double hsi_blob_get_f64(hsi_blob_reader *r);

static inline size_t hsi_blob_left(const hsi_blob_reader *r)
{
    return r->len - r->pos;
}

#ifdef __cplusplus
}
#endif
#endif
