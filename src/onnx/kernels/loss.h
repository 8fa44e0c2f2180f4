/* loss.h - NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset
 * 12+), which share the gather-weight-reduce step:
 *     loss[n, d] = -weight[t] * logp[n, t, d]   with t = target[n, d],
 * 0 where t == ignore_index; reduction "none" keeps [N, d1..dk], "sum" adds
 * up, "mean" divides the sum by the total weight of the counted targets.
 * Targets outside [0, C) (other than ignore_index) are an error.
 */
#ifndef KH_ONNX_KERNELS_LOSS_H
#define KH_ONNX_KERNELS_LOSS_H

#include "onnx/op.h"

typedef enum onnx_loss_reduction {
    ONNX_LOSS_NONE,
    ONNX_LOSS_SUM,
    ONNX_LOSS_MEAN,
} onnx_loss_reduction;

/* Reads `reduction` (KH_EUNSUPPORTED for other values). */
int onnx_loss_reduction_read(const onnx_node *n, onnx_loss_reduction *r,
                             kh_error *err);

/* Checks scores/input [N, C, d...], target [N, d...] (int32/int64) and the
 * optional weight [C]; sets output `out` to the reduced loss shape. */
int onnx_loss_reshape(const onnx_node *n, const onnx_tensor *x,
                      const onnx_tensor *target, const onnx_tensor *weight,
                      onnx_tensor *out, kh_error *err);

/* Computes the loss from log-probabilities logp laid out like x. */
int onnx_loss_compute(const onnx_node *n, const onnx_tensor *x,
                      const float *logp, const onnx_tensor *target,
                      const onnx_tensor *weight, onnx_tensor *out,
                      kh_error *err);

#endif
