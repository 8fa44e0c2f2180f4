/* optimize.c - the fusion pass (see optimize.h). */
#include "onnx/optimize.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"
#include "onnx/kernels/eltwise_sum.h"

int onnx_fused_activation_read(const onnx_node *n, kernel_epilogue *ep,
                               kh_error *err) {
    ep->activation = KERNEL_ACT_NONE;
    ep->alpha = 0.0f;
    ep->lo = -FLT_MAX;
    ep->hi = FLT_MAX;
    const onnx_attr *a = onnx_attr_find(n, ONNX_FUSED_ACTIVATION);
    if (!a)
        return KH_OK;
    if (a->type != ONNX_ATTR_STRING)
        return kh_error_set(err, KH_EINVAL, "attribute '%s' must be a string",
                            ONNX_FUSED_ACTIVATION);
    if (!strcmp(a->s, "Relu")) {
        ep->activation = KERNEL_ACT_RELU;
    } else if (!strcmp(a->s, "LeakyRelu")) {
        ep->activation = KERNEL_ACT_LEAKY_RELU;
        ep->alpha = onnx_attr_float(n, ONNX_FUSED_ALPHA, 0.01f);
    } else if (!strcmp(a->s, "Clip")) {
        ep->activation = KERNEL_ACT_CLIP;
        ep->lo = onnx_attr_float(n, ONNX_FUSED_MIN, -FLT_MAX);
        ep->hi = onnx_attr_float(n, ONNX_FUSED_MAX, FLT_MAX);
    } else {
        return kh_error_set(err, KH_EINVAL, "unknown fused activation '%s'", a->s);
    }
    return KH_OK;
}

/* ------------------------------------------------------------- the pass */

static bool is_op(const onnx_node *n, const char *op_type) {
    return n->op && (!n->domain[0] || !strcmp(n->domain, "ai.onnx")) &&
           !strcmp(n->op_type, op_type);
}

static int fused_noop_reshape(onnx_node *n, kh_error *err) {
    (void)n;
    (void)err;
    return KH_OK;
}

static int fused_noop_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)n;
    (void)ex;
    (void)err;
    return KH_OK;
}

/* What a fused-away node becomes: no inputs, no outputs, nothing to do. */
static const onnx_operator fused_noop = {
    .op_type = "Fused",
    .min_opset = 1,
    .reshape = fused_noop_reshape,
    .run = fused_noop_run,
};

static bool is_graph_output(const onnx_model *m, const onnx_tensor *t) {
    for (size_t i = 0; i < m->n_outputs; i++)
        if (&m->outputs[i]->t == t)
            return true;
    return false;
}

/* The single node reading t (and reading it once), or -1. */
static long only_consumer(const onnx_model *m, const onnx_tensor *t) {
    long found = -1;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const onnx_node *n = &m->nodes[i];
        for (size_t k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] != t)
                continue;
            if (found >= 0)
                return -1;
            found = (long)i;
        }
    }
    return found;
}

/* A Clip's bounds when they are fixed at load: attributes before opset 11,
 * constant inputs after. */
static bool clip_bounds(const onnx_node *n, float *lo, float *hi) {
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (n->opset < 11) {
        *lo = onnx_attr_float(n, "min", -FLT_MAX);
        *hi = onnx_attr_float(n, "max", FLT_MAX);
        return true;
    }
    for (size_t k = 1; k < 3; k++) {
        const onnx_tensor *t = onnx_node_input(n, k);
        if (!t)
            continue;
        if (!(t->flags & ONNX_TENSOR_CONST) || !t->data || t->numel != 1 ||
            t->dtype != ONNX_FLOAT)
            return false;
        float v = (float)onnx_tensor_get_f64(t, 0);
        if (k == 1)
            *lo = v;
        else
            *hi = v;
    }
    return true;
}

typedef struct fusion {
    size_t n_residuals;
    onnx_tensor *residuals[KERNEL_MAX_RESIDUALS];
    const char *activation; /* NULL: none */
    float alpha, lo, hi;
    const onnx_attr *pool_attrs; /* a folded MaxPool's; NULL: none */
    size_t n_pool_attrs;
} fusion;

/* Turns node j into a no-op after the Conv took over its output. */
static void retire(onnx_model *m, size_t j) {
    onnx_node *n = &m->nodes[j];
    if (m->node_initialised && m->node_initialised[j] && n->op && n->op->exit)
        n->op->exit(n);
    n->state = NULL;
    n->op = &fused_noop;
    n->n_inputs = 0;
    n->n_outputs = 0;
}

/* Moves the Conv's output to node j's output. */
static void take_output(onnx_model *m, size_t c, size_t j) {
    onnx_node *conv = &m->nodes[c], *n = &m->nodes[j];
    conv->outputs[0] = n->outputs[0];
    engine_tensor_of(conv->outputs[0])->producer = (int)c;
    retire(m, j);
}

/* attrs + the fused activation attributes, in model memory. */
static onnx_attr *with_activation(onnx_model *m, const onnx_attr *attrs, size_t n_attrs,
                                  const fusion *f, size_t *count) {
    onnx_attr *out = engine_alloc(m, (n_attrs + 4) * sizeof *out);
    if (!out)
        return NULL;
    if (n_attrs)
        memcpy(out, attrs, n_attrs * sizeof *out);
    onnx_attr *a = out + n_attrs;
    a[0] = (onnx_attr){.name = ONNX_FUSED_ACTIVATION, .type = ONNX_ATTR_STRING,
                       .s = f->activation, .s_len = strlen(f->activation)};
    a[1] = (onnx_attr){.name = ONNX_FUSED_ALPHA, .type = ONNX_ATTR_FLOAT, .f = f->alpha};
    a[2] = (onnx_attr){.name = ONNX_FUSED_MIN, .type = ONNX_ATTR_FLOAT, .f = f->lo};
    a[3] = (onnx_attr){.name = ONNX_FUSED_MAX, .type = ONNX_ATTR_FLOAT, .f = f->hi};
    *count = n_attrs + 4;
    return out;
}

/* The Conv's attributes plus the folded MaxPool's, renamed with
 * ONNX_FUSED_POOL_PREFIX. */
static int add_pool_attrs(onnx_model *m, onnx_node *conv, const fusion *f) {
    size_t n = conv->n_attrs + f->n_pool_attrs;
    onnx_attr *attrs = engine_alloc(m, n * sizeof *attrs);
    if (!attrs)
        return KH_ENOMEM;
    memcpy(attrs, conv->attrs, conv->n_attrs * sizeof *attrs);
    for (size_t i = 0; i < f->n_pool_attrs; i++) {
        onnx_attr *a = &attrs[conv->n_attrs + i];
        *a = f->pool_attrs[i];
        size_t len = strlen(ONNX_FUSED_POOL_PREFIX) + strlen(a->name) + 1;
        char *name = engine_alloc(m, len);
        if (!name)
            return KH_ENOMEM;
        snprintf(name, len, "%s%s", ONNX_FUSED_POOL_PREFIX, a->name);
        a->name = name;
    }
    conv->attrs = attrs;
    conv->n_attrs = n;
    return KH_OK;
}

/* Rebuilds the Conv's inputs and attributes with what was fused. */
static int apply(onnx_model *m, onnx_node *conv, const fusion *f) {
    if (f->n_residuals) {
        size_t n_in = ONNX_FUSED_FIRST_RESIDUAL + f->n_residuals;
        onnx_tensor **in = engine_alloc(m, n_in * sizeof *in);
        if (!in)
            return KH_ENOMEM;
        for (size_t k = 0; k < ONNX_FUSED_FIRST_RESIDUAL; k++)
            in[k] = onnx_node_input(conv, k);
        for (size_t r = 0; r < f->n_residuals; r++)
            in[ONNX_FUSED_FIRST_RESIDUAL + r] = f->residuals[r];
        conv->inputs = in;
        conv->n_inputs = n_in;
    }
    if (f->activation) {
        size_t n_attrs;
        onnx_attr *attrs = with_activation(m, conv->attrs, conv->n_attrs, f, &n_attrs);
        if (!attrs)
            return KH_ENOMEM;
        conv->attrs = attrs;
        conv->n_attrs = n_attrs;
    }
    if (f->pool_attrs)
        return add_pool_attrs(m, conv, f);
    return KH_OK;
}

/* When n is an activation of `in` that can be fused, records it in f. */
static bool activation_of(const onnx_node *n, const onnx_tensor *in, fusion *f) {
    if (n->n_outputs != 1 || !n->n_inputs || n->inputs[0] != in)
        return false;
    if (is_op(n, "Relu")) {
        f->activation = "Relu";
    } else if (is_op(n, "LeakyRelu")) {
        f->activation = "LeakyRelu";
        f->alpha = onnx_attr_float(n, "alpha", 0.01f);
    } else if (is_op(n, "Clip") && clip_bounds(n, &f->lo, &f->hi)) {
        f->activation = "Clip";
    } else {
        return false;
    }
    return true;
}

/* ints attribute `name` of n equals {a, b}; absent counts as equal when
 * absent_ok. */
static bool ints2(const onnx_node *n, const char *name, int64_t a, int64_t b, bool absent_ok) {
    const onnx_attr *at = onnx_attr_find(n, name);
    if (!at)
        return absent_ok;
    return at->type == ONNX_ATTR_INTS && at->count == 2 && at->ints[0] == a && at->ints[1] == b;
}

/* Folds a 2x2, stride-2 MaxPool (no Indices output, no ceil_mode or
 * dilation) reading Conv c's output into c. */
static void fuse_pool(onnx_model *m, size_t c, fusion *f) {
    onnx_tensor *out = m->nodes[c].outputs[0];
    if (!out || is_graph_output(m, out))
        return;
    long j = only_consumer(m, out);
    if (j <= (long)c)
        return;
    const onnx_node *n = &m->nodes[j];
    if (!is_op(n, "MaxPool") || n->inputs[0] != out || !n->n_outputs ||
        (n->n_outputs > 1 && n->outputs[1]) || !ints2(n, "kernel_shape", 2, 2, false) ||
        !ints2(n, "strides", 2, 2, false) || !ints2(n, "dilations", 1, 1, true) ||
        onnx_attr_int(n, "ceil_mode", 0) != 0)
        return;
    f->pool_attrs = n->attrs;
    f->n_pool_attrs = n->n_attrs;
    take_output(m, c, (size_t)j);
}

/* Follows Conv node c's output through Adds and one activation. */
static int fuse_conv(onnx_model *m, size_t c) {
    fusion f = {0};
    for (;;) {
        onnx_node *conv = &m->nodes[c];
        onnx_tensor *out = conv->outputs[0];
        if (!out || is_graph_output(m, out))
            break;
        long j = only_consumer(m, out);
        if (j <= (long)c)
            break;
        onnx_node *n = &m->nodes[j];
        if (is_op(n, "Add") && n->n_inputs == 2 && n->n_outputs == 1 &&
            n->inputs[0] && n->inputs[1] && f.n_residuals < KERNEL_MAX_RESIDUALS) {
            onnx_tensor *other = n->inputs[0] == out ? n->inputs[1] : n->inputs[0];
            /* The other operand must exist when the Conv runs (its type is
             * float: Add takes two of the same type). */
            int producer = engine_tensor_of(other)->producer;
            if (producer >= (int)c)
                break;
            f.residuals[f.n_residuals++] = other;
            take_output(m, c, (size_t)j);
            continue;
        }
        if (!activation_of(n, out, &f))
            break;
        take_output(m, c, (size_t)j);
        break; /* only a pool fuses after the activation */
    }
    if (!f.n_residuals)
        fuse_pool(m, c, &f);
    return apply(m, &m->nodes[c], &f);
}

/* ------------------------------------------------- Add chains (FusedSum) */

static int fused_sum_reshape(onnx_node *n, kh_error *err) {
    if (n->n_inputs < 1 || n->n_inputs > ELTWISE_SUM_MAX || n->n_outputs != 1)
        return kh_error_set(err, KH_EINTERNAL, "fused sum of %zu inputs", n->n_inputs);
    for (size_t k = 0; k < n->n_inputs; k++)
        if (!n->inputs[k] || n->inputs[k]->dtype != ONNX_FLOAT)
            return kh_error_set(err, KH_EUNSUPPORTED, "fused sum: input %zu is not float", k);
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    int rc = eltwise_sum_shape((const onnx_tensor *const *)n->inputs, n->n_inputs, &rank, dims, err);
    if (rc)
        return rc;
    kernel_epilogue act;
    if ((rc = onnx_fused_activation_read(n, &act, err)))
        return rc;
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, rank, dims, err);
}

static int fused_sum_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    kernel_epilogue act;
    int rc = onnx_fused_activation_read(n, &act, err);
    if (!rc)
        eltwise_sum_run(ex, (const onnx_tensor *const *)n->inputs, n->n_inputs, n->outputs[0], &act);
    return rc;
}

/* Adds (and the activation after them) folded into one pass. */
static const onnx_operator fused_sum = {
    .op_type = "FusedSum",
    .min_opset = 1,
    .reshape = fused_sum_reshape,
    .run = fused_sum_run,
};

static bool is_plain_add(const onnx_node *n) {
    return is_op(n, "Add") && n->n_inputs == 2 && n->n_outputs == 1 && n->inputs[0] &&
           n->inputs[1] && n->outputs[0];
}

/* Add node j, the Adds consuming its result and an activation after them
 * become one FusedSum at the position of the chain's last node. */
static int fuse_add_chain(onnx_model *m, size_t j) {
    onnx_tensor *operands[ELTWISE_SUM_MAX] = {m->nodes[j].inputs[0], m->nodes[j].inputs[1]};
    size_t n_operands = 2, chain[ELTWISE_SUM_MAX + 1] = {j}, len = 1;
    fusion f = {0};
    for (;;) {
        const onnx_node *cur = &m->nodes[chain[len - 1]];
        onnx_tensor *out = cur->outputs[0];
        if (is_graph_output(m, out))
            break;
        long k = only_consumer(m, out);
        if (k <= (long)chain[len - 1])
            break;
        const onnx_node *n = &m->nodes[k];
        if (is_plain_add(n) && n_operands < ELTWISE_SUM_MAX) {
            operands[n_operands++] = n->inputs[0] == out ? n->inputs[1] : n->inputs[0];
            chain[len++] = (size_t)k;
            continue;
        }
        if (activation_of(n, out, &f))
            chain[len++] = (size_t)k;
        break;
    }
    if (len < 2)
        return KH_OK;
    size_t last = chain[len - 1];
    onnx_node *target = &m->nodes[last];
    onnx_tensor **in = engine_alloc(m, n_operands * sizeof *in);
    if (!in)
        return KH_ENOMEM;
    for (size_t k = 0; k < n_operands; k++) {
        in[k] = operands[k];
        /* Operands of earlier chain links are now read later. */
        engine_tensor *t = engine_tensor_of(operands[k]);
        if (t->last_use < (int)last)
            t->last_use = (int)last;
    }
    size_t n_attrs = 0;
    onnx_attr *attrs = NULL;
    if (f.activation && !(attrs = with_activation(m, NULL, 0, &f, &n_attrs)))
        return KH_ENOMEM;
    for (size_t k = 0; k + 1 < len; k++)
        retire(m, chain[k]);
    if (m->node_initialised && m->node_initialised[last] && target->op && target->op->exit)
        target->op->exit(target);
    target->state = NULL;
    target->op = &fused_sum;
    target->op_type = fused_sum.op_type;
    target->inputs = in;
    target->n_inputs = n_operands;
    target->attrs = attrs;
    target->n_attrs = n_attrs;
    return KH_OK;
}

/* ------------------------------------ input normalisation into the Conv */

/* Per-channel value c of a constant that broadcasts over an input of
 * `rank` whose channel axis (1) has `channels` entries: a scalar, or a
 * tensor whose only non-1 axis lines up with axis 1. False otherwise. */
static bool channel_constant(const onnx_tensor *t, int rank, size_t channels) {
    if (!t || !(t->flags & ONNX_TENSOR_CONST) || !t->data || t->dtype != ONNX_FLOAT ||
        t->rank > rank)
        return false;
    if (t->numel == 1)
        return true;
    if (t->numel != channels)
        return false;
    for (int i = 0; i < t->rank; i++) {
        int axis = rank - t->rank + i;
        if (t->dims[i] != (axis == 1 ? (int64_t)channels : 1))
            return false;
    }
    return true;
}

static float channel_value(const onnx_tensor *t, size_t c) {
    return ((const float *)t->data)[t->numel == 1 ? 0 : c];
}

/* x * scale[c] + shift[c] when node n is Sub/Div/Add/Mul of its first input
 * x by a per-channel constant (the constant second for Sub and Div). */
static bool affine_of(const onnx_node *n, int rank, size_t channels, float *scale, float *shift) {
    if (n->n_inputs != 2 || n->n_outputs != 1 || !n->inputs[0] || !n->inputs[1])
        return false;
    bool sub = is_op(n, "Sub"), div = is_op(n, "Div"), add = is_op(n, "Add"), mul = is_op(n, "Mul");
    if (!sub && !div && !add && !mul)
        return false;
    const onnx_tensor *k = n->inputs[1];
    if (!channel_constant(k, rank, channels))
        return false;
    if (div)
        for (size_t c = 0; c < channels; c++)
            if (channel_value(k, c) == 0.0f)
                return false;
    for (size_t c = 0; c < channels; c++) {
        float v = channel_value(k, c);
        float s = mul ? v : div ? 1.0f / v : 1.0f, b = sub ? -v : add ? v : 0.0f;
        /* Compose with what follows: y = x * s + b, then the later map. */
        shift[c] = b * scale[c] + shift[c];
        scale[c] *= s;
    }
    return true;
}

/* A constant float tensor in model memory (not in the name table: only
 * the Conv that owns it refers to it). */
static onnx_tensor *new_constant(onnx_model *m, const char *name, int rank, const int64_t *dims,
                                 size_t numel) {
    engine_tensor *t = engine_alloc(m, sizeof *t);
    float *data = engine_alloc(m, (numel ? numel : 1) * sizeof *data);
    if (!t || !data)
        return NULL;
    t->t.name = name;
    t->t.dtype = ONNX_FLOAT;
    t->t.rank = rank;
    memcpy(t->t.dims, dims, (size_t)rank * sizeof *dims);
    t->t.numel = numel;
    t->t.data = data;
    t->t.flags = ONNX_TENSOR_CONST;
    t->kind = TENSOR_CONSTANT;
    t->producer = -1;
    t->declared_rank = rank;
    return &t->t;
}

/* Conv c reading (x * scale + shift) from up to two affine nodes (an input
 * normalisation such as (image - mean) / 255) reads x instead, with the map
 * folded into its weights and bias. Exact only without padding (padding
 * zeros would become -shift/scale), so padded Convs are left alone. */
static int fold_input_affine(onnx_model *m, size_t c) {
    onnx_node *conv = &m->nodes[c];
    const onnx_tensor *w = onnx_node_input(conv, 1), *b = onnx_node_input(conv, 2);
    if (conv->n_inputs > 3 || !conv->inputs[0] || !w || !(w->flags & ONNX_TENSOR_CONST) ||
        !w->data || w->dtype != ONNX_FLOAT || w->rank < 3 || (b && (!(b->flags & ONNX_TENSOR_CONST) ||
                                                                    !b->data || b->dtype != ONNX_FLOAT)))
        return KH_OK;
    const onnx_attr *pads = onnx_attr_find(conv, "pads");
    const char *auto_pad = onnx_attr_string(conv, "auto_pad", "NOTSET");
    if (strcmp(auto_pad, "NOTSET") && strcmp(auto_pad, "VALID") && auto_pad[0])
        return KH_OK;
    if (pads) {
        if (pads->type != ONNX_ATTR_INTS)
            return KH_OK;
        for (size_t i = 0; i < pads->count; i++)
            if (pads->ints[i] != 0)
                return KH_OK;
    }
    const int64_t group = onnx_attr_int(conv, "group", 1);
    const size_t outputs = (size_t)w->dims[0], cg = (size_t)w->dims[1];
    if (group < 1 || outputs % (size_t)group || (b && b->numel != outputs))
        return KH_OK;
    const size_t channels = cg * (size_t)group, per_out = w->numel / outputs;
    const size_t ksize = per_out / cg, mg = outputs / (size_t)group;

    /* Walk back through at most two affine nodes. */
    float *scale = malloc(channels * sizeof *scale), *shift = malloc(channels * sizeof *shift);
    if (!scale || !shift) {
        free(scale);
        free(shift);
        return KH_ENOMEM;
    }
    for (size_t i = 0; i < channels; i++) {
        scale[i] = 1.0f;
        shift[i] = 0.0f;
    }
    onnx_tensor *x = conv->inputs[0];
    int retired[2], n_retired = 0;
    while (n_retired < 2) {
        int p = engine_tensor_of(x)->producer;
        if (p < 0 || is_graph_output(m, x) || only_consumer(m, x) < 0)
            break;
        const onnx_node *n = &m->nodes[p];
        if (!affine_of(n, w->rank, channels, scale, shift))
            break;
        retired[n_retired++] = p;
        x = n->inputs[0];
    }
    int rc = KH_OK;
    if (n_retired) {
        onnx_tensor *nw = new_constant(m, w->name, w->rank, w->dims, w->numel);
        onnx_tensor *nb = new_constant(m, b ? b->name : "khappy.folded_bias", 1,
                                       (int64_t[]){(int64_t)outputs}, outputs);
        onnx_tensor **in = engine_alloc(m, 3 * sizeof *in);
        if (!nw || !nb || !in) {
            rc = KH_ENOMEM;
        } else {
            const float *wv = w->data;
            float *wd = nw->data, *bd = nb->data;
            for (size_t o = 0; o < outputs; o++) {
                double bias = b ? ((const float *)b->data)[o] : 0.0;
                size_t first = o / mg * cg; /* the group's first input channel */
                for (size_t ci = 0; ci < cg; ci++)
                    for (size_t k = 0; k < ksize; k++) {
                        size_t at = (o * cg + ci) * ksize + k;
                        wd[at] = wv[at] * scale[first + ci];
                        bias += (double)wv[at] * shift[first + ci];
                    }
                bd[o] = (float)bias;
            }
            in[0] = x;
            in[1] = nw;
            in[2] = nb;
            conv->inputs = in;
            conv->n_inputs = 3;
            engine_tensor *xt = engine_tensor_of(x);
            if (xt->last_use < (int)c)
                xt->last_use = (int)c;
            for (int i = 0; i < n_retired; i++)
                retire(m, (size_t)retired[i]);
        }
    }
    free(scale);
    free(shift);
    return rc;
}

int onnx_optimize(onnx_model *m, kh_error *err) {
    const char *off = getenv("KHAPPY_ONNX_NO_FUSION");
    if (off && off[0] && strcmp(off, "0") != 0)
        return KH_OK;
    /* Input normalisations into unpadded Convs. */
    for (size_t i = 0; i < m->n_nodes; i++)
        if (is_op(&m->nodes[i], "Conv") && fold_input_affine(m, i))
            return kh_error_set(err, KH_ENOMEM, "fusion: out of memory");
    for (size_t i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        /* Only Convs without fused inputs already (3 inputs at most). */
        if (!is_op(n, "Conv") || n->n_outputs != 1 || n->n_inputs > 3 ||
            onnx_attr_find(n, ONNX_FUSED_ACTIVATION))
            continue;
        if (fuse_conv(m, i))
            return kh_error_set(err, KH_ENOMEM, "fusion: out of memory");
    }
    /* Adds the Convs could not take (their operands have other readers). */
    for (size_t i = 0; i < m->n_nodes; i++)
        if (is_plain_add(&m->nodes[i]) && fuse_add_chain(m, i))
            return kh_error_set(err, KH_ENOMEM, "fusion: out of memory");
    return KH_OK;
}
