/* depthwise.h - 2-D depthwise convolution (one filter per channel, group ==
 * channels), the first half of a separable convolution. Fast paths for 3x3
 * windows with stride 1 or 2 and dilation 1 (AVX-512, AVX2); any other
 * window, stride, dilation or padding goes through a plain loop. The
 * instruction set follows sgemm_isa_current() so one switch forces all
 * kernels in tests.
 */
#ifndef KH_ONNX_KERNELS_DEPTHWISE_H
#define KH_ONNX_KERNELS_DEPTHWISE_H

#include <stddef.h>

#include "onnx/kernels/epilogue.h"
#include "onnx/kernels/im2col.h"

/* The epilogue of one channel plane. */
typedef struct depthwise_epilogue {
    float bias;                                /* 0 when none */
    const float *residual[KERNEL_MAX_RESIDUALS]; /* planes like out; NULL */
    kernel_activation activation;
    float alpha, lo, hi;
} depthwise_epilogue;

/* Scratch bytes for depthwise_plan_build (64-byte multiple, may be 0). */
size_t depthwise_plan_bytes(const conv_geometry *g);

/* Precomputes what every plane of geometry g shares (column masks of the
 * vector path) into plan (depthwise_plan_bytes, 64-byte aligned). Returns
 * plan, or NULL when the current instruction set has nothing to plan. Build
 * it again after sgemm_isa_select. */
const void *depthwise_plan_build(const conv_geometry *g, void *plan);

/* One channel: out (g->out[1] x g->out[2]) = in (g->in[1] x g->in[2])
 * correlated with the kh x kw filter w, padding g->pad (zeros), then the
 * epilogue. g's depth axis must be 1. plan: from depthwise_plan_build for
 * g, or NULL (then planned per call, slower for small planes). */
void depthwise_plane(const conv_geometry *g, const void *plan, const float *in,
                     const float *w, float *out, const depthwise_epilogue *ep);

/* Same through the plain loop only (reference for tests). */
void depthwise_plane_generic(const conv_geometry *g, const float *in,
                             const float *w, float *out,
                             const depthwise_epilogue *ep);

#endif
