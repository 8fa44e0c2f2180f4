/* LRN (opset 1+): local response normalisation across channels,
 *   y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta
 * with the window c - floor((size-1)/2) .. c + ceil((size-1)/2). */
#include <math.h>

#include "onnx/op.h"

static int lrn_init(onnx_node *n, kh_error *err) {
    const onnx_attr *size = onnx_attr_find(n, "size");
    if (!size || size->type != ONNX_ATTR_INT || size->i < 1)
        return kh_error_set(err, KH_EINVAL, "attribute 'size' (a positive int) is required");
    return KH_OK;
}

static int lrn_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    if (x->rank < 3)
        return kh_error_set(err, KH_ESHAPE, "X has rank %d: at least 3 expected", x->rank);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

typedef struct lrn_job {
    const float *x;
    float *y;
    size_t channels, plane, before, after;
    float alpha_over_size, beta, bias;
} lrn_job;

static void lrn_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const lrn_job *job = arg;
    const size_t C = job->channels, P = job->plane;
    for (size_t p = begin; p < end; p++) {
        size_t b = p / C, c = p % C;
        size_t lo = c >= job->before ? c - job->before : 0;
        size_t hi = c + job->after < C ? c + job->after : C - 1;
        const float *base = job->x + b * C * P;
        for (size_t i = 0; i < P; i++) {
            float sum = 0.0f;
            for (size_t k = lo; k <= hi; k++)
                sum += base[k * P + i] * base[k * P + i];
            job->y[p * P + i] =
                base[c * P + i] / powf(job->bias + job->alpha_over_size * sum, job->beta);
        }
    }
}

static int lrn_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    size_t size = (size_t)onnx_attr_int(n, "size", 1);
    size_t planes = (size_t)(x->dims[0] * x->dims[1]);
    lrn_job job = {x->data, n->outputs[0]->data, (size_t)x->dims[1],
                   planes ? x->numel / planes : 0, (size - 1) / 2, size / 2,
                   onnx_attr_float(n, "alpha", 1e-4f) / (float)size,
                   onnx_attr_float(n, "beta", 0.75f), onnx_attr_float(n, "bias", 1.0f)};
    if (x->numel)
        onnx_parallel_for(ex, planes, lrn_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_LRN = {
    .op_type = "LRN",
    .min_opset = 1,
    .init = lrn_init,
    .reshape = lrn_reshape,
    .run = lrn_run,
};
