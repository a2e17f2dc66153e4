/* atomic.h - write an output file under a temporary name, then rename it.
 *
 * A reader never sees a half-written file, and a failed write leaves nothing
 * behind. For plain files (models, checkpoints, reports):
 *
 *     hsi_atomic_file f;
 *     if ((st = hsi_atomic_open(&f, path))) return st;
 *     fwrite(..., f.fp);
 *     st = hsi_atomic_commit(&f);      // fflush+fsync+fclose+rename, or abort
 *
 * hsi_atomic_abort() removes the temporary file. The rules of base/guard.h
 * apply: open refuses a path that is a directory, device, FIFO, socket, a
 * dangling symlink or one of the run's inputs, and writes through a symlink
 * to its regular target (the link stays); commit checks again before the
 * rename (inputs read after open count too). Until commit or abort, a
 * SIGINT/SIGTERM/SIGHUP handler (hsi_cleanup_install) removes the temporary
 * file. GDAL outputs (which may
 * consist of several files, e.g. ENVI .hdr + data, .aux.xml) go through
 * io/raster_write.c, which uses hsi_atomic_temp_name() and
 * hsi_atomic_rename_set() below.
 */
#ifndef HSI_ATOMIC_H
#define HSI_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "base/guard.h"
#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_atomic_file {
    FILE *fp;
    char *path;     /* final name, as given (messages name it) */
    char *tmp_path; /* temporary name in the target's directory */
    char *target;   /* what the rename replaces: path, or a symlink's target */
    int temp_handle; /* hsi_temp_add's handle; 0 for none */
    char kind[HSI_KIND_MAX]; /* base/guard.h's kind of the output; "" for none */
} hsi_atomic_file;

hsi_status hsi_atomic_open(hsi_atomic_file *f, const char *path);
/* The same for an output of a kind (base/guard.h): it may replace an input
 * read as the same kind (a checkpoint written back after a resume). */
hsi_status hsi_atomic_open_kind(hsi_atomic_file *f, const char *path, const char *kind);
hsi_status hsi_atomic_commit(hsi_atomic_file *f);
void hsi_atomic_abort(hsi_atomic_file *f);

/* A temporary name in the directory of `path` that keeps its extension:
 * "dir/map.tif" -> "dir/map~hsi-tmp-<pid>-<n>.tif". No dot is added, so that
 * GDAL drivers that derive side-file names by replacing the extension (ENVI
 * .hdr) derive them from the same stem. Caller frees. */
char *hsi_atomic_temp_name(const char *path);

/* Length of the part of tmp_path (made by hsi_atomic_temp_name from
 * final_path) that its side files share: everything before the extension. */
size_t hsi_atomic_temp_stem_len(const char *tmp_path, const char *final_path);

/* Rename every file in tmp_files[] (n of them) whose name starts with the
 * temporary name's stem to the same name with the final stem, side files
 * first and tmp_path last. On failure every file of the set is removed,
 * side files already renamed included (they would describe data that is not
 * there); returns HSI_ERR_IO. */
hsi_status hsi_atomic_rename_set(const char *tmp_path, const char *final_path,
                                 char **tmp_files, int n);

#ifdef __cplusplus
}
#endif
#endif
