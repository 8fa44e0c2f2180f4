/* Identity (opset 1+), also the shape of every trivial copy op. */
#include <string.h>

#include "onnx/op.h"

static int identity_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

static int identity_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (x->numel)
        memcpy(y->data, x->data, x->numel * onnx_dtype_size(x->dtype));
    return KH_OK;
}

const onnx_operator onnx_op_Identity = {
    .op_type = "Identity",
    .min_opset = 1,
    .reshape = identity_reshape,
    .run = identity_run,
};
