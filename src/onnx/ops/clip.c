/* Clip to [min, max]: attributes before opset 11, optional scalar inputs
 * from 11 (absent means unbounded). float and integer types. */
#include <math.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"
#include "onnx/kernels/unary.h"

typedef struct clip_bounds {
    double lo, hi;
} clip_bounds;

static int clip_bounds_read(const onnx_node *n, onnx_read_when when,
                            clip_bounds *b, kh_error *err) {
    b->lo = -INFINITY;
    b->hi = INFINITY;
    const onnx_tensor *x = n->inputs[0];
    if (n->n_inputs > 1 || (n->opset >= 11)) {
        const onnx_tensor *lo = onnx_node_input(n, 1);
        const onnx_tensor *hi = onnx_node_input(n, 2);
        int rc;
        if (lo && lo->dtype != x->dtype)
            return kh_error_set(err, KH_ETYPE, "min is %s, input is %s",
                                onnx_dtype_name(lo->dtype),
                                onnx_dtype_name(x->dtype));
        if (hi && hi->dtype != x->dtype)
            return kh_error_set(err, KH_ETYPE, "max is %s, input is %s",
                                onnx_dtype_name(hi->dtype),
                                onnx_dtype_name(x->dtype));
        /* An empty tensor stands for an omitted bound. */
        if (lo && lo->numel &&
            (rc = onnx_read_scalar_f64(lo, "min", when, &b->lo, err)))
            return rc;
        if (hi && hi->numel &&
            (rc = onnx_read_scalar_f64(hi, "max", when, &b->hi, err)))
            return rc;
        if (x->dtype == ONNX_INT64) { /* exact for 64-bit bounds */
            if (lo && lo->numel)
                b->lo = (double)onnx_tensor_get_i64(lo, 0);
            if (hi && hi->numel)
                b->hi = (double)onnx_tensor_get_i64(hi, 0);
        }
    } else {
        b->lo = onnx_attr_float(n, "min", -INFINITY);
        b->hi = onnx_attr_float(n, "max", INFINITY);
    }
    return KH_OK;
}

static int clip_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    switch (x->dtype) {
    case ONNX_FLOAT:
    case ONNX_INT32:
    case ONNX_INT64:
    case ONNX_UINT8:
    case ONNX_INT8: break;
    default:
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    }
    clip_bounds b;
    int rc = clip_bounds_read(n, ONNX_AT_PLAN, &b, err);
    if (rc && rc != KH_EDYNAMIC) /* bounds are only needed by run */
        return rc;
    return onnx_tensor_reshape(n->outputs[0], x->dtype, x->rank, x->dims, err);
}

typedef struct clip_job {
    onnx_dtype type;
    void *out;
    const void *in;
    clip_bounds b;
    int64_t ilo, ihi;
} clip_job;

#define CLIP_INT(T)                                                            \
    do {                                                                       \
        T *o = (T *)j->out;                                                    \
        const T *x = (const T *)j->in;                                         \
        for (size_t i = begin; i < end; i++) {                                 \
            int64_t v = x[i];                                                  \
            o[i] = (T)(v < j->ilo ? j->ilo : v > j->ihi ? j->ihi : v);         \
        }                                                                      \
    } while (0)

static void clip_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const clip_job *j = arg;
    switch (j->type) {
    case ONNX_FLOAT: {
        /* unary.c is built to vectorise (src/onnx/CMakeLists.txt). */
        onnx_clip_floats((float *)j->out + begin, (const float *)j->in + begin, end - begin,
                         (float)j->b.lo, (float)j->b.hi);
        break;
    }
    case ONNX_INT32: CLIP_INT(int32_t); break;
    case ONNX_INT64: CLIP_INT(int64_t); break;
    case ONNX_UINT8: CLIP_INT(uint8_t); break;
    case ONNX_INT8: CLIP_INT(int8_t); break;
    default: break;
    }
}

static int64_t bound_to_i64(double v) {
    if (v != v)
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}

static int clip_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    clip_job job = {
        .type = x->dtype, .out = n->outputs[0]->data, .in = x->data};
    int rc = clip_bounds_read(n, ONNX_AT_RUN, &job.b, err);
    if (rc)
        return rc;
    job.ilo = bound_to_i64(job.b.lo);
    job.ihi = bound_to_i64(job.b.hi);
    onnx_parallel_range(ex, x->numel, ONNX_PARALLEL_GRAIN, clip_task, &job);
    return KH_OK;
}

const onnx_operator onnx_op_Clip = {
    .op_type = "Clip",
    .min_opset = 6,
    .reshape = clip_reshape,
    .run = clip_run,
};
