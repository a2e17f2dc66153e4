/* fuzz_svm.c - SVM model bundles (classifiers/svm.c hsi_svm_model_load): the
 * bundle header, class table, preprocessing record and the libsvm model text
 * inside it (parsed by libsvm's svm_load_model). A bundle that loads then
 * classifies one pixel, as `hsi svm predict` would.
 *
 * The input is a bundle whose checksum the target recomputes (fuzz_util.h). */
#include <stdlib.h>
#include <string.h>

#include "classifiers/svm.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    fuzz_blob_fix_checksum(buf, size);
    char path[64];
    int fd = fuzz_memfd(buf, size, path);
    free(buf);
    if (fd < 0) return 0;
    hsi_svm_model *m = NULL;
    if (fuzz_note(hsi_svm_model_load(path, &m)) == HSI_OK) {
        hsi_svm_model_info info;
        hsi_svm_model_get_info(m, &info);
        if (info.input_dim <= 4096) {
            float *x = calloc(info.input_dim, sizeof *x);
            float *prob = info.has_probability ? calloc((size_t)info.n_classes, sizeof *prob) : NULL;
            uint16_t label;
            if (x) fuzz_note(hsi_svm_predict(m, x, 1, info.input_dim, "fuzz pixel", &label, prob));
            free(x);
            free(prob);
        }
        hsi_svm_model_free(m);
    }
    close(fd);
    return 0;
}
