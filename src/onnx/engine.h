/* engine.h - the model as the engine holds it (engine-internal).
 *
 * Life of a model:
 *   load   (model_load.c)  decode the ModelProto into tensors and nodes,
 *                          Constant nodes become constant tensors
 *   check  (graph.c)       every input produced before use, no cycles
 *                          (nodes sorted topologically), outputs produced;
 *                          bind nodes to operators, call init, collect every
 *                          unsupported operator/type into one message
 *   plan   (plan.c)        for one set of input shapes: reshape every node,
 *                          fold constant subgraphs, place intermediate
 *                          tensors in one arena by lifetime
 *   run    (run.c)         validate inputs, (re)plan if shapes changed, run
 *                          the nodes; node-by-node when a shape depends on
 *                          values known only at run time
 */
#ifndef KH_ONNX_ENGINE_H
#define KH_ONNX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "onnx/kernels/threadpool.h"
#include "onnx/onnx.h"
#include "onnx/op.h"

#define ENGINE_ALIGN 64

typedef enum tensor_kind {
    TENSOR_CONSTANT,     /* initializer or Constant node: data owned by pool */
    TENSOR_GRAPH_INPUT,  /* data is the caller's, set per run */
    TENSOR_INTERMEDIATE, /* produced by a node */
} tensor_kind;

/* An onnx_tensor plus what the engine needs to know about it. Nodes point at
 * `t`, which comes first so the two convert freely. */
typedef struct engine_tensor {
    onnx_tensor t;
    tensor_kind kind;
    int producer;         /* node index (sorted order), -1 if none */
    int last_use;         /* last consuming node, n_nodes if graph output */
    size_t bytes;         /* planned size (ENGINE_ALIGN multiple) */
    size_t offset;        /* in the arena */
    bool in_arena;
    void *own;            /* heap buffer: folded value or dynamic run */
    size_t own_cap;
    /* Declared type/shape (graph input or output value_info). */
    int declared_rank;    /* -1 unknown */
    int64_t declared_dims[ONNX_MAX_RANK];
    const char *dim_names[ONNX_MAX_RANK];
} engine_tensor;

static inline engine_tensor *engine_tensor_of(onnx_tensor *t) {
    return (engine_tensor *)t;
}

/* Load-time allocations: freed all at once with the model. */
typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    /* data follows, ENGINE_ALIGN aligned */
} pool_block;

typedef struct op_count {
    const char *op_type;
    size_t count;
} op_count;

typedef struct onnx_model {
    pool_block *pool;

    int64_t ir_version;
    int64_t opset;     /* default domain */
    const char *producer;
    const char *graph_name;

    /* opset imports: domain -> version */
    const char **opset_domains;
    int64_t *opset_versions;
    size_t n_opsets;

    engine_tensor **tensors; /* every named tensor */
    size_t n_tensors, cap_tensors;
    /* name -> tensor, open addressing; capacity a power of two */
    engine_tensor **table;
    size_t table_cap;

    onnx_node *nodes; /* sorted topologically after check */
    size_t n_nodes;
    bool *node_initialised;

    engine_tensor **inputs;  /* graph inputs that are not initializers */
    size_t n_inputs;
    engine_tensor **outputs; /* graph outputs, in order */
    size_t n_outputs;

    op_count *histogram;
    size_t n_histogram;
    size_t initializer_count;
    int64_t parameter_count;

    /* Plan for the last input shapes. */
    bool planned;
    int *planned_rank;      /* n_inputs */
    int64_t *planned_dims; /* n_inputs * ONNX_MAX_RANK */
    onnx_dtype *planned_dtype;
    size_t dynamic_from;   /* first node reshaped at run time; n_nodes: none */
    bool *node_folded;
    void *arena;
    size_t arena_bytes, arena_cap;
    void *scratch;
    size_t scratch_bytes, scratch_cap;

    /* Unsupported operators/types found at load, "; "-separated. */
    char *unsupported;
    size_t unsupported_len;
    size_t n_unsupported;

    size_t memory_limit; /* 0: none */

    onnx_threadpool *pool_threads;
    int threads;
} onnx_model;

/* ---- model.c ---- */
void *engine_alloc(onnx_model *m, size_t bytes); /* zeroed, 64-aligned */
char *engine_strndup(onnx_model *m, const void *s, size_t len);
engine_tensor *engine_tensor_find(const onnx_model *m, const char *name);
/* Finds or creates the tensor called name (kind INTERMEDIATE, rank -1). */
int engine_tensor_get(onnx_model *m, const char *name, engine_tensor **out,
                      kh_error *err);
int64_t engine_opset_of(const onnx_model *m, const char *domain);
/* Adds "what" to the list of unsupported things (printf-style). */
void engine_unsupported(onnx_model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void *engine_aligned_alloc(size_t bytes); /* free() it; NULL on failure */
/* Grows *buf (engine_aligned_alloc'd, capacity *cap) to hold bytes: the old
 * contents are dropped. False, with *buf NULL and *cap 0, when out of
 * memory. */
bool engine_aligned_reserve(void **buf, size_t *cap, size_t bytes);

/* ---- model_load.c ---- */
int engine_decode_model(onnx_model *m, const uint8_t *buf, size_t len,
                        kh_error *err);

/* ---- graph.c ---- */
int engine_check_graph(onnx_model *m, kh_error *err);
int engine_bind_nodes(onnx_model *m, kh_error *err);

/* ---- plan.c ---- */
/* Plans for the given input shapes (dtype/rank/dims of each graph input;
 * data is not read). */
int engine_plan(onnx_model *m, const onnx_tensor_view *inputs, kh_error *err);
/* True when every graph input has a fully known declared shape. */
bool engine_inputs_fixed(const onnx_model *m);
/* Reshapes one node and checks it set every output. */
int engine_reshape_node(const onnx_model *m, onnx_node *n, kh_error *err);
/* Points each output of n at its own heap buffer (grown as needed). */
int engine_own_outputs(onnx_node *n, kh_error *err);
void engine_plan_release(onnx_model *m);
/* Prefixes err with "node 'name' (Op)"; returns rc. */
int engine_node_error(const onnx_node *n, int rc, kh_error *err);

#endif
