/* OneHot(indices, depth, values=[off, on]): a new axis of size depth at
 * `axis` (default -1, the last). Negative indices count from depth; indices
 * outside [-depth, depth) give an all-off row. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static int onehot_depth(const onnx_node *n, onnx_read_when when, int64_t *depth,
                        kh_error *err) {
    double d;
    int rc = onnx_read_scalar_f64(n->inputs[1], "depth", when, &d, err);
    if (rc)
        return rc;
    if (!(d >= 1 && d < 9.2e18))
        return kh_error_set(err, KH_ERANGE, "depth %g must be positive", d);
    *depth = (int64_t)d;
    return KH_OK;
}

static int onehot_axis(const onnx_node *n, const onnx_tensor *idx,
                       int64_t *axis, kh_error *err) {
    return onnx_axis_normalize(onnx_attr_int(n, "axis", -1), idx->rank + 1,
                               "axis", axis, err);
}

static int onehot_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *idx = onnx_node_input(n, 0);
    const onnx_tensor *depth_t = onnx_node_input(n, 1);
    const onnx_tensor *values = onnx_node_input(n, 2);
    if (!idx || !depth_t || !values)
        return kh_error_set(err, KH_EINVAL,
                            "indices, depth and values are "
                            "required");
    if (values->numel != 2)
        return kh_error_set(err, KH_ESHAPE,
                            "values must have 2 elements, "
                            "has %zu",
                            values->numel);
    if (idx->rank + 1 > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ELIMIT, "output rank exceeds %d",
                            ONNX_MAX_RANK);
    int64_t depth, axis;
    int rc = onehot_depth(n, ONNX_AT_PLAN, &depth, err);
    if (rc)
        return rc;
    if ((rc = onehot_axis(n, idx, &axis, err)))
        return rc;
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0, j = 0; i <= idx->rank; i++)
        dims[i] = i == axis ? depth : idx->dims[j++];
    return onnx_tensor_reshape(n->outputs[0], values->dtype, idx->rank + 1,
                               dims, err);
}

static int onehot_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *idx = n->inputs[0], *values = n->inputs[2];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int64_t depth, axis;
    int rc = onehot_depth(n, ONNX_AT_RUN, &depth, err);
    if (rc || (rc = onehot_axis(n, idx, &axis, err)))
        return rc;
    const size_t esize = onnx_dtype_size(values->dtype);
    const unsigned char *off = values->data, *on = off + esize;
    onnx_fill(y->data, off, esize, y->numel);
    const size_t inner = onnx_dims_product(idx->dims, (int)axis, idx->rank);
    unsigned char *out = y->data;
    for (size_t i = 0; i < idx->numel; i++) {
        double v = onnx_tensor_get_f64(idx, i);
        if (v != v)
            continue;
        int64_t k = (int64_t)trunc(fmax(fmin(v, 9e18), -9e18));
        if (k < 0)
            k += depth;
        if (k < 0 || k >= depth)
            continue;
        size_t o = i / inner, r = i % inner;
        memcpy(out + ((o * (size_t)depth + (size_t)k) * inner + r) * esize, on,
               esize);
    }
    return KH_OK;
}

const onnx_operator onnx_op_OneHot = {
    .op_type = "OneHot",
    .min_opset = 9,
    .reshape = onehot_reshape,
    .run = onehot_run,
};
