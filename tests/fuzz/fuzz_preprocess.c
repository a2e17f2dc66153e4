/* fuzz_preprocess.c - the preprocessing record (features/preprocess.c
 * hsi_preprocess_read) that SVM bundles and CNN checkpoints embed, read from
 * memory through a base/blob.h cursor, as the two loaders do after the
 * file's checksum has passed. A record that reads is applied to one pixel. */
#include <stdlib.h>
#include <string.h>

#include "base/blob.h"
#include "features/preprocess.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hsi_blob_reader r = {data, size, 0, 0};
    hsi_preprocess *p = NULL;
    if (fuzz_note(hsi_preprocess_read(&r, "fuzz", &p)) == HSI_OK) {
        float *x = calloc(p->in_dim, sizeof *x), *y = calloc(p->out_dim, sizeof *y);
        if (x && y) fuzz_note(hsi_preprocess_apply(p, x, 1, y));
        free(x);
        free(y);
        hsi_preprocess_free(p);
    }
    return 0;
}
