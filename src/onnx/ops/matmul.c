/* MatMul (opset 1+): numpy matmul on float tensors: batch dimensions
 * broadcast, a 1-D A is a row [1, K] and a 1-D B a column [K, 1], whose
 * dimension is then dropped from Y. */
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/matmul.h"
#include "onnx/op.h"

typedef struct matmul_state {
    size_t m, k, n;
    int batch_rank;
    int64_t batch[ONNX_MAX_RANK];
    size_t a_stride[ONNX_MAX_RANK], b_stride[ONNX_MAX_RANK]; /* in matrices */
    size_t a_matrices, batches;
    size_t off_packed, packed_floats; /* per A matrix */
} matmul_state;

static int matmul_init(onnx_node *n, kh_error *err) {
    n->state = calloc(1, sizeof(matmul_state));
    return n->state ? KH_OK : kh_error_set(err, KH_ENOMEM, "out of memory");
}

static void matmul_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

/* Strides (in whole matrices) of a tensor's batch dims against the output
 * batch dims; 0 where it broadcasts. */
static void batch_strides(const onnx_tensor *t, int out_rank, size_t *stride) {
    int rank = t->rank > 2 ? t->rank - 2 : 0;
    size_t s = 1;
    for (int i = out_rank - 1; i >= 0; i--) {
        int j = i - (out_rank - rank);
        if (j < 0 || t->dims[j] == 1) {
            stride[i] = 0;
        } else {
            stride[i] = s;
            s *= (size_t)t->dims[j];
        }
    }
}

static int matmul_reshape(onnx_node *n, kh_error *err) {
    matmul_state *st = n->state;
    const onnx_tensor *a = onnx_node_input(n, 0), *b = onnx_node_input(n, 1);
    if (!a || !b)
        return kh_error_set(err, KH_EINVAL, "inputs A and B are required");
    if (a->dtype != ONNX_FLOAT || b->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(a->dtype != ONNX_FLOAT ? a->dtype : b->dtype));
    char as[96], bs[96];
    if (a->rank < 1 || b->rank < 1)
        return kh_error_set(err, KH_ESHAPE, "A %s and B %s must have rank >= 1",
                            onnx_shape_str(a, as, sizeof as), onnx_shape_str(b, bs, sizeof bs));
    int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t bk = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t nn = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != bk)
        return kh_error_set(err, KH_ESHAPE, "A %s and B %s: inner dimensions differ",
                            onnx_shape_str(a, as, sizeof as), onnx_shape_str(b, bs, sizeof bs));
    int ab = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    int rank = ab > bb ? ab : bb;
    int64_t dims[ONNX_MAX_RANK];
    size_t batches = 1;
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - ab), ib = i - (rank - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return kh_error_set(err, KH_ESHAPE, "A %s and B %s: batch dimensions do not broadcast",
                                onnx_shape_str(a, as, sizeof as), onnx_shape_str(b, bs, sizeof bs));
        dims[i] = da == 1 ? db : da;
        st->batch[i] = dims[i];
        batches *= (size_t)dims[i];
    }
    int y_rank = rank;
    if (a->rank > 1)
        dims[y_rank++] = m;
    if (b->rank > 1)
        dims[y_rank++] = nn;
    int rc = onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, y_rank, dims, err);
    if (rc)
        return rc;
    st->m = (size_t)m;
    st->k = (size_t)k;
    st->n = (size_t)nn;
    st->batch_rank = rank;
    st->batches = batches;
    batch_strides(a, rank, st->a_stride);
    batch_strides(b, rank, st->b_stride);
    st->a_matrices = st->m && st->k ? a->numel / (st->m * st->k) : 0;
    st->packed_floats = sgemm_packed_a_floats(st->m, st->k);
    st->off_packed = matmul_scratch_bytes(st->k, st->n, false);
    n->scratch_bytes = st->off_packed + st->a_matrices * st->packed_floats * sizeof(float);
    return KH_OK;
}

static int matmul_op_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const matmul_state *st = n->state;
    const float *a = n->inputs[0]->data, *b = n->inputs[1]->data;
    float *y = n->outputs[0]->data;
    if (!n->outputs[0]->numel)
        return KH_OK;
    unsigned char *scratch = ex->scratch;
    float *packed = (float *)(scratch + st->off_packed);
    for (size_t i = 0; i < st->a_matrices; i++)
        sgemm_pack_a(a + i * st->m * st->k, (ptrdiff_t)st->k, 1, st->m, st->k, 1.0f,
                     packed + i * st->packed_floats);
    for (size_t bi = 0; bi < st->batches; bi++) {
        size_t rest = bi, a_index = 0, b_index = 0;
        for (int d = st->batch_rank - 1; d >= 0; d--) {
            size_t i = rest % (size_t)st->batch[d];
            rest /= (size_t)st->batch[d];
            a_index += i * st->a_stride[d];
            b_index += i * st->b_stride[d];
        }
        sgemm_params p = {.m = st->m, .n = st->n, .k = st->k,
                          .a_packed = packed + a_index * st->packed_floats,
                          .c = y + bi * st->m * st->n, .ldc = st->n};
        matmul_run(ex, &p, b + b_index * st->k * st->n, st->n, false, scratch);
    }
    return KH_OK;
}

const onnx_operator onnx_op_MatMul = {
    .op_type = "MatMul",
    .min_opset = 1,
    .init = matmul_init,
    .reshape = matmul_reshape,
    .run = matmul_op_run,
    .exit = matmul_exit,
};
