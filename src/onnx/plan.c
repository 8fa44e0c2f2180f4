/* plan.c - shapes, constant folding and memory for one set of input shapes.
 *
 * Every node's reshape runs in order. A node whose inputs are all known
 * values (constants or folded), or a Shape/Size whose input shape is known,
 * runs here once and its outputs become known values (FOLDED): this folds
 * the Shape -> Gather -> Concat -> Reshape chains exporters emit. The other
 * nodes' outputs are placed in one arena: each tensor lives from its producer
 * to its last consumer (graph outputs to the end), and tensors whose
 * lifetimes do not overlap share bytes (greedy by size, largest first).
 * A node whose reshape needs a value known only at run time (KH_EDYNAMIC)
 * ends static planning: it and every later node are reshaped and given
 * memory while running.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"

static size_t round_up(size_t bytes) {
    size_t r = (bytes + ENGINE_ALIGN - 1) / ENGINE_ALIGN * ENGINE_ALIGN;
    return r ? r : ENGINE_ALIGN; /* every tensor gets an address */
}

bool engine_inputs_fixed(const onnx_model *m) {
    for (size_t i = 0; i < m->n_inputs; i++) {
        const engine_tensor *t = m->inputs[i];
        if (t->declared_rank < 0 || onnx_dtype_size(t->t.dtype) == 0)
            return false;
        for (int d = 0; d < t->declared_rank; d++)
            if (t->declared_dims[d] < 0)
                return false;
    }
    return true;
}

/* Forgets shapes and values computed by the last plan and frees folded
 * values and run-time buffers; the arena and scratch stay for reuse. */
static void reset_tensors(onnx_model *m) {
    for (size_t i = 0; i < m->n_tensors; i++) {
        engine_tensor *t = m->tensors[i];
        t->t.flags &= ~(unsigned)(ONNX_TENSOR_FOLDED | ONNX_TENSOR_RUNTIME);
        free(t->own);
        t->own = NULL;
        t->own_cap = 0;
        t->in_arena = false;
        if (t->kind == TENSOR_INTERMEDIATE) {
            t->t.rank = -1;
            t->t.numel = 0;
            t->t.data = NULL;
        } else if (t->kind == TENSOR_GRAPH_INPUT) {
            t->t.data = NULL;
        }
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        m->node_folded[i] = false;
        m->nodes[i].scratch_bytes = 0;
    }
    m->planned = false;
}

void engine_plan_release(onnx_model *m) {
    if (m->tensors && m->node_folded)
        reset_tensors(m);
    free(m->arena);
    m->arena = NULL;
    m->arena_bytes = m->arena_cap = 0;
    free(m->scratch);
    m->scratch = NULL;
    m->scratch_bytes = m->scratch_cap = 0;
    free(m->planned_rank);
    free(m->planned_dims);
    free(m->planned_dtype);
    m->planned_rank = NULL;
    m->planned_dims = NULL;
    m->planned_dtype = NULL;
}

static int default_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    for (size_t i = 0; i < n->n_outputs; i++)
        if (n->outputs[i]) {
            int rc = onnx_tensor_reshape(n->outputs[i], x->dtype, x->rank,
                                         x->dims, err);
            if (rc)
                return rc;
        }
    return KH_OK;
}

/* Calls the node's reshape and checks that it set every output. */
int engine_reshape_node(const onnx_model *m, onnx_node *n, kh_error *err) {
    for (size_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] && n->inputs[k]->rank < 0)
            return kh_error_set(err, KH_EINTERNAL,
                                "input '%s' has no shape",
                                n->inputs[k]->name);
    for (size_t k = 0; k < n->n_outputs; k++)
        if (n->outputs[k])
            n->outputs[k]->rank = -1;
    n->scratch_bytes = 0;
    int rc = n->op->reshape ? n->op->reshape(n, err) : default_reshape(n, err);
    if (rc)
        return rc;
    for (size_t k = 0; k < n->n_outputs; k++) {
        const onnx_tensor *y = n->outputs[k];
        if (y && (y->rank < 0 || onnx_dtype_size(y->dtype) == 0))
            return kh_error_set(err, KH_EINTERNAL,
                                "reshape left output '%s' without a shape "
                                "or type",
                                y->name);
        if (y && m->memory_limit &&
            y->numel > m->memory_limit / onnx_dtype_size(y->dtype))
            return kh_error_set(err, KH_ELIMIT,
                                "output '%s' needs %zu elements, over the "
                                "memory limit of %zu bytes",
                                y->name, y->numel, m->memory_limit);
    }
    if (m->memory_limit && n->scratch_bytes > m->memory_limit)
        return kh_error_set(err, KH_ELIMIT,
                            "scratch of %zu bytes is over the memory limit "
                            "of %zu bytes",
                            n->scratch_bytes, m->memory_limit);
    return KH_OK;
}

static bool is_shape_op(const onnx_node *n) {
    return !n->domain[0] && (strcmp(n->op_type, "Shape") == 0 ||
                             strcmp(n->op_type, "Size") == 0);
}

static bool can_fold(const onnx_node *n) {
    if (is_shape_op(n))
        return true; /* reads only its input's shape, known here */
    for (size_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] && !onnx_tensor_value_known(n->inputs[k]))
            return false;
    return true;
}

/* Gives each output its own buffer of at least its size (reused when big
 * enough). Used for folded values and for run-time-shaped nodes. */
int engine_own_outputs(onnx_node *n, kh_error *err) {
    for (size_t k = 0; k < n->n_outputs; k++) {
        onnx_tensor *y = n->outputs[k];
        if (!y)
            continue;
        engine_tensor *t = engine_tensor_of(y);
        size_t bytes = round_up(y->numel * onnx_dtype_size(y->dtype));
        if (!engine_aligned_reserve(&t->own, &t->own_cap, bytes))
            return kh_error_set(err, KH_ENOMEM,
                                "output '%s': out of memory (%zu bytes)",
                                y->name, bytes);
        y->data = t->own;
    }
    return KH_OK;
}

static int fold_node(onnx_node *n, const onnx_exec *base, kh_error *err) {
    int rc = engine_own_outputs(n, err);
    if (rc)
        return rc;
    void *scratch = NULL;
    if (n->scratch_bytes &&
        !(scratch = engine_aligned_alloc(n->scratch_bytes)))
        return kh_error_set(err, KH_ENOMEM, "scratch: out of memory");
    onnx_exec ex = *base;
    ex.scratch = scratch;
    rc = n->op->run(n, &ex, err);
    free(scratch);
    if (rc)
        return rc;
    for (size_t k = 0; k < n->n_outputs; k++)
        if (n->outputs[k])
            n->outputs[k]->flags |= ONNX_TENSOR_FOLDED;
    return KH_OK;
}

typedef struct placement {
    engine_tensor *t;
    int first, last;
} placement;

static int by_size_desc(const void *a, const void *b) {
    const placement *x = a, *y = b;
    if (x->t->bytes != y->t->bytes)
        return x->t->bytes < y->t->bytes ? 1 : -1;
    return x->first - y->first;
}

/* Greedy by size: each tensor, largest first, takes the lowest offset that
 * does not overlap a placed tensor alive at the same time. */
static int place_tensors(onnx_model *m, size_t *total, kh_error *err) {
    size_t count = 0;
    for (size_t i = 0; i < m->dynamic_from; i++)
        if (!m->node_folded[i])
            count += m->nodes[i].n_outputs;
    placement *p = malloc((count ? count : 1) * sizeof *p);
    placement **alive = malloc((count ? count : 1) * sizeof *alive);
    if (!p || !alive) {
        free(p);
        free(alive);
        return kh_error_set(err, KH_ENOMEM, "planning: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < m->dynamic_from; i++) {
        if (m->node_folded[i])
            continue;
        const onnx_node *node = &m->nodes[i];
        for (size_t k = 0; k < node->n_outputs; k++) {
            onnx_tensor *y = node->outputs[k];
            if (!y)
                continue;
            engine_tensor *t = engine_tensor_of(y);
            t->bytes = round_up(y->numel * onnx_dtype_size(y->dtype));
            t->in_arena = true;
            p[n].t = t;
            p[n].first = (int)i;
            p[n].last = t->last_use > (int)i ? t->last_use : (int)i;
            n++;
        }
    }
    qsort(p, n, sizeof *p, by_size_desc);
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        /* Placed tensors alive during p[i], sorted by offset. */
        size_t n_alive = 0;
        for (size_t j = 0; j < i; j++)
            if (p[j].first <= p[i].last && p[i].first <= p[j].last) {
                size_t at = n_alive++;
                while (at > 0 && alive[at - 1]->t->offset > p[j].t->offset) {
                    alive[at] = alive[at - 1];
                    at--;
                }
                alive[at] = &p[j];
            }
        size_t offset = 0;
        for (size_t j = 0; j < n_alive; j++) {
            const engine_tensor *o = alive[j]->t;
            if (offset + p[i].t->bytes <= o->offset)
                break;
            if (o->offset + o->bytes > offset)
                offset = o->offset + o->bytes;
        }
        p[i].t->offset = offset;
        if (offset + p[i].t->bytes > end)
            end = offset + p[i].t->bytes;
    }
    free(p);
    free(alive);
    *total = end;
    return KH_OK;
}

static int remember_input_shapes(onnx_model *m, kh_error *err) {
    size_t n = m->n_inputs ? m->n_inputs : 1;
    if (!m->planned_rank) {
        m->planned_rank = calloc(n, sizeof *m->planned_rank);
        m->planned_dims = calloc(n * ONNX_MAX_RANK, sizeof *m->planned_dims);
        m->planned_dtype = calloc(n, sizeof *m->planned_dtype);
        if (!m->planned_rank || !m->planned_dims || !m->planned_dtype)
            return kh_error_set(err, KH_ENOMEM, "planning: out of memory");
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        const onnx_tensor *t = &m->inputs[i]->t;
        m->planned_rank[i] = t->rank;
        m->planned_dtype[i] = t->dtype;
        memcpy(&m->planned_dims[i * ONNX_MAX_RANK], t->dims,
               sizeof t->dims);
    }
    return KH_OK;
}

int engine_plan(onnx_model *m, const onnx_tensor_view *inputs,
                kh_error *err) {
    reset_tensors(m);
    for (size_t i = 0; i < m->n_inputs; i++) {
        engine_tensor *t = m->inputs[i];
        int rc = inputs ? onnx_tensor_reshape(&t->t, inputs[i].dtype,
                                              inputs[i].rank, inputs[i].dims,
                                              err)
                        : onnx_tensor_reshape(&t->t, t->t.dtype,
                                              t->declared_rank,
                                              t->declared_dims, err);
        if (rc)
            return kh_error_prefix(err, "input '%s'", t->t.name);
    }
    onnx_exec ex = {.scratch = NULL,
                    .pool = (struct onnx_threadpool *)m->pool_threads,
                    .threads = m->threads};
    kh_error_clear(err);
    m->dynamic_from = m->n_nodes;
    size_t scratch = 0, folded_bytes = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        int rc = engine_reshape_node(m, n, err);
        if (rc == KH_EDYNAMIC) {
            m->dynamic_from = i;
            break;
        }
        if (!rc && can_fold(n)) {
            rc = fold_node(n, &ex, err);
            m->node_folded[i] = rc == KH_OK;
            for (size_t k = 0; !rc && k < n->n_outputs; k++)
                if (n->outputs[k])
                    folded_bytes += engine_tensor_of(n->outputs[k])->own_cap;
            if (!rc && m->memory_limit && folded_bytes > m->memory_limit)
                rc = kh_error_set(err, KH_ELIMIT,
                                  "folded constants need %zu bytes, over "
                                  "the memory limit of %zu bytes",
                                  folded_bytes, m->memory_limit);
        }
        if (rc) {
            engine_node_error(n, rc, err);
            reset_tensors(m);
            return rc;
        }
        if (!m->node_folded[i] && n->scratch_bytes > scratch)
            scratch = n->scratch_bytes;
    }

    size_t total = 0;
    int rc = place_tensors(m, &total, err);
    if (rc)
        goto fail;
    if (m->memory_limit && total > m->memory_limit) {
        rc = kh_error_set(err, KH_ELIMIT,
                          "planned tensors need %zu bytes, over the memory "
                          "limit of %zu bytes",
                          total, m->memory_limit);
        goto fail;
    }
    if (!engine_aligned_reserve(&m->arena, &m->arena_cap, total)) {
        rc = kh_error_set(err, KH_ENOMEM,
                          "planning: arena of %zu bytes: out of memory", total);
        goto fail;
    }
    m->arena_bytes = total;
    for (size_t i = 0; i < m->n_tensors; i++) {
        engine_tensor *t = m->tensors[i];
        if (t->in_arena)
            t->t.data = (uint8_t *)m->arena + t->offset;
    }
    if (!engine_aligned_reserve(&m->scratch, &m->scratch_cap, scratch)) {
        rc = kh_error_set(err, KH_ENOMEM,
                          "planning: scratch of %zu bytes: out of memory",
                          scratch);
        goto fail;
    }
    m->scratch_bytes = scratch;
    if ((rc = remember_input_shapes(m, err)))
        goto fail;
    m->planned = true;
    return KH_OK;
fail:
    reset_tensors(m);
    return rc;
}
