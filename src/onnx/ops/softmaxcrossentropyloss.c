/* SoftmaxCrossEntropyLoss (opset 12+): log_softmax over the class axis
 * (axis 1) of scores [N, C, d...], then the NLL step of kernels/loss.c.
 * The optional second output is that log_softmax; without it the
 * log-probabilities live in scratch. */
#include <math.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/loss.h"

static int sce_init(onnx_node *n, kh_error *err) {
    onnx_loss_reduction r;
    return onnx_loss_reduction_read(n, &r, err);
}

static int sce_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *labels = onnx_node_input(n, 1);
    if (!x || !labels)
        return kh_error_set(err, KH_EINVAL, "scores and labels are required");
    int rc = onnx_loss_reshape(n, x, labels, onnx_node_input(n, 2),
                               n->outputs[0], err);
    if (rc)
        return rc;
    onnx_tensor *log_prob = onnx_node_output(n, 1);
    if (log_prob)
        return onnx_tensor_reshape(log_prob, ONNX_FLOAT, x->rank, x->dims, err);
    n->scratch_bytes = x->numel * sizeof(float);
    return KH_OK;
}

/* log_softmax along axis 1, each (batch, position) line separately. */
static void log_softmax_axis1(const onnx_tensor *x, float *out) {
    const float *in = x->data;
    const size_t batches = (size_t)x->dims[0], classes = (size_t)x->dims[1];
    const size_t inner = onnx_dims_product(x->dims, 2, x->rank);
    for (size_t b = 0; b < batches; b++)
        for (size_t p = 0; p < inner; p++) {
            const float *line = in + b * classes * inner + p;
            float *dst = out + b * classes * inner + p;
            float m = -INFINITY;
            for (size_t c = 0; c < classes; c++)
                m = line[c * inner] > m ? line[c * inner] : m;
            double sum = 0;
            for (size_t c = 0; c < classes; c++)
                sum += exp((double)line[c * inner] - m);
            float log_sum = (float)log(sum) + m;
            for (size_t c = 0; c < classes; c++)
                dst[c * inner] = line[c * inner] - log_sum;
        }
}

static int sce_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *log_prob = onnx_node_output(n, 1);
    float *logp = log_prob ? log_prob->data : ex->scratch;
    log_softmax_axis1(x, logp);
    return onnx_loss_compute(n, x, logp, n->inputs[1], onnx_node_input(n, 2),
                             n->outputs[0], err);
}

const onnx_operator onnx_op_SoftmaxCrossEntropyLoss = {
    .op_type = "SoftmaxCrossEntropyLoss",
    .min_opset = 12,
    .init = sce_init,
    .reshape = sce_reshape,
    .run = sce_run,
};
