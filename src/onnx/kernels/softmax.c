/* softmax.c - see softmax.h. Max-subtracted, accumulated in double for the
 * sum so long rows stay accurate. */
#include "onnx/kernels/softmax.h"

#include <math.h>

#include "onnx/kernels/slots.h"

int softmax_axis_split(const onnx_tensor *x, int64_t axis, bool flatten,
                  size_t *outer, size_t *n, size_t *inner, kh_error *err) {
    int64_t r = x->rank;
    int64_t hi = flatten ? r : r - 1;
    if (axis < -r || axis > hi || (r == 0 && !flatten))
        return kh_error_set(err, KH_ERANGE, "axis %lld out of range for rank %lld",
                            (long long)axis, (long long)r);
    if (axis < 0)
        axis += r;
    *outer = *n = *inner = 1;
    for (int64_t i = 0; i < r; i++) {
        size_t d = (size_t)x->dims[i];
        if (i < axis)
            *outer *= d;
        else if (i == axis || flatten)
            *n *= d;
        else
            *inner *= d;
    }
    return KH_OK;
}

typedef struct softmax_job {
    const float *x;
    float *y;
    size_t n, inner;
    bool log;
} softmax_job;

static void softmax_lines(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const softmax_job *job = arg;
    const size_t n = job->n, inner = job->inner;
    for (size_t line = begin; line < end; line++) {
        size_t o = line / inner, i = line % inner;
        const float *x = job->x + o * n * inner + i;
        float *y = job->y + o * n * inner + i;
        float max = -INFINITY;
        for (size_t j = 0; j < n; j++)
            if (x[j * inner] > max)
                max = x[j * inner];
        double sum = 0.0;
        for (size_t j = 0; j < n; j++) {
            float e = expf(x[j * inner] - max);
            sum += e;
            if (!job->log)
                y[j * inner] = e;
        }
        if (job->log) {
            float shift = max + (float)log(sum);
            for (size_t j = 0; j < n; j++)
                y[j * inner] = x[j * inner] - shift;
        } else {
            float scale = (float)(1.0 / sum);
            for (size_t j = 0; j < n; j++)
                y[j * inner] *= scale;
        }
    }
}

void softmax_compute(const onnx_exec *ex, const float *x, float *y, size_t outer,
                 size_t n, size_t inner, bool log) {
    if (!n)
        return;
    softmax_job job = {x, y, n, inner, log};
    onnx_exec serial;
    onnx_parallel_for(kernel_exec_for(ex, 5.0 * (double)(outer * inner * n), &serial), outer * inner,
                      softmax_lines, &job);
}

/* Before opset 13 the input is flattened to 2-D at 'axis' (default 1); from
 * 13 on one axis (default -1) is normalised. */
static int node_axis_split(const onnx_node *n, const onnx_tensor *x,
                           size_t *outer, size_t *len, size_t *inner,
                           kh_error *err) {
    bool flatten = n->opset < 13;
    return softmax_axis_split(x, onnx_attr_int(n, "axis", flatten ? 1 : -1),
                              flatten, outer, len, inner, err);
}

int softmax_node_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    size_t outer, len, inner;
    int rc = node_axis_split(n, x, &outer, &len, &inner, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
}

int softmax_node_run(onnx_node *n, const onnx_exec *ex, bool log, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    size_t outer, len, inner;
    int rc = node_axis_split(n, x, &outer, &len, &inner, err);
    if (!rc && x->numel)
        softmax_compute(ex, x->data, n->outputs[0]->data, outer, len, inner, log);
    return rc;
}
