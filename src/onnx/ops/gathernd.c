/* GatherND: each index tuple (the last axis of indices, length k) picks a
 * slice data[batch, i0..ik-1, ...]; batch_dims (opset 12) leading axes are
 * shared by data and indices. Negative indices count from the end. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"

static int gathernd_check(const onnx_node *n, const onnx_tensor *x,
                          const onnx_tensor *idx, int64_t *b, int64_t *k,
                          kh_error *err) {
    if (idx->dtype != ONNX_INT64)
        return kh_error_set(err, KH_ETYPE, "indices must be int64, got %s",
                            onnx_dtype_name(idx->dtype));
    *b = onnx_attr_int(n, "batch_dims", 0);
    if (x->rank < 1 || idx->rank < 1)
        return kh_error_set(err, KH_ESHAPE, "data and indices need rank >= 1");
    if (*b < 0 || *b >= idx->rank || *b >= x->rank)
        return kh_error_set(err, KH_ERANGE,
                            "batch_dims %" PRId64
                            " must be below both ranks (%d, %d)",
                            *b, x->rank, idx->rank);
    *k = idx->dims[idx->rank - 1];
    if (*k < 1 || *k > x->rank - *b)
        return kh_error_set(err, KH_ESHAPE,
                            "index tuples of length %" PRId64
                            " for data of rank %d with %" PRId64 " batch dims",
                            *k, x->rank, *b);
    for (int d = 0; d < *b; d++)
        if (x->dims[d] != idx->dims[d]) {
            char sx[160], si[160];
            return kh_error_set(err, KH_ESHAPE,
                                "batch dims of data %s and "
                                "indices %s differ",
                                onnx_shape_str(x, sx, sizeof sx),
                                onnx_shape_str(idx, si, sizeof si));
        }
    return KH_OK;
}

static int gathernd_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *idx = onnx_node_input(n, 1);
    if (!x || !idx)
        return kh_error_set(err, KH_EINVAL, "data and indices are required");
    int64_t b, k;
    int rc = gathernd_check(n, x, idx, &b, &k, err);
    if (rc)
        return rc;
    int rank = idx->rank - 1 + x->rank - (int)(b + k);
    if (rank > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ELIMIT, "output rank %d exceeds %d", rank,
                            ONNX_MAX_RANK);
    int64_t dims[ONNX_MAX_RANK];
    int r = 0;
    for (int d = 0; d < idx->rank - 1; d++)
        dims[r++] = idx->dims[d];
    for (int d = (int)(b + k); d < x->rank; d++)
        dims[r++] = x->dims[d];
    return onnx_tensor_reshape(n->outputs[0], x->dtype, rank, dims, err);
}

static int gathernd_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *idx = n->inputs[1];
    onnx_tensor *y = n->outputs[0];
    int64_t b, k;
    int rc = gathernd_check(n, x, idx, &b, &k, err);
    if (rc || y->numel == 0)
        return rc;
    int64_t strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, strides);
    const size_t esize = onnx_dtype_size(x->dtype);
    const size_t batches = onnx_dims_product(x->dims, 0, (int)b);
    const size_t tuples = onnx_dims_product(idx->dims, (int)b, idx->rank - 1);
    const size_t slice = onnx_dims_product(x->dims, (int)(b + k), x->rank);
    const size_t batch_stride = onnx_dims_product(x->dims, (int)b, x->rank);
    const int64_t *tuple = idx->data;
    unsigned char *dst = y->data;
    for (size_t bi = 0; bi < batches; bi++) {
        for (size_t t = 0; t < tuples; t++, tuple += k) {
            int64_t off = 0;
            for (int64_t m = 0; m < k; m++) {
                int64_t dim = x->dims[b + m], j = tuple[m];
                if (j < -dim || j >= dim)
                    return kh_error_set(err, KH_ERANGE,
                                        "index %" PRId64 " is out of range "
                                        "for axis %" PRId64 " of size %" PRId64,
                                        j, b + m, dim);
                off += (j < 0 ? j + dim : j) * strides[b + m];
            }
            memcpy(dst,
                   (const unsigned char *)x->data +
                       (bi * batch_stride + (size_t)off) * esize,
                   slice * esize);
            dst += slice * esize;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_GatherND = {
    .op_type = "GatherND",
    .min_opset = 11,
    .reshape = gathernd_reshape,
    .run = gathernd_run,
};
