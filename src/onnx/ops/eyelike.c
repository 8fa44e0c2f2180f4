/* EyeLike: a 2-D tensor shaped like the input, ones on diagonal k, of type
 * `dtype` (default: the input's). */
#include <string.h>

#include "onnx/kernels/cast.h"

static onnx_dtype eyelike_dtype(const onnx_node *n, const onnx_tensor *x) {
    return (onnx_dtype)onnx_attr_int(n, "dtype", x->dtype);
}

static int eyelike_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->rank != 2)
        return kh_error_set(err, KH_ESHAPE, "input must be 2-D, got rank %d",
                            x->rank);
    onnx_dtype t = eyelike_dtype(n, x);
    if (!onnx_cast_supports(t))
        return kh_error_set(err, KH_EUNSUPPORTED, "%s output not supported",
                            onnx_dtype_name(t));
    return onnx_tensor_reshape(n->outputs[0], t, 2, x->dims, err);
}

static int eyelike_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    onnx_tensor *y = n->outputs[0];
    const size_t esize = onnx_dtype_size(y->dtype);
    if (y->numel == 0)
        return KH_OK;
    memset(y->data, 0, y->numel * esize);
    unsigned char one[8];
    const float f = 1.0f;
    int rc = onnx_cast(ex, one, y->dtype, &f, ONNX_FLOAT, 1, err);
    if (rc)
        return rc;
    const int64_t rows = y->dims[0], cols = y->dims[1];
    const int64_t k = onnx_attr_int(n, "k", 0);
    for (int64_t i = 0; i < rows; i++) {
        /* Compare as i + k < cols without overflowing for huge k. */
        if (k < -i || k >= cols - i)
            continue;
        memcpy((unsigned char *)y->data + (size_t)(i * cols + i + k) * esize,
               one, esize);
    }
    return KH_OK;
}

const onnx_operator onnx_op_EyeLike = {
    .op_type = "EyeLike",
    .min_opset = 9,
    .reshape = eyelike_reshape,
    .run = eyelike_run,
};
