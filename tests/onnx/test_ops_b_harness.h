/* test_ops_b_harness.h - builds one ONNX node by hand and runs it through
 * its operator's init / reshape / run / exit, the way the engine does, for
 * the tests of the convolution-family operators (test_ops_b_*.c).
 */
#ifndef KH_TEST_OPS_B_HARNESS_H
#define KH_TEST_OPS_B_HARNESS_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/sgemm.h"
#include "onnx/kernels/threadpool.h"
#include "onnx/op.h"

#define TH_MAX_TENSORS 12
#define TH_MAX_ATTRS 16

typedef struct th_node {
    onnx_node node;
    onnx_tensor tensors[TH_MAX_TENSORS];
    onnx_tensor *inputs[TH_MAX_TENSORS];
    onnx_tensor *outputs[4];
    onnx_attr attrs[TH_MAX_ATTRS];
    int64_t ints[TH_MAX_ATTRS][16];
    float floats[TH_MAX_ATTRS][16];
    size_t n_tensors;
    void *owned[TH_MAX_TENSORS]; /* output buffers */
} th_node;

static inline void th_init(th_node *t, const char *op_type, int opset) {
    memset(t, 0, sizeof *t);
    t->node.name = "test";
    t->node.op_type = op_type;
    t->node.domain = "";
    t->node.opset = opset;
    t->node.attrs = t->attrs;
    t->node.inputs = t->inputs;
    t->node.outputs = t->outputs;
}

static inline onnx_tensor *th_new_tensor(th_node *t, const char *name,
                                         onnx_dtype dtype, int rank,
                                         const int64_t *dims, void *data,
                                         unsigned flags) {
    onnx_tensor *x = &t->tensors[t->n_tensors++];
    x->name = name;
    x->dtype = dtype;
    x->rank = rank;
    x->numel = 1;
    for (int i = 0; i < rank; i++) {
        x->dims[i] = dims[i];
        x->numel *= (size_t)dims[i];
    }
    x->data = data;
    x->flags = flags;
    return x;
}

/* Appends input (NULL for a left-out optional input). */
static inline void th_input(th_node *t, onnx_tensor *x) {
    t->inputs[t->node.n_inputs++] = x;
}

static inline onnx_tensor *th_float_input(th_node *t, const char *name,
                                          int rank, const int64_t *dims,
                                          float *data, unsigned flags) {
    onnx_tensor *x = th_new_tensor(t, name, ONNX_FLOAT, rank, dims, data, flags);
    th_input(t, x);
    return x;
}

static inline onnx_tensor *th_output(th_node *t, const char *name) {
    onnx_tensor *y = th_new_tensor(t, name, ONNX_UNDEFINED, -1, NULL, NULL, 0);
    t->outputs[t->node.n_outputs++] = y;
    return y;
}

static inline onnx_attr *th_attr(th_node *t, const char *name,
                                 onnx_attr_type type) {
    onnx_attr *a = &t->attrs[t->node.n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->type = type;
    return a;
}

static inline void th_attr_int(th_node *t, const char *name, int64_t v) {
    th_attr(t, name, ONNX_ATTR_INT)->i = v;
}

static inline void th_attr_float(th_node *t, const char *name, float v) {
    th_attr(t, name, ONNX_ATTR_FLOAT)->f = v;
}

static inline void th_attr_string(th_node *t, const char *name, const char *s) {
    onnx_attr *a = th_attr(t, name, ONNX_ATTR_STRING);
    a->s = s;
    a->s_len = strlen(s);
}

static inline void th_attr_ints(th_node *t, const char *name, size_t n,
                                const int64_t *v) {
    size_t slot = t->node.n_attrs;
    onnx_attr *a = th_attr(t, name, ONNX_ATTR_INTS);
    memcpy(t->ints[slot], v, n * sizeof *v);
    a->ints = t->ints[slot];
    a->count = n;
}

static inline void th_attr_floats(th_node *t, const char *name, size_t n,
                                  const float *v) {
    size_t slot = t->node.n_attrs;
    onnx_attr *a = th_attr(t, name, ONNX_ATTR_FLOATS);
    memcpy(t->floats[slot], v, n * sizeof *v);
    a->floats = t->floats[slot];
    a->count = n;
}

/* init + reshape + run (+ exit) with `threads` threads. Output buffers are
 * allocated here (freed by th_free). Returns the first failing status. */
static inline int th_run(th_node *t, int threads, kh_error *err) {
    const onnx_operator *op = onnx_operator_find("", t->node.op_type);
    if (!op)
        return kh_error_set(err, KH_ENOTFOUND, "no operator %s", t->node.op_type);
    t->node.op = op;
    int rc = op->init ? op->init(&t->node, err) : KH_OK;
    if (!rc && op->reshape)
        rc = op->reshape(&t->node, err);
    onnx_threadpool *pool = NULL;
    void *scratch = NULL;
    if (!rc) {
        for (size_t i = 0; i < t->node.n_outputs; i++) {
            onnx_tensor *y = t->outputs[i];
            if (!y)
                continue;
            size_t bytes = y->numel * onnx_dtype_size(y->dtype);
            y->data = t->owned[i] = malloc(bytes ? bytes : 1);
            /* Garbage, so a kernel that forgets to write shows up. */
            memset(y->data, 0x7f, bytes);
        }
        size_t sb = (t->node.scratch_bytes + 63) / 64 * 64;
        scratch = aligned_alloc(64, sb ? sb : 64);
        if (threads > 1)
            rc = onnx_threadpool_create(threads, &pool, err);
    }
    if (!rc) {
        onnx_exec ex = {.scratch = scratch,
                        .pool = (struct onnx_threadpool *)pool,
                        .threads = threads > 1 ? threads : 1};
        rc = op->run(&t->node, &ex, err);
    }
    onnx_threadpool_destroy(pool);
    free(scratch);
    if (op->exit)
        op->exit(&t->node);
    return rc;
}

static inline void th_free(th_node *t) {
    for (size_t i = 0; i < TH_MAX_TENSORS; i++)
        free(t->owned[i]);
}

/* ---- random data and comparison ---- */

static inline uint32_t th_rand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Uniform in [-1, 1). */
static inline float th_randf(uint32_t *s) {
    return (float)th_rand(s) / (float)(1u << 23) - 1.0f;
}

static inline float *th_random_floats(size_t n, uint32_t *seed) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = th_randf(seed);
    return p;
}

/* Index of the first element where |got - want| > atol + rtol * |want|, or
 * -1; prints both values when it finds one. */
static inline long th_compare(const char *what, const float *got,
                              const float *want, size_t n, float atol,
                              float rtol) {
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= atol + rtol * fabsf(want[i]))) {
            fprintf(stderr, "%s: element %zu: got %.8g, want %.8g (diff %.3g)\n",
                    what, i, (double)got[i], (double)want[i], (double)d);
            return (long)i;
        }
    }
    return -1;
}

/* The instruction sets this CPU can run, widest first. */
static inline size_t th_isas(sgemm_isa *out) {
    size_t n = 0;
    for (int i = (int)sgemm_isa_best(); i >= 0; i--)
        out[n++] = (sgemm_isa)i;
    return n;
}

#endif
