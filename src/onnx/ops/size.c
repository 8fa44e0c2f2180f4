/* Size: the input's element count as an int64 scalar. */
#include "onnx/op.h"

static int size_reshape(onnx_node *n, kh_error *err) {
    if (!onnx_node_input(n, 0))
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 0, NULL, err);
}

static int size_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    *(int64_t *)n->outputs[0]->data = (int64_t)n->inputs[0]->numel;
    return KH_OK;
}

const onnx_operator onnx_op_Size = {
    .op_type = "Size",
    .min_opset = 1,
    .reshape = size_reshape,
    .run = size_run,
};
