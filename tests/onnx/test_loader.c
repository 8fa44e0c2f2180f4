/* Loading models: round trips through the model writer, initializers in
 * every encoding, Constant nodes, symbolic dims, node order, summaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "engine_fixtures.h"
#include "onnx/proto_fields.h"

static void identity_chain_round_trips(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    onnx_model_writer_set_producer(w, "unit-test", "1.0");
    int64_t dims[] = {-1, 3};
    const char *names[] = {"batch", NULL};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 2, dims, names);
    const char *a[] = {"x"}, *b[] = {"y"}, *c[] = {"z"};
    onnx_model_writer_add_node(w, "Identity", "first", a, 1, b, 1);
    onnx_model_writer_add_node(w, "Identity", NULL, b, 1, c, 1);
    onnx_model_writer_add_output(w, "z", ONNX_FLOAT, 2, dims, names);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);

    assert_int_equal(onnx_model_input_count(m), 1);
    assert_int_equal(onnx_model_output_count(m), 1);
    onnx_value_info vi;
    assert_int_equal(onnx_model_input_info(m, 0, &vi), KH_OK);
    assert_string_equal(vi.name, "x");
    assert_int_equal(vi.dtype, ONNX_FLOAT);
    assert_int_equal(vi.rank, 2);
    assert_int_equal(vi.dims[0], -1);
    assert_string_equal(vi.dim_names[0], "batch");
    assert_int_equal(vi.dims[1], 3);
    assert_null(vi.dim_names[1]);
    assert_int_equal(onnx_model_input_info(m, 1, &vi), KH_ERANGE);
    assert_int_equal(onnx_model_output_info(m, 0, &vi), KH_OK);
    assert_string_equal(vi.name, "z");

    onnx_model_summary s;
    onnx_model_summary_get(m, &s);
    assert_int_equal(s.ir_version, 8);
    assert_int_equal(s.opset, 13);
    assert_string_equal(s.producer, "unit-test");
    assert_int_equal(s.node_count, 2);

    float in[] = {1, 2, 3, 4, 5, 6};
    onnx_tensor_view iv = {ONNX_FLOAT, 2, {2, 3}, in}, out;
    if (onnx_model_run(m, &iv, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 2);
    assert_memory_equal(out.data, in, sizeof in);
    /* A different batch re-plans. */
    onnx_tensor_view one = {ONNX_FLOAT, 2, {1, 3}, in};
    if (onnx_model_run(m, &one, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out.dims[0], 1);
    assert_memory_equal(out.data, in, 3 * sizeof(float));
    onnx_model_destroy(m);
    onnx_model_destroy(NULL);
}

/* An initializer whose raw_data starts at an odd offset in the file. */
static void raw_initializer_is_read_unaligned(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    float weights[] = {1.5f, -2.25f, 1e-20f, 3e30f, 0.0f};
    int64_t d[] = {5};
    onnx_model_writer_add_initializer(w, "w_odd", 1, d, weights);
    int64_t i64[] = {INT64_MIN, -1, 1, INT64_MAX};
    int64_t d4[] = {2, 2};
    onnx_model_writer_add_initializer_typed(w, "q", ONNX_INT64, 2, d4, i64);
    const char *a[] = {"w_odd"}, *b[] = {"y"}, *c[] = {"q"}, *e[] = {"r"};
    onnx_model_writer_add_node(w, "Identity", "n0", a, 1, b, 1);
    onnx_model_writer_add_node(w, "Identity", "n1", c, 1, e, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_output(w, "r", ONNX_INT64, 2, d4, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_tensor_view out[2];
    if (onnx_model_run(m, NULL, 0, out, 2, &err))
        fail_msg("run: %s", err.message);
    assert_memory_equal(out[0].data, weights, sizeof weights);
    assert_int_equal(out[1].dtype, ONNX_INT64);
    assert_memory_equal(out[1].data, i64, sizeof i64);
    onnx_model_summary s;
    onnx_model_summary_get(m, &s);
    assert_int_equal(s.initializer_count, 2);
    assert_int_equal(s.parameter_count, 9);
    onnx_model_destroy(m);
}

/* A model whose one initializer is written by hand with typed fields. */
static uint8_t *typed_initializer_model(void (*fill)(pb_writer *),
                                        onnx_dtype out_type, int64_t n_out,
                                        size_t *len) {
    pb_writer t, g, model;
    pb_writer_init(&t);
    pb_writer_init(&g);
    pb_writer_init(&model);
    fill(&t);
    pb_write_string_field(&t, TENSOR_NAME, "c");
    pb_write_message(&g, GRAPH_INITIALIZER, &t);
    onnx_model_writer *w = fixture_writer(13);
    const char *a[] = {"c"}, *b[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "n", a, 1, b, 1);
    onnx_model_writer_add_output(w, "y", out_type, 1, &n_out, NULL);
    size_t wlen;
    uint8_t *wbuf = fixture_bytes(w, &wlen);
    /* Protobuf merges repeated occurrences of a message field: a second
     * graph field would be refused, so splice the initializer into the
     * writer's graph instead by rebuilding the model around both. */
    pb_reader r;
    pb_reader_init(&r, wbuf, wlen);
    pb_field f;
    kh_error err;
    while (pb_next(&r, &f, &err) == 1) {
        if (f.number == MODEL_GRAPH) {
            pb_write_raw(&g, f.data, f.len);
            pb_write_message(&model, MODEL_GRAPH, &g);
        } else {
            pb_write_raw(&model, wbuf + f.offset,
                         (size_t)(r.p - (wbuf + f.offset)));
        }
    }
    free(wbuf);
    pb_writer_free(&t);
    pb_writer_free(&g);
    assert_false(model.failed);
    return pb_writer_take(&model, len);
}

static void fill_float_data(pb_writer *t) {
    int64_t dims[] = {3};
    pb_write_packed_int64(t, TENSOR_DIMS, dims, 1);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_FLOAT);
    float v[] = {0.5f, -1.0f};
    pb_write_packed_float(t, TENSOR_FLOAT_DATA, v, 2);
    pb_write_float_field(t, TENSOR_FLOAT_DATA, 8.0f); /* unpacked too */
}

static void fill_int32_data_as_int8(pb_writer *t) {
    pb_write_varint_field(t, TENSOR_DIMS, 4); /* unpacked dims */
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_INT8);
    int64_t v[] = {-128, -1, 0, 127};
    pb_write_packed_int64(t, TENSOR_INT32_DATA, v, 4);
}

static void fill_int64_data(pb_writer *t) {
    int64_t dims[] = {2};
    pb_write_packed_int64(t, TENSOR_DIMS, dims, 1);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_INT64);
    pb_write_sint64_field(t, TENSOR_INT64_DATA, -7);
    pb_write_sint64_field(t, TENSOR_INT64_DATA, 1ll << 40);
}

static void fill_bool_data(pb_writer *t) {
    int64_t dims[] = {3};
    pb_write_packed_int64(t, TENSOR_DIMS, dims, 1);
    pb_write_varint_field(t, TENSOR_DATA_TYPE, ONNX_BOOL);
    int64_t v[] = {1, 0, 5};
    pb_write_packed_int64(t, TENSOR_INT32_DATA, v, 3);
}

static void run_constant_model(uint8_t *buf, size_t len, onnx_model **m,
                               onnx_tensor_view *out) {
    kh_error err;
    if (onnx_model_load_buffer(buf, len, NULL, m, &err))
        fail_msg("load: %s", err.message);
    free(buf);
    if (onnx_model_run(*m, NULL, 0, out, 1, &err))
        fail_msg("run: %s", err.message);
}

static void typed_initializer_fields_are_decoded(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf;
    onnx_model *m;
    onnx_tensor_view out;

    buf = typed_initializer_model(fill_float_data, ONNX_FLOAT, 3, &len);
    run_constant_model(buf, len, &m, &out);
    float fv[] = {0.5f, -1.0f, 8.0f};
    assert_int_equal(out.dims[0], 3);
    assert_memory_equal(out.data, fv, sizeof fv);
    onnx_model_destroy(m);

    buf = typed_initializer_model(fill_int32_data_as_int8, ONNX_INT8, 4, &len);
    run_constant_model(buf, len, &m, &out);
    int8_t iv[] = {-128, -1, 0, 127};
    assert_int_equal(out.dtype, ONNX_INT8);
    assert_memory_equal(out.data, iv, sizeof iv);
    onnx_model_destroy(m);

    buf = typed_initializer_model(fill_int64_data, ONNX_INT64, 2, &len);
    run_constant_model(buf, len, &m, &out);
    int64_t lv[] = {-7, 1ll << 40};
    assert_memory_equal(out.data, lv, sizeof lv);
    onnx_model_destroy(m);

    buf = typed_initializer_model(fill_bool_data, ONNX_BOOL, 3, &len);
    run_constant_model(buf, len, &m, &out);
    uint8_t bv[] = {1, 0, 1};
    assert_memory_equal(out.data, bv, sizeof bv);
    onnx_model_destroy(m);
}

static void constant_nodes_become_constants(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    const char *none[] = {NULL};
    const char *o1[] = {"a"}, *o2[] = {"b"}, *o3[] = {"c"}, *o4[] = {"d"},
               *o5[] = {"e"};
    float tv[] = {1, 2, 3, 4};
    int64_t td[] = {2, 2};
    onnx_model_writer_add_node(w, "Constant", "k1", none, 0, o1, 1);
    onnx_model_writer_attr_tensor(w, "value", ONNX_FLOAT, 2, td, tv);
    onnx_model_writer_add_node(w, "Constant", "k2", none, 0, o2, 1);
    onnx_model_writer_attr_float(w, "value_float", 2.5f);
    onnx_model_writer_add_node(w, "Constant", "k3", none, 0, o3, 1);
    onnx_model_writer_attr_floats(w, "value_floats", (float[]){7, 8, 9}, 3);
    onnx_model_writer_add_node(w, "Constant", "k4", none, 0, o4, 1);
    onnx_model_writer_attr_int(w, "value_int", -3);
    onnx_model_writer_add_node(w, "Constant", "k5", none, 0, o5, 1);
    onnx_model_writer_attr_ints(w, "value_ints", (int64_t[]){4, 5}, 2);
    onnx_model_writer_add_output(w, "a", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "b", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "c", ONNX_FLOAT, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "d", ONNX_INT64, -1, NULL, NULL);
    onnx_model_writer_add_output(w, "e", ONNX_INT64, -1, NULL, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_tensor_view out[5];
    if (onnx_model_run(m, NULL, 0, out, 5, &err))
        fail_msg("run: %s", err.message);
    assert_int_equal(out[0].rank, 2);
    assert_memory_equal(out[0].data, tv, sizeof tv);
    assert_int_equal(out[1].rank, 0);
    assert_true(*(float *)out[1].data == 2.5f);
    assert_int_equal(out[2].rank, 1);
    assert_int_equal(out[2].dims[0], 3);
    assert_true(((float *)out[2].data)[2] == 9.0f);
    assert_int_equal(out[3].dtype, ONNX_INT64);
    assert_int_equal(*(int64_t *)out[3].data, -3);
    assert_int_equal(((int64_t *)out[4].data)[1], 5);
    onnx_model_summary s;
    onnx_model_summary_get(m, &s);
    assert_int_equal(s.node_count, 5); /* counted, though folded away */
    onnx_model_destroy(m);
}

/* IR 3 models list initializers among the graph inputs too. */
static void inputs_that_are_initializers_are_constants(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(8);
    onnx_model_writer_set_ir_version(w, 3);
    int64_t d[] = {2};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_input(w, "w", ONNX_FLOAT, 1, d, NULL);
    onnx_model_writer_add_initializer(w, "w", 1, d, (float[]){3, 4});
    const char *a[] = {"w"}, *b[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "n", a, 1, b, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    assert_int_equal(onnx_model_input_count(m), 1);
    onnx_value_info vi;
    onnx_model_input_info(m, 0, &vi);
    assert_string_equal(vi.name, "x");
    onnx_tensor_view in = {ONNX_FLOAT, 1, {2}, (float[]){0, 0}}, out;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_true(((float *)out.data)[1] == 4.0f);
    onnx_model_destroy(m);
}

static void nodes_out_of_order_are_sorted(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *y[] = {"y"}, *z[] = {"z"}, *x[] = {"x"}, *o[] = {"out"};
    onnx_model_writer_add_node(w, "Identity", "last", z, 1, o, 1);
    onnx_model_writer_add_node(w, "Identity", "middle", y, 1, z, 1);
    onnx_model_writer_add_node(w, "Identity", "first", x, 1, y, 1);
    onnx_model_writer_add_output(w, "out", ONNX_FLOAT, 1, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_tensor_view in = {ONNX_FLOAT, 1, {1}, (float[]){42}}, out;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_true(*(float *)out.data == 42.0f);
    onnx_model_destroy(m);
}

static void histogram_collect(const char *op, size_t n, void *user) {
    char *s = user;
    size_t used = strlen(s);
    snprintf(s + used, 128 - used, "%s=%zu,", op, n);
}

static void histogram_counts_in_order_of_appearance(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(13);
    int64_t d[] = {1};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *x[] = {"x"}, *a[] = {"a"}, *b[] = {"b"}, *k[] = {"k"};
    onnx_model_writer_add_node(w, "Identity", NULL, x, 1, a, 1);
    onnx_model_writer_add_node(w, "Constant", NULL, NULL, 0, k, 1);
    onnx_model_writer_attr_int(w, "value_int", 1);
    onnx_model_writer_add_node(w, "Identity", NULL, a, 1, b, 1);
    onnx_model_writer_add_output(w, "b", ONNX_FLOAT, 1, d, NULL);
    onnx_model *m;
    kh_error err;
    if (fixture_load(w, &m, &err))
        fail_msg("load: %s", err.message);
    char seen[128] = "";
    onnx_model_op_histogram(m, histogram_collect, seen);
    assert_string_equal(seen, "Identity=2,Constant=1,");
    onnx_model_destroy(m);
}

static void model_loads_from_a_file(void **state) {
    (void)state;
    onnx_model_writer *w = fixture_writer(21);
    int64_t d[] = {2};
    onnx_model_writer_add_input(w, "x", ONNX_FLOAT, 1, d, NULL);
    const char *x[] = {"x"}, *y[] = {"y"};
    onnx_model_writer_add_node(w, "Identity", "n", x, 1, y, 1);
    onnx_model_writer_add_output(w, "y", ONNX_FLOAT, 1, d, NULL);
    char path[] = "/tmp/khappy-loader-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    kh_error err;
    if (onnx_model_writer_save(w, path, &err))
        fail_msg("save: %s", err.message);
    onnx_model_writer_destroy(w);
    onnx_model *m;
    onnx_load_options opts = {.threads = 3};
    if (onnx_model_load(path, &opts, &m, &err))
        fail_msg("load: %s", err.message);
    onnx_tensor_view in = {ONNX_FLOAT, 1, {2}, (float[]){1, 2}}, out;
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    assert_true(((float *)out.data)[1] == 2.0f);
    assert_int_equal(onnx_model_set_threads(m, 1, &err), KH_OK);
    assert_int_equal(onnx_model_set_threads(m, 0, &err), KH_EINVAL);
    if (onnx_model_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    onnx_model_destroy(m);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_chain_round_trips),
        cmocka_unit_test(raw_initializer_is_read_unaligned),
        cmocka_unit_test(typed_initializer_fields_are_decoded),
        cmocka_unit_test(constant_nodes_become_constants),
        cmocka_unit_test(inputs_that_are_initializers_are_constants),
        cmocka_unit_test(nodes_out_of_order_are_sorted),
        cmocka_unit_test(histogram_counts_in_order_of_appearance),
        cmocka_unit_test(model_loads_from_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
