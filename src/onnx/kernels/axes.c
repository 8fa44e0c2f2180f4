/* axes.c - axes and small integer lists from attributes or inputs. */
#include "onnx/kernels/axes.h"

#include <inttypes.h>
#include <string.h>

int onnx_axis_normalize(int64_t axis, int rank, const char *what, int64_t *out,
                        kh_error *err) {
    if (axis < -(int64_t)rank || axis >= (int64_t)rank)
        return kh_error_set(err, KH_ERANGE,
                            "%s %" PRId64 " is out of range for rank %d "
                            "(expected %d..%d)",
                            what, axis, rank, -rank, rank - 1);
    *out = axis < 0 ? axis + rank : axis;
    return KH_OK;
}

int onnx_axes_normalize(int64_t *axes, size_t n, int rank, bool *mask,
                        kh_error *err) {
    for (int i = 0; i < rank; i++)
        mask[i] = false;
    for (size_t i = 0; i < n; i++) {
        int rc = onnx_axis_normalize(axes[i], rank, "axis", &axes[i], err);
        if (rc)
            return rc;
        if (mask[axes[i]])
            return kh_error_set(err, KH_EINVAL,
                                "axis %" PRId64 " is given twice", axes[i]);
        mask[axes[i]] = true;
    }
    return KH_OK;
}

bool onnx_dtype_is_integer(onnx_dtype t) {
    switch (t) {
    case ONNX_UINT8:
    case ONNX_INT8:
    case ONNX_UINT16:
    case ONNX_INT16:
    case ONNX_INT32:
    case ONNX_INT64:
    case ONNX_UINT32:
    case ONNX_UINT64: return true;
    default: return false;
    }
}

bool onnx_dtype_is_supported(onnx_dtype t) { return onnx_dtype_size(t) != 0; }

int onnx_read_ints(const onnx_tensor *t, const char *what, onnx_read_when when,
                   int64_t *out, size_t cap, size_t *count, kh_error *err) {
    if (!onnx_dtype_is_integer(t->dtype))
        return kh_error_set(err, KH_ETYPE,
                            "%s must be an integer tensor, "
                            "got %s",
                            what, onnx_dtype_name(t->dtype));
    if (t->rank > 1)
        return kh_error_set(err, KH_ESHAPE, "%s must be 1-D, got rank %d", what,
                            t->rank);
    if (when == ONNX_AT_PLAN && !onnx_tensor_value_known(t) && t->numel != 0)
        return kh_error_set(err, KH_EDYNAMIC, "%s is not known before run",
                            what);
    if (t->numel > cap)
        return kh_error_set(err, KH_ELIMIT,
                            "%s has %zu values, at most %zu "
                            "allowed",
                            what, t->numel, cap);
    for (size_t i = 0; i < t->numel; i++)
        out[i] = onnx_tensor_get_i64(t, i);
    *count = t->numel;
    return KH_OK;
}

int onnx_ints_from_input_or_attr(const onnx_node *n, size_t input_index,
                                 const char *attr, onnx_read_when when,
                                 int64_t *out, size_t cap, size_t *count,
                                 bool *present, kh_error *err) {
    const onnx_tensor *t = onnx_node_input(n, input_index);
    *count = 0;
    if (t) {
        *present = true;
        return onnx_read_ints(t, attr, when, out, cap, count, err);
    }
    const onnx_attr *a = attr ? onnx_attr_find(n, attr) : NULL;
    if (!a) {
        *present = false;
        return KH_OK;
    }
    *present = true;
    if (a->type == ONNX_ATTR_INT) {
        out[0] = a->i;
        *count = 1;
        return KH_OK;
    }
    if (a->type != ONNX_ATTR_INTS)
        return kh_error_set(err, KH_EINVAL, "attribute '%s' must be ints",
                            attr);
    if (a->count > cap)
        return kh_error_set(err, KH_ELIMIT,
                            "attribute '%s' has %zu values, "
                            "at most %zu allowed",
                            attr, a->count, cap);
    if (a->count)
        memcpy(out, a->ints, a->count * sizeof *out);
    *count = a->count;
    return KH_OK;
}

static int scalar_check(const onnx_tensor *t, const char *what,
                        onnx_read_when when, kh_error *err) {
    if (t->numel != 1) {
        char s[160];
        return kh_error_set(err, KH_ESHAPE,
                            "%s must have one element, got "
                            "shape %s",
                            what, onnx_shape_str(t, s, sizeof s));
    }
    if (when == ONNX_AT_PLAN && !onnx_tensor_value_known(t))
        return kh_error_set(err, KH_EDYNAMIC, "%s is not known before run",
                            what);
    return KH_OK;
}

int onnx_read_scalar_f64(const onnx_tensor *t, const char *what,
                         onnx_read_when when, double *out, kh_error *err) {
    int rc = scalar_check(t, what, when, err);
    if (rc)
        return rc;
    *out = onnx_tensor_get_f64(t, 0);
    return KH_OK;
}

int onnx_read_scalar_i64(const onnx_tensor *t, const char *what,
                         onnx_read_when when, int64_t *out, kh_error *err) {
    int rc = scalar_check(t, what, when, err);
    if (rc)
        return rc;
    *out = onnx_tensor_get_i64(t, 0);
    return KH_OK;
}

size_t onnx_dims_product(const int64_t *dims, int begin, int end) {
    size_t p = 1;
    for (int i = begin; i < end; i++)
        p *= (size_t)dims[i];
    return p;
}
