/* Resize / Upsample on small hand-checked cases (the ONNX backend suite
 * covers every mode against the reference), plus the shape rules: sizes,
 * axes, keep_aspect_ratio_policy, tf_crop_and_resize extrapolation, scales
 * that are not known yet, refused modes. And ConvTranspose against a plain
 * scatter loop. Tolerance 1e-5 + 1e-5 * |want|.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_ops_b_harness.h"

static const float square[4] = {1, 2, 3, 4};

static void test_linear_half_pixel(void **state) {
    (void)state;
    float scales[4] = {1, 1, 2, 2};
    th_node t;
    th_init(&t, "Resize", 13);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 2, 2}, (float *)square, 0);
    th_input(&t, NULL);
    th_float_input(&t, "scales", 1, (int64_t[]){4}, scales, ONNX_TENSOR_CONST);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_string(&t, "mode", "linear");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 2, &err), KH_OK);
    const float want[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f,
                            2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
    assert_int_equal(y->dims[2], 4);
    assert_int_equal(y->dims[3], 4);
    assert_int_equal(th_compare("linear half_pixel", y->data, want, 16, 1e-6f, 1e-6f), -1);
    th_free(&t);
}

static void test_nearest_asymmetric_floor_and_upsample(void **state) {
    (void)state;
    const float want[12] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
    float scales[4] = {1, 1, 1, 3};
    for (int upsample = 0; upsample < 2; upsample++) {
        th_node t;
        th_init(&t, upsample ? "Upsample" : "Resize", upsample ? 7 : 13);
        th_float_input(&t, "X", 4, (int64_t[]){1, 1, 2, 2}, (float *)square, 0);
        if (upsample) {
            th_attr_floats(&t, "scales", 4, scales);
        } else {
            th_input(&t, NULL);
            th_float_input(&t, "scales", 1, (int64_t[]){4}, scales, ONNX_TENSOR_CONST);
            th_attr_string(&t, "coordinate_transformation_mode", "asymmetric");
            th_attr_string(&t, "nearest_mode", "floor");
        }
        onnx_tensor *y = th_output(&t, "Y");
        kh_error err = {0};
        assert_int_equal(th_run(&t, 1, &err), KH_OK);
        assert_int_equal(y->dims[3], 6);
        assert_int_equal(th_compare(t.node.op_type, y->data, want, 12, 0, 0), -1);
        th_free(&t);
    }
}

static void test_sizes_axes_keep_aspect_ratio(void **state) {
    (void)state;
    uint32_t seed = 1;
    float *x = th_random_floats(24, &seed);
    int64_t sizes[2] = {3, 3};
    th_node t;
    th_init(&t, "Resize", 18);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 4, 6}, x, 0);
    th_input(&t, NULL);
    th_input(&t, NULL);
    th_input(&t, th_new_tensor(&t, "sizes", ONNX_INT64, 1, (int64_t[]){2}, sizes, ONNX_TENSOR_CONST));
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_ints(&t, "axes", 2, (int64_t[]){2, 3});
    th_attr_string(&t, "keep_aspect_ratio_policy", "not_larger");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    /* scale = min(3/4, 3/6) = 0.5 on both axes: 2 x 3. */
    assert_int_equal(y->rank, 4);
    assert_int_equal(y->dims[0], 1);
    assert_int_equal(y->dims[2], 2);
    assert_int_equal(y->dims[3], 3);
    th_free(&t);
    free(x);
}

static void test_tf_crop_and_resize_extrapolates(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, roi[2] = {0.5f, 1.5f};
    int64_t sizes[1] = {3};
    th_node t;
    th_init(&t, "Resize", 18);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 1, 4}, x, 0);
    th_float_input(&t, "roi", 1, (int64_t[]){2}, roi, ONNX_TENSOR_CONST);
    th_input(&t, NULL);
    th_input(&t, th_new_tensor(&t, "sizes", ONNX_INT64, 1, (int64_t[]){1}, sizes, ONNX_TENSOR_CONST));
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_ints(&t, "axes", 1, (int64_t[]){3});
    th_attr_string(&t, "mode", "linear");
    th_attr_string(&t, "coordinate_transformation_mode", "tf_crop_and_resize");
    th_attr_float(&t, "extrapolation_value", 10.0f);
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    /* x_ori = 1.5, 3.0, 4.5: the last is past the image. */
    const float want[3] = {2.5f, 4.0f, 10.0f};
    assert_int_equal(th_compare("tf_crop_and_resize", y->data, want, 3, 1e-6f, 1e-6f), -1);
    th_free(&t);
}

static void test_cubic_scale_one_is_identity(void **state) {
    (void)state;
    uint32_t seed = 2;
    float *x = th_random_floats(2 * 3 * 5, &seed);
    float scales[3] = {1, 1, 1};
    th_node t;
    th_init(&t, "Resize", 13);
    th_float_input(&t, "X", 3, (int64_t[]){2, 3, 5}, x, 0);
    th_input(&t, NULL);
    th_float_input(&t, "scales", 1, (int64_t[]){3}, scales, ONNX_TENSOR_CONST);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_string(&t, "mode", "cubic");
    kh_error err = {0};
    assert_int_equal(th_run(&t, 1, &err), KH_OK);
    assert_int_equal(th_compare("cubic identity", y->data, x, 30, 1e-6f, 1e-6f), -1);
    th_free(&t);
    free(x);
}

static void test_resize_refusals(void **state) {
    (void)state;
    kh_error err = {0};
    const onnx_operator *op = onnx_operator_find("", "Resize");
    th_node t;
    th_init(&t, "Resize", 18);
    t.node.op = op;
    th_attr_string(&t, "mode", "linear");
    th_attr_int(&t, "antialias", 1);
    assert_int_equal(op->init(&t.node, &err), KH_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "antialias"));
    op->exit(&t.node);

    th_init(&t, "Resize", 13);
    t.node.op = op;
    th_attr_string(&t, "mode", "lanczos");
    assert_int_equal(op->init(&t.node, &err), KH_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "lanczos"));
    op->exit(&t.node);

    /* Scales computed at run time: the engine must plan later. */
    float scales[4] = {1, 1, 2, 2};
    th_init(&t, "Resize", 13);
    th_float_input(&t, "X", 4, (int64_t[]){1, 1, 2, 2}, (float *)square, 0);
    th_input(&t, NULL);
    th_float_input(&t, "scales", 1, (int64_t[]){4}, scales, 0);
    th_output(&t, "Y");
    assert_int_equal(th_run(&t, 1, &err), KH_EDYNAMIC);
    th_free(&t);
}

/* ---- ConvTranspose ---- */

typedef struct convt_case {
    int64_t n, c, m, group, h, w, kh, kw, sh, sw, dh, dw;
    int64_t pads[4], out_pad[2], out_shape[2];
    const char *auto_pad;
} convt_case;

static void run_convt(const convt_case *cc) {
    uint32_t seed = 31;
    const int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
    float *x = th_random_floats((size_t)(cc->n * cc->c * cc->h * cc->w), &seed);
    float *w = th_random_floats((size_t)(cc->c * mg * cc->kh * cc->kw), &seed);
    float *b = th_random_floats((size_t)cc->m, &seed);
    th_node t;
    th_init(&t, "ConvTranspose", 11);
    th_float_input(&t, "X", 4, (int64_t[]){cc->n, cc->c, cc->h, cc->w}, x, 0);
    th_float_input(&t, "W", 4, (int64_t[]){cc->c, mg, cc->kh, cc->kw}, w, ONNX_TENSOR_CONST);
    th_float_input(&t, "B", 1, &cc->m, b, ONNX_TENSOR_CONST);
    onnx_tensor *y = th_output(&t, "Y");
    th_attr_int(&t, "group", cc->group);
    th_attr_ints(&t, "strides", 2, (int64_t[]){cc->sh, cc->sw});
    th_attr_ints(&t, "dilations", 2, (int64_t[]){cc->dh, cc->dw});
    if (cc->out_pad[0] || cc->out_pad[1])
        th_attr_ints(&t, "output_padding", 2, cc->out_pad);
    if (cc->out_shape[0])
        th_attr_ints(&t, "output_shape", 2, cc->out_shape);
    if (cc->auto_pad)
        th_attr_string(&t, "auto_pad", cc->auto_pad);
    else
        th_attr_ints(&t, "pads", 4, cc->pads);
    kh_error err = {0};
    int rc = th_run(&t, 2, &err);
    if (rc)
        fprintf(stderr, "ConvTranspose: %s\n", err.message);
    assert_int_equal(rc, KH_OK);
    /* Output size and begin pads as the ONNX reference computes them. */
    int64_t s[2] = {cc->sh, cc->sw}, d[2] = {cc->dh, cc->dw}, k[2] = {cc->kh, cc->kw};
    int64_t in[2] = {cc->h, cc->w}, out[2], pb[2];
    for (int i = 0; i < 2; i++) {
        int64_t natural = s[i] * (in[i] - 1) + cc->out_pad[i] + (k[i] - 1) * d[i] + 1;
        if (cc->auto_pad) {
            out[i] = cc->out_shape[0] ? cc->out_shape[i] : in[i] * s[i];
            int64_t total = natural - out[i];
            pb[i] = !strcmp(cc->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
        } else {
            pb[i] = cc->pads[i];
            out[i] = cc->out_shape[0] ? cc->out_shape[i] : natural - cc->pads[i] - cc->pads[i + 2];
        }
    }
    assert_int_equal(y->dims[2], out[0]);
    assert_int_equal(y->dims[3], out[1]);
    size_t yn = (size_t)(cc->n * cc->m * out[0] * out[1]);
    float *want = malloc(yn * sizeof *want);
    for (int64_t nb = 0; nb < cc->n; nb++)
        for (int64_t mo = 0; mo < cc->m; mo++)
            for (int64_t i = 0; i < out[0] * out[1]; i++)
                want[(nb * cc->m + mo) * out[0] * out[1] + i] = b[mo];
    for (int64_t nb = 0; nb < cc->n; nb++)
        for (int64_t ci = 0; ci < cc->c; ci++)
            for (int64_t ih = 0; ih < cc->h; ih++)
                for (int64_t iw = 0; iw < cc->w; iw++)
                    for (int64_t mo = 0; mo < mg; mo++)
                        for (int64_t a = 0; a < cc->kh; a++)
                            for (int64_t e = 0; e < cc->kw; e++) {
                                int64_t oh = ih * cc->sh - pb[0] + a * cc->dh;
                                int64_t ow = iw * cc->sw - pb[1] + e * cc->dw;
                                if (oh < 0 || oh >= out[0] || ow < 0 || ow >= out[1])
                                    continue;
                                int64_t m = ci / cg * mg + mo;
                                want[((nb * cc->m + m) * out[0] + oh) * out[1] + ow] +=
                                    x[((nb * cc->c + ci) * cc->h + ih) * cc->w + iw] *
                                    w[((ci * mg + mo) * cc->kh + a) * cc->kw + e];
                            }
    assert_int_equal(th_compare("ConvTranspose", y->data, want, yn, 1e-4f, 1e-5f), -1);
    free(want);
    th_free(&t);
    free(x);
    free(w);
    free(b);
}

static const convt_case convt_cases[] = {
    {1, 3, 4, 1, 5, 6, 3, 3, 1, 1, 1, 1, {0, 0, 0, 0}, {0, 0}, {0, 0}, NULL},
    {2, 4, 6, 2, 4, 5, 3, 2, 2, 3, 1, 1, {1, 0, 0, 1}, {1, 2}, {0, 0}, NULL},
    {1, 2, 2, 1, 3, 3, 3, 3, 2, 2, 2, 1, {0, 0, 0, 0}, {0, 0}, {10, 9}, NULL},
    {1, 2, 3, 1, 3, 4, 3, 3, 2, 2, 1, 1, {0}, {0, 0}, {0, 0}, "SAME_UPPER"},
    {1, 2, 3, 1, 3, 4, 4, 3, 2, 2, 1, 1, {0}, {0, 0}, {0, 0}, "SAME_LOWER"},
};

static void test_convtranspose_matches_reference(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof convt_cases / sizeof convt_cases[0]; c++)
        run_convt(&convt_cases[c]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_half_pixel),
        cmocka_unit_test(test_nearest_asymmetric_floor_and_upsample),
        cmocka_unit_test(test_sizes_axes_keep_aspect_ratio),
        cmocka_unit_test(test_tf_crop_and_resize_extrapolates),
        cmocka_unit_test(test_cubic_scale_one_is_identity),
        cmocka_unit_test(test_resize_refusals),
        cmocka_unit_test(test_convtranspose_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
