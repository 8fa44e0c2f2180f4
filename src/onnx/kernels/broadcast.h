/* broadcast.h - numpy broadcasting and a strided N-d iterator shared by the
 * elementwise, data-movement and reduction operators.
 *
 * The iterator walks a logical shape in row-major order for up to
 * ONNX_ITER_MAX_OPERANDS operands, each with its own element strides (0 on a
 * broadcast axis, negative for reversed slices). Adjacent axes that are
 * contiguous for every operand are merged once, so equal shapes become one
 * flat row and a scalar operand becomes stride 0: kernels receive whole rows
 * (a pointer offset per operand and a count) and specialise their inner loop
 * on the row strides, never calling a function per element.
 */
#ifndef KH_ONNX_KERNELS_BROADCAST_H
#define KH_ONNX_KERNELS_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/op.h"

#define ONNX_ITER_MAX_OPERANDS 4
/* Tile and DepthToSpace view a tensor with twice its rank. */
#define ONNX_ITER_MAX_RANK (2 * ONNX_MAX_RANK)

/* Multidirectional broadcast of the shapes of n tensors (NULL entries are
 * skipped). Fills *rank and dims (ONNX_MAX_RANK entries). KH_ESHAPE naming
 * the two shapes that disagree. */
int onnx_broadcast_shape(const onnx_tensor *const *tensors, size_t n, int *rank,
                         int64_t *dims, kh_error *err);

/* Same for two raw shapes (Expand broadcasts a tensor with a shape input). */
int onnx_broadcast_dims(int rank_a, const int64_t *dims_a, int rank_b,
                        const int64_t *dims_b, int *rank, int64_t *dims,
                        kh_error *err);

/* Element strides of a row-major tensor of shape (t_rank, t_dims) seen in
 * the broadcast shape (rank, dims): right-aligned, 0 where t's dim is 1 or
 * missing. The caller guarantees the shapes broadcast. */
void onnx_broadcast_strides(int t_rank, const int64_t *t_dims, int rank,
                            const int64_t *dims, int64_t *strides);

/* Row-major element strides of a contiguous tensor. */
void onnx_contiguous_strides(int rank, const int64_t *dims, int64_t *strides);

typedef struct onnx_nditer {
    int rank; /* merged rank, >= 1 */
    int operands;
    size_t numel; /* elements of the logical shape */
    int64_t dims[ONNX_ITER_MAX_RANK];
    int64_t strides[ONNX_ITER_MAX_OPERANDS][ONNX_ITER_MAX_RANK];
} onnx_nditer;

/* Starts an iterator over the logical shape (rank <= ONNX_ITER_MAX_RANK). */
void onnx_nditer_begin(onnx_nditer *it, int rank, const int64_t *dims);
/* Adds an operand with explicit element strides (rank entries as given to
 * begin); returns its index. */
int onnx_nditer_add(onnx_nditer *it, const int64_t *strides);
/* Adds a row-major operand with exactly the logical shape (an output). */
int onnx_nditer_add_contiguous(onnx_nditer *it);
/* Adds tensor t broadcast to the logical shape. */
int onnx_nditer_add_broadcast(onnx_nditer *it, const onnx_tensor *t);
/* Drops size-1 axes and merges axes contiguous for every operand. Call once
 * after the last add and before visiting. */
void onnx_nditer_seal(onnx_nditer *it);

/* Stride of operand k along the innermost (row) axis. */
static inline int64_t onnx_nditer_row_stride(const onnx_nditer *it, int k) {
    return it->strides[k][it->rank - 1];
}

/* Called per row piece: offsets[k] is the element offset of operand k at
 * the first element; the piece has count elements stepping by
 * onnx_nditer_row_stride(). */
typedef void (*onnx_nditer_row_fn)(void *ctx, const int64_t *offsets,
                                   size_t count);

/* Visits the flat element range [begin, end) of the logical shape. */
void onnx_nditer_visit(const onnx_nditer *it, size_t begin, size_t end,
                       onnx_nditer_row_fn fn, void *ctx);

/* Visits every element, split across ex's threads when the shape is large
 * enough to pay for it. fn must only write output elements of its range. */
void onnx_nditer_run(const onnx_exec *ex, const onnx_nditer *it,
                     onnx_nditer_row_fn fn, void *ctx);

/* Elements below which work stays on the calling thread. */
#define ONNX_PARALLEL_GRAIN 32768

/* Splits [0, n) into chunks of at least `grain` items over ex's threads and
 * calls fn(arg, begin, end, worker) for each (directly when small). */
void onnx_parallel_range(const onnx_exec *ex, size_t n, size_t grain,
                         void (*fn)(void *arg, size_t begin, size_t end,
                                    int worker),
                         void *arg);

#endif
