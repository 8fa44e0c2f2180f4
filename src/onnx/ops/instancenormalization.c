/* InstanceNormalization (opset 1+): each (n, c) plane of X [N, C, ...]
 * normalised by its own mean and variance, then scale[c] and B[c]. */
#include <math.h>

#include "onnx/op.h"

static int instancenorm_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *scale = onnx_node_input(n, 1),
                      *b = onnx_node_input(n, 2);
    if (!x || !scale || !b)
        return kh_error_set(err, KH_EINVAL, "inputs input, scale and B are required");
    if (x->dtype != ONNX_FLOAT || scale->dtype != ONNX_FLOAT || b->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "only float inputs are supported");
    if (x->rank < 3)
        return kh_error_set(err, KH_ESHAPE, "input has rank %d: at least 3 expected", x->rank);
    if (scale->numel != (size_t)x->dims[1] || b->numel != (size_t)x->dims[1])
        return kh_error_set(err, KH_ESHAPE, "scale and B must have %lld values (channels)",
                            (long long)x->dims[1]);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

typedef struct instancenorm_job {
    const float *x, *scale, *b;
    float *y;
    size_t channels, plane;
    float eps;
} instancenorm_job;

static void instancenorm_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const instancenorm_job *job = arg;
    for (size_t p = begin; p < end; p++) {
        const float *x = job->x + p * job->plane;
        float *y = job->y + p * job->plane;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < job->plane; i++)
            sum += x[i];
        double mean = job->plane ? sum / (double)job->plane : 0.0;
        for (size_t i = 0; i < job->plane; i++)
            sq += (x[i] - mean) * (x[i] - mean);
        double var = job->plane ? sq / (double)job->plane : 0.0;
        size_t c = p % job->channels;
        float a = (float)(job->scale[c] / sqrt(var + job->eps));
        float b = job->b[c] - (float)mean * a;
        for (size_t i = 0; i < job->plane; i++)
            y[i] = x[i] * a + b;
    }
}

static int instancenorm_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    size_t planes = (size_t)(x->dims[0] * x->dims[1]);
    instancenorm_job job = {x->data, n->inputs[1]->data, n->inputs[2]->data,
                            n->outputs[0]->data, (size_t)x->dims[1],
                            planes ? x->numel / planes : 0,
                            onnx_attr_float(n, "epsilon", 1e-5f)};
    if (x->numel)
        onnx_parallel_for(ex, planes, instancenorm_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_InstanceNormalization = {
    .op_type = "InstanceNormalization",
    .min_opset = 1,
    .reshape = instancenorm_reshape,
    .run = instancenorm_run,
};
