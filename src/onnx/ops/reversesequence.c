/* ReverseSequence: for each batch entry b, the first sequence_lens[b]
 * steps along time_axis are reversed, the rest copied. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"

static int reversesequence_axes(const onnx_node *n, const onnx_tensor *x,
                                int64_t *batch, int64_t *time, kh_error *err) {
    if (x->rank < 2)
        return kh_error_set(err, KH_ESHAPE, "input needs rank >= 2");
    *batch = onnx_attr_int(n, "batch_axis", 1);
    *time = onnx_attr_int(n, "time_axis", 0);
    if (!((*batch == 0 && *time == 1) || (*batch == 1 && *time == 0)))
        return kh_error_set(err, KH_EINVAL,
                            "batch_axis %" PRId64 " and time_axis %" PRId64
                            " must be 0 and 1",
                            *batch, *time);
    return KH_OK;
}

static int reversesequence_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    const onnx_tensor *lens = onnx_node_input(n, 1);
    if (!x || !lens)
        return kh_error_set(err, KH_EINVAL,
                            "input and sequence_lens are "
                            "required");
    int64_t batch, time;
    int rc = reversesequence_axes(n, x, &batch, &time, err);
    if (rc)
        return rc;
    if (lens->rank != 1 || lens->dims[0] != x->dims[batch] ||
        (lens->dtype != ONNX_INT64 && lens->dtype != ONNX_INT32))
        return kh_error_set(err, KH_ESHAPE,
                            "sequence_lens must be 1-D "
                            "integers of the batch size %" PRId64,
                            x->dims[batch]);
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

static int reversesequence_run(onnx_node *n, const onnx_exec *ex,
                               kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *lens = n->inputs[1];
    int64_t batch, time;
    int rc = reversesequence_axes(n, x, &batch, &time, err);
    if (rc)
        return rc;
    int64_t strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, strides);
    const size_t block =
        onnx_dims_product(x->dims, 2, x->rank) * onnx_dtype_size(x->dtype);
    const int64_t steps = x->dims[time];
    for (int64_t b = 0; b < x->dims[batch]; b++) {
        int64_t len = onnx_tensor_get_i64(lens, (size_t)b);
        if (len < 0 || len > steps)
            return kh_error_set(err, KH_ERANGE,
                                "sequence_lens[%" PRId64 "] = %" PRId64
                                " is outside 0..%" PRId64,
                                b, len, steps);
        for (int64_t t = 0; t < steps; t++) {
            int64_t from = t < len ? len - 1 - t : t;
            size_t dst = (size_t)(b * strides[batch] + t * strides[time]);
            size_t src = (size_t)(b * strides[batch] + from * strides[time]);
            memcpy((unsigned char *)n->outputs[0]->data +
                       dst * onnx_dtype_size(x->dtype),
                   (const unsigned char *)x->data +
                       src * onnx_dtype_size(x->dtype),
                   block);
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_ReverseSequence = {
    .op_type = "ReverseSequence",
    .min_opset = 10,
    .reshape = reversesequence_reshape,
    .run = reversesequence_run,
};
