/* Range(start, limit, delta): max(ceil((limit - start) / delta), 0)
 * elements start + i * delta, for float, int32 and int64 scalars. The count
 * depends on the values, so they must be known when planning (or the
 * engine plans this node at run time). */
#include <inttypes.h>
#include <math.h>

#include "onnx/kernels/axes.h"

static int range_count(const onnx_node *n, int64_t *count, kh_error *err) {
    const onnx_tensor *s = onnx_node_input(n, 0), *l = onnx_node_input(n, 1),
                      *d = onnx_node_input(n, 2);
    if (!s || !l || !d)
        return kh_error_set(err, KH_EINVAL,
                            "start, limit and delta are "
                            "required");
    if (s->dtype != l->dtype || s->dtype != d->dtype)
        return kh_error_set(err, KH_ETYPE,
                            "start, limit and delta types "
                            "differ (%s, %s, %s)",
                            onnx_dtype_name(s->dtype),
                            onnx_dtype_name(l->dtype),
                            onnx_dtype_name(d->dtype));
    if (s->dtype != ONNX_FLOAT && s->dtype != ONNX_INT32 &&
        s->dtype != ONNX_INT64)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(s->dtype));
    int rc;
    if (s->dtype == ONNX_FLOAT) {
        double start, limit, delta;
        if ((rc =
                 onnx_read_scalar_f64(s, "start", ONNX_AT_PLAN, &start, err)) ||
            (rc =
                 onnx_read_scalar_f64(l, "limit", ONNX_AT_PLAN, &limit, err)) ||
            (rc = onnx_read_scalar_f64(d, "delta", ONNX_AT_PLAN, &delta, err)))
            return rc;
        if (delta == 0 || delta != delta)
            return kh_error_set(err, KH_EINVAL, "delta must not be 0 or NaN");
        /* In float, as the reference computes it. */
        double c = ceil((double)(((float)limit - (float)start) / (float)delta));
        if (!(c < 9.2e18))
            return kh_error_set(err, KH_ELIMIT, "range of %g elements", c);
        *count = c > 0 ? (int64_t)c : 0;
        return KH_OK;
    }
    int64_t start, limit, delta;
    if ((rc = onnx_read_scalar_i64(s, "start", ONNX_AT_PLAN, &start, err)) ||
        (rc = onnx_read_scalar_i64(l, "limit", ONNX_AT_PLAN, &limit, err)) ||
        (rc = onnx_read_scalar_i64(d, "delta", ONNX_AT_PLAN, &delta, err)))
        return rc;
    if (delta == 0)
        return kh_error_set(err, KH_EINVAL, "delta must not be 0");
    /* 128-bit so that extreme int64 bounds cannot overflow. */
    __int128 span = (__int128)limit - start;
    __int128 c = 0;
    if (delta > 0 && span > 0)
        c = (span + delta - 1) / delta;
    else if (delta < 0 && span < 0)
        c = (-span + (-(__int128)delta) - 1) / -(__int128)delta;
    if (c > INT64_MAX)
        return kh_error_set(err, KH_ELIMIT, "range too long");
    *count = (int64_t)c;
    return KH_OK;
}

static int range_reshape(onnx_node *n, kh_error *err) {
    int64_t count;
    int rc = range_count(n, &count, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], n->inputs[0]->dtype, 1, &count,
                               err);
}

static int range_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)ex;
    (void)err;
    onnx_tensor *y = n->outputs[0];
    const size_t count = y->numel;
    switch (y->dtype) {
    case ONNX_FLOAT: {
        float start = (float)onnx_tensor_get_f64(n->inputs[0], 0);
        float delta = (float)onnx_tensor_get_f64(n->inputs[2], 0);
        float *o = y->data;
        for (size_t i = 0; i < count; i++)
            o[i] = start + (float)i * delta;
        break;
    }
    case ONNX_INT32:
    case ONNX_INT64: {
        /* Every value lies between start and limit: no overflow. */
        int64_t start = onnx_tensor_get_i64(n->inputs[0], 0);
        int64_t delta = onnx_tensor_get_i64(n->inputs[2], 0);
        for (size_t i = 0; i < count; i++) {
            int64_t v =
                (int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)delta);
            if (y->dtype == ONNX_INT32)
                ((int32_t *)y->data)[i] = (int32_t)v;
            else
                ((int64_t *)y->data)[i] = v;
        }
        break;
    }
    default: break;
    }
    return KH_OK;
}

const onnx_operator onnx_op_Range = {
    .op_type = "Range",
    .min_opset = 11,
    .reshape = range_reshape,
    .run = range_run,
};
