/* DepthToSpace: [N, C, H, W] -> [N, C/b^2, H*b, W*b], mode DCR (default,
 * depth-column-row) or CRD. One 6-D strided copy. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/copy.h"

static int depthtospace_check(const onnx_node *n, const onnx_tensor *x,
                              int64_t *b, bool *crd, kh_error *err) {
    *b = onnx_attr_int(n, "blocksize", 0);
    const char *mode = onnx_attr_string(n, "mode", "DCR");
    *crd = strcmp(mode, "CRD") == 0;
    if (!*crd && strcmp(mode, "DCR") != 0)
        return kh_error_set(err, KH_EINVAL, "mode '%s' (expected DCR or CRD)",
                            mode);
    if (*b <= 0 || *b > 65536)
        return kh_error_set(err, KH_EINVAL,
                            "blocksize %" PRId64 " must be positive", *b);
    if (x->rank != 4)
        return kh_error_set(err, KH_ESHAPE, "input must be 4-D, got rank %d",
                            x->rank);
    if (x->dims[1] % (*b * *b) != 0)
        return kh_error_set(err, KH_ESHAPE,
                            "channels %" PRId64
                            " are not a multiple of blocksize^2 = %" PRId64,
                            x->dims[1], *b * *b);
    return KH_OK;
}

static int depthtospace_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t b;
    bool crd;
    int rc = depthtospace_check(n, x, &b, &crd, err);
    if (rc)
        return rc;
    int64_t dims[4] = {x->dims[0], x->dims[1] / (b * b), x->dims[2] * b,
                       x->dims[3] * b};
    return onnx_tensor_reshape(n->outputs[0], x->dtype, 4, dims, err);
}

static int depthtospace_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    if (x->numel == 0)
        return KH_OK;
    int64_t b;
    bool crd;
    int rc = depthtospace_check(n, x, &b, &crd, err);
    if (rc)
        return rc;
    const int64_t N = x->dims[0], C = x->dims[1] / (b * b), H = x->dims[2],
                  W = x->dims[3];
    /* Output viewed as [N, C, H, b (row), W, b (col)]; source strides of
     * each of those axes in the input [N, C*b*b, H, W]. */
    const int64_t hw = H * W;
    int64_t dims[6] = {N, C, H, b, W, b};
    int64_t strides[6];
    strides[0] = C * b * b * hw;
    strides[2] = W;
    strides[4] = 1;
    if (crd) { /* channel = c*b*b + row*b + col */
        strides[1] = b * b * hw;
        strides[3] = b * hw;
        strides[5] = hw;
    } else { /* DCR: channel = row*b*C + col*C + c */
        strides[1] = hw;
        strides[3] = b * C * hw;
        strides[5] = C * hw;
    }
    onnx_strided_copy(ex, n->outputs[0]->data, x->data,
                      onnx_dtype_size(x->dtype), 6, dims, strides);
    return KH_OK;
}

const onnx_operator onnx_op_DepthToSpace = {
    .op_type = "DepthToSpace",
    .min_opset = 1,
    .reshape = depthtospace_reshape,
    .run = depthtospace_run,
};
