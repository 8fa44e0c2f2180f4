/* optimize.c - the fusion pass (see optimize.h). */
#include "onnx/optimize.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/engine.h"

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
        size_t n_attrs = conv->n_attrs + 4;
        onnx_attr *attrs = engine_alloc(m, n_attrs * sizeof *attrs);
        if (!attrs)
            return KH_ENOMEM;
        memcpy(attrs, conv->attrs, conv->n_attrs * sizeof *attrs);
        onnx_attr *a = attrs + conv->n_attrs;
        a[0] = (onnx_attr){.name = ONNX_FUSED_ACTIVATION, .type = ONNX_ATTR_STRING,
                           .s = f->activation, .s_len = strlen(f->activation)};
        a[1] = (onnx_attr){.name = ONNX_FUSED_ALPHA, .type = ONNX_ATTR_FLOAT, .f = f->alpha};
        a[2] = (onnx_attr){.name = ONNX_FUSED_MIN, .type = ONNX_ATTR_FLOAT, .f = f->lo};
        a[3] = (onnx_attr){.name = ONNX_FUSED_MAX, .type = ONNX_ATTR_FLOAT, .f = f->hi};
        conv->attrs = attrs;
        conv->n_attrs = n_attrs;
    }
    return KH_OK;
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
            /* The other operand must exist when the Conv runs. */
            int producer = engine_tensor_of(other)->producer;
            if (other->dtype != ONNX_FLOAT || producer >= (int)c)
                break;
            f.residuals[f.n_residuals++] = other;
            take_output(m, c, (size_t)j);
            continue;
        }
        if (n->n_outputs != 1 || !n->n_inputs || n->inputs[0] != out)
            break;
        if (is_op(n, "Relu")) {
            f.activation = "Relu";
        } else if (is_op(n, "LeakyRelu")) {
            f.activation = "LeakyRelu";
            f.alpha = onnx_attr_float(n, "alpha", 0.01f);
        } else if (is_op(n, "Clip")) {
            if (!clip_bounds(n, &f.lo, &f.hi))
                break;
            f.activation = "Clip";
        } else {
            break;
        }
        take_output(m, c, (size_t)j);
        break; /* nothing fuses after the activation */
    }
    return apply(m, &m->nodes[c], &f);
}

int onnx_optimize(onnx_model *m, kh_error *err) {
    const char *off = getenv("KHAPPY_ONNX_NO_FUSION");
    if (off && off[0] && strcmp(off, "0") != 0)
        return KH_OK;
    for (size_t i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        /* Only Convs without fused inputs already (3 inputs at most). */
        if (!is_op(n, "Conv") || n->n_outputs != 1 || n->n_inputs > 3 ||
            onnx_attr_find(n, ONNX_FUSED_ACTIVATION))
            continue;
        if (fuse_conv(m, i))
            return kh_error_set(err, KH_ENOMEM, "fusion: out of memory");
    }
    return KH_OK;
}
