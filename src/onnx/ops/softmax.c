/* Softmax (opset 1+): before opset 13 the input is flattened to 2-D at
 * 'axis' (default 1) and each row normalised; from 13 on one axis (default
 * -1) is normalised. */
#include "onnx/kernels/softmax.h"
#include "onnx/op.h"

static int softmax_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    bool flatten = n->opset < 13;
    size_t outer, len, inner;
    int rc = softmax_axis_split(x, onnx_attr_int(n, "axis", flatten ? 1 : -1), flatten,
                           &outer, &len, &inner, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

static int softmax_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    bool flatten = n->opset < 13;
    size_t outer, len, inner;
    int rc = softmax_axis_split(x, onnx_attr_int(n, "axis", flatten ? 1 : -1), flatten,
                           &outer, &len, &inner, err);
    if (!rc && x->numel)
        softmax_compute(ex, x->data, n->outputs[0]->data, outer, len, inner, false);
    return rc;
}

const onnx_operator onnx_op_Softmax = {
    .op_type = "Softmax",
    .min_opset = 1,
    .reshape = softmax_reshape,
    .run = softmax_run,
};
