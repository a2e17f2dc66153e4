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
 * A file longer than max_bytes is HSI_ERR_FORMAT "path: too_large" (the
 * caller says what the file should have been); open and read failures are
 * HSI_ERR_IO naming the file and the system's reason. */
hsi_status hsi_file_read_all(const char *path, size_t max_bytes, const char *too_large,
                             unsigned char **buf, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
