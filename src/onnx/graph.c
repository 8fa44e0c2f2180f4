/* graph.c - checks the decoded graph, sorts it and binds its operators. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"

int engine_node_error(const onnx_node *n, int rc, kh_error *err) {
    /* An operator that failed without saying why still gets a message. */
    if (err->code != rc || !err->message[0])
        kh_error_set(err, rc, "%s", kh_strerror(rc));
    kh_error_prefix(err, "node '%s' (%s)", n->name, n->op_type);
    return rc;
}

/* Min-heap of node indices: Kahn's algorithm that always takes the earliest
 * ready node keeps the file's order wherever the file's order is valid. */
typedef struct index_heap {
    size_t *v;
    size_t n;
} index_heap;

static void heap_push(index_heap *h, size_t x) {
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
        size_t p = (i - 1) / 2, t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
}

static size_t heap_pop(index_heap *h) {
    size_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < h->n && h->v[l] < h->v[s])
            s = l;
        if (r < h->n && h->v[r] < h->v[s])
            s = r;
        if (s == i)
            break;
        size_t t = h->v[s];
        h->v[s] = h->v[i];
        h->v[i] = t;
        i = s;
    }
    return top;
}

static int producer_of(const onnx_tensor *t) {
    return t ? engine_tensor_of((onnx_tensor *)t)->producer : -1;
}

/* Names a cycle among the nodes not yet sorted (pending[i] true). */
static int cycle_error(onnx_model *m, const bool *pending, kh_error *err) {
    size_t n = m->n_nodes;
    int *step = malloc(n * sizeof *step); /* order of visit, -1 unvisited */
    if (!step)
        return kh_error_set(err, KH_EFORMAT, "graph has a cycle");
    for (size_t i = 0; i < n; i++)
        step[i] = -1;
    size_t at = 0;
    while (!pending[at])
        at++;
    /* Every pending node has an input produced by a pending node: walk
     * backwards until a node repeats; it lies on a cycle. */
    int visit = 0;
    while (step[at] < 0) {
        step[at] = visit++;
        const onnx_node *node = &m->nodes[at];
        for (size_t k = 0; k < node->n_inputs; k++) {
            int p = producer_of(node->inputs[k]);
            if (p >= 0 && pending[p]) {
                at = (size_t)p;
                break;
            }
        }
    }
    /* Print the cycle from `at` following producers again. */
    char path[300] = "";
    size_t used = 0;
    size_t cur = at;
    const char *via = "";
    for (int guard = 0; guard < 64; guard++) {
        const onnx_node *node = &m->nodes[cur];
        int w = snprintf(path + used, sizeof path - used, "%s'%s'",
                         guard ? " <- " : "", node->name);
        if (w < 0 || (size_t)w >= sizeof path - used) {
            used = sizeof path - 1;
            break;
        }
        used += (size_t)w;
        size_t next = cur;
        for (size_t k = 0; k < node->n_inputs; k++) {
            int p = producer_of(node->inputs[k]);
            if (p >= 0 && pending[p]) {
                if (guard == 0)
                    via = node->inputs[k]->name;
                next = (size_t)p;
                break;
            }
        }
        cur = next;
        if (cur == at) {
            snprintf(path + used, sizeof path - used, " <- '%s'",
                     m->nodes[at].name);
            break;
        }
    }
    free(step);
    return kh_error_set(err, KH_EFORMAT,
                        "node '%s' (%s): input '%s' depends on the node's own "
                        "output (cycle: %s)",
                        m->nodes[at].name, m->nodes[at].op_type, via, path);
}

static int sort_nodes(onnx_model *m, kh_error *err) {
    size_t n = m->n_nodes;
    bool sorted = true;
    for (size_t i = 0; i < n && sorted; i++)
        for (size_t k = 0; k < m->nodes[i].n_inputs; k++)
            if (producer_of(m->nodes[i].inputs[k]) >= (int)i)
                sorted = false;
    if (sorted)
        return KH_OK;

    int rc = KH_OK;
    size_t *indegree = calloc(n, sizeof *indegree);
    size_t *first = calloc(n + 1, sizeof *first); /* CSR consumer lists */
    size_t *consumers = NULL;
    size_t *order = malloc(n * sizeof *order);
    bool *pending = malloc(n * sizeof *pending);
    index_heap heap = {malloc(n * sizeof(size_t)), 0};
    onnx_node *sorted_nodes = malloc(n * sizeof *sorted_nodes);
    size_t edges = 0;
    if (!indegree || !first || !order || !pending || !heap.v || !sorted_nodes)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->nodes[i].n_inputs; k++) {
            int p = producer_of(m->nodes[i].inputs[k]);
            if (p >= 0) {
                indegree[i]++;
                first[p + 1]++;
                edges++;
            }
        }
    for (size_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    consumers = malloc((edges ? edges : 1) * sizeof *consumers);
    if (!consumers)
        goto nomem;
    {
        size_t *fill = calloc(n, sizeof *fill);
        if (!fill)
            goto nomem;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < m->nodes[i].n_inputs; k++) {
                int p = producer_of(m->nodes[i].inputs[k]);
                if (p >= 0)
                    consumers[first[p] + fill[p]++] = i;
            }
        free(fill);
    }
    for (size_t i = 0; i < n; i++) {
        pending[i] = true;
        if (indegree[i] == 0)
            heap_push(&heap, i);
    }
    size_t done = 0;
    while (heap.n) {
        size_t i = heap_pop(&heap);
        order[done++] = i;
        pending[i] = false;
        for (size_t e = first[i]; e < first[i + 1]; e++)
            if (--indegree[consumers[e]] == 0)
                heap_push(&heap, consumers[e]);
    }
    if (done < n) {
        rc = cycle_error(m, pending, err);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted_nodes[i] = m->nodes[order[i]];
    memcpy(m->nodes, sorted_nodes, n * sizeof *sorted_nodes);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
            if (m->nodes[i].outputs[k])
                engine_tensor_of(m->nodes[i].outputs[k])->producer = (int)i;
    goto out;
nomem:
    rc = kh_error_set(err, KH_ENOMEM, "sorting nodes: out of memory");
out:
    free(indegree);
    free(first);
    free(consumers);
    free(order);
    free(pending);
    free(heap.v);
    free(sorted_nodes);
    return rc;
}

int engine_check_graph(onnx_model *m, kh_error *err) {
    for (size_t i = 0; i < m->n_nodes; i++) {
        const onnx_node *n = &m->nodes[i];
        for (size_t k = 0; k < n->n_inputs; k++) {
            const engine_tensor *t =
                n->inputs[k] ? engine_tensor_of(n->inputs[k]) : NULL;
            if (t && t->kind == TENSOR_INTERMEDIATE && t->producer < 0)
                return kh_error_set(err, KH_EFORMAT,
                                    "node '%s' (%s): input '%s' is not "
                                    "produced by any node, initializer or "
                                    "graph input",
                                    n->name, n->op_type, t->t.name);
        }
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        const engine_tensor *t = m->outputs[i];
        if (t->kind == TENSOR_INTERMEDIATE && t->producer < 0)
            return kh_error_set(err, KH_EFORMAT,
                                "graph output '%s' is not produced by any "
                                "node, initializer or graph input",
                                t->t.name);
    }
    int rc = sort_nodes(m, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_tensors; i++)
        m->tensors[i]->last_use = m->tensors[i]->producer;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (size_t k = 0; k < m->nodes[i].n_inputs; k++)
            if (m->nodes[i].inputs[k]) {
                engine_tensor *t = engine_tensor_of(m->nodes[i].inputs[k]);
                if (t->last_use < (int)i)
                    t->last_use = (int)i;
            }
    for (size_t i = 0; i < m->n_outputs; i++)
        m->outputs[i]->last_use = (int)m->n_nodes;
    return KH_OK;
}

int engine_bind_nodes(onnx_model *m, kh_error *err) {
    kh_error first_error = {0};
    m->node_initialised =
        engine_alloc(m, (m->n_nodes ? m->n_nodes : 1) * sizeof(bool));
    m->node_folded =
        engine_alloc(m, (m->n_nodes ? m->n_nodes : 1) * sizeof(bool));
    if (!m->node_initialised || !m->node_folded)
        return kh_error_set(err, KH_ENOMEM, "nodes: out of memory");
    for (size_t i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        const onnx_operator *op = onnx_operator_find(n->domain, n->op_type);
        if (!op) {
            if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
                engine_unsupported(m,
                                   "node '%s' (%s): no such operator in "
                                   "domain '%s'",
                                   n->name, n->op_type, n->domain);
            else
                engine_unsupported(m, "node '%s' (%s): no such operator",
                                   n->name, n->op_type);
            continue;
        }
        if (n->opset == 0) {
            engine_unsupported(m,
                               "node '%s' (%s): the model imports no "
                               "opset for its domain",
                               n->name, n->op_type);
            continue;
        }
        if (n->opset < op->min_opset) {
            engine_unsupported(m,
                               "node '%s' (%s): opset %d is older than %d, "
                               "the oldest handled",
                               n->name, n->op_type, n->opset, op->min_opset);
            continue;
        }
        n->op = op;
        if (!op->init) {
            m->node_initialised[i] = true;
            continue;
        }
        kh_error e = {0};
        int rc = op->init(n, &e);
        /* exit runs even after a failed init: state may be half built. */
        m->node_initialised[i] = true;
        if (rc == KH_EUNSUPPORTED) {
            engine_unsupported(m, "node '%s' (%s): %s", n->name, n->op_type,
                               e.message);
        } else if (rc != KH_OK && first_error.code == KH_OK) {
            first_error = e;
            first_error.code = rc;
            engine_node_error(n, rc, &first_error);
        }
    }
    if (first_error.code != KH_OK) {
        if (err)
            *err = first_error;
        return first_error.code;
    }
    if (m->n_unsupported)
        return kh_error_set(err, KH_EUNSUPPORTED, "unsupported: %s",
                            m->unsupported ? m->unsupported
                                           : "(out of memory listing)");
    return KH_OK;
}
