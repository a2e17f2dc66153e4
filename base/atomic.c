#include "base/atomic.h"

#include "base/guard.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_uint temp_counter;

/* Split "dir/name.ext" into its directory part (with the slash), the name
 * without the extension and the extension (with the dot). */
static void split_path(const char *path, size_t *dir_len, size_t *stem_len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = base + strlen(base);
    *dir_len = (size_t)(base - path);
    *stem_len = (size_t)(dot - base);
}

char *hsi_atomic_temp_name(const char *path)
{
    size_t dir_len, stem_len;
    split_path(path, &dir_len, &stem_len);
    const char *ext = path + dir_len + stem_len;
    char *out = NULL;
    unsigned n = atomic_fetch_add(&temp_counter, 1);
    if (asprintf(&out, "%.*s%.*s~hsi-tmp-%ld-%u%s", (int)dir_len, path, (int)stem_len,
                 path + dir_len, (long)getpid(), n, ext) < 0)
        return NULL;
    return out;
}

hsi_status hsi_atomic_open(hsi_atomic_file *f, const char *path)
{
    return hsi_atomic_open_kind(f, path, NULL);
}

hsi_status hsi_atomic_open_kind(hsi_atomic_file *f, const char *path, const char *kind)
{
    memset(f, 0, sizeof *f);
    snprintf(f->kind, sizeof f->kind, "%s", kind ? kind : "");
    /* Refuse a device, FIFO, directory or input now, before the caller
     * spends any work on the output. */
    hsi_status st = hsi_output_target(path, f->kind, &f->target);
    if (st) return st;
    f->path = strdup(path);
    f->tmp_path = hsi_atomic_temp_name(f->target);
    if (!f->path || !f->tmp_path) {
        hsi_atomic_abort(f);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    /* Registered before it exists (as io/raster_write.c does): a signal
     * arriving during or just after the fopen still finds it to remove. */
    f->temp_handle = hsi_temp_add(f->tmp_path, strlen(f->tmp_path));
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) {
        int e = errno;
        hsi_atomic_abort(f);
        return hsi_error(HSI_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    return HSI_OK;
}

static void atomic_free(hsi_atomic_file *f)
{
    free(f->path);
    free(f->tmp_path);
    free(f->target);
    memset(f, 0, sizeof *f);
}

void hsi_atomic_abort(hsi_atomic_file *f)
{
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) unlink(f->tmp_path);
    hsi_temp_forget(f->temp_handle);
    atomic_free(f);
}

hsi_status hsi_atomic_commit(hsi_atomic_file *f)
{
    int failed = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    int e = errno;
    failed |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (failed) {
        hsi_status st = hsi_error(HSI_ERR_IO, "%s: write failed: %s", f->path, strerror(e));
        hsi_atomic_abort(f);
        return st;
    }
    /* Again: the target may have changed since open, and inputs read since
     * then are registered now. */
    hsi_status st = hsi_output_check_replace(f->target, f->path, f->kind);
    if (st) {
        hsi_atomic_abort(f);
        return st;
    }
    sigset_t saved;
    hsi_signals_hold(&saved);
    if (rename(f->tmp_path, f->target) != 0) {
        st = hsi_error(HSI_ERR_IO, "%s: cannot rename into place: %s", f->path, strerror(errno));
        hsi_atomic_abort(f);
    } else {
        hsi_temp_forget(f->temp_handle);
        atomic_free(f);
    }
    hsi_signals_release(&saved);
    return st;
}

size_t hsi_atomic_temp_stem_len(const char *tmp_path, const char *final_path)
{
    /* The temporary name ends with the final name's extension (possibly
     * none); everything before it is the stem that side files share. */
    size_t dir_len, stem_len;
    split_path(final_path, &dir_len, &stem_len);
    size_t ext_len = strlen(final_path) - dir_len - stem_len;
    return strlen(tmp_path) - ext_len;
}

hsi_status hsi_atomic_rename_set(const char *tmp_path, const char *final_path,
                                 char **tmp_files, int n)
{
    size_t fdir, fstem;
    split_path(final_path, &fdir, &fstem);
    size_t tprefix = hsi_atomic_temp_stem_len(tmp_path, final_path), fprefix = fdir + fstem;
    hsi_status st = HSI_OK;
    char **done = calloc((size_t)n + 1, sizeof *done); /* final names renamed so far */
    int n_done = 0;
    if (!done) st = hsi_error(HSI_ERR_NOMEM, "out of memory");
    /* Side files first, the main file last: once the main file appears under
     * its final name, everything that belongs to it is already there. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const char *src = tmp_files[i];
            int is_main = strcmp(src, tmp_path) == 0;
            if (is_main != pass) continue;
            if (strncmp(src, tmp_path, tprefix) != 0) continue; /* not ours */
            char *dst = NULL;
            if (st == HSI_OK && asprintf(&dst, "%.*s%s", (int)fprefix, final_path, src + tprefix) < 0) {
                dst = NULL;
                st = hsi_error(HSI_ERR_NOMEM, "out of memory");
            }
            if (st == HSI_OK && rename(src, dst) != 0)
                st = hsi_error(HSI_ERR_IO, "%s: cannot rename into place: %s", dst,
                               strerror(errno));
            if (st != HSI_OK) {
                unlink(src);
                free(dst);
            } else {
                done[n_done++] = dst;
            }
        }
    for (int i = 0; i < n_done; i++) {
        if (st != HSI_OK) unlink(done[i]);
        free(done[i]);
    }
    free(done);
    return st;
}
