/* test_cnn_cuda.c - the CUDA + cuDNN backend gives the CPU backend's answers
 * (built only with CUDA; without a usable GPU it reports SKIP, saying why):
 *
 *  - every primitive forward and backward, each activation, batch norm,
 *    both optimisers and the recurrent steps, from the same inputs, within
 *    the tolerances of tests/backend_compare.h (TF32 off);
 *  - 20 SGD steps of the Lange net (24 bands) from the same weights and
 *    batches: losses and weights within 1e-4 (relative);
 *  - with --deterministic, two GPU runs are bit-identical, and hsi_cnn_train
 *    from samples held on the GPU (a step sends only its indices; with
 *    augmentation applied there) equals hsi_cnn_train from batches
 *    uploaded every step, bit for bit;
 *  - a checkpoint written from the GPU loads on the CPU with the same
 *    weights, and the reverse;
 *  - running out of device memory is HSI_ERR_NOMEM with a message, not a crash.
 */
#include <stdlib.h>

#include "base/version.h"
#include "cnn3d/device.h"
#include "tests/backend_compare.h"

static const char *spec_path(const char *file)
{
    static char buf[4096];
    const char *src = getenv("HSI_SRCDIR");
    snprintf(buf, sizeof buf, "%s/cnn3d/specs/%s", src ? src : ".", file);
    return buf;
}

static void test_checkpoint_roundtrip(const hsi_cnn_spec *spec, const hsi_cnn_backend *gpu)
{
    hsi_cnn_net *g = bc_net(spec, gpu, 24, 5, 8);
    if (!g) return;
    const char *dir = check_tmpdir("cnn_cuda");
    char path[4200];
    snprintf(path, sizeof path, "%s/gpu.ckpt", dir);
    CHECK_OK(hsi_cnn_checkpoint_write(path, g, NULL));
    hsi_cnn_net *c = NULL, *g2 = NULL;
    CHECK_OK(hsi_cnn_checkpoint_read(path, 1, 8, hsi_cnn_backend_cpu(), &c, NULL));
    CHECK_OK(hsi_cnn_checkpoint_read(path, 1, 8, gpu, &g2, NULL));
    if (c && g2) {
        float *wg = bc_params(g), *wc = bc_params(c), *wg2 = bc_params(g2);
        CHECK(!memcmp(wg, wc, g->n_params * sizeof *wg) && !memcmp(wg, wg2, g->n_params * sizeof *wg));
        free(wg), free(wc), free(wg2);
    }
    hsi_cnn_net_free(c);
    hsi_cnn_net_free(g2);
    hsi_cnn_net_free(g);
}

/* hsi_cnn_train twice on fresh deterministic backends, from the same seed:
 * batches uploaded every step, and samples held on the GPU. */
static void test_resident(const hsi_cnn_spec *spec)
{
    hsi_cnn_device_options det = {1, 0};
    hsi_cnn_backend *g1 = NULL, *g2 = NULL;
    CHECK_OK(hsi_cnn_backend_cuda_open(0, &det, &g1));
    CHECK_OK(hsi_cnn_backend_cuda_open(0, &det, &g2));
    hsi_cnn_net *a = g1 ? bc_net(spec, g1, 24, 5, 8) : NULL;
    hsi_cnn_net *b = g2 ? bc_net(spec, g2, 24, 5, 8) : NULL;
    if (a && b) {
        size_t tb = 0, vb = 0;
        const char *why = hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb);
        CHECK_MSG(!why && tb && vb, "the GPU does not hold 44 windows: %s", why ? why : "?");
        bc_train_resident_compare(a, HSI_CNN_RESIDENT_NEVER, b, HSI_CNN_RESIDENT_AUTO,
                                  "training from windows held on the GPU vs uploaded batches");
        printf("resident windows on the GPU: %zu + %zu bytes, same weights as uploaded batches\n",
               tb, vb);
        /* Augmented: drawn on the host either way, applied on the host to
         * uploaded batches or by the GPU to held windows. */
        hsi_cnn_net_free(a);
        hsi_cnn_net_free(b);
        a = bc_net(spec, g1, 24, 5, 8);
        b = bc_net(spec, g2, 24, 5, 8);
        if (a && b) {
            hsi_cnn_augment aug = {.flip = 1, .rotate = 1, .gain = 0.1, .offset = 0.05, .mix = 0.5};
            a->spec->augment = b->spec->augment = aug;
            bc_train_resident_compare(a, HSI_CNN_RESIDENT_NEVER, b, HSI_CNN_RESIDENT_AUTO,
                                      "augmented training, held on the GPU vs uploaded batches");
        }
    }
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
    hsi_cnn_backend_cuda_close(g1);
    hsi_cnn_backend_cuda_close(g2);
}

int main(void)
{
    if (!hsi_have_cuda()) check_skip("built without CUDA");
    hsi_cnn_device_options o = {0, 0};
    hsi_cnn_backend *gpu = NULL;
    if (hsi_cnn_backend_cuda_open(0, &o, &gpu)) {
        char why[600];
        snprintf(why, sizeof why, "no usable GPU: %s", hsi_last_error());
        check_skip(why);
    }
    char desc[512];
    hsi_cnn_device_describe(gpu, desc, sizeof desc);
    printf("GPU: %s\n", desc);

    bc t = {.ref = hsi_cnn_backend_cpu(), .be = gpu, .exact = 0};
    hsi_rng_seed(&t.rng, 11);
    bc_all_primitives(&t);

    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(spec_path("lange2018.cfg"), &spec));
    if (spec) {
        hsi_cnn_net *a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8);
        hsi_cnn_net *b = bc_net(spec, gpu, 24, 5, 8);
        bc_train_compare(a, b, 20, 8, 1e-4, "lange net, CPU vs GPU");
        hsi_cnn_net_free(a);
        hsi_cnn_net_free(b);

        /* --deterministic: two runs on two fresh backends, bit for bit. */
        hsi_cnn_device_options det = {1, 0};
        hsi_cnn_backend *g1 = NULL, *g2 = NULL;
        CHECK_OK(hsi_cnn_backend_cuda_open(0, &det, &g1));
        CHECK_OK(hsi_cnn_backend_cuda_open(0, &det, &g2));
        if (g1 && g2) {
            hsi_cnn_net *d1 = bc_net(spec, g1, 24, 5, 8), *d2 = bc_net(spec, g2, 24, 5, 8);
            bc_train_compare(d1, d2, 20, 8, 0, "lange net, GPU --deterministic twice");
            hsi_cnn_net_free(d1);
            hsi_cnn_net_free(d2);
        }
        hsi_cnn_backend_cuda_close(g1);
        hsi_cnn_backend_cuda_close(g2);

        test_resident(spec);
        test_checkpoint_roundtrip(spec, gpu);

        /* Out of device memory: an error with the sizes, and the backend
         * is unusable afterwards (a fresh one works). */
        hsi_cnn_backend *oom = NULL;
        CHECK_OK(hsi_cnn_backend_cuda_open(0, &o, &oom));
        if (oom) {
            void *p = oom->alloc(oom, (size_t)1 << 50); /* 1 PiB */
            CHECK(p == NULL);
            CHECK_FAILS(oom->status(oom), HSI_ERR_NOMEM, "out of memory");
            hsi_cnn_backend_cuda_close(oom);
        }
        hsi_cnn_spec_free(spec);
    }
    hsi_cnn_backend_cuda_close(gpu);
    return check_finish();
}
