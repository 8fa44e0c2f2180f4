/* Softmax (opset 1+): before opset 13 the input is flattened to 2-D at
 * 'axis' (default 1) and each row normalised; from 13 on one axis (default
 * -1) is normalised. Shared with its sibling in kernels/softmax.c. */
#include "onnx/kernels/softmax.h"
#include "onnx/op.h"

static int softmax_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return softmax_node_run(n, ex, false, err);
}

const onnx_operator onnx_op_Softmax = {
    .op_type = "Softmax",
    .min_opset = 1,
    .reshape = softmax_node_reshape,
    .run = softmax_run,
};
