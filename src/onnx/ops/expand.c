/* Expand: broadcast the input with a shape input (either side may hold the
 * 1s). */
#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static int expand_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *shape = onnx_node_input(n, 1);
    if (!x || !shape)
        return kh_error_set(err, KH_EINVAL, "input and shape are required");
    int64_t want[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    size_t count;
    int rc = onnx_read_ints(shape, "shape", ONNX_AT_PLAN, want, ONNX_MAX_RANK,
                            &count, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++)
        if (want[i] < 0)
            return kh_error_set(err, KH_ESHAPE, "shape[%zu] is negative", i);
    int rank;
    rc = onnx_broadcast_dims(x->rank, x->dims, (int)count, want, &rank, dims,
                             err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int expand_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    onnx_tensor *y = n->outputs[0];
    if (y->numel)
        onnx_broadcast_copy(ex, y->data, y->rank, y->dims, n->inputs[0]);
    return KH_OK;
}

const onnx_operator onnx_op_Expand = {
    .op_type = "Expand",
    .min_opset = 8,
    .reshape = expand_reshape,
    .run = expand_run,
};
