/* GlobalMaxPool (opset 1+): the max of each channel over every spatial
 * axis of X [N, C, D1...]; Y is [N, C, 1, ...]. */
#include <float.h>

#include "onnx/kernels/pool.h"
#include "onnx/op.h"

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
    .reshape = pool_global_reshape,
    .run = globalmaxpool_run,
};
