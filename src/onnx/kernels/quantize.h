/* quantize.h - what QuantizeLinear, DequantizeLinear and
 * DynamicQuantizeLinear share: a scale and zero point that are scalars or
 * 1-D along `axis` (opset 13, default 1), and rounding half to even with
 * saturation to uint8/int8.
 */
#ifndef KH_ONNX_KERNELS_QUANTIZE_H
#define KH_ONNX_KERNELS_QUANTIZE_H

#include <stddef.h>

#include "onnx/op.h"

/* Elements of x seen as [outer, channels, inner] for per-axis parameters
 * (channels 1, inner = numel for scalars). Checks scale (float) and the
 * optional zero point (same element count; type zp_types, e.g. uint8/int8).
 */
typedef struct onnx_quant_layout {
    size_t outer, channels, inner;
} onnx_quant_layout;

int onnx_quant_layout_make(const onnx_node *n, const onnx_tensor *x,
                           const onnx_tensor *scale, const onnx_tensor *zp,
                           onnx_quant_layout *l, kh_error *err);

/* round(v) half to even, then clamped to [lo, hi]; NaN gives 0. */
int64_t onnx_quant_round_saturate(float v, int64_t lo, int64_t hi);

#endif
