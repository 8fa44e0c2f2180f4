/* optimize.h - graph rewrites run once after the nodes are bound.
 *
 * Fusion: a Conv whose only consumer is an Add (of a tensor computed
 * earlier) and/or an activation (Relu, LeakyRelu, Clip with constant bounds)
 * absorbs them: the Conv then writes the last fused node's output, the Add's
 * other operands become extra Conv inputs ("residuals", from input 3 on) and
 * the activation becomes attributes of the Conv. The fused nodes stay in the
 * node list as no-ops without inputs or outputs (indices do not move).
 *
 *   Conv(x, w, b) -> Add(., r) -> Relu      becomes      Conv(x, w, b, r)
 *                                                        khappy.activation="Relu"
 *
 * The fused Conv computes activation(conv + bias + r0 + r1 + r2) while the
 * values are in registers; a residual that would broadcast is handled by the
 * Conv itself (slower, still correct), so fusing never needs shapes.
 *
 * A 2x2, stride-2 MaxPool reading a Conv without residuals is folded in too:
 * the Conv computes two rows at a time and pools them on the spot, so the
 * full-size convolution output (the largest tensor of the detector) is never
 * written. Add chains the Convs cannot take (their operands have other
 * readers) and an activation after them become one FusedSum node.
 *
 * An input normalisation (Sub, Div, Mul, Add of per-channel constants, at
 * most two) before a Conv without padding is folded into the Conv's weights
 * and bias (new constant tensors; the originals are untouched).
 */
#ifndef KH_ONNX_OPTIMIZE_H
#define KH_ONNX_OPTIMIZE_H

#include "common/error.h"
#include "onnx/kernels/epilogue.h"
#include "onnx/onnx.h"
#include "onnx/op.h"

/* Attributes the fusion adds to a Conv (names outside ONNX's). */
#define ONNX_FUSED_ACTIVATION "khappy.activation" /* "Relu", "LeakyRelu", "Clip" */
#define ONNX_FUSED_ALPHA "khappy.alpha"           /* LeakyRelu slope */
#define ONNX_FUSED_MIN "khappy.min"               /* Clip bounds */
#define ONNX_FUSED_MAX "khappy.max"
/* Inputs of a fused Conv from this index on are residuals to add. */
#define ONNX_FUSED_FIRST_RESIDUAL 3
/* A 2x2, stride-2 MaxPool after the activation: its attributes, copied to
 * the Conv with this prefix (kernel_shape, strides, pads, auto_pad, ...). */
#define ONNX_FUSED_POOL_PREFIX "khappy.pool."

/* Reads the fused activation of n into ep (activation, alpha, lo, hi);
 * KERNEL_ACT_NONE when n has none. KH_EINVAL for a malformed one. */
int onnx_fused_activation_read(const onnx_node *n, kernel_epilogue *ep,
                               kh_error *err);

/* Runs the fusion pass on a model whose nodes are sorted and bound (after
 * engine_bind_nodes). Returns KH_OK or KH_ENOMEM; a model it cannot improve
 * is left as it was. Set KHAPPY_ONNX_NO_FUSION=1 in the environment to skip
 * it (to compare speed or to debug). */
int onnx_optimize(onnx_model *m, kh_error *err);

#endif
