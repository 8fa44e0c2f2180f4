/* Max: variadic, numpy broadcasting across all inputs; shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

static int max_reshape(onnx_node *n, kh_error *err) {
    return onnx_variadic_reshape(n, ONNX_BINARY_MAX, err);
}

static int max_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_variadic_run(n, ex, ONNX_BINARY_MAX, false, err);
}

const onnx_operator onnx_op_Max = {
    .op_type = "Max",
    .min_opset = 1,
    .reshape = max_reshape,
    .run = max_run,
};
