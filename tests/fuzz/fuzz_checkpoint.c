/* fuzz_checkpoint.c - CNN checkpoints (cnn3d/checkpoint.c): the header, the
 * class table, the embedded preprocessing record and spec, and building the
 * net they describe. The load path only; prediction is not run.
 *
 * The input is a checkpoint file whose checksum the target recomputes (see
 * fuzz_util.h). The original last byte, which the checksum overwrites,
 * chooses the mode: odd = resume training (optimiser state), even = predict. */
#include <stdlib.h>
#include <string.h>

#include "cnn3d/cnn.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    int training = size ? data[size - 1] & 1 : 0;
    fuzz_blob_fix_checksum(buf, size);
    char path[64];
    int fd = fuzz_memfd(buf, size, path);
    free(buf);
    if (fd < 0) return 0;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta meta;
    if (fuzz_note(hsi_cnn_checkpoint_read(path, training, 1, NULL, &net, &meta)) == HSI_OK) {
        hsi_cnn_net_free(net);
        hsi_cnn_meta_clear(&meta);
    }
    close(fd);
    return 0;
}
