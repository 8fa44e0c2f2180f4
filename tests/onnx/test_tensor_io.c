/* TensorProto .pb files: write/read round trips for every held type, the
 * ONNX test data's own files, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx/proto_fields.h"
#include "onnx/protobuf.h"
#include "onnx/tensor_io.h"

static char *temp_path(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/khappy-tensor-io-%d.pb", (int)getpid());
    return path;
}

static void round_trip(onnx_dtype dtype, const void *data, size_t bytes,
                       int rank, const int64_t *dims) {
    onnx_tensor_view t = {.dtype = dtype, .rank = rank, .data = (void *)data};
    if (rank)
        memcpy(t.dims, dims, (size_t)rank * sizeof *dims);
    kh_error err;
    const char *path = temp_path();
    if (onnx_tensorproto_write_file(path, "the name", &t, &err))
        fail_msg("write: %s", err.message);
    onnx_tensor_view back;
    char *name;
    if (onnx_tensorproto_read_file(path, &back, &name, &err))
        fail_msg("read: %s", err.message);
    assert_string_equal(name, "the name");
    assert_int_equal(back.dtype, dtype);
    assert_int_equal(back.rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(back.dims[i], dims[i]);
    if (bytes)
        assert_memory_equal(back.data, data, bytes);
    free(back.data);
    free(name);
    unlink(path);
}

static void every_held_type_round_trips(void **state) {
    (void)state;
    float f[] = {1.5f, -0.0f, 3e38f, 1e-45f, 7, 8};
    int64_t d23[] = {2, 3};
    round_trip(ONNX_FLOAT, f, sizeof f, 2, d23);
    int64_t l[] = {INT64_MIN, 0, INT64_MAX};
    int64_t d3[] = {3};
    round_trip(ONNX_INT64, l, sizeof l, 1, d3);
    int32_t i[] = {INT32_MIN, 0, INT32_MAX};
    round_trip(ONNX_INT32, i, sizeof i, 1, d3);
    uint8_t u[] = {0, 128, 255};
    round_trip(ONNX_UINT8, u, sizeof u, 1, d3);
    int8_t s[] = {-128, 0, 127};
    round_trip(ONNX_INT8, s, sizeof s, 1, d3);
    uint8_t b[] = {1, 0, 1};
    round_trip(ONNX_BOOL, b, sizeof b, 1, d3);
    float scalar = 2.0f;
    round_trip(ONNX_FLOAT, &scalar, sizeof scalar, 0, NULL);
    int64_t empty_dims[] = {0, 4};
    round_trip(ONNX_FLOAT, NULL, 0, 2, empty_dims);
}

static void backend_test_data_is_read(void **state) {
    (void)state;
    const char *path = "/usr/share/libonnx-testdata/data/node/test_add/"
                       "test_data_set_0/input_0.pb";
    if (access(path, R_OK) != 0)
        skip();
    onnx_tensor_view t;
    char *name;
    kh_error err;
    if (onnx_tensorproto_read_file(path, &t, &name, &err))
        fail_msg("read: %s", err.message);
    assert_string_equal(name, "x");
    assert_int_equal(t.dtype, ONNX_FLOAT);
    assert_int_equal(t.rank, 3);
    assert_int_equal(t.dims[2], 5);
    /* numpy's seed-0 normal sample: 1.7640524 */
    assert_true(((float *)t.data)[0] > 1.764f && ((float *)t.data)[0] < 1.765f);
    free(t.data);
    free(name);
}

static void bad_files_are_refused_with_the_path(void **state) {
    (void)state;
    onnx_tensor_view t;
    char *name = (char *)1;
    kh_error err;
    assert_int_equal(onnx_tensorproto_read_file("/nonexistent.pb", &t, &name,
                                                &err),
                     KH_ENOTFOUND);
    assert_null(name);
    assert_non_null(strstr(err.message, "/nonexistent.pb"));

    const uint8_t truncated[] = {0x08, 0x02, 0x10, 0x01, 0x4a, 0x08, 1, 2};
    assert_int_equal(onnx_tensorproto_read_buffer(truncated, sizeof truncated,
                                                  &t, &name, &err),
                     KH_EFORMAT);
    assert_non_null(strstr(err.message, "byte 4"));

    pb_writer w;
    pb_writer_init(&w);
    pb_write_sint64_field(&w, TENSOR_DIMS, 1);
    pb_write_varint_field(&w, TENSOR_DATA_TYPE, ONNX_DOUBLE);
    pb_write_bytes_field(&w, TENSOR_RAW_DATA, "12345678", 8);
    pb_write_string_field(&w, TENSOR_NAME, "dbl");
    assert_int_equal(onnx_tensorproto_read_buffer(w.buf, w.len, &t, &name,
                                                  &err),
                     KH_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "tensor 'dbl': double"));
    pb_writer_free(&w);

    onnx_tensor_view dbl = {.dtype = ONNX_DOUBLE, .rank = 0};
    assert_int_equal(onnx_tensorproto_write_file(temp_path(), "x", &dbl,
                                                 &err),
                     KH_EUNSUPPORTED);
    float f = 1;
    onnx_tensor_view ok = {.dtype = ONNX_FLOAT, .rank = 0, .data = &f};
    assert_int_equal(onnx_tensorproto_write_file("/nonexistent/dir/x.pb",
                                                 "x", &ok, &err),
                     KH_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/dir/x.pb"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_held_type_round_trips),
        cmocka_unit_test(backend_test_data_is_read),
        cmocka_unit_test(bad_files_are_refused_with_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
