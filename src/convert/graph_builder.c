/* graph_builder.c - checked graph building for the converter; the bytes are
 * written by the engine's ModelProto writer (onnx/model_writer.h). */
#include "convert/graph_builder.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/model_writer.h"

#define GRAPH_IR_VERSION 7 /* the IR version that came with opset 13 */

struct graph_builder {
    onnx_model_writer *writer;
    char **names; /* every defined tensor, in definition order */
    size_t n_names, cap_names;
    size_t n_nodes;
    int status;
    kh_error error;
};

graph_builder *graph_builder_create(const char *graph_name, int64_t opset) {
    graph_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    kh_error err;
    if (onnx_model_writer_create(graph_name ? graph_name : "", opset,
                                 &b->writer, &err)) {
        free(b);
        return NULL;
    }
    onnx_model_writer_set_ir_version(b->writer, GRAPH_IR_VERSION);
    return b;
}

void graph_builder_destroy(graph_builder *b) {
    if (!b)
        return;
    onnx_model_writer_destroy(b->writer);
    for (size_t i = 0; i < b->n_names; i++)
        free(b->names[i]);
    free(b->names);
    free(b);
}

int graph_fail(graph_builder *b, int code, const char *fmt, ...) {
    if (b->status)
        return b->status;
    va_list ap;
    va_start(ap, fmt);
    char msg[KH_ERROR_MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->status = kh_error_set(&b->error, code, "%s", msg);
    return code;
}

int graph_status(const graph_builder *b, kh_error *err) {
    if (b->status && err)
        *err = b->error;
    return b->status;
}

size_t graph_node_count(const graph_builder *b) { return b->n_nodes; }

int graph_has_tensor(const graph_builder *b, const char *name) {
    for (size_t i = 0; i < b->n_names; i++)
        if (strcmp(b->names[i], name) == 0)
            return 1;
    return 0;
}

/* Records a new tensor name; returns the builder's copy or NULL. */
static const char *define_name(graph_builder *b, const char *name) {
    if (b->status)
        return NULL;
    if (!name || !name[0]) {
        graph_fail(b, KH_EINVAL, "a tensor needs a non-empty name");
        return NULL;
    }
    if (graph_has_tensor(b, name)) {
        graph_fail(b, KH_EEXIST, "tensor '%s' is defined twice", name);
        return NULL;
    }
    if (b->n_names == b->cap_names) {
        size_t cap = b->cap_names ? b->cap_names * 2 : 64;
        char **names = realloc(b->names, cap * sizeof *names);
        if (!names) {
            graph_fail(b, KH_ENOMEM, "out of memory for tensor names");
            return NULL;
        }
        b->names = names;
        b->cap_names = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        graph_fail(b, KH_ENOMEM, "out of memory for tensor names");
        return NULL;
    }
    b->names[b->n_names++] = copy;
    return copy;
}

static bool value_ok(graph_builder *b, const graph_value *v, const char *what) {
    if (v->rank < 1 || v->rank > ONNX_MAX_RANK) {
        graph_fail(b, KH_EINVAL, "%s '%s': rank %d out of range", what,
                   v->name, v->rank);
        return false;
    }
    for (int i = 0; i < v->rank; i++)
        if (v->dims[i] < 0 && (!v->dim_names || !v->dim_names[i] ||
                               !v->dim_names[i][0])) {
            graph_fail(b, KH_EINVAL,
                       "%s '%s': symbolic dimension %d has no name", what,
                       v->name, i);
            return false;
        }
    return true;
}

void graph_add_input(graph_builder *b, const graph_value *v) {
    if (b->status || !value_ok(b, v, "input") || !define_name(b, v->name))
        return;
    onnx_model_writer_add_input(b->writer, v->name, v->dtype, v->rank,
                                v->dims, v->dim_names);
}

void graph_add_output(graph_builder *b, const graph_value *v) {
    if (b->status || !value_ok(b, v, "output"))
        return;
    if (!graph_has_tensor(b, v->name)) {
        graph_fail(b, KH_ENOTFOUND, "output '%s' is not produced by the graph",
                   v->name);
        return;
    }
    onnx_model_writer_add_output(b->writer, v->name, v->dtype, v->rank,
                                 v->dims, v->dim_names);
}

void graph_add_initializer(graph_builder *b, const char *name, int rank,
                           const int64_t *dims, const float *values) {
    if (b->status)
        return;
    if (rank < 0 || rank > ONNX_MAX_RANK) {
        graph_fail(b, KH_EINVAL, "initializer '%s': rank %d out of range",
                   name, rank);
        return;
    }
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0) {
            graph_fail(b, KH_EINVAL, "initializer '%s': negative dimension",
                       name);
            return;
        }
    if (!define_name(b, name))
        return;
    onnx_model_writer_add_initializer(b->writer, name, rank, dims, values);
}

const char *graph_add_node(graph_builder *b, const char *op_type,
                           const char *node_name, const char *const *inputs,
                           size_t n_inputs, const char *output,
                           const graph_attr *attrs, size_t n_attrs) {
    if (b->status)
        return NULL;
    for (size_t i = 0; i < n_inputs; i++) {
        if (!inputs[i]) {
            graph_fail(b, KH_EINVAL, "node '%s' (%s): input %zu is missing",
                       node_name, op_type, i);
            return NULL;
        }
        if (inputs[i][0] && !graph_has_tensor(b, inputs[i])) {
            graph_fail(b, KH_ENOTFOUND,
                       "node '%s' (%s): input '%s' is not defined before it",
                       node_name, op_type, inputs[i]);
            return NULL;
        }
    }
    const char *out = define_name(b, output);
    if (!out)
        return NULL;
    const char *outputs[1] = {out};
    onnx_model_writer_add_node(b->writer, op_type, node_name, inputs, n_inputs,
                               outputs, 1);
    for (size_t i = 0; i < n_attrs; i++) {
        const graph_attr *a = &attrs[i];
        switch (a->type) {
        case GRAPH_ATTR_INT:
            onnx_model_writer_attr_int(b->writer, a->name, a->i);
            break;
        case GRAPH_ATTR_FLOAT:
            onnx_model_writer_attr_float(b->writer, a->name, a->f);
            break;
        case GRAPH_ATTR_INTS:
            onnx_model_writer_attr_ints(b->writer, a->name, a->ints, a->count);
            break;
        }
    }
    b->n_nodes++;
    return out;
}

int graph_builder_finish(graph_builder *b, const char *producer,
                         const char *producer_version, uint8_t **bytes,
                         size_t *len, kh_error *err) {
    *bytes = NULL;
    *len = 0;
    if (b->status)
        return graph_status(b, err);
    onnx_model_writer_set_producer(b->writer, producer, producer_version);
    return onnx_model_writer_finish(b->writer, bytes, len, err);
}
