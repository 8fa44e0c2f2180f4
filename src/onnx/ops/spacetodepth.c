/* SpaceToDepth: [N, C, H, W] -> [N, C*b^2, H/b, W/b], channel order
 * (row, col, c) as in DepthToSpace's DCR mode. One 6-D strided copy. */
#include <inttypes.h>

#include "onnx/kernels/copy.h"

static int spacetodepth_check(const onnx_node *n, const onnx_tensor *x,
                              int64_t *b, kh_error *err) {
    *b = onnx_attr_int(n, "blocksize", 0);
    if (*b <= 0 || *b > 65536)
        return kh_error_set(err, KH_EINVAL,
                            "blocksize %" PRId64 " must be positive", *b);
    if (x->rank != 4)
        return kh_error_set(err, KH_ESHAPE, "input must be 4-D, got rank %d",
                            x->rank);
    if (x->dims[2] % *b || x->dims[3] % *b)
        return kh_error_set(err, KH_ESHAPE,
                            "height %" PRId64 " and width %" PRId64
                            " must be multiples of blocksize %" PRId64,
                            x->dims[2], x->dims[3], *b);
    return KH_OK;
}

static int spacetodepth_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t b;
    int rc = spacetodepth_check(n, x, &b, err);
    if (rc)
        return rc;
    int64_t dims[4] = {x->dims[0], x->dims[1] * b * b, x->dims[2] / b,
                       x->dims[3] / b};
    return onnx_tensor_reshape(n->outputs[0], x->dtype, 4, dims, err);
}

static int spacetodepth_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    if (x->numel == 0)
        return KH_OK;
    int64_t b;
    int rc = spacetodepth_check(n, x, &b, err);
    if (rc)
        return rc;
    const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2],
                  W = x->dims[3];
    /* Output viewed as [N, b (row), b (col), C, H/b, W/b]. */
    int64_t dims[6] = {N, b, b, C, H / b, W / b};
    int64_t strides[6] = {C * H * W, W, 1, H * W, b * W, b};
    onnx_strided_copy(ex, n->outputs[0]->data, x->data,
                      onnx_dtype_size(x->dtype), 6, dims, strides);
    return KH_OK;
}

const onnx_operator onnx_op_SpaceToDepth = {
    .op_type = "SpaceToDepth",
    .min_opset = 1,
    .reshape = spacetodepth_reshape,
    .run = spacetodepth_run,
};
