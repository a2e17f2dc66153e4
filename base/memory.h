/* memory.h - the memory budget every streaming command works within.
 *
 * A scene larger than memory is processed in blocks of whole rows. The
 * budget (`--memory SIZE` on the command line) bounds what a command holds at
 * once: the fixed part it needs whatever the block size (a model, per-band
 * accumulators, GDAL's block cache) plus the row blocks themselves. This file
 * parses sizes and turns a budget into a number of rows per block; it has no
 * notion of files, so the same rule serves readers, writers and kernels.
 */
#ifndef HSI_MEMORY_H
#define HSI_MEMORY_H

#include <stddef.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default budget: this fraction of the machine's physical memory (so
 * that a command leaves room for the system and a second job). */
#define HSI_MEMORY_DEFAULT_FRACTION 0.5
/* The smallest budget accepted (tests use a few KiB to force one-row blocks). */
#define HSI_MEMORY_MIN ((size_t)1024)

/* Physical memory of the machine in bytes (sysconf), or 0 if unknown. */
size_t hsi_memory_physical(void);

/* The process's resident set size now, in bytes (/proc/self/statm), or 0
 * if unknown: code, shared libraries and whatever is already allocated,
 * which a budget on the peak resident size must leave room for. */
size_t hsi_memory_resident(void);

/* HSI_MEMORY_DEFAULT_FRACTION of physical memory; 1 GiB when unknown. */
size_t hsi_memory_default(void);

/* Parse a size: a number with an optional binary suffix K, M, G or T (also
 * KB/KiB, ..., case-insensitive; "1.5G" allowed), bytes without one. Sizes
 * below HSI_MEMORY_MIN or beyond the address space are HSI_ERR_ARG. */
hsi_status hsi_memory_parse(const char *s, size_t *bytes);

/* Format bytes as "512 MiB", "2.0 GiB" for messages. */
void hsi_memory_format(size_t bytes, char *buf, size_t len);

/* Rows per block: how many rows of `row_bytes` bytes fit in what the budget
 * leaves after `fixed_bytes`, counting each row `copies` times (a block read
 * plus its converted copy, say); at most `max_rows` (the scene's rows). When
 * not even one row fits, HSI_ERR_NOMEM with a message naming `what`, the
 * size needed and the budget that would do. */
hsi_status hsi_memory_rows_per_block(size_t budget, size_t fixed_bytes, size_t row_bytes,
                                     size_t copies, size_t max_rows, const char *what,
                                     size_t *rows);

/* Check that `need` bytes (a training set, a model) fit in the budget left
 * after `fixed_bytes`; else HSI_ERR_NOMEM "<what> needs N (budget M; give
 * --memory K or more)". */
hsi_status hsi_memory_check(size_t budget, size_t fixed_bytes, size_t need, const char *what);

#ifdef __cplusplus
}
#endif
#endif
