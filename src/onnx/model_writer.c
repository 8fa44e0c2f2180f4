/* model_writer.c - see model_writer.h. */
#include "onnx/model_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/op.h"
#include "onnx/proto_fields.h"
#include "onnx/protobuf.h"
#include "onnx/tensor_proto.h"

struct onnx_model_writer {
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    pb_writer opsets;  /* serialized opset_import fields */
    pb_writer graph;   /* graph fields except the node being built */
    pb_writer node;    /* the current node's fields */
    bool has_node;
    bool failed;
};

static char *dup_or_fail(onnx_model_writer *w, const char *s) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        w->failed = true;
    return d;
}

int onnx_model_writer_create(const char *graph_name, int64_t opset,
                             onnx_model_writer **out, kh_error *err) {
    *out = NULL;
    onnx_model_writer *w = calloc(1, sizeof *w);
    if (!w)
        return kh_error_set(err, KH_ENOMEM, "model writer: out of memory");
    w->ir_version = 8;
    w->producer_name = dup_or_fail(w, "khappy");
    pb_writer_init(&w->opsets);
    pb_writer_init(&w->graph);
    pb_writer_init(&w->node);
    if (graph_name)
        pb_write_string_field(&w->graph, GRAPH_NAME, graph_name);
    onnx_model_writer_add_opset(w, "", opset);
    if (w->failed || w->graph.failed || w->opsets.failed) {
        onnx_model_writer_destroy(w);
        return kh_error_set(err, KH_ENOMEM, "model writer: out of memory");
    }
    *out = w;
    return KH_OK;
}

void onnx_model_writer_destroy(onnx_model_writer *w) {
    if (!w)
        return;
    free(w->producer_name);
    free(w->producer_version);
    pb_writer_free(&w->opsets);
    pb_writer_free(&w->graph);
    pb_writer_free(&w->node);
    free(w);
}

void onnx_model_writer_set_ir_version(onnx_model_writer *w, int64_t ir) {
    w->ir_version = ir;
}

void onnx_model_writer_set_producer(onnx_model_writer *w, const char *name,
                                    const char *version) {
    free(w->producer_name);
    free(w->producer_version);
    w->producer_name = dup_or_fail(w, name);
    w->producer_version = dup_or_fail(w, version);
}

void onnx_model_writer_add_opset(onnx_model_writer *w, const char *domain,
                                 int64_t version) {
    pb_writer op;
    pb_writer_init(&op);
    if (domain && domain[0])
        pb_write_string_field(&op, OPSET_DOMAIN, domain);
    pb_write_sint64_field(&op, OPSET_VERSION, version);
    pb_write_message(&w->opsets, MODEL_OPSET_IMPORT, &op);
    pb_writer_free(&op);
}

static void add_value_info(onnx_model_writer *w, uint32_t field,
                           const char *name, onnx_dtype dtype, int rank,
                           const int64_t *dims, const char *const *dim_names) {
    pb_writer vi, type, tensor, shape;
    pb_writer_init(&vi);
    pb_writer_init(&type);
    pb_writer_init(&tensor);
    pb_writer_init(&shape);
    pb_write_varint_field(&tensor, TENSOR_TYPE_ELEM_TYPE, (uint64_t)dtype);
    if (rank >= 0) {
        for (int i = 0; i < rank; i++) {
            pb_writer dim;
            pb_writer_init(&dim);
            if (dims[i] >= 0)
                pb_write_sint64_field(&dim, DIM_VALUE, dims[i]);
            else if (dim_names && dim_names[i])
                pb_write_string_field(&dim, DIM_PARAM, dim_names[i]);
            /* An empty Dimension message is an unknown dim. */
            if (dim.failed)
                shape.failed = true;
            pb_write_bytes_field(&shape, SHAPE_DIM, dim.buf, dim.len);
            pb_writer_free(&dim);
        }
        /* Rank 0 is an empty shape message, which still says "scalar". */
        pb_write_bytes_field(&tensor, TENSOR_TYPE_SHAPE, shape.buf, shape.len);
        if (shape.failed)
            tensor.failed = true;
    }
    pb_write_message(&type, TYPE_TENSOR_TYPE, &tensor);
    pb_write_string_field(&vi, VALUE_INFO_NAME, name);
    pb_write_message(&vi, VALUE_INFO_TYPE, &type);
    pb_write_message(&w->graph, field, &vi);
    pb_writer_free(&vi);
    pb_writer_free(&type);
    pb_writer_free(&tensor);
    pb_writer_free(&shape);
}

void onnx_model_writer_add_input(onnx_model_writer *w, const char *name,
                                 onnx_dtype dtype, int rank,
                                 const int64_t *dims,
                                 const char *const *dim_names) {
    add_value_info(w, GRAPH_INPUT, name, dtype, rank, dims, dim_names);
}

void onnx_model_writer_add_output(onnx_model_writer *w, const char *name,
                                  onnx_dtype dtype, int rank,
                                  const int64_t *dims,
                                  const char *const *dim_names) {
    add_value_info(w, GRAPH_OUTPUT, name, dtype, rank, dims, dim_names);
}

void onnx_model_writer_add_initializer_typed(onnx_model_writer *w,
                                             const char *name,
                                             onnx_dtype dtype, int rank,
                                             const int64_t *dims,
                                             const void *data) {
    pb_writer t;
    pb_writer_init(&t);
    onnx_tensorproto_encode(&t, name, dtype, rank, dims, data);
    pb_write_message(&w->graph, GRAPH_INITIALIZER, &t);
    pb_writer_free(&t);
}

void onnx_model_writer_add_initializer(onnx_model_writer *w, const char *name,
                                       int rank, const int64_t *dims,
                                       const float *data) {
    onnx_model_writer_add_initializer_typed(w, name, ONNX_FLOAT, rank, dims,
                                            data);
}

static void flush_node(onnx_model_writer *w) {
    if (w->has_node) {
        pb_write_message(&w->graph, GRAPH_NODE, &w->node);
        pb_writer_free(&w->node);
        pb_writer_init(&w->node);
        w->has_node = false;
    }
}

void onnx_model_writer_add_node(onnx_model_writer *w, const char *op_type,
                                const char *name, const char *const *inputs,
                                size_t n_inputs, const char *const *outputs,
                                size_t n_outputs) {
    flush_node(w);
    for (size_t i = 0; i < n_inputs; i++)
        pb_write_string_field(&w->node, NODE_INPUT, inputs[i] ? inputs[i] : "");
    for (size_t i = 0; i < n_outputs; i++)
        pb_write_string_field(&w->node, NODE_OUTPUT,
                              outputs[i] ? outputs[i] : "");
    if (name)
        pb_write_string_field(&w->node, NODE_NAME, name);
    pb_write_string_field(&w->node, NODE_OP_TYPE, op_type);
    w->has_node = true;
}

void onnx_model_writer_node_domain(onnx_model_writer *w, const char *domain) {
    if (w->has_node)
        pb_write_string_field(&w->node, NODE_DOMAIN, domain);
}

/* Attributes start with name and type; the caller adds the value. */
static void attr_begin(pb_writer *a, const char *name, onnx_attr_type type) {
    pb_writer_init(a);
    pb_write_string_field(a, ATTR_NAME, name);
    pb_write_varint_field(a, ATTR_TYPE, (uint64_t)type);
}

static void attr_end(onnx_model_writer *w, pb_writer *a) {
    if (!w->has_node)
        w->failed = true;
    else
        pb_write_message(&w->node, NODE_ATTRIBUTE, a);
    pb_writer_free(a);
}

void onnx_model_writer_attr_int(onnx_model_writer *w, const char *name,
                                int64_t v) {
    pb_writer a;
    attr_begin(&a, name, ONNX_ATTR_INT);
    pb_write_sint64_field(&a, ATTR_I, v);
    attr_end(w, &a);
}

void onnx_model_writer_attr_ints(onnx_model_writer *w, const char *name,
                                 const int64_t *v, size_t n) {
    pb_writer a;
    attr_begin(&a, name, ONNX_ATTR_INTS);
    pb_write_packed_int64(&a, ATTR_INTS, v, n);
    attr_end(w, &a);
}

void onnx_model_writer_attr_float(onnx_model_writer *w, const char *name,
                                  float v) {
    pb_writer a;
    attr_begin(&a, name, ONNX_ATTR_FLOAT);
    pb_write_float_field(&a, ATTR_F, v);
    attr_end(w, &a);
}

void onnx_model_writer_attr_floats(onnx_model_writer *w, const char *name,
                                   const float *v, size_t n) {
    pb_writer a;
    attr_begin(&a, name, ONNX_ATTR_FLOATS);
    pb_write_packed_float(&a, ATTR_FLOATS, v, n);
    attr_end(w, &a);
}

void onnx_model_writer_attr_string(onnx_model_writer *w, const char *name,
                                   const char *s) {
    pb_writer a;
    attr_begin(&a, name, ONNX_ATTR_STRING);
    pb_write_string_field(&a, ATTR_S, s);
    attr_end(w, &a);
}

void onnx_model_writer_attr_tensor(onnx_model_writer *w, const char *name,
                                   onnx_dtype dtype, int rank,
                                   const int64_t *dims, const void *data) {
    pb_writer a, t;
    attr_begin(&a, name, ONNX_ATTR_TENSOR);
    pb_writer_init(&t);
    onnx_tensorproto_encode(&t, NULL, dtype, rank, dims, data);
    pb_write_message(&a, ATTR_T, &t);
    pb_writer_free(&t);
    attr_end(w, &a);
}

int onnx_model_writer_finish(onnx_model_writer *w, uint8_t **buf,
                             size_t *len, kh_error *err) {
    *buf = NULL;
    *len = 0;
    flush_node(w);
    pb_writer m;
    pb_writer_init(&m);
    pb_write_sint64_field(&m, MODEL_IR_VERSION, w->ir_version);
    if (w->producer_name)
        pb_write_string_field(&m, MODEL_PRODUCER_NAME, w->producer_name);
    if (w->producer_version)
        pb_write_string_field(&m, MODEL_PRODUCER_VERSION, w->producer_version);
    pb_write_message(&m, MODEL_GRAPH, &w->graph);
    if (w->opsets.failed)
        m.failed = true;
    pb_write_raw(&m, w->opsets.buf, w->opsets.len);
    if (w->failed || m.failed) {
        pb_writer_free(&m);
        return kh_error_set(err, KH_ENOMEM,
                            "model writer: out of memory or a bad argument "
                            "(negative dims, attribute before any node)");
    }
    *buf = pb_writer_take(&m, len);
    return KH_OK;
}

int onnx_model_writer_save(onnx_model_writer *w, const char *path,
                           kh_error *err) {
    uint8_t *buf;
    size_t len;
    int rc = onnx_model_writer_finish(w, &buf, &len, err);
    if (rc)
        return rc;
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        free(buf);
        return kh_error_set(err, KH_EIO, "%s: %s", path, strerror(e));
    }
    size_t wrote = len ? fwrite(buf, 1, len, f) : 0;
    int close_rc = fclose(f);
    free(buf);
    if (wrote != len || close_rc != 0)
        return kh_error_set(err, KH_EIO, "%s: write failed", path);
    return KH_OK;
}
