/* sgemm.c - packed SGEMM with AVX-512, AVX2+FMA and scalar micro-kernels.
 *
 * Loop nest per column tile (Goto/BLIS style, simplified because A is
 * packed once up front):
 *   for each block of KC rows of B      (B block stays in L2)
 *     [pack the B block]
 *     for each panel of 8 rows of A     (A panel stays in L1)
 *       for each micro-tile of nr columns: micro-kernel 8 x nr
 * Partial products of earlier K blocks are accumulated in C; the epilogue
 * runs with the last block while the values are still in registers.
 */
#include "onnx/kernels/sgemm.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SGEMM_X86 1
#else
#define SGEMM_X86 0
#endif

/* Rows of B per block: 8 x KC floats of A (12 KiB) stay in L1 while a
 * KC x tile_cols block of B comes from L2. */
#define SGEMM_KC 384
/* Floats of B per tile (KC x 192 = 288 KiB): half of a typical L2. */
#define SGEMM_TILE_FLOATS (SGEMM_KC * 192)

enum {
    TILE_LOAD_C = 1u << 0,   /* add the values already in C */
    TILE_EPILOGUE = 1u << 1, /* apply the epilogue (last K block) */
};

/* The epilogue as one micro-tile sees it: pointers moved to the tile. */
typedef struct tile_epilogue {
    const float *bias; /* at the tile's first row; NULL: none */
    const float *res[KERNEL_MAX_RESIDUALS]; /* at the tile's first element; ld = ldc */
    kernel_activation act;
    float alpha, lo, hi;
} tile_epilogue;

/* kc rows; a: packed A panel at the block's first row; b: the micro-tile's
 * B (packed: row r at b + r * nr; direct: row r at b + koffs[r]). */
typedef void (*micro_kernel_fn)(size_t kc, const float *a, const float *b,
                                const ptrdiff_t *koffs, float *c, size_t ldc,
                                size_t rows, size_t cols, unsigned flags,
                                const tile_epilogue *ep);

typedef struct isa_kernels {
    sgemm_isa isa;
    size_t nr;
    micro_kernel_fn packed, direct;
} isa_kernels;

/* ---------------------------------------------------------------- scalar */

#define SCALAR_NR 8

static void micro_scalar(size_t kc, const float *a, const float *b,
                         const ptrdiff_t *koffs, float *c, size_t ldc,
                         size_t rows, size_t cols, unsigned flags,
                         const tile_epilogue *ep) {
    float acc[SGEMM_MR][SCALAR_NR] = {{0}};
    for (size_t k = 0; k < kc; k++) {
        const float *bk = koffs ? b + koffs[k] : b + k * SCALAR_NR;
        float bv[SCALAR_NR] = {0};
        for (size_t j = 0; j < cols; j++)
            bv[j] = bk[j];
        for (size_t i = 0; i < SGEMM_MR; i++)
            for (size_t j = 0; j < SCALAR_NR; j++)
                acc[i][j] += a[i] * bv[j];
        a += SGEMM_MR;
    }
    kernel_epilogue e = {.activation = ep->act, .alpha = ep->alpha,
                         .lo = ep->lo, .hi = ep->hi};
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            float v = acc[i][j];
            if (flags & TILE_LOAD_C)
                v += c[i * ldc + j];
            if (flags & TILE_EPILOGUE) {
                if (ep->bias)
                    v += ep->bias[i];
                for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
                    if (ep->res[r])
                        v += ep->res[r][i * ldc + j];
                v = kernel_activate(&e, v);
            }
            c[i * ldc + j] = v;
        }
    }
}

static void micro_scalar_packed(size_t kc, const float *a, const float *b,
                                const ptrdiff_t *koffs, float *c, size_t ldc,
                                size_t rows, size_t cols, unsigned flags,
                                const tile_epilogue *ep) {
    (void)koffs;
    micro_scalar(kc, a, b, NULL, c, ldc, rows, cols, flags, ep);
}

#if SGEMM_X86

/* ---------------------------------------------------------------- AVX2 */

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX2_NR 24
#define ALWAYS_INLINE inline __attribute__((always_inline))

AVX2_TARGET static ALWAYS_INLINE __m256i avx2_tail_mask(size_t n) {
    static const int ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                            0,  0,  0,  0,  0,  0,  0,  0};
    return _mm256_loadu_si256((const __m256i *)(ones_then_zeros + 8 - n));
}

AVX2_TARGET static ALWAYS_INLINE __m256 avx2_activate(__m256 v,
                                                      const tile_epilogue *ep) {
    switch (ep->act) {
    case KERNEL_ACT_RELU:
        return _mm256_max_ps(v, _mm256_setzero_ps());
    case KERNEL_ACT_LEAKY_RELU: {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(ep->alpha)),
                                neg);
    }
    case KERNEL_ACT_CLIP:
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep->lo)),
                             _mm256_set1_ps(ep->hi));
    case KERNEL_ACT_NONE:
        break;
    }
    return v;
}

/* Four rows (half a panel) by nv vectors of 8 columns; the last vector is
 * masked by `mask` when direct (reading past a row may leave the buffer). */
AVX2_TARGET static ALWAYS_INLINE void
micro_avx2_half(const int nv, const int direct, size_t kc, const float *a,
                const float *b, const ptrdiff_t *koffs, float *c, size_t ldc,
                size_t rows, size_t cols, unsigned flags,
                const tile_epilogue *ep) {
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            acc[i][j] = _mm256_setzero_ps();
    const size_t tail = cols - 8 * (size_t)(nv - 1);
    const __m256i mask = avx2_tail_mask(tail);
    for (size_t k = 0; k < kc; k++) {
        const float *bk = direct ? b + koffs[k] : b + k * AVX2_NR;
        __m256 bv[3];
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++)
            bv[j] = (direct && j == nv - 1) ? _mm256_maskload_ps(bk + 8 * j, mask)
                                            : _mm256_loadu_ps(bk + 8 * j);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 3
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm256_fmadd_ps(ai, bv[j], acc[i][j]);
        }
        a += SGEMM_MR;
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= rows)
            break;
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) {
            const bool last = j == nv - 1;
            float *cp = c + (size_t)i * ldc + 8 * (size_t)j;
            __m256 v = acc[i][j];
            if (flags & TILE_LOAD_C)
                v = _mm256_add_ps(v, last ? _mm256_maskload_ps(cp, mask)
                                          : _mm256_loadu_ps(cp));
            if (flags & TILE_EPILOGUE) {
                if (ep->bias)
                    v = _mm256_add_ps(v, _mm256_broadcast_ss(ep->bias + i));
                size_t off = (size_t)i * ldc + 8 * (size_t)j;
#pragma GCC unroll 3
                for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
                    if (ep->res[r])
                        v = _mm256_add_ps(v, last ? _mm256_maskload_ps(ep->res[r] + off, mask)
                                                  : _mm256_loadu_ps(ep->res[r] + off));
                v = avx2_activate(v, ep);
            }
            if (last)
                _mm256_maskstore_ps(cp, mask, v);
            else
                _mm256_storeu_ps(cp, v);
        }
    }
}

AVX2_TARGET static ALWAYS_INLINE void
micro_avx2_body(const int direct, size_t kc, const float *a, const float *b,
                const ptrdiff_t *koffs, float *c, size_t ldc, size_t rows,
                size_t cols, unsigned flags, const tile_epilogue *ep) {
    tile_epilogue lower = *ep;
    if (lower.bias)
        lower.bias += 4;
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        if (lower.res[r])
            lower.res[r] += 4 * ldc;
    for (int half = 0; half < 2; half++) {
        size_t r0 = 4 * (size_t)half;
        if (r0 >= rows)
            break;
        const tile_epilogue *e = half ? &lower : ep;
        const float *ah = a + r0;
        float *ch = c + r0 * ldc;
        size_t hr = rows - r0;
        if (cols > 16)
            micro_avx2_half(3, direct, kc, ah, b, koffs, ch, ldc, hr, cols, flags, e);
        else if (cols > 8)
            micro_avx2_half(2, direct, kc, ah, b, koffs, ch, ldc, hr, cols, flags, e);
        else
            micro_avx2_half(1, direct, kc, ah, b, koffs, ch, ldc, hr, cols, flags, e);
    }
}

AVX2_TARGET static void micro_avx2_packed(size_t kc, const float *a,
                                          const float *b,
                                          const ptrdiff_t *koffs, float *c,
                                          size_t ldc, size_t rows, size_t cols,
                                          unsigned flags,
                                          const tile_epilogue *ep) {
    micro_avx2_body(0, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
}

AVX2_TARGET static void micro_avx2_direct(size_t kc, const float *a,
                                          const float *b,
                                          const ptrdiff_t *koffs, float *c,
                                          size_t ldc, size_t rows, size_t cols,
                                          unsigned flags,
                                          const tile_epilogue *ep) {
    micro_avx2_body(1, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
}

/* ---------------------------------------------------------------- AVX-512 */

#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))
#define AVX512_NR 48

AVX512_TARGET static ALWAYS_INLINE __m512
avx512_activate(__m512 v, const tile_epilogue *ep) {
    switch (ep->act) {
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

/* Eight rows by nv vectors of 16 columns: 8 x 3 = 24 accumulators of the 32
 * registers, B rows broadcast-multiplied from A straight out of memory. */
AVX512_TARGET static ALWAYS_INLINE void
micro_avx512_body(const int nv, const int direct, size_t kc, const float *a,
                  const float *b, const ptrdiff_t *koffs, float *c,
                  size_t ldc, size_t rows, size_t cols, unsigned flags,
                  const tile_epilogue *ep) {
    __m512 acc[SGEMM_MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < SGEMM_MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            acc[i][j] = _mm512_setzero_ps();
    const size_t tail = cols - 16 * (size_t)(nv - 1);
    const __mmask16 mask = (__mmask16)((1u << tail) - 1u);
    for (size_t k = 0; k < kc; k++) {
        const float *bk = direct ? b + koffs[k] : b + k * AVX512_NR;
        __m512 bv[3];
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++)
            bv[j] = (direct && j == nv - 1) ? _mm512_maskz_loadu_ps(mask, bk + 16 * j)
                                            : _mm512_loadu_ps(bk + 16 * j);
#pragma GCC unroll 8
        for (int i = 0; i < SGEMM_MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
        }
        a += SGEMM_MR;
    }
#pragma GCC unroll 8
    for (int i = 0; i < SGEMM_MR; i++) {
        if ((size_t)i >= rows)
            break;
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++) {
            const bool last = j == nv - 1;
            const __mmask16 m = last ? mask : (__mmask16)0xFFFF;
            size_t off = (size_t)i * ldc + 16 * (size_t)j;
            __m512 v = acc[i][j];
            if (flags & TILE_LOAD_C)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c + off));
            if (flags & TILE_EPILOGUE) {
                if (ep->bias)
                    v = _mm512_add_ps(v, _mm512_set1_ps(ep->bias[i]));
#pragma GCC unroll 3
                for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
                    if (ep->res[r])
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ep->res[r] + off));
                v = avx512_activate(v, ep);
            }
            _mm512_mask_storeu_ps(c + off, m, v);
        }
    }
}

AVX512_TARGET static void micro_avx512_packed(size_t kc, const float *a,
                                              const float *b,
                                              const ptrdiff_t *koffs, float *c,
                                              size_t ldc, size_t rows,
                                              size_t cols, unsigned flags,
                                              const tile_epilogue *ep) {
    if (cols > 32)
        micro_avx512_body(3, 0, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
    else if (cols > 16)
        micro_avx512_body(2, 0, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
    else
        micro_avx512_body(1, 0, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
}

AVX512_TARGET static void micro_avx512_direct(size_t kc, const float *a,
                                              const float *b,
                                              const ptrdiff_t *koffs, float *c,
                                              size_t ldc, size_t rows,
                                              size_t cols, unsigned flags,
                                              const tile_epilogue *ep) {
    if (cols > 32)
        micro_avx512_body(3, 1, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
    else if (cols > 16)
        micro_avx512_body(2, 1, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
    else
        micro_avx512_body(1, 1, kc, a, b, koffs, c, ldc, rows, cols, flags, ep);
}

#endif /* SGEMM_X86 */

/* ---------------------------------------------------------------- dispatch */

static const isa_kernels kernels_scalar = {SGEMM_ISA_SCALAR, SCALAR_NR,
                                           micro_scalar_packed, micro_scalar};
#if SGEMM_X86
static const isa_kernels kernels_avx2 = {SGEMM_ISA_AVX2, AVX2_NR,
                                         micro_avx2_packed, micro_avx2_direct};
static const isa_kernels kernels_avx512 = {SGEMM_ISA_AVX512, AVX512_NR,
                                           micro_avx512_packed,
                                           micro_avx512_direct};
#endif

/* Set once (benign race: every thread computes the same value) unless a
 * test forces another. */
static const isa_kernels *active_kernels;

sgemm_isa sgemm_isa_best(void) {
#if SGEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return SGEMM_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return SGEMM_ISA_AVX2;
#endif
    return SGEMM_ISA_SCALAR;
}

static const isa_kernels *kernels_for(sgemm_isa isa) {
    switch (isa) {
#if SGEMM_X86
    case SGEMM_ISA_AVX512:
        return &kernels_avx512;
    case SGEMM_ISA_AVX2:
        return &kernels_avx2;
#endif
    default:
        return &kernels_scalar;
    }
}

static const isa_kernels *current(void) {
    const isa_kernels *k = active_kernels;
    if (!k) {
        k = kernels_for(sgemm_isa_best());
        active_kernels = k;
    }
    return k;
}

sgemm_isa sgemm_isa_current(void) { return current()->isa; }

bool sgemm_isa_select(sgemm_isa isa) {
    if (isa > sgemm_isa_best() || isa < SGEMM_ISA_SCALAR)
        return false;
    active_kernels = kernels_for(isa);
    return active_kernels->isa == isa;
}

const char *sgemm_isa_name(sgemm_isa isa) {
    switch (isa) {
    case SGEMM_ISA_AVX512:
        return "avx512";
    case SGEMM_ISA_AVX2:
        return "avx2";
    case SGEMM_ISA_SCALAR:
        return "scalar";
    }
    return "unknown";
}

size_t sgemm_nr(void) { return current()->nr; }

/* ---------------------------------------------------------------- packing */

size_t sgemm_packed_a_floats(size_t m, size_t k) {
    return sgemm_panels(m) * SGEMM_MR * k;
}

void sgemm_pack_a(const float *a, ptrdiff_t row_stride, ptrdiff_t col_stride,
                  size_t m, size_t k, float scale, float *packed) {
    for (size_t p = 0; p < sgemm_panels(m); p++) {
        float *dst = packed + p * SGEMM_MR * k;
        size_t r0 = p * SGEMM_MR;
        size_t rows = m - r0 < SGEMM_MR ? m - r0 : SGEMM_MR;
        for (size_t j = 0; j < k; j++) {
            for (size_t i = 0; i < rows; i++)
                dst[j * SGEMM_MR + i] =
                    a[(ptrdiff_t)(r0 + i) * row_stride + (ptrdiff_t)j * col_stride] * scale;
            for (size_t i = rows; i < SGEMM_MR; i++)
                dst[j * SGEMM_MR + i] = 0.0f;
        }
    }
}

void sgemm_pack_b_strided(const void *ctx, size_t k0, size_t kc, size_t n0,
                          size_t cols, size_t nr, float *dst) {
    const sgemm_strided_b *s = ctx;
    for (size_t p = 0; p * nr < cols; p++) {
        size_t c0 = p * nr;
        size_t w = cols - c0 < nr ? cols - c0 : nr;
        float *d = dst + p * kc * nr;
        for (size_t r = 0; r < kc; r++, d += nr) {
            const float *src = s->b + (ptrdiff_t)(k0 + r) * s->row_stride +
                               (ptrdiff_t)(n0 + c0) * s->col_stride;
            if (s->col_stride == 1) {
                memcpy(d, src, w * sizeof *d);
            } else {
                for (size_t j = 0; j < w; j++)
                    d[j] = src[(ptrdiff_t)j * s->col_stride];
            }
            for (size_t j = w; j < nr; j++)
                d[j] = 0.0f;
        }
    }
}

size_t sgemm_tile_cols(size_t k) {
    size_t nr = sgemm_nr();
    size_t rows = k < SGEMM_KC ? (k ? k : 1) : SGEMM_KC;
    size_t cols = SGEMM_TILE_FLOATS / rows;
    cols -= cols % nr;
    return cols ? cols : nr;
}

size_t sgemm_pack_buffer_floats(size_t k, size_t cols) {
    /* The widest nr (AVX-512) rounds up the most; size for it so a forced
     * narrower kernel fits too. */
    size_t rows = k < SGEMM_KC ? k : SGEMM_KC;
    size_t widest = 48;
    return rows * ((cols + widest - 1) / widest * widest);
}

/* ---------------------------------------------------------------- driver */

static void tile_epilogue_at(tile_epilogue *t, const kernel_epilogue *ep,
                             size_t row, size_t offset) {
    memset(t, 0, sizeof *t);
    if (!ep)
        return;
    t->bias = ep->bias ? ep->bias + row : NULL;
    for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
        t->res[r] = ep->residual[r] ? ep->residual[r] + offset : NULL;
    t->act = ep->activation;
    t->alpha = ep->alpha;
    t->lo = ep->lo;
    t->hi = ep->hi;
}

/* One K block of rows [k0, k0+kc) for panels x the tile's micro-tiles. b
 * and koffs locate micro-tile 0; micro-tile t starts at b + t * b_step. */
static void run_block(const isa_kernels *ik, micro_kernel_fn fn,
                      const sgemm_params *p, size_t panel_begin,
                      size_t panel_end, size_t n0, size_t cols, size_t k0,
                      size_t kc, const float *b, size_t b_step,
                      const ptrdiff_t *koffs) {
    unsigned flags = 0;
    if (k0 > 0 || p->accumulate)
        flags |= TILE_LOAD_C;
    if (k0 + kc >= p->k)
        flags |= TILE_EPILOGUE;
    const size_t nr = ik->nr;
    for (size_t panel = panel_begin; panel < panel_end; panel++) {
        size_t row = panel * SGEMM_MR;
        size_t rows = p->m - row < SGEMM_MR ? p->m - row : SGEMM_MR;
        const float *a = p->a_packed + panel * SGEMM_MR * p->k + k0 * SGEMM_MR;
        for (size_t t = 0; t * nr < cols; t++) {
            size_t c0 = t * nr;
            size_t w = cols - c0 < nr ? cols - c0 : nr;
            size_t offset = row * p->ldc + n0 + c0;
            tile_epilogue te;
            tile_epilogue_at(&te, p->epilogue, row, offset);
            fn(kc, a, b + t * b_step, koffs, p->c + offset, p->ldc, rows, w,
               flags, &te);
        }
    }
}

void sgemm_compute_direct(const sgemm_params *p, size_t panel_begin,
                          size_t panel_end, size_t n0, size_t cols,
                          const float *b_tile, const ptrdiff_t *koffs) {
    const isa_kernels *ik = current();
    if (cols == 0 || panel_begin >= panel_end)
        return;
    if (p->k == 0) {
        run_block(ik, ik->direct, p, panel_begin, panel_end, n0, cols, 0, 0,
                  b_tile, ik->nr, koffs);
        return;
    }
    for (size_t k0 = 0; k0 < p->k; k0 += SGEMM_KC) {
        size_t kc = p->k - k0 < SGEMM_KC ? p->k - k0 : SGEMM_KC;
        run_block(ik, ik->direct, p, panel_begin, panel_end, n0, cols, k0, kc,
                  b_tile, ik->nr, koffs + k0);
    }
}

void sgemm_compute_packed(const sgemm_params *p, size_t panel_begin,
                          size_t panel_end, size_t n0, size_t cols,
                          sgemm_pack_b_fn pack, const void *pack_ctx,
                          float *pack_buffer) {
    const isa_kernels *ik = current();
    if (cols == 0 || panel_begin >= panel_end)
        return;
    if (p->k == 0) {
        run_block(ik, ik->packed, p, panel_begin, panel_end, n0, cols, 0, 0,
                  pack_buffer, 0, NULL);
        return;
    }
    for (size_t k0 = 0; k0 < p->k; k0 += SGEMM_KC) {
        size_t kc = p->k - k0 < SGEMM_KC ? p->k - k0 : SGEMM_KC;
        pack(pack_ctx, k0, kc, n0, cols, ik->nr, pack_buffer);
        run_block(ik, ik->packed, p, panel_begin, panel_end, n0, cols, k0, kc,
                  pack_buffer, kc * ik->nr, NULL);
    }
}
