/* Transpose: perm defaults to reversing the axes. */
#include <inttypes.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static int read_perm(const onnx_node *n, const onnx_tensor *x, int64_t *perm,
                     kh_error *err) {
    const int64_t *p;
    size_t count = onnx_attr_ints(n, "perm", &p);
    if (count == 0) {
        for (int i = 0; i < x->rank; i++)
            perm[i] = x->rank - 1 - i;
        return KH_OK;
    }
    if ((int)count != x->rank || count > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ESHAPE,
                            "perm has %zu entries, input has rank %d", count,
                            x->rank);
    bool seen[ONNX_MAX_RANK] = {false};
    for (size_t i = 0; i < count; i++) {
        int64_t a;
        int rc = onnx_axis_normalize(p[i], x->rank, "perm entry", &a, err);
        if (rc)
            return rc;
        if (seen[a])
            return kh_error_set(err, KH_EINVAL, "perm repeats axis %" PRId64,
                                a);
        seen[a] = true;
        perm[i] = a;
    }
    return KH_OK;
}

static int transpose_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t perm[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    int rc = read_perm(n, x, perm, err);
    if (rc)
        return rc;
    for (int i = 0; i < x->rank; i++)
        dims[i] = x->dims[perm[i]];
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, dims, err);
}

static int transpose_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    int64_t perm[ONNX_MAX_RANK];
    int rc = read_perm(n, x, perm, err);
    if (rc)
        return rc;
    onnx_transpose(ex, n->outputs[0]->data, x->data, onnx_dtype_size(x->dtype),
                   x->rank, x->dims, perm);
    return KH_OK;
}

const onnx_operator onnx_op_Transpose = {
    .op_type = "Transpose",
    .min_opset = 1,
    .reshape = transpose_reshape,
    .run = transpose_run,
};
