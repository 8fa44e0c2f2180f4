/* Gemm (opset 1+): Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A
 * (M x K), B' = transB ? B^T : B (K x N) and C (optional from opset 11)
 * broadcast to M x N. */
#include <stdlib.h>

#include "onnx/kernels/matmul.h"
#include "onnx/op.h"

typedef struct gemm_state {
    float alpha, beta;
    bool trans_a, trans_b;
    size_t m, k, n;
    size_t c_row_stride, c_col_stride; /* 0 where C broadcasts */
    size_t off_packed;
} gemm_state;

static int gemm_init(onnx_node *n, kh_error *err) {
    gemm_state *st = calloc(1, sizeof *st);
    if (!st)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = st;
    st->alpha = onnx_attr_float(n, "alpha", 1.0f);
    st->beta = onnx_attr_float(n, "beta", 1.0f);
    st->trans_a = onnx_attr_int(n, "transA", 0) != 0;
    st->trans_b = onnx_attr_int(n, "transB", 0) != 0;
    return KH_OK;
}

static void gemm_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

static int gemm_reshape(onnx_node *n, kh_error *err) {
    gemm_state *st = n->state;
    const onnx_tensor *a = onnx_node_input(n, 0), *b = onnx_node_input(n, 1),
                      *c = onnx_node_input(n, 2);
    if (!a || !b)
        return kh_error_set(err, KH_EINVAL, "inputs A and B are required");
    if (a->dtype != ONNX_FLOAT || b->dtype != ONNX_FLOAT || (c && c->dtype != ONNX_FLOAT))
        return kh_error_set(err, KH_EUNSUPPORTED, "only float inputs are supported");
    char as[96], bs[96], cs[96];
    if (a->rank != 2 || b->rank != 2)
        return kh_error_set(err, KH_ESHAPE, "A %s and B %s must be matrices",
                            onnx_shape_str(a, as, sizeof as), onnx_shape_str(b, bs, sizeof bs));
    int64_t m = st->trans_a ? a->dims[1] : a->dims[0], k = st->trans_a ? a->dims[0] : a->dims[1];
    int64_t bk = st->trans_b ? b->dims[1] : b->dims[0], nn = st->trans_b ? b->dims[0] : b->dims[1];
    if (k != bk)
        return kh_error_set(err, KH_ESHAPE, "A %s (transA %d) and B %s (transB %d): inner dimensions differ",
                            onnx_shape_str(a, as, sizeof as), st->trans_a,
                            onnx_shape_str(b, bs, sizeof bs), st->trans_b);
    st->c_row_stride = st->c_col_stride = 0;
    if (c) {
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if (c->rank > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != nn))
            return kh_error_set(err, KH_ESHAPE, "C %s does not broadcast to [%lld,%lld]",
                                onnx_shape_str(c, cs, sizeof cs), (long long)m, (long long)nn);
        st->c_col_stride = cn == 1 ? 0 : 1;
        st->c_row_stride = cm == 1 ? 0 : (size_t)cn;
    }
    st->m = (size_t)m;
    st->k = (size_t)k;
    st->n = (size_t)nn;
    st->off_packed = matmul_scratch_bytes(st->k, st->n, st->trans_b);
    n->scratch_bytes = st->off_packed + sgemm_packed_a_floats(st->m, st->k) * sizeof(float);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, 2, (int64_t[]){m, nn}, err);
}

static int gemm_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const gemm_state *st = n->state;
    const onnx_tensor *a = n->inputs[0], *b = n->inputs[1], *c = onnx_node_input(n, 2);
    float *y = n->outputs[0]->data;
    if (!n->outputs[0]->numel)
        return KH_OK;
    bool add_c = c && st->beta != 0.0f;
    if (add_c) {
        const float *cv = c->data;
        for (size_t i = 0; i < st->m; i++)
            for (size_t j = 0; j < st->n; j++)
                y[i * st->n + j] = st->beta * cv[i * st->c_row_stride + j * st->c_col_stride];
    }
    unsigned char *scratch = ex->scratch;
    float *packed = (float *)(scratch + st->off_packed);
    /* A'[i][j]: A[i][j] or A[j][i]; alpha folded into the packed copy. */
    if (st->trans_a)
        sgemm_pack_a(a->data, 1, (ptrdiff_t)st->m, st->m, st->k, st->alpha, packed);
    else
        sgemm_pack_a(a->data, (ptrdiff_t)st->k, 1, st->m, st->k, st->alpha, packed);
    sgemm_params p = {.m = st->m, .n = st->n, .k = st->k, .a_packed = packed,
                      .c = y, .ldc = st->n, .accumulate = add_c};
    matmul_run(ex, &p, b->data, st->trans_b ? st->k : st->n, st->trans_b, scratch);
    return KH_OK;
}

const onnx_operator onnx_op_Gemm = {
    .op_type = "Gemm",
    .min_opset = 1,
    .init = gemm_init,
    .reshape = gemm_reshape,
    .run = gemm_run,
    .exit = gemm_exit,
};
