/* ScatterND: output = data with each slice updates[t] written (or reduced,
 * opset 16/18) at the index tuple indices[t]. Indices are checked before
 * anything is written. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"
#include "onnx/kernels/scatter.h"

static int scatternd_init(onnx_node *n, kh_error *err) {
    onnx_scatter_reduction r;
    return onnx_scatter_reduction_read(n, &r, err);
}

static int scatternd_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *idx = onnx_node_input(n, 1),
                      *upd = onnx_node_input(n, 2);
    if (!x || !idx || !upd)
        return kh_error_set(err, KH_EINVAL,
                            "data, indices and updates are "
                            "required");
    if (idx->dtype != ONNX_INT64)
        return kh_error_set(err, KH_ETYPE, "indices must be int64, got %s",
                            onnx_dtype_name(idx->dtype));
    if (upd->dtype != x->dtype)
        return kh_error_set(err, KH_ETYPE, "updates are %s, data is %s",
                            onnx_dtype_name(upd->dtype),
                            onnx_dtype_name(x->dtype));
    if (idx->rank < 1)
        return kh_error_set(err, KH_ESHAPE, "indices need rank >= 1");
    int64_t k = idx->dims[idx->rank - 1];
    if (k < 1 || k > x->rank)
        return kh_error_set(err, KH_ESHAPE,
                            "index tuples of length %" PRId64
                            " for data of rank %d",
                            k, x->rank);
    /* updates = indices.shape[:-1] + data.shape[k:] */
    bool ok = upd->rank == idx->rank - 1 + x->rank - (int)k;
    for (int d = 0; ok && d < idx->rank - 1; d++)
        ok = upd->dims[d] == idx->dims[d];
    for (int d = (int)k; ok && d < x->rank; d++)
        ok = upd->dims[idx->rank - 1 + d - k] == x->dims[d];
    if (!ok) {
        char sx[160], si[160], su[160];
        return kh_error_set(err, KH_ESHAPE,
                            "updates %s do not match indices %s and data %s",
                            onnx_shape_str(upd, su, sizeof su),
                            onnx_shape_str(idx, si, sizeof si),
                            onnx_shape_str(x, sx, sizeof sx));
    }
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

static int scatternd_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *idx = n->inputs[1],
                      *upd = n->inputs[2];
    onnx_tensor *y = n->outputs[0];
    onnx_scatter_reduction r;
    int rc = onnx_scatter_reduction_read(n, &r, err);
    if (rc)
        return rc;
    const int64_t k = idx->dims[idx->rank - 1];
    const size_t tuples = idx->numel / (size_t)k;
    const size_t slice = onnx_dims_product(x->dims, (int)k, x->rank);
    const size_t esize = onnx_dtype_size(x->dtype);
    int64_t strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, strides);
    const int64_t *tuple = idx->data;
    for (size_t i = 0; i < idx->numel; i++) {
        int64_t dim = x->dims[i % (size_t)k], j = tuple[i];
        if (j < -dim || j >= dim)
            return kh_error_set(err, KH_ERANGE,
                                "index %" PRId64 " is out of range for axis "
                                "%zu of size %" PRId64,
                                j, i % (size_t)k, dim);
    }
    if (x->numel)
        memcpy(y->data, x->data, x->numel * esize);
    for (size_t t = 0; t < tuples; t++, tuple += k) {
        int64_t off = 0;
        for (int64_t m = 0; m < k; m++) {
            int64_t j = tuple[m];
            off += (j < 0 ? j + x->dims[m] : j) * strides[m];
        }
        onnx_scatter_combine((unsigned char *)y->data + (size_t)off * esize,
                             (const unsigned char *)upd->data +
                                 t * slice * esize,
                             x->dtype, slice, r);
    }
    return KH_OK;
}

const onnx_operator onnx_op_ScatterND = {
    .op_type = "ScatterND",
    .min_opset = 11,
    .init = scatternd_init,
    .reshape = scatternd_reshape,
    .run = scatternd_run,
};
