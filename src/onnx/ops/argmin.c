/* ArgMin: int64 index of the extreme along axis (keepdims, select_last_index);
 * shared kernel in kernels/reduce.c. */
#include "onnx/kernels/reduce.h"

static int argmin_reshape(onnx_node *n, kh_error *err) {
    return onnx_arg_reshape(n, false, err);
}

static int argmin_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_arg_run(n, ex, false, err);
}

const onnx_operator onnx_op_ArgMin = {
    .op_type = "ArgMin",
    .min_opset = 1,
    .reshape = argmin_reshape,
    .run = argmin_run,
};
