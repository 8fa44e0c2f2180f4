/* im2col.h - geometry of an N-d convolution window and the im2col packing
 * that turns a convolution into a matrix product:
 *   B[k][n], k = (channel, kd, kh, kw) and n = (od, oh, ow), is the input
 *   value under kernel tap k for output position n (0 in the padding).
 * 1-D and 2-D are 3-D with leading sizes of 1, so one code path serves all.
 */
#ifndef KH_ONNX_KERNELS_IM2COL_H
#define KH_ONNX_KERNELS_IM2COL_H

#include <stddef.h>
#include <stdint.h>

#define CONV_MAX_SPATIAL 3

typedef struct conv_geometry {
    size_t channels;                   /* input channels per group */
    size_t in[CONV_MAX_SPATIAL];       /* D, H, W (leading 1s for 1-D/2-D) */
    size_t out[CONV_MAX_SPATIAL];
    size_t kernel[CONV_MAX_SPATIAL];
    size_t stride[CONV_MAX_SPATIAL];
    size_t dilation[CONV_MAX_SPATIAL];
    ptrdiff_t pad[CONV_MAX_SPATIAL];   /* padding before each axis */
} conv_geometry;

static inline size_t conv_in_size(const conv_geometry *g) {
    return g->in[0] * g->in[1] * g->in[2];
}
static inline size_t conv_out_size(const conv_geometry *g) {
    return g->out[0] * g->out[1] * g->out[2];
}
static inline size_t conv_kernel_size(const conv_geometry *g) {
    return g->kernel[0] * g->kernel[1] * g->kernel[2];
}

/* Context of im2col_pack: the input of one image and one group. */
typedef struct im2col_source {
    const conv_geometry *geometry;
    const float *image; /* channels x D x H x W */
} im2col_source;

/* An sgemm_pack_b_fn (sgemm.h): writes rows [k0, k0+kc) x columns
 * [n0, n0+cols) of B for ctx (a const im2col_source *). */
void im2col_pack(const void *ctx, size_t k0, size_t kc, size_t n0,
                 size_t cols, size_t nr, float *dst);

/* The reverse of im2col for ConvTranspose: adds col[k][n] into the image at
 * the position tap k of output n reads (out-of-image taps dropped). The
 * "image" here is ConvTranspose's output, the col matrix its GEMM result. */
void col2im_add(const conv_geometry *g, const float *col, float *image);

#endif
