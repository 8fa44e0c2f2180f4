/* copy.c - strided copies by element size. */
#include "onnx/kernels/copy.h"

#include <string.h>

typedef struct copy_ctx {
    unsigned char *dst;
    const unsigned char *src;
    size_t esize;
    int64_t src_step; /* row stride of the source, elements */
} copy_ctx;

/* One loop per element size so the compiler moves whole words. */
#define GATHER_ROW(T)                                                          \
    do {                                                                       \
        T *d = (T *)(void *)dst;                                               \
        const T *s = (const T *)(const void *)src;                             \
        if (step == 0) {                                                       \
            T v = s[0];                                                        \
            for (size_t i = 0; i < count; i++)                                 \
                d[i] = v;                                                      \
        } else {                                                               \
            for (size_t i = 0; i < count; i++)                                 \
                d[i] = s[(int64_t)i * step];                                   \
        }                                                                      \
    } while (0)

static void copy_row(void *ctx_, const int64_t *off, size_t count) {
    const copy_ctx *c = ctx_;
    unsigned char *dst = c->dst + (size_t)off[0] * c->esize;
    const unsigned char *src = c->src + off[1] * (int64_t)c->esize;
    int64_t step = c->src_step;
    if (step == 1) {
        memcpy(dst, src, count * c->esize);
        return;
    }
    switch (c->esize) {
    case 1: GATHER_ROW(uint8_t); break;
    case 2: GATHER_ROW(uint16_t); break;
    case 4: GATHER_ROW(uint32_t); break;
    case 8: GATHER_ROW(uint64_t); break;
    default:
        for (size_t i = 0; i < count; i++)
            memcpy(dst + i * c->esize,
                   src + (int64_t)i * step * (int64_t)c->esize, c->esize);
    }
}

/* Transposing the last two axes element by element touches a new cache
 * line per element on one side; tiles keep both sides in cache. */
#define TILE 32

typedef struct tile_ctx {
    const onnx_nditer *it; /* full iterator: last two axes are the plane */
    unsigned char *dst;
    const unsigned char *src;
    size_t esize;
    size_t row_blocks;
} tile_ctx;

#define TRANSPOSE_TILE(T)                                                      \
    do {                                                                       \
        T *d = (T *)(void *)dst;                                               \
        const T *s = (const T *)(const void *)src;                             \
        for (size_t j0 = 0; j0 < cols; j0 += TILE) {                           \
            size_t j1 = j0 + TILE < cols ? j0 + TILE : cols;                   \
            for (size_t i = r0; i < r1; i++)                                   \
                for (size_t j = j0; j < j1; j++)                               \
                    d[i * cols + j] = s[(int64_t)i * rs + (int64_t)j * cs];    \
        }                                                                      \
    } while (0)

static void tile_task(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const tile_ctx *c = arg;
    const onnx_nditer *it = c->it;
    const int r = it->rank;
    const size_t rows = (size_t)it->dims[r - 2], cols = (size_t)it->dims[r - 1];
    const int64_t rs = it->strides[1][r - 2], cs = it->strides[1][r - 1];
    for (size_t u = begin; u < end; u++) {
        size_t plane = u / c->row_blocks, block = u % c->row_blocks;
        int64_t src_off = 0;
        size_t p = plane;
        for (int d = r - 3; d >= 0; d--) {
            src_off += (int64_t)(p % (size_t)it->dims[d]) * it->strides[1][d];
            p /= (size_t)it->dims[d];
        }
        size_t r0 = block * TILE, r1 = r0 + TILE < rows ? r0 + TILE : rows;
        unsigned char *dst = c->dst + plane * rows * cols * c->esize;
        const unsigned char *src = c->src + src_off * (int64_t)c->esize;
        switch (c->esize) {
        case 1: TRANSPOSE_TILE(uint8_t); break;
        case 2: TRANSPOSE_TILE(uint16_t); break;
        case 4: TRANSPOSE_TILE(uint32_t); break;
        default: TRANSPOSE_TILE(uint64_t); break;
        }
    }
}

void onnx_strided_copy(const onnx_exec *ex, void *dst, const void *src,
                       size_t esize, int rank, const int64_t *dims,
                       const int64_t *src_strides) {
    onnx_nditer it;
    onnx_nditer_begin(&it, rank, dims);
    if (it.numel == 0)
        return;
    onnx_nditer_add_contiguous(&it);
    onnx_nditer_add(&it, src_strides);
    onnx_nditer_seal(&it);
    const int r = it.rank;
    if (r >= 2 && it.strides[1][r - 1] != 1 && it.strides[1][r - 2] == 1 &&
        it.dims[r - 1] >= 4 && it.dims[r - 2] >= 4 &&
        (esize == 1 || esize == 2 || esize == 4 || esize == 8)) {
        size_t rows = (size_t)it.dims[r - 2];
        size_t row_blocks = (rows + TILE - 1) / TILE;
        tile_ctx t = {&it, dst, src, esize, row_blocks};
        size_t units = it.numel / rows / (size_t)it.dims[r - 1] * row_blocks;
        size_t unit_elems = TILE * (size_t)it.dims[r - 1];
        size_t grain = ONNX_PARALLEL_GRAIN / unit_elems + 1;
        onnx_parallel_range(ex, units, grain, tile_task, &t);
        return;
    }
    copy_ctx c = {dst, src, esize, onnx_nditer_row_stride(&it, 1)};
    onnx_nditer_run(ex, &it, copy_row, &c);
}

void onnx_broadcast_copy(const onnx_exec *ex, void *dst, int rank,
                         const int64_t *dims, const onnx_tensor *src) {
    int64_t strides[ONNX_MAX_RANK];
    onnx_broadcast_strides(src->rank, src->dims, rank, dims, strides);
    onnx_strided_copy(ex, dst, src->data, onnx_dtype_size(src->dtype), rank,
                      dims, strides);
}

void onnx_fill(void *dst, const void *value, size_t esize, size_t n) {
    unsigned char *d = dst;
    switch (esize) {
    case 1: memset(d, *(const unsigned char *)value, n); return;
    case 4: {
        uint32_t v;
        memcpy(&v, value, 4);
        uint32_t *p = dst;
        for (size_t i = 0; i < n; i++)
            p[i] = v;
        return;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, value, 8);
        uint64_t *p = dst;
        for (size_t i = 0; i < n; i++)
            p[i] = v;
        return;
    }
    default:
        for (size_t i = 0; i < n; i++)
            memcpy(d + i * esize, value, esize);
    }
}

void onnx_transpose(const onnx_exec *ex, void *dst, const void *src,
                    size_t esize, int rank, const int64_t *dims,
                    const int64_t *perm) {
    int64_t in_strides[ONNX_MAX_RANK], out_dims[ONNX_MAX_RANK],
        strides[ONNX_MAX_RANK];
    onnx_contiguous_strides(rank, dims, in_strides);
    for (int i = 0; i < rank; i++) {
        out_dims[i] = dims[perm[i]];
        strides[i] = in_strides[perm[i]];
    }
    onnx_strided_copy(ex, dst, src, esize, rank, out_dims, strides);
}
