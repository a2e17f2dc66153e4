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

/* The CUDA libraries hsi runs with (linked, so known without a GPU). */
extern "C" void hsi_gpu_libraries(char *buf, size_t len)
{
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    size_t dnn = cudnnGetVersion();
    char drv[48];
    if (driver) snprintf(drv, sizeof drv, "driver for CUDA %d.%d", driver / 1000, driver % 1000 / 10);
    else snprintf(drv, sizeof drv, "no NVIDIA driver");
    snprintf(buf, len, "CUDA runtime %d.%d, cuDNN %zu.%zu.%zu, %s", runtime / 1000,
             runtime % 1000 / 10, dnn / 10000, dnn % 10000 / 100, dnn % 100, drv);
}
