/* QuantizeLinear: y = saturate(round(x / scale) + zero_point), to the zero
 * point's type (uint8 when absent) or int8; per-tensor or per-axis. */
#include "onnx/kernels/quantize.h"

static int quantizelinear_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *scale = onnx_node_input(n, 1);
    const onnx_tensor *zp = onnx_node_input(n, 2);
    if (!x || !scale)
        return kh_error_set(err, KH_EINVAL, "x and y_scale are required");
    if (x->dtype != ONNX_FLOAT && x->dtype != ONNX_INT32)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    onnx_dtype out = zp ? zp->dtype : ONNX_UINT8;
    if (out != ONNX_UINT8 && out != ONNX_INT8)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s output not supported",
                            onnx_dtype_name(out));
    onnx_quant_layout l;
    int rc = onnx_quant_layout_make(n, x, scale, zp, &l, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], out, x->rank, x->dims, err);
}

static int quantizelinear_run(onnx_node *n, const onnx_exec *ex,
                              kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *scale = n->inputs[1];
    const onnx_tensor *zp = onnx_node_input(n, 2);
    onnx_tensor *y = n->outputs[0];
    onnx_quant_layout l;
    int rc = onnx_quant_layout_make(n, x, scale, zp, &l, err);
    if (rc)
        return rc;
    const bool is_signed = y->dtype == ONNX_INT8;
    const int64_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
    const float *scales = scale->data;
    size_t i = 0;
    for (size_t o = 0; o < l.outer; o++)
        for (size_t c = 0; c < l.channels; c++) {
            float s = scales[c];
            int64_t z = zp ? onnx_tensor_get_i64(zp, c) : 0;
            for (size_t k = 0; k < l.inner; k++, i++) {
                float v = (float)onnx_tensor_get_f64(x, i) / s;
                int64_t q = onnx_quant_round_saturate(v, lo - z, hi - z) + z;
                if (is_signed)
                    ((int8_t *)y->data)[i] = (int8_t)q;
                else
                    ((uint8_t *)y->data)[i] = (uint8_t)q;
            }
        }
    return KH_OK;
}

const onnx_operator onnx_op_QuantizeLinear = {
    .op_type = "QuantizeLinear",
    .min_opset = 10,
    .reshape = quantizelinear_reshape,
    .run = quantizelinear_run,
};
