/* cuda_module.c - the entry point of the loadable CUDA backend (hsi_cuda.so,
 * cnn3d/cuda_module.h): the table of the functions libhsi calls. The module
 * exports only hsi_cuda_module_entry, so the names below (which libhsi's
 * loader also defines, as its forwarding wrappers) bind to the module's own
 * definitions. */
#include "base/version.h"
#include "cnn3d/cuda_module.h"

static const hsi_cuda_module table = {
    .abi = HSI_CUDA_MODULE_ABI,
    .backend_size = sizeof(hsi_cnn_backend),
    .gpu_count = hsi_gpu_count,
    .gpu_describe = hsi_gpu_describe,
    .gpu_libraries = hsi_gpu_libraries,
    .backend_open = hsi_cnn_backend_cuda_open,
    .backend_close = hsi_cnn_backend_cuda_close,
    .backend_describe = hsi_cnn_backend_cuda_describe,
};

const hsi_cuda_module *hsi_cuda_module_entry(void)
{
    return &table;
}
