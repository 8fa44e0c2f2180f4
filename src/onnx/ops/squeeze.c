/* Squeeze: axes attribute before opset 13, optional input from 13; no axes
 * removes every dimension of size 1. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int squeeze_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t axes[ONNX_MAX_RANK];
    size_t count;
    bool present, mask[ONNX_MAX_RANK];
    int rc = onnx_ints_from_input_or_attr(n, 1, "axes", ONNX_AT_PLAN, axes,
                                          ONNX_MAX_RANK, &count, &present, err);
    if (rc)
        return rc;
    if (count == 0) {
        for (int i = 0; i < x->rank; i++)
            mask[i] = x->dims[i] == 1;
    } else {
        rc = onnx_axes_normalize(axes, count, x->rank, mask, err);
        if (rc)
            return rc;
    }
    int64_t dims[ONNX_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i]) {
            dims[rank++] = x->dims[i];
        } else if (x->dims[i] != 1) {
            char s[160];
            return kh_error_set(err, KH_ESHAPE,
                                "cannot squeeze axis %d of %s: size %" PRId64
                                ", expected 1",
                                i, onnx_shape_str(x, s, sizeof s), x->dims[i]);
        }
    }
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int squeeze_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    if (x->numel && n->outputs[0]->data != x->data)
        memcpy(n->outputs[0]->data, x->data,
               x->numel * onnx_dtype_size(x->dtype));
    return KH_OK;
}

const onnx_operator onnx_op_Squeeze = {
    .op_type = "Squeeze",
    .min_opset = 1,
    .reshape = squeeze_reshape,
    .run = squeeze_run,
};
