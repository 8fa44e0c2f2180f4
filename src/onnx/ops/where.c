/* Where(condition, X, Y): numpy broadcasting of all three; any element
 * type, moved by size. */
#include <string.h>

#include "onnx/kernels/broadcast.h"

typedef struct where_ctx {
    unsigned char *out;
    const uint8_t *cond;
    const unsigned char *x, *y;
    size_t esize;
    int64_t sc, sx, sy;
} where_ctx;

#define SELECT_ROW(T)                                                          \
    do {                                                                       \
        T *o = (T *)(void *)(c->out + (size_t)off[0] * sizeof(T));             \
        const uint8_t *k = c->cond + off[1];                                   \
        const T *a = (const T *)(const void *)c->x + off[2];                   \
        const T *b = (const T *)(const void *)c->y + off[3];                   \
        for (size_t i = 0; i < count; i++)                                     \
            o[i] = k[(int64_t)i * c->sc] ? a[(int64_t)i * c->sx]               \
                                         : b[(int64_t)i * c->sy];              \
    } while (0)

static void where_row(void *ctx, const int64_t *off, size_t count) {
    const where_ctx *c = ctx;
    switch (c->esize) {
    case 1: SELECT_ROW(uint8_t); break;
    case 2: SELECT_ROW(uint16_t); break;
    case 4: SELECT_ROW(uint32_t); break;
    default: SELECT_ROW(uint64_t); break;
    }
}

static int where_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *c = onnx_node_input(n, 0), *x = onnx_node_input(n, 1),
                      *y = onnx_node_input(n, 2);
    if (!c || !x || !y)
        return kh_error_set(err, KH_EINVAL, "three inputs are required");
    if (c->dtype != ONNX_BOOL)
        return kh_error_set(err, KH_ETYPE, "condition must be bool, got %s",
                            onnx_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return kh_error_set(err, KH_ETYPE, "X is %s but Y is %s",
                            onnx_dtype_name(x->dtype),
                            onnx_dtype_name(y->dtype));
    size_t esize = onnx_dtype_size(x->dtype);
    if (esize != 1 && esize != 2 && esize != 4 && esize != 8)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    const onnx_tensor *all[3] = {c, x, y};
    int rc = onnx_broadcast_shape(all, 3, &rank, dims, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int where_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    onnx_tensor *out = n->outputs[0];
    if (out->numel == 0)
        return KH_OK;
    onnx_nditer it;
    onnx_nditer_begin(&it, out->rank, out->dims);
    onnx_nditer_add_contiguous(&it);
    for (int i = 0; i < 3; i++)
        onnx_nditer_add_broadcast(&it, n->inputs[i]);
    onnx_nditer_seal(&it);
    where_ctx c = {out->data,
                   n->inputs[0]->data,
                   n->inputs[1]->data,
                   n->inputs[2]->data,
                   onnx_dtype_size(out->dtype),
                   onnx_nditer_row_stride(&it, 1),
                   onnx_nditer_row_stride(&it, 2),
                   onnx_nditer_row_stride(&it, 3)};
    onnx_nditer_run(ex, &it, where_row, &c);
    return KH_OK;
}

const onnx_operator onnx_op_Where = {
    .op_type = "Where",
    .min_opset = 9,
    .reshape = where_reshape,
    .run = where_run,
};
