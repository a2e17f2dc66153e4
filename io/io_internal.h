/* io_internal.h - shared by the io/ sources, not installed. */
#ifndef HSI_IO_INTERNAL_H
#define HSI_IO_INTERNAL_H

#include <gdal.h>

#include "base/cube.h"
#include "io/io.h"

/* Register GDAL's drivers once (thread-safe). */
void hsi_io_gdal_init(void);

/* Turn GDAL's last error into our message: "<path>: <what>: <GDAL message>". */
hsi_status hsi_io_gdal_error(hsi_status st, const char *path, const char *what);

/* Band metadata (wavelength, fwhm in nm) from a GDAL dataset: per-band items
 * "wavelength"/"fwhm" (+ "wavelength_units"), the ENVI domain "{...}" lists,
 * or GDAL >= 3.10's IMAGERY CENTRAL_WAVELENGTH_UM/FWHM_UM. Arrays are
 * [total] for the dataset's total band count; NULL when unknown. */
void hsi_io_read_band_metadata(GDALDatasetH ds, double **wavelength, double **fwhm);

/* Parse an ENVI "{a, b, c}" list of n numbers; 0 on success. */
int hsi_io_parse_envi_list(const char *s, double *out, size_t n);

/* .mat support (io/mat.c). The variable chooser: want_rank 3 for cubes
 * (a 2-D bands x pixels matrix with scalar `lines`/`cols` variables is folded
 * to 3-D), 2 for label rasters. */
hsi_status hsi_mat_read_cube(const char *path, const char *var, hsi_cube **out, char *used_var,
                             size_t used_len);
hsi_status hsi_mat_read_labels(const char *path, const char *var, hsi_labels **out);
hsi_status hsi_mat_probe(const char *path, const char *var, hsi_file_info *info);

/* Select bands (0-based list) from a cube in place into a new cube. */
hsi_status hsi_io_select_bands(const hsi_cube *in, const size_t *bands, size_t n,
                               hsi_cube **out);

#endif
