/* im2col.c - packing convolution windows into GEMM panels, and back. */
#include "onnx/kernels/im2col.h"

#include <string.h>

/* Writes count values of row r, starting at tile column j, into the panel
 * layout (see sgemm_pack_b_fn), splitting at panel boundaries. src NULL
 * writes zeros; otherwise value t is src[t * stride]. */
static void emit(float *dst, size_t kc, size_t nr, size_t r, size_t j,
                 const float *src, ptrdiff_t stride, size_t count) {
    while (count) {
        size_t q = j % nr;
        size_t m = nr - q < count ? nr - q : count;
        float *d = dst + (j / nr) * kc * nr + r * nr + q;
        if (!src) {
            memset(d, 0, m * sizeof *d);
        } else if (stride == 1) {
            memcpy(d, src, m * sizeof *d);
            src += m;
        } else {
            for (size_t t = 0; t < m; t++)
                d[t] = src[(ptrdiff_t)t * stride];
            src += (ptrdiff_t)m * stride;
        }
        j += m;
        count -= m;
    }
}

/* Output positions o (along one axis) whose tap `tap` lands inside [0, in):
 * o*stride - pad + tap*dilation in [0, in)  <=>  o in [*lo, *hi). */
static void valid_range(size_t out, size_t in, size_t stride, ptrdiff_t pad,
                        size_t tap_offset, size_t *lo, size_t *hi) {
    ptrdiff_t shift = (ptrdiff_t)tap_offset - pad; /* index = o*stride + shift */
    ptrdiff_t s = (ptrdiff_t)stride;
    ptrdiff_t first = shift >= 0 ? 0 : (-shift + s - 1) / s;
    ptrdiff_t last_excl = (ptrdiff_t)in - shift <= 0
                              ? 0
                              : ((ptrdiff_t)in - shift + s - 1) / s;
    if (first > (ptrdiff_t)out)
        first = (ptrdiff_t)out;
    if (last_excl > (ptrdiff_t)out)
        last_excl = (ptrdiff_t)out;
    if (last_excl < first)
        last_excl = first;
    *lo = (size_t)first;
    *hi = (size_t)last_excl;
}

void im2col_pack(const void *ctx, size_t k0, size_t kc, size_t n0,
                 size_t cols, size_t nr, float *dst) {
    const im2col_source *src = ctx;
    const conv_geometry *g = src->geometry;
    const size_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const size_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const size_t H = g->in[1], W = g->in[2];
    const size_t ksize = KD * KH * KW;
    const size_t plane = conv_in_size(g);

    for (size_t r = 0; r < kc; r++) {
        size_t k = k0 + r;
        size_t c = k / ksize, rem = k % ksize;
        size_t kd = rem / (KH * KW), kh = rem / KW % KH, kw = rem % KW;
        const float *image = src->image + c * plane;
        size_t ow_lo, ow_hi;
        valid_range(OW, W, g->stride[2], g->pad[2], kw * g->dilation[2],
                    &ow_lo, &ow_hi);
        ptrdiff_t iw_shift = (ptrdiff_t)(kw * g->dilation[2]) - g->pad[2];

        size_t n = n0;
        size_t ow = n % OW, oh = n / OW % OH, od = n / (OW * OH);
        size_t j = 0;
        while (j < cols && od < OD) {
            size_t run = OW - ow < cols - j ? OW - ow : cols - j;
            ptrdiff_t id = (ptrdiff_t)(od * g->stride[0] + kd * g->dilation[0]) - g->pad[0];
            ptrdiff_t ih = (ptrdiff_t)(oh * g->stride[1] + kh * g->dilation[1]) - g->pad[1];
            if (id < 0 || id >= (ptrdiff_t)g->in[0] || ih < 0 || ih >= (ptrdiff_t)H) {
                emit(dst, kc, nr, r, j, NULL, 0, run);
            } else {
                const float *row = image + ((size_t)id * H + (size_t)ih) * W;
                size_t end = ow + run;
                size_t a = ow < ow_lo ? (ow_lo < end ? ow_lo : end) : ow;
                size_t b = ow_hi < end ? ow_hi : end;
                if (b < a)
                    b = a;
                emit(dst, kc, nr, r, j, NULL, 0, a - ow);
                if (b > a)
                    emit(dst, kc, nr, r, j + (a - ow),
                         row + (ptrdiff_t)a * (ptrdiff_t)g->stride[2] + iw_shift,
                         (ptrdiff_t)g->stride[2], b - a);
                emit(dst, kc, nr, r, j + (b - ow), NULL, 0, end - b);
            }
            j += run;
            ow += run;
            if (ow == OW) {
                ow = 0;
                if (++oh == OH) {
                    oh = 0;
                    od++;
                }
            }
        }
        /* Columns past the tile's end (up to the panel's width) are zero. */
        size_t padded = (cols + nr - 1) / nr * nr;
        if (padded > cols)
            emit(dst, kc, nr, r, cols, NULL, 0, padded - cols);
    }
}

void col2im_add(const conv_geometry *g, const float *col, float *image) {
    const size_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const size_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const size_t D = g->in[0], H = g->in[1], W = g->in[2];
    const size_t ksize = KD * KH * KW, nout = OD * OH * OW;
    for (size_t k = 0; k < g->channels * ksize; k++) {
        size_t c = k / ksize, rem = k % ksize;
        size_t kd = rem / (KH * KW), kh = rem / KW % KH, kw = rem % KW;
        float *plane = image + c * D * H * W;
        const float *src = col + k * nout;
        size_t ow_lo, ow_hi;
        valid_range(OW, W, g->stride[2], g->pad[2], kw * g->dilation[2],
                    &ow_lo, &ow_hi);
        ptrdiff_t iw_shift = (ptrdiff_t)(kw * g->dilation[2]) - g->pad[2];
        for (size_t od = 0; od < OD; od++) {
            ptrdiff_t id = (ptrdiff_t)(od * g->stride[0] + kd * g->dilation[0]) - g->pad[0];
            if (id < 0 || id >= (ptrdiff_t)D)
                continue;
            for (size_t oh = 0; oh < OH; oh++) {
                ptrdiff_t ih = (ptrdiff_t)(oh * g->stride[1] + kh * g->dilation[1]) - g->pad[1];
                if (ih < 0 || ih >= (ptrdiff_t)H)
                    continue;
                float *row = plane + ((size_t)id * H + (size_t)ih) * W;
                const float *s = src + (od * OH + oh) * OW;
                for (size_t ow = ow_lo; ow < ow_hi; ow++)
                    row[(ptrdiff_t)(ow * g->stride[2]) + iw_shift] += s[ow];
            }
        }
    }
}
