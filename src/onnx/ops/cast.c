/* Cast to the type in attribute `to`, between float, int32, int64, uint8,
 * int8 and bool; other targets are refused at load. */
#include "onnx/kernels/cast.h"

static int cast_init(onnx_node *n, kh_error *err) {
    const onnx_attr *to = onnx_attr_find(n, "to");
    if (!to || to->type != ONNX_ATTR_INT)
        return kh_error_set(err, KH_EINVAL, "attribute 'to' is required");
    if (!onnx_cast_supports((onnx_dtype)to->i))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast to %s not supported",
                            onnx_dtype_name((onnx_dtype)to->i));
    return KH_OK;
}

static int cast_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (!onnx_cast_supports(x->dtype))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast from %s not supported",
                            onnx_dtype_name(x->dtype));
    onnx_dtype to = (onnx_dtype)onnx_attr_int(n, "to", ONNX_UNDEFINED);
    return onnx_tensor_reshape(n->outputs[0], to, x->rank, x->dims, err);
}

static int cast_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    return onnx_cast(ex, y->data, y->dtype, x->data, x->dtype, x->numel, err);
}

const onnx_operator onnx_op_Cast = {
    .op_type = "Cast",
    .min_opset = 6,
    .init = cast_init,
    .reshape = cast_reshape,
    .run = cast_run,
};
