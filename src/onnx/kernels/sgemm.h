/* sgemm.h - blocked single-precision matrix product for Conv, Gemm, MatMul.
 *
 *   C[m][n] (+)= sum_k A[m][k] * B[k][n], then the epilogue (epilogue.h).
 *
 * A (weights, usually constant) is packed once into panels of SGEMM_MR rows
 * (sgemm_pack_a). B is read tile by tile, either
 *   - directly: element (k, j) of a tile at b[koffs[k] + j], columns j
 *     contiguous (a row-major matrix, the input of a 1x1 convolution, or a
 *     row of a stride-1 convolution over a padded image: no copy at all), or
 *   - through a pack callback that writes the tile in the kernel's panel
 *     layout (im2col, transposed matrices).
 * Micro-kernels for AVX-512, AVX2+FMA and plain C are chosen at run time
 * (sgemm_isa_best); tests and benchmarks can force one with sgemm_isa_select.
 *
 * Threads: the caller splits the work (columns and/or row panels) and calls
 * sgemm_compute_* per piece; nothing here allocates or synchronises.
 */
#ifndef KH_ONNX_KERNELS_SGEMM_H
#define KH_ONNX_KERNELS_SGEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "onnx/kernels/epilogue.h"

/* Rows per packed panel of A (every micro-kernel works on this many). */
#define SGEMM_MR 8

typedef enum sgemm_isa {
    SGEMM_ISA_SCALAR = 0,
    SGEMM_ISA_AVX2 = 1,   /* AVX2 + FMA */
    SGEMM_ISA_AVX512 = 2, /* AVX-512F */
} sgemm_isa;

/* The widest instruction set this CPU supports. */
sgemm_isa sgemm_isa_best(void);
/* The one in use (sgemm_isa_best unless sgemm_isa_select changed it). */
sgemm_isa sgemm_isa_current(void);
/* Forces an instruction set for later calls (tests, benchmarks). Returns
 * false, changing nothing, when the CPU lacks it. Not thread-safe: call it
 * while no kernel runs. */
bool sgemm_isa_select(sgemm_isa isa);
const char *sgemm_isa_name(sgemm_isa isa);

/* Columns per micro-tile of the current kernel (packed B panels are this
 * wide). */
size_t sgemm_nr(void);

/* Floats needed by sgemm_pack_a for an m x k matrix. */
size_t sgemm_packed_a_floats(size_t m, size_t k);

/* Packs A[i][j] = a[i * row_stride + j * col_stride] * scale (i < m, j < k)
 * into panels of SGEMM_MR rows, zero-padded to a multiple of SGEMM_MR rows.
 * Strides make transposed operands free: col_stride 1 is row-major. */
void sgemm_pack_a(const float *a, ptrdiff_t row_stride, ptrdiff_t col_stride,
                  size_t m, size_t k, float scale, float *packed);

/* Writes the B tile rows [k0, k0 + kc) x columns [n0, n0 + cols) in panel
 * layout: for panel p (columns p*nr .. p*nr+nr-1), row r at
 * dst[p * kc * nr + r * nr + (column - p*nr)]; columns >= cols are zeros. */
typedef void (*sgemm_pack_b_fn)(const void *ctx, size_t k0, size_t kc,
                                size_t n0, size_t cols, size_t nr,
                                float *dst);

typedef struct sgemm_params {
    size_t m, n, k;
    const float *a_packed;  /* sgemm_pack_a(m, k) */
    float *c;               /* m rows of ldc floats */
    size_t ldc;
    bool accumulate;        /* C holds initial values to add to */
    const kernel_epilogue *epilogue; /* NULL: none */
} sgemm_params;

/* A good number of columns per tile for a product with k rows of B: the tile
 * (and a packed copy) then fits in the L2 cache. A multiple of sgemm_nr(). */
size_t sgemm_tile_cols(size_t k);

/* Floats of pack buffer that sgemm_compute_packed needs for tiles of `cols`
 * columns with k rows (same for every instruction set). */
size_t sgemm_pack_buffer_floats(size_t k, size_t cols);

/* Row panels [panel_begin, panel_end) (panel = SGEMM_MR rows of C) of C's
 * columns [n0, n0 + cols), B read directly: element (k, j) of this tile at
 * b_tile[koffs[k] + j] for k < p->k, j < cols. */
void sgemm_compute_direct(const sgemm_params *p, size_t panel_begin,
                          size_t panel_end, size_t n0, size_t cols,
                          const float *b_tile, const ptrdiff_t *koffs);

/* Same, B produced by pack into pack_buffer (sgemm_pack_buffer_floats). */
void sgemm_compute_packed(const sgemm_params *p, size_t panel_begin,
                          size_t panel_end, size_t n0, size_t cols,
                          sgemm_pack_b_fn pack, const void *pack_ctx,
                          float *pack_buffer);

/* Number of row panels of an m-row product. */
static inline size_t sgemm_panels(size_t m) {
    return (m + SGEMM_MR - 1) / SGEMM_MR;
}

/* A ready pack callback for B[k][n] = b[k * row_stride + n * col_stride]
 * (ctx: a const sgemm_strided_b *). */
typedef struct sgemm_strided_b {
    const float *b;
    ptrdiff_t row_stride, col_stride;
} sgemm_strided_b;
void sgemm_pack_b_strided(const void *ctx, size_t k0, size_t kc, size_t n0,
                          size_t cols, size_t nr, float *dst);

#endif
