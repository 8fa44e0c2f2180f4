/* Mod (opset 10+): fmod=0 takes the sign of the divisor (Python), fmod=1 the
 * sign of the dividend (C fmod). x mod 0 is 0 for integers. */
#include "onnx/kernels/binary.h"

static onnx_binary_kind mod_kind(const onnx_node *n) {
    return onnx_attr_int(n, "fmod", 0) ? ONNX_BINARY_FMOD : ONNX_BINARY_MOD;
}

static int mod_init(onnx_node *n, kh_error *err) {
    int64_t fmod = onnx_attr_int(n, "fmod", 0);
    if (fmod != 0 && fmod != 1)
        return kh_error_set(err, KH_EINVAL, "fmod must be 0 or 1, got %lld",
                            (long long)fmod);
    return KH_OK;
}

static int mod_reshape(onnx_node *n, kh_error *err) {
    return onnx_binary_reshape(n, mod_kind(n), err);
}

static int mod_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_binary_run(n, ex, mod_kind(n), err);
}

const onnx_operator onnx_op_Mod = {
    .op_type = "Mod",
    .min_opset = 10,
    .init = mod_init,
    .reshape = mod_reshape,
    .run = mod_run,
};
