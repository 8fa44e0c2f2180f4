/* Dropout for inference: the output is the input and the optional mask is
 * all true (bool from opset 10, the input's type before). Random dropout
 * (training_mode true with a non-zero ratio, opset 12+) is refused. */
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static onnx_dtype mask_dtype(const onnx_node *n, const onnx_tensor *x) {
    return n->opset && n->opset < 10 ? x->dtype : ONNX_BOOL;
}

/* Random dropout cannot be reproduced: refuse it at load when training_mode
 * is a graph input (it could turn it on) or a constant true with a ratio that
 * is not 0. */
static int dropout_init(onnx_node *n, kh_error *err) {
    const onnx_tensor *training = onnx_node_input(n, 2);
    if (!training)
        return KH_OK;
    if (training->flags & ONNX_TENSOR_INPUT)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "training_mode as a graph input (random "
                            "dropout)");
    if (onnx_tensor_value_known(training) && training->numel == 1 &&
        onnx_tensor_get_i64(training, 0) != 0) {
        const onnx_tensor *r = onnx_node_input(n, 1);
        bool zero_ratio = r && onnx_tensor_value_known(r) && r->numel == 1 &&
                          onnx_tensor_get_f64(r, 0) == 0;
        if (!zero_ratio)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "training_mode=1 (random dropout)");
    }
    return KH_OK;
}

static int dropout_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    const onnx_tensor *training = onnx_node_input(n, 2);
    if (training) {
        int64_t on;
        int rc = onnx_read_scalar_i64(training, "training_mode", ONNX_AT_PLAN,
                                      &on, err);
        if (rc)
            return rc;
        double ratio = 0.5;
        const onnx_tensor *r = onnx_node_input(n, 1);
        if (on && r) {
            rc = onnx_read_scalar_f64(r, "ratio", ONNX_AT_PLAN, &ratio, err);
            if (rc)
                return rc;
        }
        if (on && ratio != 0)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "training_mode=1 (random dropout)");
    }
    int rc =
        onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
    onnx_tensor *mask = onnx_node_output(n, 1);
    if (rc == KH_OK && mask)
        rc = onnx_tensor_reshape(mask, mask_dtype(n, x), x->rank, x->dims, err);
    return rc;
}

static int dropout_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    if (x->numel && n->outputs[0]->data != x->data)
        memcpy(n->outputs[0]->data, x->data,
               x->numel * onnx_dtype_size(x->dtype));
    onnx_tensor *mask = onnx_node_output(n, 1);
    if (mask && mask->numel) {
        if (mask->dtype == ONNX_FLOAT) {
            const float one = 1.0f;
            onnx_fill(mask->data, &one, sizeof one, mask->numel);
        } else if (mask->dtype == ONNX_INT32 || mask->dtype == ONNX_INT64) {
            const int64_t one64 = 1;
            const int32_t one32 = 1;
            onnx_fill(mask->data,
                      mask->dtype == ONNX_INT64 ? (const void *)&one64
                                                : (const void *)&one32,
                      onnx_dtype_size(mask->dtype), mask->numel);
        } else {
            memset(mask->data, 1, mask->numel);
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_Dropout = {
    .op_type = "Dropout",
    .min_opset = 1,
    .init = dropout_init,
    .reshape = dropout_reshape,
    .run = dropout_run,
};
