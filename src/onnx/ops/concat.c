/* Concat: inputs agree on every dimension but axis (negative from opset
 * 11); empty inputs contribute nothing. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int concat_reshape(onnx_node *n, kh_error *err) {
    if (n->n_inputs == 0 || !n->inputs[0])
        return kh_error_set(err, KH_EINVAL, "at least one input is required");
    const onnx_tensor *first = n->inputs[0];
    const onnx_attr *a = onnx_attr_find(n, "axis");
    if (!a || a->type != ONNX_ATTR_INT)
        return kh_error_set(err, KH_EINVAL, "attribute 'axis' is required");
    int64_t axis;
    int rc = onnx_axis_normalize(a->i, first->rank, "axis", &axis, err);
    if (rc)
        return rc;
    int64_t dims[ONNX_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (size_t i = 0; i < n->n_inputs; i++) {
        const onnx_tensor *t = n->inputs[i];
        if (!t)
            return kh_error_set(err, KH_EINVAL, "input %zu is missing", i);
        if (t->dtype != first->dtype)
            return kh_error_set(err, KH_ETYPE, "input %zu is %s, input 0 is %s",
                                i, onnx_dtype_name(t->dtype),
                                onnx_dtype_name(first->dtype));
        bool same = t->rank == first->rank;
        for (int d = 0; same && d < t->rank; d++)
            same = d == axis || t->dims[d] == first->dims[d];
        if (!same) {
            char s0[160], si[160];
            return kh_error_set(err, KH_ESHAPE,
                                "input %zu %s does not match input 0 %s "
                                "outside axis %" PRId64,
                                i, onnx_shape_str(t, si, sizeof si),
                                onnx_shape_str(first, s0, sizeof s0), axis);
        }
        dims[axis] += t->dims[axis];
    }
    return onnx_tensor_reshape(n->outputs[0], first->dtype, first->rank, dims,
                               err);
}

static int concat_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int64_t axis = onnx_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += y->rank;
    const size_t esize = onnx_dtype_size(y->dtype);
    const size_t outer = onnx_dims_product(y->dims, 0, (int)axis);
    const size_t inner =
        onnx_dims_product(y->dims, (int)axis + 1, y->rank) * esize;
    unsigned char *dst = y->data;
    for (size_t o = 0; o < outer; o++) {
        for (size_t i = 0; i < n->n_inputs; i++) {
            const onnx_tensor *t = n->inputs[i];
            size_t block = (size_t)t->dims[axis] * inner;
            if (block == 0)
                continue;
            memcpy(dst, (const unsigned char *)t->data + o * block, block);
            dst += block;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_Concat = {
    .op_type = "Concat",
    .min_opset = 4,
    .reshape = concat_reshape,
    .run = concat_run,
};
