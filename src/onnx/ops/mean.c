/* Mean: variadic, numpy broadcasting across all inputs; shared kernel in
 * kernels/binary.c. */
#include "onnx/kernels/binary.h"

static int mean_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (x && x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    return onnx_variadic_reshape(n, ONNX_BINARY_ADD, err);
}

static int mean_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_variadic_run(n, ex, ONNX_BINARY_ADD, true, err);
}

const onnx_operator onnx_op_Mean = {
    .op_type = "Mean",
    .min_opset = 1,
    .reshape = mean_reshape,
    .run = mean_run,
};
