/* Gemm and MatMul against plain loops: transposes, alpha/beta, every C
 * broadcast, batched broadcasting, 1-D operands, every instruction set and
 * 1 or 3 threads. Tolerance: 1e-5 * (K + 1) + 1e-5 * |want|.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_ops_b_harness.h"

typedef struct gemm_case {
    int64_t m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
    int c_rank;       /* -1: no C */
    int64_t c_dims[2];
} gemm_case;

static void run_gemm(const gemm_case *gc, sgemm_isa isa, int threads) {
    uint32_t seed = 11;
    const int64_t m = gc->m, n = gc->n, k = gc->k;
    float *a = th_random_floats((size_t)(m * k), &seed), *b = th_random_floats((size_t)(k * n), &seed);
    size_t c_count = gc->c_rank < 0 ? 0 : 1;
    for (int i = 0; i < gc->c_rank; i++)
        c_count *= (size_t)gc->c_dims[i];
    float *c = th_random_floats(c_count, &seed);
    th_node t;
    th_init(&t, "Gemm", 13);
    int64_t adims[2] = {gc->trans_a ? k : m, gc->trans_a ? m : k};
    int64_t bdims[2] = {gc->trans_b ? n : k, gc->trans_b ? k : n};
    th_float_input(&t, "A", 2, adims, a, 0);
    th_float_input(&t, "B", 2, bdims, b, ONNX_TENSOR_CONST);
    if (gc->c_rank >= 0)
        th_float_input(&t, "C", gc->c_rank, gc->c_dims, c, ONNX_TENSOR_CONST);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_int(&t, "transA", gc->trans_a);
    th_attr_int(&t, "transB", gc->trans_b);
    th_attr_float(&t, "alpha", gc->alpha);
    th_attr_float(&t, "beta", gc->beta);
    kh_error err = {0};
    assert_true(sgemm_isa_select(isa));
    int rc = th_run(&t, threads, &err);
    sgemm_isa_select(sgemm_isa_best());
    if (rc)
        fprintf(stderr, "gemm: %s\n", err.message);
    assert_int_equal(rc, KH_OK);
    assert_int_equal(y->dims[0], m);
    assert_int_equal(y->dims[1], n);
    float *want = malloc((size_t)(m * n) * sizeof *want);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++) {
                float av = gc->trans_a ? a[q * m + i] : a[i * k + q];
                float bv = gc->trans_b ? b[j * k + q] : b[q * n + j];
                s += (double)av * bv;
            }
            float cv = 0;
            if (gc->c_rank >= 0) {
                int64_t cm = gc->c_rank == 2 ? gc->c_dims[0] : 1;
                int64_t cn = gc->c_rank >= 1 ? gc->c_dims[gc->c_rank - 1] : 1;
                cv = c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
            }
            want[i * n + j] = gc->alpha * (float)s + gc->beta * cv;
        }
    char what[96];
    snprintf(what, sizeof what, "gemm %lldx%lldx%lld [%s, %d threads]", (long long)m,
             (long long)n, (long long)k, sgemm_isa_name(isa), threads);
    assert_int_equal(th_compare(what, y->data, want, (size_t)(m * n), 1e-5f * (float)(k + 1), 1e-5f), -1);
    free(want);
    th_free(&t);
    free(a);
    free(b);
    free(c);
}

static const gemm_case gemm_cases[] = {
    {3, 5, 4, false, false, 1.0f, 1.0f, -1, {0}},
    {17, 29, 33, true, false, 0.5f, 2.0f, 2, {17, 29}},
    {9, 50, 400, false, true, 1.0f, 1.0f, 1, {50}},
    {9, 50, 400, true, true, -1.5f, 0.25f, 0, {0}},
    {16, 7, 256, false, true, 1.0f, 1.0f, 2, {16, 1}},
    {1, 7, 256, false, false, 1.0f, 0.0f, 2, {1, 7}},
    {5, 4, 3, false, false, 1.0f, 1.0f, 2, {1, 1}},
};

static void test_gemm_matches_reference(void **state) {
    (void)state;
    sgemm_isa isas[3];
    size_t n_isas = th_isas(isas);
    for (size_t c = 0; c < sizeof gemm_cases / sizeof gemm_cases[0]; c++)
        for (size_t i = 0; i < n_isas; i++)
            for (int threads = 1; threads <= 3; threads += 2)
                run_gemm(&gemm_cases[c], isas[i], threads);
}

typedef struct matmul_case {
    int ra, rb;
    int64_t a[4], b[4];
} matmul_case;

static void run_matmul(const matmul_case *mc, int threads) {
    uint32_t seed = 23;
    size_t an = 1, bn = 1;
    for (int i = 0; i < mc->ra; i++)
        an *= (size_t)mc->a[i];
    for (int i = 0; i < mc->rb; i++)
        bn *= (size_t)mc->b[i];
    float *a = th_random_floats(an, &seed), *b = th_random_floats(bn, &seed);
    th_node t;
    th_init(&t, "MatMul", 13);
    th_float_input(&t, "A", mc->ra, mc->a, a, 0);
    th_float_input(&t, "B", mc->rb, mc->b, b, 0);
    onnx_tensor *y = th_output(&t, "Y");
    kh_error err = {0};
    int rc = th_run(&t, threads, &err);
    if (rc)
        fprintf(stderr, "matmul: %s\n", err.message);
    assert_int_equal(rc, KH_OK);
    /* Reference: promote 1-D operands, broadcast batch dims. */
    int64_t M = mc->ra == 1 ? 1 : mc->a[mc->ra - 2], K = mc->a[mc->ra - 1];
    int64_t N = mc->rb == 1 ? 1 : mc->b[mc->rb - 1];
    int ab = mc->ra > 2 ? mc->ra - 2 : 0, bb = mc->rb > 2 ? mc->rb - 2 : 0;
    int br = ab > bb ? ab : bb;
    int64_t bd[4], batches = 1;
    for (int i = 0; i < br; i++) {
        int ia = i - (br - ab), ib = i - (br - bb);
        int64_t da = ia >= 0 ? mc->a[ia] : 1, db = ib >= 0 ? mc->b[ib] : 1;
        bd[i] = da > db ? da : db;
        batches *= bd[i];
    }
    int want_rank = br + (mc->ra > 1) + (mc->rb > 1);
    assert_int_equal(y->rank, want_rank);
    float *want = malloc((size_t)(batches * M * N) * sizeof *want);
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t rest = bi, aoff = 0, boff = 0, as = 1, bs = 1;
        for (int d = br - 1; d >= 0; d--) {
            int64_t i = rest % bd[d];
            rest /= bd[d];
            int ia = d - (br - ab), ib = d - (br - bb);
            if (ia >= 0) {
                aoff += (mc->a[ia] == 1 ? 0 : i) * as;
                as *= mc->a[ia];
            }
            if (ib >= 0) {
                boff += (mc->b[ib] == 1 ? 0 : i) * bs;
                bs *= mc->b[ib];
            }
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t q = 0; q < K; q++)
                    s += (double)a[aoff * M * K + i * K + q] * b[boff * K * N + q * N + j];
                want[(bi * M + i) * N + j] = (float)s;
            }
    }
    assert_int_equal(y->numel, (size_t)(batches * M * N));
    assert_int_equal(th_compare("matmul", y->data, want, y->numel, 1e-5f * (float)(K + 1), 1e-5f), -1);
    free(want);
    th_free(&t);
    free(a);
    free(b);
}

static const matmul_case matmul_cases[] = {
    {2, 2, {3, 4}, {4, 5}},
    {1, 2, {6}, {6, 9}},
    {2, 1, {7, 6}, {6}},
    {1, 1, {10}, {10}},
    {3, 2, {2, 3, 40}, {40, 70}},
    {4, 3, {2, 1, 5, 3}, {3, 3, 4}},
    {2, 4, {9, 300}, {2, 2, 300, 17}},
};

static void test_matmul_matches_reference(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof matmul_cases / sizeof matmul_cases[0]; c++)
        for (int threads = 1; threads <= 2; threads++)
            run_matmul(&matmul_cases[c], threads);
}

static void test_matmul_rejects_inner_mismatch(void **state) {
    (void)state;
    float a[6] = {0}, b[6] = {0};
    th_node t;
    th_init(&t, "MatMul", 13);
    th_float_input(&t, "A", 2, (int64_t[]){2, 3}, a, 0);
    th_float_input(&t, "B", 2, (int64_t[]){2, 3}, b, 0);
    th_output(&t, "Y");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_ESHAPE);
    assert_non_null(strstr(err.message, "[2,3]"));
    th_free(&t);
}

static void test_gemm_rejects_bad_c(void **state) {
    (void)state;
    float a[6] = {0}, b[6] = {0}, c[3] = {0};
    th_node t;
    th_init(&t, "Gemm", 13);
    th_float_input(&t, "A", 2, (int64_t[]){2, 3}, a, 0);
    th_float_input(&t, "B", 2, (int64_t[]){3, 2}, b, 0);
    th_float_input(&t, "C", 1, (int64_t[]){3}, c, 0);
    th_output(&t, "Y");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_ESHAPE);
    th_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_reference),
        cmocka_unit_test(test_matmul_matches_reference),
        cmocka_unit_test(test_matmul_rejects_inner_mismatch),
        cmocka_unit_test(test_gemm_rejects_bad_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
