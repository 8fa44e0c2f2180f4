/* tf_layers.c - TensorFlow.js layers as ONNX nodes. */
#include "convert/tf_layers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_NAME_MAX 320

static tf_value failed_value(void) {
    tf_value v;
    memset(&v, 0, sizeof v);
    return v;
}

static int failed(const tf_net *net, tf_value x) {
    return graph_status(net->graph, NULL) != KH_OK || x.name == NULL;
}

void tf_hwio_to_oihw(const float *src, int64_t kh, int64_t kw, int64_t in,
                     int64_t out, float *dst) {
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t x = 0; x < kw; x++)
                    dst[((o * in + i) * kh + y) * kw + x] =
                        src[((y * kw + x) * in + i) * out + o];
}

void tf_depthwise_to_onnx(const float *src, int64_t kh, int64_t kw,
                          int64_t channels, int64_t multiplier, float *dst) {
    /* TensorFlow's output channel c * multiplier + m reads input channel c,
     * which is ONNX's grouping with group = channels. */
    for (int64_t c = 0; c < channels; c++)
        for (int64_t m = 0; m < multiplier; m++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t x = 0; x < kw; x++)
                    dst[((c * multiplier + m) * kh + y) * kw + x] =
                        src[((y * kw + x) * channels + c) * multiplier + m];
}

void tf_same_pads(int64_t in, int64_t kernel, int64_t stride, int64_t *out,
                  int64_t *before, int64_t *after) {
    int64_t o = (in + stride - 1) / stride;
    int64_t total = (o - 1) * stride + kernel - in;
    if (total < 0)
        total = 0;
    *out = o;
    *before = total / 2;
    *after = total - total / 2;
}

/* Works out ONNX pads [top, left, bottom, right] for a window layer and the
 * output sizes; fails when the reference sizes disagree on the pads. */
static int window_pads(tf_net *net, const tf_value *x, const char *name,
                       int kernel, int stride, tf_padding padding,
                       int64_t pads[4], tf_value *out) {
    int64_t first_before = 0, first_after = 0;
    for (int r = 0; r < net->n_sizes; r++) {
        int64_t in = x->size[r], o, before = 0, after = 0;
        if (padding == TF_SAME) {
            tf_same_pads(in, kernel, stride, &o, &before, &after);
        } else {
            if (padding == TF_PAD1_VALID) {
                before = after = 1;
            }
            if (in + before + after < kernel)
                return graph_fail(net->graph, KH_ESHAPE,
                                  "%s: input size %lld is smaller than the "
                                  "kernel %d",
                                  name, (long long)in, kernel);
            o = (in + before + after - kernel) / stride + 1;
        }
        if (r == 0) {
            first_before = before;
            first_after = after;
        } else if (before != first_before || after != first_after) {
            return graph_fail(net->graph, KH_EUNSUPPORTED,
                              "%s: padding depends on the input size "
                              "(%lld,%lld) at size %lld but (%lld,%lld) at "
                              "%lld",
                              name, (long long)first_before,
                              (long long)first_after, (long long)x->size[0],
                              (long long)before, (long long)after,
                              (long long)in);
        }
        out->size[r] = o;
    }
    pads[0] = pads[1] = first_before;
    pads[2] = pads[3] = first_after;
    return KH_OK;
}

static int join(char *buf, const char *a, const char *b) {
    int n = snprintf(buf, TF_NAME_MAX, "%s%s", a, b);
    return n >= 0 && n < TF_NAME_MAX;
}

/* Fetches prefix+suffix with the given shape. */
static const tfjs_weight *weight(tf_net *net, const char *prefix,
                                 const char *suffix, int rank,
                                 const int64_t *dims) {
    char name[TF_NAME_MAX];
    if (!join(name, prefix, suffix)) {
        graph_fail(net->graph, KH_ELIMIT, "weight name '%s%s' is too long",
                   prefix, suffix);
        return NULL;
    }
    const tfjs_weight *w;
    kh_error err;
    if (tfjs_weights_expect(net->weights, name, rank, dims, &w, &err)) {
        graph_fail(net->graph, err.code, "%s", err.message);
        return NULL;
    }
    return w;
}

static const char *conv_node(tf_net *net, const char *node_name,
                             const char *input, const char *weights,
                             const char *bias, int kernel, int stride,
                             const int64_t pads[4], int64_t group,
                             const char *output) {
    int64_t kernel_shape[2] = {kernel, kernel};
    int64_t strides[2] = {stride, stride};
    graph_attr attrs[4] = {
        GRAPH_INTS("kernel_shape", kernel_shape, 2),
        GRAPH_INTS("strides", strides, 2),
        GRAPH_INTS("pads", pads, 4),
        GRAPH_INT("group", group),
    };
    const char *inputs[3] = {input, weights, bias};
    return graph_add_node(net->graph, "Conv", node_name, inputs, bias ? 3 : 2,
                          output, attrs, group > 1 ? 4 : 3);
}

tf_value tf_normalize(tf_net *net, tf_value x, const char *name,
                      const float mean[3], float divisor) {
    if (failed(net, x))
        return failed_value();
    if (x.channels != 3) {
        graph_fail(net->graph, KH_ESHAPE, "%s: expects 3 channels, got %lld",
                   name, (long long)x.channels);
        return failed_value();
    }
    char mean_name[TF_NAME_MAX], divisor_name[TF_NAME_MAX],
        centred[TF_NAME_MAX];
    if (!join(mean_name, name, "/mean_rgb") ||
        !join(divisor_name, name, "/divisor") ||
        !join(centred, name, "/centred")) {
        graph_fail(net->graph, KH_ELIMIT, "name '%s' is too long", name);
        return failed_value();
    }
    int64_t mean_dims[4] = {1, 3, 1, 1};
    graph_add_initializer(net->graph, mean_name, 4, mean_dims, mean);
    graph_add_initializer(net->graph, divisor_name, 0, NULL, &divisor);
    const char *sub_in[2] = {x.name, mean_name};
    const char *sub = graph_add_node(net->graph, "Sub", centred, sub_in, 2,
                                     centred, NULL, 0);
    const char *div_in[2] = {sub, divisor_name};
    tf_value out = x;
    out.name =
        graph_add_node(net->graph, "Div", name, div_in, 2, name, NULL, 0);
    return out;
}

tf_value tf_conv(tf_net *net, tf_value x, const char *prefix, int kernel,
                 int64_t out_channels, int stride, tf_padding padding,
                 const char *output) {
    if (failed(net, x))
        return failed_value();
    int64_t filter_dims[4] = {kernel, kernel, x.channels, out_channels};
    int64_t bias_dims[1] = {out_channels};
    const tfjs_weight *filters =
        weight(net, prefix, "/filters", 4, filter_dims);
    const tfjs_weight *bias = weight(net, prefix, "/bias", 1, bias_dims);
    tf_value out = x;
    int64_t pads[4];
    if (!filters || !bias ||
        window_pads(net, &x, prefix, kernel, stride, padding, pads, &out))
        return failed_value();
    float *oihw = malloc(filters->count * sizeof *oihw);
    if (!oihw) {
        graph_fail(net->graph, KH_ENOMEM, "%s: out of memory", prefix);
        return failed_value();
    }
    tf_hwio_to_oihw(filters->values, kernel, kernel, x.channels, out_channels,
                    oihw);
    int64_t onnx_dims[4] = {out_channels, x.channels, kernel, kernel};
    graph_add_initializer(net->graph, filters->name, 4, onnx_dims, oihw);
    free(oihw);
    graph_add_initializer(net->graph, bias->name, 1, bias_dims, bias->values);
    out.channels = out_channels;
    out.name = conv_node(net, prefix, x.name, filters->name, bias->name,
                         kernel, stride, pads, 1, output ? output : prefix);
    return out;
}

tf_value tf_separable_conv(tf_net *net, tf_value x, const char *prefix,
                           int kernel, int64_t out_channels, int stride,
                           tf_padding padding) {
    if (failed(net, x))
        return failed_value();
    int64_t depthwise_dims[4] = {kernel, kernel, x.channels, 1};
    int64_t pointwise_dims[4] = {1, 1, x.channels, out_channels};
    int64_t bias_dims[1] = {out_channels};
    const tfjs_weight *depthwise =
        weight(net, prefix, "/depthwise_filter", 4, depthwise_dims);
    const tfjs_weight *pointwise =
        weight(net, prefix, "/pointwise_filter", 4, pointwise_dims);
    const tfjs_weight *bias = weight(net, prefix, "/bias", 1, bias_dims);
    char depthwise_out[TF_NAME_MAX];
    if (!join(depthwise_out, prefix, "/depthwise")) {
        graph_fail(net->graph, KH_ELIMIT, "name '%s' is too long", prefix);
        return failed_value();
    }
    tf_value mid = x;
    int64_t pads[4], no_pads[4] = {0, 0, 0, 0};
    if (!depthwise || !pointwise || !bias ||
        window_pads(net, &x, prefix, kernel, stride, padding, pads, &mid))
        return failed_value();
    size_t biggest = depthwise->count > pointwise->count ? depthwise->count
                                                         : pointwise->count;
    float *converted = malloc(biggest * sizeof *converted);
    if (!converted) {
        graph_fail(net->graph, KH_ENOMEM, "%s: out of memory", prefix);
        return failed_value();
    }
    tf_depthwise_to_onnx(depthwise->values, kernel, kernel, x.channels, 1,
                         converted);
    int64_t onnx_depthwise[4] = {x.channels, 1, kernel, kernel};
    graph_add_initializer(net->graph, depthwise->name, 4, onnx_depthwise,
                          converted);
    tf_hwio_to_oihw(pointwise->values, 1, 1, x.channels, out_channels,
                    converted);
    int64_t onnx_pointwise[4] = {out_channels, x.channels, 1, 1};
    graph_add_initializer(net->graph, pointwise->name, 4, onnx_pointwise,
                          converted);
    free(converted);
    graph_add_initializer(net->graph, bias->name, 1, bias_dims, bias->values);

    mid.name = conv_node(net, depthwise_out, x.name, depthwise->name, NULL,
                         kernel, stride, pads, x.channels, depthwise_out);
    tf_value out = mid;
    out.channels = out_channels;
    out.name = conv_node(net, prefix, mid.name, pointwise->name, bias->name, 1,
                         1, no_pads, 1, prefix);
    return out;
}

static tf_value unary(tf_net *net, tf_value x, const char *op,
                      const char *name, const graph_attr *attrs,
                      size_t n_attrs) {
    if (failed(net, x))
        return failed_value();
    const char *in[1] = {x.name};
    x.name = graph_add_node(net->graph, op, name, in, 1, name, attrs, n_attrs);
    return x;
}

tf_value tf_leaky_relu(tf_net *net, tf_value x, const char *name, float alpha) {
    /* face-api's leaky(x) = relu(x - alpha x) + alpha x: LeakyRelu up to the
     * rounding of that sum. */
    graph_attr attr = GRAPH_FLOAT("alpha", alpha);
    return unary(net, x, "LeakyRelu", name, &attr, 1);
}

tf_value tf_relu(tf_net *net, tf_value x, const char *name) {
    return unary(net, x, "Relu", name, NULL, 0);
}

tf_value tf_add(tf_net *net, tf_value a, tf_value b, const char *name) {
    if (failed(net, a) || failed(net, b))
        return failed_value();
    bool same = a.channels == b.channels;
    for (int r = 0; r < net->n_sizes; r++)
        same = same && a.size[r] == b.size[r];
    if (!same) {
        graph_fail(net->graph, KH_ESHAPE, "%s: '%s' and '%s' differ in shape",
                   name, a.name, b.name);
        return failed_value();
    }
    const char *in[2] = {a.name, b.name};
    a.name = graph_add_node(net->graph, "Add", name, in, 2, name, NULL, 0);
    return a;
}

static tf_value pool(tf_net *net, tf_value x, const char *op, const char *name,
                     int kernel, int stride, tf_padding padding) {
    if (failed(net, x))
        return failed_value();
    tf_value out = x;
    int64_t pads[4];
    if (window_pads(net, &x, name, kernel, stride, padding, pads, &out))
        return failed_value();
    int64_t kernel_shape[2] = {kernel, kernel};
    int64_t strides[2] = {stride, stride};
    /* MaxPool ignores padded cells, like TensorFlow's 'same' max pool. An
     * average pool would count them differently, so refuse padding there. */
    if (strcmp(op, "AveragePool") == 0 && (pads[0] || pads[2])) {
        graph_fail(net->graph, KH_EUNSUPPORTED,
                   "%s: padded average pooling is not converted", name);
        return failed_value();
    }
    graph_attr attrs[3] = {
        GRAPH_INTS("kernel_shape", kernel_shape, 2),
        GRAPH_INTS("strides", strides, 2),
        GRAPH_INTS("pads", pads, 4),
    };
    const char *in[1] = {x.name};
    out.name = graph_add_node(net->graph, op, name, in, 1, name, attrs, 3);
    return out;
}

tf_value tf_max_pool(tf_net *net, tf_value x, const char *name, int kernel,
                     int stride, tf_padding padding) {
    return pool(net, x, "MaxPool", name, kernel, stride, padding);
}

tf_value tf_avg_pool(tf_net *net, tf_value x, const char *name, int kernel,
                     int stride, tf_padding padding) {
    return pool(net, x, "AveragePool", name, kernel, stride, padding);
}

tf_value tf_flatten_dense(tf_net *net, tf_value x, const char *prefix,
                          int64_t out_features) {
    if (failed(net, x))
        return failed_value();
    for (int r = 0; r < net->n_sizes; r++)
        if (x.size[r] != 1) {
            graph_fail(net->graph, KH_ESHAPE,
                       "%s: expects a 1x1 feature map, got %lldx%lld", prefix,
                       (long long)x.size[r], (long long)x.size[r]);
            return failed_value();
        }
    int64_t weight_dims[2] = {x.channels, out_features};
    int64_t bias_dims[1] = {out_features};
    const tfjs_weight *weights =
        weight(net, prefix, "/weights", 2, weight_dims);
    const tfjs_weight *bias = weight(net, prefix, "/bias", 1, bias_dims);
    char flat[TF_NAME_MAX];
    if (!weights || !bias)
        return failed_value();
    if (!join(flat, prefix, "/flatten")) {
        graph_fail(net->graph, KH_ELIMIT, "name '%s' is too long", prefix);
        return failed_value();
    }
    graph_add_initializer(net->graph, weights->name, 2, weight_dims,
                          weights->values);
    graph_add_initializer(net->graph, bias->name, 1, bias_dims, bias->values);
    graph_attr axis = GRAPH_INT("axis", 1);
    const char *flatten_in[1] = {x.name};
    const char *flattened = graph_add_node(net->graph, "Flatten", flat,
                                           flatten_in, 1, flat, &axis, 1);
    const char *gemm_in[3] = {flattened, weights->name, bias->name};
    tf_value out = x;
    out.channels = out_features;
    out.name = graph_add_node(net->graph, "Gemm", prefix, gemm_in, 3, prefix,
                              NULL, 0);
    return out;
}

tf_value tf_softmax(tf_net *net, tf_value x, const char *name) {
    graph_attr axis = GRAPH_INT("axis", 1);
    return unary(net, x, "Softmax", name, &axis, 1);
}
