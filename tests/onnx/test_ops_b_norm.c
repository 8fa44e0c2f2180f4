/* Softmax / LogSoftmax (both axis semantics), BatchNormalization,
 * InstanceNormalization, LayerNormalization, LpNormalization,
 * MeanVarianceNormalization and LRN against formulas written out here.
 * Tolerance 1e-5 + 1e-5 * |want| unless stated.
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_ops_b_harness.h"

/* A node of op with input X. */
static void start(th_node *t, const char *op, int opset, int rank, const int64_t *dims, float *x) {
    th_init(t, op, opset);
    th_float_input(t, "X", rank, dims, x, 0);
}

static void check_softmax(int opset, int64_t axis, bool use_log) {
    const int64_t dims[3] = {2, 3, 5};
    uint32_t seed = 3;
    float *x = th_random_floats(30, &seed);
    x[7] = 1000.0f; /* large values must not overflow */
    th_node t;
    start(&t, use_log ? "LogSoftmax" : "Softmax", opset, 3, dims, x);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_int(&t, "axis", axis);
    kh_error err = {0};
    assert_int_equal(th_run(&t, 2, &err), KH_OK);
    int64_t a = axis < 0 ? axis + 3 : axis;
    /* Groups: before 13 everything from axis on; from 13 only axis. */
    size_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < 3; i++) {
        if (i < a)
            outer *= (size_t)dims[i];
        else if (i == a || opset < 13)
            len *= (size_t)dims[i];
        else
            inner *= (size_t)dims[i];
    }
    float want[30];
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double max = -1e30, sum = 0;
            for (size_t j = 0; j < len; j++)
                max = fmax(max, x[(o * len + j) * inner + i]);
            for (size_t j = 0; j < len; j++)
                sum += exp(x[(o * len + j) * inner + i] - max);
            for (size_t j = 0; j < len; j++) {
                double v = x[(o * len + j) * inner + i] - max;
                want[(o * len + j) * inner + i] = (float)(use_log ? v - log(sum) : exp(v) / sum);
            }
        }
    char what[64];
    snprintf(what, sizeof what, "%s opset %d axis %lld", use_log ? "LogSoftmax" : "Softmax",
             opset, (long long)axis);
    assert_int_equal(th_compare(what, y->data, want, 30, 1e-5f, 1e-5f), -1);
    th_free(&t);
    free(x);
}

static void test_softmax_axis_semantics(void **state) {
    (void)state;
    for (int use_log = 0; use_log < 2; use_log++) {
        check_softmax(11, 1, use_log);  /* flatten at 1: rows of 15 */
        check_softmax(11, 0, use_log);  /* one row of 30 */
        check_softmax(11, -1, use_log);
        check_softmax(13, 1, use_log);  /* axis 1 only */
        check_softmax(13, -1, use_log);
        check_softmax(13, 0, use_log);
    }
}

static void test_softmax_rejects_axis_out_of_range(void **state) {
    (void)state;
    float x[6] = {0};
    th_node t;
    start(&t, "Softmax", 13, 2, (int64_t[]){2, 3}, x);
    th_output(&t, "Y");
    th_attr_int(&t, "axis", 2);
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_ERANGE);
    th_free(&t);
}

static void test_batchnorm_inference(void **state) {
    (void)state;
    uint32_t seed = 9;
    float *x = th_random_floats(2 * 3 * 4, &seed);
    float scale[3] = {1.0f, 2.0f, -0.5f}, b[3] = {0.1f, 0.0f, -1.0f};
    float mean[3] = {0.2f, -0.1f, 0.0f}, var[3] = {1.0f, 0.25f, 4.0f};
    th_node t;
    start(&t, "BatchNormalization", 15, 3, (int64_t[]){2, 3, 4}, x);
    const int64_t c[1] = {3};
    th_float_input(&t, "scale", 1, c, scale, ONNX_TENSOR_CONST);
    th_float_input(&t, "B", 1, c, b, ONNX_TENSOR_CONST);
    th_float_input(&t, "mean", 1, c, mean, ONNX_TENSOR_CONST);
    th_float_input(&t, "var", 1, c, var, ONNX_TENSOR_CONST);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_float(&t, "epsilon", 1e-3f);
    kh_error err = {0};
    assert_int_equal(th_run(&t, 2, &err), KH_OK);
    float want[24];
    for (int i = 0; i < 24; i++) {
        int ch = i / 4 % 3;
        want[i] = (x[i] - mean[ch]) / sqrtf(var[ch] + 1e-3f) * scale[ch] + b[ch];
    }
    assert_int_equal(th_compare("BatchNormalization", y->data, want, 24, 1e-5f, 1e-5f), -1);
    th_free(&t);
    free(x);
}

static void test_batchnorm_refuses_training(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "BatchNormalization", 15);
    th_attr_int(&t, "training_mode", 1);
    const onnx_operator *op = onnx_operator_find("", "BatchNormalization");
    t.node.op = op;
    kh_error err = {0};
    assert_int_equal(op->init(&t.node, &err), KH_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "training_mode"));
}

static void test_instance_and_layer_norm(void **state) {
    (void)state;
    uint32_t seed = 13;
    const int64_t dims[3] = {2, 3, 10};
    float *x = th_random_floats(60, &seed);
    float scale[3] = {1.5f, -1.0f, 0.5f}, b[3] = {0.0f, 0.2f, -0.3f};
    /* InstanceNormalization: each (n, c) row of 10. */
    th_node t;
    start(&t, "InstanceNormalization", 13, 3, dims, x);
    th_float_input(&t, "scale", 1, (int64_t[]){3}, scale, 0);
    th_float_input(&t, "B", 1, (int64_t[]){3}, b, 0);
    onnx_tensor *y = th_output(&t, "Y");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 2, &err), KH_OK);
    float want[60];
    for (int r = 0; r < 6; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 10; i++)
            m += x[r * 10 + i] / 10.0;
        for (int i = 0; i < 10; i++)
            v += (x[r * 10 + i] - m) * (x[r * 10 + i] - m) / 10.0;
        for (int i = 0; i < 10; i++)
            want[r * 10 + i] = (float)((x[r * 10 + i] - m) / sqrt(v + 1e-5)) * scale[r % 3] + b[r % 3];
    }
    assert_int_equal(th_compare("InstanceNormalization", y->data, want, 60, 1e-5f, 1e-5f), -1);
    th_free(&t);

    /* LayerNormalization over the last two axes (axis 1), Scale [3, 10],
     * B broadcast from [10], with Mean and InvStdDev outputs. */
    float *ls = th_random_floats(30, &seed), *lb = th_random_floats(10, &seed);
    start(&t, "LayerNormalization", 17, 3, dims, x);
    th_float_input(&t, "Scale", 2, (int64_t[]){3, 10}, ls, 0);
    th_float_input(&t, "B", 1, (int64_t[]){10}, lb, 0);
    y = th_output(&t, "Y");
    onnx_tensor *mean = th_output(&t, "Mean"), *inv = th_output(&t, "InvStdDev");
    th_attr_int(&t, "axis", 1);
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    assert_int_equal(mean->rank, 3);
    assert_int_equal(mean->dims[0], 2);
    assert_int_equal(mean->dims[1], 1);
    float want_mean[2], want_inv[2];
    for (int r = 0; r < 2; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 30; i++)
            m += x[r * 30 + i] / 30.0;
        for (int i = 0; i < 30; i++)
            v += (x[r * 30 + i] - m) * (x[r * 30 + i] - m) / 30.0;
        want_mean[r] = (float)m;
        want_inv[r] = (float)(1.0 / sqrt(v + 1e-5));
        for (int i = 0; i < 30; i++)
            want[r * 30 + i] = (float)((x[r * 30 + i] - m) * want_inv[r]) * ls[i] + lb[i % 10];
    }
    assert_int_equal(th_compare("LayerNormalization", y->data, want, 60, 1e-5f, 1e-5f), -1);
    assert_int_equal(th_compare("LayerNormalization mean", mean->data, want_mean, 2, 1e-6f, 1e-5f), -1);
    assert_int_equal(th_compare("LayerNormalization inv", inv->data, want_inv, 2, 1e-5f, 1e-5f), -1);
    th_free(&t);
    free(x);
    free(ls);
    free(lb);
}

static void test_lp_mvn_lrn(void **state) {
    (void)state;
    uint32_t seed = 17;
    const int64_t dims[4] = {2, 5, 3, 2};
    float *x = th_random_floats(60, &seed);
    float want[60];
    kh_error err = {0};
    th_node t;
    /* LpNormalization p=1 along axis 1 (stride 6). */
    start(&t, "LpNormalization", 13, 4, dims, x);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_int(&t, "axis", 1);
    th_attr_int(&t, "p", 1);
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    for (int nb = 0; nb < 2; nb++)
        for (int i = 0; i < 6; i++) {
            double s = 0;
            for (int c = 0; c < 5; c++)
                s += fabs(x[nb * 30 + c * 6 + i]);
            for (int c = 0; c < 5; c++)
                want[nb * 30 + c * 6 + i] = (float)(x[nb * 30 + c * 6 + i] / s);
        }
    assert_int_equal(th_compare("LpNormalization", y->data, want, 60, 1e-6f, 1e-5f), -1);
    th_free(&t);

    /* MeanVarianceNormalization, default axes 0, 2, 3: per channel. */
    start(&t, "MeanVarianceNormalization", 13, 4, dims, x);
    y = th_output(&t, "Y");
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    for (int c = 0; c < 5; c++) {
        double m = 0, sq = 0;
        for (int nb = 0; nb < 2; nb++)
            for (int i = 0; i < 6; i++) {
                double v = x[nb * 30 + c * 6 + i];
                m += v / 12;
                sq += v * v / 12;
            }
        double sd = sqrt(sq - m * m);
        for (int nb = 0; nb < 2; nb++)
            for (int i = 0; i < 6; i++)
                want[nb * 30 + c * 6 + i] = (float)((x[nb * 30 + c * 6 + i] - m) / (sd + 1e-9));
    }
    assert_int_equal(th_compare("MeanVarianceNormalization", y->data, want, 60, 1e-5f, 1e-5f), -1);
    th_free(&t);

    /* LRN size 3 across channels. */
    start(&t, "LRN", 13, 4, dims, x);
    y = th_output(&t, "Y");
    th_attr_int(&t, "size", 3);
    th_attr_float(&t, "alpha", 0.5f);
    th_attr_float(&t, "beta", 0.75f);
    th_attr_float(&t, "bias", 2.0f);
    assert_int_equal(th_run(&t, 2, &err), KH_OK);
    for (int nb = 0; nb < 2; nb++)
        for (int c = 0; c < 5; c++)
            for (int i = 0; i < 6; i++) {
                double s = 0;
                for (int k = c - 1; k <= c + 1; k++)
                    if (k >= 0 && k < 5)
                        s += x[nb * 30 + k * 6 + i] * x[nb * 30 + k * 6 + i];
                want[nb * 30 + c * 6 + i] =
                    (float)(x[nb * 30 + c * 6 + i] / pow(2.0 + 0.5 / 3 * s, 0.75));
            }
    assert_int_equal(th_compare("LRN", y->data, want, 60, 1e-6f, 1e-5f), -1);
    th_free(&t);
    free(x);
}

static void test_lrn_requires_size(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "LRN", 13);
    const onnx_operator *op = onnx_operator_find("", "LRN");
    t.node.op = op;
    kh_error err = {0};
    assert_int_equal(op->init(&t.node, &err), KH_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_axis_semantics),
        cmocka_unit_test(test_softmax_rejects_axis_out_of_range),
        cmocka_unit_test(test_batchnorm_inference),
        cmocka_unit_test(test_batchnorm_refuses_training),
        cmocka_unit_test(test_instance_and_layer_norm),
        cmocka_unit_test(test_lp_mvn_lrn),
        cmocka_unit_test(test_lrn_requires_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
