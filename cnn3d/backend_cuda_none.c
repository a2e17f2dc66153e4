/* backend_cuda_none.c - the CUDA backend's entry points when hsi is built
 * without CUDA (configure --without-cuda, or no toolkit found): asking for
 * a GPU is then a clear error, never a silent CPU run. */
#include <stdio.h>

#include "cnn3d/device.h"

hsi_status hsi_cnn_backend_cuda_open(int device, const hsi_cnn_device_options *o,
                                     hsi_cnn_backend **out)
{
    (void)o;
    *out = NULL;
    return hsi_error(HSI_ERR_UNSUPPORTED,
                     "cuda:%d: this hsi was built without CUDA (configure found no CUDA toolkit "
                     "with cuDNN, or was given --without-cuda)",
                     device);
}

void hsi_cnn_backend_cuda_close(hsi_cnn_backend *be)
{
    (void)be;
}

void hsi_cnn_backend_cuda_describe(const hsi_cnn_backend *be, char *buf, size_t len)
{
    (void)be;
    snprintf(buf, len, "cuda (not built in)");
}
