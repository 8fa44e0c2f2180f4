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
        cmocka_unit_test(test_fused_activation_attribute_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
