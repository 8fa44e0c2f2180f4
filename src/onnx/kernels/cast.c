/* cast.c - element type conversion. */
#include "onnx/kernels/cast.h"

#include <string.h>

#include "onnx/kernels/broadcast.h"

bool onnx_cast_supports(onnx_dtype t) {
    switch (t) {
    case ONNX_FLOAT:
    case ONNX_INT32:
    case ONNX_INT64:
    case ONNX_UINT8:
    case ONNX_INT8:
    case ONNX_BOOL: return true;
    default: return false;
    }
}

static inline int64_t f32_to_i64(float v) {
    if (v != v)
        return 0;
    if (v >= 9.2233720368547758e18f)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18f)
        return INT64_MIN;
    return (int64_t)v;
}

/* Per (from, to) pair one loop; CONV(x) converts one element. */
#define LOOP(TO, FROM, CONV)                                                   \
    do {                                                                       \
        TO *o = dst;                                                           \
        const FROM *s = src;                                                   \
        for (size_t i = 0; i < n; i++) {                                       \
            FROM x = s[i];                                                     \
            o[i] = (TO)(CONV);                                                 \
        }                                                                      \
    } while (0)

/* From an integer or bool source to every target. */
#define FROM_INTEGER(FROM)                                                     \
    switch (to) {                                                              \
    case ONNX_FLOAT: LOOP(float, FROM, (float)x); return;                      \
    case ONNX_INT32: LOOP(int32_t, FROM, (int64_t)x); return;                  \
    case ONNX_INT64: LOOP(int64_t, FROM, (int64_t)x); return;                  \
    case ONNX_UINT8: LOOP(uint8_t, FROM, (int64_t)x); return;                  \
    case ONNX_INT8: LOOP(int8_t, FROM, (int64_t)x); return;                    \
    case ONNX_BOOL: LOOP(uint8_t, FROM, x != 0); return;                       \
    default: return;                                                           \
    }

static void convert(void *dst, onnx_dtype to, const void *src, onnx_dtype from,
                    size_t n) {
    switch (from) {
    case ONNX_FLOAT:
        switch (to) {
        case ONNX_FLOAT: memcpy(dst, src, n * sizeof(float)); return;
        case ONNX_INT32: LOOP(int32_t, float, f32_to_i64(x)); return;
        case ONNX_INT64: LOOP(int64_t, float, f32_to_i64(x)); return;
        case ONNX_UINT8: LOOP(uint8_t, float, f32_to_i64(x)); return;
        case ONNX_INT8: LOOP(int8_t, float, f32_to_i64(x)); return;
        case ONNX_BOOL: LOOP(uint8_t, float, x != 0); return;
        default: return;
        }
    case ONNX_INT32: FROM_INTEGER(int32_t)
    case ONNX_INT64: FROM_INTEGER(int64_t)
    case ONNX_UINT8: FROM_INTEGER(uint8_t)
    case ONNX_INT8: FROM_INTEGER(int8_t)
    case ONNX_BOOL: FROM_INTEGER(uint8_t)
    default: return;
    }
}

typedef struct cast_job {
    unsigned char *dst;
    const unsigned char *src;
    onnx_dtype to, from;
    size_t eto, efrom;
} cast_job;

static void cast_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const cast_job *j = arg;
    convert(j->dst + begin * j->eto, j->to, j->src + begin * j->efrom, j->from,
            end - begin);
}

int onnx_cast(const onnx_exec *ex, void *dst, onnx_dtype to, const void *src,
              onnx_dtype from, size_t n, kh_error *err) {
    if (!onnx_cast_supports(from))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast from %s not supported",
                            onnx_dtype_name(from));
    if (!onnx_cast_supports(to))
        return kh_error_set(err, KH_EUNSUPPORTED, "cast to %s not supported",
                            onnx_dtype_name(to));
    if (n == 0)
        return KH_OK;
    if (from == to) {
        if (dst != src)
            memcpy(dst, src, n * onnx_dtype_size(to));
        return KH_OK;
    }
    cast_job job = {
        dst, src, to, from, onnx_dtype_size(to), onnx_dtype_size(from)};
    onnx_parallel_range(ex, n, ONNX_PARALLEL_GRAIN, cast_task, &job);
    return KH_OK;
}
