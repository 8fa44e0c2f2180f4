/* scatter.c - shared scatter code. */
#include "onnx/kernels/scatter.h"

#include <inttypes.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"

int onnx_scatter_reduction_read(const onnx_node *n, onnx_scatter_reduction *out,
                                kh_error *err) {
    static const struct {
        const char *name;
        onnx_scatter_reduction r;
    } names[] = {{"none", ONNX_SCATTER_NONE},
                 {"add", ONNX_SCATTER_ADD},
                 {"mul", ONNX_SCATTER_MUL},
                 {"max", ONNX_SCATTER_MAX},
                 {"min", ONNX_SCATTER_MIN}};
    const char *s = onnx_attr_string(n, "reduction", "none");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].r;
            return KH_OK;
        }
    return kh_error_set(err, KH_EUNSUPPORTED, "reduction '%s'", s);
}

/* Integer add/mul wrap rather than overflow. */
#define COMBINE(T, ADD, MUL)                                                   \
    do {                                                                       \
        T *d = dst;                                                            \
        const T *s = src;                                                      \
        for (size_t i = 0; i < n; i++) {                                       \
            T a = d[i], b = s[i];                                              \
            switch (r) {                                                       \
            case ONNX_SCATTER_ADD: d[i] = ADD; break;                          \
            case ONNX_SCATTER_MUL: d[i] = MUL; break;                          \
            case ONNX_SCATTER_MAX: d[i] = b > a ? b : a; break;                \
            case ONNX_SCATTER_MIN: d[i] = b < a ? b : a; break;                \
            default: d[i] = b; break;                                          \
            }                                                                  \
        }                                                                      \
    } while (0)
#define WRAP(T, OP) ((T)((uint64_t)a OP(uint64_t) b))

void onnx_scatter_combine(void *dst, const void *src, onnx_dtype t, size_t n,
                          onnx_scatter_reduction r) {
    if (r == ONNX_SCATTER_NONE) {
        memcpy(dst, src, n * onnx_dtype_size(t));
        return;
    }
    switch (t) {
    case ONNX_FLOAT: COMBINE(float, a + b, a * b); break;
    case ONNX_INT32:
        COMBINE(int32_t, WRAP(int32_t, +), WRAP(int32_t, *));
        break;
    case ONNX_INT64:
        COMBINE(int64_t, WRAP(int64_t, +), WRAP(int64_t, *));
        break;
    case ONNX_UINT8:
        COMBINE(uint8_t, WRAP(uint8_t, +), WRAP(uint8_t, *));
        break;
    case ONNX_INT8: COMBINE(int8_t, WRAP(int8_t, +), WRAP(int8_t, *)); break;
    case ONNX_BOOL: COMBINE(uint8_t, a | b, a & b); break;
    default: break;
    }
}

int onnx_scatter_elements_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0), *idx = onnx_node_input(n, 1),
                      *upd = onnx_node_input(n, 2);
    if (!x || !idx || !upd)
        return kh_error_set(err, KH_EINVAL,
                            "data, indices and updates are "
                            "required");
    if (idx->dtype != ONNX_INT64 && idx->dtype != ONNX_INT32)
        return kh_error_set(err, KH_ETYPE,
                            "indices must be int32 or int64, "
                            "got %s",
                            onnx_dtype_name(idx->dtype));
    if (upd->dtype != x->dtype)
        return kh_error_set(err, KH_ETYPE, "updates are %s, data is %s",
                            onnx_dtype_name(upd->dtype),
                            onnx_dtype_name(x->dtype));
    onnx_scatter_reduction r;
    int rc = onnx_scatter_reduction_read(n, &r, err);
    if (rc)
        return rc;
    int64_t axis;
    if ((rc = onnx_axis_normalize(onnx_attr_int(n, "axis", 0), x->rank, "axis",
                                  &axis, err)))
        return rc;
    char si[160], su[160], sx[160];
    bool same = idx->rank == upd->rank && idx->rank == x->rank;
    for (int d = 0; same && d < idx->rank; d++)
        same = idx->dims[d] == upd->dims[d] &&
               (d == axis || idx->dims[d] <= x->dims[d]);
    if (!same)
        return kh_error_set(err, KH_ESHAPE,
                            "indices %s and updates %s must match and fit "
                            "data %s",
                            onnx_shape_str(idx, si, sizeof si),
                            onnx_shape_str(upd, su, sizeof su),
                            onnx_shape_str(x, sx, sizeof sx));
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

/* Walks indices in row-major order, calling back with the flat data offset
 * each one targets. Returns KH_ERANGE (nothing written when `check`). */
static int scatter_walk(const onnx_tensor *x, const onnx_tensor *idx,
                        int64_t axis, bool check, const onnx_tensor *upd,
                        onnx_tensor *y, onnx_scatter_reduction r,
                        kh_error *err) {
    int64_t strides[ONNX_MAX_RANK], coord[ONNX_MAX_RANK] = {0};
    onnx_contiguous_strides(x->rank, x->dims, strides);
    const size_t esize = onnx_dtype_size(x->dtype);
    const int64_t dim = x->dims[axis];
    for (size_t i = 0; i < idx->numel; i++) {
        int64_t j = onnx_tensor_get_i64(idx, i);
        if (j < -dim || j >= dim)
            return kh_error_set(err, KH_ERANGE,
                                "index %" PRId64 " (at %zu) is out of range "
                                "for axis %" PRId64 " of size %" PRId64,
                                j, i, axis, dim);
        if (j < 0)
            j += dim;
        if (!check) {
            int64_t off = 0;
            for (int d = 0; d < x->rank; d++)
                off += (d == axis ? j : coord[d]) * strides[d];
            onnx_scatter_combine((unsigned char *)y->data + (size_t)off * esize,
                                 (const unsigned char *)upd->data + i * esize,
                                 x->dtype, 1, r);
        }
        for (int d = idx->rank - 1; d >= 0; d--) {
            if (++coord[d] < idx->dims[d])
                break;
            coord[d] = 0;
        }
    }
    return KH_OK;
}

int onnx_scatter_elements_run(onnx_node *n, const onnx_exec *ex,
                              kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0], *idx = n->inputs[1],
                      *upd = n->inputs[2];
    onnx_tensor *y = n->outputs[0];
    onnx_scatter_reduction r;
    int rc = onnx_scatter_reduction_read(n, &r, err);
    if (rc)
        return rc;
    int64_t axis = onnx_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    if ((rc = scatter_walk(x, idx, axis, true, upd, y, r, err)))
        return rc;
    if (x->numel)
        memcpy(y->data, x->data, x->numel * onnx_dtype_size(x->dtype));
    return scatter_walk(x, idx, axis, false, upd, y, r, err);
}
