/* Conv: every path (depthwise, pointwise, rows, packed im2col) and every
 * instruction set against a plain nested-loop convolution written here, on
 * odd shapes, groups, strides, dilations, pads, auto_pad, 1-D/2-D/3-D, and
 * what the fusion pass adds (residual inputs, activations).
 * Tolerance: |got - want| <= 1e-5 * (K + 1) + 1e-5 * |want|, K the number of
 * products summed per output (float rounding grows with K).
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "onnx/optimize.h"
#include "test_ops_b_harness.h"

typedef struct conv_case {
    const char *name;
    int spatial;
    int64_t n, c, m, group;
    int64_t in[3], kernel[3], stride[3], dilation[3], pads[6];
    const char *auto_pad; /* NULL: attribute absent */
    bool bias, variable_weights;
    const char *activation; /* fused: NULL, "Relu", "LeakyRelu", "Clip" */
    int residuals;          /* fused residual inputs */
    bool broadcast_residual; /* first residual is [1, M, 1...] */
} conv_case;

static int64_t out_size(const conv_case *cc, int i, int64_t *pad_begin) {
    int64_t in = cc->in[i], k = cc->kernel[i];
    int64_t s = cc->stride[i] ? cc->stride[i] : 1, d = cc->dilation[i] ? cc->dilation[i] : 1;
    int64_t span = (k - 1) * d + 1;
    if (cc->auto_pad && !strcmp(cc->auto_pad, "VALID")) {
        *pad_begin = 0;
        return (in - span) / s + 1;
    }
    if (cc->auto_pad && !strncmp(cc->auto_pad, "SAME", 4)) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        *pad_begin = !strcmp(cc->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
        return out;
    }
    *pad_begin = cc->pads[i];
    return (in + cc->pads[i] + cc->pads[i + cc->spatial] - span) / s + 1;
}

/* Plain convolution + bias + residuals + activation. */
static void reference(const conv_case *cc, const float *x, const float *w,
                      const float *b, float *const *res, const int64_t *ydims,
                      const kernel_epilogue *act, float *y) {
    int64_t in[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    int64_t st[3] = {1, 1, 1}, dil[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    int lead = 3 - cc->spatial;
    for (int i = 0; i < cc->spatial; i++) {
        in[lead + i] = cc->in[i];
        ker[lead + i] = cc->kernel[i];
        st[lead + i] = cc->stride[i] ? cc->stride[i] : 1;
        dil[lead + i] = cc->dilation[i] ? cc->dilation[i] : 1;
        out[lead + i] = out_size(cc, i, &pb[lead + i]);
    }
    int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
    int64_t osz = out[0] * out[1] * out[2], isz = in[0] * in[1] * in[2];
    for (int64_t n = 0; n < cc->n; n++)
        for (int64_t m = 0; m < cc->m; m++) {
            int64_t g = m / mg;
            for (int64_t o = 0; o < osz; o++) {
                int64_t od = o / (out[1] * out[2]), oh = o / out[2] % out[1], ow = o % out[2];
                double acc = 0;
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t kd = 0; kd < ker[0]; kd++)
                        for (int64_t kh = 0; kh < ker[1]; kh++)
                            for (int64_t kw = 0; kw < ker[2]; kw++) {
                                int64_t id = od * st[0] - pb[0] + kd * dil[0];
                                int64_t ih = oh * st[1] - pb[1] + kh * dil[1];
                                int64_t iw = ow * st[2] - pb[2] + kw * dil[2];
                                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2])
                                    continue;
                                float xv = x[(n * cc->c + g * cg + ci) * isz + (id * in[1] + ih) * in[2] + iw];
                                float wv = w[((m * cg + ci) * ker[0] + kd) * ker[1] * ker[2] + kh * ker[2] + kw];
                                acc += (double)xv * wv;
                            }
                float v = (float)acc + (b ? b[m] : 0.0f);
                for (int r = 0; r < cc->residuals; r++) {
                    bool bc = r == 0 && cc->broadcast_residual;
                    v += bc ? res[r][m] : res[r][(n * cc->m + m) * osz + o];
                }
                y[(n * cc->m + m) * osz + o] = kernel_activate(act, v);
            }
        }
    (void)ydims;
}

static void run_case(const conv_case *cc, sgemm_isa isa, int threads) {
    uint32_t seed = 1234u + (uint32_t)threads * 77u;
    const int rank = cc->spatial + 2;
    int64_t xdims[5] = {cc->n, cc->c}, wdims[5] = {cc->m, cc->c / cc->group};
    int64_t ydims[5] = {cc->n, cc->m};
    size_t xn = (size_t)(cc->n * cc->c), wn = (size_t)(cc->m * (cc->c / cc->group)), yn = (size_t)(cc->n * cc->m);
    for (int i = 0; i < cc->spatial; i++) {
        int64_t pb;
        xdims[2 + i] = cc->in[i];
        wdims[2 + i] = cc->kernel[i];
        ydims[2 + i] = out_size(cc, i, &pb);
        xn *= (size_t)cc->in[i];
        wn *= (size_t)cc->kernel[i];
        yn *= (size_t)ydims[2 + i];
    }
    float *x = th_random_floats(xn, &seed), *w = th_random_floats(wn, &seed);
    float *b = th_random_floats((size_t)cc->m, &seed);
    float *res[3] = {NULL, NULL, NULL};
    int64_t bdims[5] = {1, cc->m, 1, 1, 1};
    for (int r = 0; r < cc->residuals; r++)
        res[r] = th_random_floats(r == 0 && cc->broadcast_residual ? (size_t)cc->m : yn, &seed);

    th_node t;
    th_init(&t, "Conv", 13);
    th_float_input(&t, "X", rank, xdims, x, 0);
    th_float_input(&t, "W", rank, wdims, w, cc->variable_weights ? 0 : ONNX_TENSOR_CONST);
    if (cc->bias)
        th_float_input(&t, "B", 1, &cc->m, b, ONNX_TENSOR_CONST);
    else if (cc->residuals)
        th_input(&t, NULL);
    for (int r = 0; r < cc->residuals; r++) {
        bool bc = r == 0 && cc->broadcast_residual;
        th_float_input(&t, "R", rank, bc ? bdims : ydims, res[r], 0);
    }
    onnx_tensor *y = th_output(&t, "Y");
    if (cc->group != 1)
        th_attr_int(&t, "group", cc->group);
    th_attr_ints(&t, "kernel_shape", (size_t)cc->spatial, cc->kernel);
    if (cc->stride[0])
        th_attr_ints(&t, "strides", (size_t)cc->spatial, cc->stride);
    if (cc->dilation[0])
        th_attr_ints(&t, "dilations", (size_t)cc->spatial, cc->dilation);
    if (cc->auto_pad)
        th_attr_string(&t, "auto_pad", cc->auto_pad);
    else
        th_attr_ints(&t, "pads", 2 * (size_t)cc->spatial, cc->pads);
    kernel_epilogue act = {.activation = KERNEL_ACT_NONE};
    if (cc->activation) {
        th_attr_string(&t, ONNX_FUSED_ACTIVATION, cc->activation);
        if (!strcmp(cc->activation, "Relu")) {
            act.activation = KERNEL_ACT_RELU;
        } else if (!strcmp(cc->activation, "LeakyRelu")) {
            act.activation = KERNEL_ACT_LEAKY_RELU;
            act.alpha = 0.1f;
            th_attr_float(&t, ONNX_FUSED_ALPHA, 0.1f);
        } else {
            act.activation = KERNEL_ACT_CLIP;
            act.lo = -0.5f;
            act.hi = 0.7f;
            th_attr_float(&t, ONNX_FUSED_MIN, -0.5f);
            th_attr_float(&t, ONNX_FUSED_MAX, 0.7f);
        }
    }

    kh_error err = {0};
    assert_true(sgemm_isa_select(isa));
    int rc = th_run(&t, threads, &err);
    sgemm_isa_select(sgemm_isa_best());
    if (rc)
        fprintf(stderr, "%s: %s\n", cc->name, err.message);
    assert_int_equal(rc, KH_OK);
    assert_int_equal(y->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(y->dims[i], ydims[i]);

    float *want = malloc(yn * sizeof *want);
    reference(cc, x, w, cc->bias ? b : NULL, res, ydims, &act, want);
    size_t k = (size_t)(cc->c / cc->group) * (wn / (size_t)(cc->m * (cc->c / cc->group)));
    char what[160];
    snprintf(what, sizeof what, "%s [%s, %d threads]", cc->name, sgemm_isa_name(isa), threads);
    assert_int_equal(th_compare(what, y->data, want, yn, 1e-5f * (float)(k + 1), 1e-5f), -1);
    free(want);
    th_free(&t);
    free(x);
    free(w);
    free(b);
    for (int r = 0; r < 3; r++)
        free(res[r]);
}

static const conv_case cases[] = {
    {"pointwise", 2, 2, 19, 37, 1, {9, 13}, {1, 1}, {0}, {0}, {0}, NULL, true, false, NULL, 0, false},
    {"pointwise group 2", 2, 1, 8, 6, 2, {7, 5}, {1, 1}, {0}, {0}, {0}, NULL, false, false, NULL, 0, false},
    {"rows 3x3 pad 1 leaky", 2, 1, 5, 17, 1, {11, 40}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true, false, "LeakyRelu", 0, false},
    {"rows dilation 2 stride_h 2 asym pads", 2, 2, 3, 9, 1, {15, 50}, {3, 3}, {2, 1}, {2, 2}, {2, 1, 0, 3}, NULL, true, false, NULL, 0, false},
    {"rows K over one block", 2, 1, 50, 20, 1, {6, 30}, {3, 3}, {0}, {0}, {0}, NULL, true, false, "Relu", 0, false},
    {"rows like tiny conv0", 2, 1, 3, 16, 1, {30, 70}, {3, 3}, {0}, {0}, {0}, "VALID", true, false, "LeakyRelu", 0, false},
    {"rows stride 2 same_upper", 2, 1, 3, 32, 1, {60, 61}, {3, 3}, {2, 2}, {0}, {0}, "SAME_UPPER", true, false, "Relu", 0, false},
    {"rows stride 3 dilation 2", 2, 2, 4, 9, 1, {20, 80}, {3, 3}, {1, 3}, {1, 2}, {1, 2, 0, 1}, NULL, true, true, "LeakyRelu", 0, false},
    {"1-D rows stride 2", 1, 1, 2, 5, 1, {70}, {4}, {2}, {0}, {1, 2}, NULL, true, false, NULL, 0, false},
    {"rows stride 4 (phases)", 2, 1, 3, 6, 1, {9, 130}, {2, 5}, {1, 4}, {0}, {0, 0, 1, 3}, NULL, true, false, NULL, 1, false},
    {"packed stride 2 same_upper relu", 2, 1, 3, 32, 1, {17, 17}, {3, 3}, {2, 2}, {0}, {0}, "SAME_UPPER", true, false, "Relu", 0, false},
    {"packed same_lower 2x3", 2, 2, 4, 5, 1, {8, 9}, {2, 3}, {2, 2}, {0}, {0}, "SAME_LOWER", false, false, NULL, 0, false},
    {"packed narrow rows", 2, 1, 7, 11, 1, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true, false, NULL, 0, false},
    {"1-D rows", 1, 2, 3, 4, 1, {50}, {5}, {0}, {0}, {2, 2}, NULL, true, false, NULL, 0, false},
    {"1-D packed", 1, 1, 3, 4, 1, {7}, {3}, {2}, {0}, {1, 0}, NULL, true, false, NULL, 0, false},
    {"3-D", 3, 1, 2, 3, 1, {5, 6, 7}, {3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}, NULL, true, false, NULL, 0, false},
    {"depthwise 3x3 s1 residual relu", 2, 2, 21, 21, 21, {13, 37}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, NULL, true, false, "Relu", 1, false},
    {"depthwise 3x3 s2 pad 1", 2, 1, 10, 10, 10, {20, 33}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, NULL, true, false, NULL, 0, false},
    {"depthwise 3x3 s2 same_upper even", 2, 1, 6, 6, 6, {26, 26}, {3, 3}, {2, 2}, {0}, {0}, "SAME_UPPER", true, false, "LeakyRelu", 0, false},
    {"depthwise 3x3 s2 no pad odd", 2, 1, 5, 5, 5, {35, 35}, {3, 3}, {2, 2}, {0}, {0}, NULL, false, false, NULL, 0, false},
    {"depthwise 3x3 s1 wide", 2, 1, 3, 3, 3, {5, 71}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, NULL, true, false, "Clip", 0, false},
    {"depthwise 3x3 tiny plane", 2, 1, 4, 4, 4, {2, 2}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, NULL, true, false, NULL, 0, false},
    {"depthwise strips 14x14 residual leaky", 2, 1, 16, 16, 16, {14, 14}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, NULL, true, false, "LeakyRelu", 1, false},
    {"depthwise strips asymmetric pads", 2, 2, 5, 5, 5, {9, 23}, {3, 3}, {1, 1}, {0}, {0, 1, 2, 0}, NULL, true, false, NULL, 0, false},
    {"depthwise strips valid", 2, 1, 3, 3, 3, {6, 40}, {3, 3}, {1, 1}, {0}, {0, 0, 0, 0}, NULL, false, false, "Relu", 0, false},
    {"depthwise s2 asymmetric pads", 2, 1, 4, 4, 4, {11, 37}, {3, 3}, {2, 2}, {0}, {0, 1, 1, 0}, NULL, true, false, NULL, 0, false},
    {"depthwise 5x5 dilation 2", 2, 1, 4, 4, 4, {12, 19}, {5, 5}, {1, 2}, {2, 2}, {4, 3, 2, 1}, NULL, true, false, NULL, 0, false},
    {"depthwise multiplier 2", 2, 1, 4, 8, 4, {9, 30}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, NULL, true, false, NULL, 0, false},
    {"variable weights", 2, 1, 5, 17, 1, {11, 40}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true, true, NULL, 0, false},
    {"variable weights packed", 2, 1, 5, 17, 1, {11, 11}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, NULL, true, true, NULL, 0, false},
    {"three residuals clip", 2, 2, 16, 13, 1, {5, 11}, {1, 1}, {0}, {0}, {0}, NULL, true, false, "Clip", 3, false},
    {"residuals without bias", 2, 1, 16, 24, 1, {7, 7}, {1, 1}, {0}, {0}, {0}, NULL, false, false, "Relu", 2, false},
    {"broadcast residual", 2, 2, 6, 10, 1, {6, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, NULL, true, false, "Relu", 2, true},
    {"pointwise M tail wide N", 2, 1, 33, 13, 1, {1, 1000}, {1, 1}, {0}, {0}, {0}, NULL, true, false, "LeakyRelu", 0, false},
    {"pointwise big K", 2, 1, 800, 9, 1, {3, 5}, {1, 1}, {0}, {0}, {0}, NULL, true, false, NULL, 1, false},
    {"1x1 stride 2 (packed)", 2, 1, 6, 10, 1, {9, 9}, {1, 1}, {2, 2}, {0}, {0}, NULL, true, false, NULL, 0, false},
    {"1x1 end pad (not pointwise)", 2, 1, 4, 5, 1, {6, 30}, {1, 1}, {0}, {0}, {0, 0, 1, 2}, NULL, true, false, NULL, 0, false},
};

static void test_conv_matches_reference(void **state) {
    (void)state;
    sgemm_isa isas[3];
    size_t n_isas = th_isas(isas);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t i = 0; i < n_isas; i++)
            for (int threads = 1; threads <= 3; threads += 2)
                run_case(&cases[c], isas[i], threads);
}

static void test_conv_rejects_channel_mismatch(void **state) {
    (void)state;
    float x[2 * 3 * 4 * 4] = {0}, w[4 * 2 * 3 * 3] = {0};
    th_node t;
    th_init(&t, "Conv", 11);
    th_float_input(&t, "X", 4, (int64_t[]){2, 3, 4, 4}, x, 0);
    th_float_input(&t, "W", 4, (int64_t[]){4, 2, 3, 3}, w, ONNX_TENSOR_CONST);
    th_output(&t, "Y");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_ESHAPE);
    assert_non_null(strstr(err.message, "[2,3,4,4]"));
    th_free(&t);
}

static void test_conv_rejects_bad_group(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "Conv", 11);
    th_attr_int(&t, "group", 0);
    kh_error err = {0};
    const onnx_operator *op = onnx_operator_find("", "Conv");
    assert_non_null(op);
    t.node.op = op;
    assert_int_equal(op->init(&t.node, &err), KH_EINVAL);
    op->exit(&t.node);
}

static void test_conv_rejects_window_too_big(void **state) {
    (void)state;
    float x[1 * 1 * 2 * 2] = {0}, w[1 * 1 * 3 * 3] = {0};
    th_node t;
    th_init(&t, "Conv", 11);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 2, 2}, x, 0);
    th_float_input(&t, "W", 4, (int64_t[]){1, 1, 3, 3}, w, ONNX_TENSOR_CONST);
    th_output(&t, "Y");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_ESHAPE);
    th_free(&t);
}

static void test_conv_rejects_output_too_large(void **state) {
    (void)state;
    float x[4] = {0}, w[1] = {0};
    th_node t;
    th_init(&t, "Conv", 11);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 2, 2}, x, 0);
    th_float_input(&t, "W", 4, (int64_t[]){1, 1, 1, 1}, w, ONNX_TENSOR_CONST);
    th_output(&t, "Y");
    const int64_t big = (int64_t)1 << 31;
    th_attr_ints(&t, "pads", 4, (int64_t[]){big, big, big, big});
    kh_error err = {0};
    int rc = th_run(&t, 1, &err);
    if (rc == KH_OK)
        fprintf(stderr, "a [1,1,2^32,2^32] output was accepted\n");
    assert_int_not_equal(rc, KH_OK);
    th_free(&t);
}

static void test_conv_refuses_4_spatial_axes(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "Conv", 11);
    th_attr_ints(&t, "strides", 4, (int64_t[]){1, 1, 1, 1});
    kh_error err = {0};
    const onnx_operator *op = onnx_operator_find("", "Conv");
    t.node.op = op;
    assert_int_equal(op->init(&t.node, &err), KH_EUNSUPPORTED);
    op->exit(&t.node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_matches_reference),
        cmocka_unit_test(test_conv_rejects_channel_mismatch),
        cmocka_unit_test(test_conv_rejects_bad_group),
        cmocka_unit_test(test_conv_rejects_window_too_big),
        cmocka_unit_test(test_conv_rejects_output_too_large),
        cmocka_unit_test(test_conv_refuses_4_spatial_axes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
