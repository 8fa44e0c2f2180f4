/* conv_window.h - the sliding-window attributes shared by Conv, ConvTranspose and
 * the pooling operators (kernel_shape, strides, dilations, pads, auto_pad,
 * ceil_mode) and the output sizes they imply.
 */
#ifndef KH_ONNX_KERNELS_CONV_WINDOW_H
#define KH_ONNX_KERNELS_CONV_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "onnx/kernels/im2col.h"
#include "onnx/op.h"

typedef enum onnx_auto_pad {
    ONNX_AUTO_PAD_NOTSET = 0,
    ONNX_AUTO_PAD_SAME_UPPER,
    ONNX_AUTO_PAD_SAME_LOWER,
    ONNX_AUTO_PAD_VALID,
} onnx_auto_pad;

/* Attributes as given; counts are 0 where the attribute is absent. */
typedef struct conv_window_attrs {
    int64_t kernel[CONV_MAX_SPATIAL];
    size_t kernel_count;
    int64_t strides[CONV_MAX_SPATIAL];
    size_t strides_count;
    int64_t dilations[CONV_MAX_SPATIAL];
    size_t dilations_count;
    int64_t pads[2 * CONV_MAX_SPATIAL]; /* begins then ends */
    size_t pads_count;
    onnx_auto_pad auto_pad;
    bool ceil_mode;
} conv_window_attrs;

/* Reads and checks the attributes (positive strides/dilations/kernel,
 * non-negative pads, at most CONV_MAX_SPATIAL axes, known auto_pad).
 * KH_EUNSUPPORTED for more than 3 spatial axes, KH_EINVAL otherwise. */
int conv_window_read(const onnx_node *n, conv_window_attrs *w, kh_error *err);

/* Output size and padding of `spatial` axes for input sizes `in` and kernel
 * sizes `kernel` (from the attribute or the weights): fills out[], and
 * pad_begin[]/pad_end[] (auto_pad resolved). pool selects pooling rules
 * (ceil_mode). KH_ESHAPE when an axis comes out empty or the attribute
 * counts do not match spatial. */
int conv_window_output(const conv_window_attrs *w, int spatial,
                       const int64_t *in, const int64_t *kernel, bool pool,
                       int64_t *out, int64_t *pad_begin, int64_t *pad_end,
                       kh_error *err);

/* Stride and dilation of axis i (1 when the attribute is absent). */
static inline int64_t conv_window_stride(const conv_window_attrs *w, int i) {
    return w->strides_count ? w->strides[i] : 1;
}
static inline int64_t conv_window_dilation(const conv_window_attrs *w, int i) {
    return w->dilations_count ? w->dilations[i] : 1;
}

/* Fills g's spatial fields for `spatial` (1..3) axes, right-aligned (leading
 * axes of size 1). channels is left to the caller. */
void conv_window_geometry(conv_geometry *g, int spatial, const int64_t *in,
                          const int64_t *out, const int64_t *kernel,
                          const conv_window_attrs *w,
                          const int64_t *pad_begin);

#endif
