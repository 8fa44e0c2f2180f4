/* op.h - what an ONNX operator implementation sees (engine-internal).
 *
 * An operator is one file in src/onnx/ops/ defining
 *     const onnx_operator onnx_op_<Name> = { ... };
 * plus one line X(<Name>) in src/onnx/ops/registry.def.
 *
 * Lifecycle of a node (after xboot/libonnx, with statuses):
 *   init(node)     once at load: read and validate attributes, allocate private
 *                  state in node->state. KH_EUNSUPPORTED for attribute values
 *                  or input types the kernel does not handle (the loader
 *                  collects these into one message).
 *   reshape(node)  at planning, whenever input shapes change: set every
 *                  output's dtype and shape (onnx_tensor_reshape) from input
 *                  shapes and, where the op needs them (Reshape's shape,
 *                  Slice's starts, ...), input values. An input's values may be
 *                  read only when onnx_tensor_value_known(t); otherwise return
 *                  KH_EDYNAMIC and the engine re-plans at run time once that
 *                  input exists. Set node->scratch_bytes for temporary memory
 *                  needed by run (0 if none). No output data is available yet.
 *   run(node, ex)  compute outputs from inputs. Output buffers exist with the
 *                  shape set by reshape; ex->scratch holds at least
 *                  node->scratch_bytes bytes (64-byte aligned). Must not
 *                  allocate in the common path.
 *   exit(node)     free node->state. May be NULL. Called once for every node
 *                  whose init ran, also when init failed (state may then be
 *                  NULL or half built).
 * Any of init/reshape/exit may be NULL; run may not.
 *
 * Errors: return KH_E* and fill err with what failed (the engine prefixes the
 * node name and op type). Never print, never exit, never assert on inputs.
 */
#ifndef KH_ONNX_OP_H
#define KH_ONNX_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "onnx/onnx.h"

enum {
    ONNX_TENSOR_CONST = 1u << 0,   /* initializer / Constant: value fixed */
    ONNX_TENSOR_FOLDED = 1u << 1,  /* computed at plan time from consts */
    ONNX_TENSOR_INPUT = 1u << 2,   /* graph input */
    ONNX_TENSOR_OUTPUT = 1u << 3,  /* graph output */
    ONNX_TENSOR_RUNTIME = 1u << 4, /* value computed in this run: readable by
                                      reshape when planning node by node */
};

typedef struct onnx_tensor {
    const char *name; /* owned by the model */
    onnx_dtype dtype;
    int rank;         /* -1 while unknown */
    int64_t dims[ONNX_MAX_RANK];
    size_t numel;     /* product of dims (1 for rank 0) */
    void *data;       /* numel * dtype size bytes; owned by the engine */
    unsigned flags;
} onnx_tensor;

/* Sets dtype and shape; checks dims >= 0, rank <= ONNX_MAX_RANK and that the
 * byte size does not overflow. Does not touch data. */
int onnx_tensor_reshape(onnx_tensor *t, onnx_dtype dtype, int rank,
                        const int64_t *dims, kh_error *err);
/* True when t's values can be read during reshape (initializer, Constant or
 * folded at plan time, or graph input when planning at run time). */
bool onnx_tensor_value_known(const onnx_tensor *t);
/* Reads element i of an integer tensor (int64/int32/uint8/bool/...) or float
 * tensor as int64_t / double; helpers for shape-like inputs. */
int64_t onnx_tensor_get_i64(const onnx_tensor *t, size_t i);
double onnx_tensor_get_f64(const onnx_tensor *t, size_t i);
/* "[1,3,224,224]" into buf; returns buf. */
const char *onnx_shape_str(const onnx_tensor *t, char *buf, size_t len);

typedef enum onnx_attr_type {
    ONNX_ATTR_UNDEFINED = 0,
    ONNX_ATTR_FLOAT = 1,
    ONNX_ATTR_INT = 2,
    ONNX_ATTR_STRING = 3,
    ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_GRAPH = 5,
    ONNX_ATTR_FLOATS = 6,
    ONNX_ATTR_INTS = 7,
    ONNX_ATTR_STRINGS = 8,
    ONNX_ATTR_TENSORS = 9,
} onnx_attr_type;

typedef struct onnx_attr {
    const char *name;
    onnx_attr_type type;
    float f;
    int64_t i;
    const char *s; /* NUL-terminated copy; s_len excludes the NUL */
    size_t s_len;
    const float *floats;
    const int64_t *ints;
    size_t count;  /* elements of floats/ints/strings */
    const onnx_tensor *t; /* ONNX_ATTR_TENSOR */
} onnx_attr;

struct onnx_operator;

typedef struct onnx_node {
    const char *name;    /* never NULL; "" replaced by "<op>#<index>" */
    const char *op_type;
    const char *domain;  /* "" for the default domain */
    int opset;           /* opset version of the node's domain in the model */
    const onnx_attr *attrs;
    size_t n_attrs;
    onnx_tensor **inputs;  /* optional inputs left out are NULL */
    size_t n_inputs;
    onnx_tensor **outputs; /* optional outputs left out are NULL */
    size_t n_outputs;
    const struct onnx_operator *op;
    void *state;           /* operator-private */
    size_t scratch_bytes;  /* set by reshape */
} onnx_node;

/* Attribute look-ups; NULL / default when absent. An attribute present with
 * the wrong type makes the typed getters return the default; ops that care
 * validate with onnx_attr_find. */
const onnx_attr *onnx_attr_find(const onnx_node *n, const char *name);
int64_t onnx_attr_int(const onnx_node *n, const char *name, int64_t def);
float onnx_attr_float(const onnx_node *n, const char *name, float def);
const char *onnx_attr_string(const onnx_node *n, const char *name,
                             const char *def);
/* Returns the number of ints (0 if absent) and points *vals at them. */
size_t onnx_attr_ints(const onnx_node *n, const char *name,
                      const int64_t **vals);
size_t onnx_attr_floats(const onnx_node *n, const char *name,
                        const float **vals);

/* Input i if present (i < n_inputs and not left out), else NULL. */
static inline onnx_tensor *onnx_node_input(const onnx_node *n, size_t i) {
    return i < n->n_inputs ? n->inputs[i] : NULL;
}
static inline onnx_tensor *onnx_node_output(const onnx_node *n, size_t i) {
    return i < n->n_outputs ? n->outputs[i] : NULL;
}

typedef struct onnx_exec {
    void *scratch;       /* >= node->scratch_bytes, 64-byte aligned */
    struct onnx_threadpool *pool; /* NULL: single-threaded */
    int threads;         /* >= 1 */
} onnx_exec;

/* Splits [0, n) into contiguous chunks (a few per thread) and calls
 * fn(arg, begin, end, worker) once for each, in parallel when a pool exists;
 * returns after all chunks are done. The calling thread takes part and runs
 * whatever chunks no worker has claimed yet. worker is in
 * [0, min(ex->threads, n)) and distinct among chunks running at the same
 * time (one thread may run several chunks, one after another, with its own
 * worker index): index per-thread scratch with it. A call from inside a
 * chunk runs serially with the caller's worker index. */
void onnx_parallel_for(const onnx_exec *ex, size_t n,
                       void (*fn)(void *arg, size_t begin, size_t end,
                                  int worker),
                       void *arg);

typedef struct onnx_operator {
    const char *op_type; /* e.g. "Conv" */
    int min_opset;       /* oldest default-domain opset handled (>= 1) */
    int (*init)(onnx_node *n, kh_error *err);
    int (*reshape)(onnx_node *n, kh_error *err);
    int (*run)(onnx_node *n, const onnx_exec *ex, kh_error *err);
    void (*exit)(onnx_node *n);
} onnx_operator;

/* The registry (src/onnx/ops/registry.c): NULL when op_type is unknown. */
const onnx_operator *onnx_operator_find(const char *domain,
                                        const char *op_type);
size_t onnx_operator_count(void);
const onnx_operator *onnx_operator_at(size_t i);

#endif
