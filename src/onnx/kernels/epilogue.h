/* epilogue.h - what a convolution or matrix kernel does to each output value
 * before storing it: add a per-channel bias, add up to two tensors of the
 * output's shape (a fused Add), then apply an activation (a fused
 * Relu/LeakyRelu/Clip). Doing this while the value is still in a register
 * saves one pass over memory per fused node.
 *
 *   y = activation(acc + bias[channel] + residual[0..2][i])
 */
#ifndef KH_ONNX_KERNELS_EPILOGUE_H
#define KH_ONNX_KERNELS_EPILOGUE_H

#include <stddef.h>

typedef enum kernel_activation {
    KERNEL_ACT_NONE = 0,
    KERNEL_ACT_RELU,       /* max(x, 0) */
    KERNEL_ACT_LEAKY_RELU, /* x >= 0 ? x : alpha * x */
    KERNEL_ACT_CLIP,       /* min(max(x, lo), hi) */
} kernel_activation;

#define KERNEL_MAX_RESIDUALS 3

typedef struct kernel_epilogue {
    const float *bias; /* one value per output channel (GEMM row); NULL: none */
    /* Tensors laid out exactly like the output (same element offsets);
     * NULL: none. */
    const float *residual[KERNEL_MAX_RESIDUALS];
    kernel_activation activation;
    float alpha;  /* LeakyRelu slope */
    float lo, hi; /* Clip bounds */
} kernel_epilogue;

/* The scalar definition every vector path must match. */
static inline float kernel_activate(const kernel_epilogue *ep, float x) {
    switch (ep->activation) {
    case KERNEL_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case KERNEL_ACT_LEAKY_RELU:
        return x >= 0.0f ? x : ep->alpha * x;
    case KERNEL_ACT_CLIP:
        return x < ep->lo ? ep->lo : (x > ep->hi ? ep->hi : x);
    case KERNEL_ACT_NONE:
        break;
    }
    return x;
}

/* True when the epilogue does nothing (no bias, residual or activation). */
static inline int kernel_epilogue_is_empty(const kernel_epilogue *ep) {
    return !ep || (!ep->bias && !ep->residual[0] && !ep->residual[1] &&
                   !ep->residual[2] &&
                   ep->activation == KERNEL_ACT_NONE);
}

#endif
