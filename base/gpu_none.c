/* gpu_none.c - the GPU query API when hsi is built without CUDA. */
#include <stdio.h>

#include "base/version.h"

int hsi_gpu_count(void)
{
    return 0;
}

int hsi_gpu_describe(int device, char *buf, size_t len)
{
    snprintf(buf, len, "no CUDA support built in");
    return -1;
}

void hsi_gpu_libraries(char *buf, size_t len)
{
    snprintf(buf, len, "no CUDA support built in");
}

int hsi_cuda_loadable(char *buf, size_t len)
{
    if (buf && len) snprintf(buf, len, "no CUDA support built in");
    return 0;
}
