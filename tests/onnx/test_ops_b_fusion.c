/* The fusion pass (optimize.h) end to end: small models built with the
 * model writer are loaded twice, with and without fusion
 * (KHAPPY_ONNX_NO_FUSION), and must give the same outputs; the fused model
 * must really have folded its Adds and activations (engine internals).
 * Tolerance 1e-5 + 1e-5 * |want| (fused sums add in another order).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "onnx/engine.h"
#include "onnx/model_writer.h"
#include "onnx/optimize.h"
#include "test_ops_b_harness.h"

static void conv_node(onnx_model_writer *w, const char *name, const char *x, const char *wt,
                      const char *b, const char *y, int64_t k, int64_t group) {
    const char *ins[3] = {x, wt, b};
    const char *outs[1] = {y};
    onnx_model_writer_add_node(w, "Conv", name, ins, b ? 3 : 2, outs, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){k, k}, 2);
    onnx_model_writer_attr_ints(w, "pads", (int64_t[]){k / 2, k / 2, k / 2, k / 2}, 4);
    if (group > 1)
        onnx_model_writer_attr_int(w, "group", group);
}

static void node2(onnx_model_writer *w, const char *op, const char *a, const char *b,
                  const char *y) {
    const char *ins[2] = {a, b};
    const char *outs[1] = {y};
    onnx_model_writer_add_node(w, op, y, ins, b ? 2 : 1, outs, 1);
}

/* A dense block like the expression net's, plus LeakyRelu, Clip (opset 13
 * bounds as inputs), a broadcast residual and a Conv whose output is also a
 * graph output (must stay unfused). */
static uint8_t *build_model(size_t *len) {
    kh_error err = {0};
    onnx_model_writer *w;
    assert_int_equal(onnx_model_writer_create("fusion", 13, &w, &err), KH_OK);
    const int64_t xdims[4] = {1, 4, 6, 7};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 4, xdims, NULL);
    uint32_t seed = 5;
    struct {
        const char *name;
        int64_t dims[4];
        size_t n;
    } inits[] = {
        {"w1", {8, 4, 1, 1}, 32}, {"b1", {8}, 8}, {"w2", {8, 8, 3, 3}, 576},
        {"b2", {8}, 8},           {"w3", {8, 1, 3, 3}, 72}, {"b3", {8}, 8},
        {"w4", {8, 8, 1, 1}, 64}, {"bc", {1, 8, 1, 1}, 8},
    };
    for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
        float *v = th_random_floats(inits[i].n, &seed);
        int rank = inits[i].dims[1] ? 4 : 1;
        onnx_model_writer_add_initializer(w, inits[i].name, rank, inits[i].dims, v);
        free(v);
    }
    float lo = -0.2f, hi = 0.5f;
    onnx_model_writer_add_initializer(w, "lo", 0, NULL, &lo);
    onnx_model_writer_add_initializer(w, "hi", 0, NULL, &hi);

    conv_node(w, "c1", "x", "w1", "b1", "c1", 1, 1);
    node2(w, "Relu", "c1", NULL, "out1");           /* -> Conv + Relu */
    conv_node(w, "c2", "out1", "w2", "b2", "out2", 3, 1);
    node2(w, "Add", "out1", "out2", "in3sum");      /* out2 has 2 readers */
    node2(w, "Relu", "in3sum", NULL, "in3");        /* -> FusedSum */
    conv_node(w, "c3", "in3", "w3", "b3", "out3", 3, 8); /* depthwise */
    node2(w, "Add", "out2", "out3", "s23");         /* -> Conv residual */
    node2(w, "Add", "out1", "s23", "s123");         /* -> 2nd residual */
    node2(w, "LeakyRelu", "s123", NULL, "leaky");   /* -> Conv activation */
    conv_node(w, "c4", "leaky", "w4", NULL, "out4", 1, 1);
    node2(w, "Add", "out4", "bc", "bsum");          /* broadcast residual */
    const char *clip_in[3] = {"bsum", "lo", "hi"}, *clip_out[1] = {"y"};
    onnx_model_writer_add_node(w, "Clip", "clip", clip_in, 3, clip_out, 1);
    conv_node(w, "c5", "y", "w4", "b1", "z", 1, 1); /* z: graph output and read */
    node2(w, "Relu", "z", NULL, "zr");
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "z", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "zr", ONNX_FLOAT, -1, NULL, NULL);
    uint8_t *buf;
    assert_int_equal(onnx_model_writer_finish(w, &buf, len, &err), KH_OK);
    onnx_model_writer_destroy(w);
    return buf;
}

static onnx_model *load(const uint8_t *buf, size_t len, bool fusion, int threads) {
    if (fusion)
        unsetenv("KHAPPY_ONNX_NO_FUSION");
    else
        setenv("KHAPPY_ONNX_NO_FUSION", "1", 1);
    onnx_load_options opts = {.threads = threads};
    onnx_model *m = NULL;
    kh_error err = {0};
    int rc = onnx_model_load_buffer(buf, len, &opts, &m, &err);
    if (rc)
        fprintf(stderr, "load: %s\n", err.message);
    assert_int_equal(rc, KH_OK);
    unsetenv("KHAPPY_ONNX_NO_FUSION");
    return m;
}

static const onnx_node *node_named(const onnx_model *m, const char *name) {
    for (size_t i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].name, name))
            return &m->nodes[i];
    return NULL;
}

static void test_fused_model_matches_unfused(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = build_model(&len);
    uint32_t seed = 8;
    float *x = th_random_floats(4 * 6 * 7, &seed);
    onnx_tensor_view in = {ONNX_FLOAT, 4, {1, 4, 6, 7}, x};
    for (int threads = 1; threads <= 2; threads++) {
        onnx_model *plain = load(buf, len, false, threads), *fused = load(buf, len, true, threads);
        onnx_tensor_view a[3], b[3];
        kh_error err = {0};
        assert_int_equal(onnx_model_run(plain, &in, 1, a, 3, &err), KH_OK);
        int rc = onnx_model_run(fused, &in, 1, b, 3, &err);
        if (rc)
            fprintf(stderr, "fused run: %s\n", err.message);
        assert_int_equal(rc, KH_OK);
        for (int o = 0; o < 3; o++) {
            size_t n = 1;
            for (int i = 0; i < a[o].rank; i++) {
                assert_int_equal(a[o].dims[i], b[o].dims[i]);
                n *= (size_t)a[o].dims[i];
            }
            assert_int_equal(th_compare("fused vs unfused", b[o].data, a[o].data, n, 1e-5f, 1e-5f), -1);
        }

        /* What was fused. */
        const onnx_node *c1 = node_named(fused, "c1"), *c3 = node_named(fused, "c3");
        const onnx_node *c4 = node_named(fused, "c4"), *c5 = node_named(fused, "c5");
        const onnx_node *in3 = node_named(fused, "in3"), *zr = node_named(fused, "zr");
        assert_non_null(c1);
        assert_string_equal(onnx_attr_string(c1, ONNX_FUSED_ACTIVATION, ""), "Relu");
        assert_int_equal(c3->n_inputs, ONNX_FUSED_FIRST_RESIDUAL + 2);
        assert_string_equal(onnx_attr_string(c3, ONNX_FUSED_ACTIVATION, ""), "LeakyRelu");
        assert_int_equal(c4->n_inputs, ONNX_FUSED_FIRST_RESIDUAL + 1);
        assert_string_equal(onnx_attr_string(c4, ONNX_FUSED_ACTIVATION, ""), "Clip");
        assert_string_equal(in3->op_type, "FusedSum");
        assert_int_equal(in3->n_inputs, 2);
        /* z is a graph output: its Conv keeps it, the Relu stays. */
        assert_int_equal(c5->n_inputs, 3);
        assert_null(onnx_attr_find(c5, ONNX_FUSED_ACTIVATION));
        assert_string_equal(zr->op_type, "Relu");
        onnx_model_destroy(plain);
        onnx_model_destroy(fused);
    }
    free(x);
    free(buf);
}

/* Convs followed by 2x2 stride-2 MaxPools on every Conv path: rows (with a
 * top pad: SAME_LOWER on an odd height), pointwise (left and right pads: the
 * scalar row pooling), packed (pooled from a full-size result), and a 3x3
 * pool that must stay a node. */
static uint8_t *build_pool_model(size_t *len) {
    kh_error err = {0};
    onnx_model_writer *w;
    assert_int_equal(onnx_model_writer_create("pools", 13, &w, &err), KH_OK);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 4, (int64_t[]){1, 3, 21, 30}, NULL);
    uint32_t seed = 6;
    float *w1 = th_random_floats(8 * 3 * 9, &seed), *w2 = th_random_floats(8 * 8, &seed);
    float *w3 = th_random_floats(8 * 8 * 9, &seed), *b = th_random_floats(8, &seed);
    onnx_model_writer_add_initializer(w, "w1", 4, (int64_t[]){8, 3, 3, 3}, w1);
    onnx_model_writer_add_initializer(w, "w2", 4, (int64_t[]){8, 8, 1, 1}, w2);
    onnx_model_writer_add_initializer(w, "w3", 4, (int64_t[]){8, 8, 3, 3}, w3);
    onnx_model_writer_add_initializer(w, "b", 1, (int64_t[]){8}, b);
    free(w1);
    free(w2);
    free(w3);
    free(b);
    const char *c1_in[3] = {"x", "w1", "b"}, *c1_out[1] = {"c1"};
    onnx_model_writer_add_node(w, "Conv", "c1", c1_in, 3, c1_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){3, 3}, 2);
    node2(w, "LeakyRelu", "c1", NULL, "l1");
    const char *p1_in[1] = {"l1"}, *p1_out[1] = {"p1"};
    onnx_model_writer_add_node(w, "MaxPool", "p1", p1_in, 1, p1_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_ints(w, "strides", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_string(w, "auto_pad", "SAME_LOWER");
    const char *c2_in[3] = {"p1", "w2", "b"}, *c2_out[1] = {"c2"};
    onnx_model_writer_add_node(w, "Conv", "c2", c2_in, 3, c2_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){1, 1}, 2);
    const char *p2_in[1] = {"c2"}, *p2_out[1] = {"p2"};
    onnx_model_writer_add_node(w, "MaxPool", "p2", p2_in, 1, p2_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_ints(w, "strides", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_ints(w, "pads", (int64_t[]){0, 1, 0, 1}, 4);
    const char *c3_in[3] = {"p2", "w3", "b"}, *c3_out[1] = {"c3"};
    onnx_model_writer_add_node(w, "Conv", "c3", c3_in, 3, c3_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){3, 3}, 2);
    onnx_model_writer_attr_ints(w, "strides", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_ints(w, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    node2(w, "Relu", "c3", NULL, "r3");
    const char *p3_in[1] = {"r3"}, *p3_out[1] = {"p3"};
    onnx_model_writer_add_node(w, "MaxPool", "p3", p3_in, 1, p3_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){2, 2}, 2);
    onnx_model_writer_attr_ints(w, "strides", (int64_t[]){2, 2}, 2);
    const char *p4_in[1] = {"p3"}, *p4_out[1] = {"y"};
    onnx_model_writer_add_node(w, "MaxPool", "p4", p4_in, 1, p4_out, 1);
    onnx_model_writer_attr_ints(w, "kernel_shape", (int64_t[]){3, 3}, 2);
    onnx_model_writer_attr_ints(w, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    onnx_model_writer_add_output(w, "p1", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, -1, NULL, NULL);
    uint8_t *buf;
    assert_int_equal(onnx_model_writer_finish(w, &buf, len, &err), KH_OK);
    onnx_model_writer_destroy(w);
    return buf;
}

static void test_fused_pools_match_unfused(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = build_pool_model(&len);
    uint32_t seed = 12;
    float *x = th_random_floats(3 * 21 * 30, &seed);
    onnx_tensor_view in = {ONNX_FLOAT, 4, {1, 3, 21, 30}, x};
    sgemm_isa isas[3];
    size_t n_isas = th_isas(isas);
    for (size_t i = 0; i < n_isas; i++)
        for (int threads = 1; threads <= 2; threads++) {
            assert_true(sgemm_isa_select(isas[i]));
            onnx_model *plain = load(buf, len, false, threads), *fused = load(buf, len, true, threads);
            onnx_tensor_view a[2], b[2];
            kh_error err = {0};
            assert_int_equal(onnx_model_run(plain, &in, 1, a, 2, &err), KH_OK);
            int rc = onnx_model_run(fused, &in, 1, b, 2, &err);
            if (rc)
                fprintf(stderr, "fused run: %s\n", err.message);
            assert_int_equal(rc, KH_OK);
            for (int o = 0; o < 2; o++) {
                size_t n = 1;
                assert_int_equal(a[o].rank, b[o].rank);
                for (int d = 0; d < a[o].rank; d++) {
                    assert_int_equal(a[o].dims[d], b[o].dims[d]);
                    n *= (size_t)a[o].dims[d];
                }
                assert_int_equal(th_compare("fused pool vs unfused", b[o].data, a[o].data, n, 1e-5f, 1e-5f), -1);
            }
            /* p1 is a graph output, yet its pool still folds into c1. */
            assert_non_null(onnx_attr_find(node_named(fused, "c1"), ONNX_FUSED_POOL_PREFIX "kernel_shape"));
            assert_non_null(onnx_attr_find(node_named(fused, "c2"), ONNX_FUSED_POOL_PREFIX "pads"));
            assert_non_null(onnx_attr_find(node_named(fused, "c3"), ONNX_FUSED_POOL_PREFIX "strides"));
            assert_string_equal(node_named(fused, "p4")->op_type, "MaxPool");
            assert_int_equal(node_named(fused, "p4")->n_inputs, 1);
            onnx_model_destroy(plain);
            onnx_model_destroy(fused);
        }
    sgemm_isa_select(sgemm_isa_best());
    free(x);
    free(buf);
}

/* (x - mean) / 255 before an unpadded grouped Conv folds into its weights;
 * x * k before a padded Conv must stay (padding zeros would change). */
static void test_input_normalisation_folds(void **state) {
    (void)state;
    kh_error err = {0};
    onnx_model_writer *w;
    assert_int_equal(onnx_model_writer_create("affine", 13, &w, &err), KH_OK);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 4, (int64_t[]){1, 4, 9, 30}, NULL);
    uint32_t seed = 21;
    float mean[4] = {10, 20, 30, 40}, divisor = 255.0f, k[4] = {0.5f, -2.0f, 3.0f, 1.0f};
    float *w1 = th_random_floats(6 * 2 * 9, &seed), *b1 = th_random_floats(6, &seed);
    float *w2 = th_random_floats(6 * 4 * 9, &seed);
    onnx_model_writer_add_initializer(w, "mean", 4, (int64_t[]){1, 4, 1, 1}, mean);
    onnx_model_writer_add_initializer(w, "div", 0, NULL, &divisor);
    onnx_model_writer_add_initializer(w, "k", 3, (int64_t[]){4, 1, 1}, k);
    onnx_model_writer_add_initializer(w, "w1", 4, (int64_t[]){6, 2, 3, 3}, w1);
    onnx_model_writer_add_initializer(w, "b1", 1, (int64_t[]){6}, b1);
    onnx_model_writer_add_initializer(w, "w2", 4, (int64_t[]){6, 4, 3, 3}, w2);
    free(w1);
    free(b1);
    free(w2);
    node2(w, "Sub", "x", "mean", "sub");
    node2(w, "Div", "sub", "div", "norm");
    const char *c1_in[3] = {"norm", "w1", "b1"}, *c1_out[1] = {"y1"};
    onnx_model_writer_add_node(w, "Conv", "c1", c1_in, 3, c1_out, 1);
    onnx_model_writer_attr_int(w, "group", 2);
    node2(w, "Mul", "x", "k", "scaled");
    const char *c2_in[2] = {"scaled", "w2"}, *c2_out[1] = {"y2"};
    onnx_model_writer_add_node(w, "Conv", "c2", c2_in, 2, c2_out, 1);
    onnx_model_writer_attr_ints(w, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    onnx_model_writer_add_output(w, "y1", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "y2", ONNX_FLOAT, -1, NULL, NULL);
    uint8_t *buf;
    size_t len;
    assert_int_equal(onnx_model_writer_finish(w, &buf, &len, &err), KH_OK);
    onnx_model_writer_destroy(w);

    float *x = th_random_floats(4 * 9 * 30, &seed);
    for (size_t i = 0; i < 4 * 9 * 30; i++)
        x[i] = (x[i] + 1.0f) * 127.5f; /* pixels 0..255 */
    onnx_tensor_view in = {ONNX_FLOAT, 4, {1, 4, 9, 30}, x};
    onnx_model *plain = load(buf, len, false, 1), *fused = load(buf, len, true, 1);
    onnx_tensor_view a[2], b[2];
    assert_int_equal(onnx_model_run(plain, &in, 1, a, 2, &err), KH_OK);
    assert_int_equal(onnx_model_run(fused, &in, 1, b, 2, &err), KH_OK);
    for (int o = 0; o < 2; o++) {
        size_t n = 1;
        for (int d = 0; d < a[o].rank; d++)
            n *= (size_t)a[o].dims[d];
        assert_int_equal(th_compare("folded normalisation", b[o].data, a[o].data, n, 1e-4f, 1e-4f), -1);
    }
    assert_int_equal(node_named(fused, "sub")->n_inputs, 0); /* folded away */
    assert_int_equal(node_named(fused, "norm")->n_inputs, 0);
    assert_string_equal(node_named(fused, "c1")->inputs[0]->name, "x");
    assert_int_equal(node_named(fused, "scaled")->n_inputs, 2); /* padded Conv: kept */
    onnx_model_destroy(plain);
    onnx_model_destroy(fused);
    free(x);
    free(buf);
}

static void test_fused_activation_attribute_checked(void **state) {
    (void)state;
    th_node t;
    th_init(&t, "Conv", 13);
    th_attr_string(&t, ONNX_FUSED_ACTIVATION, "Swish");
    kernel_epilogue ep;
    kh_error err = {0};
    assert_int_equal(onnx_fused_activation_read(&t.node, &ep, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "Swish"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_model_matches_unfused),
        cmocka_unit_test(test_fused_pools_match_unfused),
        cmocka_unit_test(test_input_normalisation_folds),
        cmocka_unit_test(test_fused_activation_attribute_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
