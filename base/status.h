/* status.h - one status enum and one error message for the whole library.
 *
 * Every fallible libhsi call returns an hsi_status. On failure it has also
 * stored a one-line message (naming the file and the problem where there is
 * one) in a thread-local buffer, read with hsi_last_error(). The library never
 * prints and never exits: only tools/ does.
 *
 *     hsi_status st = hsi_cube_read(path, &opts, &cube);
 *     if (st) { fprintf(stderr, "hsi: %s\n", hsi_last_error()); return 1; }
 */
#ifndef HSI_STATUS_H
#define HSI_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_status {
    HSI_OK = 0,
    HSI_ERR_NOMEM,       /* out of memory */
    HSI_ERR_IO,          /* a file could not be opened, read, written or renamed */
    HSI_ERR_FORMAT,      /* a file is not in a format we can read, or is malformed */
    HSI_ERR_ARG,         /* an argument or option value is invalid */
    HSI_ERR_SIZE,        /* sizes or shapes do not agree */
    HSI_ERR_DATA,        /* data values are unusable (NaN/Inf, nothing labelled, ...) */
    HSI_ERR_UNSUPPORTED, /* the feature was not built in (no matio, no MPI, no CUDA) */
    HSI_ERR_MPI,         /* an MPI call failed */
    HSI_ERR_DEVICE       /* a CUDA/cuDNN call failed */
} hsi_status;

/* Short fixed name of a status ("I/O error", ...). */
const char *hsi_status_str(hsi_status st);

/* The message stored by the last failing call on this thread ("" if none). */
const char *hsi_last_error(void);

/* The longest message kept (longer ones are cut); each thread keeps its own. */
#define HSI_ERROR_MAX 1024

/* Store a printf-style message and return st, so that a failure reads
 *     return hsi_error(HSI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
 */
hsi_status hsi_error(hsi_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Put "context: " in front of the stored message (e.g. the file name) and
 * return st unchanged. */
hsi_status hsi_error_prefix(hsi_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void hsi_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
