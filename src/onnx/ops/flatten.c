/* Flatten: [d0..d(axis-1)] x [d(axis)..] as a 2-D tensor; axis ranges over
 * [-rank, rank] (negative from opset 11). */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int flatten_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t axis = onnx_attr_int(n, "axis", 1);
    if (axis < -(int64_t)x->rank || axis > x->rank)
        return kh_error_set(err, KH_ERANGE,
                            "axis %" PRId64 " is out of range for rank %d "
                            "(expected %d..%d)",
                            axis, x->rank, -x->rank, x->rank);
    if (axis < 0)
        axis += x->rank;
    int64_t dims[2] = {(int64_t)onnx_dims_product(x->dims, 0, (int)axis),
                       (int64_t)onnx_dims_product(x->dims, (int)axis, x->rank)};
    return onnx_tensor_reshape(n->outputs[0], x->dtype, 2, dims, err);
}

static int flatten_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    if (x->numel && n->outputs[0]->data != x->data)
        memcpy(n->outputs[0]->data, x->data,
               x->numel * onnx_dtype_size(x->dtype));
    return KH_OK;
}

const onnx_operator onnx_op_Flatten = {
    .op_type = "Flatten",
    .min_opset = 1,
    .reshape = flatten_reshape,
    .run = flatten_run,
};
