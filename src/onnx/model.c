/* model.c - model lifetime, load entry points, look-ups and facts. */
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"
#include "onnx/file_map.h"
#include "onnx/optimize.h"

#define POOL_BLOCK_BYTES ((size_t)64 << 10)

void *engine_aligned_alloc(size_t bytes) {
    void *p = NULL;
    size_t rounded = (bytes + ENGINE_ALIGN - 1) / ENGINE_ALIGN * ENGINE_ALIGN;
    if (rounded < bytes)
        return NULL;
    if (rounded == 0)
        rounded = ENGINE_ALIGN;
    if (posix_memalign(&p, ENGINE_ALIGN, rounded))
        return NULL;
    return p;
}

bool engine_aligned_reserve(void **buf, size_t *cap, size_t bytes) {
    if (bytes <= *cap)
        return true;
    free(*buf);
    *buf = engine_aligned_alloc(bytes);
    *cap = *buf ? bytes : 0;
    return *buf != NULL;
}

static size_t block_header(void) {
    return (sizeof(pool_block) + ENGINE_ALIGN - 1) / ENGINE_ALIGN *
           ENGINE_ALIGN;
}

void *engine_alloc(onnx_model *m, size_t bytes) {
    size_t rounded = (bytes + ENGINE_ALIGN - 1) / ENGINE_ALIGN * ENGINE_ALIGN;
    if (rounded < bytes)
        return NULL;
    if (rounded == 0)
        rounded = ENGINE_ALIGN;
    pool_block *b = m->pool;
    if (!b || b->cap - b->used < rounded) {
        size_t cap = rounded > POOL_BLOCK_BYTES / 4 ? rounded : POOL_BLOCK_BYTES;
        if (cap > SIZE_MAX - block_header())
            return NULL;
        pool_block *nb = engine_aligned_alloc(block_header() + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (rounded == cap && b) {
            /* A big block of its own: keep filling the current one. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            m->pool = nb;
        }
        b = nb;
    }
    void *p = (uint8_t *)b + block_header() + b->used;
    b->used += rounded;
    memset(p, 0, rounded);
    return p;
}

char *engine_strndup(onnx_model *m, const void *s, size_t len) {
    if (len == SIZE_MAX)
        return NULL;
    char *d = engine_alloc(m, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

engine_tensor *engine_tensor_find(const onnx_model *m, const char *name) {
    if (!m->table_cap)
        return NULL;
    size_t mask = m->table_cap - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        engine_tensor *t = m->table[i];
        if (!t)
            return NULL;
        if (strcmp(t->t.name, name) == 0)
            return t;
    }
}

static int table_grow(onnx_model *m, kh_error *err) {
    size_t cap = m->table_cap ? m->table_cap * 2 : 64;
    engine_tensor **table = calloc(cap, sizeof *table);
    if (!table)
        return kh_error_set(err, KH_ENOMEM, "tensor table: out of memory");
    for (size_t k = 0; k < m->n_tensors; k++) {
        size_t i = hash_name(m->tensors[k]->t.name) & (cap - 1);
        while (table[i])
            i = (i + 1) & (cap - 1);
        table[i] = m->tensors[k];
    }
    free(m->table);
    m->table = table;
    m->table_cap = cap;
    return KH_OK;
}

int engine_tensor_get(onnx_model *m, const char *name, engine_tensor **out,
                      kh_error *err) {
    engine_tensor *t = engine_tensor_find(m, name);
    if (t) {
        *out = t;
        return KH_OK;
    }
    if (m->n_tensors == m->cap_tensors) {
        size_t cap = m->cap_tensors ? m->cap_tensors * 2 : 64;
        engine_tensor **v = realloc(m->tensors, cap * sizeof *v);
        if (!v)
            return kh_error_set(err, KH_ENOMEM, "tensors: out of memory");
        m->tensors = v;
        m->cap_tensors = cap;
    }
    if ((m->n_tensors + 1) * 2 > m->table_cap) {
        int rc = table_grow(m, err);
        if (rc)
            return rc;
    }
    t = engine_alloc(m, sizeof *t);
    char *copy = engine_strndup(m, name, strlen(name));
    if (!t || !copy)
        return kh_error_set(err, KH_ENOMEM, "tensors: out of memory");
    t->t.name = copy;
    t->t.rank = -1;
    t->kind = TENSOR_INTERMEDIATE;
    t->producer = -1;
    t->last_use = -1;
    t->declared_rank = -1;
    m->tensors[m->n_tensors++] = t;
    size_t mask = m->table_cap - 1;
    size_t i = hash_name(copy) & mask;
    while (m->table[i])
        i = (i + 1) & mask;
    m->table[i] = t;
    *out = t;
    return KH_OK;
}

int64_t engine_opset_of(const onnx_model *m, const char *domain) {
    bool dflt = !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
    for (size_t i = 0; i < m->n_opsets; i++) {
        const char *d = m->opset_domains[i];
        bool d_dflt = !d[0] || strcmp(d, "ai.onnx") == 0;
        if (dflt ? d_dflt : strcmp(d, domain) == 0)
            return m->opset_versions[i];
    }
    return 0;
}

void onnx_model_destroy(onnx_model *m) {
    if (!m)
        return;
    engine_plan_release(m);
    for (size_t i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        if (m->node_initialised && m->node_initialised[i] && n->op &&
            n->op->exit)
            n->op->exit(n);
    }
    onnx_threadpool_destroy(m->pool_threads);
    free(m->tensors);
    free(m->table);
    while (m->pool) {
        pool_block *next = m->pool->next;
        free(m->pool);
        m->pool = next;
    }
    free(m);
}

/* Shapes fixed in the model: plan now, so the first run does not. With
 * symbolic dims, a trial plan with each taken as 1 finds what the operators
 * refuse only once they see types and shapes (KH_EUNSUPPORTED), so that too
 * is reported at load; its other errors wait for real shapes. */
static int plan_at_load(onnx_model *m, kh_error *err) {
    if (engine_inputs_fixed(m))
        return engine_plan(m, NULL, err);
    for (size_t i = 0; i < m->n_inputs; i++)
        if (m->inputs[i]->declared_rank < 0)
            return KH_OK; /* no rank to try */
    onnx_tensor_view *trial = calloc(m->n_inputs + 1, sizeof *trial);
    if (!trial)
        return kh_error_set(err, KH_ENOMEM, "planning: out of memory");
    for (size_t i = 0; i < m->n_inputs; i++) {
        const engine_tensor *t = m->inputs[i];
        trial[i].dtype = t->t.dtype;
        trial[i].rank = t->declared_rank;
        for (int d = 0; d < t->declared_rank; d++)
            trial[i].dims[d] = t->declared_dims[d] >= 0 ? t->declared_dims[d] : 1;
    }
    int rc = engine_plan(m, trial, err);
    free(trial);
    if (rc == KH_EUNSUPPORTED)
        return rc;
    kh_error_clear(err);
    return KH_OK;
}

static int load_bytes(const uint8_t *buf, size_t len,
                      const onnx_load_options *opts, onnx_model **out,
                      kh_error *err) {
    onnx_model *m = calloc(1, sizeof *m);
    if (!m)
        return kh_error_set(err, KH_ENOMEM, "model: out of memory");
    m->threads = 1;
    m->memory_limit = opts ? opts->max_memory_bytes : 0;
    int rc = engine_decode_model(m, buf, len, err);
    if (rc == KH_EUNSUPPORTED &&
        strncmp(err->message, "unsupported", 11) != 0)
        kh_error_prefix(err, "unsupported");
    if (!rc)
        rc = engine_check_graph(m, err);
    if (!rc)
        rc = engine_bind_nodes(m, err);
    if (!rc)
        rc = onnx_optimize(m, err); /* fusion pass, optimize.h */
    if (!rc && opts && opts->threads > 1)
        rc = onnx_model_set_threads(m, opts->threads, err);
    if (!rc)
        rc = plan_at_load(m, err);
    if (rc == KH_EUNSUPPORTED &&
        strncmp(err->message, "unsupported", 11) != 0)
        kh_error_prefix(err, "unsupported");
    if (rc) {
        onnx_model_destroy(m);
        return rc;
    }
    *out = m;
    return KH_OK;
}

int onnx_model_load_buffer(const void *buf, size_t len,
                           const onnx_load_options *opts, onnx_model **out,
                           kh_error *caller_err) {
    kh_error local, *err = caller_err ? caller_err : &local;
    if (!out)
        return kh_error_set(err, KH_EINVAL, "model: no output pointer");
    *out = NULL;
    if (!buf && len)
        return kh_error_set(err, KH_EINVAL, "model: NULL buffer");
    size_t limit = opts && opts->max_file_bytes ? opts->max_file_bytes
                                                : ((size_t)2 << 30);
    if (len > limit)
        return kh_error_set(err, KH_ELIMIT,
                            "model: %zu bytes is over the limit of %zu", len,
                            limit);
    static const uint8_t empty[1];
    return load_bytes(buf ? buf : empty, len, opts, out, err);
}

int onnx_model_load(const char *path, const onnx_load_options *opts,
                    onnx_model **out, kh_error *caller_err) {
    kh_error local, *err = caller_err ? caller_err : &local;
    if (!out)
        return kh_error_set(err, KH_EINVAL, "model: no output pointer");
    *out = NULL;
    if (!path)
        return kh_error_set(err, KH_EINVAL, "model: no path");
    onnx_file_map map;
    int rc = onnx_file_map_open(path, opts ? opts->max_file_bytes : 0, &map,
                                err);
    if (rc)
        return rc;
    rc = load_bytes(map.data, map.len, opts, out, err);
    onnx_file_map_close(&map);
    if (rc)
        kh_error_prefix(err, "%s", path);
    return rc;
}

size_t onnx_model_input_count(const onnx_model *m) {
    return m ? m->n_inputs : 0;
}

size_t onnx_model_output_count(const onnx_model *m) {
    return m ? m->n_outputs : 0;
}

static void fill_info(const engine_tensor *t, onnx_value_info *info) {
    memset(info, 0, sizeof *info);
    info->name = t->t.name;
    info->dtype = t->t.dtype;
    info->rank = t->declared_rank;
    for (int i = 0; i < t->declared_rank && i < ONNX_MAX_RANK; i++) {
        info->dims[i] = t->declared_dims[i];
        info->dim_names[i] = t->dim_names[i];
    }
}

int onnx_model_input_info(const onnx_model *m, size_t i,
                          onnx_value_info *info) {
    if (!m || !info || i >= m->n_inputs)
        return KH_ERANGE;
    fill_info(m->inputs[i], info);
    return KH_OK;
}

int onnx_model_output_info(const onnx_model *m, size_t i,
                           onnx_value_info *info) {
    if (!m || !info || i >= m->n_outputs)
        return KH_ERANGE;
    fill_info(m->outputs[i], info);
    return KH_OK;
}

void onnx_model_summary_get(const onnx_model *m, onnx_model_summary *s) {
    memset(s, 0, sizeof *s);
    if (!m)
        return;
    s->ir_version = m->ir_version;
    s->opset = m->opset;
    s->producer = m->producer ? m->producer : "";
    s->node_count = 0;
    for (size_t i = 0; i < m->n_histogram; i++)
        s->node_count += m->histogram[i].count;
    s->initializer_count = m->initializer_count;
    s->parameter_count = m->parameter_count;
}

void onnx_model_op_histogram(const onnx_model *m,
                             void (*fn)(const char *op_type, size_t count,
                                        void *user),
                             void *user) {
    if (!m || !fn)
        return;
    for (size_t i = 0; i < m->n_histogram; i++)
        fn(m->histogram[i].op_type, m->histogram[i].count, user);
}
