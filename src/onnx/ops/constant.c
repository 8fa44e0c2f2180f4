/* Constant: a value from one attribute (value, value_float(s),
 * value_int(s)). The loader may fold Constant nodes into initializers; the
 * operator exists for graphs where it does not. Sparse and string values
 * are refused. */
#include <string.h>

#include "onnx/op.h"

static const char *const unsupported[] = {"sparse_value", "value_string",
                                          "value_strings"};

static const onnx_attr *value_attr(const onnx_node *n) {
    static const char *const names[] = {"value", "value_float", "value_floats",
                                        "value_int", "value_ints"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const onnx_attr *a = onnx_attr_find(n, names[i]);
        if (a)
            return a;
    }
    return NULL;
}

static int constant_init(onnx_node *n, kh_error *err) {
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (onnx_attr_find(n, unsupported[i]))
            return kh_error_set(err, KH_EUNSUPPORTED, "attribute '%s'",
                                unsupported[i]);
    const onnx_attr *a = value_attr(n);
    if (!a)
        return kh_error_set(err, KH_EINVAL, "no value attribute");
    switch (a->type) {
    case ONNX_ATTR_TENSOR:
        if (!a->t)
            return kh_error_set(err, KH_EINVAL, "value has no tensor");
        if (onnx_dtype_size(a->t->dtype) == 0)
            return kh_error_set(err, KH_EUNSUPPORTED, "%s value",
                                onnx_dtype_name(a->t->dtype));
        if (a->t->numel && !a->t->data)
            return kh_error_set(err, KH_EINVAL, "value tensor has no data");
        return KH_OK;
    case ONNX_ATTR_FLOAT:
    case ONNX_ATTR_INT:
    case ONNX_ATTR_FLOATS:
    case ONNX_ATTR_INTS: return KH_OK;
    default:
        return kh_error_set(err, KH_EINVAL,
                            "attribute '%s' has the wrong "
                            "type",
                            a->name);
    }
}

static int constant_reshape(onnx_node *n, kh_error *err) {
    const onnx_attr *a = value_attr(n);
    if (!a)
        return kh_error_set(err, KH_EINVAL, "no value attribute");
    int64_t count = (int64_t)a->count;
    switch (a->type) {
    case ONNX_ATTR_TENSOR:
        return onnx_tensor_reshape(n->outputs[0], a->t->dtype, a->t->rank,
                                   a->t->dims, err);
    case ONNX_ATTR_FLOAT:
        return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, 0, NULL, err);
    case ONNX_ATTR_INT:
        return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 0, NULL, err);
    case ONNX_ATTR_FLOATS:
        return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, 1, &count, err);
    case ONNX_ATTR_INTS:
        return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, 1, &count, err);
    default:
        return kh_error_set(err, KH_EINVAL,
                            "attribute '%s' has the wrong "
                            "type",
                            a->name);
    }
}

static int constant_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    const onnx_attr *a = value_attr(n);
    onnx_tensor *y = n->outputs[0];
    if (!a)
        return kh_error_set(err, KH_EINVAL, "no value attribute");
    if (y->numel == 0)
        return KH_OK;
    size_t bytes = y->numel * onnx_dtype_size(y->dtype);
    switch (a->type) {
    case ONNX_ATTR_TENSOR: memcpy(y->data, a->t->data, bytes); break;
    case ONNX_ATTR_FLOAT: memcpy(y->data, &a->f, sizeof a->f); break;
    case ONNX_ATTR_INT: memcpy(y->data, &a->i, sizeof a->i); break;
    case ONNX_ATTR_FLOATS: memcpy(y->data, a->floats, bytes); break;
    case ONNX_ATTR_INTS: memcpy(y->data, a->ints, bytes); break;
    default: break;
    }
    return KH_OK;
}

const onnx_operator onnx_op_Constant = {
    .op_type = "Constant",
    .min_opset = 1,
    .init = constant_init,
    .reshape = constant_reshape,
    .run = constant_run,
};
