/* fuzz_bands.c - band tables (.spc, io/bands.c hsi_band_table_read, given
 * with --band-table) and, on the same text, band lists
 * (hsi_band_list_parse, --bands) against a 220-band scene. */
#include <stdlib.h>
#include <string.h>

#include "io/io.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0) return 0;
    double *w = NULL, *f = NULL;
    size_t n = 0;
    if (fuzz_note(hsi_band_table_read(path, &w, &f, &n)) == HSI_OK) {
        free(w);
        free(f);
    }
    close(fd);

    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t *bands = NULL;
    if (fuzz_note(hsi_band_list_parse(text, 220, &bands, &n)) == HSI_OK) free(bands);
    free(text);
    return 0;
}
