/* fuzz_util.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * hsi's parsers take paths, so a target stages its input as a file: an
 * anonymous memfd reached through /proc/self/fd/N when the parser only
 * opens the one file, or a real file in a private scratch directory (removed
 * at exit) when the name or a sibling file matters (GDAL's ENVI .hdr beside
 * its data file, matio's .mat). */
#ifndef HSI_FUZZ_UTIL_H
#define HSI_FUZZ_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/blob.h"

/* Write all of data to fd; 0 on success. */
static inline int fuzz_write_all(int fd, const void *data, size_t size)
{
    const unsigned char *p = data;
    while (size) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) return -1;
        p += w;
        size -= (size_t)w;
    }
    return 0;
}

/* The input as an in-memory file; *path names it. Returns the fd (close it
 * when done) or -1. */
static inline int fuzz_memfd(const void *data, size_t size, char path[64])
{
    int fd = memfd_create("hsi-fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (fuzz_write_all(fd, data, size)) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

static char fuzz_dir_path[4096];

static int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void fuzz_dir_remove(void)
{
    if (fuzz_dir_path[0]) nftw(fuzz_dir_path, fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* This process's scratch directory (under $TMPDIR, else /dev/shm, else
 * /tmp), made on first use and removed at exit. Aborts if it cannot be made:
 * a target that cannot stage its input must not report clean runs. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/hsi-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir_path)) {
        perror("hsi fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

/* Write data to NAME in the scratch directory; *path gets the full name. */
static inline void fuzz_put_file(const char *name, const void *data, size_t size, char *path,
                                 size_t path_len)
{
    snprintf(path, path_len, "%s/%s", fuzz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fuzz_write_all(fd, data, size)) {
        perror("hsi fuzz: writing the staged input");
        abort();
    }
    close(fd);
}

/* hsi's model files (base/blob.h) end with an FNV-1a 64 of everything before
 * it, checked before any field is parsed. A mutated input would almost never
 * pass, so the targets rewrite the last 8 bytes with the right checksum and
 * fuzz the field parsers behind it (the checksum test itself is one compare).
 * The seeds are real files, so rewriting changes nothing for them. */
static inline void fuzz_blob_fix_checksum(unsigned char *buf, size_t size)
{
    if (size < 8 + 4 + 8) return;
    uint64_t h = hsi_fnv1a64(buf, size - 8);
    for (int i = 0; i < 8; i++) buf[size - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* HSI_FUZZ_VERBOSE=1 prints why each input was refused (the library's
 * message): handy when reproducing one input, too slow for fuzzing. */
static inline hsi_status fuzz_note(hsi_status st)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("HSI_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "hsi fuzz: %s\n", st ? hsi_last_error() : "accepted");
    return st;
}

#endif
