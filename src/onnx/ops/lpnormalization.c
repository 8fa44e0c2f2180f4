/* LpNormalization (opset 1+): X divided by its L1 or L2 norm (p = 1 or 2,
 * default 2) along 'axis' (default -1). A zero norm leaves zeros. */
#include <math.h>

#include "onnx/kernels/softmax.h"
#include "onnx/op.h"

static int lpnorm_init(onnx_node *n, kh_error *err) {
    int64_t p = onnx_attr_int(n, "p", 2);
    if (p != 1 && p != 2)
        return kh_error_set(err, KH_EINVAL, "p must be 1 or 2, got %lld", (long long)p);
    return KH_OK;
}

static int lpnorm_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    size_t outer, len, inner;
    int rc = softmax_axis_split(x, onnx_attr_int(n, "axis", -1), false, &outer, &len, &inner, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

static int lpnorm_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    size_t outer, len, inner;
    int rc = softmax_axis_split(x, onnx_attr_int(n, "axis", -1), false, &outer, &len, &inner, err);
    if (rc)
        return rc;
    const bool l1 = onnx_attr_int(n, "p", 2) == 1;
    const float *xv = x->data;
    float *y = n->outputs[0]->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *xs = xv + o * len * inner + i;
            float *ys = y + o * len * inner + i;
            double norm = 0;
            for (size_t j = 0; j < len; j++)
                norm += l1 ? fabs(xs[j * inner]) : (double)xs[j * inner] * xs[j * inner];
            if (!l1)
                norm = sqrt(norm);
            for (size_t j = 0; j < len; j++)
                ys[j * inner] = norm > 0 ? (float)(xs[j * inner] / norm) : 0.0f;
        }
    return KH_OK;
}

const onnx_operator onnx_op_LpNormalization = {
    .op_type = "LpNormalization",
    .min_opset = 1,
    .init = lpnorm_init,
    .reshape = lpnorm_reshape,
    .run = lpnorm_run,
};
