/* ConstantOfShape: a tensor of the given shape filled with the one element
 * of attribute `value` (float 0 when absent). */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static int constantofshape_init(onnx_node *n, kh_error *err) {
    const onnx_attr *a = onnx_attr_find(n, "value");
    if (!a)
        return KH_OK;
    if (a->type != ONNX_ATTR_TENSOR || !a->t)
        return kh_error_set(err, KH_EINVAL, "value must be a tensor");
    if (onnx_dtype_size(a->t->dtype) == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s value",
                            onnx_dtype_name(a->t->dtype));
    if (a->t->numel != 1 || !a->t->data)
        return kh_error_set(err, KH_EINVAL,
                            "value must have one element, "
                            "has %zu",
                            a->t->numel);
    return KH_OK;
}

static int constantofshape_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *shape = onnx_node_input(n, 0);
    if (!shape)
        return kh_error_set(err, KH_EINVAL, "shape is required");
    int64_t dims[ONNX_MAX_RANK];
    size_t count;
    int rc = onnx_read_ints(shape, "shape", ONNX_AT_PLAN, dims, ONNX_MAX_RANK,
                            &count, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++)
        if (dims[i] < 0)
            return kh_error_set(err, KH_ESHAPE, "shape[%zu] is %" PRId64, i,
                                dims[i]);
    const onnx_attr *a = onnx_attr_find(n, "value");
    onnx_dtype t = a && a->t ? a->t->dtype : ONNX_FLOAT;
    return onnx_tensor_reshape(n->outputs[0], t, (int)count, dims, err);
}

static int constantofshape_run(onnx_node *n, const onnx_exec *ex,
                               kh_error *err) {
    (void)ex;
    (void)err;
    onnx_tensor *y = n->outputs[0];
    const onnx_attr *a = onnx_attr_find(n, "value");
    static const float zero = 0.0f;
    const void *value = a && a->t ? a->t->data : &zero;
    if (y->numel)
        onnx_fill(y->data, value, onnx_dtype_size(y->dtype), y->numel);
    return KH_OK;
}

const onnx_operator onnx_op_ConstantOfShape = {
    .op_type = "ConstantOfShape",
    .min_opset = 9,
    .init = constantofshape_init,
    .reshape = constantofshape_reshape,
    .run = constantofshape_run,
};
