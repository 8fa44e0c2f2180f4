/* faceapi_models.c - face-api's tiny face detector and expression net,
 * layer by layer as face-api 1.7.15 runs them (src/tinyYolov2/,
 * src/tinyFaceDetector/, src/faceFeatureExtractor/, src/faceExpressionNet/).
 *
 * Nothing is folded: face-api's separable-conv variant of Tiny YOLO v2 and
 * its expression net have no batch normalisation (only the plain Tiny YOLO
 * v2, which face-api's TinyFaceDetector does not use, has one), and the input
 * normalisation cannot be folded into the expression net's first conv
 * because that conv pads with zeros after normalising.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/file_util.h"
#include "convert/graph_builder.h"
#include "convert/tf_layers.h"

#define CONVERT_OPSET 13
#define CONVERT_PRODUCER "khappy convert"
#ifndef KH_VERSION
#define KH_VERSION "dev"
#endif

/* face-api's tinyFaceDetector/const.ts and tinyYolov2/leaky.ts. */
static const float TINY_MEAN_RGB[3] = {117.001f, 114.697f, 97.404f};
static const float TINY_LEAKY_ALPHA = 0.10000000149011612f;
/* faceFeatureExtractor/FaceFeatureExtractor.ts. */
static const float EXPRESSION_MEAN_RGB[3] = {122.782f, 117.001f, 104.298f};

/* The tiny detector accepts any multiple of 32; these sizes cover both
 * parities of every intermediate size, so equal pads for all of them mean
 * equal pads for every accepted size. */
static const int64_t TINY_REFERENCE_SIZES[] = {32, 64, 96, 128, 416, 608};

int convert_kind_parse(const char *name, convert_kind *kind) {
    if (strcmp(name, "faceapi-tiny") == 0)
        *kind = CONVERT_FACEAPI_TINY;
    else if (strcmp(name, "faceapi-expression") == 0)
        *kind = CONVERT_FACEAPI_EXPRESSION;
    else
        return KH_EINVAL;
    return KH_OK;
}

const char *convert_kind_name(convert_kind kind) {
    switch (kind) {
    case CONVERT_FACEAPI_TINY: return "faceapi-tiny";
    case CONVERT_FACEAPI_EXPRESSION: return "faceapi-expression";
    }
    return "unknown";
}

static tf_value image_input(tf_net *net, const int64_t *sizes, int n_sizes,
                            const graph_value *declared) {
    graph_add_input(net->graph, declared);
    tf_value x;
    memset(&x, 0, sizeof x);
    net->n_sizes = n_sizes;
    for (int i = 0; i < n_sizes; i++)
        x.size[i] = sizes[i];
    x.channels = 3;
    x.name = graph_status(net->graph, NULL) ? NULL : declared->name;
    return x;
}

/* TinyYolov2Base.runMobilenet with isFirstLayerConv2d and 7 filter sizes
 * (so no conv6 / conv7), after forwardInput's normalisation. */
static void build_tiny(tf_net *net) {
    static const int64_t in_dims[4] = {1, 3, -1, -1};
    static const char *const in_names[4] = {NULL, NULL, "H", "W"};
    static const int64_t out_dims[4] = {1, 25, -1, -1};
    static const char *const out_names[4] = {NULL, NULL, "grid_h", "grid_w"};
    const graph_value input = {"image", ONNX_FLOAT, 4, in_dims, in_names};
    const graph_value output = {"grid", ONNX_FLOAT, 4, out_dims, out_names};

    tf_value x = image_input(net, TINY_REFERENCE_SIZES,
                             (int)(sizeof TINY_REFERENCE_SIZES /
                                   sizeof TINY_REFERENCE_SIZES[0]),
                             &input);
    x = tf_normalize(net, x, "normalized", TINY_MEAN_RGB, 255.0f);
    x = tf_conv(net, x, "conv0", 3, 16, 1, TF_VALID, NULL);
    x = tf_leaky_relu(net, x, "conv0/leaky", TINY_LEAKY_ALPHA);
    x = tf_max_pool(net, x, "pool0", 2, 2, TF_SAME);

    static const int64_t channels[5] = {32, 64, 128, 256, 512};
    for (int i = 0; i < 5; i++) {
        char conv[16], leaky[24], pool[16];
        snprintf(conv, sizeof conv, "conv%d", i + 1);
        snprintf(leaky, sizeof leaky, "conv%d/leaky", i + 1);
        snprintf(pool, sizeof pool, "pool%d", i + 1);
        /* depthwiseSeparableConv: tf.pad by 1, then 'valid'. */
        x = tf_separable_conv(net, x, conv, 3, channels[i], 1, TF_PAD1_VALID);
        x = tf_leaky_relu(net, x, leaky, TINY_LEAKY_ALPHA);
        /* The last pool keeps the size (stride 1). */
        x = tf_max_pool(net, x, pool, 2, i < 4 ? 2 : 1, TF_SAME);
    }
    x = tf_conv(net, x, "conv8", 1, 25, 1, TF_VALID, "grid");
    if (x.name)
        graph_add_output(net->graph, &output);
}


/* "dense<block>/<what>" in buf (names are copied by the builder, so one
 * buffer serves every call). */
static const char *block_name(char *buf, size_t len, int block,
                              const char *what) {
    snprintf(buf, len, "dense%d/%s", block, what);
    return buf;
}

/* denseBlock4: out1 = relu(conv0(x)); each later separable conv reads the
 * relu of the running sum, added in face-api's order (out1 + (out2 + ...)). */
static tf_value dense_block(tf_net *net, tf_value x, int block,
                            int64_t channels) {
    char n[48];
#define NAME(what) block_name(n, sizeof n, block, what)
    tf_value out1 =
        block == 0
            ? tf_conv(net, x, NAME("conv0"), 3, channels, 2, TF_SAME, NULL)
            : tf_separable_conv(net, x, NAME("conv0"), 3, channels, 2,
                                TF_SAME);
    out1 = tf_relu(net, out1, NAME("conv0/relu"));
    tf_value out2 =
        tf_separable_conv(net, out1, NAME("conv1"), 3, channels, 1, TF_SAME);

    tf_value in3 = tf_add(net, out1, out2, NAME("in3/sum"));
    in3 = tf_relu(net, in3, NAME("in3"));
    tf_value out3 =
        tf_separable_conv(net, in3, NAME("conv2"), 3, channels, 1, TF_SAME);

    tf_value in4 = tf_add(net, out2, out3, NAME("in4/sum23"));
    in4 = tf_add(net, out1, in4, NAME("in4/sum"));
    in4 = tf_relu(net, in4, NAME("in4"));
    tf_value out4 =
        tf_separable_conv(net, in4, NAME("conv3"), 3, channels, 1, TF_SAME);

    tf_value sum = tf_add(net, out3, out4, NAME("out/sum34"));
    sum = tf_add(net, out2, sum, NAME("out/sum234"));
    sum = tf_add(net, out1, sum, NAME("out/sum"));
    return tf_relu(net, sum, NAME("out"));
#undef NAME
}

/* FaceExpressionNet.forwardInput: FaceFeatureExtractor, fc, softmax. */
static void build_expression(tf_net *net) {
    static const int64_t in_dims[4] = {-1, 3, 112, 112};
    static const char *const in_names[4] = {"N", NULL, NULL, NULL};
    static const int64_t out_dims[2] = {-1, 7};
    static const char *const out_names[2] = {"N", NULL};
    static const int64_t size[1] = {112};
    const graph_value input = {"image", ONNX_FLOAT, 4, in_dims, in_names};
    const graph_value output = {"probabilities", ONNX_FLOAT, 2, out_dims,
                                out_names};

    tf_value x = image_input(net, size, 1, &input);
    x = tf_normalize(net, x, "normalized", EXPRESSION_MEAN_RGB, 255.0f);
    static const int64_t channels[4] = {32, 64, 128, 256};
    for (int block = 0; block < 4; block++)
        x = dense_block(net, x, block, channels[block]);
    x = tf_avg_pool(net, x, "features", 7, 2, TF_VALID);
    x = tf_flatten_dense(net, x, "fc", 7);
    x = tf_softmax(net, x, "probabilities");
    if (x.name)
        graph_add_output(net->graph, &output);
}

int convert_faceapi(convert_kind kind, const tfjs_weights *weights,
                    uint8_t **bytes, size_t *len, convert_summary *summary,
                    kh_error *err) {
    *bytes = NULL;
    *len = 0;
    if (kind != CONVERT_FACEAPI_TINY && kind != CONVERT_FACEAPI_EXPRESSION)
        return kh_error_set(err, KH_EINVAL, "unknown model kind %d",
                            (int)kind);
    graph_builder *graph =
        graph_builder_create(convert_kind_name(kind), CONVERT_OPSET);
    if (!graph)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    tf_net net = {graph, weights, 0};
    if (kind == CONVERT_FACEAPI_TINY)
        build_tiny(&net);
    else
        build_expression(&net);

    /* A manifest with weights the architecture does not read is another
     * model (e.g. the plain Tiny YOLO v2): refuse it rather than guess. */
    int64_t parameters = 0;
    for (size_t i = 0; i < tfjs_weights_count(weights); i++) {
        const tfjs_weight *w = tfjs_weights_at(weights, i);
        if (!graph_has_tensor(graph, w->name))
            graph_fail(graph, KH_EFORMAT,
                       "weight '%s' is not used by %s: is this the right "
                       "manifest?",
                       w->name, convert_kind_name(kind));
        parameters += (int64_t)w->count;
    }
    size_t nodes = graph_node_count(graph);
    int rc = graph_builder_finish(graph, CONVERT_PRODUCER, KH_VERSION,
                                  bytes, len, err);
    if (!rc && summary) {
        summary->nodes = nodes;
        summary->initializers = tfjs_weights_count(weights) + 2;
        summary->parameters = parameters;
        summary->bytes = *len;
    }
    if (rc)
        kh_error_prefix(err, "%s", convert_kind_name(kind));
    graph_builder_destroy(graph);
    return rc;
}

int convert_faceapi_file(convert_kind kind, const char *manifest_path,
                         const char *out_path, convert_summary *summary,
                         kh_error *err) {
    tfjs_weights *weights;
    int rc = tfjs_weights_load(manifest_path, &weights, err);
    if (rc)
        return rc;
    uint8_t *bytes;
    size_t len;
    rc = convert_faceapi(kind, weights, &bytes, &len, summary, err);
    tfjs_weights_destroy(weights);
    if (rc)
        return rc;
    rc = convert_write_file(out_path, bytes, len, err);
    free(bytes);
    return rc;
}
