/* guard.h - what an output may replace, and what a fatal signal must not
 * leave behind.
 *
 * Inputs. Every file the library reads (rasters and their GDAL side files,
 * .mat files, band tables, specs, model files) is registered by device and
 * inode. The output writers (base/atomic.c, io/raster_write.c) refuse to
 * replace a registered file, whatever name the output was given (a hard link,
 * "./x", a symlink): "OUT: is also an input (IN); refusing to overwrite it".
 * One exception: an input registered with a kind (a model file: its blob
 * magic) may be replaced by an output of the same kind, so that training
 * resumed from a checkpoint can write it back (`--resume m.ckpt -o m.ckpt`:
 * the file was read whole and is rewritten atomically); a class raster over
 * that checkpoint is still refused.
 *
 * Outputs. An output path must be absent or a regular file. A symbolic link
 * is written through: the new file is made in the target's directory and
 * renamed onto the target, so the link stays a link (as editors do); a
 * dangling link, or one to anything but a regular file, is refused.
 * Directories, devices, FIFOs and sockets are refused.
 *
 * Temporaries. Files being written under a temporary name are listed in a
 * fixed-size, lock-free table; hsi_cleanup_install() sets handlers for
 * SIGINT, SIGTERM and SIGHUP that remove them (and every side file GDAL made
 * beside them), then die of the same signal. The handler only calls
 * async-signal-safe functions.
 */
#ifndef HSI_GUARD_H
#define HSI_GUARD_H

#include <signal.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- inputs ---- */

/* Longest kind name, NUL included. */
#define HSI_KIND_MAX 24

/* Remember `path` (followed through symlinks) as an input of this process.
 * A file that cannot be stat()ed is ignored: its read fails on its own. */
void hsi_input_register(const char *path);
/* The same for an open descriptor (no second lookup by name), with a kind
 * (NULL or "": none; at most HSI_KIND_MAX - 1 characters). A file registered
 * under two different kinds, or once without one, has none. */
void hsi_input_register_fd(int fd, const char *path, const char *kind);
/* Forget every registered input (a long-lived program between jobs). */
void hsi_input_forget_all(void);
/* The name under which (dev, ino) was registered, or NULL. The pointer
 * stays valid until hsi_input_forget_all(). */
const char *hsi_input_find(dev_t dev, ino_t ino);

/* "a directory", "a character device", "a FIFO", ... for messages. */
const char *hsi_file_kind(mode_t mode);

/* ---- outputs ---- */

/* May an output named `path`, of kind `kind` (NULL: none), be written? On
 * success *target (caller frees) is the file to rename onto: `path` itself,
 * or a symlink's resolved target. Errors (HSI_ERR_IO) name `path`. */
hsi_status hsi_output_target(const char *path, const char *kind, char **target);

/* May the file `dest` (a final name about to be replaced by a rename, no
 * symlink resolution) be replaced by an output of kind `kind`? Absent, a
 * regular file or a symlink that leads to no input; messages name `shown`. */
hsi_status hsi_output_check_replace(const char *dest, const char *shown, const char *kind);

/* ---- temporaries removed on a fatal signal ---- */

/* Add the temporary file `tmp_path`; the handler removes it and every file
 * in its directory whose name starts with its first `stem_len` bytes (GDAL
 * side files: .hdr, .aux.xml, ...). Returns a handle for hsi_temp_forget,
 * 0 when the table is full or the name too long (the write goes on, without
 * removal on a signal). */
int hsi_temp_add(const char *tmp_path, size_t stem_len);
void hsi_temp_forget(int handle);

/* Hold SIGINT, SIGTERM and SIGHUP in this thread (around the renames that
 * commit an output, so a signal cannot split a file from its side files);
 * release delivers any that arrived. */
void hsi_signals_hold(sigset_t *saved);
void hsi_signals_release(const sigset_t *saved);

/* Install the handlers (once; signals the process ignores stay ignored). */
hsi_status hsi_cleanup_install(void);

#ifdef __cplusplus
}
#endif
#endif
