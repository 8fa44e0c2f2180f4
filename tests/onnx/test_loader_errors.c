/* Bad models and bad inputs: each gives an error naming what and where,
 * never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "engine_fixtures.h"
#include "onnx/proto_fields.h"

/* x -> Identity -> y, with x float [1,3]. */
static onnx_model_writer *small_model(void) {
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1, 3};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 2, d, NULL);
    const char *x[] = {"x"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "id", x, 1, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 2, d, NULL);
    return w;
}

static void expect_load_error(const uint8_t *buf, size_t len, int code,
                              const char *needle) {
    onnx_model *m = (onnx_model *)1;
    kh_error err = {0};
    int rc = onnx_model_load_buffer(buf, len, NULL, &m, &err);
    if (rc != code)
        fail_msg("expected %s, got %s: %s", kh_err_name(code),
                 kh_err_name(rc), err.message);
    assert_null(m);
    assert_int_equal(err.code, code);
    assert_contains(err.message, needle);
}

static void empty_and_garbage_files_are_refused(void **state) {
    (void)state;
    expect_load_error((const uint8_t *)"", 0, KH_EFORMAT, "empty");
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                               0xff, 0xff, 0xff, 0xff};
    expect_load_error(garbage, sizeof garbage, KH_EFORMAT, "byte 0");
    const char text[] = "this is not a model";
    expect_load_error((const uint8_t *)text, sizeof text - 1, KH_EFORMAT,
                      "not an ONNX model");
}

static void every_truncation_is_an_error(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = fixture_bytes(small_model(), &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        onnx_model *m;
        kh_error err = {0};
        int rc = onnx_model_load_buffer(copy, cut, NULL, &m, &err);
        if (rc == KH_OK)
            fail_msg("truncated to %zu of %zu bytes, the model loaded", cut,
                     len);
        assert_true(err.message[0] != '\0');
        free(copy);
    }
    free(buf);
}

static void length_past_the_end_names_the_offset(void **state) {
    (void)state;
    /* ir_version 8, then a graph field claiming 1000 bytes with 3 left. */
    const uint8_t buf[] = {0x08, 0x08, 0x3a, 0xe8, 0x07, 0x0a, 0x01, 0x00};
    expect_load_error(buf, sizeof buf, KH_EFORMAT, "byte 2");
    expect_load_error(buf, sizeof buf, KH_EFORMAT, "runs past the end");
}

static void flipped_bytes_never_crash(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = fixture_bytes(small_model(), &len);
    uint32_t seed = 1;
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] = (uint8_t)(seed >> 3);
        }
        onnx_model *m = NULL;
        kh_error err;
        if (onnx_model_load_buffer(copy, len, NULL, &m, &err) == KH_OK) {
            float x[3] = {0};
            onnx_tensor_view in = {ONNX_FLOAT, 2, {1, 3}, x}, out[4];
            size_t n_out = onnx_model_output_count(m);
            onnx_model_run(m, &in, onnx_model_input_count(m) == 1, out,
                           n_out < 4 ? n_out : 4, &err);
            onnx_model_destroy(m);
        }
        free(copy);
    }
    free(buf);
}

static uint8_t *model_with_initializer(void (*fill)(pb_writer *),
                                       size_t *len) {
    /* Graph: initializer 'w' (built by fill) -> Identity -> y. */
    pb_writer t, g, model, op;
    pb_writer_init(&t);
    pb_writer_init(&g);
    pb_writer_init(&model);
    pb_writer_init(&op);
    fill(&t);
    pb_write_string_field(&t, TENSOR_NAME, "w");
    pb_write_message(&g, GRAPH_INITIALIZER, &t);
    pb_writer node;
    pb_writer_init(&node);
    pb_write_string_field(&node, NODE_INPUT, "w");
    pb_write_string_field(&node, NODE_OUTPUT, "y");
    pb_write_string_field(&node, NODE_OP_TYPE, "Identity");
    pb_write_message(&g, GRAPH_NODE, &node);
    pb_writer vi, type, tensor;
    pb_writer_init(&vi);
    pb_writer_init(&type);
    pb_writer_init(&tensor);
    pb_write_varint_field(&tensor, TENSOR_TYPE_ELEM_TYPE, ONNX_FLOAT);
    pb_write_message(&type, TYPE_TENSOR_TYPE, &tensor);
    pb_write_string_field(&vi, VALUE_INFO_NAME, "y");
    pb_write_message(&vi, VALUE_INFO_TYPE, &type);
    pb_write_message(&g, GRAPH_OUTPUT, &vi);
    pb_write_varint_field(&model, MODEL_IR_VERSION, 8);
    pb_write_message(&model, MODEL_GRAPH, &g);
    pb_write_varint_field(&op, OPSET_VERSION, 13);
    pb_write_message(&model, MODEL_OPSET_IMPORT, &op);
    pb_writer_free(&t);
    pb_writer_free(&g);
    pb_writer_free(&op);
    pb_writer_free(&node);
    pb_writer_free(&vi);
    pb_writer_free(&type);
    pb_writer_free(&tensor);
    return pb_writer_take(&model, len);
}

static void fill_negative_dims(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 2);
    pb_write_sint64_field(t, TENSOR_DIMS, -3);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
}

static void fill_overflowing_dims(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 1ll << 40);
    pb_write_sint64_field(t, TENSOR_DIMS, 1ll << 40);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
}

static void fill_short_raw_data(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 4);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
    pb_write_bytes_field(t, TENSOR_RAW_DATA, "12345678", 8);
}

static void fill_huge_dims_no_data(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 1ll << 30);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
}

static void fill_external(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 4);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
    pb_write_varint_field(t, TENSOR_DATA_LOCATION, TENSOR_LOCATION_EXTERNAL);
}

static void fill_double(pb_writer *t) {
    pb_write_sint64_field(t, TENSOR_DIMS, 1);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_DOUBLE);
    pb_write_bytes_field(t, TENSOR_RAW_DATA, "12345678", 8);
}

static void fill_too_many_dims(pb_writer *t) {
    for (int i = 0; i < 9; i++)
        pb_write_sint64_field(t, TENSOR_DIMS, 1);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
    pb_write_bytes_field(t, TENSOR_RAW_DATA, "1234", 4);
}

static void check_initializer(void (*fill)(pb_writer *), int code,
                              const char *needle) {
    size_t len;
    uint8_t *buf = model_with_initializer(fill, &len);
    expect_load_error(buf, len, code, needle);
    expect_load_error(buf, len, code, "'w'");
    free(buf);
}

static void bad_initializers_name_the_tensor(void **state) {
    (void)state;
    check_initializer(fill_negative_dims, KH_ESHAPE,
                      "dimension 1 is negative (-3)");
    check_initializer(fill_overflowing_dims, KH_ESHAPE, "overflows");
    check_initializer(fill_short_raw_data, KH_EFORMAT,
                      "raw_data has 8 bytes, dims need 16");
    check_initializer(fill_huge_dims_no_data, KH_EFORMAT,
                      "0 values, dims need 1073741824");
    check_initializer(fill_external, KH_EUNSUPPORTED, "external data");
    check_initializer(fill_double, KH_EUNSUPPORTED, "double");
    check_initializer(fill_too_many_dims, KH_EUNSUPPORTED,
                      "more than 8 dimensions");
}

static void expect_writer_error(onnx_model_writer *w, int code,
                                const char *needle) {
    size_t len;
    uint8_t *buf = fixture_bytes(w, &len);
    expect_load_error(buf, len, code, needle);
    free(buf);
}

static void cycles_name_a_node_on_the_cycle(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *xa[] = {"x"}, *a[] = {"a"}, *ac[] = {"a", "c"}, *b[] = {"b"},
               *c[] = {"c"};
    onnx_model_writer_add_node(w, "Identity", "start", xa, 1, a, 1);
    onnx_model_writer_add_node(w, "Sum", "n_b", ac, 2, b, 1);
    onnx_model_writer_add_node(w, "Identity", "n_c", b, 1, c, 1);
    onnx_model_writer_add_output(w, "c", ONNX_FLOAT, 1, d, NULL);
    size_t len;
    uint8_t *buf = fixture_bytes(w, &len);
    expect_load_error(buf, len, KH_EFORMAT, "cycle");
    expect_load_error(buf, len, KH_EFORMAT, "'n_b' <- 'n_c' <- 'n_b'");
    free(buf);

    w = fixture_writer(13);
    const char *self[] = {"s"};
    onnx_model_writer_add_node(w, "Identity", "selfish", self, 1, self, 1);
    onnx_model_writer_add_output(w, "s", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EFORMAT, "node 'selfish' (Identity)");
}

static void missing_inputs_and_initializers_are_named(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *in[] = {"x", "conv.weight"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "uses_weight", in, 2, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EFORMAT,
                        "node 'uses_weight' (Identity): input 'conv.weight' "
                        "is not produced by any node, initializer or graph "
                        "input");

    w = fixture_writer(13);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *x[] = {"x"};
    onnx_model_writer_add_node(w, "Identity", "n", x, 1, y, 1);
    onnx_model_writer_add_output(w, "nowhere", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EFORMAT, "graph output 'nowhere' is not "
                                       "produced");

    w = fixture_writer(13);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_node(w, "Identity", "one", x, 1, y, 1);
    onnx_model_writer_add_node(w, "Identity", "two", x, 1, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EFORMAT,
                        "node 'two' (Identity): output 'y' is also produced "
                        "by node 'one'");

    w = fixture_writer(13);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *left_out[] = {""};
    onnx_model_writer_add_node(w, "Identity", "no_out", x, 1, left_out, 1);
    onnx_model_writer_add_output(w, "x", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EINVAL,
                        "node 'no_out' (Identity): output left out of the "
                        "node");

    w = fixture_writer(13);
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_node(w, "Identity", "no_outputs", x, 1, NULL, 0);
    onnx_model_writer_add_output(w, "x", ONNX_FLOAT, 1, d, NULL);
    expect_writer_error(w, KH_EFORMAT,
                        "node 'no_outputs' (Identity) has no outputs");
}

static void unsupported_things_are_listed_together(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_DOUBLE, 1, d, NULL);
    onnx_model_writer_add_input(w, "f", ONNX_FLOAT, 1, d, NULL);
    const char *x[] = {"f"}, *a[] = {"a"}, *b[] = {"b"};
    onnx_model_writer_add_node(w, "Foo", "n3", x, 1, a, 1);
    onnx_model_writer_add_node(w, "Bar", "n4", a, 1, b, 1);
    onnx_model_writer_node_domain(w, "com.example");
    onnx_model_writer_add_output(w, "b", ONNX_FLOAT, 1, d, NULL);
    size_t len;
    uint8_t *buf = fixture_bytes(w, &len);
    expect_load_error(buf, len, KH_EUNSUPPORTED,
                      "unsupported: tensor 'x': double; node 'n3' (Foo): no "
                      "such operator; node 'n4' (Bar): no such operator in "
                      "domain 'com.example'");
    free(buf);
}

static void versions_outside_the_range_are_unsupported(void **state) {
    (void)state;
    onnx_model_writer *w = small_model();
    onnx_model_writer_set_ir_version(w, 11);
    expect_writer_error(w, KH_EUNSUPPORTED, "ir_version 11");
    w = small_model();
    onnx_model_writer_set_ir_version(w, 2);
    expect_writer_error(w, KH_EUNSUPPORTED, "ir_version 2");
    w = fixture_writer(22);
    expect_writer_error(w, KH_EUNSUPPORTED, "opset 22");
    w = fixture_writer(6);
    expect_writer_error(w, KH_EUNSUPPORTED, "opset 6");
}

static void missing_file_names_the_path(void **state) {
    (void)state;
    onnx_model *m;
    kh_error err;
    assert_int_equal(onnx_model_load("/nonexistent/model.onnx", NULL, &m,
                                     &err),
                     KH_ENOTFOUND);
    assert_contains(err.message, "/nonexistent/model.onnx");
    assert_int_equal(onnx_model_load("/", NULL, &m, &err), KH_EIO);
    assert_null(m);
    /* A NULL error pointer is allowed. */
    assert_int_equal(onnx_model_load("/nonexistent", NULL, &m, NULL),
                     KH_ENOTFOUND);
}

static void wrong_inputs_at_run_time_are_described(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {-1, 3, 416, 416};
    const char *names[] = {"N", NULL, NULL, NULL};
    onnx_model_writer_add_input(w, "image", ONNX_FLOAT, 4, d, names);
    const char *x[] = {"image"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "id", x, 1, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 4, d, names);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    float pixel = 0;
    onnx_tensor_view in = {ONNX_FLOAT, 4, {1, 3, 400, 416}, &pixel}, out;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ESHAPE);
    assert_string_equal(err.message, "input 'image': expected float "
                                     "[N,3,416,416], got float "
                                     "[1,3,400,416]");
    in.rank = 3;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ESHAPE);
    assert_contains(err.message, "got float [1,3,400]");
    in.rank = 4;
    in.dims[2] = 416;
    in.dtype = ONNX_INT64;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ETYPE);
    assert_contains(err.message, "expected float [N,3,416,416], got int64");
    in.dtype = ONNX_FLOAT;
    assert_int_equal(onnx_model_run(m, &in, 0, &out, 1, &err), KH_EINVAL);
    assert_contains(err.message, "0 inputs given, the model has 1");
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 2, &err), KH_EINVAL);
    in.dims[0] = -2;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ESHAPE);
    in.dims[0] = 1;
    in.data = NULL;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_EINVAL);
    assert_contains(err.message, "input 'image': no data");
    in.rank = 99;
    assert_int_equal(onnx_model_run(m, &in, 1, &out, 1, &err), KH_ESHAPE);
    onnx_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_and_garbage_files_are_refused),
        cmocka_unit_test(every_truncation_is_an_error),
        cmocka_unit_test(length_past_the_end_names_the_offset),
        cmocka_unit_test(flipped_bytes_never_crash),
        cmocka_unit_test(bad_initializers_name_the_tensor),
        cmocka_unit_test(cycles_name_a_node_on_the_cycle),
        cmocka_unit_test(missing_inputs_and_initializers_are_named),
        cmocka_unit_test(unsupported_things_are_listed_together),
        cmocka_unit_test(versions_outside_the_range_are_unsupported),
        cmocka_unit_test(missing_file_names_the_path),
        cmocka_unit_test(wrong_inputs_at_run_time_are_described),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
