/* Compress: keeps the slices along axis (or the elements of the flattened
 * input, without axis) whose condition entry is true; a condition shorter
 * than the axis leaves the rest out. The output size depends on the
 * condition's values (KH_EDYNAMIC until known). */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int compress_layout(const onnx_node *n, const onnx_tensor *x,
                           const onnx_tensor *cond, size_t *outer, size_t *len,
                           size_t *inner, int64_t *axis, kh_error *err) {
    const onnx_attr *a = onnx_attr_find(n, "axis");
    if (a) {
        int rc = onnx_axis_normalize(a->i, x->rank, "axis", axis, err);
        if (rc)
            return rc;
        *outer = onnx_dims_product(x->dims, 0, (int)*axis);
        *len = (size_t)x->dims[*axis];
        *inner = onnx_dims_product(x->dims, (int)*axis + 1, x->rank);
    } else {
        *axis = -1;
        *outer = 1;
        *len = x->numel;
        *inner = 1;
    }
    if (cond->rank != 1 || cond->dtype != ONNX_BOOL)
        return kh_error_set(err, KH_ESHAPE,
                            "condition must be a 1-D bool "
                            "tensor");
    if (cond->numel > *len)
        return kh_error_set(err, KH_ESHAPE,
                            "condition has %zu entries, the "
                            "axis %zu",
                            cond->numel, *len);
    return KH_OK;
}

static size_t count_true(const onnx_tensor *cond) {
    size_t c = 0;
    for (size_t i = 0; i < cond->numel; i++)
        c += ((const uint8_t *)cond->data)[i] != 0;
    return c;
}

static int compress_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *cond = onnx_node_input(n, 1);
    if (!x || !cond)
        return kh_error_set(err, KH_EINVAL,
                            "input and condition are "
                            "required");
    size_t outer, len, inner;
    int64_t axis;
    int rc = compress_layout(n, x, cond, &outer, &len, &inner, &axis, err);
    if (rc)
        return rc;
    if (cond->numel && !onnx_tensor_value_known(cond))
        return kh_error_set(err, KH_EDYNAMIC,
                            "output size depends on the "
                            "condition");
    int64_t kept = (int64_t)(cond->numel ? count_true(cond) : 0);
    if (axis < 0)
        return onnx_tensor_reshape(n->outputs[0], x->dtype, 1, &kept, err);
    int64_t dims[ONNX_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = kept;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, dims, err);
}

static int compress_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *cond = n->inputs[1];
    size_t outer, len, inner;
    int64_t axis;
    int rc = compress_layout(n, x, cond, &outer, &len, &inner, &axis, err);
    if (rc)
        return rc;
    const size_t block = inner * onnx_dtype_size(x->dtype);
    const uint8_t *keep = cond->data;
    unsigned char *dst = n->outputs[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < cond->numel; j++)
            if (keep[j]) {
                memcpy(dst,
                       (const unsigned char *)x->data + (o * len + j) * block,
                       block);
                dst += block;
            }
    return KH_OK;
}

const onnx_operator onnx_op_Compress = {
    .op_type = "Compress",
    .min_opset = 9,
    .reshape = compress_reshape,
    .run = compress_run,
};
