/* reduce.c - Reduce* and ArgMax/ArgMin. */
#include "onnx/kernels/reduce.h"

#include <math.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/broadcast.h"

typedef struct reduce_plan {
    bool noop; /* empty axes with noop_with_empty_axes: a copy */
    bool mask[ONNX_MAX_RANK];
    int out_rank;
    int64_t out_dims[ONNX_MAX_RANK];
    size_t reduced; /* input elements per output element */
} reduce_plan;

static int reduce_plan_make(const onnx_node *n, const onnx_tensor *x,
                            onnx_read_when when, reduce_plan *p,
                            kh_error *err) {
    int64_t axes[ONNX_MAX_RANK];
    size_t count;
    bool present;
    int rc = onnx_ints_from_input_or_attr(n, 1, "axes", when, axes,
                                          ONNX_MAX_RANK, &count, &present, err);
    if (rc == KH_ELIMIT)
        return kh_error_set(err, KH_ESHAPE, "more axes than rank %d", x->rank);
    if (rc)
        return rc;
    const bool keepdims = onnx_attr_int(n, "keepdims", 1) != 0;
    p->noop = false;
    if (count == 0) {
        p->noop = onnx_attr_int(n, "noop_with_empty_axes", 0) != 0;
        for (int i = 0; i < x->rank; i++)
            p->mask[i] = !p->noop;
    } else {
        rc = onnx_axes_normalize(axes, count, x->rank, p->mask, err);
        if (rc)
            return rc;
    }
    p->out_rank = 0;
    p->reduced = 1;
    for (int i = 0; i < x->rank; i++) {
        if (p->mask[i]) {
            p->reduced *= (size_t)x->dims[i];
            if (keepdims)
                p->out_dims[p->out_rank++] = 1;
        } else {
            p->out_dims[p->out_rank++] = x->dims[i];
        }
    }
    return KH_OK;
}

static bool kind_supports(onnx_reduce_kind kind, onnx_dtype t) {
    switch (t) {
    case ONNX_FLOAT: return true;
    case ONNX_INT32:
    case ONNX_INT64:
    case ONNX_UINT8:
    case ONNX_INT8: return kind < ONNX_REDUCE_L2;
    /* ReduceMax/Min take bool from opset 20. */
    case ONNX_BOOL: return kind == ONNX_REDUCE_MAX || kind == ONNX_REDUCE_MIN;
    default: return false;
    }
}

int onnx_reduce_reshape(onnx_node *n, onnx_reduce_kind kind, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    if (!kind_supports(kind, x->dtype))
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(x->dtype));
    reduce_plan p;
    int rc = reduce_plan_make(n, x, ONNX_AT_PLAN, &p, err);
    if (rc)
        return rc;
    onnx_tensor *y = n->outputs[0];
    if (p.noop)
        return onnx_tensor_reshape(y, x->dtype, x->rank, x->dims, err);
    rc = onnx_tensor_reshape(y, x->dtype, p.out_rank, p.out_dims, err);
    /* LogSumExp keeps each output's maximum for the shifted second pass. */
    if (rc == KH_OK && kind == ONNX_REDUCE_LOG_SUM_EXP)
        n->scratch_bytes = y->numel * sizeof(float);
    return rc;
}

/* ---- float ---- */

static float float_identity(onnx_reduce_kind kind) {
    switch (kind) {
    case ONNX_REDUCE_MAX: return -INFINITY;
    case ONNX_REDUCE_MIN: return INFINITY;
    case ONNX_REDUCE_PROD: return 1.0f;
    default: return 0.0f;
    }
}

static float float_finish(onnx_reduce_kind kind, double acc, size_t count,
                          float shift) {
    switch (kind) {
    case ONNX_REDUCE_MEAN: return (float)(acc / (double)count);
    case ONNX_REDUCE_L2: return (float)sqrt(acc);
    case ONNX_REDUCE_LOG_SUM: return (float)log(acc);
    case ONNX_REDUCE_LOG_SUM_EXP: return (float)(log(acc) + shift);
    default: return (float)acc;
    }
}

/* A finite shift for exp(x - shift); -inf/+inf maxima would give NaN. */
static float lse_shift(float m) { return isfinite(m) ? m : 0.0f; }

/* NaN wins, as in numpy. */
static inline float fmax_nan(float a, float x) {
    return (x > a || x != x) ? x : a;
}
static inline float fmin_nan(float a, float x) {
    return (x < a || x != x) ? x : a;
}

/* Sums EXPR(x) over a block in eight float lanes, which vectorise, folded
 * into a double every 1024 elements so the rounding error stays that of a
 * short float sum. */
#define LANES 8
#define DEFINE_LANE_SUM(name, EXPR)                                            \
    static double name(const float *x, size_t len) {                           \
        double total = 0;                                                      \
        size_t i = 0;                                                          \
        while (len - i >= LANES) {                                             \
            float lane[LANES] = {0};                                           \
            size_t stop = len - i > 1024 ? i + 1024 : len - (len - i) % LANES; \
            for (; i < stop; i += LANES)                                       \
                for (int l = 0; l < LANES; l++)                                \
                    lane[l] += EXPR(x[i + l]);                                 \
            for (int l = 0; l < LANES; l++)                                    \
                total += lane[l];                                              \
        }                                                                      \
        for (; i < len; i++)                                                   \
            total += EXPR(x[i]);                                               \
        return total;                                                          \
    }
#define PLAIN(v) (v)
#define SQUARE(v) ((v) * (v))
DEFINE_LANE_SUM(lane_sum, PLAIN)
DEFINE_LANE_SUM(lane_sum_abs, fabsf)
DEFINE_LANE_SUM(lane_sum_square, SQUARE)

/* Reduces one contiguous block to its finished value. */
static float float_block(onnx_reduce_kind kind, const float *x, size_t len) {
    double acc = 0;
    float m;
    switch (kind) {
    case ONNX_REDUCE_SUM:
    case ONNX_REDUCE_MEAN:
    case ONNX_REDUCE_LOG_SUM: acc = lane_sum(x, len); break;
    case ONNX_REDUCE_L1: acc = lane_sum_abs(x, len); break;
    case ONNX_REDUCE_L2:
    case ONNX_REDUCE_SUM_SQUARE: acc = lane_sum_square(x, len); break;
    case ONNX_REDUCE_PROD:
        acc = 1;
        for (size_t i = 0; i < len; i++)
            acc *= x[i];
        break;
    case ONNX_REDUCE_MAX:
        m = -INFINITY;
        for (size_t i = 0; i < len; i++)
            m = fmax_nan(m, x[i]);
        return m;
    case ONNX_REDUCE_MIN:
        m = INFINITY;
        for (size_t i = 0; i < len; i++)
            m = fmin_nan(m, x[i]);
        return m;
    case ONNX_REDUCE_LOG_SUM_EXP:
        m = -INFINITY;
        for (size_t i = 0; i < len; i++)
            m = fmax_nan(m, x[i]);
        m = lse_shift(m);
        for (size_t i = 0; i < len; i++)
            acc += exp((double)x[i] - m);
        return float_finish(kind, acc, len, m);
    default: break;
    }
    return float_finish(kind, acc, len, 0);
}

typedef struct block_job {
    onnx_reduce_kind kind;
    float *out;
    const float *in;
    size_t len;
} block_job;

static void block_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const block_job *j = arg;
    for (size_t k = begin; k < end; k++)
        j->out[k] = float_block(j->kind, j->in + k * j->len, j->len);
}

/* Generic layout: one pass over the input; operand 0 the accumulator
 * (stride 0 on reduced axes), 1 the input, 2 the LogSumExp shifts. */
typedef struct accum_ctx {
    onnx_reduce_kind kind; /* MAX in LogSumExp's first pass */
    float *acc;
    const float *in;
    const float *shift;
    int64_t sa, si;
} accum_ctx;

#define ACCUMULATE(COMBINE)                                                    \
    do {                                                                       \
        if (c->sa == 0) {                                                      \
            float a = acc[0];                                                  \
            for (size_t i = 0; i < count; i++) {                               \
                float x = in[(int64_t)i * c->si];                              \
                a = COMBINE;                                                   \
            }                                                                  \
            acc[0] = a;                                                        \
        } else {                                                               \
            for (size_t i = 0; i < count; i++) {                               \
                float a = acc[(int64_t)i * c->sa];                             \
                float x = in[(int64_t)i * c->si];                              \
                acc[(int64_t)i * c->sa] = COMBINE;                             \
            }                                                                  \
        }                                                                      \
    } while (0)

static void accum_row(void *ctx, const int64_t *off, size_t count) {
    const accum_ctx *c = ctx;
    float *acc = c->acc + off[0];
    const float *in = c->in + off[1];
    switch (c->kind) {
    case ONNX_REDUCE_SUM:
    case ONNX_REDUCE_MEAN:
    case ONNX_REDUCE_LOG_SUM: ACCUMULATE(a + x); break;
    case ONNX_REDUCE_L1: ACCUMULATE(a + fabsf(x)); break;
    case ONNX_REDUCE_L2:
    case ONNX_REDUCE_SUM_SQUARE: ACCUMULATE(a + x * x); break;
    case ONNX_REDUCE_PROD: ACCUMULATE(a * x); break;
    case ONNX_REDUCE_MAX: ACCUMULATE(fmax_nan(a, x)); break;
    case ONNX_REDUCE_MIN: ACCUMULATE(fmin_nan(a, x)); break;
    case ONNX_REDUCE_LOG_SUM_EXP: {
        /* The shift has the accumulator's strides. */
        const float *s = c->shift + off[0];
        for (size_t i = 0; i < count; i++) {
            int64_t k = (int64_t)i * c->sa;
            acc[k] += expf(in[(int64_t)i * c->si] - s[k]);
        }
        break;
    }
    default: break;
    }
}

static void float_generic(const onnx_tensor *x, onnx_tensor *y,
                          const reduce_plan *p, onnx_reduce_kind kind,
                          float *scratch) {
    /* Accumulator strides: contiguous over kept axes, 0 on reduced ones. */
    int64_t acc_strides[ONNX_MAX_RANK];
    int64_t s = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        acc_strides[i] = p->mask[i] ? 0 : s;
        if (!p->mask[i])
            s *= x->dims[i];
    }
    onnx_nditer it;
    onnx_nditer_begin(&it, x->rank, x->dims);
    onnx_nditer_add(&it, acc_strides);
    onnx_nditer_add_contiguous(&it);
    onnx_nditer_seal(&it);
    float *out = y->data;
    accum_ctx c = {kind,
                   out,
                   x->data,
                   scratch,
                   onnx_nditer_row_stride(&it, 0),
                   onnx_nditer_row_stride(&it, 1)};
    if (kind == ONNX_REDUCE_LOG_SUM_EXP) {
        for (size_t k = 0; k < y->numel; k++)
            scratch[k] = -INFINITY;
        c.kind = ONNX_REDUCE_MAX;
        c.acc = scratch;
        onnx_nditer_visit(&it, 0, it.numel, accum_row, &c);
        for (size_t k = 0; k < y->numel; k++)
            scratch[k] = lse_shift(scratch[k]);
        c.kind = kind;
        c.acc = out;
    }
    const float init = float_identity(kind);
    for (size_t k = 0; k < y->numel; k++)
        out[k] = init;
    onnx_nditer_visit(&it, 0, it.numel, accum_row, &c);
    for (size_t k = 0; k < y->numel; k++)
        out[k] = float_finish(kind, out[k], p->reduced,
                              kind == ONNX_REDUCE_LOG_SUM_EXP ? scratch[k] : 0);
}

/* True when every reduced axis (of size > 1) comes after every kept axis
 * of size > 1: then each output reduces one contiguous block. */
static bool reduces_suffix(const onnx_tensor *x, const reduce_plan *p) {
    bool seen_reduced = false;
    for (int i = 0; i < x->rank; i++) {
        if (x->dims[i] == 1)
            continue;
        if (p->mask[i])
            seen_reduced = true;
        else if (seen_reduced)
            return false;
    }
    return true;
}

/* ---- integers: one pass with the iterator, wrapping arithmetic ---- */

static inline uint64_t abs_u64(int64_t v) {
    return v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
}

typedef struct int_ctx {
    onnx_reduce_kind kind;
    onnx_dtype type;
    void *acc;
    const void *in;
    int64_t sa, si;
} int_ctx;

#define INT_ACCUMULATE(T)                                                      \
    do {                                                                       \
        T *acc = (T *)c->acc + off[0];                                         \
        const T *in = (const T *)c->in + off[1];                               \
        for (size_t i = 0; i < count; i++) {                                   \
            T *a = &acc[(int64_t)i * c->sa];                                   \
            T x = in[(int64_t)i * c->si];                                      \
            switch (c->kind) {                                                 \
            case ONNX_REDUCE_SUM:                                              \
            case ONNX_REDUCE_MEAN: *a = (T)((uint64_t)*a + (uint64_t)x);       \
                break;                                                         \
            case ONNX_REDUCE_L1:                                               \
                *a = (T)((uint64_t)*a + abs_u64((int64_t)x));                  \
                break;                                                         \
            case ONNX_REDUCE_SUM_SQUARE:                                       \
                *a = (T)((uint64_t)*a + (uint64_t)x * (uint64_t)x);            \
                break;                                                         \
            case ONNX_REDUCE_PROD: *a = (T)((uint64_t)*a * (uint64_t)x);       \
                break;                                                         \
            case ONNX_REDUCE_MAX: *a = x > *a ? x : *a; break;                 \
            case ONNX_REDUCE_MIN: *a = x < *a ? x : *a; break;                 \
            default: break;                                                    \
            }                                                                  \
        }                                                                      \
    } while (0)

static void int_row(void *ctx, const int64_t *off, size_t count) {
    const int_ctx *c = ctx;
    switch (c->type) {
    case ONNX_INT32: INT_ACCUMULATE(int32_t); break;
    case ONNX_INT64: INT_ACCUMULATE(int64_t); break;
    case ONNX_UINT8: INT_ACCUMULATE(uint8_t); break;
    case ONNX_BOOL: INT_ACCUMULATE(uint8_t); break;
    case ONNX_INT8: INT_ACCUMULATE(int8_t); break;
    default: break;
    }
}

#define INT_INIT_FINISH(T, TMIN, TMAX)                                         \
    do {                                                                       \
        T *o = y->data;                                                        \
        if (!finish) {                                                         \
            T init = kind == ONNX_REDUCE_MAX    ? (T)(TMIN)                    \
                     : kind == ONNX_REDUCE_MIN  ? (T)(TMAX)                    \
                     : kind == ONNX_REDUCE_PROD ? (T)1                         \
                                                : (T)0;                        \
            for (size_t k = 0; k < y->numel; k++)                              \
                o[k] = init;                                                   \
        } else if (kind == ONNX_REDUCE_MEAN && p->reduced > 0) {               \
            for (size_t k = 0; k < y->numel; k++)                              \
                o[k] = (T)((int64_t)o[k] / (int64_t)p->reduced);               \
        }                                                                      \
    } while (0)

static void int_init_or_finish(onnx_tensor *y, const reduce_plan *p,
                               onnx_reduce_kind kind, bool finish) {
    switch (y->dtype) {
    case ONNX_INT32: INT_INIT_FINISH(int32_t, INT32_MIN, INT32_MAX); break;
    case ONNX_INT64: INT_INIT_FINISH(int64_t, INT64_MIN, INT64_MAX); break;
    case ONNX_UINT8: INT_INIT_FINISH(uint8_t, 0, UINT8_MAX); break;
    case ONNX_BOOL: INT_INIT_FINISH(uint8_t, 0, 1); break;
    case ONNX_INT8: INT_INIT_FINISH(int8_t, INT8_MIN, INT8_MAX); break;
    default: break;
    }
}

static void int_reduce(const onnx_tensor *x, onnx_tensor *y,
                       const reduce_plan *p, onnx_reduce_kind kind) {
    int64_t acc_strides[ONNX_MAX_RANK];
    int64_t s = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        acc_strides[i] = p->mask[i] ? 0 : s;
        if (!p->mask[i])
            s *= x->dims[i];
    }
    int_init_or_finish(y, p, kind, false);
    onnx_nditer it;
    onnx_nditer_begin(&it, x->rank, x->dims);
    onnx_nditer_add(&it, acc_strides);
    onnx_nditer_add_contiguous(&it);
    onnx_nditer_seal(&it);
    int_ctx c = {kind,
                 x->dtype,
                 y->data,
                 x->data,
                 onnx_nditer_row_stride(&it, 0),
                 onnx_nditer_row_stride(&it, 1)};
    onnx_nditer_visit(&it, 0, it.numel, int_row, &c);
    int_init_or_finish(y, p, kind, true);
}

int onnx_reduce_run(onnx_node *n, const onnx_exec *ex, onnx_reduce_kind kind,
                    kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    reduce_plan p;
    int rc = reduce_plan_make(n, x, ONNX_AT_RUN, &p, err);
    if (rc)
        return rc;
    if (p.noop) {
        if (x->numel)
            memcpy(y->data, x->data, x->numel * onnx_dtype_size(x->dtype));
        return KH_OK;
    }
    if (y->numel == 0)
        return KH_OK;
    if (x->dtype != ONNX_FLOAT) {
        int_reduce(x, y, &p, kind);
        return KH_OK;
    }
    if (reduces_suffix(x, &p)) {
        block_job job = {kind, y->data, x->data, p.reduced};
        size_t grain = ONNX_PARALLEL_GRAIN / (p.reduced ? p.reduced : 1) + 1;
        onnx_parallel_range(ex, y->numel, grain, block_task, &job);
        return KH_OK;
    }
    float_generic(x, y, &p, kind, ex->scratch);
    return KH_OK;
}

/* ---- ArgMax / ArgMin ---- */

static int arg_layout(const onnx_node *n, const onnx_tensor *x, int64_t *axis,
                      kh_error *err) {
    if (x->rank == 0)
        return kh_error_set(err, KH_ESHAPE, "input must have rank >= 1");
    return onnx_axis_normalize(onnx_attr_int(n, "axis", 0), x->rank, "axis",
                               axis, err);
}

int onnx_arg_reshape(onnx_node *n, bool is_max, kh_error *err) {
    (void)is_max;
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
    int64_t axis;
    int rc = arg_layout(n, x, &axis, err);
    if (rc)
        return rc;
    if (x->dims[axis] == 0)
        return kh_error_set(err, KH_ESHAPE,
                            "cannot take the arg of an empty "
                            "axis %lld",
                            (long long)axis);
    const bool keepdims = onnx_attr_int(n, "keepdims", 1) != 0;
    int64_t dims[ONNX_MAX_RANK];
    int rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            dims[rank++] = x->dims[i];
        else if (keepdims)
            dims[rank++] = 1;
    }
    return onnx_tensor_reshape(n->outputs[0], ONNX_INT64, rank, dims, err);
}

/* For each line along the axis the running best; `better` decides ties by
 * select_last_index. Lines are walked axis-outer so the inner loop is
 * contiguous. */
#define ARG_LOOP(T)                                                            \
    do {                                                                       \
        const T *src = x->data;                                                \
        for (size_t o = 0; o < outer; o++) {                                   \
            const T *plane = src + o * len * inner;                            \
            int64_t *best = out + o * inner;                                   \
            for (size_t i = 0; i < inner; i++)                                 \
                best[i] = 0;                                                   \
            for (size_t k = 1; k < len; k++) {                                 \
                const T *row = plane + k * inner;                              \
                for (size_t i = 0; i < inner; i++) {                           \
                    T v = row[i], b = plane[(size_t)best[i] * inner + i];      \
                    bool take = is_max ? (last ? v >= b : v > b)               \
                                       : (last ? v <= b : v < b);              \
                    if (take)                                                  \
                        best[i] = (int64_t)k;                                  \
                }                                                              \
            }                                                                  \
        }                                                                      \
    } while (0)

int onnx_arg_run(onnx_node *n, const onnx_exec *ex, bool is_max,
                 kh_error *err) {
    (void)ex;
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int64_t axis;
    int rc = arg_layout(n, x, &axis, err);
    if (rc)
        return rc;
    const bool last = onnx_attr_int(n, "select_last_index", 0) != 0;
    const size_t outer = onnx_dims_product(x->dims, 0, (int)axis);
    const size_t len = (size_t)x->dims[axis];
    const size_t inner = onnx_dims_product(x->dims, (int)axis + 1, x->rank);
    int64_t *out = y->data;
    switch (x->dtype) {
    case ONNX_FLOAT: ARG_LOOP(float); break;
    case ONNX_INT32: ARG_LOOP(int32_t); break;
    case ONNX_INT64: ARG_LOOP(int64_t); break;
    case ONNX_UINT8: ARG_LOOP(uint8_t); break;
    case ONNX_INT8: ARG_LOOP(int8_t); break;
    default: break;
    }
    return KH_OK;
}
