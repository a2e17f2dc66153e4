#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[HSI_ERROR_MAX];

const char *hsi_status_str(hsi_status st)
{
    switch (st) {
    case HSI_OK: return "success";
    case HSI_ERR_NOMEM: return "out of memory";
    case HSI_ERR_IO: return "I/O error";
    case HSI_ERR_FORMAT: return "bad or unsupported file format";
    case HSI_ERR_ARG: return "invalid argument";
    case HSI_ERR_SIZE: return "size mismatch";
    case HSI_ERR_DATA: return "unusable data";
    case HSI_ERR_UNSUPPORTED: return "not built into this hsi";
    case HSI_ERR_MPI: return "MPI error";
    case HSI_ERR_DEVICE: return "GPU error";
    }
    return "unknown error";
}

const char *hsi_last_error(void)
{
    return last_error;
}

void hsi_clear_error(void)
{
    last_error[0] = '\0';
}

hsi_status hsi_error(hsi_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* One line: a message from GDAL or libc may end in a newline. */
    for (char *p = last_error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    size_t n = strlen(last_error);
    while (n > 0 && last_error[n - 1] == ' ') last_error[--n] = '\0';
    return st;
}

hsi_status hsi_error_prefix(hsi_status st, const char *fmt, ...)
{
    char prefix[HSI_ERROR_MAX], old[HSI_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    snprintf(last_error, sizeof last_error, "%.500s: %.500s", prefix, old);
    return st;
}
