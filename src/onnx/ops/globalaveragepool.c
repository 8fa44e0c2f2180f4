/* GlobalAveragePool (opset 1+): the average of each channel over every spatial
 * axis of X [N, C, D1...]; Y is [N, C, 1, ...]. */
#include "onnx/kernels/pool.h"
#include "onnx/op.h"

typedef struct globalaveragepool_job {
    const float *x;
    float *y;
    size_t plane;
} globalaveragepool_job;

static void globalaveragepool_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const globalaveragepool_job *job = arg;
    for (size_t p = begin; p < end; p++) {
        const float *x = job->x + p * job->plane;
        /* Four partial sums: shorter dependency chains, and the compiler
         * may vectorise them. */
        float s[4] = {0, 0, 0, 0};
        size_t i = 0;
        for (; i + 4 <= job->plane; i += 4)
            for (int k = 0; k < 4; k++)
                s[k] += x[i + k];
        for (; i < job->plane; i++)
            s[0] += x[i];
        job->y[p] = job->plane ? (s[0] + s[1] + s[2] + s[3]) / (float)job->plane : 0.0f;
    }
}

static int globalaveragepool_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    globalaveragepool_job job = {x->data, y->data, y->numel ? x->numel / y->numel : 0};
    if (y->numel)
        onnx_parallel_for(ex, y->numel, globalaveragepool_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_GlobalAveragePool = {
    .op_type = "GlobalAveragePool",
    .min_opset = 1,
    .reshape = pool_global_reshape,
    .run = globalaveragepool_run,
};
