/* GatherElements (opset 11+): out[c] = data[c with c[axis] replaced by
 * indices[c]]; the output has the indices' shape. Negative indices count
 * from the end; out-of-range ones are an error. */
#include <inttypes.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"

static int gatherelements_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *idx = onnx_node_input(n, 1);
    if (!x || !idx)
        return kh_error_set(err, KH_EINVAL, "data and indices are required");
    if (idx->dtype != ONNX_INT64 && idx->dtype != ONNX_INT32)
        return kh_error_set(err, KH_ETYPE,
                            "indices must be int32 or int64, "
                            "got %s",
                            onnx_dtype_name(idx->dtype));
    int64_t axis;
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", 0), x->rank, "axis",
                                 &axis, err);
    if (rc)
        return rc;
    bool fits = idx->rank == x->rank;
    for (int d = 0; fits && d < x->rank; d++)
        fits = d == axis || idx->dims[d] <= x->dims[d];
    if (!fits) {
        char si[160], sx[160];
        return kh_error_set(err, KH_ESHAPE,
                            "indices %s do not fit data %s outside axis "
                            "%" PRId64,
                            onnx_shape_str(idx, si, sizeof si),
                            onnx_shape_str(x, sx, sizeof sx), axis);
    }
    return onnx_tensor_reshape(n->outputs[0], x->dtype, idx->rank, idx->dims,
                               err);
}

#define GATHER_ELEMENTS(T)                                                     \
    do {                                                                       \
        const T *src = x->data;                                                \
        T *dst = y->data;                                                      \
        for (size_t i = 0; i < idx->numel; i++) {                              \
            int64_t j = onnx_tensor_get_i64(idx, i);                           \
            if (j < -dim || j >= dim)                                          \
                return kh_error_set(err, KH_ERANGE,                            \
                                    "index %" PRId64 " (at %zu) is out of "    \
                                    "range for axis %" PRId64                  \
                                    " of size %" PRId64,                       \
                                    j, i, axis, dim);                          \
            if (j < 0)                                                         \
                j += dim;                                                      \
            int64_t off = 0;                                                   \
            for (int d = 0; d < x->rank; d++)                                  \
                off += (d == axis ? j : coord[d]) * strides[d];                \
            dst[i] = src[off];                                                 \
            for (int d = x->rank - 1; d >= 0; d--) {                           \
                if (++coord[d] < idx->dims[d])                                 \
                    break;                                                     \
                coord[d] = 0;                                                  \
            }                                                                  \
        }                                                                      \
    } while (0)

static int gatherelements_run(onnx_node *n, const onnx_exec *ex,
                              kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *idx = n->inputs[1];
    onnx_tensor *y = n->outputs[0];
    int64_t axis = onnx_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    const int64_t dim = x->dims[axis];
    int64_t strides[ONNX_MAX_RANK], coord[ONNX_MAX_RANK] = {0};
    onnx_contiguous_strides(x->rank, x->dims, strides);
    switch (onnx_dtype_size(x->dtype)) {
    case 1: GATHER_ELEMENTS(uint8_t); break;
    case 4: GATHER_ELEMENTS(uint32_t); break;
    case 8: GATHER_ELEMENTS(uint64_t); break;
    default:
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    }
    return KH_OK;
}

const onnx_operator onnx_op_GatherElements = {
    .op_type = "GatherElements",
    .min_opset = 11,
    .reshape = gatherelements_reshape,
    .run = gatherelements_run,
};
