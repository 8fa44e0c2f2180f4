/* AveragePool (opset 1+): 1-D to 3-D average pooling with pads / auto_pad,
 * strides, count_include_pad (7+), ceil_mode (10+), dilations (19+). */
#include "onnx/kernels/pool.h"
#include "onnx/kernels/slots.h"
#include "onnx/op.h"

typedef struct averagepool_state {
    pool_state pool; /* first: allocated by pool_state_init */
    bool count_include_pad;
} averagepool_state;

static int averagepool_init(onnx_node *n, kh_error *err) {
    int rc = pool_state_init(n, sizeof(averagepool_state), err);
    if (rc)
        return rc;
    averagepool_state *st = n->state;
    int64_t cip = onnx_attr_int(n, "count_include_pad", 0);
    if (cip != 0 && cip != 1)
        return kh_error_set(err, KH_EINVAL, "count_include_pad must be 0 or 1, got %lld",
                            (long long)cip);
    st->count_include_pad = cip == 1;
    return KH_OK;
}

static int averagepool_reshape(onnx_node *n, kh_error *err) {
    averagepool_state *st = n->state;
    const onnx_tensor *x;
    int rc = pool_input(n, false, &x, err);
    if (rc)
        return rc;
    int64_t ydims[ONNX_MAX_RANK];
    rc = pool_state_plan(&st->pool, x, ydims, err);
    if (rc)
        return rc;
    st->pool.window.count_include_pad = st->count_include_pad;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, ydims, err);
}

typedef struct averagepool_job {
    const averagepool_state *st;
    const float *x;
    float *y;
} averagepool_job;

static void averagepool_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const averagepool_job *job = arg;
    const pool_state *st = &job->st->pool;
    for (size_t p = begin; p < end; p++)
        pool_avg_plane(&st->window, job->x + p * st->in_plane, job->y + p * st->out_plane);
}

static int averagepool_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const averagepool_state *st = n->state;
    averagepool_job job = {st, n->inputs[0]->data, n->outputs[0]->data};
    onnx_exec serial;
    double est_ns = 0.3 * (double)n->outputs[0]->numel * (double)conv_kernel_size(&st->pool.window.g);
    if (n->outputs[0]->numel)
        kernel_parallel_slots(kernel_exec_for(ex, est_ns, &serial), st->pool.planes, averagepool_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_AveragePool = {
    .op_type = "AveragePool",
    .min_opset = 1,
    .init = averagepool_init,
    .reshape = averagepool_reshape,
    .run = averagepool_run,
    .exit = pool_state_exit,
};
