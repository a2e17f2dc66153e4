/* patch_window.h - where each value of a patch window comes from: the one
 * rule that the host's gathers (features/patch.c) and the GPU's window
 * gather (cnn3d/backend_cuda_ops.cu, k_gather_windows) both follow,
 * compiled for either (inline, no library calls).
 *
 * A window of radius r around pixel (row, col) is S x S (S = 2r + 1); its
 * position (y, x) reads scene pixel (row + y - r, col + x - r). Outside the
 * scene the zero and skip modes read 0 (skip never gets there), the mirror
 * mode reflects without repeating the edge (-1 -> 1). The scene's rows are
 * held as a band, rows [first, first + count) of scene_rows, BIP: pixel
 * (rr, cc) is the spectrum at float offset ((rr - first) * cols + cc) * bands.
 * The window is laid out (bands, S, S): element j = (b * S + y) * S + x.
 */
#ifndef HSI_PATCH_WINDOW_H
#define HSI_PATCH_WINDOW_H

#ifdef __CUDACC__
#define HSI_PW_HD __host__ __device__ __forceinline__
#else
#define HSI_PW_HD static inline
#endif

/* Reflect a coordinate into [0, n) without repeating the edge (-1 -> 1).
 * One reflection suffices because the window is never larger than the scene. */
HSI_PW_HD long hsi_window_reflect(long v, long n)
{
    if (v < 0) return -v;
    if (v >= n) return 2 * (n - 1) - v;
    return v;
}

/* The pixel (row, col) of the band that window position (y, x) reads, as
 * (rr - first) * cols + cc, or -1 where the window leaves the scene and the
 * mode reads 0 (mirror: 1 for the mirror mode, 0 for zero and skip). */
HSI_PW_HD long hsi_window_pixel(long row, long col, long y, long x, long radius, long scene_rows,
                                long cols, long first, int mirror)
{
    long sr = row + y - radius, sc = col + x - radius;
    if (!mirror && (sr < 0 || sr >= scene_rows || sc < 0 || sc >= cols)) return -1;
    return (hsi_window_reflect(sr, scene_rows) - first) * cols + hsi_window_reflect(sc, cols);
}

/* Element j of the window of pixel (row, col), j = (b * S + y) * S + x:
 * its float offset in the band, or -1 for a 0. One GPU thread's work. */
HSI_PW_HD long hsi_window_element(long j, long row, long col, long radius, long bands,
                                  long scene_rows, long cols, long first, int mirror)
{
    long S = 2 * radius + 1, x = j % S, y = (j / S) % S, b = j / (S * S);
    long p = hsi_window_pixel(row, col, y, x, radius, scene_rows, cols, first, mirror);
    return p < 0 ? -1 : p * bands + b;
}

#endif
