/* softmax.h - Softmax / LogSoftmax along one axis of a tensor seen as
 * [outer, n, inner] (inner 1 for the older "flatten at axis" semantics).
 */
#ifndef KH_ONNX_KERNELS_SOFTMAX_H
#define KH_ONNX_KERNELS_SOFTMAX_H

#include <stdbool.h>
#include <stddef.h>

#include "onnx/op.h"

/* Splits the shape of x at `axis` for Softmax-family ops: before opset 13
 * the input is flattened to 2-D at axis (n = product of dims[axis:],
 * inner = 1; axis in [-rank, rank]); from 13 on one axis is normalised
 * (n = dims[axis], inner = product after it; axis in [-rank, rank-1]). */
int softmax_axis_split(const onnx_tensor *x, int64_t axis, bool flatten,
                  size_t *outer, size_t *n, size_t *inner, kh_error *err);

/* y = softmax(x) (or log-softmax) along the middle axis, threaded. */
void softmax_compute(const onnx_exec *ex, const float *x, float *y, size_t outer,
                 size_t n, size_t inner, bool log);

/* The whole of the Softmax and LogSoftmax operators but for `log`: input
 * checks, the opset-dependent axis, and the computation. */
int softmax_node_reshape(onnx_node *n, kh_error *err);
int softmax_node_run(onnx_node *n, const onnx_exec *ex, bool log, kh_error *err);

#endif
