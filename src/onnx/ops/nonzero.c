/* NonZero: indices of the non-zero elements, shape [rank, count]. The count
 * depends on the values: known at planning for constant inputs, otherwise
 * the engine plans this node at run time (KH_EDYNAMIC). */
#include <string.h>

#include "onnx/op.h"

static size_t count_nonzero(const onnx_tensor *x) {
    const size_t esize = onnx_dtype_size(x->dtype);
    size_t count = 0;
    if (x->dtype == ONNX_FLOAT) {
        const float *p = x->data;
        for (size_t i = 0; i < x->numel; i++)
            count += p[i] != 0;
        return count;
    }
    const unsigned char *p = x->data;
    static const unsigned char zero[8];
    for (size_t i = 0; i < x->numel; i++)
        count += memcmp(p + i * esize, zero, esize) != 0;
    return count;
}

static bool is_nonzero(const onnx_tensor *x, size_t i, size_t esize) {
    static const unsigned char zero[8];
    if (x->dtype == ONNX_FLOAT)
        return ((const float *)x->data)[i] != 0;
    return memcmp((const unsigned char *)x->data + i * esize, zero, esize) != 0;
}

static int nonzero_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    size_t esize = onnx_dtype_size(x->dtype);
    if (esize == 0 || esize > 8)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    if (x->numel && !onnx_tensor_value_known(x))
        return kh_error_set(err, KH_EDYNAMIC,
                            "output size depends on the "
                            "input values");
    int64_t dims[2] = {x->rank, (int64_t)(x->numel ? count_nonzero(x) : 0)};
    return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 2, dims, err);
}

static int nonzero_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    const size_t esize = onnx_dtype_size(x->dtype);
    const size_t total = (size_t)y->dims[1];
    if (x->numel && count_nonzero(x) != total)
        return kh_error_set(err, KH_ESTATE, "input changed since planning");
    int64_t *out = y->data;
    int64_t idx[ONNX_MAX_RANK] = {0};
    size_t k = 0;
    for (size_t i = 0; i < x->numel; i++) {
        if (is_nonzero(x, i, esize)) {
            for (int d = 0; d < x->rank; d++)
                out[(size_t)d * total + k] = idx[d];
            k++;
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_NonZero = {
    .op_type = "NonZero",
    .min_opset = 9,
    .reshape = nonzero_reshape,
    .run = nonzero_run,
};
