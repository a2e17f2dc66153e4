/* version.h - what this libhsi is and what was built into it. */
#ifndef HSI_VERSION_H
#define HSI_VERSION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *hsi_version(void);
/* e.g. "gdal=3.6.2 openblas libsvm matio mpi"; with CUDA it says that no
 * cuDNN backend exists yet (cnn3d/backend.h has only the CPU one). */
const char *hsi_build_features(void);
int hsi_have_matio(void);
int hsi_have_mpi(void);
int hsi_have_cuda(void);

/* Number of CUDA devices usable now (0 without CUDA or without a GPU), and a
 * one-line description of device i ("NVIDIA H100, 80 GiB, sm_90"). */
int hsi_gpu_count(void);
int hsi_gpu_describe(int device, char *buf, size_t len);
/* "CUDA runtime 13.0, cuDNN 9.19.0, driver for CUDA 13.0" (or why not). */
void hsi_gpu_libraries(char *buf, size_t len);
/* Can the CUDA backend module (hsi_cuda.so, cnn3d/cuda_module.h) be loaded?
 * Loads it on first call; 0 with the reason in buf (the module's path and
 * dlerror(), or "no CUDA support built in") when not. */
int hsi_cuda_loadable(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
