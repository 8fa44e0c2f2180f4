/* graph_builder.c - ONNX ModelProto writer for the converter, on pb_writer. */
#include "convert/graph_builder.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/proto_fields.h"
#include "onnx/protobuf.h"
#include "onnx/tensor_proto.h"

#define GRAPH_IR_VERSION 7 /* the IR version that came with opset 13 */

/* onnx.AttributeProto.AttributeType */
enum { ATTRIBUTE_FLOAT = 1, ATTRIBUTE_INT = 2, ATTRIBUTE_INTS = 7 };

struct graph_builder {
    char *graph_name;
    pb_writer nodes, initializers, inputs, outputs;
    char **names; /* every defined tensor, in definition order */
    size_t n_names, cap_names;
    size_t n_nodes;
    int status;
    kh_error error;
};

graph_builder *graph_builder_create(const char *graph_name) {
    graph_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->graph_name = strdup(graph_name ? graph_name : "");
    if (!b->graph_name) {
        free(b);
        return NULL;
    }
    pb_writer_init(&b->nodes);
    pb_writer_init(&b->initializers);
    pb_writer_init(&b->inputs);
    pb_writer_init(&b->outputs);
    return b;
}

void graph_builder_destroy(graph_builder *b) {
    if (!b)
        return;
    pb_writer_free(&b->nodes);
    pb_writer_free(&b->initializers);
    pb_writer_free(&b->inputs);
    pb_writer_free(&b->outputs);
    for (size_t i = 0; i < b->n_names; i++)
        free(b->names[i]);
    free(b->names);
    free(b->graph_name);
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

static void write_value_info(pb_writer *out, uint32_t field,
                             const graph_value *v) {
    pb_writer info, type, tensor_type, shape;
    pb_writer_init(&info);
    pb_writer_init(&type);
    pb_writer_init(&tensor_type);
    pb_writer_init(&shape);
    for (int i = 0; i < v->rank; i++) {
        pb_writer dim;
        pb_writer_init(&dim);
        if (v->dims[i] >= 0)
            pb_write_varint_field(&dim, DIM_VALUE, (uint64_t)v->dims[i]);
        else
            pb_write_string_field(&dim, DIM_PARAM, v->dim_names[i]);
        pb_write_message(&shape, SHAPE_DIM, &dim);
        pb_writer_free(&dim);
    }
    pb_write_varint_field(&tensor_type, TENSOR_TYPE_ELEM_TYPE,
                          (uint64_t)v->dtype);
    pb_write_message(&tensor_type, TENSOR_TYPE_SHAPE, &shape);
    pb_write_message(&type, TYPE_TENSOR_TYPE, &tensor_type);
    pb_write_string_field(&info, VALUE_INFO_NAME, v->name);
    pb_write_message(&info, VALUE_INFO_TYPE, &type);
    pb_write_message(out, field, &info);
    pb_writer_free(&info);
    pb_writer_free(&type);
    pb_writer_free(&tensor_type);
    pb_writer_free(&shape);
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
    write_value_info(&b->inputs, GRAPH_INPUT, v);
}

void graph_add_output(graph_builder *b, const graph_value *v) {
    if (b->status || !value_ok(b, v, "output"))
        return;
    if (!graph_has_tensor(b, v->name)) {
        graph_fail(b, KH_ENOTFOUND, "output '%s' is not produced by the graph",
                   v->name);
        return;
    }
    write_value_info(&b->outputs, GRAPH_OUTPUT, v);
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
    if (!define_name(b, name))
        return;
    pb_writer tensor;
    pb_writer_init(&tensor);
    onnx_tensorproto_encode(&tensor, name, ONNX_FLOAT, rank, dims, values);
    pb_write_message(&b->initializers, GRAPH_INITIALIZER, &tensor);
    pb_writer_free(&tensor);
}

static void write_attr(pb_writer *node, const graph_attr *a) {
    pb_writer attr;
    pb_writer_init(&attr);
    pb_write_string_field(&attr, ATTR_NAME, a->name);
    switch (a->type) {
    case GRAPH_ATTR_INT:
        pb_write_sint64_field(&attr, ATTR_I, a->i);
        pb_write_varint_field(&attr, ATTR_TYPE, ATTRIBUTE_INT);
        break;
    case GRAPH_ATTR_FLOAT:
        pb_write_float_field(&attr, ATTR_F, a->f);
        pb_write_varint_field(&attr, ATTR_TYPE, ATTRIBUTE_FLOAT);
        break;
    case GRAPH_ATTR_INTS:
        pb_write_packed_int64(&attr, ATTR_INTS, a->ints, a->count);
        pb_write_varint_field(&attr, ATTR_TYPE, ATTRIBUTE_INTS);
        break;
    }
    pb_write_message(node, NODE_ATTRIBUTE, &attr);
    pb_writer_free(&attr);
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
    pb_writer node;
    pb_writer_init(&node);
    for (size_t i = 0; i < n_inputs; i++)
        pb_write_string_field(&node, NODE_INPUT, inputs[i]);
    pb_write_string_field(&node, NODE_OUTPUT, output);
    pb_write_string_field(&node, NODE_NAME, node_name);
    pb_write_string_field(&node, NODE_OP_TYPE, op_type);
    for (size_t i = 0; i < n_attrs; i++)
        write_attr(&node, &attrs[i]);
    pb_write_message(&b->nodes, GRAPH_NODE, &node);
    pb_writer_free(&node);
    b->n_nodes++;
    return out;
}

int graph_builder_finish(graph_builder *b, int64_t opset, const char *producer,
                         const char *producer_version, const char *doc,
                         uint8_t **bytes, size_t *len, kh_error *err) {
    *bytes = NULL;
    *len = 0;
    if (b->status)
        return graph_status(b, err);
    pb_writer graph, opset_id, model;
    pb_writer_init(&graph);
    pb_writer_init(&opset_id);
    pb_writer_init(&model);
    pb_write_raw(&graph, b->nodes.buf, b->nodes.len);
    pb_write_string_field(&graph, GRAPH_NAME, b->graph_name);
    pb_write_raw(&graph, b->initializers.buf, b->initializers.len);
    pb_write_raw(&graph, b->inputs.buf, b->inputs.len);
    pb_write_raw(&graph, b->outputs.buf, b->outputs.len);
    graph.failed |= b->nodes.failed || b->initializers.failed ||
                    b->inputs.failed || b->outputs.failed;

    pb_write_string_field(&opset_id, OPSET_DOMAIN, "");
    pb_write_sint64_field(&opset_id, OPSET_VERSION, opset);

    pb_write_sint64_field(&model, MODEL_IR_VERSION, GRAPH_IR_VERSION);
    pb_write_string_field(&model, MODEL_PRODUCER_NAME, producer);
    pb_write_string_field(&model, MODEL_PRODUCER_VERSION, producer_version);
    if (doc && doc[0])
        pb_write_string_field(&model, MODEL_DOC_STRING, doc);
    pb_write_message(&model, MODEL_GRAPH, &graph);
    pb_write_message(&model, MODEL_OPSET_IMPORT, &opset_id);
    int rc = KH_OK;
    if (model.failed)
        rc = kh_error_set(err, KH_ENOMEM, "out of memory writing the model");
    else
        *bytes = pb_writer_take(&model, len);
    pb_writer_free(&graph);
    pb_writer_free(&opset_id);
    pb_writer_free(&model);
    return rc;
}
