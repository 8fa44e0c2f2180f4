/* binary.c - binary elementwise kernels and their shared operator code. */
#include "onnx/kernels/binary.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "onnx/kernels/broadcast.h"
#include "onnx/kernels/copy.h"

typedef void (*binary_row_fn)(void *o, const void *a, int64_t sa, const void *b,
                              int64_t sb, size_t n);

/* Element types with kernels; the table below is indexed by these. */
enum { SLOT_F32, SLOT_I32, SLOT_I64, SLOT_U8, SLOT_I8, SLOT_BOOL, SLOT_COUNT };

static int dtype_slot(onnx_dtype t) {
    switch (t) {
    case ONNX_FLOAT: return SLOT_F32;
    case ONNX_INT32: return SLOT_I32;
    case ONNX_INT64: return SLOT_I64;
    case ONNX_UINT8: return SLOT_U8;
    case ONNX_INT8: return SLOT_I8;
    case ONNX_BOOL: return SLOT_BOOL;
    default: return -1;
    }
}

/* The four stride cases of a row; EXPR reads x and y. The contiguous and
 * scalar cases are plain loops the compiler vectorises. */
#define DEFINE_BINARY(name, TO, TI, EXPR)                                      \
    static void name(void *o_, const void *a_, int64_t sa, const void *b_,     \
                     int64_t sb, size_t n) {                                   \
        TO *o = o_;                                                            \
        const TI *a = a_, *b = b_;                                             \
        if (sa == 1 && sb == 1) {                                              \
            for (size_t i = 0; i < n; i++) {                                   \
                TI x = a[i], y = b[i];                                         \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else if (sa == 1 && sb == 0) {                                       \
            const TI y = b[0];                                                 \
            for (size_t i = 0; i < n; i++) {                                   \
                TI x = a[i];                                                   \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else if (sa == 0 && sb == 1) {                                       \
            const TI x = a[0];                                                 \
            for (size_t i = 0; i < n; i++) {                                   \
                TI y = b[i];                                                   \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else {                                                               \
            for (size_t i = 0; i < n; i++) {                                   \
                TI x = a[(int64_t)i * sa], y = b[(int64_t)i * sb];             \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        }                                                                      \
    }

/* Integer arithmetic wraps (two's complement) instead of overflowing: done
 * in uint64_t, whose overflow is defined, then narrowed. */
#define WRAP_ADD(T) ((T)((uint64_t)x + (uint64_t)y))
#define WRAP_SUB(T) ((T)((uint64_t)x - (uint64_t)y))
#define WRAP_MUL(T) ((T)((uint64_t)x * (uint64_t)y))

static inline uint64_t ipow_wrap(int64_t base, int64_t exp) {
    if (exp < 0) /* integer results of a negative power: 1/x truncated */
        return base == 1 ? 1 : base == -1 ? (exp & 1 ? (uint64_t)-1 : 1) : 0;
    uint64_t result = 1, b = (uint64_t)base;
    while (exp) {
        if (exp & 1)
            result *= b;
        b *= b;
        exp >>= 1;
    }
    return result;
}

/* Python-style float modulo: the result has the sign of the divisor. */
static inline float float_mod(float x, float y) {
    float r = fmodf(x, y);
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

/* Signed integer division and remainder: x/0 and x%0 are defined as 0, and
 * MIN/-1 (which overflows) wraps to MIN with remainder 0. */
#define SIGNED_HELPERS(sfx, T)                                                 \
    static inline T int_div_##sfx(T x, T y) {                                  \
        if (y == 0)                                                            \
            return 0;                                                          \
        if (y == -1)                                                           \
            return (T)(0 - (uint64_t)x);                                       \
        return (T)(x / y);                                                     \
    }                                                                          \
    static inline T int_fmod_##sfx(T x, T y) {                                 \
        if (y == 0 || y == -1)                                                 \
            return 0;                                                          \
        return (T)(x % y);                                                     \
    }                                                                          \
    static inline T int_mod_##sfx(T x, T y) {                                  \
        T r = int_fmod_##sfx(x, y);                                            \
        if (r != 0 && ((r < 0) != (y < 0)))                                    \
            r = (T)(r + y);                                                    \
        return r;                                                              \
    }
#define UNSIGNED_HELPERS(sfx, T)                                               \
    static inline T int_div_##sfx(T x, T y) { return y ? (T)(x / y) : 0; }     \
    static inline T int_fmod_##sfx(T x, T y) { return y ? (T)(x % y) : 0; }    \
    static inline T int_mod_##sfx(T x, T y) { return int_fmod_##sfx(x, y); }

SIGNED_HELPERS(i32, int32_t)
SIGNED_HELPERS(i64, int64_t)
SIGNED_HELPERS(i8, int8_t)
UNSIGNED_HELPERS(u8, uint8_t)

/* NaN in either operand gives NaN, like numpy.minimum/maximum. */
#define FMIN_EXPR (x != x ? x : y != y ? y : (y < x ? y : x))
#define FMAX_EXPR (x != x ? x : y != y ? y : (y > x ? y : x))

/* Floating point kernels. */
DEFINE_BINARY(add_f32, float, float, x + y)
DEFINE_BINARY(sub_f32, float, float, x - y)
DEFINE_BINARY(mul_f32, float, float, x *y)
DEFINE_BINARY(div_f32, float, float, x / y)
DEFINE_BINARY(pow_f32, float, float, powf(x, y))
DEFINE_BINARY(mod_f32, float, float, float_mod(x, y))
DEFINE_BINARY(fmod_f32, float, float, fmodf(x, y))
DEFINE_BINARY(min_f32, float, float, FMIN_EXPR)
DEFINE_BINARY(max_f32, float, float, FMAX_EXPR)
DEFINE_BINARY(prelu_f32, float, float, x < 0 ? x * y : x)

/* Integer kernels, one set per type. */
#define INTEGER_KERNELS(sfx, T)                                                \
    DEFINE_BINARY(add_##sfx, T, T, WRAP_ADD(T))                                \
    DEFINE_BINARY(sub_##sfx, T, T, WRAP_SUB(T))                                \
    DEFINE_BINARY(mul_##sfx, T, T, WRAP_MUL(T))                                \
    DEFINE_BINARY(div_##sfx, T, T, int_div_##sfx(x, y))                        \
    DEFINE_BINARY(pow_##sfx, T, T, (T)ipow_wrap((int64_t)x, (int64_t)y))       \
    DEFINE_BINARY(mod_##sfx, T, T, int_mod_##sfx(x, y))                        \
    DEFINE_BINARY(fmod_##sfx, T, T, int_fmod_##sfx(x, y))                      \
    DEFINE_BINARY(min_##sfx, T, T, y < x ? y : x)                              \
    DEFINE_BINARY(max_##sfx, T, T, y > x ? y : x)                              \
    DEFINE_BINARY(prelu_##sfx, T, T, x < 0 ? WRAP_MUL(T) : x)

INTEGER_KERNELS(i32, int32_t)
INTEGER_KERNELS(i64, int64_t)
INTEGER_KERNELS(i8, int8_t)
DEFINE_BINARY(add_u8, uint8_t, uint8_t, WRAP_ADD(uint8_t))
DEFINE_BINARY(sub_u8, uint8_t, uint8_t, WRAP_SUB(uint8_t))
DEFINE_BINARY(mul_u8, uint8_t, uint8_t, WRAP_MUL(uint8_t))
DEFINE_BINARY(div_u8, uint8_t, uint8_t, int_div_u8(x, y))
DEFINE_BINARY(pow_u8, uint8_t, uint8_t, (uint8_t)ipow_wrap(x, y))
DEFINE_BINARY(mod_u8, uint8_t, uint8_t, int_mod_u8(x, y))
DEFINE_BINARY(fmod_u8, uint8_t, uint8_t, int_fmod_u8(x, y))
DEFINE_BINARY(min_u8, uint8_t, uint8_t, y < x ? y : x)
DEFINE_BINARY(max_u8, uint8_t, uint8_t, y > x ? y : x)
DEFINE_BINARY(shl_u8, uint8_t, uint8_t, y >= 8 ? 0 : (uint8_t)(x << y))
DEFINE_BINARY(shr_u8, uint8_t, uint8_t, y >= 8 ? 0 : (uint8_t)(x >> y))

/* Comparisons: bool (one byte, 0 or 1) out. */
#define COMPARE_KERNELS(sfx, T)                                                \
    DEFINE_BINARY(eq_##sfx, uint8_t, T, x == y)                                \
    DEFINE_BINARY(lt_##sfx, uint8_t, T, x < y)                                 \
    DEFINE_BINARY(le_##sfx, uint8_t, T, x <= y)                                \
    DEFINE_BINARY(gt_##sfx, uint8_t, T, x > y)                                 \
    DEFINE_BINARY(ge_##sfx, uint8_t, T, x >= y)

COMPARE_KERNELS(f32, float)
COMPARE_KERNELS(i32, int32_t)
COMPARE_KERNELS(i64, int64_t)
COMPARE_KERNELS(u8, uint8_t)
COMPARE_KERNELS(i8, int8_t)
DEFINE_BINARY(eq_b, uint8_t, uint8_t, (x != 0) == (y != 0))
DEFINE_BINARY(and_b, uint8_t, uint8_t, (x != 0) & (y != 0))
DEFINE_BINARY(or_b, uint8_t, uint8_t, (x != 0) | (y != 0))
DEFINE_BINARY(xor_b, uint8_t, uint8_t, (x != 0) ^ (y != 0))

#define NUMERIC(k)                                                             \
    {                                                                          \
        [SLOT_F32] = k##_f32, [SLOT_I32] = k##_i32, [SLOT_I64] = k##_i64,      \
        [SLOT_U8] = k##_u8, [SLOT_I8] = k##_i8                                 \
    }

static const binary_row_fn binary_table[ONNX_BINARY_COUNT][SLOT_COUNT] = {
    [ONNX_BINARY_ADD] = NUMERIC(add),
    [ONNX_BINARY_SUB] = NUMERIC(sub),
    [ONNX_BINARY_MUL] = NUMERIC(mul),
    [ONNX_BINARY_DIV] = NUMERIC(div),
    [ONNX_BINARY_POW] = NUMERIC(pow),
    [ONNX_BINARY_MOD] = NUMERIC(mod),
    [ONNX_BINARY_FMOD] = NUMERIC(fmod),
    [ONNX_BINARY_MIN] = NUMERIC(min),
    [ONNX_BINARY_MAX] = NUMERIC(max),
    [ONNX_BINARY_EQUAL] = {[SLOT_F32] = eq_f32,
                           [SLOT_I32] = eq_i32,
                           [SLOT_I64] = eq_i64,
                           [SLOT_U8] = eq_u8,
                           [SLOT_I8] = eq_i8,
                           [SLOT_BOOL] = eq_b},
    [ONNX_BINARY_LESS] = NUMERIC(lt),
    [ONNX_BINARY_LESS_EQUAL] = NUMERIC(le),
    [ONNX_BINARY_GREATER] = NUMERIC(gt),
    [ONNX_BINARY_GREATER_EQUAL] = NUMERIC(ge),
    [ONNX_BINARY_AND] = {[SLOT_BOOL] = and_b},
    [ONNX_BINARY_OR] = {[SLOT_BOOL] = or_b},
    [ONNX_BINARY_XOR] = {[SLOT_BOOL] = xor_b},
    [ONNX_BINARY_PRELU] = {[SLOT_F32] = prelu_f32,
                           [SLOT_I32] = prelu_i32,
                           [SLOT_I64] = prelu_i64,
                           [SLOT_I8] = prelu_i8},
    [ONNX_BINARY_SHIFT_LEFT] = {[SLOT_U8] = shl_u8},
    [ONNX_BINARY_SHIFT_RIGHT] = {[SLOT_U8] = shr_u8},
};

static binary_row_fn binary_kernel(onnx_binary_kind kind, onnx_dtype t) {
    int slot = dtype_slot(t);
    if (kind < 0 || kind >= ONNX_BINARY_COUNT || slot < 0)
        return NULL;
    return binary_table[kind][slot];
}

bool onnx_binary_supports(onnx_binary_kind kind, onnx_dtype t) {
    return binary_kernel(kind, t) != NULL;
}

onnx_dtype onnx_binary_out_dtype(onnx_binary_kind kind, onnx_dtype t) {
    switch (kind) {
    case ONNX_BINARY_EQUAL:
    case ONNX_BINARY_LESS:
    case ONNX_BINARY_LESS_EQUAL:
    case ONNX_BINARY_GREATER:
    case ONNX_BINARY_GREATER_EQUAL: return ONNX_BOOL;
    default: return t;
    }
}

/* Pow with an exponent of another type (opset 12+): rare, so it goes
 * through double with one type switch per element. */
static double load_f64(const void *p, onnx_dtype t, int64_t i) {
    switch (t) {
    case ONNX_FLOAT: return ((const float *)p)[i];
    case ONNX_INT32: return ((const int32_t *)p)[i];
    case ONNX_INT64: return (double)((const int64_t *)p)[i];
    case ONNX_UINT8: return ((const uint8_t *)p)[i];
    case ONNX_INT8: return ((const int8_t *)p)[i];
    default: return 0;
    }
}

/* double to int64 without the undefined behaviour of out-of-range casts. */
static int64_t f64_to_i64_saturate(double v) {
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static void store_f64(void *p, onnx_dtype t, size_t i, double v) {
    switch (t) {
    case ONNX_FLOAT: ((float *)p)[i] = (float)v; break;
    case ONNX_INT32: ((int32_t *)p)[i] = (int32_t)f64_to_i64_saturate(v); break;
    case ONNX_INT64: ((int64_t *)p)[i] = f64_to_i64_saturate(v); break;
    case ONNX_UINT8: ((uint8_t *)p)[i] = (uint8_t)f64_to_i64_saturate(v); break;
    case ONNX_INT8: ((int8_t *)p)[i] = (int8_t)f64_to_i64_saturate(v); break;
    default: break;
    }
}

typedef struct binary_ctx {
    binary_row_fn fn; /* NULL: mixed-type Pow */
    unsigned char *o;
    const unsigned char *a, *b;
    size_t eo, ea, eb;
    int64_t sa, sb;
    onnx_dtype ta, tb;
} binary_ctx;

static void binary_row(void *ctx_, const int64_t *off, size_t count) {
    const binary_ctx *c = ctx_;
    void *o = c->o + (size_t)off[0] * c->eo;
    const void *a = c->a + (size_t)off[1] * c->ea;
    const void *b = c->b + (size_t)off[2] * c->eb;
    if (c->fn) {
        c->fn(o, a, c->sa, b, c->sb, count);
        return;
    }
    for (size_t i = 0; i < count; i++)
        store_f64(o, c->ta, i,
                  pow(load_f64(a, c->ta, (int64_t)i * c->sa),
                      load_f64(b, c->tb, (int64_t)i * c->sb)));
}

static int check_types(onnx_binary_kind kind, const onnx_tensor *a,
                       const onnx_tensor *b, kh_error *err) {
    if (!onnx_binary_supports(kind, a->dtype))
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(a->dtype));
    if (a->dtype == b->dtype)
        return KH_OK;
    if (kind == ONNX_BINARY_POW && dtype_slot(b->dtype) >= 0 &&
        b->dtype != ONNX_BOOL)
        return KH_OK;
    if (kind == ONNX_BINARY_POW)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s exponent not supported",
                            onnx_dtype_name(b->dtype));
    return kh_error_set(err, KH_ETYPE, "input types differ: %s and %s",
                        onnx_dtype_name(a->dtype), onnx_dtype_name(b->dtype));
}

int onnx_binary_apply(const onnx_exec *ex, onnx_binary_kind kind,
                      onnx_tensor *out, const onnx_tensor *a,
                      const onnx_tensor *b, kh_error *err) {
    int rc = check_types(kind, a, b, err);
    if (rc)
        return rc;
    if (out->numel == 0)
        return KH_OK;
    onnx_nditer it;
    onnx_nditer_begin(&it, out->rank, out->dims);
    onnx_nditer_add_contiguous(&it);
    onnx_nditer_add_broadcast(&it, a);
    onnx_nditer_add_broadcast(&it, b);
    onnx_nditer_seal(&it);
    binary_ctx c = {
        .fn = a->dtype == b->dtype ? binary_kernel(kind, a->dtype) : NULL,
        .o = out->data,
        .a = a->data,
        .b = b->data,
        .eo = onnx_dtype_size(out->dtype),
        .ea = onnx_dtype_size(a->dtype),
        .eb = onnx_dtype_size(b->dtype),
        .sa = onnx_nditer_row_stride(&it, 1),
        .sb = onnx_nditer_row_stride(&it, 2),
        .ta = a->dtype,
        .tb = b->dtype,
    };
    onnx_nditer_run(ex, &it, binary_row, &c);
    return KH_OK;
}

int onnx_binary_reshape(onnx_node *n, onnx_binary_kind kind, kh_error *err) {
    const onnx_tensor *a = onnx_node_input(n, 0), *b = onnx_node_input(n, 1);
    if (!a || !b)
        return kh_error_set(err, KH_EINVAL, "two inputs are required");
    int rc = check_types(kind, a, b, err);
    if (rc)
        return rc;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    const onnx_tensor *pair[2] = {a, b};
    rc = onnx_broadcast_shape(pair, 2, &rank, dims, err);
    if (rc)
        return rc;
    if (kind == ONNX_BINARY_PRELU) {
        /* The slope broadcasts to X, never the other way round. */
        bool same = rank == a->rank;
        for (int i = 0; same && i < rank; i++)
            same = dims[i] == a->dims[i];
        if (!same) {
            char sx[160], ss[160];
            return kh_error_set(err, KH_ESHAPE,
                                "slope %s does not broadcast to X %s",
                                onnx_shape_str(b, ss, sizeof ss),
                                onnx_shape_str(a, sx, sizeof sx));
        }
    }
    return onnx_tensor_reshape(
        n->outputs[0], onnx_binary_out_dtype(kind, a->dtype), rank, dims, err);
}

int onnx_binary_run(onnx_node *n, const onnx_exec *ex, onnx_binary_kind kind,
                    kh_error *err) {
    return onnx_binary_apply(ex, kind, n->outputs[0], n->inputs[0],
                             n->inputs[1], err);
}

int onnx_variadic_reshape(onnx_node *n, onnx_binary_kind kind, kh_error *err) {
    if (n->n_inputs == 0 || !n->inputs[0])
        return kh_error_set(err, KH_EINVAL, "at least one input is required");
    const onnx_tensor *first = n->inputs[0];
    for (size_t i = 0; i < n->n_inputs; i++) {
        const onnx_tensor *t = n->inputs[i];
        if (!t)
            return kh_error_set(err, KH_EINVAL, "input %zu is missing", i);
        if (t->dtype != first->dtype)
            return kh_error_set(err, KH_ETYPE, "input %zu is %s, input 0 is %s",
                                i, onnx_dtype_name(t->dtype),
                                onnx_dtype_name(first->dtype));
    }
    int rc = check_types(kind, first, first, err);
    if (rc)
        return rc;
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    rc = onnx_broadcast_shape((const onnx_tensor *const *)n->inputs,
                              n->n_inputs, &rank, dims, err);
    if (rc)
        return rc;
    return onnx_tensor_reshape(n->outputs[0], first->dtype, rank, dims, err);
}

int onnx_variadic_run(onnx_node *n, const onnx_exec *ex, onnx_binary_kind kind,
                      bool mean, kh_error *err) {
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    int rc;
    if (n->n_inputs == 1) {
        onnx_broadcast_copy(ex, y->data, y->rank, y->dims, n->inputs[0]);
    } else {
        rc = onnx_binary_apply(ex, kind, y, n->inputs[0], n->inputs[1], err);
        if (rc)
            return rc;
    }
    for (size_t i = 2; i < n->n_inputs; i++) {
        rc = onnx_binary_apply(ex, kind, y, y, n->inputs[i], err);
        if (rc)
            return rc;
    }
    if (mean && y->dtype == ONNX_FLOAT) {
        float *p = y->data, scale = 1.0f / (float)n->n_inputs;
        for (size_t i = 0; i < y->numel; i++)
            p[i] *= scale;
    }
    return KH_OK;
}
