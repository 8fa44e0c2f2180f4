/* Trilu (opset 14): keeps the upper (upper=1, j - i >= k) or lower
 * (j - i <= k) triangle of the last two axes, zeroes the rest. k is an
 * optional scalar input. */
#include <string.h>

#include "onnx/kernels/axes.h"

static int trilu_k(const onnx_node *n, int64_t *k, kh_error *err) {
    const onnx_tensor *t = onnx_node_input(n, 1);
    *k = 0;
    if (!t)
        return KH_OK;
    if (t->dtype != ONNX_INT64)
        return kh_error_set(err, KH_ETYPE, "k must be int64, got %s",
                            onnx_dtype_name(t->dtype));
    return onnx_read_scalar_i64(t, "k", ONNX_AT_RUN, k, err);
}

static int trilu_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->rank < 2)
        return kh_error_set(err, KH_ESHAPE,
                            "input must have rank >= 2, got "
                            "%d",
                            x->rank);
    const onnx_tensor *k = onnx_node_input(n, 1);
    if (k && k->numel != 1)
        return kh_error_set(err, KH_ESHAPE, "k must be a scalar");
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

static int trilu_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (x->numel == 0)
        return KH_OK;
    int64_t k;
    int rc = trilu_k(n, &k, err);
    if (rc)
        return rc;
    const bool upper = onnx_attr_int(n, "upper", 1) != 0;
    const int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    const size_t esize = onnx_dtype_size(x->dtype);
    const size_t mats = x->numel / (size_t)(rows * cols);
    const size_t row_bytes = (size_t)cols * esize;
    const unsigned char *src = x->data;
    unsigned char *dst = y->data;
    /* Clamp k into a range where i + k cannot overflow. */
    if (k > cols)
        k = cols + 1;
    if (k < -rows)
        k = -rows - 1;
    for (size_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < rows; i++) {
            /* Kept columns: [i + k, cols) when upper, [0, i + k] when lower. */
            int64_t lo = upper ? i + k : 0;
            int64_t hi = upper ? cols : i + k + 1;
            lo = lo < 0 ? 0 : lo > cols ? cols : lo;
            hi = hi < 0 ? 0 : hi > cols ? cols : hi;
            if (hi < lo)
                hi = lo;
            memset(dst, 0, row_bytes);
            memcpy(dst + (size_t)lo * esize, src + (size_t)lo * esize,
                   (size_t)(hi - lo) * esize);
            src += row_bytes;
            dst += row_bytes;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_Trilu = {
    .op_type = "Trilu",
    .min_opset = 14,
    .reshape = trilu_reshape,
    .run = trilu_run,
};
