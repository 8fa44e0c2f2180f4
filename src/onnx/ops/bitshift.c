/* BitShift (opset 11+): direction LEFT or RIGHT; shifting by the bit width or
 * more gives 0. */
#include <string.h>

#include "onnx/kernels/binary.h"

static onnx_binary_kind shift_kind(const onnx_node *n) {
    return strcmp(onnx_attr_string(n, "direction", ""), "LEFT") == 0
               ? ONNX_BINARY_SHIFT_LEFT
               : ONNX_BINARY_SHIFT_RIGHT;
}

static int bitshift_init(onnx_node *n, kh_error *err) {
    const char *dir = onnx_attr_string(n, "direction", "");
    if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0)
        return kh_error_set(err, KH_EINVAL,
                            "direction must be LEFT or RIGHT, got '%s'", dir);
    return KH_OK;
}

static int bitshift_reshape(onnx_node *n, kh_error *err) {
    return onnx_binary_reshape(n, shift_kind(n), err);
}

static int bitshift_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    return onnx_binary_run(n, ex, shift_kind(n), err);
}

const onnx_operator onnx_op_BitShift = {
    .op_type = "BitShift",
    .min_opset = 11,
    .init = bitshift_init,
    .reshape = bitshift_reshape,
    .run = bitshift_run,
};
