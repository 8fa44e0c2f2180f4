/* signal_window.c - the window generators. */
#include "onnx/kernels/signal_window.h"

#include <inttypes.h>
#include <math.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/cast.h"

static int window_size(const onnx_node *n, onnx_read_when when, int64_t *size,
                       kh_error *err) {
    const onnx_tensor *t = onnx_node_input(n, 0);
    if (!t)
        return kh_error_set(err, KH_EINVAL, "size is required");
    if (t->dtype != ONNX_INT32 && t->dtype != ONNX_INT64)
        return kh_error_set(err, KH_ETYPE,
                            "size must be int32 or int64, got "
                            "%s",
                            onnx_dtype_name(t->dtype));
    int rc = onnx_read_scalar_i64(t, "size", when, size, err);
    if (rc)
        return rc;
    if (*size < 0)
        return kh_error_set(err, KH_ERANGE, "size %" PRId64 " is negative",
                            *size);
    return KH_OK;
}

int onnx_signal_window_reshape(onnx_node *n, kh_error *err) {
    int64_t size;
    int rc = window_size(n, ONNX_AT_PLAN, &size, err);
    if (rc)
        return rc;
    onnx_dtype t = (onnx_dtype)onnx_attr_int(n, "output_datatype", ONNX_FLOAT);
    if (!onnx_cast_supports(t))
        return kh_error_set(err, KH_EUNSUPPORTED, "%s output not supported",
                            onnx_dtype_name(t));
    return onnx_tensor_reshape(n->outputs[0], t, 1, &size, err);
}

int onnx_signal_window_run(onnx_node *n, onnx_signal_window_kind kind,
                           const onnx_exec *ex, kh_error *err) {
    (void)ex;
    onnx_tensor *y = n->outputs[0];
    const size_t size = y->numel;
    const bool periodic = onnx_attr_int(n, "periodic", 1) != 0;
    const double denominator = periodic ? (double)size : (double)size - 1;
    const double pi = 3.14159265358979323846;
    for (size_t i = 0; i < size; i++) {
        /* A symmetric window of one sample would divide by 0: phase 0. */
        double phase = denominator > 0 ? 2 * pi * (double)i / denominator : 0;
        double v;
        switch (kind) {
        case ONNX_SIGNAL_WINDOW_HANN: v = 0.5 - 0.5 * cos(phase); break;
        case ONNX_SIGNAL_WINDOW_HAMMING:
            v = 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(phase);
            break;
        default: v = 0.42 - 0.5 * cos(phase) + 0.08 * cos(2 * phase); break;
        }
        float f = (float)v;
        int rc = onnx_cast(
            NULL, (unsigned char *)y->data + i * onnx_dtype_size(y->dtype),
            y->dtype, &f, ONNX_FLOAT, 1, err);
        if (rc)
            return rc;
    }
    return KH_OK;
}
