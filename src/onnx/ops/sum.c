/* Sum: variadic, numpy broadcasting across all inputs; shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

static int sum_reshape(onnx_node *n, kh_error *err) {
    return onnx_variadic_reshape(n, ONNX_BINARY_ADD, err);
}

static int sum_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_variadic_run(n, ex, ONNX_BINARY_ADD, false, err);
}

const onnx_operator onnx_op_Sum = {
    .op_type = "Sum",
    .min_opset = 1,
    .reshape = sum_reshape,
    .run = sum_run,
};
