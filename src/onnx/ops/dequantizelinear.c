/* DequantizeLinear: y = (x - zero_point) * scale as float, from uint8,
 * int8 or int32; per-tensor or per-axis. */
#include "onnx/kernels/quantize.h"

static int dequantizelinear_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *scale = onnx_node_input(n, 1);
    const onnx_tensor *zp = onnx_node_input(n, 2);
    if (!x || !scale)
        return kh_error_set(err, KH_EINVAL, "x and x_scale are required");
    if (x->dtype != ONNX_UINT8 && x->dtype != ONNX_INT8 &&
        x->dtype != ONNX_INT32)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return kh_error_set(err, KH_ETYPE, "zero point is %s, x is %s",
                            onnx_dtype_name(zp->dtype),
                            onnx_dtype_name(x->dtype));
    onnx_quant_layout l;
    int rc = onnx_quant_layout_make(n, x, scale, zp, &l, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims,
                               err);
}

static int dequantizelinear_run(onnx_node *n, const onnx_exec *ex,
                                kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *scale = n->inputs[1];
    const onnx_tensor *zp = onnx_node_input(n, 2);
    onnx_quant_layout l;
    int rc = onnx_quant_layout_make(n, x, scale, zp, &l, err);
    if (rc)
        return rc;
    const float *scales = scale->data;
    float *y = n->outputs[0]->data;
    size_t i = 0;
    for (size_t o = 0; o < l.outer; o++)
        for (size_t c = 0; c < l.channels; c++) {
            float s = scales[c];
            int64_t z = zp ? onnx_tensor_get_i64(zp, c) : 0;
            for (size_t k = 0; k < l.inner; k++, i++)
                y[i] = (float)(onnx_tensor_get_i64(x, i) - z) * s;
        }
    return KH_OK;
}

const onnx_operator onnx_op_DequantizeLinear = {
    .op_type = "DequantizeLinear",
    .min_opset = 10,
    .reshape = dequantizelinear_reshape,
    .run = dequantizelinear_run,
};
