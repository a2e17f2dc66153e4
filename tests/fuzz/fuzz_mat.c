/* fuzz_mat.c - MATLAB .mat files through matio as hsi reads them (io/mat.c):
 * the input is written as scene.mat and probed (`hsi info`), read as a cube
 * (the variable chooser, 3-D and folded 2-D bands x pixels with `lines` and
 * `cols`) and as a label raster. matio is not instrumented: coverage is
 * hsi's code, and ASan sees matio's allocations and libc calls only. */
#include <stdlib.h>
#include <string.h>

#include "base/cube.h"
#include "io/io.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_put_file("scene.mat", data, size, path, sizeof path);
    hsi_file_info info;
    if (fuzz_note(hsi_file_probe(path, NULL, &info)) != HSI_OK) return 0;
    hsi_cube *cube = NULL;
    if (fuzz_note(hsi_cube_read(path, NULL, &cube)) == HSI_OK) hsi_cube_free(cube);
    hsi_labels *lab = NULL;
    if (fuzz_note(hsi_labels_read(path, NULL, &lab)) == HSI_OK) hsi_labels_free(lab);
    return 0;
}
