/* NegativeLogLikelihoodLoss (opset 12+): input holds log-probabilities
 * [N, C, d...]; shared step in kernels/loss.c. */
#include "onnx/kernels/loss.h"

static int nll_init(onnx_node *n, kh_error *err) {
    onnx_loss_reduction r;
    return onnx_loss_reduction_read(n, &r, err);
}

static int nll_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *target = onnx_node_input(n, 1);
    if (!x || !target)
        return kh_error_set(err, KH_EINVAL, "input and target are required");
    return onnx_loss_reshape(n, x, target, onnx_node_input(n, 2), n->outputs[0],
                             err);
}

static int nll_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    return onnx_loss_compute(n, x, x->data, n->inputs[1], onnx_node_input(n, 2),
                             n->outputs[0], err);
}

const onnx_operator onnx_op_NegativeLogLikelihoodLoss = {
    .op_type = "NegativeLogLikelihoodLoss",
    .min_opset = 12,
    .init = nll_init,
    .reshape = nll_reshape,
    .run = nll_run,
};
