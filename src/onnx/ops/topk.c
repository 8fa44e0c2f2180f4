/* TopK: the k largest (or smallest, largest=0) elements along axis and
 * their int64 indices, sorted; equal values keep the lower index first. k
 * is an input from opset 10 (attribute before) and must be known when
 * planning. Each line is sorted in scratch (value, index) pairs. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/axes.h"

typedef struct topk_item {
    union {
        float f;
        int64_t i;
    } v;
    int64_t index;
} topk_item;

#define TOPK_COMPARE(name, FIELD, BEFORE)                                      \
    static int name(const void *pa, const void *pb) {                          \
        const topk_item *a = pa, *b = pb;                                      \
        if (a->v.FIELD != b->v.FIELD)                                          \
            return (a->v.FIELD BEFORE b->v.FIELD) ? -1 : 1;                    \
        return a->index < b->index ? -1 : a->index > b->index;                 \
    }
TOPK_COMPARE(float_largest, f, >)
TOPK_COMPARE(float_smallest, f, <)
TOPK_COMPARE(int_largest, i, >)
TOPK_COMPARE(int_smallest, i, <)

static int topk_read(const onnx_node *n, const onnx_tensor *x,
                     onnx_read_when when, int64_t *k, int64_t *axis,
                     kh_error *err) {
    int rc = onnx_axis_normalize(onnx_attr_int(n, "axis", -1), x->rank, "axis",
                                 axis, err);
    if (rc)
        return rc;
    const onnx_tensor *kt = onnx_node_input(n, 1);
    if (kt) {
        int64_t v[1];
        size_t count;
        rc = onnx_read_ints(kt, "k", when, v, 1, &count, err);
        if (rc)
            return rc;
        if (count != 1)
            return kh_error_set(err, KH_ESHAPE, "k must have one value");
        *k = v[0];
    } else {
        *k = onnx_attr_int(n, "k", -1);
    }
    if (*k < 0 || *k > x->dims[*axis])
        return kh_error_set(err, KH_ERANGE,
                            "k = %" PRId64 " is outside "
                            "0..%" PRId64,
                            *k, x->dims[*axis]);
    return KH_OK;
}

static int topk_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (x->dtype != ONNX_FLOAT && x->dtype != ONNX_INT32 &&
        x->dtype != ONNX_INT64)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    if (x->rank < 1)
        return kh_error_set(err, KH_ESHAPE, "input needs rank >= 1");
    int64_t k, axis;
    int rc = topk_read(n, x, ONNX_AT_PLAN, &k, &axis, err);
    if (rc)
        return rc;
    int64_t dims[ONNX_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    rc = onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, dims, err);
    onnx_tensor *indices = onnx_node_output(n, 1);
    if (!rc && indices)
        rc = onnx_tensor_reshape(indices, ONNX_INT64, x->rank, dims, err);
    n->scratch_bytes = (size_t)x->dims[axis] * sizeof(topk_item);
    return rc;
}

static int topk_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *values = n->outputs[0], *indices = onnx_node_output(n, 1);
    int64_t k, axis;
    int rc = topk_read(n, x, ONNX_AT_RUN, &k, &axis, err);
    if (rc || values->numel == 0)
        return rc;
    const bool largest = onnx_attr_int(n, "largest", 1) != 0;
    const bool is_float = x->dtype == ONNX_FLOAT;
    int (*cmp)(const void *, const void *) =
        is_float ? (largest ? float_largest : float_smallest)
                 : (largest ? int_largest : int_smallest);
    const size_t outer = onnx_dims_product(x->dims, 0, (int)axis);
    const size_t len = (size_t)x->dims[axis];
    const size_t inner = onnx_dims_product(x->dims, (int)axis + 1, x->rank);
    const size_t esize = onnx_dtype_size(x->dtype);
    topk_item *items = ex->scratch;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            for (size_t j = 0; j < len; j++) {
                size_t at = (o * len + j) * inner + i;
                if (is_float)
                    items[j].v.f = ((const float *)x->data)[at];
                else
                    items[j].v.i = onnx_tensor_get_i64(x, at);
                items[j].index = (int64_t)j;
            }
            qsort(items, len, sizeof *items, cmp);
            for (size_t j = 0; j < (size_t)k; j++) {
                size_t at = (o * (size_t)k + j) * inner + i;
                const unsigned char *src =
                    (const unsigned char *)x->data +
                    ((o * len + (size_t)items[j].index) * inner + i) * esize;
                memcpy((unsigned char *)values->data + at * esize, src, esize);
                if (indices)
                    ((int64_t *)indices->data)[at] = items[j].index;
            }
        }
    return KH_OK;
}

const onnx_operator onnx_op_TopK = {
    .op_type = "TopK",
    .min_opset = 1,
    .reshape = topk_reshape,
    .run = topk_run,
};
