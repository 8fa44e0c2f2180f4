/* depthwise.c - depthwise 2-D convolution of one channel plane.
 *
 * The 3x3 fast path splits each output row into a left border, an interior
 * where every tap is inside the row (vectors, no bounds checks) and a right
 * border (scalar). Input rows outside the image are skipped. Stride 2 loads
 * two vectors and de-interleaves even and odd columns with a permute.
 */
#include "onnx/kernels/depthwise.h"

#include <stdbool.h>

#include "onnx/kernels/sgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DW_X86 1
#else
#define DW_X86 0
#endif

static inline float finish(const depthwise_epilogue *ep, float v, size_t i) {
    v += ep->bias;
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        if (ep->residual[r])
            v += ep->residual[r][i];
    kernel_epilogue e = {.activation = ep->activation, .alpha = ep->alpha,
                         .lo = ep->lo, .hi = ep->hi};
    return kernel_activate(&e, v);
}

/* One output value with every bound checked. */
static float pixel(const conv_geometry *g, const float *in, const float *w,
                   size_t oy, size_t ox) {
    const ptrdiff_t H = (ptrdiff_t)g->in[1], W = (ptrdiff_t)g->in[2];
    float acc = 0.0f;
    for (size_t ky = 0; ky < g->kernel[1]; ky++) {
        ptrdiff_t iy = (ptrdiff_t)(oy * g->stride[1] + ky * g->dilation[1]) - g->pad[1];
        if (iy < 0 || iy >= H)
            continue;
        for (size_t kx = 0; kx < g->kernel[2]; kx++) {
            ptrdiff_t ix = (ptrdiff_t)(ox * g->stride[2] + kx * g->dilation[2]) - g->pad[2];
            if (ix < 0 || ix >= W)
                continue;
            acc += in[iy * W + ix] * w[ky * g->kernel[2] + kx];
        }
    }
    return acc;
}

void depthwise_plane_generic(const conv_geometry *g, const float *in,
                             const float *w, float *out,
                             const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2];
    for (size_t oy = 0; oy < OH; oy++)
        for (size_t ox = 0; ox < OW; ox++)
            out[oy * OW + ox] = finish(ep, pixel(g, in, w, oy, ox), oy * OW + ox);
}

/* Interior columns [*lo, *hi) of a 3-wide window: ox*s - pad >= 0 and
 * ox*s - pad + 2 < W. */
static void interior(const conv_geometry *g, size_t *lo, size_t *hi) {
    const ptrdiff_t s = (ptrdiff_t)g->stride[2], pad = g->pad[2];
    const ptrdiff_t W = (ptrdiff_t)g->in[2], OW = (ptrdiff_t)g->out[2];
    ptrdiff_t first = pad > 0 ? (pad + s - 1) / s : 0;
    ptrdiff_t last = W - 3 + pad < 0 ? -1 : (W - 3 + pad) / s; /* inclusive */
    if (first > OW)
        first = OW;
    if (last + 1 > OW)
        last = OW - 1;
    if (last + 1 < first)
        last = first - 1;
    *lo = (size_t)first;
    *hi = (size_t)(last + 1);
}

/* Scalar border columns [a, b) of row oy. */
static void border(const conv_geometry *g, const float *in, const float *w,
                   float *out, const depthwise_epilogue *ep, size_t oy,
                   size_t a, size_t b) {
    const size_t OW = g->out[2];
    for (size_t ox = a; ox < b; ox++)
        out[oy * OW + ox] = finish(ep, pixel(g, in, w, oy, ox), oy * OW + ox);
}

/* The three input rows under output row oy (NULL outside the image). */
static void window_rows(const conv_geometry *g, const float *in, size_t oy,
                        const float *rows[3]) {
    const ptrdiff_t H = (ptrdiff_t)g->in[1];
    for (int ky = 0; ky < 3; ky++) {
        ptrdiff_t iy = (ptrdiff_t)(oy * g->stride[1]) + ky - g->pad[1];
        rows[ky] = iy >= 0 && iy < H ? in + iy * (ptrdiff_t)g->in[2] : NULL;
    }
}

static void plane_3x3_scalar(const conv_geometry *g, const float *in,
                             const float *w, float *out,
                             const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2], s = g->stride[2];
    size_t lo, hi;
    interior(g, &lo, &hi);
    for (size_t oy = 0; oy < OH; oy++) {
        const float *rows[3];
        window_rows(g, in, oy, rows);
        border(g, in, w, out, ep, oy, 0, lo);
        for (size_t ox = lo; ox < hi; ox++) {
            float acc = 0.0f;
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky])
                    continue;
                const float *p = rows[ky] + (ptrdiff_t)(ox * s) - g->pad[2];
                acc += p[0] * w[ky * 3] + p[1] * w[ky * 3 + 1] + p[2] * w[ky * 3 + 2];
            }
            out[oy * OW + ox] = finish(ep, acc, oy * OW + ox);
        }
        border(g, in, w, out, ep, oy, hi, OW);
    }
}

#if DW_X86

#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define ALWAYS_INLINE inline __attribute__((always_inline))

AVX512_TARGET static ALWAYS_INLINE __m512 dw512_finish(
    __m512 v, const depthwise_epilogue *ep, size_t i, __mmask16 m) {
    v = _mm512_add_ps(v, _mm512_set1_ps(ep->bias));
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        if (ep->residual[r])
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ep->residual[r] + i));
    switch (ep->activation) {
    case KERNEL_ACT_RELU:
        return _mm512_max_ps(v, _mm512_setzero_ps());
    case KERNEL_ACT_LEAKY_RELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(ep->alpha));
    }
    case KERNEL_ACT_CLIP:
        return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep->lo)),
                             _mm512_set1_ps(ep->hi));
    case KERNEL_ACT_NONE:
        break;
    }
    return v;
}

/* 16 outputs from columns ox.. of one window row (p = row + ox*s - pad). */
AVX512_TARGET static ALWAYS_INLINE __m512 dw512_row(
    const int stride, const float *p, const __m512 wk[3], __m512 acc,
    __mmask16 m, __mmask16 m_lo, __mmask16 m_hi, __mmask16 m2_lo,
    __mmask16 m2_hi) {
    if (stride == 1) {
        acc = _mm512_fmadd_ps(wk[0], _mm512_maskz_loadu_ps(m, p), acc);
        acc = _mm512_fmadd_ps(wk[1], _mm512_maskz_loadu_ps(m, p + 1), acc);
        acc = _mm512_fmadd_ps(wk[2], _mm512_maskz_loadu_ps(m, p + 2), acc);
        return acc;
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
                                          21, 23, 25, 27, 29, 31);
    __m512 lo = _mm512_maskz_loadu_ps(m_lo, p);
    __m512 hi = _mm512_maskz_loadu_ps(m_hi, p + 16);
    __m512 lo2 = _mm512_maskz_loadu_ps(m2_lo, p + 2);
    __m512 hi2 = _mm512_maskz_loadu_ps(m2_hi, p + 18);
    acc = _mm512_fmadd_ps(wk[0], _mm512_permutex2var_ps(lo, even, hi), acc);
    acc = _mm512_fmadd_ps(wk[1], _mm512_permutex2var_ps(lo, odd, hi), acc);
    acc = _mm512_fmadd_ps(wk[2], _mm512_permutex2var_ps(lo2, even, hi2), acc);
    return acc;
}

static inline __mmask16 low_bits16(size_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

AVX512_TARGET static ALWAYS_INLINE void plane_3x3_avx512(
    const int stride, const conv_geometry *g, const float *in, const float *w,
    float *out, const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2];
    size_t lo, hi;
    interior(g, &lo, &hi);
    __m512 wv[3][3];
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            wv[ky][kx] = _mm512_set1_ps(w[ky * 3 + kx]);
    for (size_t oy = 0; oy < OH; oy++) {
        const float *rows[3];
        window_rows(g, in, oy, rows);
        border(g, in, w, out, ep, oy, 0, lo);
        for (size_t ox = lo; ox < hi; ox += 16) {
            size_t n = hi - ox < 16 ? hi - ox : 16;
            __mmask16 m = low_bits16(n);
            /* stride 2 reads columns 2*ox .. 2*ox + 2n (taps 0..2). */
            __mmask16 m_lo = low_bits16(2 * n), m_hi = low_bits16(2 * n > 16 ? 2 * n - 16 : 0);
            __mmask16 m2_lo = low_bits16(2 * n - 1),
                      m2_hi = low_bits16(2 * n - 1 > 16 ? 2 * n - 1 - 16 : 0);
            __m512 acc = _mm512_setzero_ps();
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky])
                    continue;
                const float *p = rows[ky] + (ptrdiff_t)(ox * (size_t)stride) - g->pad[2];
                acc = dw512_row(stride, p, wv[ky], acc, m, m_lo, m_hi, m2_lo, m2_hi);
            }
            size_t i = oy * OW + ox;
            _mm512_mask_storeu_ps(out + i, m, dw512_finish(acc, ep, i, m));
        }
        border(g, in, w, out, ep, oy, hi, OW);
    }
}

AVX512_TARGET static void plane_3x3_s1_avx512(const conv_geometry *g,
                                              const float *in, const float *w,
                                              float *out,
                                              const depthwise_epilogue *ep) {
    plane_3x3_avx512(1, g, in, w, out, ep);
}

AVX512_TARGET static void plane_3x3_s2_avx512(const conv_geometry *g,
                                              const float *in, const float *w,
                                              float *out,
                                              const depthwise_epilogue *ep) {
    plane_3x3_avx512(2, g, in, w, out, ep);
}

AVX2_TARGET static ALWAYS_INLINE __m256 dw256_finish(
    __m256 v, const depthwise_epilogue *ep, size_t i) {
    v = _mm256_add_ps(v, _mm256_set1_ps(ep->bias));
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        if (ep->residual[r])
            v = _mm256_add_ps(v, _mm256_loadu_ps(ep->residual[r] + i));
    switch (ep->activation) {
    case KERNEL_ACT_RELU:
        return _mm256_max_ps(v, _mm256_setzero_ps());
    case KERNEL_ACT_LEAKY_RELU: {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(ep->alpha)), neg);
    }
    case KERNEL_ACT_CLIP:
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep->lo)),
                             _mm256_set1_ps(ep->hi));
    case KERNEL_ACT_NONE:
        break;
    }
    return v;
}

/* Even and odd elements of the 16 floats at p, as two vectors of 8. */
AVX2_TARGET static ALWAYS_INLINE void deinterleave8(const float *p, __m256 *even,
                                                    __m256 *odd) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
}

/* Vectors of 8 over the interior while they fit, scalar for the rest. */
AVX2_TARGET static ALWAYS_INLINE void plane_3x3_avx2(
    const int stride, const conv_geometry *g, const float *in, const float *w,
    float *out, const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2];
    size_t lo, hi;
    interior(g, &lo, &hi);
    __m256 wv[3][3];
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            wv[ky][kx] = _mm256_set1_ps(w[ky * 3 + kx]);
    for (size_t oy = 0; oy < OH; oy++) {
        const float *rows[3];
        window_rows(g, in, oy, rows);
        border(g, in, w, out, ep, oy, 0, lo);
        size_t ox = lo;
        for (; ox + 8 <= hi; ox += 8) {
            /* Stride 2 loads columns up to 2*ox + 17 - pad: one past what
             * the interior guarantees, so the last vector may go scalar. */
            if (stride == 2 &&
                (ptrdiff_t)(2 * ox + 17) - g->pad[2] > (ptrdiff_t)g->in[2] - 1)
                break;
            __m256 acc = _mm256_setzero_ps();
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky])
                    continue;
                const float *p = rows[ky] + (ptrdiff_t)(ox * (size_t)stride) - g->pad[2];
                if (stride == 1) {
                    acc = _mm256_fmadd_ps(wv[ky][0], _mm256_loadu_ps(p), acc);
                    acc = _mm256_fmadd_ps(wv[ky][1], _mm256_loadu_ps(p + 1), acc);
                    acc = _mm256_fmadd_ps(wv[ky][2], _mm256_loadu_ps(p + 2), acc);
                } else {
                    __m256 e, o, e2, o2;
                    deinterleave8(p, &e, &o);
                    deinterleave8(p + 2, &e2, &o2);
                    acc = _mm256_fmadd_ps(wv[ky][0], e, acc);
                    acc = _mm256_fmadd_ps(wv[ky][1], o, acc);
                    acc = _mm256_fmadd_ps(wv[ky][2], e2, acc);
                }
            }
            size_t i = oy * OW + ox;
            _mm256_storeu_ps(out + i, dw256_finish(acc, ep, i));
        }
        border(g, in, w, out, ep, oy, ox, OW);
    }
}

AVX2_TARGET static void plane_3x3_s1_avx2(const conv_geometry *g,
                                          const float *in, const float *w,
                                          float *out,
                                          const depthwise_epilogue *ep) {
    plane_3x3_avx2(1, g, in, w, out, ep);
}

AVX2_TARGET static void plane_3x3_s2_avx2(const conv_geometry *g,
                                          const float *in, const float *w,
                                          float *out,
                                          const depthwise_epilogue *ep) {
    plane_3x3_avx2(2, g, in, w, out, ep);
}

#endif /* DW_X86 */

void depthwise_plane(const conv_geometry *g, const float *in, const float *w,
                     float *out, const depthwise_epilogue *ep) {
    bool fast = g->kernel[1] == 3 && g->kernel[2] == 3 &&
                g->dilation[1] == 1 && g->dilation[2] == 1 &&
                g->stride[1] == g->stride[2] &&
                (g->stride[2] == 1 || g->stride[2] == 2);
    if (!fast) {
        depthwise_plane_generic(g, in, w, out, ep);
        return;
    }
#if DW_X86
    switch (sgemm_isa_current()) {
    case SGEMM_ISA_AVX512:
        if (g->stride[2] == 1)
            plane_3x3_s1_avx512(g, in, w, out, ep);
        else
            plane_3x3_s2_avx512(g, in, w, out, ep);
        return;
    case SGEMM_ISA_AVX2:
        if (g->stride[2] == 1)
            plane_3x3_s1_avx2(g, in, w, out, ep);
        else
            plane_3x3_s2_avx2(g, in, w, out, ep);
        return;
    case SGEMM_ISA_SCALAR:
        break;
    }
#endif
    plane_3x3_scalar(g, in, w, out, ep);
}
