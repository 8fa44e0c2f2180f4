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

/* What AveragePool and MaxPool keep between calls: the attributes read at
 * init and the plan made at reshape. An operator's own state embeds it as
 * its first member so pool_state_init can allocate the whole struct. */
typedef struct pool_state {
    conv_window_attrs attrs;
    pool_window window;
    size_t planes, in_plane, out_plane; /* N*C planes, elements per plane */
} pool_state;

/* Allocates a zeroed state of state_size bytes (a struct whose first member
 * is a pool_state) into n->state, owned by the node and freed by
 * pool_state_exit, then reads the window attributes; kernel_shape is
 * required. KH_ENOMEM / KH_EINVAL with a message otherwise. */
int pool_state_init(onnx_node *n, size_t state_size, kh_error *err);

/* Frees n->state; for the operators' exit hook. */
void pool_state_exit(onnx_node *n);

/* Input X of a windowed pool: present, float, or also uint8/int8 when
 * int8_ok. Sets *x; KH_EINVAL / KH_EUNSUPPORTED with a message otherwise. */
int pool_input(onnx_node *n, bool int8_ok, const onnx_tensor **x, kh_error *err);

/* pool_plan for st's attributes, then the plane counts and sizes. */
int pool_state_plan(pool_state *st, const onnx_tensor *x, int64_t *ydims, kh_error *err);

/* Reshape of GlobalAveragePool and GlobalMaxPool: float X [N, C, D1...]
 * gives Y [N, C, 1, ...]. */
int pool_global_reshape(onnx_node *n, kh_error *err);
#endif
