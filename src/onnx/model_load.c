/* model_load.c - decodes a ModelProto into the engine's tensors and nodes.
 *
 * Every length and count comes from the file: the protobuf reader checks
 * each against the end of its message, arrays are sized by counting first,
 * and tensor data sizes must match their dims exactly. Errors name the byte
 * offset and the tensor/node/value they concern.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"
#include "onnx/proto_fields.h"
#include "onnx/protobuf.h"
#include "onnx/tensor_proto.h"

#define IR_VERSION_MIN 3
#define IR_VERSION_MAX 10
#define OPSET_MIN 7
#define OPSET_MAX 21
#define UNSUPPORTED_MAX 2048

void engine_unsupported(onnx_model *m, const char *fmt, ...) {
    if (!m->unsupported) {
        m->unsupported = engine_alloc(m, UNSUPPORTED_MAX);
        if (!m->unsupported) {
            m->n_unsupported++;
            return;
        }
    }
    char item[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    /* The same problem (e.g. one type on many tensors) is listed once. */
    if (m->unsupported_len && strstr(m->unsupported, item))
        return;
    m->n_unsupported++;
    size_t left = UNSUPPORTED_MAX - m->unsupported_len;
    int n = snprintf(m->unsupported + m->unsupported_len, left, "%s%s",
                     m->unsupported_len ? "; " : "", item);
    if (n > 0)
        m->unsupported_len += (size_t)n < left ? (size_t)n : left - 1;
}

static int wire_error(const pb_field *f, const char *what, kh_error *err) {
    return kh_error_set(err, KH_EFORMAT,
                        "byte %zu: %s field %u has wire type %d (not %s)",
                        f->offset, what, f->number, (int)f->wire,
                        f->wire == PB_LEN ? "a length" : "expected");
}

#define EXPECT_WIRE(f, w, what)                                                \
    do {                                                                       \
        if ((f)->wire != (w))                                                  \
            return wire_error((f), (what), err);                               \
    } while (0)

static char *field_string(onnx_model *m, const pb_field *f, kh_error *err) {
    char *s = engine_strndup(m, f->data, f->len);
    if (!s)
        kh_error_set(err, KH_ENOMEM, "byte %zu: out of memory", f->offset);
    return s;
}

/* A string field of `message`: its wire type checked, then copied into the
 * model's pool as *out. */
static int read_string(onnx_model *m, const pb_field *f, const char *message,
                       const char **out, kh_error *err) {
    EXPECT_WIRE(f, PB_LEN, message);
    const char *s = field_string(m, f, err);
    if (!s)
        return KH_ENOMEM;
    *out = s;
    return KH_OK;
}

/* ---- tensors ---- */

/* Decodes a TensorProto into t (data copied into the model's pool). An
 * unsupported type is recorded and leaves t without data. */
static int decode_tensor(onnx_model *m, const uint8_t *base,
                         const pb_field *f, const char *what,
                         engine_tensor *t, kh_error *err) {
    onnx_decoded_tensor d;
    int rc = onnx_tensorproto_decode(base, f->data, f->len, what, &d, err);
    if (rc == KH_EUNSUPPORTED) {
        engine_unsupported(m, "%s", err->message);
        t->t.dtype = ONNX_UNDEFINED;
        return KH_OK;
    }
    if (rc)
        return rc;
    size_t bytes = d.numel * onnx_dtype_size(d.dtype);
    void *data = engine_alloc(m, bytes);
    if (!data) {
        free(d.data);
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory (%zu bytes)",
                            what, bytes);
    }
    memcpy(data, d.data, bytes);
    free(d.data);
    t->t.dtype = d.dtype;
    t->t.rank = d.rank;
    memcpy(t->t.dims, d.dims, sizeof d.dims);
    t->t.numel = d.numel;
    t->t.data = data;
    t->t.flags |= ONNX_TENSOR_CONST;
    t->kind = TENSOR_CONSTANT;
    return KH_OK;
}

/* The name field of a TensorProto, or NULL. */
static int tensor_name(const uint8_t *base, const pb_field *f,
                       const uint8_t **name, size_t *len, kh_error *err) {
    pb_reader r = {.base = base, .p = f->data, .end = f->data + f->len};
    pb_field g;
    int rc;
    *name = NULL;
    *len = 0;
    while ((rc = pb_next(&r, &g, err)) == 1)
        if (g.number == TENSOR_NAME && g.wire == PB_LEN) {
            *name = g.data;
            *len = g.len;
        }
    return rc;
}

static int decode_initializer(onnx_model *m, const uint8_t *base,
                              const pb_field *f, kh_error *err) {
    const uint8_t *name;
    size_t name_len;
    int rc = tensor_name(base, f, &name, &name_len, err);
    if (rc)
        return rc;
    if (!name || !name_len)
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: initializer without a name",
                            f->offset);
    char *copy = engine_strndup(m, name, name_len);
    if (!copy)
        return kh_error_set(err, KH_ENOMEM, "initializer: out of memory");
    if (engine_tensor_find(m, copy))
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: initializer '%s' is defined twice",
                            f->offset, copy);
    engine_tensor *t;
    if ((rc = engine_tensor_get(m, copy, &t, err)))
        return rc;
    char what[300];
    snprintf(what, sizeof what, "initializer '%.256s'", copy);
    t->kind = TENSOR_CONSTANT;
    if ((rc = decode_tensor(m, base, f, what, t, err)))
        return rc;
    m->initializer_count++;
    if (t->t.data)
        m->parameter_count += (int64_t)t->t.numel;
    return KH_OK;
}

/* ---- value infos (graph inputs and outputs) ---- */

typedef struct value_type {
    bool has_type;
    const char *kind; /* "sequence", "map", ... when not a tensor, else NULL */
    int64_t elem_type;
    int rank; /* -1 when no shape */
    int64_t dims[ONNX_MAX_RANK];
    const char *dim_names[ONNX_MAX_RANK];
} value_type;

static int decode_shape(onnx_model *m, const pb_reader *parent,
                        const pb_field *f, const char *name, value_type *vt,
                        kh_error *err) {
    pb_reader r;
    pb_reader_sub(&r, parent, f);
    pb_field g;
    int rc;
    vt->rank = 0;
    while ((rc = pb_next(&r, &g, err)) == 1) {
        if (g.number != SHAPE_DIM)
            continue;
        EXPECT_WIRE(&g, PB_LEN, "TensorShapeProto");
        if (vt->rank >= ONNX_MAX_RANK)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "byte %zu: '%s' has more than %d dimensions",
                                g.offset, name, ONNX_MAX_RANK);
        int i = vt->rank++;
        vt->dims[i] = -1;
        vt->dim_names[i] = NULL;
        pb_reader dr;
        pb_reader_sub(&dr, &r, &g);
        pb_field d;
        while ((rc = pb_next(&dr, &d, err)) == 1) {
            if (d.number == DIM_VALUE) {
                EXPECT_WIRE(&d, PB_VARINT, "Dimension");
                int64_t v = (int64_t)d.varint;
                if (v < 0)
                    return kh_error_set(err, KH_ESHAPE,
                                        "byte %zu: '%s': dimension %d is "
                                        "negative (%" PRId64 ")",
                                        d.offset, name, i, v);
                vt->dims[i] = v;
                vt->dim_names[i] = NULL;
            } else if (d.number == DIM_PARAM) {
                vt->dims[i] = -1;
                if ((rc = read_string(m, &d, "Dimension", &vt->dim_names[i],
                                      err)))
                    return rc;
            }
        }
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int decode_type(onnx_model *m, const pb_reader *parent,
                       const pb_field *f, const char *name, value_type *vt,
                       kh_error *err) {
    pb_reader r;
    pb_reader_sub(&r, parent, f);
    pb_field g;
    int rc;
    vt->has_type = true;
    while ((rc = pb_next(&r, &g, err)) == 1) {
        switch (g.number) {
        case TYPE_TENSOR_TYPE: {
            EXPECT_WIRE(&g, PB_LEN, "TypeProto");
            pb_reader tr;
            pb_reader_sub(&tr, &r, &g);
            pb_field h;
            while ((rc = pb_next(&tr, &h, err)) == 1) {
                if (h.number == TENSOR_TYPE_ELEM_TYPE) {
                    EXPECT_WIRE(&h, PB_VARINT, "TypeProto.Tensor");
                    vt->elem_type = (int64_t)h.varint;
                } else if (h.number == TENSOR_TYPE_SHAPE) {
                    EXPECT_WIRE(&h, PB_LEN, "TypeProto.Tensor");
                    if ((rc = decode_shape(m, &tr, &h, name, vt, err)))
                        return rc;
                }
            }
            if (rc < 0)
                return rc;
            break;
        }
        case TYPE_SEQUENCE_TYPE:
            vt->kind = "sequence";
            break;
        case TYPE_MAP_TYPE:
            vt->kind = "map";
            break;
        case TYPE_SPARSE_TENSOR_TYPE:
            vt->kind = "sparse tensor";
            break;
        case TYPE_OPTIONAL_TYPE:
            vt->kind = "optional";
            break;
        default:
            break;
        }
    }
    return rc;
}

/* Decodes a ValueInfoProto: *name_out and the declared type. */
static int decode_value_info(onnx_model *m, const pb_reader *parent,
                             const pb_field *f, const char *role,
                             const char **name_out, value_type *vt,
                             kh_error *err) {
    pb_reader r;
    pb_reader_sub(&r, parent, f);
    pb_field g;
    int rc;
    const char *name = NULL;
    memset(vt, 0, sizeof *vt);
    vt->rank = -1;
    pb_field type_field;
    bool has_type = false;
    while ((rc = pb_next(&r, &g, err)) == 1) {
        if (g.number == VALUE_INFO_NAME) {
            if ((rc = read_string(m, &g, "ValueInfoProto", &name, err)))
                return rc;
        } else if (g.number == VALUE_INFO_TYPE) {
            EXPECT_WIRE(&g, PB_LEN, "ValueInfoProto");
            type_field = g;
            has_type = true;
        }
    }
    if (rc < 0)
        return rc;
    if (!name || !name[0])
        return kh_error_set(err, KH_EFORMAT, "byte %zu: %s without a name",
                            f->offset, role);
    if (has_type && (rc = decode_type(m, &r, &type_field, name, vt, err)))
        return rc;
    *name_out = name;
    return KH_OK;
}

/* Records the declared type of a graph input/output/value_info. */
static int declare(onnx_model *m, engine_tensor *t, const char *role,
                   const value_type *vt, bool set_dtype) {
    if (vt->kind) {
        engine_unsupported(m, "%s '%s': %s type", role, t->t.name, vt->kind);
        return KH_OK;
    }
    if (!vt->has_type)
        return KH_OK;
    onnx_dtype dt = (onnx_dtype)vt->elem_type;
    if (vt->elem_type != ONNX_UNDEFINED && onnx_dtype_size(dt) == 0) {
        if (vt->elem_type > ONNX_BFLOAT16 || vt->elem_type < 0)
            engine_unsupported(m, "tensor '%s': element type %" PRId64,
                               t->t.name, vt->elem_type);
        else
            engine_unsupported(m, "tensor '%s': %s", t->t.name,
                               onnx_dtype_name(dt));
    }
    if (set_dtype) {
        t->t.dtype = dt;
        t->declared_rank = vt->rank;
        for (int i = 0; i < vt->rank; i++) {
            t->declared_dims[i] = vt->dims[i];
            t->dim_names[i] = vt->dim_names[i];
        }
    }
    return KH_OK;
}

/* ---- attributes and nodes ---- */

/* Count of elements in a repeated scalar field occurrence (packed or not). */
static int repeated_count(const pb_field *f, enum pb_wire_type scalar,
                          size_t *count, kh_error *err) {
    if (f->wire == scalar) {
        *count = 1;
        return KH_OK;
    }
    if (f->wire != PB_LEN)
        return wire_error(f, "AttributeProto", err);
    if (scalar == PB_FIXED32) {
        if (f->len % 4)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: packed floats of %zu bytes",
                                f->offset, f->len);
        *count = f->len / 4;
        return KH_OK;
    }
    return pb_packed_varint_count(f, count, err);
}

static int decode_attribute(onnx_model *m, const pb_reader *parent,
                            const pb_field *f, const onnx_node *node,
                            onnx_attr *a, kh_error *err) {
    pb_reader r;
    pb_field g;
    int rc;
    size_t n_floats = 0, n_ints = 0, n_strings = 0, n_tensors = 0;
    int64_t type = 0;
    bool has[32] = {false};
    pb_field tensor_field = {0};

    memset(a, 0, sizeof *a);
    /* Pass 1: name, type, singular values and counts of repeated ones. */
    pb_reader_sub(&r, parent, f);
    while ((rc = pb_next(&r, &g, err)) == 1) {
        size_t c;
        if (g.number < 32)
            has[g.number] = true;
        switch (g.number) {
        case ATTR_NAME:
            if ((rc = read_string(m, &g, "AttributeProto", &a->name, err)))
                return rc;
            break;
        case ATTR_TYPE:
            EXPECT_WIRE(&g, PB_VARINT, "AttributeProto");
            type = (int64_t)g.varint;
            break;
        case ATTR_F:
            EXPECT_WIRE(&g, PB_FIXED32, "AttributeProto");
            a->f = pb_fixed32_as_float(g.varint);
            break;
        case ATTR_I:
            EXPECT_WIRE(&g, PB_VARINT, "AttributeProto");
            a->i = (int64_t)g.varint;
            break;
        case ATTR_S:
            if ((rc = read_string(m, &g, "AttributeProto", &a->s, err)))
                return rc;
            a->s_len = g.len;
            break;
        case ATTR_T:
            EXPECT_WIRE(&g, PB_LEN, "AttributeProto");
            tensor_field = g;
            break;
        case ATTR_FLOATS:
            if ((rc = repeated_count(&g, PB_FIXED32, &c, err)))
                return rc;
            n_floats += c;
            break;
        case ATTR_INTS:
            if ((rc = repeated_count(&g, PB_VARINT, &c, err)))
                return rc;
            n_ints += c;
            break;
        case ATTR_STRINGS:
            EXPECT_WIRE(&g, PB_LEN, "AttributeProto");
            n_strings++;
            break;
        case ATTR_TENSORS:
            EXPECT_WIRE(&g, PB_LEN, "AttributeProto");
            n_tensors++;
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (!a->name || !a->name[0])
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: node '%s': attribute without a name",
                            f->offset, node->name);
    if (has[ATTR_REF_ATTR_NAME])
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: node '%s': attribute '%s' refers to a "
                            "function attribute outside a function",
                            f->offset, node->name, a->name);
    if (type == 0) {
        /* IR version 1 had no type field: infer it from the field used. */
        if (has[ATTR_F]) type = ONNX_ATTR_FLOAT;
        else if (has[ATTR_I]) type = ONNX_ATTR_INT;
        else if (has[ATTR_S]) type = ONNX_ATTR_STRING;
        else if (has[ATTR_T]) type = ONNX_ATTR_TENSOR;
        else if (has[ATTR_G]) type = ONNX_ATTR_GRAPH;
        else if (n_floats) type = ONNX_ATTR_FLOATS;
        else if (n_ints) type = ONNX_ATTR_INTS;
        else if (n_strings) type = ONNX_ATTR_STRINGS;
        else if (n_tensors) type = ONNX_ATTR_TENSORS;
    }
    a->type = type >= 0 && type <= ONNX_ATTR_TENSORS ? (onnx_attr_type)type
                                                     : ONNX_ATTR_UNDEFINED;
    switch (a->type) {
    case ONNX_ATTR_FLOATS: a->count = n_floats; break;
    case ONNX_ATTR_INTS: a->count = n_ints; break;
    case ONNX_ATTR_STRINGS: a->count = n_strings; break;
    case ONNX_ATTR_TENSORS: a->count = n_tensors; break;
    default: break;
    }
    if (a->type == ONNX_ATTR_STRING && !a->s) {
        a->s = "";
        a->s_len = 0;
    }

    /* Pass 2: repeated values. */
    float *floats = NULL;
    int64_t *ints = NULL;
    if (n_floats && !(floats = engine_alloc(m, n_floats * sizeof *floats)))
        return kh_error_set(err, KH_ENOMEM, "attributes: out of memory");
    if (n_ints && !(ints = engine_alloc(m, n_ints * sizeof *ints)))
        return kh_error_set(err, KH_ENOMEM, "attributes: out of memory");
    size_t fi = 0, ii = 0;
    pb_reader_sub(&r, parent, f);
    while ((rc = pb_next(&r, &g, err)) == 1) {
        if (g.number == ATTR_FLOATS) {
            if (g.wire == PB_FIXED32)
                floats[fi++] = pb_fixed32_as_float(g.varint);
            else
                for (size_t k = 0; k < g.len / 4; k++)
                    floats[fi++] = pb_fixed32_as_float(
                        pb_load_le32(g.data + 4 * k));
        } else if (g.number == ATTR_INTS) {
            if (g.wire == PB_VARINT) {
                ints[ii++] = (int64_t)g.varint;
            } else {
                size_t c;
                if ((rc = pb_packed_varint_count(&g, &c, err)))
                    return rc;
                if ((rc = pb_packed_varint_read(&g, (uint64_t *)(ints + ii),
                                                c, err)))
                    return rc;
                ii += c;
            }
        }
    }
    if (rc < 0)
        return rc;
    a->floats = floats;
    a->ints = ints;

    if (a->type == ONNX_ATTR_TENSOR && tensor_field.data) {
        engine_tensor *t = engine_alloc(m, sizeof *t);
        char what[600];
        snprintf(what, sizeof what, "node '%.256s' attribute '%.256s'",
                 node->name, a->name);
        char *label = engine_strndup(m, what, strlen(what));
        if (!t || !label)
            return kh_error_set(err, KH_ENOMEM, "attributes: out of memory");
        t->t.name = label;
        t->producer = -1;
        t->last_use = -1;
        t->declared_rank = -1;
        if ((rc = decode_tensor(m, parent->base, &tensor_field, what, t,
                                err)))
            return rc;
        a->t = &t->t;
    }
    return KH_OK;
}

/* Creates the constant tensor of a Constant node from its attribute. */
static int constant_node(onnx_model *m, const onnx_node *n, kh_error *err) {
    if (n->n_outputs != 1 || !n->outputs[0])
        return kh_error_set(err, KH_EFORMAT,
                            "node '%s' (Constant): expected one output",
                            n->name);
    engine_tensor *t = engine_tensor_of(n->outputs[0]);
    if (n->n_attrs != 1)
        return kh_error_set(err, KH_EFORMAT,
                            "node '%s' (Constant): expected exactly one "
                            "value attribute, got %zu",
                            n->name, n->n_attrs);
    const onnx_attr *a = &n->attrs[0];
    t->kind = TENSOR_CONSTANT;
    t->t.flags |= ONNX_TENSOR_CONST;
    int64_t dims[1];
    onnx_dtype dt;
    const void *src;
    int rank;
    if (strcmp(a->name, "value") == 0 && a->type == ONNX_ATTR_TENSOR && a->t) {
        if (!a->t->data) {
            t->t.dtype = ONNX_UNDEFINED; /* unsupported, already listed */
            return KH_OK;
        }
        dt = a->t->dtype;
        rank = a->t->rank;
        src = a->t->data;
        int rc = onnx_tensor_reshape(&t->t, dt, rank, a->t->dims, err);
        if (rc)
            return rc;
        t->t.data = (void *)src; /* pool memory, lives with the model */
        return KH_OK;
    }
    if (strcmp(a->name, "value_float") == 0 && a->type == ONNX_ATTR_FLOAT) {
        dt = ONNX_FLOAT, rank = 0, src = &a->f;
    } else if (strcmp(a->name, "value_floats") == 0 &&
               a->type == ONNX_ATTR_FLOATS) {
        dt = ONNX_FLOAT, rank = 1, src = a->floats;
        dims[0] = (int64_t)a->count;
    } else if (strcmp(a->name, "value_int") == 0 && a->type == ONNX_ATTR_INT) {
        dt = ONNX_INT64, rank = 0, src = &a->i;
    } else if (strcmp(a->name, "value_ints") == 0 &&
               a->type == ONNX_ATTR_INTS) {
        dt = ONNX_INT64, rank = 1, src = a->ints;
        dims[0] = (int64_t)a->count;
    } else if (strcmp(a->name, "value_string") == 0 ||
               strcmp(a->name, "value_strings") == 0) {
        engine_unsupported(m, "node '%s' (Constant): string value", n->name);
        return KH_OK;
    } else if (strcmp(a->name, "sparse_value") == 0) {
        engine_unsupported(m, "node '%s' (Constant): sparse value", n->name);
        return KH_OK;
    } else {
        return kh_error_set(err, KH_EFORMAT,
                            "node '%s' (Constant): attribute '%s' is not a "
                            "value",
                            n->name, a->name);
    }
    int rc = onnx_tensor_reshape(&t->t, dt, rank, dims, err);
    if (rc)
        return rc;
    size_t bytes = t->t.numel * onnx_dtype_size(dt);
    if (!(t->t.data = engine_alloc(m, bytes)))
        return kh_error_set(err, KH_ENOMEM, "Constant: out of memory");
    if (bytes)
        memcpy(t->t.data, src, bytes);
    return KH_OK;
}

static int histogram_add(onnx_model *m, const char *op_type, size_t max,
                         kh_error *err) {
    for (size_t i = 0; i < m->n_histogram; i++)
        if (strcmp(m->histogram[i].op_type, op_type) == 0) {
            m->histogram[i].count++;
            return KH_OK;
        }
    if (m->n_histogram >= max)
        return kh_error_set(err, KH_EINTERNAL, "histogram overflow");
    m->histogram[m->n_histogram].op_type = op_type;
    m->histogram[m->n_histogram].count = 1;
    m->n_histogram++;
    return KH_OK;
}

static int decode_node(onnx_model *m, const pb_reader *graph,
                       const pb_field *f, size_t index, size_t n_max,
                       kh_error *err) {
    pb_reader r;
    pb_field g;
    int rc;
    size_t n_in = 0, n_out = 0, n_attr = 0;
    const char *name = NULL, *op_type = NULL, *domain = "";

    pb_reader_sub(&r, graph, f);
    while ((rc = pb_next(&r, &g, err)) == 1) {
        switch (g.number) {
        case NODE_INPUT: n_in++; break;
        case NODE_OUTPUT: n_out++; break;
        case NODE_ATTRIBUTE: n_attr++; break;
        case NODE_NAME:
            if ((rc = read_string(m, &g, "NodeProto", &name, err)))
                return rc;
            break;
        case NODE_OP_TYPE:
            if ((rc = read_string(m, &g, "NodeProto", &op_type, err)))
                return rc;
            break;
        case NODE_DOMAIN:
            if ((rc = read_string(m, &g, "NodeProto", &domain, err)))
                return rc;
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (!op_type || !op_type[0])
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: node %zu%s%s%s has no op_type",
                            f->offset, index, name ? " '" : "",
                            name ? name : "", name ? "'" : "");
    if (!name || !name[0]) {
        char buf[300];
        snprintf(buf, sizeof buf, "%.256s#%zu", op_type, index);
        if (!(name = engine_strndup(m, buf, strlen(buf))))
            return kh_error_set(err, KH_ENOMEM, "nodes: out of memory");
    }
    if ((rc = histogram_add(m, op_type, n_max, err)))
        return rc;

    onnx_node *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = name;
    n->op_type = op_type;
    n->domain = domain;
    n->opset = (int)engine_opset_of(m, domain);
    n->n_inputs = n_in;
    n->n_outputs = n_out;
    n->n_attrs = n_attr;
    n->inputs = engine_alloc(m, (n_in ? n_in : 1) * sizeof *n->inputs);
    n->outputs = engine_alloc(m, (n_out ? n_out : 1) * sizeof *n->outputs);
    onnx_attr *attrs = engine_alloc(m, (n_attr ? n_attr : 1) * sizeof *attrs);
    if (!n->inputs || !n->outputs || !attrs)
        return kh_error_set(err, KH_ENOMEM, "nodes: out of memory");
    n->attrs = attrs;

    size_t ii = 0, oi = 0, ai = 0;
    pb_reader_sub(&r, graph, f);
    while ((rc = pb_next(&r, &g, err)) == 1) {
        if (g.number == NODE_INPUT || g.number == NODE_OUTPUT) {
            EXPECT_WIRE(&g, PB_LEN, "NodeProto");
            engine_tensor *t = NULL;
            if (g.len) {
                char *tname = field_string(m, &g, err);
                if (!tname)
                    return KH_ENOMEM;
                if ((rc = engine_tensor_get(m, tname, &t, err)))
                    return rc;
            }
            if (g.number == NODE_INPUT) {
                n->inputs[ii++] = t ? &t->t : NULL;
                continue;
            }
            n->outputs[oi++] = t ? &t->t : NULL;
            if (!t)
                continue;
            if (t->kind != TENSOR_INTERMEDIATE || t->producer >= 0) {
                const char *by =
                    t->kind == TENSOR_CONSTANT ? "an initializer"
                    : t->kind == TENSOR_GRAPH_INPUT
                        ? "a graph input"
                        : m->nodes[t->producer].name;
                return kh_error_set(err, KH_EFORMAT,
                                    "node '%s' (%s): output '%s' is also "
                                    "%s%s%s",
                                    name, op_type, t->t.name,
                                    t->kind == TENSOR_INTERMEDIATE
                                        ? "produced by node '"
                                        : "",
                                    by,
                                    t->kind == TENSOR_INTERMEDIATE ? "'"
                                                                   : "");
            }
            t->producer = (int)m->n_nodes;
        } else if (g.number == NODE_ATTRIBUTE) {
            EXPECT_WIRE(&g, PB_LEN, "NodeProto");
            if ((rc = decode_attribute(m, &r, &g, n, &attrs[ai++], err)))
                return rc;
        }
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n_attr; i++)
        for (size_t j = i + 1; j < n_attr; j++)
            if (strcmp(attrs[i].name, attrs[j].name) == 0)
                return kh_error_set(err, KH_EFORMAT,
                                    "node '%s' (%s): attribute '%s' given "
                                    "twice",
                                    name, op_type, attrs[i].name);

    if (strcmp(op_type, "Constant") == 0 && (!domain[0] ||
                                             strcmp(domain, "ai.onnx") == 0)) {
        /* Folded into a constant tensor now: no node at run time. */
        for (size_t i = 0; i < n_out; i++)
            if (n->outputs[i])
                engine_tensor_of(n->outputs[i])->producer = -1;
        return constant_node(m, n, err);
    }
    /* Every operator has an output; a left-out one (empty name) is NULL
     * and onnx_tensor_reshape refuses it where an operator needs it. */
    if (n_out == 0)
        return kh_error_set(err, KH_EFORMAT,
                            "byte %zu: node '%s' (%s) has no outputs",
                            f->offset, name, op_type);
    m->n_nodes++;
    return KH_OK;
}

/* ---- graph and model ---- */

static int decode_graph(onnx_model *m, const pb_reader *model,
                        const pb_field *gf, kh_error *err) {
    pb_reader r;
    pb_field f;
    int rc;
    size_t n_nodes = 0, n_inputs = 0, n_outputs = 0;

    pb_reader_sub(&r, model, gf);
    while ((rc = pb_next(&r, &f, err)) == 1) {
        switch (f.number) {
        case GRAPH_NODE: n_nodes++; break;
        case GRAPH_INPUT: n_inputs++; break;
        case GRAPH_OUTPUT: n_outputs++; break;
        case GRAPH_NAME:
            if ((rc = read_string(m, &f, "GraphProto", &m->graph_name, err)))
                return rc;
            break;
        case GRAPH_SPARSE_INITIALIZER:
            engine_unsupported(m, "sparse initializers");
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (n_nodes > (size_t)INT32_MAX / 2)
        return kh_error_set(err, KH_ELIMIT, "graph: %zu nodes", n_nodes);
    m->nodes = engine_alloc(m, (n_nodes ? n_nodes : 1) * sizeof *m->nodes);
    m->histogram =
        engine_alloc(m, (n_nodes ? n_nodes : 1) * sizeof *m->histogram);
    m->inputs = engine_alloc(m, (n_inputs ? n_inputs : 1) * sizeof *m->inputs);
    m->outputs =
        engine_alloc(m, (n_outputs ? n_outputs : 1) * sizeof *m->outputs);
    if (!m->nodes || !m->histogram || !m->inputs || !m->outputs)
        return kh_error_set(err, KH_ENOMEM, "graph: out of memory");

    /* Initializers first: a graph input with an initializer's name is a
     * constant (IR < 4 listed every initializer as an input). */
    pb_reader_sub(&r, model, gf);
    while ((rc = pb_next(&r, &f, err)) == 1)
        if (f.number == GRAPH_INITIALIZER) {
            EXPECT_WIRE(&f, PB_LEN, "GraphProto");
            if ((rc = decode_initializer(m, model->base, &f, err)))
                return rc;
        }
    if (rc < 0)
        return rc;

    pb_reader_sub(&r, model, gf);
    while ((rc = pb_next(&r, &f, err)) == 1) {
        if (f.number != GRAPH_INPUT)
            continue;
        EXPECT_WIRE(&f, PB_LEN, "GraphProto");
        const char *name;
        value_type vt;
        if ((rc = decode_value_info(m, &r, &f, "graph input", &name, &vt,
                                    err)))
            return rc;
        engine_tensor *t = engine_tensor_find(m, name);
        if (t && t->kind == TENSOR_CONSTANT)
            continue;
        if (t)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: graph input '%s' is listed twice",
                                f.offset, name);
        if ((rc = engine_tensor_get(m, name, &t, err)))
            return rc;
        if (!vt.has_type)
            return kh_error_set(err, KH_EFORMAT,
                                "byte %zu: graph input '%s' has no type",
                                f.offset, name);
        t->kind = TENSOR_GRAPH_INPUT;
        t->t.flags |= ONNX_TENSOR_INPUT;
        declare(m, t, "graph input", &vt, true);
        m->inputs[m->n_inputs++] = t;
    }
    if (rc < 0)
        return rc;

    pb_reader_sub(&r, model, gf);
    while ((rc = pb_next(&r, &f, err)) == 1)
        if (f.number == GRAPH_NODE) {
            EXPECT_WIRE(&f, PB_LEN, "GraphProto");
            if ((rc = decode_node(m, &r, &f, m->n_nodes, n_nodes, err)))
                return rc;
        }
    if (rc < 0)
        return rc;

    pb_reader_sub(&r, model, gf);
    while ((rc = pb_next(&r, &f, err)) == 1) {
        if (f.number != GRAPH_OUTPUT && f.number != GRAPH_VALUE_INFO)
            continue;
        EXPECT_WIRE(&f, PB_LEN, "GraphProto");
        bool is_output = f.number == GRAPH_OUTPUT;
        const char *name;
        value_type vt;
        if ((rc = decode_value_info(m, &r, &f,
                                    is_output ? "graph output" : "value_info",
                                    &name, &vt, err)))
            return rc;
        engine_tensor *t = engine_tensor_find(m, name);
        if (!t) {
            if (!is_output)
                continue; /* describes nothing in this graph */
            return kh_error_set(err, KH_EFORMAT,
                                "graph output '%s' is not produced by any "
                                "node, initializer or graph input",
                                name);
        }
        if (is_output) {
            t->t.flags |= ONNX_TENSOR_OUTPUT;
            declare(m, t, "graph output", &vt, t->kind == TENSOR_INTERMEDIATE);
            if (t->kind == TENSOR_INTERMEDIATE && t->declared_rank < 0)
                t->declared_rank = vt.rank;
            m->outputs[m->n_outputs++] = t;
        } else {
            declare(m, t, "value", &vt, false);
        }
    }
    if (rc < 0)
        return rc;
    return KH_OK;
}

int engine_decode_model(onnx_model *m, const uint8_t *buf, size_t len,
                        kh_error *err) {
    pb_reader r;
    pb_field f, graph = {0};
    int rc;
    bool has_ir = false, has_graph = false;
    size_t n_opsets = 0;

    if (len == 0)
        return kh_error_set(err, KH_EFORMAT, "empty file (no ModelProto)");
    pb_reader_init(&r, buf, len);
    while ((rc = pb_next(&r, &f, err)) == 1) {
        switch (f.number) {
        case MODEL_IR_VERSION:
            EXPECT_WIRE(&f, PB_VARINT, "ModelProto");
            m->ir_version = (int64_t)f.varint;
            has_ir = true;
            break;
        case MODEL_PRODUCER_NAME:
            if ((rc = read_string(m, &f, "ModelProto", &m->producer, err)))
                return rc;
            break;
        case MODEL_GRAPH:
            EXPECT_WIRE(&f, PB_LEN, "ModelProto");
            if (has_graph)
                return kh_error_set(err, KH_EFORMAT,
                                    "byte %zu: second graph", f.offset);
            graph = f;
            has_graph = true;
            break;
        case MODEL_OPSET_IMPORT:
            EXPECT_WIRE(&f, PB_LEN, "ModelProto");
            n_opsets++;
            break;
        case MODEL_FUNCTIONS:
            EXPECT_WIRE(&f, PB_LEN, "ModelProto");
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return kh_error_prefix(err, "not an ONNX model");
    if (!has_ir || !has_graph)
        return kh_error_set(err, KH_EFORMAT,
                            "not an ONNX model: no %s",
                            !has_ir ? "ir_version" : "graph");
    if (m->ir_version < IR_VERSION_MIN || m->ir_version > IR_VERSION_MAX)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "unsupported: ir_version %" PRId64
                            " (supported: %d..%d)",
                            m->ir_version, IR_VERSION_MIN, IR_VERSION_MAX);

    m->opset_domains = engine_alloc(m, (n_opsets + 1) * sizeof(char *));
    m->opset_versions = engine_alloc(m, (n_opsets + 1) * sizeof(int64_t));
    if (!m->opset_domains || !m->opset_versions)
        return kh_error_set(err, KH_ENOMEM, "opsets: out of memory");
    pb_reader_init(&r, buf, len);
    while ((rc = pb_next(&r, &f, err)) == 1) {
        if (f.number != MODEL_OPSET_IMPORT)
            continue;
        pb_reader o;
        pb_reader_sub(&o, &r, &f);
        pb_field g;
        const char *domain = "";
        int64_t version = 0;
        while ((rc = pb_next(&o, &g, err)) == 1) {
            if (g.number == OPSET_DOMAIN) {
                if ((rc = read_string(m, &g, "OperatorSetIdProto", &domain,
                                      err)))
                    return rc;
            } else if (g.number == OPSET_VERSION) {
                EXPECT_WIRE(&g, PB_VARINT, "OperatorSetIdProto");
                version = (int64_t)g.varint;
            }
        }
        if (rc < 0)
            return rc;
        m->opset_domains[m->n_opsets] = domain;
        m->opset_versions[m->n_opsets] = version;
        m->n_opsets++;
    }
    if (rc < 0)
        return rc;
    m->opset = engine_opset_of(m, "");
    /* A model of other domains only (e.g. ai.onnx.preview.training) has no
     * default opset; its nodes are then reported as unsupported. */
    if (m->opset != 0 && (m->opset < OPSET_MIN || m->opset > OPSET_MAX))
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "unsupported: default-domain opset %" PRId64
                            " (supported: %d..%d)",
                            m->opset, OPSET_MIN, OPSET_MAX);

    return decode_graph(m, &r, &graph, err);
}
