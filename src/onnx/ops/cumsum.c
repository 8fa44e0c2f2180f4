/* CumSum along a scalar axis input; exclusive (sum of the elements before)
 * and reverse (from the end) attributes. float, int32, int64; integer sums
 * wrap. */
#include "onnx/kernels/axes.h"

static int cumsum_axis(const onnx_node *n, const onnx_tensor *x,
                       onnx_read_when when, int64_t *axis, kh_error *err) {
    const onnx_tensor *a = onnx_node_input(n, 1);
    if (!a)
        return kh_error_set(err, KH_EINVAL, "axis input is required");
    if (a->dtype != ONNX_INT32 && a->dtype != ONNX_INT64)
        return kh_error_set(err, KH_ETYPE,
                            "axis must be int32 or int64, got "
                            "%s",
                            onnx_dtype_name(a->dtype));
    int64_t v;
    int rc = onnx_read_scalar_i64(a, "axis", when, &v, err);
    if (rc)
        return rc;
    return onnx_axis_normalize(v, x->rank, "axis", axis, err);
}

static int cumsum_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->dtype != ONNX_FLOAT && x->dtype != ONNX_INT32 &&
        x->dtype != ONNX_INT64)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    if (x->rank == 0)
        return kh_error_set(err, KH_ESHAPE, "input must have rank >= 1");
    int64_t axis;
    int rc = cumsum_axis(n, x, ONNX_AT_PLAN, &axis, err);
    if (rc && rc != KH_EDYNAMIC) /* the axis is only needed by run */
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

/* For each (outer, inner) line along the axis, a running sum. */
#define CUMSUM(T, ADD)                                                         \
    do {                                                                       \
        const T *src = x->data;                                                \
        T *dst = y->data;                                                      \
        for (size_t o = 0; o < outer; o++)                                     \
            for (size_t i = 0; i < inner; i++) {                               \
                T acc = 0;                                                     \
                for (size_t s = 0; s < len; s++) {                             \
                    size_t k = reverse ? len - 1 - s : s;                      \
                    size_t at = (o * len + k) * inner + i;                     \
                    T v = src[at];                                             \
                    if (exclusive) {                                           \
                        dst[at] = acc;                                         \
                        acc = ADD(acc, v);                                     \
                    } else {                                                   \
                        acc = ADD(acc, v);                                     \
                        dst[at] = acc;                                         \
                    }                                                          \
                }                                                              \
            }                                                                  \
    } while (0)
#define ADD_FLOAT(a, b) ((a) + (b))
#define ADD_I32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define ADD_I64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))

static int cumsum_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    int64_t axis;
    int rc = cumsum_axis(n, x, ONNX_AT_RUN, &axis, err);
    if (rc)
        return rc;
    if (x->numel == 0)
        return KH_OK;
    const bool exclusive = onnx_attr_int(n, "exclusive", 0) != 0;
    const bool reverse = onnx_attr_int(n, "reverse", 0) != 0;
    const size_t outer = onnx_dims_product(x->dims, 0, (int)axis);
    const size_t len = (size_t)x->dims[axis];
    const size_t inner = onnx_dims_product(x->dims, (int)axis + 1, x->rank);
    switch (x->dtype) {
    case ONNX_FLOAT: CUMSUM(float, ADD_FLOAT); break;
    case ONNX_INT32: CUMSUM(int32_t, ADD_I32); break;
    case ONNX_INT64: CUMSUM(int64_t, ADD_I64); break;
    default: break;
    }
    return KH_OK;
}

const onnx_operator onnx_op_CumSum = {
    .op_type = "CumSum",
    .min_opset = 11,
    .reshape = cumsum_reshape,
    .run = cumsum_run,
};
