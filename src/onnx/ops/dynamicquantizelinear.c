/* DynamicQuantizeLinear (opset 11): uint8 quantisation of x with a scale
 * and zero point computed from x's range extended to include 0:
 *   scale = (max - min) / 255, zero_point = saturate(round(-min / scale)). */
#include <math.h>

#include "onnx/kernels/quantize.h"

static int dynamicquantizelinear_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    int rc =
        onnx_tensor_reshape(n->outputs[0], ONNX_UINT8, x->rank, x->dims, err);
    onnx_tensor *scale = onnx_node_output(n, 1), *zp = onnx_node_output(n, 2);
    if (!rc && scale)
        rc = onnx_tensor_reshape(scale, ONNX_FLOAT, 0, NULL, err);
    if (!rc && zp)
        rc = onnx_tensor_reshape(zp, ONNX_UINT8, 0, NULL, err);
    return rc;
}

static int dynamicquantizelinear_run(onnx_node *n, const onnx_exec *ex,
                                     kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    const float *v = x->data;
    float lo = 0, hi = 0;
    for (size_t i = 0; i < x->numel; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    float scale = (hi - lo) / 255.0f;
    /* All zeros: any scale maps them to the zero point; 1 avoids 0/0. */
    float divisor = scale > 0 ? scale : 1.0f;
    int64_t zp = onnx_quant_round_saturate(-lo / divisor, 0, 255);
    uint8_t *y = n->outputs[0]->data;
    for (size_t i = 0; i < x->numel; i++)
        y[i] =
            (uint8_t)(onnx_quant_round_saturate(v[i] / divisor, -zp, 255 - zp) +
                      zp);
    onnx_tensor *scale_t = onnx_node_output(n, 1),
                *zp_t = onnx_node_output(n, 2);
    if (scale_t)
        *(float *)scale_t->data = scale;
    if (zp_t)
        *(uint8_t *)zp_t->data = (uint8_t)zp;
    return KH_OK;
}

const onnx_operator onnx_op_DynamicQuantizeLinear = {
    .op_type = "DynamicQuantizeLinear",
    .min_opset = 11,
    .reshape = dynamicquantizelinear_reshape,
    .run = dynamicquantizelinear_run,
};
