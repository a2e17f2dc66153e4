/* fuzz_envi.c - ENVI headers through GDAL's open path as hsi uses it
 * (io/raster_read.c): the input is written as scene.hdr beside a fixed
 * 4 KiB data file scene.img, and scene.img is probed (`hsi info`), read as a
 * cube (`hsi ... CUBE`) and read as a label raster (ground truth). GDAL
 * itself is not instrumented: coverage is hsi's code, and ASan sees GDAL's
 * allocations and libc calls only. */
#include <stdlib.h>
#include <string.h>

#include "base/cube.h"
#include "io/io.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char img_path[4200];

static void make_data_file(void)
{
    /* Small integers as bytes, so every data type decodes to finite values
     * for most headers and Byte/UInt16 scenes also read as labels. */
    unsigned char raw[4096];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)(i % 7 == 6 ? 0 : i % 5);
    fuzz_put_file("scene.img", raw, sizeof raw, img_path, sizeof img_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!img_path[0]) make_data_file();
    char hdr_path[4200];
    fuzz_put_file("scene.hdr", data, size, hdr_path, sizeof hdr_path);

    hsi_file_info info;
    if (fuzz_note(hsi_file_probe(img_path, NULL, &info)) != HSI_OK) return 0;
    hsi_cube *cube = NULL;
    if (fuzz_note(hsi_cube_read(img_path, NULL, &cube)) == HSI_OK) hsi_cube_free(cube);
    hsi_labels *lab = NULL;
    if (fuzz_note(hsi_labels_read(img_path, NULL, &lab)) == HSI_OK) hsi_labels_free(lab);
    return 0;
}
