/* cuda_loader.c - libhsi's side of the loadable CUDA backend
 * (cnn3d/cuda_module.h): the GPU entry points of base/version.h and
 * cnn3d/device.h, which dlopen() hsi_cuda.so on first use and forward to it.
 * Nothing here touches a CUDA library, so a process that never asks for a
 * GPU never maps one. The module is loaded once and never unloaded (the
 * CUDA runtime does not survive being unmapped); a failed load is
 * remembered, and every later call reports the same reason. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/version.h"
#include "cnn3d/cuda_module.h"

#ifndef HSI_PKGLIBDIR
#define HSI_PKGLIBDIR "/usr/local/lib/hsi"
#endif
#define MODULE_NAME "hsi_cuda.so"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const hsi_cuda_module *module; /* NULL: not loadable, see why */
static char why[1024];

/* Try one file: 1 loaded (or failed for good, reason in why), 0 absent. */
static int try_path(const char *path)
{
    if (access(path, F_OK) != 0) return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        /* dlerror() names the file when the module itself is bad, only the
         * missing library when one of its dependencies (cuDNN ...) is. */
        const char *e = dlerror();
        if (e && strncmp(e, path, strlen(path)) == 0) snprintf(why, sizeof why, "%s", e);
        else snprintf(why, sizeof why, "%s: %s", path, e ? e : "dlopen failed");
        return 1;
    }
    const hsi_cuda_module *(*entry)(void) =
        (const hsi_cuda_module *(*)(void))dlsym(h, HSI_CUDA_MODULE_ENTRY);
    const hsi_cuda_module *m = entry ? entry() : NULL;
    if (!m)
        snprintf(why, sizeof why, "%s: no %s in it (not an hsi CUDA module)", path,
                 HSI_CUDA_MODULE_ENTRY);
    else if (m->abi != HSI_CUDA_MODULE_ABI || m->backend_size != sizeof(hsi_cnn_backend))
        snprintf(why, sizeof why, "%s: built for another libhsi (module ABI %d, this libhsi %d)",
                 path, m->abi, HSI_CUDA_MODULE_ABI);
    else
        module = m;
    return 1;
}

static void load(void)
{
    const char *env = getenv("HSI_CUDA_MODULE");
    if (env && *env) {
        /* An explicit choice is the only one tried. */
        if (!try_path(env)) snprintf(why, sizeof why, "%s (HSI_CUDA_MODULE): no such file", env);
        return;
    }
    if (try_path(HSI_PKGLIBDIR "/" MODULE_NAME)) return;
    /* A relocated install (DIR/hsi/) or the build tree (DIR = .libs). */
    Dl_info info;
    if (dladdr((void *)load, &info) && info.dli_fname) {
        char dir[768], path[1024];
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/hsi/" MODULE_NAME, dir);
            if (try_path(path)) return;
            snprintf(path, sizeof path, "%s/" MODULE_NAME, dir);
            if (try_path(path)) return;
        }
    }
    snprintf(why, sizeof why,
             "%s/%s: no such file (nor beside libhsi; HSI_CUDA_MODULE names another)",
             HSI_PKGLIBDIR, MODULE_NAME);
}

static const hsi_cuda_module *get(void)
{
    pthread_once(&once, load);
    return module;
}

int hsi_cuda_loadable(char *buf, size_t len)
{
    const hsi_cuda_module *m = get();
    if (buf && len) snprintf(buf, len, "%s", m ? "" : why);
    return m != NULL;
}

int hsi_gpu_count(void)
{
    const hsi_cuda_module *m = get();
    return m ? m->gpu_count() : 0;
}

int hsi_gpu_describe(int device, char *buf, size_t len)
{
    const hsi_cuda_module *m = get();
    if (m) return m->gpu_describe(device, buf, len);
    snprintf(buf, len, "CUDA backend not loadable: %s", why);
    return -1;
}

void hsi_gpu_libraries(char *buf, size_t len)
{
    const hsi_cuda_module *m = get();
    if (m) m->gpu_libraries(buf, len);
    else snprintf(buf, len, "not loadable: %s", why);
}

hsi_status hsi_cnn_backend_cuda_open(int device, const hsi_cnn_device_options *o,
                                     hsi_cnn_backend **out)
{
    *out = NULL;
    const hsi_cuda_module *m = get();
    if (!m)
        return hsi_error(HSI_ERR_DEVICE, "cuda:%d: cannot load the CUDA backend %s", device, why);
    return m->backend_open(device, o, out);
}

void hsi_cnn_backend_cuda_close(hsi_cnn_backend *be)
{
    /* A GPU backend exists only if the module loaded. */
    if (be && module) module->backend_close(be);
}

void hsi_cnn_backend_cuda_describe(const hsi_cnn_backend *be, char *buf, size_t len)
{
    if (module) module->backend_describe(be, buf, len);
    else snprintf(buf, len, "cuda (not loadable)");
}
