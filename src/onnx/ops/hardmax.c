/* Hardmax: 1 at the first maximum along the axis, 0 elsewhere. From opset
 * 13 the axis (default -1) is a single axis; before, the input is seen as
 * 2-D [d0..d(axis-1), d(axis)..] (default axis 1) and rows are reduced. */
#include <string.h>

#include "onnx/kernels/axes.h"

static int hardmax_layout(const onnx_node *n, const onnx_tensor *x,
                          size_t *outer, size_t *len, size_t *inner,
                          kh_error *err) {
    bool legacy = n->opset > 0 && n->opset < 13;
    int64_t axis;
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", legacy ? 1 : -1),
                                 x->rank, "axis", &axis, err);
    if (rc)
        return rc;
    *outer = onnx_dims_product(x->dims, 0, (int)axis);
    if (legacy) {
        *len = onnx_dims_product(x->dims, (int)axis, x->rank);
        *inner = 1;
    } else {
        *len = (size_t)x->dims[axis];
        *inner = onnx_dims_product(x->dims, (int)axis + 1, x->rank);
    }
    return KH_OK;
}

static int hardmax_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    size_t outer, len, inner;
    int rc = hardmax_layout(n, x, &outer, &len, &inner, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

static int hardmax_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (x->numel == 0)
        return KH_OK;
    size_t outer, len, inner;
    int rc = hardmax_layout(n, x, &outer, &len, &inner, err);
    if (rc)
        return rc;
    const float *src = x->data;
    float *dst = y->data;
    memset(dst, 0, x->numel * sizeof *dst);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *line = src + o * len * inner + i;
            size_t best = 0;
            for (size_t k = 1; k < len; k++)
                if (line[k * inner] > line[best * inner])
                    best = k;
            dst[(o * len + best) * inner + i] = 1.0f;
        }
    return KH_OK;
}

const onnx_operator onnx_op_Hardmax = {
    .op_type = "Hardmax",
    .min_opset = 1,
    .reshape = hardmax_reshape,
    .run = hardmax_run,
};
