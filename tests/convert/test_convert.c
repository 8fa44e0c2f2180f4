/* The converter on synthetic manifests with face-api's architectures: layout
 * conversions, TensorFlow's padding rules, the graph written for each model
 * (decoded back from the ModelProto bytes), loading it in our engine, and
 * refusal of manifests that do not fit the architecture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "convert/tf_layers.h"
#include "onnx/onnx.h"
#include "onnx/protobuf.h"

static void conv_filters_go_from_hwio_to_oihw(void **state) {
    (void)state;
    /* [kh=1, kw=2, in=2, out=3]: value = 1000*y + 100*x + 10*i + o. */
    float hwio[12], oihw[12];
    for (int x = 0; x < 2; x++)
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 3; o++)
                hwio[(x * 2 + i) * 3 + o] = (float)(100 * x + 10 * i + o);
    tf_hwio_to_oihw(hwio, 1, 2, 2, 3, oihw);
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 2; i++)
            for (int x = 0; x < 2; x++)
                assert_true(oihw[(o * 2 + i) * 2 + x] ==
                            (float)(100 * x + 10 * i + o));
}

static void depthwise_filters_become_one_group_per_channel(void **state) {
    (void)state;
    /* [kh=2, kw=1, channels=3, multiplier=2]: TensorFlow's output channel
     * c*2+m must read input channel c. */
    float hwcm[12], onnx[12];
    for (int y = 0; y < 2; y++)
        for (int c = 0; c < 3; c++)
            for (int m = 0; m < 2; m++)
                hwcm[(y * 3 + c) * 2 + m] = (float)(100 * y + 10 * c + m);
    tf_depthwise_to_onnx(hwcm, 2, 1, 3, 2, onnx);
    for (int c = 0; c < 3; c++)
        for (int m = 0; m < 2; m++)
            for (int y = 0; y < 2; y++)
                assert_true(onnx[(c * 2 + m) * 2 + y] ==
                            (float)(100 * y + 10 * c + m));
}

static void same_padding_puts_the_odd_pixel_at_the_end(void **state) {
    (void)state;
    static const struct {
        int64_t in, kernel, stride, out, before, after;
    } cases[] = {
        {112, 3, 2, 56, 0, 1}, /* stride 2, even input: (0,1) */
        {113, 3, 2, 57, 1, 1},
        {207, 2, 2, 104, 0, 1},
        {206, 2, 2, 103, 0, 0},
        {13, 2, 1, 13, 0, 1},
        {14, 3, 1, 14, 1, 1},
        {7, 1, 1, 7, 0, 0},
        {5, 7, 2, 3, 3, 3},
        {5, 4, 2, 3, 1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t out, before, after;
        tf_same_pads(cases[i].in, cases[i].kernel, cases[i].stride, &out,
                     &before, &after);
        if (out != cases[i].out || before != cases[i].before ||
            after != cases[i].after)
            fail_msg("in %lld k %lld s %lld: expected %lld (%lld,%lld), got "
                     "%lld (%lld,%lld)",
                     (long long)cases[i].in, (long long)cases[i].kernel,
                     (long long)cases[i].stride, (long long)cases[i].out,
                     (long long)cases[i].before, (long long)cases[i].after,
                     (long long)out, (long long)before, (long long)after);
    }
}

/* ---- synthetic manifests -------------------------------------------- */

typedef struct spec {
    char name[64];
    int rank;
    int64_t dims[4];
} spec;

typedef struct manifest {
    spec specs[64];
    int count;
} manifest;

static void add_spec(manifest *m, const char *name, int rank, int64_t d0,
                     int64_t d1, int64_t d2, int64_t d3) {
    assert_true(m->count < 64);
    spec *s = &m->specs[m->count++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->rank = rank;
    s->dims[0] = d0;
    s->dims[1] = d1;
    s->dims[2] = d2;
    s->dims[3] = d3;
}

static void add_separable(manifest *m, const char *prefix, int64_t in,
                          int64_t out) {
    char name[64];
    snprintf(name, sizeof name, "%s/depthwise_filter", prefix);
    add_spec(m, name, 4, 3, 3, in, 1);
    snprintf(name, sizeof name, "%s/pointwise_filter", prefix);
    add_spec(m, name, 4, 1, 1, in, out);
    snprintf(name, sizeof name, "%s/bias", prefix);
    add_spec(m, name, 1, out, 0, 0, 0);
}

static void tiny_manifest(manifest *m) {
    memset(m, 0, sizeof *m);
    add_spec(m, "conv0/filters", 4, 3, 3, 3, 16);
    add_spec(m, "conv0/bias", 1, 16, 0, 0, 0);
    int64_t channels[6] = {16, 32, 64, 128, 256, 512};
    for (int i = 1; i <= 5; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "conv%d", i);
        add_separable(m, prefix, channels[i - 1], channels[i]);
    }
    add_spec(m, "conv8/filters", 4, 1, 1, 512, 25);
    add_spec(m, "conv8/bias", 1, 25, 0, 0, 0);
}

static void expression_manifest(manifest *m) {
    memset(m, 0, sizeof *m);
    int64_t channels[5] = {3, 32, 64, 128, 256};
    for (int b = 0; b < 4; b++) {
        char prefix[40];
        if (b == 0) {
            add_spec(m, "dense0/conv0/filters", 4, 3, 3, 3, 32);
            add_spec(m, "dense0/conv0/bias", 1, 32, 0, 0, 0);
        } else {
            snprintf(prefix, sizeof prefix, "dense%d/conv0", b);
            add_separable(m, prefix, channels[b], channels[b + 1]);
        }
        for (int c = 1; c <= 3; c++) {
            snprintf(prefix, sizeof prefix, "dense%d/conv%d", b, c);
            add_separable(m, prefix, channels[b + 1], channels[b + 1]);
        }
    }
    add_spec(m, "fc/weights", 2, 256, 7, 0, 0);
    add_spec(m, "fc/bias", 1, 7, 0, 0, 0);
}

static size_t spec_count(const spec *s) {
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

typedef struct loaded_shard {
    uint8_t *bytes;
    size_t len;
} loaded_shard;

static int read_synthetic_shard(void *user, const char *path, uint8_t **data,
                                size_t *len, kh_error *err) {
    loaded_shard *s = user;
    if (strcmp(path, "w.bin") != 0)
        return kh_error_set(err, KH_ENOTFOUND, "%s: no such shard", path);
    *data = malloc(s->len + 1);
    assert_non_null(*data);
    memcpy(*data, s->bytes, s->len);
    *len = s->len;
    return KH_OK;
}

/* Weights as uint8-quantized values of a fixed pattern. */
static int load_manifest(const manifest *m, tfjs_weights **out,
                         kh_error *err) {
    size_t cap = 65536, used = 0, total = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    used += (size_t)snprintf(json, cap,
                             "[{\"paths\": [\"w.bin\"], \"weights\": [");
    for (int i = 0; i < m->count; i++) {
        const spec *s = &m->specs[i];
        char shape[64];
        size_t at = (size_t)snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < s->rank; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld",
                                   d ? "," : "", (long long)s->dims[d]);
        snprintf(shape + at, sizeof shape - at, "]");
        used += (size_t)snprintf(
            json + used, cap - used,
            "%s{\"name\": \"%s\", \"shape\": %s, \"dtype\": \"float32\", "
            "\"quantization\": {\"dtype\": \"uint8\", \"scale\": 0.00390625, "
            "\"min\": -0.5}}",
            i ? "," : "", s->name, shape);
        total += spec_count(s);
    }
    used += (size_t)snprintf(json + used, cap - used, "]}]");
    assert_true(used < cap);
    loaded_shard shard = {malloc(total), total};
    assert_non_null(shard.bytes);
    for (size_t i = 0; i < total; i++)
        shard.bytes[i] = (uint8_t)(i * 37 + 11);
    int rc = tfjs_weights_parse(json, used, read_synthetic_shard, &shard, out,
                                err);
    free(shard.bytes);
    free(json);
    return rc;
}

/* ---- decoding the written model ------------------------------------- */

typedef struct node_info {
    char op[24];
    char name[48];
    char inputs[3][48];
    int n_inputs;
    int64_t pads[4];
    int n_pads;
    int64_t strides[2];
    int64_t kernel[2];
    int64_t group;
    float alpha;
} node_info;

typedef struct model_info {
    node_info nodes[128];
    int n_nodes;
    int n_initializers;
    char input_name[32];
    int64_t input_dims[4];
    char input_params[4][16];
    int64_t opset;
} model_info;

static void copy_text(char *dst, size_t cap, const pb_field *f) {
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

static int read_ints(const pb_field *f, int64_t *out, int max) {
    if (f->wire == PB_VARINT) {
        out[0] = (int64_t)f->varint;
        return 1;
    }
    size_t count;
    kh_error err;
    assert_int_equal(pb_packed_varint_count(f, &count, &err), KH_OK);
    assert_true(count <= (size_t)max);
    uint64_t v[8];
    assert_int_equal(pb_packed_varint_read(f, v, count, &err), KH_OK);
    for (size_t i = 0; i < count; i++)
        out[i] = (int64_t)v[i];
    return (int)count;
}

static void decode_node(const pb_reader *parent, const pb_field *nf,
                        node_info *n) {
    memset(n, 0, sizeof *n);
    n->group = 1;
    pb_reader r;
    pb_field f;
    kh_error err;
    pb_reader_sub(&r, parent, nf);
    while (pb_next(&r, &f, &err) == 1) {
        if (f.number == 1 && n->n_inputs < 3)
            copy_text(n->inputs[n->n_inputs++], 48, &f);
        else if (f.number == 3)
            copy_text(n->name, sizeof n->name, &f);
        else if (f.number == 4)
            copy_text(n->op, sizeof n->op, &f);
        else if (f.number == 5) {
            pb_reader a;
            pb_field af;
            char name[32] = "";
            int64_t ints[8];
            int n_ints = 0;
            int64_t i_value = 0;
            float f_value = 0;
            pb_reader_sub(&a, &r, &f);
            while (pb_next(&a, &af, &err) == 1) {
                if (af.number == 1)
                    copy_text(name, sizeof name, &af);
                else if (af.number == 8)
                    n_ints += read_ints(&af, ints + n_ints, 8 - n_ints);
                else if (af.number == 3)
                    i_value = (int64_t)af.varint;
                else if (af.number == 2)
                    f_value = pb_fixed32_as_float(af.varint);
            }
            if (strcmp(name, "pads") == 0) {
                assert_int_equal(n_ints, 4);
                memcpy(n->pads, ints, sizeof n->pads);
                n->n_pads = 4;
            } else if (strcmp(name, "strides") == 0) {
                memcpy(n->strides, ints, sizeof n->strides);
            } else if (strcmp(name, "kernel_shape") == 0) {
                memcpy(n->kernel, ints, sizeof n->kernel);
            } else if (strcmp(name, "group") == 0) {
                n->group = i_value;
            } else if (strcmp(name, "alpha") == 0) {
                n->alpha = f_value;
            }
        }
    }
}

static void decode_model(const uint8_t *bytes, size_t len, model_info *m) {
    memset(m, 0, sizeof *m);
    pb_reader model, graph;
    pb_field f, g;
    kh_error err;
    pb_reader_init(&model, bytes, len);
    while (pb_next(&model, &f, &err) == 1) {
        if (f.number == 8) { /* opset_import */
            pb_reader o;
            pb_field of;
            pb_reader_sub(&o, &model, &f);
            while (pb_next(&o, &of, &err) == 1)
                if (of.number == 2)
                    m->opset = (int64_t)of.varint;
        }
        if (f.number != 7)
            continue;
        pb_reader_sub(&graph, &model, &f);
        while (pb_next(&graph, &g, &err) == 1) {
            if (g.number == 1) {
                assert_true(m->n_nodes < 128);
                decode_node(&graph, &g, &m->nodes[m->n_nodes++]);
            } else if (g.number == 5) {
                m->n_initializers++;
            } else if (g.number == 11) { /* input ValueInfoProto */
                pb_reader v, t, tt, shape, dim;
                pb_field vf, tf, ttf, sf, df;
                int d = 0;
                pb_reader_sub(&v, &graph, &g);
                while (pb_next(&v, &vf, &err) == 1) {
                    if (vf.number == 1)
                        copy_text(m->input_name, sizeof m->input_name, &vf);
                    if (vf.number != 2)
                        continue;
                    pb_reader_sub(&t, &v, &vf);
                    while (pb_next(&t, &tf, &err) == 1) {
                        pb_reader_sub(&tt, &t, &tf);
                        while (pb_next(&tt, &ttf, &err) == 1) {
                            if (ttf.number != 2)
                                continue;
                            pb_reader_sub(&shape, &tt, &ttf);
                            while (pb_next(&shape, &sf, &err) == 1 && d < 4) {
                                pb_reader_sub(&dim, &shape, &sf);
                                m->input_dims[d] = -1;
                                while (pb_next(&dim, &df, &err) == 1) {
                                    if (df.number == 1)
                                        m->input_dims[d] = (int64_t)df.varint;
                                    else if (df.number == 2)
                                        copy_text(m->input_params[d], 16, &df);
                                }
                                d++;
                            }
                        }
                    }
                }
            }
        }
    }
}

static const node_info *find_node(const model_info *m, const char *name) {
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return &m->nodes[i];
    fail_msg("no node '%s' in the model", name);
    return NULL;
}

static void assert_pads(const model_info *m, const char *name, int64_t top,
                        int64_t left, int64_t bottom, int64_t right) {
    const node_info *n = find_node(m, name);
    assert_int_equal(n->n_pads, 4);
    if (n->pads[0] != top || n->pads[1] != left || n->pads[2] != bottom ||
        n->pads[3] != right)
        fail_msg("%s: expected pads [%lld,%lld,%lld,%lld], got "
                 "[%lld,%lld,%lld,%lld]",
                 name, (long long)top, (long long)left, (long long)bottom,
                 (long long)right, (long long)n->pads[0],
                 (long long)n->pads[1], (long long)n->pads[2],
                 (long long)n->pads[3]);
}

static void convert_synthetic(convert_kind kind, const manifest *mf,
                              model_info *info, uint8_t **bytes,
                              size_t *len) {
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(load_manifest(mf, &w, &err), KH_OK);
    convert_summary summary;
    if (convert_faceapi(kind, w, bytes, len, &summary, &err))
        fail_msg("convert: %s", err.message);
    tfjs_weights_destroy(w);
    assert_int_equal(summary.bytes, *len);
    decode_model(*bytes, *len, info);
    assert_int_equal((int)summary.nodes, info->n_nodes);
    assert_int_equal(info->opset, 13);
}

/* Loads in our engine and checks the declared input/output. */
static void assert_engine_loads(const uint8_t *bytes, size_t len,
                                const char *output, int64_t out_channels) {
    onnx_model *model;
    kh_error err;
    if (onnx_model_load_buffer(bytes, len, NULL, &model, &err))
        fail_msg("engine refuses the model: %s", err.message);
    onnx_value_info in, out;
    assert_int_equal(onnx_model_input_info(model, 0, &in), KH_OK);
    assert_string_equal(in.name, "image");
    assert_int_equal(in.rank, 4);
    assert_int_equal(onnx_model_output_info(model, 0, &out), KH_OK);
    assert_string_equal(out.name, output);
    assert_int_equal(out.dims[1], out_channels);
    onnx_model_destroy(model);
}

static void tiny_detector_graph_follows_face_api(void **state) {
    (void)state;
    manifest mf;
    tiny_manifest(&mf);
    model_info m;
    uint8_t *bytes;
    size_t len;
    convert_synthetic(CONVERT_FACEAPI_TINY, &mf, &m, &bytes, &len);

    assert_string_equal(m.input_name, "image");
    assert_int_equal(m.input_dims[0], 1);
    assert_int_equal(m.input_dims[1], 3);
    assert_string_equal(m.input_params[2], "H");
    assert_string_equal(m.input_params[3], "W");
    /* normalisation, conv0 + leaky + pool, 5 x (depthwise, pointwise,
     * leaky, pool), conv8. */
    assert_int_equal(m.n_nodes, 2 + 3 + 5 * 4 + 1);
    assert_string_equal(m.nodes[0].op, "Sub");
    assert_string_equal(m.nodes[1].op, "Div");
    assert_string_equal(find_node(&m, "conv0")->op, "Conv");
    assert_pads(&m, "conv0", 0, 0, 0, 0); /* 'valid' */
    const node_info *leaky = find_node(&m, "conv0/leaky");
    assert_string_equal(leaky->op, "LeakyRelu");
    assert_true(leaky->alpha == 0.1f);
    /* On a multiple of 32, conv0 leaves an even size (no pad) and conv1..5
     * keep the size: only pool1 (odd input) and pool5 (stride 1) pad, at
     * the end. */
    assert_pads(&m, "pool0", 0, 0, 0, 0);
    assert_pads(&m, "pool1", 0, 0, 1, 1);
    assert_pads(&m, "pool2", 0, 0, 0, 0);
    assert_pads(&m, "pool4", 0, 0, 0, 0);
    assert_pads(&m, "pool5", 0, 0, 1, 1);
    assert_int_equal(find_node(&m, "pool5")->strides[0], 1);
    assert_int_equal(find_node(&m, "pool4")->strides[0], 2);
    const node_info *dw = find_node(&m, "conv3/depthwise");
    assert_string_equal(dw->op, "Conv");
    assert_int_equal(dw->group, 64);
    assert_int_equal(dw->n_inputs, 2); /* no bias */
    assert_pads(&m, "conv3/depthwise", 1, 1, 1, 1); /* tf.pad 1, 'valid' */
    const node_info *pw = find_node(&m, "conv3");
    assert_int_equal(pw->n_inputs, 3);
    assert_string_equal(pw->inputs[0], "conv3/depthwise");
    assert_int_equal(pw->kernel[0], 1);
    assert_string_equal(m.nodes[m.n_nodes - 1].op, "Conv");
    assert_string_equal(m.nodes[m.n_nodes - 1].name, "conv8");

    assert_engine_loads(bytes, len, "grid", 25);
    free(bytes);
}

static void expression_net_graph_follows_face_api(void **state) {
    (void)state;
    manifest mf;
    expression_manifest(&mf);
    model_info m;
    uint8_t *bytes;
    size_t len;
    convert_synthetic(CONVERT_FACEAPI_EXPRESSION, &mf, &m, &bytes, &len);

    assert_string_equal(m.input_params[0], "N");
    assert_int_equal(m.input_dims[2], 112);
    assert_int_equal(m.input_dims[3], 112);
    /* Stride-2 'same' on even sizes pads only at the end. */
    assert_pads(&m, "dense0/conv0", 0, 0, 1, 1);
    assert_int_equal(find_node(&m, "dense0/conv0")->strides[0], 2);
    assert_pads(&m, "dense1/conv0/depthwise", 0, 0, 1, 1);
    assert_pads(&m, "dense3/conv0/depthwise", 0, 0, 1, 1);
    assert_pads(&m, "dense2/conv2/depthwise", 1, 1, 1, 1);
    assert_pads(&m, "features", 0, 0, 0, 0);
    assert_int_equal(find_node(&m, "features")->kernel[0], 7);
    assert_string_equal(find_node(&m, "features")->op, "AveragePool");
    /* face-api's sum order: out1 + (out2 + (out3 + out4)). */
    const node_info *sum = find_node(&m, "dense2/out/sum");
    assert_string_equal(sum->inputs[0], "dense2/conv0/relu");
    assert_string_equal(sum->inputs[1], "dense2/out/sum234");
    assert_string_equal(find_node(&m, "dense2/out/sum234")->inputs[1],
                        "dense2/out/sum34");
    assert_string_equal(find_node(&m, "fc")->op, "Gemm");
    assert_string_equal(m.nodes[m.n_nodes - 1].op, "Softmax");
    assert_string_equal(m.nodes[m.n_nodes - 1].name, "probabilities");

    assert_engine_loads(bytes, len, "probabilities", 7);
    free(bytes);
}

static void expect_refusal(convert_kind kind, const manifest *mf, int status,
                           const char *says) {
    tfjs_weights *w;
    kh_error err;
    assert_int_equal(load_manifest(mf, &w, &err), KH_OK);
    uint8_t *bytes = (uint8_t *)&bytes;
    size_t len = 1;
    int rc = convert_faceapi(kind, w, &bytes, &len, NULL, &err);
    if (rc != status || !strstr(err.message, says))
        fail_msg("expected %s containing \"%s\", got %s: %s",
                 kh_err_name(status), says, kh_err_name(rc), err.message);
    assert_null(bytes);
    assert_int_equal(len, 0);
    tfjs_weights_destroy(w);
}

static void manifests_that_do_not_fit_are_refused(void **state) {
    (void)state;
    manifest mf;

    tiny_manifest(&mf); /* a weight left out */
    mf.specs[8] = mf.specs[--mf.count];
    expect_refusal(CONVERT_FACEAPI_TINY, &mf, KH_ENOTFOUND, "conv3/depthwise");

    tiny_manifest(&mf); /* conv1's pointwise filter one channel too wide */
    mf.specs[3].dims[3] = 33;
    expect_refusal(CONVERT_FACEAPI_TINY, &mf, KH_ESHAPE,
                   "conv1/pointwise_filter': expected shape [1,1,16,32]");

    tiny_manifest(&mf); /* the plain Tiny YOLO v2 has conv6/conv7 */
    add_spec(&mf, "conv6/bias", 1, 512, 0, 0, 0);
    expect_refusal(CONVERT_FACEAPI_TINY, &mf, KH_EFORMAT,
                   "'conv6/bias' is not used by faceapi-tiny");

    expression_manifest(&mf); /* the expression net is not a detector */
    expect_refusal(CONVERT_FACEAPI_TINY, &mf, KH_ENOTFOUND, "conv0/filters");

    expression_manifest(&mf);
    mf.specs[mf.count - 2].dims[1] = 8; /* fc/weights [256,8] */
    expect_refusal(CONVERT_FACEAPI_EXPRESSION, &mf, KH_ESHAPE, "fc/weights");
}

static void kind_names_round_trip(void **state) {
    (void)state;
    convert_kind kind;
    assert_int_equal(convert_kind_parse("faceapi-tiny", &kind), KH_OK);
    assert_int_equal(kind, CONVERT_FACEAPI_TINY);
    assert_string_equal(convert_kind_name(kind), "faceapi-tiny");
    assert_int_equal(convert_kind_parse("faceapi-expression", &kind), KH_OK);
    assert_string_equal(convert_kind_name(kind), "faceapi-expression");
    assert_int_equal(convert_kind_parse("yolo", &kind), KH_EINVAL);
    assert_string_equal(convert_kind_name((convert_kind)42), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_filters_go_from_hwio_to_oihw),
        cmocka_unit_test(depthwise_filters_become_one_group_per_channel),
        cmocka_unit_test(same_padding_puts_the_odd_pixel_at_the_end),
        cmocka_unit_test(tiny_detector_graph_follows_face_api),
        cmocka_unit_test(expression_net_graph_follows_face_api),
        cmocka_unit_test(manifests_that_do_not_fit_are_refused),
        cmocka_unit_test(kind_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
