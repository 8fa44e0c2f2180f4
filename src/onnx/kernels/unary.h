/* unary.h - one implementation of every unary elementwise operator
 * (math, activations, IsNaN/IsInf, Not). An operator file is one line:
 *     ONNX_UNARY_OPERATOR(Relu, 6, ONNX_UNARY_RELU)
 * The kernel switches on the kind once per chunk of elements, never per
 * element; attributes (alpha, beta, ...) are read once per run.
 */
#ifndef KH_ONNX_KERNELS_UNARY_H
#define KH_ONNX_KERNELS_UNARY_H

#include "onnx/op.h"

typedef enum onnx_unary_kind {
    /* float and signed integers */
    ONNX_UNARY_ABS,
    ONNX_UNARY_NEG,
    ONNX_UNARY_SIGN,
    ONNX_UNARY_RELU,
    /* float only */
    ONNX_UNARY_SQRT,
    ONNX_UNARY_EXP,
    ONNX_UNARY_LOG,
    ONNX_UNARY_RECIPROCAL,
    ONNX_UNARY_FLOOR,
    ONNX_UNARY_CEIL,
    ONNX_UNARY_ROUND,
    ONNX_UNARY_LEAKY_RELU,
    ONNX_UNARY_ELU,
    ONNX_UNARY_SELU,
    ONNX_UNARY_CELU,
    ONNX_UNARY_SIGMOID,
    ONNX_UNARY_TANH,
    ONNX_UNARY_HARD_SIGMOID,
    ONNX_UNARY_HARD_SWISH,
    ONNX_UNARY_SOFTPLUS,
    ONNX_UNARY_SOFTSIGN,
    ONNX_UNARY_ERF,
    ONNX_UNARY_THRESHOLDED_RELU,
    ONNX_UNARY_MISH,
    ONNX_UNARY_GELU,
    ONNX_UNARY_SHRINK,
    ONNX_UNARY_SIN,
    ONNX_UNARY_COS,
    ONNX_UNARY_TAN,
    ONNX_UNARY_ASIN,
    ONNX_UNARY_ACOS,
    ONNX_UNARY_ATAN,
    ONNX_UNARY_SINH,
    ONNX_UNARY_COSH,
    ONNX_UNARY_ASINH,
    ONNX_UNARY_ACOSH,
    ONNX_UNARY_ATANH,
    /* float in, bool out */
    ONNX_UNARY_ISNAN,
    ONNX_UNARY_ISINF,
    /* bool */
    ONNX_UNARY_NOT,
    ONNX_UNARY_COUNT
} onnx_unary_kind;

/* y[i] = x[i] clamped to [lo, hi] for i < n (Clip): the lower bound
 * first, so lo > hi gives hi everywhere; NaN stays NaN. Vectorised. */
void onnx_clip_floats(float *y, const float *x, size_t n, float lo, float hi);

int onnx_unary_reshape(onnx_node *n, onnx_unary_kind kind, kh_error *err);
int onnx_unary_run(onnx_node *n, const onnx_exec *ex, onnx_unary_kind kind,
                   kh_error *err);

#define ONNX_UNARY_OPERATOR(Name, min, kind)                                   \
    static int Name##_reshape(onnx_node *n, kh_error *err) {                   \
        return onnx_unary_reshape(n, kind, err);                               \
    }                                                                          \
    static int Name##_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {  \
        return onnx_unary_run(n, ex, kind, err);                               \
    }                                                                          \
    const onnx_operator onnx_op_##Name = {                                     \
        .op_type = #Name,                                                      \
        .min_opset = min,                                                      \
        .reshape = Name##_reshape,                                             \
        .run = Name##_run,                                                     \
    };

#endif
