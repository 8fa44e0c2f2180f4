/* Min: variadic, numpy broadcasting across all inputs; shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

static int min_reshape(onnx_node *n, kh_error *err) {
    return onnx_variadic_reshape(n, ONNX_BINARY_MIN, err);
}

static int min_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_variadic_run(n, ex, ONNX_BINARY_MIN, false, err);
}

const onnx_operator onnx_op_Min = {
    .op_type = "Min",
    .min_opset = 1,
    .reshape = min_reshape,
    .run = min_run,
};
