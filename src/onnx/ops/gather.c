/* Gather along axis with int32/int64 indices of any shape; negative indices
 * count from the end, out-of-range ones are an error (never a read out of
 * bounds). */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int gather_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *idx = onnx_node_input(n, 1);
    if (!x || !idx)
        return kh_error_set(err, KH_EINVAL, "data and indices are required");
    if (idx->dtype != ONNX_INT64 && idx->dtype != ONNX_INT32)
        return kh_error_set(err, KH_ETYPE,
                            "indices must be int32 or int64, "
                            "got %s",
                            onnx_dtype_name(idx->dtype));
    int64_t axis;
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", 0), x->rank, "axis",
                                 &axis, err);
    if (rc)
        return rc;
    int rank = x->rank - 1 + idx->rank;
    if (rank > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ELIMIT, "output rank %d exceeds %d", rank,
                            ONNX_MAX_RANK);
    int64_t dims[ONNX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < axis; i++)
        dims[r++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        dims[r++] = idx->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++)
        dims[r++] = x->dims[i];
    if (x->dims[axis] == 0 && idx->numel > 0)
        return kh_error_set(err, KH_ERANGE, "indices into an empty axis");
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int gather_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *idx = n->inputs[1];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int64_t axis = onnx_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    const int64_t dim = x->dims[axis];
    const size_t esize = onnx_dtype_size(x->dtype);
    const size_t outer = onnx_dims_product(x->dims, 0, (int)axis);
    const size_t block =
        onnx_dims_product(x->dims, (int)axis + 1, x->rank) * esize;
    const size_t count = idx->numel;
    /* Check every index before writing anything. */
    for (size_t k = 0; k < count; k++) {
        int64_t j = onnx_tensor_get_i64(idx, k);
        if (j < -dim || j >= dim)
            return kh_error_set(err, KH_ERANGE,
                                "index %" PRId64 " (at %zu) is out of range "
                                "for axis %" PRId64 " of size %" PRId64,
                                j, k, axis, dim);
    }
    const unsigned char *src = x->data;
    unsigned char *dst = y->data;
    for (size_t o = 0; o < outer; o++) {
        const unsigned char *plane = src + o * (size_t)dim * block;
        for (size_t k = 0; k < count; k++) {
            int64_t j = onnx_tensor_get_i64(idx, k);
            if (j < 0)
                j += dim;
            memcpy(dst, plane + (size_t)j * block, block);
            dst += block;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_Gather = {
    .op_type = "Gather",
    .min_opset = 1,
    .reshape = gather_reshape,
    .run = gather_run,
};
