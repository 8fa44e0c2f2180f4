/* GlobalMaxPool (opset 1+): the max of each channel over every spatial
 * axis of X [N, C, D1...]; Y is [N, C, 1, ...]. */
#include <float.h>

#include "onnx/op.h"

static int globalmaxpool_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    if (x->rank < 2)
        return kh_error_set(err, KH_ESHAPE, "X has rank %d: at least 2 (N, C) expected", x->rank);
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, dims, err);
}

typedef struct globalmaxpool_job {
    const float *x;
    float *y;
    size_t plane;
} globalmaxpool_job;

static void globalmaxpool_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const globalmaxpool_job *job = arg;
    for (size_t p = begin; p < end; p++) {
        const float *x = job->x + p * job->plane;
        float best = job->plane ? x[0] : -FLT_MAX;
        for (size_t i = 1; i < job->plane; i++)
            if (x[i] > best)
                best = x[i];
        job->y[p] = best;
    }
}

static int globalmaxpool_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    globalmaxpool_job job = {x->data, y->data, y->numel ? x->numel / y->numel : 0};
    if (y->numel)
        onnx_parallel_for(ex, y->numel, globalmaxpool_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_GlobalMaxPool = {
    .op_type = "GlobalMaxPool",
    .min_opset = 1,
    .reshape = globalmaxpool_reshape,
    .run = globalmaxpool_run,
};
