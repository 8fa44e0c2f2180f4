/* BatchNormalization (opset 1+), inference only:
 *   Y = (X - mean) / sqrt(var + epsilon) * scale + B   per channel (axis 1).
 * training_mode=1 (opset 14+) and spatial=0 (before opset 9) are refused.
 * Optional extra outputs (running / saved statistics) get the input mean and
 * variance, which is what they hold when nothing is trained. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/op.h"

static int batchnorm_init(onnx_node *n, kh_error *err) {
    if (onnx_attr_int(n, "training_mode", 0) != 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "training_mode=1 (training) is not supported");
    if (n->opset < 9 && onnx_attr_int(n, "spatial", 1) == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "spatial=0 (per-element statistics) is not supported");
    if (n->opset < 7 && onnx_attr_int(n, "is_test", 1) == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "is_test=0 (training) is not supported");
    return KH_OK;
}

static int batchnorm_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x || n->n_inputs < 5)
        return kh_error_set(err, KH_EINVAL, "inputs X, scale, B, mean and var are required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    if (x->rank < 2)
        return kh_error_set(err, KH_ESHAPE, "X has rank %d: at least 2 (N, C) expected", x->rank);
    static const char *const names[5] = {"X", "scale", "B", "mean", "var"};
    char s[96];
    for (size_t i = 1; i < 5; i++) {
        const onnx_tensor *t = n->inputs[i];
        if (!t)
            return kh_error_set(err, KH_EINVAL, "input %s is required", names[i]);
        if (t->dtype != ONNX_FLOAT)
            return kh_error_set(err, KH_EUNSUPPORTED, "%s is %s: only float is supported",
                                names[i], onnx_dtype_name(t->dtype));
        if (t->numel != (size_t)x->dims[1])
            return kh_error_set(err, KH_ESHAPE, "%s %s must have %lld values (channels of X)",
                                names[i], onnx_shape_str(t, s, sizeof s), (long long)x->dims[1]);
    }
    int rc = onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
    for (size_t i = 1; !rc && i < n->n_outputs; i++)
        if (n->outputs[i])
            rc = onnx_tensor_reshape(n->outputs[i], ONNX_FLOAT, 1, &x->dims[1], err);
    n->scratch_bytes = 2 * (size_t)x->dims[1] * sizeof(float);
    return rc;
}

typedef struct batchnorm_job {
    const float *x, *a, *b;
    float *y;
    size_t channels, plane;
} batchnorm_job;

static void batchnorm_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const batchnorm_job *job = arg;
    for (size_t p = begin; p < end; p++) {
        size_t c = p % job->channels;
        const float a = job->a[c], b = job->b[c];
        const float *x = job->x + p * job->plane;
        float *y = job->y + p * job->plane;
        for (size_t i = 0; i < job->plane; i++)
            y[i] = x[i] * a + b;
    }
}

static int batchnorm_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    const float *scale = n->inputs[1]->data, *bias = n->inputs[2]->data;
    const float *mean = n->inputs[3]->data, *var = n->inputs[4]->data;
    const float eps = onnx_attr_float(n, "epsilon", 1e-5f);
    const size_t channels = (size_t)x->dims[1];
    float *a = ex->scratch, *b = a + channels;
    for (size_t c = 0; c < channels; c++) {
        a[c] = scale[c] / sqrtf(var[c] + eps);
        b[c] = bias[c] - mean[c] * a[c];
    }
    batchnorm_job job = {x->data, a, b, n->outputs[0]->data, channels,
                         channels && x->dims[0] ? x->numel / (channels * (size_t)x->dims[0]) : 0};
    if (x->numel)
        onnx_parallel_for(ex, (size_t)x->dims[0] * channels, batchnorm_planes, &job);
    for (size_t i = 1; i < n->n_outputs; i++)
        if (n->outputs[i])
            memcpy(n->outputs[i]->data, i % 2 ? mean : var, channels * sizeof(float));
    return KH_OK;
}

const onnx_operator onnx_op_BatchNormalization = {
    .op_type = "BatchNormalization",
    .min_opset = 1,
    .init = batchnorm_init,
    .reshape = batchnorm_reshape,
    .run = batchnorm_run,
};
