/* MaxPool / AveragePool / global pools against plain loops written here, on
 * odd sizes, strides 1-3, dilations, pads, ceil_mode, auto_pad and 1-D to
 * 3-D, with every instruction set (the AVX-512 path covers 2-D max pooling
 * with stride 1 or 2). Max pooling must match exactly; averages within
 * 1e-6 + 1e-6 * |want|.
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_ops_b_harness.h"

typedef struct pool_case {
    const char *name;
    bool average;
    int spatial;
    int64_t n, c;
    int64_t in[3], kernel[3], stride[3], dilation[3], pads[6];
    const char *auto_pad;
    bool ceil_mode, count_include_pad;
} pool_case;

/* Output size and begin pad of axis i, as ONNX defines them. */
static int64_t out_size(const pool_case *pc, int i, int64_t *pb, int64_t *pe) {
    int64_t in = pc->in[i], k = pc->kernel[i];
    int64_t s = pc->stride[i] ? pc->stride[i] : 1, d = pc->dilation[i] ? pc->dilation[i] : 1;
    int64_t span = (k - 1) * d + 1;
    if (pc->auto_pad && !strcmp(pc->auto_pad, "VALID")) {
        *pb = *pe = 0;
        return (in - span) / s + 1;
    }
    if (pc->auto_pad) {
        int64_t out = (in + s - 1) / s, total = (out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        *pb = !strcmp(pc->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
        *pe = total - *pb;
        return out;
    }
    *pb = pc->pads[i];
    *pe = pc->pads[i + pc->spatial];
    double q = (double)(in + *pb + *pe - span) / (double)s;
    int64_t out = (int64_t)(pc->ceil_mode ? ceil(q) : floor(q)) + 1;
    if (pc->ceil_mode && (out - 1) * s >= in + *pb)
        out--;
    return out;
}

static void reference(const pool_case *pc, const float *x, float *y, int64_t *idx) {
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
    int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, out[3] = {1, 1, 1};
    int lead = 3 - pc->spatial;
    for (int i = 0; i < pc->spatial; i++) {
        in[lead + i] = pc->in[i];
        k[lead + i] = pc->kernel[i];
        s[lead + i] = pc->stride[i] ? pc->stride[i] : 1;
        d[lead + i] = pc->dilation[i] ? pc->dilation[i] : 1;
        out[lead + i] = out_size(pc, i, &pb[lead + i], &pe[lead + i]);
    }
    int64_t isz = in[0] * in[1] * in[2], osz = out[0] * out[1] * out[2];
    for (int64_t p = 0; p < pc->n * pc->c; p++)
        for (int64_t o = 0; o < osz; o++) {
            int64_t oo[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]};
            double sum = 0;
            float best = -FLT_MAX;
            int64_t best_at = 0, count = 0, padded = 1;
            for (int a = 0; a < 3; a++) {
                int64_t c = 0;
                for (int64_t t = 0; t < k[a]; t++) {
                    int64_t pos = oo[a] * s[a] - pb[a] + t * d[a];
                    c += pos >= -pb[a] && pos < in[a] + pe[a];
                }
                padded *= c;
            }
            for (int64_t a = 0; a < k[0]; a++)
                for (int64_t b = 0; b < k[1]; b++)
                    for (int64_t c = 0; c < k[2]; c++) {
                        int64_t i0 = oo[0] * s[0] - pb[0] + a * d[0];
                        int64_t i1 = oo[1] * s[1] - pb[1] + b * d[1];
                        int64_t i2 = oo[2] * s[2] - pb[2] + c * d[2];
                        if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                            continue;
                        int64_t at = (i0 * in[1] + i1) * in[2] + i2;
                        float v = x[p * isz + at];
                        sum += v;
                        count++;
                        if (v > best) {
                            best = v;
                            best_at = at;
                        }
                    }
            if (pc->average)
                y[p * osz + o] = (float)(sum / (double)(pc->count_include_pad ? padded : count));
            else
                y[p * osz + o] = best;
            if (idx)
                idx[p * osz + o] = p * isz + best_at;
        }
}

static void run_case(const pool_case *pc, sgemm_isa isa, int threads, bool with_indices) {
    uint32_t seed = 99u + (uint32_t)threads;
    int rank = pc->spatial + 2;
    int64_t xdims[5] = {pc->n, pc->c}, ydims[5] = {pc->n, pc->c};
    size_t xn = (size_t)(pc->n * pc->c), yn = xn;
    for (int i = 0; i < pc->spatial; i++) {
        int64_t pb, pe;
        xdims[2 + i] = pc->in[i];
        ydims[2 + i] = out_size(pc, i, &pb, &pe);
        xn *= (size_t)pc->in[i];
        yn *= (size_t)ydims[2 + i];
    }
    float *x = th_random_floats(xn, &seed);
    th_node t;
    th_init(&t, pc->average ? "AveragePool" : "MaxPool", 19);
    th_float_input(&t, "X", rank, xdims, x, 0);
    onnx_tensor *y = th_output(&t, "Y");
    onnx_tensor *yi = with_indices ? th_output(&t, "Indices") : NULL;
    th_attr_ints(&t, "kernel_shape", (size_t)pc->spatial, pc->kernel);
    if (pc->stride[0])
        th_attr_ints(&t, "strides", (size_t)pc->spatial, pc->stride);
    if (pc->dilation[0])
        th_attr_ints(&t, "dilations", (size_t)pc->spatial, pc->dilation);
    if (pc->auto_pad)
        th_attr_string(&t, "auto_pad", pc->auto_pad);
    else
        th_attr_ints(&t, "pads", 2 * (size_t)pc->spatial, pc->pads);
    if (pc->ceil_mode)
        th_attr_int(&t, "ceil_mode", 1);
    if (pc->count_include_pad)
        th_attr_int(&t, "count_include_pad", 1);

    kh_error err = {0};
    assert_true(sgemm_isa_select(isa));
    int rc = th_run(&t, threads, &err);
    sgemm_isa_select(sgemm_isa_best());
    if (rc)
        fprintf(stderr, "%s: %s\n", pc->name, err.message);
    assert_int_equal(rc, KH_OK);
    for (int i = 0; i < rank; i++)
        assert_int_equal(y->dims[i], ydims[i]);
    float *want = malloc(yn * sizeof *want);
    int64_t *want_idx = malloc(yn * sizeof *want_idx);
    reference(pc, x, want, want_idx);
    char what[160];
    snprintf(what, sizeof what, "%s [%s, %d threads]", pc->name, sgemm_isa_name(isa), threads);
    assert_int_equal(th_compare(what, y->data, want, yn, pc->average ? 1e-6f : 0.0f, 1e-6f), -1);
    if (yi) {
        const int64_t *got = yi->data;
        for (size_t i = 0; i < yn; i++) {
            if (got[i] != want_idx[i])
                fprintf(stderr, "%s: index %zu: got %lld, want %lld\n", what, i,
                        (long long)got[i], (long long)want_idx[i]);
            assert_int_equal(got[i], want_idx[i]);
        }
    }
    free(want);
    free(want_idx);
    th_free(&t);
    free(x);
}

static const pool_case cases[] = {
    {"max 2x2 s2 like pool0", false, 2, 1, 3, {30, 70}, {2, 2}, {2, 2}, {0}, {0}, NULL, false, false},
    {"max 2x2 s2 pad end 1 odd", false, 2, 2, 3, {21, 37}, {2, 2}, {2, 2}, {0}, {0, 0, 1, 1}, NULL, false, false},
    {"max 2x2 s1 pad end 1", false, 2, 1, 5, {13, 13}, {2, 2}, {1, 1}, {0}, {0, 0, 1, 1}, NULL, false, false},
    {"max 3x3 s2 pads 1", false, 2, 1, 4, {19, 40}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, NULL, false, false},
    {"max 3x3 s1 same_upper", false, 2, 1, 2, {9, 35}, {3, 3}, {1, 1}, {0}, {0}, "SAME_UPPER", false, false},
    {"max 5x4 s2 same_lower", false, 2, 1, 2, {17, 41}, {5, 4}, {2, 2}, {0}, {0}, "SAME_LOWER", false, false},
    {"max ceil_mode", false, 2, 1, 3, {10, 11}, {3, 3}, {2, 2}, {0}, {0}, NULL, true, false},
    {"max dilation 2", false, 2, 1, 2, {12, 13}, {2, 3}, {1, 1}, {2, 2}, {1, 0, 1, 2}, NULL, false, false},
    {"max stride 3", false, 2, 1, 2, {16, 50}, {3, 3}, {3, 3}, {0}, {0}, "VALID", false, false},
    {"max 1-D", false, 1, 2, 3, {33}, {3}, {2}, {0}, {1, 1}, NULL, false, false},
    {"max 3-D", false, 3, 1, 2, {5, 6, 7}, {2, 3, 2}, {1, 2, 2}, {0}, {0, 1, 0, 1, 0, 1}, NULL, false, false},
    {"avg 3x3 s2 pads", true, 2, 1, 3, {11, 20}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, NULL, false, false},
    {"avg count_include_pad", true, 2, 1, 3, {11, 20}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, NULL, false, true},
    {"avg ceil count_include_pad", true, 2, 1, 2, {10, 11}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, NULL, true, true},
    {"avg 7x7 s2 valid like expression", true, 2, 1, 8, {7, 7}, {7, 7}, {2, 2}, {0}, {0}, "VALID", false, false},
    {"avg same_upper", true, 2, 2, 2, {9, 8}, {2, 3}, {1, 2}, {0}, {0}, "SAME_UPPER", false, false},
    {"avg dilation", true, 2, 1, 2, {9, 9}, {2, 2}, {1, 1}, {2, 2}, {0}, NULL, false, false},
    {"avg 1-D", true, 1, 1, 2, {17}, {4}, {3}, {0}, {2, 1}, NULL, false, true},
    {"avg 3-D", true, 3, 1, 2, {4, 5, 6}, {2, 2, 3}, {2, 1, 2}, {0}, {0}, NULL, false, false},
};

static void test_pools_match_reference(void **state) {
    (void)state;
    sgemm_isa isas[3];
    size_t n_isas = th_isas(isas);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t i = 0; i < n_isas; i++)
            for (int threads = 1; threads <= 2; threads++)
                run_case(&cases[c], isas[i], threads, false);
}

static void test_maxpool_indices(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        if (!cases[c].average)
            run_case(&cases[c], sgemm_isa_best(), 1, true);
}

static void test_maxpool_indices_column_major(void **state) {
    (void)state;
    /* 1 x 1 x 3 x 4, window 2x2 stride 2: maxima at known spots. */
    float x[12] = {1, 9, 2, 3, /**/ 4, 5, 6, 8, /**/ 0, 1, 7, 2};
    th_node t;
    th_init(&t, "MaxPool", 12);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 3, 4}, x, 0);
    onnx_tensor *y = th_output(&t, "Y");
    onnx_tensor *yi = th_output(&t, "Indices");
    th_attr_ints(&t, "kernel_shape", 2, (int64_t[]){2, 2});
    th_attr_ints(&t, "strides", 2, (int64_t[]){2, 2});
    th_attr_int(&t, "storage_order", 1);
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    assert_int_equal(y->numel, 2);
    const float *yv = y->data;
    const int64_t *iv = yi->data;
    assert_true(yv[0] == 9.0f && yv[1] == 8.0f);
    /* 9 at (h 0, w 1): 1 * 3 + 0; 8 at (h 1, w 3): 3 * 3 + 1. */
    assert_int_equal(iv[0], 3);
    assert_int_equal(iv[1], 10);
    th_free(&t);
}

static void test_global_pools(void **state) {
    (void)state;
    uint32_t seed = 5;
    float *x = th_random_floats(2 * 3 * 5 * 7, &seed);
    for (int kind = 0; kind < 2; kind++) {
        th_node t;
        th_init(&t, kind ? "GlobalMaxPool" : "GlobalAveragePool", 13);
        th_float_input(&t, "X", 4, (int64_t[]){2, 3, 5, 7}, x, 0);
        onnx_tensor *y = th_output(&t, "Y");
        kh_error err = {0};
        assert_int_equal(th_run(&t, 2, &err), KH_OK);
        assert_int_equal(y->rank, 4);
        assert_int_equal(y->dims[2], 1);
        assert_int_equal(y->dims[3], 1);
        float want[6];
        for (int p = 0; p < 6; p++) {
            double s = 0;
            float m = -FLT_MAX;
            for (int i = 0; i < 35; i++) {
                s += x[p * 35 + i];
                if (x[p * 35 + i] > m)
                    m = x[p * 35 + i];
            }
            want[p] = kind ? m : (float)(s / 35);
        }
        assert_int_equal(th_compare(t.node.op_type, y->data, want, 6, 1e-6f, 1e-6f), -1);
        th_free(&t);
    }
    free(x);
}

static void test_maxpool_uint8(void **state) {
    (void)state;
    uint8_t x[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200};
    th_node t;
    th_init(&t, "MaxPool", 12);
    th_input(&t, th_new_tensor(&t, "X", ONNX_UINT8, 4, (int64_t[]){1, 1, 4, 4}, x, 0));
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_ints(&t, "kernel_shape", 2, (int64_t[]){2, 2});
    th_attr_ints(&t, "strides", 2, (int64_t[]){2, 2});
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    assert_int_equal(y->dtype, ONNX_UINT8);
    const uint8_t *v = y->data;
    assert_int_equal(v[0], 6);
    assert_int_equal(v[1], 8);
    assert_int_equal(v[2], 14);
    assert_int_equal(v[3], 200);
    th_free(&t);
}

static void test_pool_requires_kernel_shape(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "MaxPool", 12);
    const onnx_operator *op = onnx_operator_find("", "MaxPool");
    t.node.op = op;
    kh_error err = {0};
    assert_int_equal(op->init(&t.node, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "kernel_shape"));
    op->exit(&t.node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools_match_reference),
        cmocka_unit_test(test_maxpool_indices),
        cmocka_unit_test(test_maxpool_indices_column_major),
        cmocka_unit_test(test_global_pools),
        cmocka_unit_test(test_maxpool_uint8),
        cmocka_unit_test(test_pool_requires_kernel_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
