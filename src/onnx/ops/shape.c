/* Shape: the input's dimensions as int64, optionally the range
 * [start, end) of them (opset 15; negative counts from the end, clamped). */
#include "onnx/op.h"

static void shape_range(const onnx_node *n, int rank, int *start, int *end) {
    int64_t s = onnx_attr_int(n, "start", 0);
    int64_t e = onnx_attr_int(n, "end", rank);
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *start = (int)s;
    *end = (int)(e < s ? s : e);
}

static int shape_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int start, end;
    shape_range(n, x->rank, &start, &end);
    int64_t count = end - start;
    return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 1, &count, err);
}

static int shape_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    const onnx_tensor *x = n->inputs[0];
    int start, end;
    shape_range(n, x->rank, &start, &end);
    int64_t *out = n->outputs[0]->data;
    for (int i = start; i < end; i++)
        out[i - start] = x->dims[i];
    return KH_OK;
}

const onnx_operator onnx_op_Shape = {
    .op_type = "Shape",
    .min_opset = 1,
    .reshape = shape_reshape,
    .run = shape_run,
};
