/* Elementwise operators: broadcasting, integer edge cases (division by zero,
 * overflow), comparisons, logic, variadic ops, activations, Clip, Cast,
 * Where, and their error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_ops_a_fixture.h"

static void add_broadcasts_both_ways(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Add", 13);
    /* [2,1,3] + [2,1] -> [2,2,3]: both operands repeat along some axis. */
    op_input_f32(&c, 3, I64(2, 1, 3), F32(1, 2, 3, 4, 5, 6));
    op_input_f32(&c, 2, I64(2, 1), F32(10, 20));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 3, I64(2, 2, 3),
               F32(11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26));
    op_case_end(&c);
}

static void sub_with_scalar_on_either_side(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Sub", 13);
    op_input_f32(&c, 0, NULL, F32(10));
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(9, 8, 7, 6));
    op_case_end(&c);

    op_case_begin(&c, "Sub", 13);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_f32(&c, 1, I64(1), F32(1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(0, 1, 2, 3));
    op_case_end(&c);
}

static void mul_broadcasts_middle_axis(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Mul", 13);
    /* [2,3,2] * [3,1]: the second operand has stride 0 on the last axis. */
    op_input_f32(&c, 3, I64(2, 3, 2), F32(1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2));
    op_input_f32(&c, 2, I64(3, 1), F32(1, 2, 3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 3, I64(2, 3, 2),
               F32(1, 1, 2, 2, 3, 3, 2, 2, 4, 4, 6, 6));
    op_case_end(&c);
}

static void incompatible_shapes_name_both(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Add", 13);
    op_input_f32(&c, 2, I64(2, 3), NULL);
    op_input_f32(&c, 1, I64(4), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "[2,3] and [4]");
    op_case_end(&c);
}

static void mismatched_types_are_refused(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Add", 13);
    op_input_f32(&c, 1, I64(2), NULL);
    op_input_i64(&c, 1, I64(2), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ETYPE, "float and int64");
    op_case_end(&c);
}

static void integer_division_by_zero_is_zero(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Div", 13);
    op_input(&c, ONNX_INT32, 1, I64(4), I32(7, -7, INT32_MIN, 5));
    op_input(&c, ONNX_INT32, 1, I64(4), I32(0, 2, -1, -2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    /* INT32_MIN / -1 overflows: defined as wrapping to INT32_MIN. */
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(4), I64(0, -3, INT32_MIN, -2));
    op_case_end(&c);

    op_case_begin(&c, "Div", 13);
    op_input(&c, ONNX_UINT8, 1, I64(3), U8(200, 9, 0));
    op_input(&c, ONNX_UINT8, 1, I64(3), U8(0, 2, 0));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_UINT8, 1, I64(3), I64(0, 4, 0));
    op_case_end(&c);
}

static void integer_add_wraps_instead_of_overflowing(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Add", 13);
    op_input_i64(&c, 1, I64(2), I64(INT64_MAX, 1));
    op_input_i64(&c, 1, I64(2), I64(1, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(2), I64(INT64_MIN, 3));
    op_case_end(&c);
}

static void mod_follows_divisor_sign_or_fmod(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Mod", 13);
    op_input(&c, ONNX_INT32, 1, I64(5), I32(-7, 7, -7, 7, 5));
    op_input(&c, ONNX_INT32, 1, I64(5), I32(3, -3, -3, 3, 0));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(5), I64(2, -2, -1, 1, 0));
    op_case_end(&c);

    op_case_begin(&c, "Mod", 13);
    op_attr_int(&c, "fmod", 1);
    op_input_f32(&c, 1, I64(3), F32(-7, 7, 5.5f));
    op_input_f32(&c, 1, I64(3), F32(3, -3, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(-1, 1, 1.5f));
    op_case_end(&c);
}

static void pow_accepts_an_exponent_of_another_type(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Pow", 15);
    op_input(&c, ONNX_INT32, 1, I64(3), I32(1, 2, 3));
    op_input_f32(&c, 1, I64(3), F32(4, 5, 6));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(3), I64(1, 32, 729));
    op_case_end(&c);

    op_case_begin(&c, "Pow", 15);
    op_input_f32(&c, 1, I64(3), F32(2, 4, 9));
    op_input_i64(&c, 0, NULL, I64(2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(4, 16, 81));
    op_case_end(&c);
}

static void comparisons_produce_bool(void **state) {
    (void)state;
    static const struct {
        const char *op;
        int64_t want[3];
    } cases[] = {{"Equal", {0, 1, 0}},
                 {"Less", {1, 0, 0}},
                 {"Greater", {0, 0, 1}},
                 {"LessOrEqual", {1, 1, 0}},
                 {"GreaterOrEqual", {0, 1, 1}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, cases[i].op, 13);
        op_input_i64(&c, 1, I64(3), I64(1, 2, 3));
        op_input_i64(&c, 0, NULL, I64(2));
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(3), cases[i].want);
        op_case_end(&c);
    }
}

static void logic_ops_broadcast_bools(void **state) {
    (void)state;
    static const struct {
        const char *op;
        int64_t want[4];
    } cases[] = {
        {"And", {0, 0, 0, 1}}, {"Or", {0, 1, 1, 1}}, {"Xor", {0, 1, 1, 0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, cases[i].op, 7);
        op_input(&c, ONNX_BOOL, 2, I64(2, 1), U8(0, 1));
        op_input(&c, ONNX_BOOL, 1, I64(2), U8(0, 1));
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_ints(c.outputs[0], ONNX_BOOL, 2, I64(2, 2), cases[i].want);
        op_case_end(&c);
    }
    op_case c;
    op_case_begin(&c, "And", 7);
    op_input_f32(&c, 1, I64(1), NULL);
    op_input_f32(&c, 1, I64(1), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "float input not supported");
    op_case_end(&c);
}

static void prelu_slope_broadcasts_to_x_only(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "PRelu", 16);
    op_input_f32(&c, 2, I64(2, 2), F32(-1, 2, -3, 4));
    op_input_f32(&c, 1, I64(2), F32(0.5f, 0.25f));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(-0.5f, 2, -1.5f, 4));
    op_case_end(&c);

    op_case_begin(&c, "PRelu", 16);
    op_input_f32(&c, 1, I64(2), NULL);
    op_input_f32(&c, 2, I64(3, 2), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "does not broadcast to X");
    op_case_end(&c);
}

static void variadic_ops_fold_all_inputs(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Sum", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input_f32(&c, 0, NULL, F32(10));
    op_input_f32(&c, 2, I64(2, 1), F32(100, 200));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 3), F32(111, 112, 113, 211, 212, 213));
    op_case_end(&c);

    op_case_begin(&c, "Mean", 13);
    op_input_f32(&c, 1, I64(2), F32(1, 2));
    op_input_f32(&c, 1, I64(2), F32(3, 4));
    op_input_f32(&c, 1, I64(2), F32(5, 9));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(2), F32(3, 5));
    op_case_end(&c);

    op_case_begin(&c, "Max", 13);
    op_input(&c, ONNX_INT8, 1, I64(3), I8(-5, 0, 7));
    op_outputs(&c, 1);
    op_case_ok(&c); /* one input: a copy */
    expect_ints(c.outputs[0], ONNX_INT8, 1, I64(3), I64(-5, 0, 7));
    op_case_end(&c);

    op_case_begin(&c, "Min", 13);
    op_input_f32(&c, 1, I64(3), F32(1, NAN, 3));
    op_input_f32(&c, 1, I64(3), F32(NAN, 0, -3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(NAN, NAN, -3));
    op_case_end(&c);
}

static void activations_match_their_formulas(void **state) {
    (void)state;
    static const float x[] = {-2, -0.5f, 0, 0.5f, 3};
    struct {
        const char *op;
        const char *attr;
        float value;
        float want[5];
    } cases[] = {
        {"Relu", NULL, 0, {0, 0, 0, 0.5f, 3}},
        {"LeakyRelu", "alpha", 0.1f, {-0.2f, -0.05f, 0, 0.5f, 3}},
        {"Elu", NULL, 0, {expm1f(-2), expm1f(-0.5f), 0, 0.5f, 3}},
        {"Sigmoid",
         NULL,
         0,
         {1 / (1 + expf(2)), 1 / (1 + expf(0.5f)), 0.5f, 1 / (1 + expf(-0.5f)),
          1 / (1 + expf(-3))}},
        {"HardSigmoid", NULL, 0, {0.1f, 0.4f, 0.5f, 0.6f, 1}},
        {"HardSwish",
         NULL,
         0,
         {-2 * (1.0f / 6), -0.5f * (0.5f - 0.5f / 6), 0,
          0.5f * (0.5f + 0.5f / 6), 3}},
        {"Softplus",
         NULL,
         0,
         {log1pf(expf(-2)), log1pf(expf(-0.5f)), logf(2), log1pf(expf(0.5f)),
          log1pf(expf(3))}},
        {"Softsign", NULL, 0, {-2.0f / 3, -0.5f / 1.5f, 0, 0.5f / 1.5f, 0.75f}},
        {"ThresholdedRelu", "alpha", 0.5f, {0, 0, 0, 0, 3}},
        {"Neg", NULL, 0, {2, 0.5f, 0, -0.5f, -3}},
        {"Abs", NULL, 0, {2, 0.5f, 0, 0.5f, 3}},
        {"Sign", NULL, 0, {-1, -1, 0, 1, 1}},
        {"Floor", NULL, 0, {-2, -1, 0, 0, 3}},
        {"Ceil", NULL, 0, {-2, 0, 0, 1, 3}},
        {"Round", NULL, 0, {-2, 0, 0, 0, 3}}, /* halves to even */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, cases[i].op, 14);
        if (cases[i].attr)
            op_attr_float(&c, cases[i].attr, cases[i].value);
        op_input_f32(&c, 1, I64(5), x);
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_context = cases[i].op;
        expect_f32(c.outputs[0], 1, I64(5), cases[i].want);
        expect_context = "";
        op_case_end(&c);
    }
}

/* Relu, LeakyRelu, ThresholdedRelu, HardSigmoid, HardSwish and Clip run as
 * vector selects: over a long input (vector body and scalar tail, 1 and 2
 * threads) with NaN, infinities and signed zeros, each element must be
 * bit-for-bit what the scalar formula gives: Relu(NaN) = 0, LeakyRelu(NaN)
 * = NaN, HardSigmoid(NaN) = 1 (fminf(1, NaN) is 1), HardSwish(NaN) = NaN,
 * Clip(NaN) = NaN, Relu(-0) = +0. */
static float reference_activation(const char *op, float x) {
    if (!strcmp(op, "Relu"))
        return x > 0 ? x : 0.0f;
    if (!strcmp(op, "LeakyRelu"))
        return x < 0 ? 0.1f * x : x;
    if (!strcmp(op, "ThresholdedRelu"))
        return x > 0.5f ? x : 0.0f;
    if (!strcmp(op, "HardSigmoid"))
        return fmaxf(0.0f, fminf(1.0f, 0.2f * x + 0.5f));
    if (!strcmp(op, "HardSwish"))
        return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    /* Clip to [-1, 6], lower bound first */
    float v = x < -1.0f ? -1.0f : x;
    return v > 6.0f ? 6.0f : v;
}

static void activations_keep_nan_and_signed_zero_in_vector_loops(void **state) {
    (void)state;
    enum { N = 70001 }; /* above the parallel grain, odd: a scalar tail */
    static float x[N];
    for (size_t i = 0; i < N; i++)
        x[i] = (float)((i * 2654435761u) >> 8 & 1023) / 64.0f - 8.0f;
    static const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.0f, -1.0f};
    for (size_t i = 0; i < N; i += 97)
        x[i] = specials[(i / 97) % 8];
    x[N - 1] = NAN;
    x[N - 2] = -0.0f;
    static const char *ops[] = {"Relu", "LeakyRelu", "ThresholdedRelu", "HardSigmoid",
                                "HardSwish", "Clip"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        for (int threads = 1; threads <= 2; threads++) {
            op_case c;
            op_case_begin(&c, ops[k], 13);
            if (threads > 1)
                op_case_threads(&c, threads);
            if (!strcmp(ops[k], "LeakyRelu"))
                op_attr_float(&c, "alpha", 0.1f);
            if (!strcmp(ops[k], "ThresholdedRelu"))
                op_attr_float(&c, "alpha", 0.5f);
            op_input_f32(&c, 1, I64(N), x);
            if (!strcmp(ops[k], "Clip")) {
                op_input_f32(&c, 0, NULL, F32(-1.0f));
                op_input_f32(&c, 0, NULL, F32(6.0f));
            }
            op_outputs(&c, 1);
            op_case_ok(&c);
            const float *y = c.outputs[0]->data;
            for (size_t i = 0; i < N; i++) {
                float want = reference_activation(ops[k], x[i]);
                uint32_t got_bits, want_bits;
                memcpy(&got_bits, &y[i], 4);
                memcpy(&want_bits, &want, 4);
                /* NaN payloads may differ; NaN-ness and everything else
                 * (the sign of zero included) must not. */
                bool same = isnan(want) ? isnan(y[i]) != 0 : got_bits == want_bits;
                if (!same)
                    fail_msg("%s, %d thread(s): x[%zu] = %g: got %g (0x%08x), want %g (0x%08x)",
                             ops[k], threads, i, (double)x[i], (double)y[i], got_bits,
                             (double)want, want_bits);
            }
            op_case_end(&c);
        }
    }
}

/* Exp and Sigmoid use a vectorisable exp: it must track expf closely over
 * the whole float range and keep NaN, infinities and overflow. */
static void exp_matches_libm_over_the_float_range(void **state) {
    (void)state;
    enum { N = 4000 };
    static float x[N + 6], want[N + 6];
    for (int i = 0; i < N; i++) {
        x[i] = -90.0f + 180.0f * (float)i / (N - 1);
        want[i] = expf(x[i]);
    }
    const float special[6] = {NAN, INFINITY, -INFINITY, 88.7f, -87.0f, 0};
    for (int i = 0; i < 6; i++) {
        x[N + i] = special[i];
        want[N + i] = expf(special[i]);
    }
    op_case c;
    op_case_begin(&c, "Exp", 13);
    op_input_f32(&c, 1, I64(N + 6), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    const float *got = c.outputs[0]->data;
    for (int i = 0; i < N + 6; i++) {
        if (isnan(want[i]) ? !isnan(got[i])
                           : !(got[i] == want[i] ||
                               fabsf(got[i] - want[i]) <=
                                   1e-37f + 1e-6f * fabsf(want[i])))
            fail_msg("exp(%.9g): expected %.9g, got %.9g", (double)x[i],
                     (double)want[i], (double)got[i]);
    }
    op_case_end(&c);

    op_case_begin(&c, "Sigmoid", 13);
    op_input_f32(&c, 1, I64(5), F32(-100, -1, 0, 1, 100));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(5),
               F32(1 / (1 + expf(100)), 1 / (1 + expf(1)), 0.5f,
                   1 / (1 + expf(-1)), 1));
    op_case_end(&c);
}

static void integer_unary_ops_wrap(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Abs", 13);
    op_input(&c, ONNX_INT32, 1, I64(3), I32(-5, INT32_MIN, 4));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(3), I64(5, INT32_MIN, 4));
    op_case_end(&c);

    op_case_begin(&c, "Sqrt", 13);
    op_input_i64(&c, 1, I64(1), I64(4));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "int64 input not supported");
    op_case_end(&c);
}

static void isinf_and_isnan_detect(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "IsInf", 10);
    op_attr_int(&c, "detect_negative", 0);
    op_input_f32(&c, 1, I64(4), F32(INFINITY, -INFINITY, NAN, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(4), I64(1, 0, 0, 0));
    op_case_end(&c);

    op_case_begin(&c, "IsNaN", 13);
    op_input_f32(&c, 1, I64(4), F32(INFINITY, -INFINITY, NAN, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(4), I64(0, 0, 1, 0));
    op_case_end(&c);

    op_case_begin(&c, "Not", 1);
    op_input(&c, ONNX_BOOL, 1, I64(2), U8(0, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(2), I64(1, 0));
    op_case_end(&c);
}

static void clip_bounds_from_attributes_or_inputs(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Clip", 6);
    op_attr_float(&c, "min", -1);
    op_attr_float(&c, "max", 1);
    op_input_f32(&c, 1, I64(3), F32(-5, 0.5f, 5));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(-1, 0.5f, 1));
    op_case_end(&c);

    /* Opset 11+: min omitted, max an input known only at run time. */
    op_case_begin(&c, "Clip", 13);
    op_input(&c, ONNX_INT8, 1, I64(3), I8(-100, 5, 100));
    op_input_none(&c);
    op_input_unknown(&c, ONNX_INT8, 0, NULL, I8(10));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT8, 1, I64(3), I64(-100, 5, 10));
    op_case_end(&c);
}

static void cast_converts_without_undefined_behaviour(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Cast", 13);
    op_attr_int(&c, "to", ONNX_INT64);
    op_input_f32(&c, 1, I64(5), F32(-1.7f, 2.9f, NAN, 1e30f, -1e30f));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(5),
                I64(-1, 2, 0, INT64_MAX, INT64_MIN));
    op_case_end(&c);

    op_case_begin(&c, "Cast", 13);
    op_attr_int(&c, "to", ONNX_BOOL);
    op_input(&c, ONNX_INT32, 1, I64(3), I32(0, -3, 7));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_BOOL, 1, I64(3), I64(0, 1, 1));
    op_case_end(&c);

    op_case_begin(&c, "Cast", 13);
    op_attr_int(&c, "to", ONNX_FLOAT);
    op_input(&c, ONNX_UINT8, 1, I64(2), U8(0, 255));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(2), F32(0, 255));
    op_case_end(&c);

    op_case_begin(&c, "Cast", 13);
    op_attr_int(&c, "to", ONNX_DOUBLE);
    op_input_f32(&c, 1, I64(1), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "cast to double not supported");
    op_case_end(&c);
}

static void where_selects_with_broadcasting(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Where", 16);
    op_input(&c, ONNX_BOOL, 2, I64(2, 1), U8(1, 0));
    op_input_i64(&c, 1, I64(3), I64(1, 2, 3));
    op_input_i64(&c, 0, NULL, I64(-1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 3),
                I64(1, 2, 3, -1, -1, -1));
    op_case_end(&c);
}

static void empty_tensors_flow_through(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Add", 13);
    op_input_f32(&c, 2, I64(0, 3), NULL);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 2, I64(0, 3));
    op_case_end(&c);

    op_case_begin(&c, "Relu", 14);
    op_input_f32(&c, 1, I64(0), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 1, I64(0));
    op_case_end(&c);
}

/* Large enough to split across threads: the parallel result must equal the
 * single-threaded one element for element. */
static void parallel_binary_matches_serial(void **state) {
    (void)state;
    enum { ROWS = 300, COLS = 257 };
    static float a[ROWS * COLS], b[COLS];
    for (size_t i = 0; i < ROWS * COLS; i++)
        a[i] = (float)(i % 97) - 40;
    for (size_t i = 0; i < COLS; i++)
        b[i] = (float)i * 0.5f;
    op_case serial, parallel;
    op_case *cases[2] = {&serial, &parallel};
    for (int k = 0; k < 2; k++) {
        op_case_begin(cases[k], "Div", 13);
        if (k)
            op_case_threads(cases[k], 4);
        op_input_f32(cases[k], 2, I64(ROWS, COLS), a);
        op_input_f32(cases[k], 1, I64(COLS), b);
        op_outputs(cases[k], 1);
        op_case_ok(cases[k]);
    }
    expect_f32(parallel.outputs[0], 2, I64(ROWS, COLS),
               serial.outputs[0]->data);
    op_case_end(&serial);
    op_case_end(&parallel);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_broadcasts_both_ways),
        cmocka_unit_test(sub_with_scalar_on_either_side),
        cmocka_unit_test(mul_broadcasts_middle_axis),
        cmocka_unit_test(incompatible_shapes_name_both),
        cmocka_unit_test(mismatched_types_are_refused),
        cmocka_unit_test(integer_division_by_zero_is_zero),
        cmocka_unit_test(integer_add_wraps_instead_of_overflowing),
        cmocka_unit_test(mod_follows_divisor_sign_or_fmod),
        cmocka_unit_test(pow_accepts_an_exponent_of_another_type),
        cmocka_unit_test(comparisons_produce_bool),
        cmocka_unit_test(logic_ops_broadcast_bools),
        cmocka_unit_test(prelu_slope_broadcasts_to_x_only),
        cmocka_unit_test(variadic_ops_fold_all_inputs),
        cmocka_unit_test(activations_match_their_formulas),
        cmocka_unit_test(activations_keep_nan_and_signed_zero_in_vector_loops),
        cmocka_unit_test(exp_matches_libm_over_the_float_range),
        cmocka_unit_test(integer_unary_ops_wrap),
        cmocka_unit_test(isinf_and_isnan_detect),
        cmocka_unit_test(clip_bounds_from_attributes_or_inputs),
        cmocka_unit_test(cast_converts_without_undefined_behaviour),
        cmocka_unit_test(where_selects_with_broadcasting),
        cmocka_unit_test(empty_tensors_flow_through),
        cmocka_unit_test(parallel_binary_matches_serial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
