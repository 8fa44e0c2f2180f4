/* eltwise_sum.h - y = activation(x0 + x1 + ...) for up to 4 float tensors
 * with numpy broadcasting: the fused form of Add chains ending in Relu,
 * LeakyRelu or Clip (optimize.h), and the slow path of Conv residuals that
 * broadcast. Equal shapes take one vectorised pass.
 */
#ifndef KH_ONNX_KERNELS_ELTWISE_SUM_H
#define KH_ONNX_KERNELS_ELTWISE_SUM_H

#include <stddef.h>

#include "onnx/kernels/epilogue.h"
#include "onnx/op.h"

#define ELTWISE_SUM_MAX 4

/* Broadcast shape of n (<= ELTWISE_SUM_MAX) tensors; KH_ESHAPE naming the
 * first that does not broadcast. */
int eltwise_sum_shape(const onnx_tensor *const *xs, size_t n, int *rank,
                      int64_t *dims, kh_error *err);

/* y (already shaped as eltwise_sum_shape says) = act(sum of xs). Only the
 * epilogue's activation fields are used. */
void eltwise_sum_run(const onnx_exec *ex, const onnx_tensor *const *xs,
                     size_t n, onnx_tensor *y, const kernel_epilogue *act);

#endif
