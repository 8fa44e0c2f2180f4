/* pool.h - max and average pooling of one channel plane (1-D to 3-D, via the
 * convolution window geometry of im2col.h). Max pooling of float planes
 * with a 2x2 window and stride 2 (the detector's pools) has an AVX-512 path;
 * everything else is a plain loop over the clamped window.
 */
#ifndef KH_ONNX_KERNELS_POOL_H
#define KH_ONNX_KERNELS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx/kernels/im2col.h"
#include "onnx/kernels/conv_window.h"

typedef struct pool_window {
    conv_geometry g;                 /* channels unused */
    ptrdiff_t pad_end[CONV_MAX_SPATIAL];
    bool count_include_pad;          /* average: divide by the padded window */
} pool_window;

/* Max over each window (padding never wins). When indices is non-NULL it
 * receives the flat position of each maximum within the tensor:
 * index_base + position in the plane, row-major (column_major false) or
 * with the last two axes swapped (storage_order 1). */
void pool_max_plane(const pool_window *w, const float *in, float *out,
                    int64_t *indices, int64_t index_base, bool column_major);

/* Same for 8-bit integers (MaxPool on uint8/int8 tensors). */
void pool_max_plane_u8(const pool_window *w, const uint8_t *in, uint8_t *out);
void pool_max_plane_i8(const pool_window *w, const int8_t *in, int8_t *out);

/* Average over each window: divides by the number of input elements in it,
 * or with count_include_pad by the window's extent within the padded input
 * (never past the end padding). */
void pool_avg_plane(const pool_window *w, const float *in, float *out);

/* One output row of a 2x2, stride-2 max pool from one or two input rows of
 * width w (row1 NULL when the window's second row is padding): out[px] =
 * max over columns 2*px - pad_left and 2*px - pad_left + 1 that exist.
 * Used by Conv when a MaxPool is fused into it. */
void pool_max_2x2_row(const float *row0, const float *row1, size_t w, ptrdiff_t pad_left,
                      float *out, size_t out_w);

/* Plans pooling of x [N, C, D1..Dk] (1 <= k <= 3) with attrs: kernel_shape
 * is required. Fills w (count_include_pad left false) and ydims (rank of
 * x). KH_EINVAL / KH_ESHAPE / KH_EUNSUPPORTED with a message otherwise. */
int pool_plan(const conv_window_attrs *attrs, const onnx_tensor *x,
              pool_window *w, int64_t *ydims, kh_error *err);
#endif
