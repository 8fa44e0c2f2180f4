/* Shared by the test_ops_a_*.c unit tests: build one operator node by hand
 * (tensors, attributes), then call the operator's init / reshape / run the
 * way the engine does, and compare outputs with both values printed.
 *
 *   op_case c;
 *   op_case_begin(&c, "Add", 13);
 *   op_input_f32(&c, 2, (int64_t[]){2, 3}, (float[]){...});
 *   op_attr_int(&c, "axis", 1);
 *   op_outputs(&c, 1);
 *   assert_int_equal(op_case_run(&c), KH_OK);
 *   expect_f32(c.outputs[0], 2, (int64_t[]){2, 3}, (float[]){...});
 *   op_case_end(&c);
 *
 * Every tensor the case builds is value-known (as an initializer), unless
 * op_input_unknown() is used. Memory is released by op_case_end.
 */
#ifndef KH_TESTS_ONNX_OPS_A_FIXTURE_H
#define KH_TESTS_ONNX_OPS_A_FIXTURE_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/threadpool.h"
#include "onnx/op.h"

#define OP_CASE_MAX 16

typedef struct op_case {
    onnx_node node;
    onnx_tensor *inputs[OP_CASE_MAX];
    onnx_tensor *outputs[OP_CASE_MAX];
    onnx_attr attrs[OP_CASE_MAX];
    void *allocations[8 * OP_CASE_MAX];
    size_t n_allocations;
    onnx_threadpool *pool;
    int threads;
    kh_error err;
    bool initialised;
} op_case;

static inline void *op_case_alloc(op_case *c, size_t bytes) {
    if (c->n_allocations == sizeof c->allocations / sizeof c->allocations[0])
        fail_msg("op_case: too many allocations");
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        fail_msg("op_case: out of memory");
    c->allocations[c->n_allocations++] = p;
    return p;
}

static inline void op_case_begin(op_case *c, const char *op_type, int opset) {
    memset(c, 0, sizeof *c);
    c->node.name = "n";
    c->node.op_type = op_type;
    c->node.domain = "";
    c->node.opset = opset;
    c->node.attrs = c->attrs;
    c->node.inputs = c->inputs;
    c->node.outputs = c->outputs;
    c->threads = 1;
}

/* Runs later steps on a pool of `threads` lanes (parallel paths). */
static inline void op_case_threads(op_case *c, int threads) {
    kh_error err;
    if (onnx_threadpool_create(threads, &c->pool, &err))
        fail_msg("threadpool: %s", err.message);
    c->threads = threads;
}

static inline onnx_tensor *op_tensor(op_case *c, onnx_dtype dtype, int rank,
                                     const int64_t *dims, const void *values) {
    onnx_tensor *t = op_case_alloc(c, sizeof *t);
    kh_error err;
    t->name = "t";
    if (onnx_tensor_reshape(t, dtype, rank, dims, &err))
        fail_msg("op_tensor: %s", err.message);
    size_t bytes = t->numel * onnx_dtype_size(dtype);
    t->data = op_case_alloc(c, bytes);
    if (values && bytes)
        memcpy(t->data, values, bytes);
    t->flags = ONNX_TENSOR_CONST;
    return t;
}

static inline onnx_tensor *op_input(op_case *c, onnx_dtype dtype, int rank,
                                    const int64_t *dims, const void *values) {
    onnx_tensor *t = op_tensor(c, dtype, rank, dims, values);
    c->inputs[c->node.n_inputs++] = t;
    return t;
}

#define op_input_f32(c, rank, dims, values)                                    \
    op_input(c, ONNX_FLOAT, rank, dims, values)
#define op_input_i64(c, rank, dims, values)                                    \
    op_input(c, ONNX_INT64, rank, dims, values)

/* An omitted optional input. */
static inline void op_input_none(op_case *c) {
    c->inputs[c->node.n_inputs++] = NULL;
}

/* An input whose value the planner does not know yet (a graph input). */
static inline onnx_tensor *op_input_unknown(op_case *c, onnx_dtype dtype,
                                            int rank, const int64_t *dims,
                                            const void *values) {
    onnx_tensor *t = op_input(c, dtype, rank, dims, values);
    t->flags = ONNX_TENSOR_INPUT;
    return t;
}

static inline void op_outputs(op_case *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        onnx_tensor *t = op_case_alloc(c, sizeof *t);
        t->name = "out";
        t->rank = -1;
        c->outputs[i] = t;
    }
    c->node.n_outputs = n;
}

static inline onnx_attr *op_attr(op_case *c, const char *name,
                                 onnx_attr_type type) {
    onnx_attr *a = &c->attrs[c->node.n_attrs++];
    a->name = name;
    a->type = type;
    return a;
}

static inline void op_attr_int(op_case *c, const char *name, int64_t v) {
    op_attr(c, name, ONNX_ATTR_INT)->i = v;
}

static inline void op_attr_float(op_case *c, const char *name, float v) {
    op_attr(c, name, ONNX_ATTR_FLOAT)->f = v;
}

static inline void op_attr_string(op_case *c, const char *name, const char *s) {
    onnx_attr *a = op_attr(c, name, ONNX_ATTR_STRING);
    a->s = s;
    a->s_len = strlen(s);
}

static inline void op_attr_ints(op_case *c, const char *name, const int64_t *v,
                                size_t count) {
    onnx_attr *a = op_attr(c, name, ONNX_ATTR_INTS);
    int64_t *copy = op_case_alloc(c, count * sizeof *copy);
    memcpy(copy, v, count * sizeof *copy);
    a->ints = copy;
    a->count = count;
}

static inline void op_attr_tensor(op_case *c, const char *name,
                                  onnx_dtype dtype, int rank,
                                  const int64_t *dims, const void *values) {
    op_attr(c, name, ONNX_ATTR_TENSOR)->t =
        op_tensor(c, dtype, rank, dims, values);
}

/* init (once), reshape, allocate outputs and scratch, run. Returns the first
 * failing status; c->err holds its message. */
static inline int op_case_run(op_case *c) {
    onnx_node *n = &c->node;
    const onnx_operator *op = onnx_operator_find("", n->op_type);
    if (!op)
        fail_msg("operator %s is not registered", n->op_type);
    n->op = op;
    if (!c->initialised && op->init) {
        int rc = op->init(n, &c->err);
        if (rc)
            return rc;
    }
    c->initialised = true;
    n->scratch_bytes = 0;
    if (op->reshape) {
        int rc = op->reshape(n, &c->err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n->n_outputs; i++) {
        onnx_tensor *t = n->outputs[i];
        if (!t)
            continue;
        if (t->rank < 0)
            fail_msg("output %zu has no shape after reshape", i);
        t->data = op_case_alloc(c, t->numel * onnx_dtype_size(t->dtype));
    }
    onnx_exec ex = {
        .scratch = n->scratch_bytes ? op_case_alloc(c, n->scratch_bytes) : NULL,
        .pool = c->pool,
        .threads = c->threads};
    return op->run(n, &ex, &c->err);
}

static inline void op_case_end(op_case *c) {
    if (c->initialised && c->node.op && c->node.op->exit)
        c->node.op->exit(&c->node);
    for (size_t i = 0; i < c->n_allocations; i++)
        free(c->allocations[i]);
    onnx_threadpool_destroy(c->pool);
    c->n_allocations = 0;
}

/* Runs and fails the test (with the operator's message) unless KH_OK. */
#define op_case_ok(c)                                                          \
    do {                                                                       \
        int rc_ = op_case_run(c);                                              \
        if (rc_ != KH_OK)                                                      \
            fail_msg("%s failed (%s): %s", (c)->node.op_type,                  \
                     kh_err_name(rc_), (c)->err.message);                      \
    } while (0)

/* Runs and expects status `code` with `needle` in the message. */
#define op_case_fails(c, code, needle)                                         \
    do {                                                                       \
        int rc_ = op_case_run(c);                                              \
        if (rc_ != (code))                                                     \
            fail_msg("%s: expected %s, got %s (%s)", (c)->node.op_type,        \
                     kh_err_name(code), kh_err_name(rc_), (c)->err.message);   \
        if (!strstr((c)->err.message, (needle)))                               \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (c)->err.message); \
    } while (0)

/* Named in failure messages when one test checks several operators. */
static const char *expect_context = "";

static inline void expect_shape(const onnx_tensor *t, int rank,
                                const int64_t *dims) {
    char got[160];
    bool same = t->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = t->dims[i] == dims[i];
    if (!same) {
        char want[160] = "[";
        for (int i = 0; i < rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want),
                     "%s%" PRId64, i ? "," : "", dims[i]);
        strncat(want, "]", sizeof want - strlen(want) - 1);
        fail_msg("shape: expected %s, got %s", want,
                 onnx_shape_str(t, got, sizeof got));
    }
}

static inline void expect_dtype(const onnx_tensor *t, onnx_dtype dtype) {
    if (t->dtype != dtype)
        fail_msg("dtype: expected %s, got %s", onnx_dtype_name(dtype),
                 onnx_dtype_name(t->dtype));
}

/* |got - want| <= 1e-5 + 1e-4 |want|; NaN matches NaN. */
static inline void expect_f32(const onnx_tensor *t, int rank,
                              const int64_t *dims, const float *want) {
    expect_dtype(t, ONNX_FLOAT);
    expect_shape(t, rank, dims);
    const float *got = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (isnan(want[i]) && isnan(got[i]))
            continue;
        if (isinf(want[i]) && got[i] == want[i])
            continue;
        if (!(fabsf(got[i] - want[i]) <= 1e-5f + 1e-4f * fabsf(want[i])))
            fail_msg("%s element %zu: expected %.9g, got %.9g", expect_context,
                     i, (double)want[i], (double)got[i]);
    }
}

static inline void expect_ints(const onnx_tensor *t, onnx_dtype dtype, int rank,
                               const int64_t *dims, const int64_t *want) {
    expect_dtype(t, dtype);
    expect_shape(t, rank, dims);
    for (size_t i = 0; i < t->numel; i++) {
        int64_t got = onnx_tensor_get_i64(t, i);
        if (got != want[i])
            fail_msg("%s element %zu: expected %" PRId64 ", got %" PRId64,
                     expect_context, i, want[i], got);
    }
}

#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})
#define U8(...) ((const uint8_t[]){__VA_ARGS__})
#define I8(...) ((const int8_t[]){__VA_ARGS__})

#endif
