/* file.h - reading a whole file into memory (model specs, checkpoints, SVM
 * model bundles), with one set of checks and messages. */
#ifndef HSI_FILE_H
#define HSI_FILE_H

#include <stddef.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read all of `path` into *buf (caller frees), *len bytes, followed by a NUL
 * that *len does not count, so text parsers can use the buffer directly.
 * Only regular files are read: a device, FIFO, socket or directory is
 * HSI_ERR_IO "path: not a regular file (a character device)", refused
 * without waiting or reading (/dev/zero would never end). A file longer
 * than max_bytes is HSI_ERR_FORMAT "path: too_large", refused by its size
 * before it is read (the caller's text names the bound and says what the
 * file should have been); open and read failures are HSI_ERR_IO naming the
 * file and the system's reason. The file is registered as an input
 * (base/guard.h), so no output of the run may replace it. */
hsi_status hsi_file_read_all(const char *path, size_t max_bytes, const char *too_large,
                             unsigned char **buf, size_t *len);
/* The same, registering the file as an input of a kind (base/guard.h), so
 * that an output of the same kind may replace it. */
hsi_status hsi_file_read_kind(const char *path, size_t max_bytes, const char *too_large,
                              const char *kind, unsigned char **buf, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
