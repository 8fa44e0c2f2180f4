/* depthwise.c - depthwise 2-D convolution of one channel plane.
 *
 * 3x3 windows with stride 1 or 2 and dilation 1: each input row is copied
 * once into a ring of three zero-padded rows on the stack, so every output
 * column (borders included) goes through the same vector loop with no
 * bounds checks; input rows outside the image are skipped. Stride 2 loads
 * two vectors and takes their even and odd columns with a permute. Planes
 * too wide for the ring, and other windows, use a plain loop.
 */
#include "onnx/kernels/depthwise.h"

#include <stdbool.h>
#include <string.h>

#include "onnx/kernels/sgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DW_X86 1
#else
#define DW_X86 0
#endif

/* Floats per padded row: enough for 2040-wide outputs at stride 1. */
#define RING_ROW 2112
/* Vector loops may read up to this far past the last tap they use. */
#define RING_SLACK 40

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

/* Three zero-padded copies of input rows, tagged with the row they hold. */
typedef struct ring {
    float rows[3][RING_ROW] __attribute__((aligned(64)));
    ptrdiff_t tag[3];
} ring;

/* The padded copy of input row iy (column c of the copy is input column
 * c - pad), or NULL outside the image. */
static const float *ring_row(ring *r, const conv_geometry *g, const float *in,
                             ptrdiff_t iy, size_t width) {
    if (iy < 0 || iy >= (ptrdiff_t)g->in[1])
        return NULL;
    int slot = (int)(iy % 3);
    float *row = r->rows[slot];
    if (r->tag[slot] != iy) {
        const size_t W = g->in[2], pad = (size_t)g->pad[2];
        memset(row, 0, pad * sizeof *row);
        memcpy(row + pad, in + (size_t)iy * W, W * sizeof *row);
        memset(row + pad + W, 0, (width - pad - W) * sizeof *row);
        r->tag[slot] = iy;
    }
    return row;
}

/* Width of the padded rows for this plane, or 0 when it does not fit. */
static size_t ring_width(const conv_geometry *g) {
    size_t reach = (g->out[2] - 1) * g->stride[2] + 3; /* columns read */
    size_t need = (size_t)g->pad[2] + g->in[2];
    if (reach > need)
        need = reach;
    need += RING_SLACK;
    return need <= RING_ROW ? need : 0;
}

static void plane_3x3_scalar(const conv_geometry *g, const float *in,
                             const float *w, float *out,
                             const depthwise_epilogue *ep, ring *r,
                             size_t width) {
    const size_t OH = g->out[1], OW = g->out[2], s = g->stride[2];
    for (size_t oy = 0; oy < OH; oy++) {
        const float *rows[3];
        for (int ky = 0; ky < 3; ky++)
            rows[ky] = ring_row(r, g, in, (ptrdiff_t)(oy * g->stride[1]) + ky - g->pad[1], width);
        for (size_t ox = 0; ox < OW; ox++) {
            float acc = 0.0f;
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky])
                    continue;
                const float *p = rows[ky] + ox * s;
                acc += p[0] * w[ky * 3] + p[1] * w[ky * 3 + 1] + p[2] * w[ky * 3 + 2];
            }
            out[oy * OW + ox] = finish(ep, acc, oy * OW + ox);
        }
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

/* Vectors of 16 outputs per row at most (2048-wide outputs). */
#define DW512_MAX_VECTORS 128

/* How one 16-lane segment of an input row is read: lanes [lo, hi) hold
 * columns start + lane; the others are zero. A segment starting left of the
 * row (start < 0) loads from the row's first element and shifts the lanes
 * up with a permute, so no address ever leaves the row. (An expand-load
 * would do it in one instruction, but it is microcoded and slow on AMD.) */
typedef struct segment {
    __m512i shift_index; /* lane j takes loaded lane j - shift */
    ptrdiff_t start;     /* first column read: max(start, 0) */
    __mmask16 load_mask, mask;
    bool shifted;
} segment;

AVX512_TARGET static segment make_segment(ptrdiff_t start, ptrdiff_t width, size_t lanes) {
    ptrdiff_t lo = start < 0 ? -start : 0, hi = width - start;
    if (hi > (ptrdiff_t)lanes)
        hi = (ptrdiff_t)lanes;
    segment s;
    s.mask = s.load_mask = 0;
    for (ptrdiff_t j = lo; j < hi; j++) {
        s.mask |= (__mmask16)(1u << j);
        s.load_mask |= (__mmask16)(1u << (j - lo));
    }
    s.shifted = lo > 0;
    s.start = start + lo;
    s.shift_index = _mm512_sub_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)(lo < 16 ? lo : 0)));
    return s;
}

AVX512_TARGET static ALWAYS_INLINE __m512 segment_load(const float *row, const segment *s) {
    __m512 v = _mm512_maskz_loadu_ps(s->load_mask, row + s->start);
    return s->shifted ? _mm512_maskz_permutexvar_ps(s->mask, s->shift_index, v) : v;
}

/* Reads the input in place: per vector of outputs, the segments every tap
 * needs (3 for stride 1; 4 for stride 2: two windows of 32 columns whose
 * even/odd lanes are taps 0/1 and 2) are planned once per plane. */
/* Tap row ky of one output vector: 3 weighted columns of one input row.
 * Stride 2 de-interleaves two 32-column windows (at p and p + 2). */
AVX512_TARGET static ALWAYS_INLINE __m512 tap_row_plain(const int stride, const float *p,
                                                       __m512 w0, __m512 w1, __m512 w2,
                                                       __m512i even, __m512i odd) {
    if (stride == 1) {
        __m512 a = _mm512_mul_ps(w0, _mm512_loadu_ps(p));
        a = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p + 1), a);
        return _mm512_fmadd_ps(w2, _mm512_loadu_ps(p + 2), a);
    }
    __m512 lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
    __m512 lo2 = _mm512_loadu_ps(p + 2), hi2 = _mm512_loadu_ps(p + 18);
    __m512 a = _mm512_mul_ps(w0, _mm512_permutex2var_ps(lo, even, hi));
    a = _mm512_fmadd_ps(w1, _mm512_permutex2var_ps(lo, odd, hi), a);
    return _mm512_fmadd_ps(w2, _mm512_permutex2var_ps(lo2, even, hi2), a);
}

AVX512_TARGET static ALWAYS_INLINE __m512 tap_row_segments(const int stride, const float *row,
                                                          const segment *s, __m512 w0,
                                                          __m512 w1, __m512 w2, __m512i even,
                                                          __m512i odd) {
    if (stride == 1) {
        __m512 a = _mm512_mul_ps(w0, segment_load(row, &s[0]));
        a = _mm512_fmadd_ps(w1, segment_load(row, &s[1]), a);
        return _mm512_fmadd_ps(w2, segment_load(row, &s[2]), a);
    }
    __m512 lo = segment_load(row, &s[0]), hi = segment_load(row, &s[1]);
    __m512 lo2 = segment_load(row, &s[2]), hi2 = segment_load(row, &s[3]);
    __m512 a = _mm512_mul_ps(w0, _mm512_permutex2var_ps(lo, even, hi));
    a = _mm512_fmadd_ps(w1, _mm512_permutex2var_ps(lo, odd, hi), a);
    return _mm512_fmadd_ps(w2, _mm512_permutex2var_ps(lo2, even, hi2), a);
}

/* What every plane of one geometry shares: per output vector, its column
 * segments and whether they all lie inside the row. */
typedef struct dw512_plan {
    size_t vectors;
    segment seg[DW512_MAX_VECTORS][4];
    bool inside[DW512_MAX_VECTORS];
} dw512_plan;

AVX512_TARGET static bool dw512_plan_build(const conv_geometry *g, dw512_plan *p) {
    const int stride = (int)g->stride[2];
    const size_t OW = g->out[2];
    const ptrdiff_t W = (ptrdiff_t)g->in[2];
    const size_t vectors = (OW + 15) / 16;
    if (vectors > DW512_MAX_VECTORS)
        return false;
    const int n_seg = stride == 1 ? 3 : 4;
    segment (*seg)[4] = p->seg;
    bool *inside = p->inside;
    p->vectors = vectors;
    for (size_t v = 0; v < vectors; v++) {
        size_t n = OW - 16 * v < 16 ? OW - 16 * v : 16;
        ptrdiff_t base = (ptrdiff_t)(16 * v) * stride - g->pad[2];
        if (stride == 1) {
            for (int kx = 0; kx < 3; kx++)
                seg[v][kx] = make_segment(base + kx, W, n);
        } else {
            /* Window at base: lanes 0..2n-1; window at base + 2: 0..2n-2. */
            seg[v][0] = make_segment(base, W, 2 * n < 16 ? 2 * n : 16);
            seg[v][1] = make_segment(base + 16, W, 2 * n > 16 ? 2 * n - 16 : 0);
            seg[v][2] = make_segment(base + 2, W, 2 * n - 1 < 16 ? 2 * n - 1 : 16);
            seg[v][3] = make_segment(base + 18, W, 2 * n - 1 > 16 ? 2 * n - 1 - 16 : 0);
        }
        inside[v] = n == 16;
        for (int k = 0; k < n_seg; k++)
            inside[v] &= !seg[v][k].shifted && seg[v][k].mask == (__mmask16)0xFFFF;
    }
    return true;
}

/* One output vector: segments s (NULL: plain loads inside the row). */
#define DW512_VECTOR(V, S)                                                     \
    do {                                                                       \
        const size_t v_ = (V);                                                 \
        const segment *s_ = (S);                                               \
        __m512 a0 = zero, a1 = zero, a2 = zero;                                \
        if (!s_) {                                                             \
            ptrdiff_t base = (ptrdiff_t)(16 * v_) * stride - g->pad[2];        \
            if (r0)                                                            \
                a0 = tap_row_plain(stride, r0 + base, w00, w01, w02, even, odd); \
            if (r1)                                                            \
                a1 = tap_row_plain(stride, r1 + base, w10, w11, w12, even, odd); \
            if (r2)                                                            \
                a2 = tap_row_plain(stride, r2 + base, w20, w21, w22, even, odd); \
        } else {                                                               \
            if (r0)                                                            \
                a0 = tap_row_segments(stride, r0, s_, w00, w01, w02, even, odd); \
            if (r1)                                                            \
                a1 = tap_row_segments(stride, r1, s_, w10, w11, w12, even, odd); \
            if (r2)                                                            \
                a2 = tap_row_segments(stride, r2, s_, w20, w21, w22, even, odd); \
        }                                                                      \
        size_t n_ = OW - 16 * v_ < 16 ? OW - 16 * v_ : 16;                     \
        __mmask16 m_ = n_ == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n_) - 1u); \
        size_t i_ = oy * OW + 16 * v_;                                         \
        __m512 acc_ = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);               \
        _mm512_mask_storeu_ps(out + i_, m_, dw512_finish(acc_, ep, i_, m_));   \
    } while (0)

/* Stride 2, row by row: per vector of 16 outputs the column segments are
 * planned once per plane; vectors whose segments lie inside the row use
 * plain loads. Each input row gets its own accumulator so the nine FMAs are
 * three short chains. */
AVX512_TARGET static ALWAYS_INLINE void plane_3x3_avx512(
    const int stride, const conv_geometry *g, const dw512_plan *plan, const float *in,
    const float *w, float *out, const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2];
    const ptrdiff_t W = (ptrdiff_t)g->in[2], H = (ptrdiff_t)g->in[1];
    const size_t vectors = plan->vectors, last = vectors - 1;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
                                          21, 23, 25, 27, 29, 31);
    const __m512 w00 = _mm512_set1_ps(w[0]), w01 = _mm512_set1_ps(w[1]), w02 = _mm512_set1_ps(w[2]);
    const __m512 w10 = _mm512_set1_ps(w[3]), w11 = _mm512_set1_ps(w[4]), w12 = _mm512_set1_ps(w[5]);
    const __m512 w20 = _mm512_set1_ps(w[6]), w21 = _mm512_set1_ps(w[7]), w22 = _mm512_set1_ps(w[8]);
    const __m512 zero = _mm512_setzero_ps();
    /* The edge vectors' segments as locals, out of the plan. */
    segment first[4], final[4];
    memcpy(first, plan->seg[0], sizeof first);
    memcpy(final, plan->seg[last], sizeof final);
    const segment *first_s = plan->inside[0] ? NULL : first;
    const segment *final_s = plan->inside[last] ? NULL : final;
    for (size_t oy = 0; oy < OH; oy++) {
        ptrdiff_t iy = (ptrdiff_t)(oy * g->stride[1]) - g->pad[1];
        const float *r0 = iy >= 0 && iy < H ? in + iy * W : NULL;
        const float *r1 = iy + 1 >= 0 && iy + 1 < H ? in + (iy + 1) * W : NULL;
        const float *r2 = iy + 2 >= 0 && iy + 2 < H ? in + (iy + 2) * W : NULL;
        DW512_VECTOR(0, first_s);
        for (size_t v = 1; v < last; v++)
            DW512_VECTOR(v, plan->inside[v] ? NULL : plan->seg[v]);
        if (last > 0)
            DW512_VECTOR(last, final_s);
    }
}

/* The three shifted copies (tap columns 0, 1, 2) of input row iy under one
 * strip of 16 outputs; zeros for a row in the padding. */
AVX512_TARGET static ALWAYS_INLINE void strip_row(const float *in, ptrdiff_t iy, ptrdiff_t H,
                                                 ptrdiff_t W, const segment *s, __m512 *c0,
                                                 __m512 *c1, __m512 *c2) {
    if (iy < 0 || iy >= H) {
        *c0 = *c1 = *c2 = _mm512_setzero_ps();
        return;
    }
    const float *row = in + iy * W;
    *c0 = segment_load(row, &s[0]);
    *c1 = segment_load(row, &s[1]);
    *c2 = segment_load(row, &s[2]);
}

/* Stride 1: column strips of 16 outputs, top to bottom. Each input row of a
 * strip is loaded once and slides through the three window rows held in
 * registers (top t, middle m, bottom b). */
AVX512_TARGET static void strips_s1_avx512(const conv_geometry *g, const dw512_plan *plan,
                                           const float *in, const float *w, float *out,
                                           const depthwise_epilogue *ep) {
    const size_t OH = g->out[1], OW = g->out[2];
    const ptrdiff_t W = (ptrdiff_t)g->in[2], H = (ptrdiff_t)g->in[1];
    const __m512 w00 = _mm512_set1_ps(w[0]), w01 = _mm512_set1_ps(w[1]), w02 = _mm512_set1_ps(w[2]);
    const __m512 w10 = _mm512_set1_ps(w[3]), w11 = _mm512_set1_ps(w[4]), w12 = _mm512_set1_ps(w[5]);
    const __m512 w20 = _mm512_set1_ps(w[6]), w21 = _mm512_set1_ps(w[7]), w22 = _mm512_set1_ps(w[8]);
    for (size_t v = 0; v < plan->vectors; v++) {
        segment s[3];
        memcpy(s, plan->seg[v], sizeof s);
        const size_t n = OW - 16 * v < 16 ? OW - 16 * v : 16;
        const __mmask16 mask = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        ptrdiff_t iy = -g->pad[1];
        __m512 t0, t1, t2, m0, m1, m2, b0, b1, b2;
        strip_row(in, iy, H, W, s, &t0, &t1, &t2);
        strip_row(in, iy + 1, H, W, s, &m0, &m1, &m2);
        for (size_t oy = 0; oy < OH; oy++, iy++) {
            strip_row(in, iy + 2, H, W, s, &b0, &b1, &b2);
            /* One accumulator per window row: three short FMA chains. */
            __m512 a0 = _mm512_mul_ps(w00, t0), a1 = _mm512_mul_ps(w10, m0);
            __m512 a2 = _mm512_mul_ps(w20, b0);
            a0 = _mm512_fmadd_ps(w01, t1, a0);
            a1 = _mm512_fmadd_ps(w11, m1, a1);
            a2 = _mm512_fmadd_ps(w21, b1, a2);
            a0 = _mm512_fmadd_ps(w02, t2, a0);
            a1 = _mm512_fmadd_ps(w12, m2, a1);
            a2 = _mm512_fmadd_ps(w22, b2, a2);
            size_t i = oy * OW + 16 * v;
            __m512 acc = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
            _mm512_mask_storeu_ps(out + i, mask, dw512_finish(acc, ep, i, mask));
            t0 = m0, t1 = m1, t2 = m2;
            m0 = b0, m1 = b1, m2 = b2;
        }
    }
}

AVX512_TARGET static void plane_3x3_s1_avx512(const conv_geometry *g, const dw512_plan *p,
                                              const float *in, const float *w, float *out,
                                              const depthwise_epilogue *ep) {
    strips_s1_avx512(g, p, in, w, out, ep);
}

AVX512_TARGET static void plane_3x3_s2_avx512(const conv_geometry *g, const dw512_plan *p,
                                              const float *in, const float *w, float *out,
                                              const depthwise_epilogue *ep) {
    plane_3x3_avx512(2, g, p, in, w, out, ep);
}

AVX2_TARGET static ALWAYS_INLINE __m256 dw256_finish(__m256 v, const depthwise_epilogue *ep,
                                                     size_t i, __m256i mask) {
    v = _mm256_add_ps(v, _mm256_set1_ps(ep->bias));
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        if (ep->residual[r])
            v = _mm256_add_ps(v, _mm256_maskload_ps(ep->residual[r] + i, mask));
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

AVX2_TARGET static ALWAYS_INLINE void plane_3x3_avx2(
    const int stride, const conv_geometry *g, const float *in, const float *w,
    float *out, const depthwise_epilogue *ep, ring *r, size_t width) {
    static const int ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                            0,  0,  0,  0,  0,  0,  0,  0};
    const size_t OH = g->out[1], OW = g->out[2];
    __m256 wv[3][3];
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            wv[ky][kx] = _mm256_set1_ps(w[ky * 3 + kx]);
    for (size_t oy = 0; oy < OH; oy++) {
        const float *rows[3];
        for (int ky = 0; ky < 3; ky++)
            rows[ky] = ring_row(r, g, in, (ptrdiff_t)(oy * g->stride[1]) + ky - g->pad[1], width);
        for (size_t ox = 0; ox < OW; ox += 8) {
            size_t n = OW - ox < 8 ? OW - ox : 8;
            __m256i mask = _mm256_loadu_si256((const __m256i *)(ones_then_zeros + 8 - n));
            __m256 acc = _mm256_setzero_ps();
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky])
                    continue;
                const float *p = rows[ky] + ox * (size_t)stride;
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
            _mm256_maskstore_ps(out + i, mask, dw256_finish(acc, ep, i, mask));
        }
    }
}

AVX2_TARGET static void plane_3x3_s1_avx2(const conv_geometry *g, const float *in,
                                          const float *w, float *out,
                                          const depthwise_epilogue *ep, ring *r,
                                          size_t width) {
    plane_3x3_avx2(1, g, in, w, out, ep, r, width);
}

AVX2_TARGET static void plane_3x3_s2_avx2(const conv_geometry *g, const float *in,
                                          const float *w, float *out,
                                          const depthwise_epilogue *ep, ring *r,
                                          size_t width) {
    plane_3x3_avx2(2, g, in, w, out, ep, r, width);
}

#endif /* DW_X86 */

static bool fast_geometry(const conv_geometry *g) {
    return g->kernel[1] == 3 && g->kernel[2] == 3 && g->dilation[1] == 1 &&
           g->dilation[2] == 1 && g->stride[1] == g->stride[2] &&
           (g->stride[2] == 1 || g->stride[2] == 2) && g->out[2] > 0 && g->pad[1] >= 0 &&
           g->pad[2] >= 0;
}

size_t depthwise_plan_bytes(const conv_geometry *g) {
    (void)g;
#if DW_X86
    return (sizeof(dw512_plan) + 63) / 64 * 64;
#else
    return 0;
#endif
}

const void *depthwise_plan_build(const conv_geometry *g, void *plan) {
#if DW_X86
    if (plan && fast_geometry(g) && sgemm_isa_current() == SGEMM_ISA_AVX512 &&
        dw512_plan_build(g, plan))
        return plan;
#endif
    (void)g;
    (void)plan;
    return NULL;
}

#if DW_X86
/* The AVX-512 path for a plane with a plan (or one made here: a large stack
 * frame, kept out of the callers that bring their own). False when the
 * plane is too wide for it. */
static bool plane_avx512(const conv_geometry *g, const void *plan, const float *in,
                         const float *w, float *out, const depthwise_epilogue *ep);

__attribute__((noinline)) static bool plane_avx512_unplanned(const conv_geometry *g,
                                                            const float *in, const float *w,
                                                            float *out,
                                                            const depthwise_epilogue *ep) {
    dw512_plan local;
    return dw512_plan_build(g, &local) && plane_avx512(g, &local, in, w, out, ep);
}

static bool plane_avx512(const conv_geometry *g, const void *plan, const float *in,
                         const float *w, float *out, const depthwise_epilogue *ep) {
    if (!plan)
        return plane_avx512_unplanned(g, in, w, out, ep);
    if (g->stride[2] == 1)
        plane_3x3_s1_avx512(g, plan, in, w, out, ep);
    else
        plane_3x3_s2_avx512(g, plan, in, w, out, ep);
    return true;
}
#endif

/* The ring of padded rows for the AVX2 and scalar paths (25 KiB of stack). */
__attribute__((noinline)) static void plane_on_ring(const conv_geometry *g, const float *in,
                                                   const float *w, float *out,
                                                   const depthwise_epilogue *ep, size_t width);

void depthwise_plane(const conv_geometry *g, const void *plan, const float *in,
                     const float *w, float *out, const depthwise_epilogue *ep) {
    bool fast = fast_geometry(g);
#if DW_X86
    if (fast && sgemm_isa_current() == SGEMM_ISA_AVX512 && plane_avx512(g, plan, in, w, out, ep))
        return;
#endif
    size_t width = fast ? ring_width(g) : 0;
    if (!width) {
        depthwise_plane_generic(g, in, w, out, ep);
        return;
    }
    plane_on_ring(g, in, w, out, ep, width);
}

static void plane_on_ring(const conv_geometry *g, const float *in, const float *w, float *out,
                          const depthwise_epilogue *ep, size_t width) {
    ring r;
    r.tag[0] = r.tag[1] = r.tag[2] = -1;
#if DW_X86
    switch (sgemm_isa_current()) {
    case SGEMM_ISA_AVX512: /* too wide for its masks: AVX2 on the ring */
    case SGEMM_ISA_AVX2:
        if (g->stride[2] == 1)
            plane_3x3_s1_avx2(g, in, w, out, ep, &r, width);
        else
            plane_3x3_s2_avx2(g, in, w, out, ep, &r, width);
        return;
    case SGEMM_ISA_SCALAR:
        break;
    }
#endif
    plane_3x3_scalar(g, in, w, out, ep, &r, width);
}
