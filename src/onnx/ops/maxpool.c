/* MaxPool (opset 1+): 1-D to 3-D max pooling with pads / auto_pad,
 * strides, dilations (10+), ceil_mode (10+), storage_order and the optional
 * Indices output (flat positions in X, int64). float, uint8 and int8 (12+)
 * inputs; Indices only for float. */
#include "onnx/kernels/pool.h"
#include "onnx/kernels/slots.h"
#include "onnx/op.h"

typedef struct maxpool_state {
    pool_state pool; /* first: allocated by pool_state_init */
    bool column_major;
} maxpool_state;

static int maxpool_init(onnx_node *n, kh_error *err) {
    int rc = pool_state_init(n, sizeof(maxpool_state), err);
    if (rc)
        return rc;
    maxpool_state *st = n->state;
    int64_t order = onnx_attr_int(n, "storage_order", 0);
    if (order != 0 && order != 1)
        return kh_error_set(err, KH_EINVAL, "storage_order must be 0 or 1, got %lld",
                            (long long)order);
    st->column_major = order == 1;
    return KH_OK;
}

static int maxpool_reshape(onnx_node *n, kh_error *err) {
    maxpool_state *st = n->state;
    const onnx_tensor *x;
    int rc = pool_input(n, true, &x, err);
    if (rc)
        return rc;
    onnx_tensor *indices = onnx_node_output(n, 1);
    if (indices && x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "Indices output with %s input: only float",
                            onnx_dtype_name(x->dtype));
    int64_t ydims[ONNX_MAX_RANK];
    rc = pool_state_plan(&st->pool, x, ydims, err);
    if (rc)
        return rc;
    rc = onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, ydims, err);
    if (!rc && indices)
        rc = onnx_tensor_reshape(indices, ONNX_INT64, x->rank, ydims, err);
    return rc;
}

typedef struct maxpool_job {
    const maxpool_state *st;
    const void *x;
    void *y;
    int64_t *indices;
    onnx_dtype dtype;
} maxpool_job;

static void maxpool_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const maxpool_job *job = arg;
    const pool_state *st = &job->st->pool;
    for (size_t p = begin; p < end; p++) {
        switch (job->dtype) {
        case ONNX_UINT8:
            pool_max_plane_u8(&st->window, (const uint8_t *)job->x + p * st->in_plane,
                              (uint8_t *)job->y + p * st->out_plane);
            break;
        case ONNX_INT8:
            pool_max_plane_i8(&st->window, (const int8_t *)job->x + p * st->in_plane,
                              (int8_t *)job->y + p * st->out_plane);
            break;
        default:
            pool_max_plane(&st->window, (const float *)job->x + p * st->in_plane,
                           (float *)job->y + p * st->out_plane,
                           job->indices ? job->indices + p * st->out_plane : NULL,
                           (int64_t)(p * st->in_plane), job->st->column_major);
            break;
        }
    }
}

static int maxpool_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const maxpool_state *st = n->state;
    onnx_tensor *indices = onnx_node_output(n, 1);
    maxpool_job job = {st, n->inputs[0]->data, n->outputs[0]->data,
                       indices ? indices->data : NULL, n->inputs[0]->dtype};
    onnx_exec serial;
    double est_ns = 0.2 * (double)n->outputs[0]->numel * (double)conv_kernel_size(&st->pool.window.g);
    if (n->outputs[0]->numel)
        kernel_parallel_slots(kernel_exec_for(ex, est_ns, &serial), st->pool.planes, maxpool_planes, &job);
    return KH_OK;
}

const onnx_operator onnx_op_MaxPool = {
    .op_type = "MaxPool",
    .min_opset = 1,
    .init = maxpool_init,
    .reshape = maxpool_reshape,
    .run = maxpool_run,
    .exit = pool_state_exit,
};
