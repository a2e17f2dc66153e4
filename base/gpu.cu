/* gpu.cu - CUDA device queries (built by nvcc when configure finds CUDA). */
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>

#include "base/version.h"

extern "C" int hsi_gpu_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no device" error */
        return 0;
    }
    return n;
}

extern "C" int hsi_gpu_describe(int device, char *buf, size_t len)
{
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) {
        snprintf(buf, len, "device %d: %s", device, cudaGetErrorString(e));
        return -1;
    }
    snprintf(buf, len, "%s, %.0f GiB, sm_%d%d, cuDNN %zu", p.name,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor,
             (size_t)cudnnGetVersion());
    return 0;
}
