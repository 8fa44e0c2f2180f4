/* Slice: starts/ends/axes attributes before opset 10, inputs (with steps)
 * from 10. Out-of-range bounds clamp as numpy does; negative steps walk
 * backwards. The result is a strided view copied out. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/copy.h"

typedef struct slice_plan {
    int64_t dims[ONNX_MAX_RANK];    /* output shape */
    int64_t strides[ONNX_MAX_RANK]; /* source element strides */
    int64_t offset;                 /* source element of output [0,...] */
} slice_plan;

static int read_list(const onnx_node *n, size_t input, const char *name,
                     onnx_read_when when, int64_t *out, size_t *count,
                     bool *present, kh_error *err) {
    /* Opset 10 moved every list to inputs; a model never mixes the two. */
    size_t from = n->n_inputs > 1 ? input : SIZE_MAX;
    int rc = onnx_ints_from_input_or_attr(n, from, name, when, out,
                                          ONNX_MAX_RANK, count, present, err);
    if (rc == KH_ELIMIT)
        return kh_error_set(err, KH_ELIMIT, "%s has more than %d values", name,
                            ONNX_MAX_RANK);
    return rc;
}

static int slice_plan_make(const onnx_node *n, const onnx_tensor *x,
                           onnx_read_when when, slice_plan *plan,
                           kh_error *err) {
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK],
        steps[ONNX_MAX_RANK];
    size_t n_starts, n_ends, n_axes, n_steps;
    bool has_starts, has_ends, has_axes, has_steps;
    int rc;
    if ((rc = read_list(n, 1, "starts", when, starts, &n_starts, &has_starts,
                        err)) ||
        (rc = read_list(n, 2, "ends", when, ends, &n_ends, &has_ends, err)) ||
        (rc = read_list(n, 3, "axes", when, axes, &n_axes, &has_axes, err)))
        return rc;
    has_steps = false;
    n_steps = 0;
    if (n->n_inputs > 4 &&
        (rc = read_list(n, 4, "steps", when, steps, &n_steps, &has_steps, err)))
        return rc;
    if (!has_starts || !has_ends)
        return kh_error_set(err, KH_EINVAL, "starts and ends are required");
    if (n_starts != n_ends)
        return kh_error_set(err, KH_ESHAPE, "%zu starts but %zu ends", n_starts,
                            n_ends);
    if (has_axes && n_axes != n_starts)
        return kh_error_set(err, KH_ESHAPE, "%zu axes for %zu starts", n_axes,
                            n_starts);
    if (has_steps && n_steps != n_starts)
        return kh_error_set(err, KH_ESHAPE, "%zu steps for %zu starts", n_steps,
                            n_starts);
    if (n_starts > (size_t)x->rank)
        return kh_error_set(err, KH_ESHAPE, "%zu starts for rank %d", n_starts,
                            x->rank);
    if (!has_axes)
        for (size_t i = 0; i < n_starts; i++)
            axes[i] = (int64_t)i;
    bool mask[ONNX_MAX_RANK];
    rc = onnx_axes_normalize(axes, n_starts, x->rank, mask, err);
    if (rc)
        return rc;

    int64_t in_strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, in_strides);
    for (int d = 0; d < x->rank; d++) {
        plan->dims[d] = x->dims[d];
        plan->strides[d] = in_strides[d];
    }
    plan->offset = 0;
    for (size_t i = 0; i < n_starts; i++) {
        const int64_t d = axes[i], dim = x->dims[d];
        const int64_t step = has_steps ? steps[i] : 1;
        if (step == 0)
            return kh_error_set(err, KH_EINVAL, "steps[%zu] is 0", i);
        int64_t start = starts[i], end = ends[i];
        if (start < 0)
            start += dim;
        if (end < 0)
            end += dim;
        int64_t count;
        if (dim == 0) {
            count = 0;
            start = 0;
        } else if (step > 0) {
            start = start < 0 ? 0 : start > dim ? dim : start;
            end = end < 0 ? 0 : end > dim ? dim : end;
            count =
                end <= start
                    ? 0
                    : (int64_t)(((uint64_t)(end - start) + (uint64_t)step - 1) /
                                (uint64_t)step);
        } else {
            start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
            end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
            uint64_t back = 0 - (uint64_t)step; /* -step without overflow */
            count =
                start <= end
                    ? 0
                    : (int64_t)(((uint64_t)(start - end) + back - 1) / back);
        }
        plan->dims[d] = count;
        if (count > 0)
            plan->offset += start * in_strides[d];
        /* count <= dim, so step matters only when count > 1, where
         * |step| < dim: the product cannot overflow. */
        plan->strides[d] = count > 1 ? step * in_strides[d] : in_strides[d];
    }
    return KH_OK;
}

static int slice_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    slice_plan plan;
    int rc = slice_plan_make(n, x, ONNX_AT_PLAN, &plan, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, plan.dims,
                               err);
}

static int slice_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    slice_plan plan;
    int rc = slice_plan_make(n, x, ONNX_AT_RUN, &plan, err);
    if (rc)
        return rc;
    const size_t esize = onnx_dtype_size(x->dtype);
    onnx_strided_copy(ex, y->data,
                      (const unsigned char *)x->data +
                          plan.offset * (int64_t)esize,
                      esize, x->rank, plan.dims, plan.strides);
    return KH_OK;
}

const onnx_operator onnx_op_Slice = {
    .op_type = "Slice",
    .min_opset = 1,
    .reshape = slice_reshape,
    .run = slice_run,
};
