/* device.c - choosing a net's backend by name (cnn3d/device.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/version.h"
#include "cnn3d/device.h"

/* The GPU "cuda" and "auto" take: under MPI, ranks on one node share its
 * GPUs round robin by their node-local rank (Open MPI, Slurm, MPICH and
 * Intel MPI name it in the environment); else the first. */
static int default_gpu(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                                 "MV2_COMM_WORLD_LOCAL_RANK"};
    int count = hsi_gpu_count();
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && count > 0) return atoi(v) % count;
    }
    return 0;
}

/* "cuda" -> 0, "cuda:N" -> N; -1: not a CUDA name. */
static int cuda_index(const char *name)
{
    if (strcmp(name, "cuda") == 0) return 0;
    if (strncmp(name, "cuda:", 5) != 0 || !name[5]) return -1;
    char *end;
    long v = strtol(name + 5, &end, 10);
    if (*end || v < 0 || v > 1024 || name[5] == '+' || name[5] == '-' || name[5] == ' ') return -1;
    return (int)v;
}

int hsi_cnn_device_name_ok(const char *name)
{
    return name && (strcmp(name, "cpu") == 0 || strcmp(name, "auto") == 0 || cuda_index(name) >= 0);
}

hsi_status hsi_cnn_device_open(const char *name, const hsi_cnn_device_options *o,
                               const hsi_cnn_backend **out, char *note, size_t len)
{
    *out = NULL;
    if (note && len) note[0] = 0;
    if (!name || !*name || strcmp(name, "cpu") == 0) {
        *out = hsi_cnn_backend_cpu();
        return HSI_OK;
    }
    if (strcmp(name, "auto") == 0) {
        hsi_cnn_backend *be = NULL;
        hsi_status st = hsi_cnn_backend_cuda_open(default_gpu(), o, &be);
        if (st == HSI_OK) {
            *out = be;
            if (note) {
                char d[256];
                hsi_cnn_backend_cuda_describe(be, d, sizeof d);
                snprintf(note, len, "device auto: running on %s", d);
            }
            return HSI_OK;
        }
        /* auto alone may fall back, and says why. */
        if (note) snprintf(note, len, "device auto: running on the CPU (%s)", hsi_last_error());
        hsi_clear_error();
        *out = hsi_cnn_backend_cpu();
        return HSI_OK;
    }
    int idx = cuda_index(name);
    if (idx < 0)
        return hsi_error(HSI_ERR_ARG, "unknown device '%s' (cpu, cuda, cuda:N or auto)", name);
    if (strcmp(name, "cuda") == 0) idx = default_gpu();
    hsi_cnn_backend *be = NULL;
    hsi_status st = hsi_cnn_backend_cuda_open(idx, o, &be);
    if (st) return hsi_error_prefix(st, "--device %s", name);
    *out = be;
    if (note) {
        char d[256];
        hsi_cnn_backend_cuda_describe(be, d, sizeof d);
        snprintf(note, len, "device: %s", d);
    }
    return HSI_OK;
}

void hsi_cnn_device_close(const hsi_cnn_backend *be)
{
    if (be && be->device) hsi_cnn_backend_cuda_close((hsi_cnn_backend *)be);
}

void hsi_cnn_device_describe(const hsi_cnn_backend *be, char *buf, size_t len)
{
    if (be && be->device) hsi_cnn_backend_cuda_describe(be, buf, len);
    else snprintf(buf, len, "%s", be ? be->name : "cpu");
}
