/* Split along axis: sizes from the `split` attribute (before opset 13) or
 * input (13+), else num_outputs (18+, last part smaller), else equal parts
 * over the outputs. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/axes.h"

/* Split sizes are bounded by the output count, which the loader caps. */
#define SPLIT_MAX_OUTPUTS 4096

static int split_sizes(const onnx_node *n, const onnx_tensor *x,
                       onnx_read_when when, int64_t *axis, int64_t *sizes,
                       kh_error *err) {
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", 0), x->rank, "axis",
                                 axis, err);
    if (rc)
        return rc;
    const int64_t dim = x->dims[*axis];
    const size_t outputs = n->n_outputs;
    if (outputs == 0 || outputs > SPLIT_MAX_OUTPUTS)
        return kh_error_set(err, KH_ELIMIT, "%zu outputs (1..%d allowed)",
                            outputs, SPLIT_MAX_OUTPUTS);
    size_t count = 0;
    bool present = false;
    const onnx_tensor *split = onnx_node_input(n, 1);
    if (split) {
        rc = onnx_read_ints(split, "split", when, sizes, outputs, &count, err);
        if (rc == KH_ELIMIT)
            return kh_error_set(err, KH_ESHAPE,
                                "split has %zu sizes for %zu outputs",
                                split->numel, outputs);
        if (rc)
            return rc;
        present = true;
    } else {
        const int64_t *attr;
        count = onnx_attr_ints(n, "split", &attr);
        if (count > outputs)
            return kh_error_set(err, KH_ESHAPE,
                                "split has %zu sizes for %zu outputs", count,
                                outputs);
        if (count) {
            memcpy(sizes, attr, count * sizeof *sizes);
            present = true;
        }
    }
    if (present) {
        if (count != outputs)
            return kh_error_set(err, KH_ESHAPE,
                                "split has %zu sizes for %zu outputs", count,
                                outputs);
        int64_t sum = 0;
        for (size_t i = 0; i < count; i++) {
            if (sizes[i] < 0 || sizes[i] > dim)
                return kh_error_set(err, KH_ESHAPE,
                                    "split[%zu] = %" PRId64 " is outside "
                                    "0..%" PRId64,
                                    i, sizes[i], dim);
            sum += sizes[i];
        }
        if (sum != dim)
            return kh_error_set(err, KH_ESHAPE,
                                "split sizes sum to %" PRId64 ", axis %" PRId64
                                " has %" PRId64,
                                sum, *axis, dim);
        return KH_OK;
    }
    const onnx_attr *num = onnx_attr_find(n, "num_outputs");
    if (num) {
        if (num->type != ONNX_ATTR_INT || num->i != (int64_t)outputs)
            return kh_error_set(err, KH_EINVAL,
                                "num_outputs %" PRId64 " but %zu outputs",
                                num->i, outputs);
        /* Opset 18: ceil(dim / n) per part, the last one gets the rest. */
        int64_t part = (dim + (int64_t)outputs - 1) / (int64_t)outputs;
        int64_t left = dim;
        for (size_t i = 0; i < outputs; i++) {
            sizes[i] = part < left ? part : left;
            left -= sizes[i];
        }
        return KH_OK;
    }
    if (dim % (int64_t)outputs != 0)
        return kh_error_set(err, KH_ESHAPE,
                            "axis %" PRId64 " of size %" PRId64
                            " does not split into %zu equal parts",
                            *axis, dim, outputs);
    for (size_t i = 0; i < outputs; i++)
        sizes[i] = dim / (int64_t)outputs;
    return KH_OK;
}

static int split_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (n->n_outputs > SPLIT_MAX_OUTPUTS)
        return kh_error_set(err, KH_ELIMIT, "too many outputs");
    int64_t axis;
    int64_t *sizes = malloc((n->n_outputs ? n->n_outputs : 1) * sizeof *sizes);
    if (!sizes)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    int rc = split_sizes(n, x, ONNX_AT_PLAN, &axis, sizes, err);
    for (size_t i = 0; rc == KH_OK && i < n->n_outputs; i++) {
        if (!n->outputs[i])
            continue;
        int64_t dims[ONNX_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = sizes[i];
        rc = onnx_tensor_reshape(n->outputs[i], x->dtype, x->rank, dims, err);
    }
    free(sizes);
    return rc;
}

static int split_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    if (x->numel == 0)
        return KH_OK;
    /* Sizes again (an omitted output still takes its part of each row);
     * on the stack for the usual handful of outputs. */
    int64_t small[64], *sizes = small;
    if (n->n_outputs > 64) {
        sizes = malloc(n->n_outputs * sizeof *sizes);
        if (!sizes)
            return kh_error_set(err, KH_ENOMEM, "out of memory");
    }
    int64_t axis;
    int rc = split_sizes(n, x, ONNX_AT_RUN, &axis, sizes, err);
    if (rc == KH_OK) {
        const size_t esize = onnx_dtype_size(x->dtype);
        const size_t outer = onnx_dims_product(x->dims, 0, (int)axis);
        const size_t inner =
            onnx_dims_product(x->dims, (int)axis + 1, x->rank) * esize;
        const size_t row = (size_t)x->dims[axis] * inner;
        size_t start = 0; /* byte offset of this part in a row */
        for (size_t i = 0; i < n->n_outputs; i++) {
            const onnx_tensor *y = n->outputs[i];
            size_t block = (size_t)sizes[i] * inner;
            if (y && block) {
                const unsigned char *src =
                    (const unsigned char *)x->data + start;
                unsigned char *dst = y->data;
                for (size_t o = 0; o < outer; o++)
                    memcpy(dst + o * block, src + o * row, block);
            }
            start += block;
        }
    }
    if (sizes != small)
        free(sizes);
    return rc;
}

const onnx_operator onnx_op_Split = {
    .op_type = "Split",
    .min_opset = 2,
    .reshape = split_reshape,
    .run = split_run,
};
