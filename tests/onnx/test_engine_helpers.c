/* Helpers every operator uses: dtypes, tensor shapes and values, attribute
 * look-ups, onnx_parallel_for over the persistent thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* What the chunk functions saw; checked on the test's thread (a cmocka
 * assertion must not fail on a worker thread). */
enum { MAX_LANES = 16 };
typedef struct coverage {
    atomic_int *hits;
    atomic_int chunks_by_lane[MAX_LANES];
    atomic_int running[MAX_LANES]; /* chunks a lane is inside right now */
    atomic_int overlaps;           /* a lane entered a chunk while in one */
    atomic_int bad_ranges;         /* empty or reversed ranges, bad lanes */
    atomic_int max_lane;
} coverage;

static void mark(void *arg, size_t begin, size_t end, int worker) {
    coverage *c = arg;
    if (begin >= end || worker < 0 || worker >= MAX_LANES) {
        atomic_fetch_add(&c->bad_ranges, 1);
        return;
    }
    if (atomic_fetch_add(&c->running[worker], 1) != 0)
        atomic_fetch_add(&c->overlaps, 1);
    int seen = atomic_load(&c->max_lane);
    while (worker > seen && !atomic_compare_exchange_weak(&c->max_lane, &seen, worker)) {
    }
    atomic_fetch_add(&c->chunks_by_lane[worker], 1);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_sub(&c->running[worker], 1);
}

static void check_coverage(coverage *c, size_t n, int lane_limit) {
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&c->hits[i]) != 1)
            fail_msg("n=%zu index %zu visited %d times (expected 1)", n, i,
                     atomic_load(&c->hits[i]));
    assert_int_equal(atomic_load(&c->bad_ranges), 0);
    assert_int_equal(atomic_load(&c->overlaps), 0);
    if (atomic_load(&c->max_lane) >= lane_limit)
        fail_msg("n=%zu: lane %d ran a chunk (expected lanes below %d)", n,
                 atomic_load(&c->max_lane), lane_limit);
}

static void parallel_for_visits_every_index_once(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(4, &pool, &err), KH_OK);
    assert_int_equal(onnx_threadpool_threads(pool), 4);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 4};
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 17, 64, 1001, 100000};
    const size_t n_sizes = sizeof sizes / sizeof sizes[0];
    for (size_t round = 0; round < 20 * n_sizes; round++) {
        size_t n = sizes[round % n_sizes];
        coverage c = {.hits = calloc(n, sizeof(atomic_int))};
        assert_non_null(c.hits);
        onnx_parallel_for(&ex, n, mark, &c);
        /* Lanes stay below min(threads, n): kernel_parallel_slots uses the
         * lane as a slot among n. */
        check_coverage(&c, n, n < 4 ? (int)n : 4);
        free(c.hits);
    }
    onnx_threadpool_destroy(pool);
    onnx_threadpool_destroy(NULL);
}

static void parallel_for_keeps_lanes_below_the_exec_threads(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(8, &pool, &err), KH_OK);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 3};
    for (int round = 0; round < 200; round++) {
        coverage c = {.hits = calloc(500, sizeof(atomic_int))};
        assert_non_null(c.hits);
        onnx_parallel_for(&ex, 500, mark, &c);
        check_coverage(&c, 500, 3);
        free(c.hits);
    }
    onnx_threadpool_destroy(pool);
}

static void parallel_for_without_pool_runs_inline(void **state) {
    (void)state;
    coverage c = {.hits = calloc(10, sizeof(atomic_int))};
    onnx_exec ex = {.threads = 1};
    onnx_parallel_for(&ex, 10, mark, &c);
    onnx_parallel_for(&ex, 0, mark, &c); /* nothing to do: not called */
    onnx_parallel_for(NULL, 0, mark, &c);
    assert_int_equal(atomic_load(&c.chunks_by_lane[0]), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
}

/* A chunk that calls onnx_parallel_for on the pool it runs under gets a
 * serial run on its own lane: no deadlock, no lane shared. */
typedef struct nested_job {
    const onnx_exec *ex;
    coverage inner[64];
    atomic_int inner_lane_mismatch;
} nested_job;

static void nested_outer(void *arg, size_t begin, size_t end, int worker) {
    nested_job *job = arg;
    for (size_t i = begin; i < end; i++) {
        coverage *c = &job->inner[i];
        onnx_parallel_for(job->ex, 50, mark, c);
        /* Every inner chunk ran on the outer chunk's lane, in one piece. */
        if (atomic_load(&c->chunks_by_lane[worker]) != 1)
            atomic_fetch_add(&job->inner_lane_mismatch, 1);
    }
}

static void nested_parallel_for_runs_serially_on_its_lane(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(3, &pool, &err), KH_OK);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 3};
    static nested_job job;
    memset(&job, 0, sizeof job);
    job.ex = &ex;
    for (size_t i = 0; i < 64; i++) {
        job.inner[i].hits = calloc(50, sizeof(atomic_int));
        assert_non_null(job.inner[i].hits);
    }
    onnx_parallel_for(&ex, 64, nested_outer, &job);
    assert_int_equal(atomic_load(&job.inner_lane_mismatch), 0);
    for (size_t i = 0; i < 64; i++) {
        check_coverage(&job.inner[i], 50, 3);
        free(job.inner[i].hits);
    }
    onnx_threadpool_destroy(pool);
}

/* Many short calls back to back, with pauses long enough for the workers
 * to go to sleep between some of them: no call is lost or run twice and
 * none hangs (ctest's timeout would catch a lost wake-up). */
static void many_short_calls_each_run_exactly_once(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(2, &pool, &err), KH_OK);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 2};
    atomic_int hits[3];
    coverage c = {.hits = hits};
    for (int call = 0; call < 100000; call++) {
        size_t n = 2 + (size_t)call % 2;
        for (size_t i = 0; i < n; i++)
            atomic_init(&hits[i], 0);
        onnx_parallel_for(&ex, n, mark, &c);
        for (size_t i = 0; i < n; i++)
            if (atomic_load(&hits[i]) != 1)
                fail_msg("call %d: index %zu visited %d times", call, i, atomic_load(&hits[i]));
        if (call % 20000 == 19999) {
            struct timespec pause = {0, 20 * 1000 * 1000}; /* workers sleep */
            nanosleep(&pause, NULL);
        }
    }
    assert_int_equal(atomic_load(&c.overlaps), 0);
    assert_int_equal(atomic_load(&c.bad_ranges), 0);
    onnx_threadpool_destroy(pool);
}

/* The caller runs every chunk no worker has picked up: with the only
 * worker stuck in its first chunk until all the others are done, the call
 * still completes, lane 0 having run all the other chunks. */
typedef struct stuck_job {
    coverage c;
    size_t n;
    atomic_int done;
} stuck_job;

static void stuck_worker(void *arg, size_t begin, size_t end, int worker) {
    stuck_job *job = arg;
    if (worker != 0)
        while (atomic_load(&job->done) < (int)(job->n - (end - begin)))
            sched_yield();
    mark(&job->c, begin, end, worker);
    atomic_fetch_add(&job->done, (int)(end - begin));
}

static void caller_runs_chunks_a_stuck_worker_did_not_claim(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(2, &pool, &err), KH_OK);
    onnx_exec ex = {.pool = (struct onnx_threadpool *)pool, .threads = 2};
    for (int round = 0; round < 50; round++) {
        stuck_job job = {.c = {.hits = calloc(8, sizeof(atomic_int))}, .n = 8};
        assert_non_null(job.c.hits);
        onnx_parallel_for(&ex, 8, stuck_worker, &job);
        check_coverage(&job.c, 8, 2);
        int by_caller = atomic_load(&job.c.chunks_by_lane[0]);
        int by_worker = atomic_load(&job.c.chunks_by_lane[1]);
        if (by_worker > 1 || by_caller + by_worker < 2)
            fail_msg("round %d: caller ran %d chunks, worker %d (expected the worker at most 1)",
                     round, by_caller, by_worker);
        free(job.c.hits);
    }
    onnx_threadpool_destroy(pool);
}

/* Two threads sharing one pool (outside the engine's contract: one model
 * is run by one thread at a time) still get every index exactly once: the
 * second gets a serial run instead of corrupting the first. */
typedef struct sharer {
    onnx_exec ex;
    size_t n;
    atomic_int *hits;
    atomic_int wrong;
} sharer;

static void count_hits(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    sharer *s = arg;
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&s->hits[i], 1);
}

static void *share_pool(void *arg) {
    sharer *s = arg;
    for (int call = 0; call < 2000; call++) {
        for (size_t i = 0; i < s->n; i++)
            atomic_store(&s->hits[i], 0);
        onnx_parallel_for(&s->ex, s->n, count_hits, s);
        for (size_t i = 0; i < s->n; i++)
            if (atomic_load(&s->hits[i]) != 1)
                atomic_fetch_add(&s->wrong, 1);
    }
    return NULL;
}

static void two_callers_on_one_pool_each_cover_their_range(void **state) {
    (void)state;
    onnx_threadpool *pool;
    kh_error err;
    assert_int_equal(onnx_threadpool_create(2, &pool, &err), KH_OK);
    sharer s[2];
    pthread_t other;
    for (int k = 0; k < 2; k++) {
        s[k] = (sharer){.ex = {.pool = (struct onnx_threadpool *)pool, .threads = 2},
                        .n = 257, .hits = calloc(257, sizeof(atomic_int))};
        assert_non_null(s[k].hits);
        atomic_init(&s[k].wrong, 0);
    }
    assert_int_equal(pthread_create(&other, NULL, share_pool, &s[1]), 0);
    share_pool(&s[0]);
    pthread_join(other, NULL);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(atomic_load(&s[k].wrong), 0);
        free(s[k].hits);
    }
    onnx_threadpool_destroy(pool);
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
        cmocka_unit_test(parallel_for_keeps_lanes_below_the_exec_threads),
        cmocka_unit_test(parallel_for_without_pool_runs_inline),
        cmocka_unit_test(nested_parallel_for_runs_serially_on_its_lane),
        cmocka_unit_test(many_short_calls_each_run_exactly_once),
        cmocka_unit_test(caller_runs_chunks_a_stuck_worker_did_not_claim),
        cmocka_unit_test(two_callers_on_one_pool_each_cover_their_range),
        cmocka_unit_test(thread_pool_refuses_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
