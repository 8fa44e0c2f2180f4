/* graph_builder.h - builds one ONNX ModelProto (default domain) node by node
 * for the converter, and checks as it goes that every node input names a
 * tensor already defined (graph input, initializer or earlier node output)
 * and that no name is defined twice, so a mistake in an architecture fails
 * at conversion time with the node's name rather than at load time.
 *
 * Errors are sticky: after the first failure every call does nothing and
 * graph_builder_finish reports that first failure.
 */
#ifndef KH_CONVERT_GRAPH_BUILDER_H
#define KH_CONVERT_GRAPH_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "onnx/onnx.h"

typedef struct graph_builder graph_builder;

typedef enum graph_attr_type {
    GRAPH_ATTR_INT,
    GRAPH_ATTR_INTS,
    GRAPH_ATTR_FLOAT,
} graph_attr_type;

typedef struct graph_attr {
    const char *name;
    graph_attr_type type;
    int64_t i;
    float f;
    const int64_t *ints;
    size_t count;
} graph_attr;

#define GRAPH_INT(n, v) \
    ((graph_attr){.name = (n), .type = GRAPH_ATTR_INT, .i = (v)})
#define GRAPH_FLOAT(n, v) \
    ((graph_attr){.name = (n), .type = GRAPH_ATTR_FLOAT, .f = (v)})
#define GRAPH_INTS(n, v, c) \
    ((graph_attr){ \
        .name = (n), .type = GRAPH_ATTR_INTS, .ints = (v), .count = (c)})

/* A graph input or output. dims[i] < 0 is a symbolic dimension named
 * dim_names[i]. */
typedef struct graph_value {
    const char *name;
    onnx_dtype dtype;
    int rank;
    const int64_t *dims;
    const char *const *dim_names;
} graph_value;

/* A builder for a model importing the default-domain opset `opset` (free
 * with graph_builder_destroy), or NULL when out of memory. */
graph_builder *graph_builder_create(const char *graph_name, int64_t opset);
void graph_builder_destroy(graph_builder *b); /* NULL is a no-op */

void graph_add_input(graph_builder *b, const graph_value *v);
/* Declares a graph output; name must already be defined. */
void graph_add_output(graph_builder *b, const graph_value *v);
/* A float32 initializer; values (product of dims floats) are copied. */
void graph_add_initializer(graph_builder *b, const char *name, int rank,
                           const int64_t *dims, const float *values);
/* A node with one output. Inputs may include "" for an optional input left
 * out. Returns the output name (owned by the builder, valid until destroy) or
 * NULL after a failure. */
const char *graph_add_node(graph_builder *b, const char *op_type,
                           const char *node_name, const char *const *inputs,
                           size_t n_inputs, const char *output,
                           const graph_attr *attrs, size_t n_attrs);

/* Number of nodes added so far. */
size_t graph_node_count(const graph_builder *b);

/* True when name is a defined tensor. */
int graph_has_tensor(const graph_builder *b, const char *name);

/* Records a failure from the caller's own checks (sticky like the builder's
 * own); returns code. */
int graph_fail(graph_builder *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Status so far (KH_OK or the first failure, message in err). */
int graph_status(const graph_builder *b, kh_error *err);

/* Serialises the ModelProto (IR version 7, one default-domain opset import).
 * On success *bytes is malloc'd (caller frees) with *len bytes. */
int graph_builder_finish(graph_builder *b, const char *producer,
                         const char *producer_version, uint8_t **bytes,
                         size_t *len, kh_error *err);

#endif
