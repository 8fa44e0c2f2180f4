/* Unsqueeze: axes (attribute before opset 13, input from 13) index the
 * output, so they are normalised against rank + len(axes). */
#include <string.h>

#include "onnx/kernels/axes.h"

static int unsqueeze_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t axes[ONNX_MAX_RANK];
    size_t count;
    bool present, mask[ONNX_MAX_RANK];
    int rc = onnx_ints_from_input_or_attr(n, 1, "axes", ONNX_AT_PLAN, axes,
                                          ONNX_MAX_RANK, &count, &present, err);
    if (rc == KH_ELIMIT ||
        (rc == KH_OK && x->rank + (int)count > ONNX_MAX_RANK))
        return kh_error_set(err, KH_ELIMIT, "output rank exceeds %d",
                            ONNX_MAX_RANK);
    if (rc)
        return rc;
    if (!present || count == 0)
        return kh_error_set(err, KH_EINVAL, "axes are required");
    int rank = x->rank + (int)count;
    rc = onnx_axes_normalize(axes, count, rank, mask, err);
    if (rc)
        return rc;
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0, j = 0; i < rank; i++)
        dims[i] = mask[i] ? 1 : x->dims[j++];
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int unsqueeze_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    if (x->numel && n->outputs[0]->data != x->data)
        memcpy(n->outputs[0]->data, x->data,
               x->numel * onnx_dtype_size(x->dtype));
    return KH_OK;
}

const onnx_operator onnx_op_Unsqueeze = {
    .op_type = "Unsqueeze",
    .min_opset = 1,
    .reshape = unsqueeze_reshape,
    .run = unsqueeze_run,
};
