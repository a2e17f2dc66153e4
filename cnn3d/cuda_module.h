/* cuda_module.h - the boundary between libhsi and the CUDA + cuDNN backend,
 * which is built as a separate loadable module (hsi_cuda.so, installed in
 * $(pkglibdir)) so that only runs that ask for a GPU map cuDNN, cuBLAS and
 * the CUDA runtime (some 200 MiB resident, and their load time): `hsi info`,
 * `hsi svm` and CPU CNN runs never load them.
 *
 * The module exports one symbol, hsi_cuda_module_entry(), which returns the
 * table below. libhsi (cnn3d/cuda_loader.c) dlopen()s the module the first
 * time a GPU is asked for (hsi_cnn_backend_cuda_open, hsi_gpu_*) and routes
 * those calls through the table. The module is found at
 *
 *   $HSI_CUDA_MODULE         when set (the build tree's tests set it), else
 *   $(pkglibdir)/hsi_cuda.so the install path compiled in, else
 *   DIR/hsi/hsi_cuda.so or DIR/hsi_cuda.so, DIR being libhsi's own folder
 *                            (a relocated install; the build tree's .libs).
 */
#ifndef HSI_CNN_CUDA_MODULE_H
#define HSI_CNN_CUDA_MODULE_H

#include <stddef.h>

#include "base/status.h"
#include "cnn3d/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever the table or hsi_cnn_backend changes shape: a module from
 * another build is refused rather than called with the wrong layout. */
#define HSI_CUDA_MODULE_ABI 1

typedef struct hsi_cuda_module {
    int abi;          /* HSI_CUDA_MODULE_ABI of the build the module came from */
    size_t backend_size; /* sizeof(hsi_cnn_backend) there */
    int (*gpu_count)(void);
    int (*gpu_describe)(int device, char *buf, size_t len);
    void (*gpu_libraries)(char *buf, size_t len);
    hsi_status (*backend_open)(int device, const hsi_cnn_device_options *o, hsi_cnn_backend **out);
    void (*backend_close)(hsi_cnn_backend *be);
    void (*backend_describe)(const hsi_cnn_backend *be, char *buf, size_t len);
} hsi_cuda_module;

/* The module's one export (cnn3d/cuda_module.c). */
const hsi_cuda_module *hsi_cuda_module_entry(void);
#define HSI_CUDA_MODULE_ENTRY "hsi_cuda_module_entry"

#ifdef __cplusplus
}
#endif
#endif
