/* Helpers every operator uses: dtypes, tensor shapes and values, attribute
 * look-ups, onnx_parallel_for over the persistent thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/threadpool.h"
#include "onnx/op.h"

static void dtype_sizes_cover_held_types_only(void **state) {
    (void)state;
    assert_int_equal(onnx_dtype_size(ONNX_FLOAT), 4);
    assert_int_equal(onnx_dtype_size(ONNX_INT64), 8);
    assert_int_equal(onnx_dtype_size(ONNX_INT32), 4);
    assert_int_equal(onnx_dtype_size(ONNX_UINT8), 1);
    assert_int_equal(onnx_dtype_size(ONNX_INT8), 1);
    assert_int_equal(onnx_dtype_size(ONNX_BOOL), 1);
    assert_int_equal(onnx_dtype_size(ONNX_DOUBLE), 0);
    assert_int_equal(onnx_dtype_size(ONNX_FLOAT16), 0);
    assert_int_equal(onnx_dtype_size(ONNX_STRING), 0);
    assert_string_equal(onnx_dtype_name(ONNX_DOUBLE), "double");
    assert_string_equal(onnx_dtype_name(ONNX_FLOAT), "float");
    assert_string_equal(onnx_dtype_name((onnx_dtype)99), "unknown type");
}

static void reshape_sets_shape_and_count(void **state) {
    (void)state;
    onnx_tensor t = {.name = "t", .rank = -1};
    kh_error err;
    int64_t dims[] = {2, 3, 4};
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_FLOAT, 3, dims, &err), KH_OK);
    assert_int_equal(t.rank, 3);
    assert_int_equal(t.numel, 24);
    assert_int_equal(t.dtype, ONNX_FLOAT);
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_INT64, 0, NULL, &err), KH_OK);
    assert_int_equal(t.numel, 1);
    int64_t zero[] = {3, 0};
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_INT64, 2, zero, &err), KH_OK);
    assert_int_equal(t.numel, 0);
}

static void reshape_refuses_bad_shapes(void **state) {
    (void)state;
    onnx_tensor t = {.name = "t", .rank = -1};
    kh_error err;
    int64_t neg[] = {2, -1};
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_FLOAT, 2, neg, &err),
                     KH_ESHAPE);
    assert_non_null(strstr(err.message, "tensor 't'"));
    assert_non_null(strstr(err.message, "negative"));
    int64_t huge[] = {INT64_MAX / 2, 4};
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_FLOAT, 2, huge, &err),
                     KH_ELIMIT);
    assert_non_null(strstr(err.message, "overflows"));
    int64_t many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_FLOAT, 9, many, &err),
                     KH_ESHAPE);
    assert_int_equal(onnx_tensor_reshape(&t, ONNX_DOUBLE, 1, many, &err),
                     KH_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "double"));
    assert_int_equal(t.rank, -1); /* untouched on failure */
}

static void values_read_as_int64_and_double(void **state) {
    (void)state;
    int32_t i32[] = {-5, 7};
    onnx_tensor t = {.name = "t", .dtype = ONNX_INT32, .rank = 1,
                     .dims = {2}, .numel = 2, .data = i32,
                     .flags = ONNX_TENSOR_CONST};
    assert_true(onnx_tensor_value_known(&t));
    assert_int_equal(onnx_tensor_get_i64(&t, 0), -5);
    assert_true(onnx_tensor_get_f64(&t, 1) == 7.0);
    assert_int_equal(onnx_tensor_get_i64(&t, 2), 0); /* out of range */
    float f[] = {2.75f, -1e30f};
    onnx_tensor tf = {.name = "f", .dtype = ONNX_FLOAT, .rank = 1,
                      .dims = {2}, .numel = 2, .data = f,
                      .flags = ONNX_TENSOR_FOLDED};
    assert_int_equal(onnx_tensor_get_i64(&tf, 0), 2);
    assert_true(onnx_tensor_get_i64(&tf, 1) == INT64_MIN);
    assert_true(onnx_tensor_get_f64(&tf, 0) == 2.75);
    uint8_t b[] = {1, 0};
    onnx_tensor tb = {.name = "b", .dtype = ONNX_BOOL, .rank = 1,
                      .dims = {2}, .numel = 2, .data = b};
    assert_false(onnx_tensor_value_known(&tb)); /* an intermediate */
    tb.flags = ONNX_TENSOR_RUNTIME;
    assert_true(onnx_tensor_value_known(&tb));
    assert_int_equal(onnx_tensor_get_i64(&tb, 0), 1);
    assert_false(onnx_tensor_value_known(NULL));
}

static void shape_string_fits_the_buffer(void **state) {
    (void)state;
    onnx_tensor t = {.rank = 4, .dims = {1, 3, 224, 224}};
    char buf[64];
    assert_string_equal(onnx_shape_str(&t, buf, sizeof buf), "[1,3,224,224]");
    t.rank = 0;
    assert_string_equal(onnx_shape_str(&t, buf, sizeof buf), "[]");
    t.rank = -1;
    assert_string_equal(onnx_shape_str(&t, buf, sizeof buf), "[?]");
    t.rank = 4;
    char small[6];
    onnx_shape_str(&t, small, sizeof small);
    assert_int_equal(strlen(small), 5);
}

static void attributes_are_found_by_name_and_type(void **state) {
    (void)state;
    static const int64_t ints[] = {1, 2, 3};
    static const float floats[] = {0.5f};
    const onnx_attr attrs[] = {
        {.name = "axis", .type = ONNX_ATTR_INT, .i = -1},
        {.name = "alpha", .type = ONNX_ATTR_FLOAT, .f = 0.25f},
        {.name = "mode", .type = ONNX_ATTR_STRING, .s = "nearest", .s_len = 7},
        {.name = "pads", .type = ONNX_ATTR_INTS, .ints = ints, .count = 3},
        {.name = "scales", .type = ONNX_ATTR_FLOATS, .floats = floats,
         .count = 1},
    };
    onnx_node n = {.name = "n", .op_type = "X", .attrs = attrs, .n_attrs = 5};
    assert_int_equal(onnx_attr_int(&n, "axis", 7), -1);
    assert_int_equal(onnx_attr_int(&n, "missing", 7), 7);
    assert_int_equal(onnx_attr_int(&n, "alpha", 7), 7); /* wrong type */
    assert_true(onnx_attr_float(&n, "alpha", 1) == 0.25f);
    assert_string_equal(onnx_attr_string(&n, "mode", "x"), "nearest");
    assert_string_equal(onnx_attr_string(&n, "pads", "x"), "x");
    const int64_t *v;
    assert_int_equal(onnx_attr_ints(&n, "pads", &v), 3);
    assert_int_equal(v[2], 3);
    assert_int_equal(onnx_attr_ints(&n, "axis", &v), 0);
    assert_null(v);
    const float *fv;
    assert_int_equal(onnx_attr_floats(&n, "scales", &fv), 1);
    assert_true(fv[0] == 0.5f);
    assert_non_null(onnx_attr_find(&n, "mode"));
    assert_null(onnx_attr_find(&n, "nope"));
}

typedef struct coverage {
    atomic_int *hits;
    atomic_int lanes_seen[16];
} coverage;

static void mark(void *arg, size_t begin, size_t end, int worker) {
    coverage *c = arg;
    assert_true(begin < end);
    atomic_fetch_add(&c->lanes_seen[worker], 1);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

static void parallel_for_visits_every_index_once(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(4, &pool, &err), KH_OK);
    assert_int_equal(onnx_threadpool_threads(pool), 4);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 4};
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 64, 1001};
    for (int round = 0; round < 200; round++) {
        size_t n = sizes[round % 8];
        coverage c = {.hits = calloc(n, sizeof(atomic_int))};
        assert_non_null(c.hits);
        onnx_parallel_for(&ex, n, mark, &c);
        for (size_t i = 0; i < n; i++)
            if (atomic_load(&c.hits[i]) != 1)
                fail_msg("n=%zu index %zu visited %d times", n, i,
                         atomic_load(&c.hits[i]));
        int lanes = 0;
        for (int w = 0; w < 16; w++) {
            int seen = atomic_load(&c.lanes_seen[w]);
            assert_true(seen <= 1);
            lanes += seen;
            if (w >= 4)
                assert_int_equal(seen, 0);
        }
        assert_int_equal(lanes, n < 4 ? (int)n : 4);
        free(c.hits);
    }
    onnx_threadpool_destroy(pool);
    onnx_threadpool_destroy(NULL);
}

static void parallel_for_without_pool_runs_inline(void **state) {
    (void)state;
    coverage c = {.hits = calloc(10, sizeof(atomic_int))};
    onnx_exec ex = {.threads = 1};
    onnx_parallel_for(&ex, 10, mark, &c);
    onnx_parallel_for(&ex, 0, mark, &c); /* nothing to do: not called */
    assert_int_equal(atomic_load(&c.lanes_seen[0]), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
}

static void thread_pool_refuses_bad_counts(void **state) {
    (void)state;
    onnx_threadpool *pool = (onnx_threadpool *)1;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(1, &pool, &err), KH_EINVAL);
    assert_null(pool);
    assert_int_equal(onnx_threadpool_create(100000, &pool, &err), KH_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dtype_sizes_cover_held_types_only),
        cmocka_unit_test(reshape_sets_shape_and_count),
        cmocka_unit_test(reshape_refuses_bad_shapes),
        cmocka_unit_test(values_read_as_int64_and_double),
        cmocka_unit_test(shape_string_fits_the_buffer),
        cmocka_unit_test(attributes_are_found_by_name_and_type),
        cmocka_unit_test(parallel_for_visits_every_index_once),
        cmocka_unit_test(parallel_for_without_pool_runs_inline),
        cmocka_unit_test(thread_pool_refuses_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
