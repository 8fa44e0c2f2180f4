/* run.c - onnx_model_run: input checks, (re)planning, executing nodes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"

#define MAX_THREADS 256

/* "float [1,3,416,416]" with symbolic dims by name. */
static void describe_declared(const engine_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    int n = snprintf(buf, len, "%s ", onnx_dtype_name(t->t.dtype));
    if (n < 0 || (size_t)n >= len)
        return;
    used = (size_t)n;
    if (t->declared_rank < 0) {
        snprintf(buf + used, len - used, "of any shape");
        return;
    }
    n = snprintf(buf + used, len - used, "[");
    used += n > 0 ? (size_t)n : 0;
    for (int i = 0; i < t->declared_rank && used < len; i++) {
        const char *sep = i ? "," : "";
        if (t->declared_dims[i] >= 0)
            n = snprintf(buf + used, len - used, "%s%" PRId64, sep,
                         t->declared_dims[i]);
        else
            n = snprintf(buf + used, len - used, "%s%s", sep,
                         t->dim_names[i] ? t->dim_names[i] : "?");
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

static void describe_view(const onnx_tensor_view *v, char *buf, size_t len) {
    size_t used = 0;
    int n = snprintf(buf, len, "%s [", onnx_dtype_name(v->dtype));
    if (n < 0 || (size_t)n >= len)
        return;
    used = (size_t)n;
    int rank = v->rank > ONNX_MAX_RANK ? ONNX_MAX_RANK : v->rank;
    for (int i = 0; i < rank && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%" PRId64, i ? "," : "",
                     v->dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (used < len)
        snprintf(buf + used, len - used, "%s]",
                 v->rank > ONNX_MAX_RANK ? ",..." : "");
}

static int check_input(const engine_tensor *t, const onnx_tensor_view *v,
                       kh_error *err) {
    bool ok = v->dtype == t->t.dtype && v->rank >= 0 &&
              v->rank <= ONNX_MAX_RANK &&
              (t->declared_rank < 0 || v->rank == t->declared_rank);
    for (int i = 0; ok && i < v->rank; i++) {
        if (v->dims[i] < 0)
            ok = false;
        else if (t->declared_rank >= 0 && t->declared_dims[i] >= 0 &&
                 v->dims[i] != t->declared_dims[i])
            ok = false;
    }
    if (!ok) {
        char want[256], got[256];
        describe_declared(t, want, sizeof want);
        describe_view(v, got, sizeof got);
        return kh_error_set(err,
                            v->dtype != t->t.dtype ? KH_ETYPE : KH_ESHAPE,
                            "input '%s': expected %s, got %s", t->t.name,
                            want, got);
    }
    onnx_tensor probe = {.name = t->t.name};
    int rc = onnx_tensor_reshape(&probe, v->dtype, v->rank, v->dims, err);
    if (rc)
        return kh_error_prefix(err, "input '%s'", t->t.name);
    if (probe.numel && !v->data)
        return kh_error_set(err, KH_EINVAL, "input '%s': no data",
                            t->t.name);
    return KH_OK;
}

static bool same_as_planned(const onnx_model *m,
                            const onnx_tensor_view *inputs) {
    if (!m->planned)
        return false;
    for (size_t i = 0; i < m->n_inputs; i++) {
        if (inputs[i].dtype != m->planned_dtype[i] ||
            inputs[i].rank != m->planned_rank[i])
            return false;
        const int64_t *dims = &m->planned_dims[i * ONNX_MAX_RANK];
        for (int d = 0; d < inputs[i].rank; d++)
            if (inputs[i].dims[d] != dims[d])
                return false;
    }
    return true;
}

static int ensure_scratch(onnx_model *m, size_t bytes, kh_error *err) {
    if (!engine_aligned_reserve(&m->scratch, &m->scratch_cap, bytes))
        return kh_error_set(err, KH_ENOMEM, "scratch of %zu bytes: out of "
                                            "memory", bytes);
    return KH_OK;
}

/* Nodes from dynamic_from on: shapes depend on values of this run. */
static int run_dynamic(onnx_model *m, onnx_exec *ex, kh_error *err) {
    for (size_t i = 0; i < m->n_inputs; i++)
        m->inputs[i]->t.flags |= ONNX_TENSOR_RUNTIME;
    for (size_t i = 0; i < m->dynamic_from; i++)
        for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
            if (m->nodes[i].outputs[k])
                m->nodes[i].outputs[k]->flags |= ONNX_TENSOR_RUNTIME;
    for (size_t i = m->dynamic_from; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        int rc = engine_reshape_node(m, n, err);
        if (rc == KH_EDYNAMIC)
            rc = kh_error_set(err, KH_EINTERNAL,
                              "shape still unknown with every input value "
                              "known");
        if (!rc)
            rc = engine_own_outputs(n, err);
        if (!rc)
            rc = ensure_scratch(m, n->scratch_bytes, err);
        if (!rc) {
            ex->scratch = m->scratch;
            rc = n->op->run(n, ex, err);
        }
        if (rc)
            return engine_node_error(n, rc, err);
        for (size_t k = 0; k < n->n_outputs; k++)
            if (n->outputs[k])
                n->outputs[k]->flags |= ONNX_TENSOR_RUNTIME;
    }
    return KH_OK;
}

int onnx_model_run(onnx_model *m, const onnx_tensor_view *inputs,
                   size_t n_inputs, onnx_tensor_view *outputs,
                   size_t n_outputs, kh_error *caller_err) {
    kh_error local, *err = caller_err ? caller_err : &local;
    if (!m)
        return kh_error_set(err, KH_EINVAL, "run: no model");
    if (n_inputs != m->n_inputs)
        return kh_error_set(err, KH_EINVAL,
                            "run: %zu inputs given, the model has %zu",
                            n_inputs, m->n_inputs);
    if (n_outputs > m->n_outputs)
        return kh_error_set(err, KH_EINVAL,
                            "run: %zu outputs asked, the model has %zu",
                            n_outputs, m->n_outputs);
    if ((n_inputs && !inputs) || (n_outputs && !outputs))
        return kh_error_set(err, KH_EINVAL, "run: NULL inputs or outputs");
    for (size_t i = 0; i < n_inputs; i++) {
        int rc = check_input(m->inputs[i], &inputs[i], err);
        if (rc)
            return rc;
    }
    if (!same_as_planned(m, inputs)) {
        int rc = engine_plan(m, inputs, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n_inputs; i++)
        m->inputs[i]->t.data = inputs[i].data;

    kh_error_clear(err);
    onnx_exec ex = {.scratch = m->scratch,
                    .pool = (struct onnx_threadpool *)m->pool_threads,
                    .threads = m->threads};
    for (size_t i = 0; i < m->dynamic_from; i++) {
        if (m->node_folded[i])
            continue;
        onnx_node *n = &m->nodes[i];
        int rc = n->op->run(n, &ex, err);
        if (rc)
            return engine_node_error(n, rc, err);
    }
    if (m->dynamic_from < m->n_nodes) {
        int rc = run_dynamic(m, &ex, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n_outputs; i++) {
        const onnx_tensor *t = &m->outputs[i]->t;
        onnx_tensor_view *v = &outputs[i];
        memset(v, 0, sizeof *v);
        v->dtype = t->dtype;
        v->rank = t->rank;
        memcpy(v->dims, t->dims, sizeof v->dims);
        v->data = t->data;
    }
    return KH_OK;
}

int onnx_model_set_threads(onnx_model *m, int threads, kh_error *err) {
    if (!m || threads < 1 || threads > MAX_THREADS)
        return kh_error_set(err, KH_EINVAL,
                            "threads: %d (expected 1..%d)", threads,
                            MAX_THREADS);
    if (threads == m->threads)
        return KH_OK;
    onnx_threadpool *pool = NULL;
    if (threads > 1) {
        int rc = onnx_threadpool_create(threads, &pool, err);
        if (rc)
            return rc;
    }
    onnx_threadpool_destroy(m->pool_threads);
    m->pool_threads = pool;
    m->threads = threads;
    return KH_OK;
}
