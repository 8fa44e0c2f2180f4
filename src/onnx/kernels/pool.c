/* pool.c - pooling of one plane; see pool.h. */
#include "onnx/kernels/pool.h"

#include <float.h>
#include <stdlib.h>

#include "onnx/kernels/sgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_X86 1
#else
#define POOL_X86 0
#endif

/* Taps [*lo, *hi) of a window starting at `start` that land in [0, in). */
static inline void taps(ptrdiff_t start, size_t k, size_t d, size_t in,
                        size_t *lo, size_t *hi) {
    if (d == 1) { /* the common case, without divisions */
        ptrdiff_t first = start < 0 ? -start : 0, last = (ptrdiff_t)in - start;
        if (last > (ptrdiff_t)k)
            last = (ptrdiff_t)k;
        if (last < 0)
            last = 0;
        *lo = (size_t)(first < last ? first : last);
        *hi = (size_t)last;
        return;
    }
    ptrdiff_t dd = (ptrdiff_t)d;
    ptrdiff_t first = start >= 0 ? 0 : (-start + dd - 1) / dd;
    ptrdiff_t room = (ptrdiff_t)in - start; /* positions start .. in-1 */
    ptrdiff_t last = room <= 0 ? 0 : (room + dd - 1) / dd;
    if (last > (ptrdiff_t)k)
        last = (ptrdiff_t)k;
    if (first > last)
        first = last;
    *lo = (size_t)first;
    *hi = (size_t)last;
}

typedef struct window_at {
    ptrdiff_t start[CONV_MAX_SPATIAL];
    size_t lo[CONV_MAX_SPATIAL], hi[CONV_MAX_SPATIAL];
} window_at;

static inline void locate(const pool_window *w, size_t od, size_t oh,
                          size_t ow, window_at *at) {
    const conv_geometry *g = &w->g;
    size_t o[3] = {od, oh, ow};
    for (int i = 0; i < CONV_MAX_SPATIAL; i++) {
        at->start[i] = (ptrdiff_t)(o[i] * g->stride[i]) - g->pad[i];
        taps(at->start[i], g->kernel[i], g->dilation[i], g->in[i], &at->lo[i], &at->hi[i]);
    }
}

#define MAX_WINDOW(TYPE, NAME, LOWEST)                                         \
    static TYPE NAME(const pool_window *w, const TYPE *in, const window_at *at,\
                     size_t *where) {                                          \
        const conv_geometry *g = &w->g;                                        \
        TYPE best = LOWEST;                                                    \
        size_t best_at = 0;                                                    \
        bool any = false;                                                      \
        for (size_t a = at->lo[0]; a < at->hi[0]; a++) {                       \
            size_t id = (size_t)(at->start[0] + (ptrdiff_t)(a * g->dilation[0])); \
            for (size_t b = at->lo[1]; b < at->hi[1]; b++) {                   \
                size_t ih = (size_t)(at->start[1] + (ptrdiff_t)(b * g->dilation[1])); \
                const TYPE *row = in + (id * g->in[1] + ih) * g->in[2];        \
                for (size_t c = at->lo[2]; c < at->hi[2]; c++) {               \
                    size_t iw = (size_t)(at->start[2] + (ptrdiff_t)(c * g->dilation[2])); \
                    if (!any || row[iw] > best) {                              \
                        best = row[iw];                                        \
                        best_at = (id * g->in[1] + ih) * g->in[2] + iw;        \
                        any = true;                                            \
                    }                                                          \
                }                                                              \
            }                                                                  \
        }                                                                      \
        *where = best_at;                                                      \
        return best;                                                           \
    }

MAX_WINDOW(float, max_window_f32, -FLT_MAX)
MAX_WINDOW(uint8_t, max_window_u8, 0)
MAX_WINDOW(int8_t, max_window_i8, -128)

/* Position in the plane with the axes reversed (storage_order 1). */
static int64_t column_major_index(const conv_geometry *g, size_t row_major) {
    size_t iw = row_major % g->in[2], ih = row_major / g->in[2] % g->in[1];
    size_t id = row_major / (g->in[2] * g->in[1]);
    return (int64_t)((iw * g->in[1] + ih) * g->in[0] + id);
}

static void max_generic(const pool_window *w, const float *in, float *out,
                        int64_t *indices, int64_t base, bool column_major,
                        size_t oh_begin, size_t oh_end, size_t ow_begin,
                        size_t ow_end) {
    const conv_geometry *g = &w->g;
    for (size_t od = 0; od < g->out[0]; od++)
        for (size_t oh = oh_begin; oh < oh_end; oh++)
            for (size_t ow = ow_begin; ow < ow_end; ow++) {
                window_at at;
                locate(w, od, oh, ow, &at);
                size_t where;
                size_t o = (od * g->out[1] + oh) * g->out[2] + ow;
                out[o] = max_window_f32(w, in, &at, &where);
                if (indices)
                    indices[o] = base + (column_major ? column_major_index(g, where)
                                                      : (int64_t)where);
            }
}

#if POOL_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))
#define ALWAYS_INLINE inline __attribute__((always_inline))

static inline __mmask16 low16(size_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* 2-D windows of any size, stride 1 or 2, dilation 1, one depth slice, 16
 * outputs at a time: window rows outside the input are skipped and columns
 * past its right end read as -FLT_MAX (masked loads), so only columns with
 * left padding go through max_generic. Stride 2 loads two vectors at column
 * offset 2q and takes their even (tap 2q) and odd (tap 2q+1) columns, after
 * the vertical max over the window's rows. */
AVX512_TARGET static ALWAYS_INLINE void max_2d_avx512(const int stride,
                                                     const pool_window *w,
                                                     const float *in,
                                                     float *out) {
    const conv_geometry *g = &w->g;
    const ptrdiff_t H = (ptrdiff_t)g->in[1], W = (ptrdiff_t)g->in[2];
    const size_t OH = g->out[1], OW = g->out[2];
    const ptrdiff_t kh = (ptrdiff_t)g->kernel[1], kw = (ptrdiff_t)g->kernel[2];
    const ptrdiff_t pt = g->pad[1], pl = g->pad[2], s = stride;
    /* Columns whose window starts inside the row. */
    ptrdiff_t x0 = (pl + s - 1) / s;
    if (x0 > (ptrdiff_t)OW)
        x0 = (ptrdiff_t)OW;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 lowest = _mm512_set1_ps(-FLT_MAX);
    for (size_t oy = 0; oy < OH; oy++) {
        const ptrdiff_t iy = (ptrdiff_t)oy * s - pt;
        const ptrdiff_t ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < kh ? H - iy : kh;
        float *o = out + oy * OW;
        if (x0 > 0)
            max_generic(w, in, out, NULL, 0, false, oy, oy + 1, 0, (size_t)x0);
        for (ptrdiff_t ox = x0; ox < (ptrdiff_t)OW; ox += 16) {
            ptrdiff_t n = (ptrdiff_t)OW - ox < 16 ? (ptrdiff_t)OW - ox : 16;
            __m512 v = lowest;
            if (stride == 1) {
                for (ptrdiff_t kx = 0; kx < kw; kx++) {
                    ptrdiff_t c = ox - pl + kx, valid = W - c < n ? W - c : n;
                    if (valid <= 0)
                        continue;
                    __mmask16 m = low16((size_t)valid);
                    for (ptrdiff_t ky = ky0; ky < ky1; ky++)
                        v = _mm512_max_ps(v, _mm512_mask_loadu_ps(lowest, m, in + (iy + ky) * W + c));
                }
            } else {
                for (ptrdiff_t q = 0; 2 * q < kw; q++) {
                    bool has_odd = 2 * q + 1 < kw;
                    ptrdiff_t c = 2 * ox - pl + 2 * q;
                    ptrdiff_t count = has_odd ? 2 * n : 2 * n - 1;
                    if (W - c < count)
                        count = W - c;
                    if (count <= 0)
                        continue;
                    __mmask16 m_lo = low16((size_t)count), m_hi = low16(count > 16 ? (size_t)count - 16 : 0);
                    __m512 lo = lowest, hi = lowest;
                    for (ptrdiff_t ky = ky0; ky < ky1; ky++) {
                        const float *p = in + (iy + ky) * W + c;
                        lo = _mm512_max_ps(lo, _mm512_mask_loadu_ps(lowest, m_lo, p));
                        hi = _mm512_max_ps(hi, _mm512_mask_loadu_ps(lowest, m_hi, p + 16));
                    }
                    v = _mm512_max_ps(v, _mm512_permutex2var_ps(lo, even, hi));
                    if (has_odd)
                        v = _mm512_max_ps(v, _mm512_permutex2var_ps(lo, odd, hi));
                }
            }
            _mm512_mask_storeu_ps(o + ox, low16((size_t)n), v);
        }
    }
}

AVX512_TARGET static void max_2d_s1_avx512(const pool_window *w, const float *in, float *out) {
    max_2d_avx512(1, w, in, out);
}

AVX512_TARGET static void max_2d_s2_avx512(const pool_window *w, const float *in, float *out) {
    max_2d_avx512(2, w, in, out);
}
#endif

void pool_max_plane(const pool_window *w, const float *in, float *out,
                    int64_t *indices, int64_t index_base, bool column_major) {
    const conv_geometry *g = &w->g;
#if POOL_X86
    if (!indices && g->out[0] == 1 && g->in[0] == 1 && g->stride[1] == g->stride[2] &&
        (g->stride[2] == 1 || g->stride[2] == 2) && g->dilation[1] == 1 &&
        g->dilation[2] == 1 && sgemm_isa_current() == SGEMM_ISA_AVX512) {
        if (g->stride[2] == 1)
            max_2d_s1_avx512(w, in, out);
        else
            max_2d_s2_avx512(w, in, out);
        return;
    }
#endif
    max_generic(w, in, out, indices, index_base, column_major, 0, g->out[1], 0, g->out[2]);
}

#define MAX_PLANE_INT(TYPE, NAME, WINDOW)                                      \
    void NAME(const pool_window *w, const TYPE *in, TYPE *out) {               \
        const conv_geometry *g = &w->g;                                        \
        for (size_t od = 0; od < g->out[0]; od++)                              \
            for (size_t oh = 0; oh < g->out[1]; oh++)                          \
                for (size_t ow = 0; ow < g->out[2]; ow++) {                    \
                    window_at at;                                              \
                    size_t where;                                              \
                    locate(w, od, oh, ow, &at);                                \
                    out[(od * g->out[1] + oh) * g->out[2] + ow] =              \
                        WINDOW(w, in, &at, &where);                            \
                }                                                              \
    }

MAX_PLANE_INT(uint8_t, pool_max_plane_u8, max_window_u8)
MAX_PLANE_INT(int8_t, pool_max_plane_i8, max_window_i8)

/* Taps of the window inside the padded extent [-pad, in + pad_end). */
static size_t padded_taps(ptrdiff_t start, size_t k, size_t d, size_t in,
                          ptrdiff_t pad, ptrdiff_t pad_end) {
    size_t count = 0;
    for (size_t t = 0; t < k; t++) {
        ptrdiff_t p = start + (ptrdiff_t)(t * d);
        if (p >= -pad && p < (ptrdiff_t)in + pad_end)
            count++;
    }
    return count;
}

void pool_avg_plane(const pool_window *w, const float *in, float *out) {
    const conv_geometry *g = &w->g;
    for (size_t od = 0; od < g->out[0]; od++)
        for (size_t oh = 0; oh < g->out[1]; oh++)
            for (size_t ow = 0; ow < g->out[2]; ow++) {
                window_at at;
                locate(w, od, oh, ow, &at);
                float sum = 0.0f;
                for (size_t a = at.lo[0]; a < at.hi[0]; a++) {
                    size_t id = (size_t)(at.start[0] + (ptrdiff_t)(a * g->dilation[0]));
                    for (size_t b = at.lo[1]; b < at.hi[1]; b++) {
                        size_t ih = (size_t)(at.start[1] + (ptrdiff_t)(b * g->dilation[1]));
                        const float *row = in + (id * g->in[1] + ih) * g->in[2];
                        for (size_t c = at.lo[2]; c < at.hi[2]; c++)
                            sum += row[(size_t)(at.start[2] + (ptrdiff_t)(c * g->dilation[2]))];
                    }
                }
                size_t count = 1;
                for (int i = 0; i < CONV_MAX_SPATIAL; i++)
                    count *= w->count_include_pad
                                 ? padded_taps(at.start[i], g->kernel[i], g->dilation[i],
                                               g->in[i], g->pad[i], w->pad_end[i])
                                 : at.hi[i] - at.lo[i];
                out[(od * g->out[1] + oh) * g->out[2] + ow] = count ? sum / (float)count : 0.0f;
            }
}

int pool_plan(const conv_window_attrs *attrs, const onnx_tensor *x,
              pool_window *w, int64_t *ydims, kh_error *err) {
    char xs[96];
    if (x->rank < 3 || x->rank > 2 + CONV_MAX_SPATIAL)
        return kh_error_set(err, x->rank < 3 ? KH_ESHAPE : KH_EUNSUPPORTED,
                            "X %s: rank 3 to %d (1 to 3 spatial axes) supported",
                            onnx_shape_str(x, xs, sizeof xs), 2 + CONV_MAX_SPATIAL);
    const int spatial = x->rank - 2;
    if ((int)attrs->kernel_count != spatial)
        return kh_error_set(err, KH_EINVAL,
                            "kernel_shape has %zu values for X %s with %d spatial axes",
                            attrs->kernel_count, onnx_shape_str(x, xs, sizeof xs), spatial);
    int64_t out[CONV_MAX_SPATIAL], pb[CONV_MAX_SPATIAL], pe[CONV_MAX_SPATIAL];
    int rc = conv_window_output(attrs, spatial, x->dims + 2, attrs->kernel, true, out, pb, pe, err);
    if (rc)
        return rc;
    conv_window_geometry(&w->g, spatial, x->dims + 2, out, attrs->kernel, attrs, pb);
    w->g.channels = 1;
    int lead = CONV_MAX_SPATIAL - spatial;
    for (int i = 0; i < CONV_MAX_SPATIAL; i++)
        w->pad_end[i] = i < lead ? 0 : (ptrdiff_t)pe[i - lead];
    w->count_include_pad = false;
    ydims[0] = x->dims[0];
    ydims[1] = x->dims[1];
    for (int i = 0; i < spatial; i++)
        ydims[2 + i] = out[i];
    return KH_OK;
}

static void max_2x2_row_scalar(const float *row0, const float *row1, size_t w,
                               ptrdiff_t pad_left, float *out, size_t out_w, size_t px0) {
    for (size_t px = px0; px < out_w; px++) {
        float best = -FLT_MAX;
        for (ptrdiff_t c = (ptrdiff_t)(2 * px) - pad_left; c < (ptrdiff_t)(2 * px) - pad_left + 2; c++) {
            if (c < 0 || c >= (ptrdiff_t)w)
                continue;
            if (row0[c] > best)
                best = row0[c];
            if (row1 && row1[c] > best)
                best = row1[c];
        }
        out[px] = best;
    }
}

#if POOL_X86
/* Windows starting at column 2*px (no left padding): 32 columns per 16
 * outputs, missing columns read as -FLT_MAX. */
AVX512_TARGET static void max_2x2_row_avx512(const float *row0, const float *row1, size_t w,
                                             float *out, size_t out_w) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 lowest = _mm512_set1_ps(-FLT_MAX);
    for (size_t px = 0; px < out_w; px += 16) {
        size_t n = out_w - px < 16 ? out_w - px : 16;
        size_t c0 = 2 * px, cols = w - c0 < 2 * n ? w - c0 : 2 * n;
        __mmask16 m_lo = low16(cols), m_hi = low16(cols > 16 ? cols - 16 : 0);
        __m512 a = _mm512_mask_loadu_ps(lowest, m_lo, row0 + c0);
        __m512 b = _mm512_mask_loadu_ps(lowest, m_hi, row0 + c0 + 16);
        if (row1) {
            a = _mm512_max_ps(a, _mm512_mask_loadu_ps(lowest, m_lo, row1 + c0));
            b = _mm512_max_ps(b, _mm512_mask_loadu_ps(lowest, m_hi, row1 + c0 + 16));
        }
        __m512 v = _mm512_max_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
        _mm512_mask_storeu_ps(out + px, low16(n), v);
    }
}
#endif

void pool_max_2x2_row(const float *row0, const float *row1, size_t w, ptrdiff_t pad_left,
                      float *out, size_t out_w) {
#if POOL_X86
    /* Every window must start inside the row: 2 * (out_w - 1) < w. */
    if (pad_left == 0 && out_w && 2 * (out_w - 1) < w &&
        sgemm_isa_current() == SGEMM_ISA_AVX512) {
        max_2x2_row_avx512(row0, row1, w, out, out_w);
        return;
    }
#endif
    max_2x2_row_scalar(row0, row1, w, pad_left, out, out_w, 0);
}

int pool_state_init(onnx_node *n, size_t state_size, kh_error *err) {
    pool_state *st = calloc(1, state_size);
    if (!st)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = st;
    int rc = conv_window_read(n, &st->attrs, err);
    if (rc)
        return rc;
    if (!st->attrs.kernel_count)
        return kh_error_set(err, KH_EINVAL, "attribute 'kernel_shape' is required");
    return KH_OK;
}

void pool_state_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

int pool_input(onnx_node *n, bool int8_ok, const onnx_tensor **x, kh_error *err) {
    *x = onnx_node_input(n, 0);
    if (!*x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    onnx_dtype t = (*x)->dtype;
    if (int8_ok && t != ONNX_FLOAT && t != ONNX_UINT8 && t != ONNX_INT8)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: float, uint8 and int8 supported",
                            onnx_dtype_name(t));
    if (!int8_ok && t != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(t));
    return KH_OK;
}

int pool_state_plan(pool_state *st, const onnx_tensor *x, int64_t *ydims, kh_error *err) {
    int rc = pool_plan(&st->attrs, x, &st->window, ydims, err);
    if (rc)
        return rc;
    st->planes = (size_t)(x->dims[0] * x->dims[1]);
    st->in_plane = conv_in_size(&st->window.g);
    st->out_plane = conv_out_size(&st->window.g);
    return KH_OK;
}

int pool_global_reshape(onnx_node *n, kh_error *err) {
    const onnx_tensor *x;
    int rc = pool_input(n, false, &x, err);
    if (rc)
        return rc;
    if (x->rank < 2)
        return kh_error_set(err, KH_ESHAPE, "X has rank %d: at least 2 (N, C) expected", x->rank);
    int64_t dims[ONNX_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, dims, err);
}
