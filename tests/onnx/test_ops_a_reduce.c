/* Reductions: axes as attribute or input, keepdims, noop_with_empty_axes,
 * the contiguous (suffix) and strided paths, LogSumExp stability, integer
 * sums, ArgMax/ArgMin with select_last_index, CumSum and Hardmax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_ops_a_fixture.h"

/* x[i,j,k] = 100 i + 10 j + k on [2,3,4]. */
static const float x234[24] = {0,   1,   2,   3,   10,  11,  12,  13,
                               20,  21,  22,  23,  100, 101, 102, 103,
                               110, 111, 112, 113, 120, 121, 122, 123};

static void reduce_sum_axes_input_and_keepdims(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ReduceSum", 13);
    op_input_f32(&c, 3, I64(2, 3, 4), x234);
    op_input_i64(&c, 1, I64(1), I64(-1));
    op_outputs(&c, 1);
    op_case_ok(&c); /* suffix path */
    expect_f32(c.outputs[0], 3, I64(2, 3, 1), F32(6, 46, 86, 406, 446, 486));
    op_case_end(&c);

    op_case_begin(&c, "ReduceSum", 13);
    op_attr_int(&c, "keepdims", 0);
    op_input_f32(&c, 3, I64(2, 3, 4), x234);
    op_input_i64(&c, 1, I64(1), I64(1));
    op_outputs(&c, 1);
    op_case_ok(&c); /* middle axis: strided path */
    expect_f32(c.outputs[0], 2, I64(2, 4),
               F32(30, 33, 36, 39, 330, 333, 336, 339));
    op_case_end(&c);
}

static void reduce_sum_empty_axes_reduce_all_or_noop(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ReduceSum", 13);
    op_attr_int(&c, "keepdims", 0);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 1, I64(0), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 0, NULL, F32(10));
    op_case_end(&c);

    op_case_begin(&c, "ReduceSum", 13);
    op_attr_int(&c, "noop_with_empty_axes", 1);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 1, I64(0), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(1, 2, 3, 4));
    op_case_end(&c);
}

static void reduce_mean_max_min_over_outer_axes(void **state) {
    (void)state;
    static const struct {
        const char *op;
        float want[3];
    } cases[] = {{"ReduceMean", {51.5f, 61.5f, 71.5f}},
                 {"ReduceMax", {103, 113, 123}},
                 {"ReduceMin", {0, 10, 20}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, cases[i].op, 13);
        op_attr_ints(&c, "axes", I64(0, -1), 2);
        op_input_f32(&c, 3, I64(2, 3, 4), x234);
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_context = cases[i].op;
        expect_f32(c.outputs[0], 3, I64(1, 3, 1), cases[i].want);
        expect_context = "";
        op_case_end(&c);
    }
}

static void reduce_norms_and_products(void **state) {
    (void)state;
    static const struct {
        const char *op;
        float want[2];
    } cases[] = {{"ReduceL1", {3, 7}},
                 {"ReduceL2", {2.2360680f, 5}},
                 {"ReduceSumSquare", {5, 25}},
                 {"ReduceProd", {-2, 12}},
                 {"ReduceLogSum", {0.0f, 1.9459101f}}};
    static const float x[4] = {1, -2, 3, 4};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, cases[i].op, 13);
        op_attr_ints(&c, "axes", I64(1), 1);
        op_attr_int(&c, "keepdims", 0);
        if (strcmp(cases[i].op, "ReduceLogSum") == 0)
            op_input_f32(&c, 2, I64(2, 2), F32(0.5f, 0.5f, 3, 4));
        else
            op_input_f32(&c, 2, I64(2, 2), x);
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_context = cases[i].op;
        expect_f32(c.outputs[0], 1, I64(2), cases[i].want);
        expect_context = "";
        op_case_end(&c);
    }
}

static void log_sum_exp_does_not_overflow(void **state) {
    (void)state;
    /* exp(1000) overflows float; the shifted form does not. Both paths. */
    op_case c;
    op_case_begin(&c, "ReduceLogSumExp", 13);
    op_attr_ints(&c, "axes", I64(1), 1);
    op_input_f32(&c, 2, I64(2, 2), F32(1000, 1000, -INFINITY, -INFINITY));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 1), F32(1000 + 0.6931472f, -INFINITY));
    op_case_end(&c);

    op_case_begin(&c, "ReduceLogSumExp", 13);
    op_attr_ints(&c, "axes", I64(0), 1);
    op_input_f32(&c, 2, I64(2, 2), F32(1000, 1, 1000, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(1, 2),
               F32(1000 + 0.6931472f, 1 + 0.6931472f));
    op_case_end(&c);
}

static void reduce_integer_sum_and_max(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ReduceSum", 13);
    op_input_i64(&c, 2, I64(2, 3), I64(1, 2, 3, 4, 5, 6));
    op_input_i64(&c, 1, I64(1), I64(0));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(1, 3), I64(5, 7, 9));
    op_case_end(&c);

    op_case_begin(&c, "ReduceMax", 18);
    op_attr_int(&c, "keepdims", 0);
    op_input(&c, ONNX_INT8, 2, I64(2, 2), I8(-128, -5, 3, -100));
    op_input_i64(&c, 1, I64(1), I64(1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT8, 1, I64(2), I64(-5, 3));
    op_case_end(&c);

    op_case_begin(&c, "ReduceMin", 20);
    op_attr_int(&c, "keepdims", 0);
    op_input(&c, ONNX_BOOL, 2, I64(2, 2), U8(1, 0, 1, 1));
    op_input_i64(&c, 1, I64(1), I64(1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(2), I64(0, 1));
    op_case_end(&c);

    op_case_begin(&c, "ReduceL2", 18);
    op_input_i64(&c, 1, I64(2), I64(3, 4));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "int64 input not supported");
    op_case_end(&c);
}

static void reduce_axes_out_of_range_is_an_error(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ReduceMean", 13);
    op_attr_ints(&c, "axes", I64(3), 1);
    op_input_f32(&c, 2, I64(2, 2), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "axis 3 is out of range for rank 2");
    op_case_end(&c);
}

/* The suffix path splits outputs across threads; the strided path does
 * not: both must agree with a double-precision reference. */
static void parallel_mean_matches_reference(void **state) {
    (void)state;
    enum { C = 64, HW = 3000 };
    static float x[C * HW];
    float want[C];
    for (size_t ch = 0; ch < C; ch++) {
        double sum = 0;
        for (size_t p = 0; p < HW; p++) {
            float v = (float)((ch * 7 + p * 13) % 101) * 0.01f;
            x[ch * HW + p] = v;
            sum += v;
        }
        want[ch] = (float)(sum / HW);
    }
    op_case c;
    op_case_begin(&c, "ReduceMean", 13);
    op_case_threads(&c, 4);
    op_attr_ints(&c, "axes", I64(2, 3), 2);
    op_input_f32(&c, 4, I64(1, C, 1, HW), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 4, I64(1, C, 1, 1), want);
    op_case_end(&c);
}

static void argmax_and_argmin_pick_first_or_last(void **state) {
    (void)state;
    static const float x[6] = {1, 3, 3, 2, 0, 0};
    op_case c;
    op_case_begin(&c, "ArgMax", 13);
    op_attr_int(&c, "axis", -1);
    op_input_f32(&c, 2, I64(2, 3), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 1), I64(1, 0));
    op_case_end(&c);

    op_case_begin(&c, "ArgMax", 13);
    op_attr_int(&c, "axis", 1);
    op_attr_int(&c, "keepdims", 0);
    op_attr_int(&c, "select_last_index", 1);
    op_input_f32(&c, 2, I64(2, 3), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(2), I64(2, 0));
    op_case_end(&c);

    op_case_begin(&c, "ArgMin", 13);
    op_attr_int(&c, "axis", 0);
    op_input_f32(&c, 2, I64(2, 3), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(1, 3), I64(0, 1, 1));
    op_case_end(&c);

    op_case_begin(&c, "ArgMin", 13);
    op_attr_int(&c, "select_last_index", 1);
    op_input_i64(&c, 1, I64(4), I64(5, 1, 7, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(1), I64(3));
    op_case_end(&c);
}

static void cumsum_exclusive_and_reverse(void **state) {
    (void)state;
    static const struct {
        int exclusive, reverse;
        float want[4];
    } cases[] = {{0, 0, {1, 3, 6, 10}},
                 {1, 0, {0, 1, 3, 6}},
                 {0, 1, {10, 9, 7, 4}},
                 {1, 1, {9, 7, 4, 0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, "CumSum", 14);
        op_attr_int(&c, "exclusive", cases[i].exclusive);
        op_attr_int(&c, "reverse", cases[i].reverse);
        op_input_f32(&c, 1, I64(4), F32(1, 2, 3, 4));
        op_input(&c, ONNX_INT32, 0, NULL, I32(0));
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_f32(c.outputs[0], 1, I64(4), cases[i].want);
        op_case_end(&c);
    }
    op_case c;
    op_case_begin(&c, "CumSum", 14);
    op_input_i64(&c, 2, I64(2, 2), I64(1, 2, 3, 4));
    op_input_i64(&c, 0, NULL, I64(-2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 2), I64(1, 2, 4, 6));
    op_case_end(&c);
}

static void hardmax_axis_semantics_by_opset(void **state) {
    (void)state;
    static const float x[6] = {1, 5, 2, 7, 0, 3};
    op_case c;
    op_case_begin(&c, "Hardmax", 13);
    op_attr_int(&c, "axis", 0);
    op_input_f32(&c, 2, I64(2, 3), x);
    op_outputs(&c, 1);
    op_case_ok(&c); /* per column */
    expect_f32(c.outputs[0], 2, I64(2, 3), F32(0, 1, 0, 1, 0, 1));
    op_case_end(&c);

    op_case_begin(&c, "Hardmax", 11);
    op_attr_int(&c, "axis", 0);
    op_input_f32(&c, 2, I64(2, 3), x);
    op_outputs(&c, 1);
    op_case_ok(&c); /* flattened: one row of 6 */
    expect_f32(c.outputs[0], 2, I64(2, 3), F32(0, 0, 0, 1, 0, 0));
    op_case_end(&c);
}

static void losses_weight_ignore_and_reduce(void **state) {
    (void)state;
    /* log-probabilities [N=2, C=3]; targets 2 and (ignored) 0. */
    op_case c;
    op_case_begin(&c, "NegativeLogLikelihoodLoss", 13);
    op_attr_int(&c, "ignore_index", 0);
    op_input_f32(&c, 2, I64(2, 3), F32(-1, -2, -3, -4, -5, -6));
    op_input_i64(&c, 1, I64(2), I64(2, 0));
    op_input_f32(&c, 1, I64(3), F32(1, 1, 0.5f));
    op_outputs(&c, 1);
    op_case_ok(&c); /* mean: 0.5 * 3 / 0.5 */
    expect_f32(c.outputs[0], 0, NULL, F32(3));
    op_case_end(&c);

    op_case_begin(&c, "NegativeLogLikelihoodLoss", 13);
    op_attr_string(&c, "reduction", "none");
    op_input_f32(&c, 2, I64(1, 3), F32(-1, -2, -3));
    op_input_i64(&c, 1, I64(1), I64(3));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "target 3 (at 0) is outside 0..2");
    op_case_end(&c);

    op_case_begin(&c, "SoftmaxCrossEntropyLoss", 13);
    op_attr_string(&c, "reduction", "sum");
    op_input_f32(&c, 2, I64(1, 2), F32(0, 0));
    op_input_i64(&c, 1, I64(1), I64(1));
    op_outputs(&c, 2);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 0, NULL, F32(0.6931472f));
    expect_f32(c.outputs[1], 2, I64(1, 2), F32(-0.6931472f, -0.6931472f));
    op_case_end(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reduce_sum_axes_input_and_keepdims),
        cmocka_unit_test(reduce_sum_empty_axes_reduce_all_or_noop),
        cmocka_unit_test(reduce_mean_max_min_over_outer_axes),
        cmocka_unit_test(reduce_norms_and_products),
        cmocka_unit_test(log_sum_exp_does_not_overflow),
        cmocka_unit_test(reduce_integer_sum_and_max),
        cmocka_unit_test(reduce_axes_out_of_range_is_an_error),
        cmocka_unit_test(parallel_mean_matches_reference),
        cmocka_unit_test(argmax_and_argmin_pick_first_or_last),
        cmocka_unit_test(cumsum_exclusive_and_reverse),
        cmocka_unit_test(hardmax_axis_semantics_by_opset),
        cmocka_unit_test(losses_weight_ignore_and_reduce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
