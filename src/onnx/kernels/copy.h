/* copy.h - strided copies by element size: the engine of Transpose, Slice,
 * Expand, Tile, DepthToSpace and Where, which only move bytes around.
 */
#ifndef KH_ONNX_KERNELS_COPY_H
#define KH_ONNX_KERNELS_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/kernels/broadcast.h"
#include "onnx/op.h"

/* Copies the view of src with logical shape (rank, dims) and element
 * strides src_strides (0 repeats, negative walks backwards; src points at
 * the view's first element) into dst, contiguous row-major. esize is 1, 2,
 * 4 or 8 bytes; rank <= ONNX_ITER_MAX_RANK. */
void onnx_strided_copy(const onnx_exec *ex, void *dst, const void *src,
                       size_t esize, int rank, const int64_t *dims,
                       const int64_t *src_strides);

/* Broadcasts tensor src into dst of shape (rank, dims) (Expand, and the
 * first operand of variadic ops). */
void onnx_broadcast_copy(const onnx_exec *ex, void *dst, int rank,
                         const int64_t *dims, const onnx_tensor *src);

/* Fills n elements of esize bytes at dst with the element at value. */
void onnx_fill(void *dst, const void *value, size_t esize, size_t n);

/* Transposes src of shape (rank, dims) by perm (output axis i is input axis
 * perm[i]) into dst. */
void onnx_transpose(const onnx_exec *ex, void *dst, const void *src,
                    size_t esize, int rank, const int64_t *dims,
                    const int64_t *perm);

#endif
