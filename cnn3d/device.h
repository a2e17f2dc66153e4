/* device.h - where a net runs: the CPU backend or the CUDA + cuDNN backend
 * (cnn3d/backend_cuda*.cu), chosen at run time by name, as `--device` and
 * the spec's `[net] device =` give it:
 *
 *   cpu      the CPU backend (the default)
 *   cuda     the first GPU (under MPI: the node-local rank's share, round
 *            robin); cuda:N the GPU numbered N (as CUDA counts them)
 *   auto     the first GPU when one is present and usable, else the CPU;
 *            *note says which and, on the CPU, why
 *
 * cuda and cuda:N never fall back to the CPU: no device, a driver older than
 * the toolkit hsi was built with, a GPU too old for the built architectures
 * or a build without CUDA are HSI_ERR_DEVICE / HSI_ERR_UNSUPPORTED with one
 * line saying so.
 */
#ifndef HSI_CNN_DEVICE_H
#define HSI_CNN_DEVICE_H

#include <stddef.h>

#include "base/status.h"
#include "cnn3d/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_cnn_device_options {
    int deterministic; /* GPU: deterministic cuDNN algorithms picked by heuristics, not timing,
                        * so two runs with one seed are bit-identical */
    int tf32;          /* GPU: allow TF32 tensor cores in convolutions and GEMMs (off: FP32) */
} hsi_cnn_device_options;

/* Open the backend `name` names (NULL or "": cpu). `note` (may be NULL)
 * receives one line for the user: the GPU taken, or for auto on the CPU the
 * reason. The CPU backend is static; close what this returns with
 * hsi_cnn_device_close() either way. */
hsi_status hsi_cnn_device_open(const char *name, const hsi_cnn_device_options *o,
                               const hsi_cnn_backend **out, char *note, size_t len);
void hsi_cnn_device_close(const hsi_cnn_backend *be);

/* Is `name` a device name (syntax only)? For option and spec parsing. */
int hsi_cnn_device_name_ok(const char *name);

/* One line naming the backend: "cpu" or "cuda:0 (NVIDIA H200, sm_90, 139 GiB;
 * driver 13.0, cuDNN 9.19.0, cuBLAS 13.0.0; deterministic)". */
void hsi_cnn_device_describe(const hsi_cnn_backend *be, char *buf, size_t len);

/* The backend's sticky error (HSI_OK: none). */
static inline hsi_status hsi_cnn_backend_check(const hsi_cnn_backend *be)
{
    return be && be->status ? be->status(be) : HSI_OK;
}

/* The CUDA backend itself (backend_cuda.cu; backend_cuda_none.c without
 * CUDA, where it is HSI_ERR_UNSUPPORTED). */
hsi_status hsi_cnn_backend_cuda_open(int device, const hsi_cnn_device_options *o,
                                     hsi_cnn_backend **out);
void hsi_cnn_backend_cuda_close(hsi_cnn_backend *be);
void hsi_cnn_backend_cuda_describe(const hsi_cnn_backend *be, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
