/* CastLike (opset 15): Cast to the element type of the second input. */
#include "onnx/kernels/cast.h"

static int castlike_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *like = onnx_node_input(n, 1);
    if (!x || !like)
        return kh_error_set(err, KH_EINVAL, "two inputs are required");
    if (!onnx_cast_supports(x->dtype))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast from %s not supported",
                            onnx_dtype_name(x->dtype));
    if (!onnx_cast_supports(like->dtype))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast to %s not supported",
                            onnx_dtype_name(like->dtype));
    return onnx_tensor_reshape(n->outputs[0], like->dtype, x->rank, x->dims,
                               err);
}

static int castlike_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    return onnx_cast(ex, y->data, y->dtype, x->data, x->dtype, x->numel, err);
}

const onnx_operator onnx_op_CastLike = {
    .op_type = "CastLike",
    .min_opset = 15,
    .reshape = castlike_reshape,
    .run = castlike_run,
};
