/* ArgMax: int64 index of the extreme along axis (keepdims, select_last_index);
 * shared kernel in kernels/reduce.c. */
#include "onnx/kernels/reduce.h"

static int argmax_reshape(onnx_node *n, kh_error *err) {
    return onnx_arg_reshape(n, true, err);
}

static int argmax_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_arg_run(n, ex, true, err);
}

const onnx_operator onnx_op_ArgMax = {
    .op_type = "ArgMax",
    .min_opset = 1,
    .reshape = argmax_reshape,
    .run = argmax_run,
};
