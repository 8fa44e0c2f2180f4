/* unary.c - unary elementwise kernels and their shared operator code. */
#include "onnx/kernels/unary.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "onnx/kernels/broadcast.h"

typedef struct unary_params {
    float alpha, beta, gamma;
    bool detect_positive, detect_negative;
    bool tanh_approximation; /* Gelu */
} unary_params;

static void params_read(const onnx_node *n, onnx_unary_kind kind,
                        unary_params *p) {
    memset(p, 0, sizeof *p);
    switch (kind) {
    case ONNX_UNARY_LEAKY_RELU:
        p->alpha = onnx_attr_float(n, "alpha", 0.01f);
        break;
    case ONNX_UNARY_ELU:
    case ONNX_UNARY_CELU:
    case ONNX_UNARY_THRESHOLDED_RELU:
        p->alpha = onnx_attr_float(n, "alpha", 1.0f);
        break;
    case ONNX_UNARY_SELU:
        p->alpha = onnx_attr_float(n, "alpha", 1.67326319217681884765625f);
        p->gamma = onnx_attr_float(n, "gamma", 1.05070102214813232421875f);
        break;
    case ONNX_UNARY_HARD_SIGMOID:
        p->alpha = onnx_attr_float(n, "alpha", 0.2f);
        p->beta = onnx_attr_float(n, "beta", 0.5f);
        break;
    case ONNX_UNARY_SHRINK:
        p->alpha = onnx_attr_float(n, "lambd", 0.5f);
        p->beta = onnx_attr_float(n, "bias", 0.0f);
        break;
    case ONNX_UNARY_ISINF:
        p->detect_positive = onnx_attr_int(n, "detect_positive", 1) != 0;
        p->detect_negative = onnx_attr_int(n, "detect_negative", 1) != 0;
        break;
    case ONNX_UNARY_GELU:
        p->tanh_approximation =
            strcmp(onnx_attr_string(n, "approximate", "none"), "tanh") == 0;
        break;
    default: break;
    }
}

static int params_check(const onnx_node *n, onnx_unary_kind kind,
                        kh_error *err) {
    if (kind == ONNX_UNARY_GELU) {
        const char *mode = onnx_attr_string(n, "approximate", "none");
        if (strcmp(mode, "none") != 0 && strcmp(mode, "tanh") != 0)
            return kh_error_set(err, KH_EUNSUPPORTED,
                                "approximate '%s' (expected none or tanh)",
                                mode);
    }
    return KH_OK;
}

/* e^x within about 2 ulp of expf: a Cephes polynomial on [-ln2/2, ln2/2]
 * times 2^n assembled in the float's bits. Unlike a libm call it
 * vectorises (Exp, Sigmoid). NaN, +-inf and overflow behave as expf. */
static inline float vector_expf(float x) {
    const float hi = 88.72283935546875f, lo = -87.33654022216797f;
    float c = x > hi ? hi : x;
    c = c < lo ? lo : c;
    /* Adding 1.5 * 2^23 rounds c * log2(e) to an integer held in the low
     * mantissa bits. */
    float t = c * 1.44269504088896341f + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    float n = t - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^(n-1) then times 2: n reaches 128, whose 2^n is not a float. */
    uint32_t scale_bits = (bits - 0x4B400000u + 126u) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    float y = p * scale * 2.0f;
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

static inline float softplus(float x) {
    /* log(1+e^x) without overflow for large x. */
    return x > 20.0f ? x : log1pf(expf(x));
}

/* fmaxf(0, fminf(1, v)) as two selects, with the same results (NaN gives
 * 1, as fminf(1, NaN) does; -0 gives +0): unlike the libm pair they
 * vectorise. HardSigmoid and HardSwish. */
static inline float clamp01(float v) {
    v = v < 1.0f ? v : 1.0f;
    return v > 0.0f ? v : 0.0f;
}

#define MAP(EXPR)                                                              \
    for (size_t i = 0; i < count; i++) {                                       \
        float x = in[i];                                                       \
        out[i] = (EXPR);                                                       \
    }

static void float_chunk(onnx_unary_kind kind, const unary_params *p, float *out,
                        const float *in, size_t count) {
    const float alpha = p->alpha, beta = p->beta, gamma = p->gamma;
    switch (kind) {
    case ONNX_UNARY_ABS: MAP(fabsf(x)); break;
    case ONNX_UNARY_NEG: MAP(-x); break;
    case ONNX_UNARY_SIGN: MAP(x > 0 ? 1.0f : x < 0 ? -1.0f : x); break;
    /* NaN: Relu gives 0 and LeakyRelu NaN (a compare with NaN is false).
     * Selects, not fmaxf/fminf (whose NaN rule needs a fix-up): at -O3
     * they become vector max/min and blends, no branch per element. */
    case ONNX_UNARY_RELU: MAP(x > 0 ? x : 0.0f); break;
    case ONNX_UNARY_SQRT: MAP(sqrtf(x)); break;
    case ONNX_UNARY_EXP: MAP(vector_expf(x)); break;
    case ONNX_UNARY_LOG: MAP(logf(x)); break;
    case ONNX_UNARY_RECIPROCAL: MAP(1.0f / x); break;
    case ONNX_UNARY_FLOOR: MAP(floorf(x)); break;
    case ONNX_UNARY_CEIL: MAP(ceilf(x)); break;
    case ONNX_UNARY_ROUND: MAP(rintf(x)); break; /* half to even */
    case ONNX_UNARY_LEAKY_RELU: MAP(x < 0 ? alpha * x : x); break;
    case ONNX_UNARY_ELU: MAP(x < 0 ? alpha * expm1f(x) : x); break;
    case ONNX_UNARY_SELU:
        MAP(x > 0 ? gamma * x : gamma * alpha * expm1f(x));
        break;
    case ONNX_UNARY_CELU:
        MAP(fmaxf(0.0f, x) + fminf(0.0f, alpha * expm1f(x / alpha)));
        break;
    case ONNX_UNARY_SIGMOID:
        MAP(1.0f / (1.0f + vector_expf(-x)));
        break;
    case ONNX_UNARY_TANH: MAP(tanhf(x)); break;
    case ONNX_UNARY_HARD_SIGMOID:
        MAP(clamp01(alpha * x + beta));
        break;
    case ONNX_UNARY_HARD_SWISH:
        MAP(x * clamp01(x / 6.0f + 0.5f));
        break;
    case ONNX_UNARY_SOFTPLUS: MAP(softplus(x)); break;
    case ONNX_UNARY_SOFTSIGN: MAP(x / (1.0f + fabsf(x))); break;
    case ONNX_UNARY_ERF: MAP(erff(x)); break;
    case ONNX_UNARY_THRESHOLDED_RELU: MAP(x > alpha ? x : 0.0f); break;
    case ONNX_UNARY_MISH: MAP(x * tanhf(softplus(x))); break;
    case ONNX_UNARY_GELU:
        if (p->tanh_approximation) {
            const float k = 0.7978845608028654f; /* sqrt(2/pi) */
            MAP(0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))));
        } else {
            MAP(0.5f * x * (1.0f + erff(x * 0.7071067811865476f)));
        }
        break;
    case ONNX_UNARY_SHRINK:
        MAP(x < -alpha ? x + beta : x > alpha ? x - beta : 0.0f);
        break;
    case ONNX_UNARY_SIN: MAP(sinf(x)); break;
    case ONNX_UNARY_COS: MAP(cosf(x)); break;
    case ONNX_UNARY_TAN: MAP(tanf(x)); break;
    case ONNX_UNARY_ASIN: MAP(asinf(x)); break;
    case ONNX_UNARY_ACOS: MAP(acosf(x)); break;
    case ONNX_UNARY_ATAN: MAP(atanf(x)); break;
    case ONNX_UNARY_SINH: MAP(sinhf(x)); break;
    case ONNX_UNARY_COSH: MAP(coshf(x)); break;
    case ONNX_UNARY_ASINH: MAP(asinhf(x)); break;
    case ONNX_UNARY_ACOSH: MAP(acoshf(x)); break;
    case ONNX_UNARY_ATANH: MAP(atanhf(x)); break;
    default: break;
    }
}
#undef MAP

/* Integer Abs/Neg wrap at the minimum value instead of overflowing. */
#define INT_CHUNK(T)                                                           \
    do {                                                                       \
        T *o = out_;                                                           \
        const T *x = in_;                                                      \
        switch (kind) {                                                        \
        case ONNX_UNARY_ABS:                                                   \
            for (size_t i = 0; i < count; i++)                                 \
                o[i] = x[i] < 0 ? (T)(0 - (uint64_t)x[i]) : x[i];              \
            break;                                                             \
        case ONNX_UNARY_NEG:                                                   \
            for (size_t i = 0; i < count; i++)                                 \
                o[i] = (T)(0 - (uint64_t)x[i]);                                \
            break;                                                             \
        case ONNX_UNARY_SIGN:                                                  \
            for (size_t i = 0; i < count; i++)                                 \
                o[i] = (T)(x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0);                  \
            break;                                                             \
        case ONNX_UNARY_RELU:                                                  \
            for (size_t i = 0; i < count; i++)                                 \
                o[i] = x[i] > 0 ? x[i] : 0;                                    \
            break;                                                             \
        default: break;                                                        \
        }                                                                      \
    } while (0)

static bool kind_takes_signed_int(onnx_unary_kind kind) {
    return kind <= ONNX_UNARY_RELU;
}

typedef struct unary_job {
    onnx_unary_kind kind;
    unary_params params;
    onnx_dtype in_type;
    unsigned char *out;
    const unsigned char *in;
} unary_job;

static void unary_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const unary_job *j = arg;
    const onnx_unary_kind kind = j->kind;
    size_t count = end - begin;
    switch (j->in_type) {
    case ONNX_FLOAT: {
        const float *in = (const float *)(const void *)j->in + begin;
        if (kind == ONNX_UNARY_ISNAN || kind == ONNX_UNARY_ISINF) {
            uint8_t *o = j->out + begin;
            bool pos = j->params.detect_positive,
                 neg = j->params.detect_negative;
            if (kind == ONNX_UNARY_ISNAN)
                for (size_t i = 0; i < count; i++)
                    o[i] = in[i] != in[i];
            else
                for (size_t i = 0; i < count; i++)
                    o[i] = (pos && in[i] == INFINITY) ||
                           (neg && in[i] == -INFINITY);
        } else {
            float_chunk(kind, &j->params, (float *)(void *)j->out + begin, in,
                        count);
        }
        break;
    }
    case ONNX_INT32: {
        void *out_ = (int32_t *)(void *)j->out + begin;
        const void *in_ = (const int32_t *)(const void *)j->in + begin;
        INT_CHUNK(int32_t);
        break;
    }
    case ONNX_INT64: {
        void *out_ = (int64_t *)(void *)j->out + begin;
        const void *in_ = (const int64_t *)(const void *)j->in + begin;
        INT_CHUNK(int64_t);
        break;
    }
    case ONNX_INT8: {
        void *out_ = (int8_t *)(void *)j->out + begin;
        const void *in_ = (const int8_t *)(const void *)j->in + begin;
        INT_CHUNK(int8_t);
        break;
    }
    case ONNX_BOOL: {
        uint8_t *o = j->out + begin;
        const uint8_t *x = j->in + begin;
        for (size_t i = 0; i < count; i++)
            o[i] = !x[i];
        break;
    }
    default: break;
    }
}

static int unary_check(onnx_unary_kind kind, onnx_dtype t, kh_error *err) {
    bool ok;
    if (kind == ONNX_UNARY_NOT)
        ok = t == ONNX_BOOL;
    else if (t == ONNX_FLOAT)
        ok = true;
    else
        ok = kind_takes_signed_int(kind) &&
             (t == ONNX_INT32 || t == ONNX_INT64 || t == ONNX_INT8);
    if (!ok)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input not supported",
                            onnx_dtype_name(t));
    return KH_OK;
}

int onnx_unary_reshape(onnx_node *n, onnx_unary_kind kind, kh_error *err) {
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input 0 is required");
    int rc = unary_check(kind, x->dtype, err);
    if (rc)
        return rc;
    rc = params_check(n, kind, err);
    if (rc)
        return rc;
    onnx_dtype out = kind == ONNX_UNARY_ISNAN || kind == ONNX_UNARY_ISINF
                         ? ONNX_BOOL
                         : x->dtype;
    return onnx_tensor_reshape(n->outputs[0], out, x->rank, x->dims, err);
}

int onnx_unary_run(onnx_node *n, const onnx_exec *ex, onnx_unary_kind kind,
                   kh_error *err) {
    const onnx_tensor *x = n->inputs[0];
    onnx_tensor *y = n->outputs[0];
    int rc = unary_check(kind, x->dtype, err);
    if (rc)
        return rc;
    unary_job job = {
        .kind = kind, .in_type = x->dtype, .out = y->data, .in = x->data};
    params_read(n, kind, &job.params);
    /* Transcendental kernels cost more per element: split them finer. */
    size_t grain =
        kind >= ONNX_UNARY_SQRT ? ONNX_PARALLEL_GRAIN / 4 : ONNX_PARALLEL_GRAIN;
    onnx_parallel_range(ex, x->numel, grain, unary_task, &job);
    return KH_OK;
}

void onnx_clip_floats(float *y, const float *x, size_t n, float lo, float hi) {
    /* Selects, not fmaxf/fminf: a NaN input must stay NaN. */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}
