/* fuzz_spec.c - CNN model specs (cnn3d/spec.c) and the shape planning that
 * follows every parse (`hsi cnn train --spec`, `hsi cnn summary`), with the
 * same rules as hsi_cnn_spec_load: at most 1 MiB, no NUL bytes. */
#include <stdlib.h>
#include <string.h>

#include "cnn3d/cnn.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20) || memchr(data, '\0', size)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    hsi_cnn_spec *spec = NULL;
    if (fuzz_note(hsi_cnn_spec_parse(text, "fuzz.cfg", &spec)) == HSI_OK) {
        /* "auto" bands and classes: what `hsi cnn summary` assumes. */
        int bands = spec->in_bands ? 0 : 220, classes = spec->classes ? 0 : 16;
        char *summary = NULL;
        if (fuzz_note(hsi_cnn_summary(spec, bands, classes, &summary)) == HSI_OK) free(summary);
        hsi_cnn_spec_free(spec);
    }
    free(text);
    return 0;
}
