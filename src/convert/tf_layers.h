/* tf_layers.h - TensorFlow.js layers as ONNX nodes (converter-internal).
 *
 * Each function appends the ONNX nodes that compute one face-api layer,
 * taking its weights from the manifest by name, converting TensorFlow's NHWC
 * layouts to ONNX's NCHW (conv HWIO -> OIHW, depthwise HWCM -> [C*M,1,H,W]
 * with group = C) and TensorFlow's 'same' / 'valid' padding to explicit ONNX
 * pads. Activations stay separate nodes after a Conv with bias: the engine
 * fuses them.
 *
 * Spatial sizes are tracked for a few reference input sizes at once: a model
 * with a symbolic input size is only correct if TensorFlow would pad the same
 * way for every size it accepts, and the builder fails ("padding depends on
 * the input size") when the reference sizes disagree.
 *
 * Errors are sticky in the graph builder: after a failure the functions
 * return a value with name NULL and add nothing.
 */
#ifndef KH_CONVERT_TF_LAYERS_H
#define KH_CONVERT_TF_LAYERS_H

#include <stdint.h>

#include "convert/graph_builder.h"
#include "convert/tfjs_weights.h"

#define TF_MAX_REFERENCE_SIZES 8

typedef struct tf_net {
    graph_builder *graph;
    const tfjs_weights *weights;
    int n_sizes; /* reference input sizes tracked in every tf_value */
} tf_net;

/* A tensor flowing through the network: NCHW, H and W square per reference
 * size (H and W follow the same rules separately). */
typedef struct tf_value {
    const char *name; /* NULL after a failure */
    int64_t channels;
    int64_t size[TF_MAX_REFERENCE_SIZES];
} tf_value;

typedef enum tf_padding {
    TF_VALID,       /* no padding */
    TF_SAME,        /* TensorFlow 'same': more at the end when odd */
    TF_PAD1_VALID,  /* tf.pad by 1 on every side, then 'valid' */
} tf_padding;

/* (x - mean[c]) / divisor, as face-api's normalize() then div(). */
tf_value tf_normalize(tf_net *net, tf_value x, const char *name,
                      const float mean[3], float divisor);

/* tf.conv2d(x, prefix/filters) + prefix/bias, filters [k,k,C,out]. The
 * output tensor is called `output`, or prefix when output is NULL. */
tf_value tf_conv(tf_net *net, tf_value x, const char *prefix, int kernel,
                 int64_t out_channels, int stride, tf_padding padding,
                 const char *output);

/* tf.separableConv2d(x, prefix/depthwise_filter [k,k,C,1],
 * prefix/pointwise_filter [1,1,C,out]) + prefix/bias: a depthwise Conv
 * (group C, no bias) then a 1x1 Conv with the bias. */
tf_value tf_separable_conv(tf_net *net, tf_value x, const char *prefix,
                           int kernel, int64_t out_channels, int stride,
                           tf_padding padding);

tf_value tf_leaky_relu(tf_net *net, tf_value x, const char *name, float alpha);
tf_value tf_relu(tf_net *net, tf_value x, const char *name);
/* a + b (same shape). */
tf_value tf_add(tf_net *net, tf_value a, tf_value b, const char *name);
tf_value tf_max_pool(tf_net *net, tf_value x, const char *name, int kernel,
                     int stride, tf_padding padding);
tf_value tf_avg_pool(tf_net *net, tf_value x, const char *name, int kernel,
                     int stride, tf_padding padding);

/* [N,C,1,1] -> [N,C] (TensorFlow's as2D of an NHWC [N,1,1,C] is the same
 * order), then matMul(prefix/weights [C,out]) + prefix/bias as one Gemm. */
tf_value tf_flatten_dense(tf_net *net, tf_value x, const char *prefix,
                          int64_t out_features);
tf_value tf_softmax(tf_net *net, tf_value x, const char *name);

/* Layout conversions (exposed for tests). dst has the same element count. */
void tf_hwio_to_oihw(const float *src, int64_t kh, int64_t kw, int64_t in,
                     int64_t out, float *dst);
void tf_depthwise_to_onnx(const float *src, int64_t kh, int64_t kw,
                          int64_t channels, int64_t multiplier, float *dst);

/* TensorFlow 'same' padding of one dimension: output size and pads. */
void tf_same_pads(int64_t in, int64_t kernel, int64_t stride, int64_t *out,
                  int64_t *before, int64_t *after);

#endif
