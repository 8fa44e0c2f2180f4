/* tensor.c - element types and the tensor helpers operators use (op.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "onnx/op.h"

size_t onnx_dtype_size(onnx_dtype t) {
    switch (t) {
    case ONNX_FLOAT:
    case ONNX_INT32:
        return 4;
    case ONNX_INT64:
        return 8;
    case ONNX_UINT8:
    case ONNX_INT8:
    case ONNX_BOOL:
        return 1;
    default:
        return 0; /* types the engine does not hold */
    }
}

const char *onnx_dtype_name(onnx_dtype t) {
    switch (t) {
    case ONNX_UNDEFINED: return "undefined";
    case ONNX_FLOAT: return "float";
    case ONNX_UINT8: return "uint8";
    case ONNX_INT8: return "int8";
    case ONNX_UINT16: return "uint16";
    case ONNX_INT16: return "int16";
    case ONNX_INT32: return "int32";
    case ONNX_INT64: return "int64";
    case ONNX_STRING: return "string";
    case ONNX_BOOL: return "bool";
    case ONNX_FLOAT16: return "float16";
    case ONNX_DOUBLE: return "double";
    case ONNX_UINT32: return "uint32";
    case ONNX_UINT64: return "uint64";
    case ONNX_COMPLEX64: return "complex64";
    case ONNX_COMPLEX128: return "complex128";
    case ONNX_BFLOAT16: return "bfloat16";
    }
    return "unknown type";
}

int onnx_tensor_reshape(onnx_tensor *t, onnx_dtype dtype, int rank,
                        const int64_t *dims, kh_error *err) {
    if (!t)
        return kh_error_set(err, KH_EINVAL, "output left out of the node");
    size_t esize = onnx_dtype_size(dtype);
    if (esize == 0)
        return kh_error_set(err, KH_EUNSUPPORTED, "tensor '%s': type %s",
                            t->name ? t->name : "?", onnx_dtype_name(dtype));
    if (rank < 0 || rank > ONNX_MAX_RANK)
        return kh_error_set(err, KH_ESHAPE,
                            "tensor '%s': rank %d is outside 0..%d",
                            t->name ? t->name : "?", rank, ONNX_MAX_RANK);
    size_t numel = 1;
    /* Bytes, not elements, must fit: the arena holds numel * esize. */
    size_t limit = SIZE_MAX / esize;
    if (limit > (size_t)INT64_MAX)
        limit = (size_t)INT64_MAX;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return kh_error_set(err, KH_ESHAPE,
                                "tensor '%s': dimension %d is negative "
                                "(%" PRId64 ")",
                                t->name ? t->name : "?", i, dims[i]);
        if (dims[i] != 0 && numel > limit / (uint64_t)dims[i])
            return kh_error_set(err, KH_ELIMIT,
                                "tensor '%s': element count overflows",
                                t->name ? t->name : "?");
        numel *= (size_t)dims[i];
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    for (int i = rank; i < ONNX_MAX_RANK; i++)
        t->dims[i] = 0;
    t->numel = numel;
    return KH_OK;
}

bool onnx_tensor_value_known(const onnx_tensor *t) {
    return t && t->data != NULL && t->rank >= 0 &&
           (t->flags & (ONNX_TENSOR_CONST | ONNX_TENSOR_FOLDED |
                        ONNX_TENSOR_RUNTIME)) != 0;
}

int64_t onnx_tensor_get_i64(const onnx_tensor *t, size_t i) {
    if (!t || !t->data || i >= t->numel)
        return 0;
    switch (t->dtype) {
    case ONNX_INT64: return ((const int64_t *)t->data)[i];
    case ONNX_INT32: return ((const int32_t *)t->data)[i];
    case ONNX_UINT8: return ((const uint8_t *)t->data)[i];
    case ONNX_INT8: return ((const int8_t *)t->data)[i];
    case ONNX_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    case ONNX_FLOAT: {
        float f = ((const float *)t->data)[i];
        /* Out-of-range float to integer conversion is undefined: clamp. */
        if (f != f)
            return 0;
        if (f >= 9.2233720368547758e18f)
            return INT64_MAX;
        if (f <= -9.2233720368547758e18f)
            return INT64_MIN;
        return (int64_t)f;
    }
    default: return 0;
    }
}

double onnx_tensor_get_f64(const onnx_tensor *t, size_t i) {
    if (!t || !t->data || i >= t->numel)
        return 0;
    if (t->dtype == ONNX_FLOAT)
        return ((const float *)t->data)[i];
    return (double)onnx_tensor_get_i64(t, i);
}

const char *onnx_shape_str(const onnx_tensor *t, char *buf, size_t len) {
    if (!buf || len == 0)
        return "";
    if (!t || t->rank < 0) {
        snprintf(buf, len, "[?]");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    int n = snprintf(buf, len, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < t->rank && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%" PRId64, i ? "," : "",
                     t->dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* ---- attributes ---- */

const onnx_attr *onnx_attr_find(const onnx_node *n, const char *name) {
    if (!n || !name)
        return NULL;
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t onnx_attr_int(const onnx_node *n, const char *name, int64_t def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a && a->type == ONNX_ATTR_INT ? a->i : def;
}

float onnx_attr_float(const onnx_node *n, const char *name, float def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a && a->type == ONNX_ATTR_FLOAT ? a->f : def;
}

const char *onnx_attr_string(const onnx_node *n, const char *name,
                             const char *def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a && a->type == ONNX_ATTR_STRING && a->s ? a->s : def;
}

size_t onnx_attr_ints(const onnx_node *n, const char *name,
                      const int64_t **vals) {
    const onnx_attr *a = onnx_attr_find(n, name);
    if (!a || a->type != ONNX_ATTR_INTS) {
        if (vals)
            *vals = NULL;
        return 0;
    }
    if (vals)
        *vals = a->ints;
    return a->count;
}

size_t onnx_attr_floats(const onnx_node *n, const char *name,
                        const float **vals) {
    const onnx_attr *a = onnx_attr_find(n, name);
    if (!a || a->type != ONNX_ATTR_FLOATS) {
        if (vals)
            *vals = NULL;
        return 0;
    }
    if (vals)
        *vals = a->floats;
    return a->count;
}
