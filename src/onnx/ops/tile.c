/* Tile: output dim i is input dim i times repeats[i]. Seen as a view of
 * twice the rank, [r0, d0, r1, d1, ...] with stride 0 on the repeat axes,
 * it is one strided copy. */
#include <inttypes.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

static int read_repeats(const onnx_node *n, const onnx_tensor *x,
                        onnx_read_when when, int64_t *repeats, kh_error *err) {
    const onnx_tensor *r = onnx_node_input(n, 1);
    if (!r)
        return kh_error_set(err, KH_EINVAL, "repeats are required");
    size_t count;
    int rc =
        onnx_read_ints(r, "repeats", when, repeats, ONNX_MAX_RANK, &count, err);
    if (rc)
        return rc;
    if ((int)count != x->rank)
        return kh_error_set(err, KH_ESHAPE,
                            "%zu repeats for an input of rank %d", count,
                            x->rank);
    for (size_t i = 0; i < count; i++)
        if (repeats[i] < 0)
            return kh_error_set(err, KH_ESHAPE,
                                "repeats[%zu] is %" PRId64 " (negative)", i,
                                repeats[i]);
    return KH_OK;
}

static int tile_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int64_t repeats[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    int rc = read_repeats(n, x, ONNX_AT_PLAN, repeats, err);
    if (rc)
        return rc;
    for (int i = 0; i < x->rank; i++)
        if (__builtin_mul_overflow(x->dims[i], repeats[i], &dims[i]))
            return kh_error_set(err, KH_ELIMIT,
                                "output dimension %d "
                                "overflows",
                                i);
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, dims, err);
}

static int tile_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int64_t repeats[ONNX_MAX_RANK];
    int rc = read_repeats(n, x, ONNX_AT_RUN, repeats, err);
    if (rc)
        return rc;
    int64_t in_strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, in_strides);
    int64_t dims[ONNX_ITER_MAX_RANK], strides[ONNX_ITER_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        dims[2 * i] = repeats[i];
        strides[2 * i] = 0;
        dims[2 * i + 1] = x->dims[i];
        strides[2 * i + 1] = in_strides[i];
    }
    onnx_strided_copy(ex, y->data, x->data, onnx_dtype_size(x->dtype),
                      2 * x->rank, dims, strides);
    return KH_OK;
}

const onnx_operator onnx_op_Tile = {
    .op_type = "Tile",
    .min_opset = 6,
    .reshape = tile_reshape,
    .run = tile_run,
};
