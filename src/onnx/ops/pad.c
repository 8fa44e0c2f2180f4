/* Pad: modes constant, reflect, edge and wrap. Pads are an attribute
 * (`pads`, with `value`) before opset 11 and inputs (pads, constant_value,
 * axes from opset 18) after. Negative pads crop.
 *
 * Each output coordinate maps to an input coordinate per axis (or to "the
 * constant"); the maps are built once per run in scratch, then rows are
 * copied through them. */
#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/cast.h"
#include "onnx/kernels/copy.h"

typedef enum pad_mode {
    PAD_CONSTANT,
    PAD_REFLECT,
    PAD_EDGE,
    PAD_WRAP
} pad_mode;

static int pad_mode_read(const onnx_node *n, pad_mode *mode, kh_error *err) {
    const char *m = onnx_attr_string(n, "mode", "constant");
    if (strcmp(m, "constant") == 0)
        *mode = PAD_CONSTANT;
    else if (strcmp(m, "reflect") == 0)
        *mode = PAD_REFLECT;
    else if (strcmp(m, "edge") == 0)
        *mode = PAD_EDGE;
    else if (strcmp(m, "wrap") == 0)
        *mode = PAD_WRAP;
    else
        return kh_error_set(err, KH_EUNSUPPORTED, "mode '%s'", m);
    return KH_OK;
}

static int pad_init(onnx_node *n, kh_error *err) {
    pad_mode mode;
    return pad_mode_read(n, &mode, err);
}

/* Per-axis begin/end pads of x (rank entries each). */
static int pad_amounts(const onnx_node *n, const onnx_tensor *x,
                       onnx_read_when when, int64_t *begin, int64_t *end,
                       kh_error *err) {
    int64_t pads[2 * ONNX_MAX_RANK], axes[ONNX_MAX_RANK];
    size_t count, n_axes = 0;
    bool present;
    int rc = onnx_ints_from_input_or_attr(
        n, 1, "pads", when, pads, 2 * ONNX_MAX_RANK, &count, &present, err);
    if (rc)
        return rc;
    if (!present)
        return kh_error_set(err, KH_EINVAL, "pads are required");
    const onnx_tensor *axes_t = onnx_node_input(n, 3);
    if (axes_t) {
        rc = onnx_read_ints(axes_t, "axes", when, axes, ONNX_MAX_RANK, &n_axes,
                            err);
        if (rc)
            return rc;
        bool mask[ONNX_MAX_RANK];
        rc = onnx_axes_normalize(axes, n_axes, x->rank, mask, err);
        if (rc)
            return rc;
    } else {
        n_axes = (size_t)x->rank;
        for (size_t i = 0; i < n_axes; i++)
            axes[i] = (int64_t)i;
    }
    if (count != 2 * n_axes)
        return kh_error_set(err, KH_ESHAPE,
                            "%zu pads for %zu axes (expected %zu)", count,
                            n_axes, 2 * n_axes);
    for (int i = 0; i < x->rank; i++)
        begin[i] = end[i] = 0;
    for (size_t i = 0; i < n_axes; i++) {
        begin[axes[i]] = pads[i];
        end[axes[i]] = pads[i + n_axes];
    }
    return KH_OK;
}

static int pad_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    pad_mode mode;
    int rc = pad_mode_read(n, &mode, err);
    if (rc)
        return rc;
    int64_t begin[ONNX_MAX_RANK], end[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    rc = pad_amounts(n, x, ONNX_AT_PLAN, begin, end, err);
    if (rc)
        return rc;
    const onnx_tensor *value = onnx_node_input(n, 2);
    if (value && value->dtype != x->dtype)
        return kh_error_set(err, KH_ETYPE, "constant_value is %s, input is %s",
                            onnx_dtype_name(value->dtype),
                            onnx_dtype_name(x->dtype));
    if (value && value->numel > 1)
        return kh_error_set(err, KH_ESHAPE, "constant_value must be a scalar");
    size_t map_entries = 0;
    for (int i = 0; i < x->rank; i++) {
        int64_t d;
        if (__builtin_add_overflow(x->dims[i], begin[i], &d) ||
            __builtin_add_overflow(d, end[i], &d) || d < 0)
            return kh_error_set(err, KH_ESHAPE,
                                "axis %d: size %" PRId64 " with pads %" PRId64
                                " and %" PRId64 " is negative or too large",
                                i, x->dims[i], begin[i], end[i]);
        if (mode != PAD_CONSTANT && x->dims[i] == 0 && d > 0)
            return kh_error_set(err, KH_ESHAPE, "cannot %s-pad empty axis %d",
                                mode == PAD_EDGE      ? "edge"
                                : mode == PAD_REFLECT ? "reflect"
                                                      : "wrap",
                                i);
        dims[i] = d;
        map_entries += (size_t)d;
    }
    rc = onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, dims, err);
    if (rc)
        return rc;
    if (map_entries > SIZE_MAX / sizeof(int64_t))
        return kh_error_set(err, KH_ELIMIT, "output too large");
    n->scratch_bytes = map_entries * sizeof(int64_t);
    return KH_OK;
}

/* Source coordinate of output coordinate o on an axis, -1 for constant. */
static int64_t pad_source(pad_mode mode, int64_t o, int64_t begin,
                          int64_t dim) {
    int64_t i = o - begin;
    if (i >= 0 && i < dim)
        return i;
    switch (mode) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return i < 0 ? 0 : dim - 1;
    case PAD_WRAP: return ((i % dim) + dim) % dim;
    case PAD_REFLECT: {
        if (dim == 1)
            return 0;
        /* Reflection without repeating the edge has period 2(dim-1). */
        int64_t period = 2 * (dim - 1);
        int64_t r = ((i % period) + period) % period;
        return r < dim ? r : period - r;
    }
    }
    return -1;
}

#define PAD_ROW(T)                                                             \
    do {                                                                       \
        T *d = (T *)(void *)dst;                                               \
        const T *s = (const T *)(const void *)src;                             \
        T v;                                                                   \
        memcpy(&v, value, sizeof v);                                           \
        for (int64_t o = 0; o < cols; o++)                                     \
            d[o] = map[o] < 0 ? v : s[map[o]];                                 \
    } while (0)

static int pad_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    pad_mode mode;
    int64_t begin[ONNX_MAX_RANK], end[ONNX_MAX_RANK];
    int rc = pad_mode_read(n, &mode, err);
    if (rc || (rc = pad_amounts(n, x, ONNX_AT_RUN, begin, end, err)))
        return rc;
    const size_t esize = onnx_dtype_size(x->dtype);
    unsigned char value[8] = {0};
    const onnx_tensor *value_t = onnx_node_input(n, 2);
    if (value_t && value_t->numel) {
        memcpy(value, value_t->data, esize);
    } else if (!value_t) { /* opset < 11: a float attribute */
        float v = onnx_attr_float(n, "value", 0.0f);
        rc = onnx_cast(NULL, value, x->dtype, &v, ONNX_FLOAT, 1, err);
        if (rc)
            return rc;
    }
    if (x->rank == 0) {
        memcpy(y->data, x->data, esize);
        return KH_OK;
    }
    /* maps[axis] lists the source coordinate of each output coordinate. */
    int64_t *maps[ONNX_MAX_RANK];
    int64_t *next = ex->scratch;
    for (int a = 0; a < x->rank; a++) {
        maps[a] = next;
        for (int64_t o = 0; o < y->dims[a]; o++)
            maps[a][o] = pad_source(mode, o, begin[a], x->dims[a]);
        next += y->dims[a];
    }
    int64_t in_strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(x->rank, x->dims, in_strides);
    const int last = x->rank - 1;
    const int64_t cols = y->dims[last];
    const size_t rows = y->numel / (size_t)cols;
    const int64_t *map = maps[last];
    int64_t idx[ONNX_MAX_RANK] = {0};
    unsigned char *dst = y->data;
    for (size_t r = 0; r < rows; r++, dst += (size_t)cols * esize) {
        int64_t src_off = 0;
        bool constant_row = false;
        for (int a = 0; a < last; a++) {
            int64_t s = maps[a][idx[a]];
            if (s < 0) {
                constant_row = true;
                break;
            }
            src_off += s * in_strides[a];
        }
        if (constant_row) {
            onnx_fill(dst, value, esize, (size_t)cols);
        } else {
            const unsigned char *src =
                (const unsigned char *)x->data + (size_t)src_off * esize;
            switch (esize) {
            case 1: PAD_ROW(uint8_t); break;
            case 2: PAD_ROW(uint16_t); break;
            case 4: PAD_ROW(uint32_t); break;
            default: PAD_ROW(uint64_t); break;
            }
        }
        for (int a = last - 1; a >= 0; a--) {
            if (++idx[a] < y->dims[a])
                break;
            idx[a] = 0;
        }
    }
    return KH_OK;
}

const onnx_operator onnx_op_Pad = {
    .op_type = "Pad",
    .min_opset = 2,
    .init = pad_init,
    .reshape = pad_reshape,
    .run = pad_run,
};
