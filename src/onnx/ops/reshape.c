/* Reshape (opset 5+; `shape` attribute before that): 0 copies the input
 * dimension unless allowzero=1 (opset 14), one -1 is inferred. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"

static int reshape_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t shape[ONNX_MAX_RANK];
    size_t count;
    bool present;
    int rc = onnx_ints_from_input_or_attr(n, 1, "shape", ONNX_AT_PLAN, shape,
                                          ONNX_MAX_RANK, &count, &present, err);
    if (rc)
        return rc;
    if (!present)
        return kh_error_set(err, KH_EINVAL, "the shape input is required");
    bool allowzero = onnx_attr_int(n, "allowzero", 0) != 0;
    int64_t dims[ONNX_MAX_RANK];
    int infer = -1;
    uint64_t known = 1;
    bool has_zero = false;
    char xs[160];
    for (size_t i = 0; i < count; i++) {
        int64_t d = shape[i];
        if (d == 0 && !allowzero) {
            if ((int)i >= x->rank)
                return kh_error_set(err, KH_ESHAPE,
                                    "shape[%zu] is 0 but input %s has no "
                                    "dimension %zu",
                                    i, onnx_shape_str(x, xs, sizeof xs), i);
            d = x->dims[i];
        } else if (d == -1) {
            if (infer >= 0)
                return kh_error_set(err, KH_ESHAPE,
                                    "shape has more than one -1");
            infer = (int)i;
            dims[i] = -1;
            continue;
        } else if (d < -1) {
            return kh_error_set(err, KH_ESHAPE,
                                "shape[%zu] is %" PRId64 " (must be >= -1)", i,
                                d);
        }
        dims[i] = d;
        has_zero |= d == 0;
        if (__builtin_mul_overflow(known, (uint64_t)d, &known))
            return kh_error_set(err, KH_ELIMIT,
                                "shape element count "
                                "overflows");
    }
    if (infer >= 0) {
        if (has_zero)
            return kh_error_set(err, KH_ESHAPE,
                                "cannot infer -1 next to a "
                                "zero dimension (allowzero=1)");
        if (x->numel % known != 0)
            return kh_error_set(err, KH_ESHAPE,
                                "cannot reshape %s (%zu elements) with a -1 "
                                "beside dimensions of product %" PRIu64,
                                onnx_shape_str(x, xs, sizeof xs), x->numel,
                                known);
        dims[infer] = (int64_t)(x->numel / known);
        known *= (uint64_t)dims[infer];
    }
    if (known != x->numel) {
        onnx_tensor want = {.rank = (int)count};
        memcpy(want.dims, dims, count * sizeof *dims);
        char ws[160];
        return kh_error_set(err, KH_ESHAPE,
                            "cannot reshape %s (%zu elements) to %s "
                            "(%" PRIu64 " elements)",
                            onnx_shape_str(x, xs, sizeof xs), x->numel,
                            onnx_shape_str(&want, ws, sizeof ws), known);
    }
    return onnx_tensor_reshape(n->outputs[0], x->dtype, (int)count, dims, err);
}

static int reshape_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (x->numel && y->data != x->data)
        memcpy(y->data, x->data, x->numel * onnx_dtype_size(x->dtype));
    return KH_OK;
}

const onnx_operator onnx_op_Reshape = {
    .op_type = "Reshape",
    .min_opset = 1,
    .reshape = reshape_reshape,
    .run = reshape_run,
};
