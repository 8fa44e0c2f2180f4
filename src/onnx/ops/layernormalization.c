/* LayerNormalization (opset 17+): each row X[i, axis:] normalised by its
 * mean and variance, then Scale and B (broadcast to the row's shape);
 * optional outputs Mean and InvStdDev have X's shape with 1s from axis on. */
#include <math.h>
#include <stdlib.h>

#include "onnx/op.h"

typedef struct layernorm_state {
    size_t rows, width;
    int axis;
} layernorm_state;

static int layernorm_init(onnx_node *n, kh_error *err) {
    n->state = calloc(1, sizeof(layernorm_state));
    return n->state ? KH_OK : kh_error_set(err, KH_ENOMEM, "out of memory");
}

static void layernorm_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

/* True when t broadcasts (numpy, right-aligned) to x's dims[axis:]. */
static bool broadcasts_to_row(const onnx_tensor *t, const onnx_tensor *x, int axis) {
    int row_rank = x->rank - axis;
    if (t->rank > row_rank)
        return false;
    for (int i = 0; i < t->rank; i++) {
        int64_t d = t->dims[t->rank - 1 - i], want = x->dims[x->rank - 1 - i];
        if (d != 1 && d != want)
            return false;
    }
    return true;
}

static int layernorm_reshape(onnx_node *n, kh_error *err) {
    layernorm_state *st = n->state;
    const onnx_tensor *x = onnx_node_input(n, 0), *scale = onnx_node_input(n, 1),
                      *b = onnx_node_input(n, 2);
    if (!x || !scale)
        return kh_error_set(err, KH_EINVAL, "inputs X and Scale are required");
    if (x->dtype != ONNX_FLOAT || scale->dtype != ONNX_FLOAT || (b && b->dtype != ONNX_FLOAT))
        return kh_error_set(err, KH_EUNSUPPORTED, "only float inputs are supported");
    int64_t axis = onnx_attr_int(n, "axis", -1);
    if (axis < -x->rank || axis >= x->rank)
        return kh_error_set(err, KH_ERANGE, "axis %lld out of range for rank %d",
                            (long long)axis, x->rank);
    st->axis = (int)(axis < 0 ? axis + x->rank : axis);
    char s[96];
    if (!broadcasts_to_row(scale, x, st->axis) || (b && !broadcasts_to_row(b, x, st->axis)))
        return kh_error_set(err, KH_ESHAPE, "Scale or B does not broadcast to the normalised part of X %s",
                            onnx_shape_str(x, s, sizeof s));
    st->rows = 1;
    st->width = 1;
    int64_t stat_dims[ONNX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (i < st->axis)
            st->rows *= (size_t)x->dims[i];
        else
            st->width *= (size_t)x->dims[i];
        stat_dims[i] = i < st->axis ? x->dims[i] : 1;
    }
    n->scratch_bytes = 2 * st->width * sizeof(float);
    int rc = onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, x->dims, err);
    for (size_t i = 1; !rc && i < 3; i++)
        if (onnx_node_output(n, i))
            rc = onnx_tensor_reshape(n->outputs[i], ONNX_FLOAT, x->rank, stat_dims, err);
    return rc;
}

/* Writes t broadcast over the row's shape (x dims[axis:]) into out. */
static void expand_row(const onnx_tensor *t, const onnx_tensor *x, int axis, float *out,
                       size_t width) {
    const float *v = t->data;
    int row_rank = x->rank - axis;
    for (size_t j = 0; j < width; j++) {
        size_t rest = j, src = 0, stride = 1;
        for (int i = 0; i < row_rank; i++) {
            int64_t dim = x->dims[x->rank - 1 - i];
            size_t idx = rest % (size_t)dim;
            rest /= (size_t)dim;
            if (i < t->rank) {
                int64_t td = t->dims[t->rank - 1 - i];
                if (td != 1)
                    src += idx * stride;
                stride *= (size_t)td;
            }
        }
        out[j] = v[src];
    }
}

static int layernorm_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const layernorm_state *st = n->state;
    const onnx_tensor *x = n->inputs[0], *b = onnx_node_input(n, 2);
    float *scale = ex->scratch, *bias = scale + st->width;
    expand_row(n->inputs[1], x, st->axis, scale, st->width);
    if (b)
        expand_row(b, x, st->axis, bias, st->width);
    else
        for (size_t j = 0; j < st->width; j++)
            bias[j] = 0.0f;
    const float eps = onnx_attr_float(n, "epsilon", 1e-5f);
    const float *xv = x->data;
    float *y = n->outputs[0]->data;
    onnx_tensor *mean_out = onnx_node_output(n, 1), *inv_out = onnx_node_output(n, 2);
    for (size_t r = 0; r < st->rows; r++) {
        const float *row = xv + r * st->width;
        double sum = 0, sq = 0;
        for (size_t j = 0; j < st->width; j++)
            sum += row[j];
        double mean = st->width ? sum / (double)st->width : 0.0;
        for (size_t j = 0; j < st->width; j++)
            sq += (row[j] - mean) * (row[j] - mean);
        double inv = 1.0 / sqrt((st->width ? sq / (double)st->width : 0.0) + eps);
        for (size_t j = 0; j < st->width; j++)
            y[r * st->width + j] = (float)((row[j] - mean) * inv) * scale[j] + bias[j];
        if (mean_out)
            ((float *)mean_out->data)[r] = (float)mean;
        if (inv_out)
            ((float *)inv_out->data)[r] = (float)inv;
    }
    return KH_OK;
}

const onnx_operator onnx_op_LayerNormalization = {
    .op_type = "LayerNormalization",
    .min_opset = 17,
    .init = layernorm_init,
    .reshape = layernorm_reshape,
    .run = layernorm_run,
    .exit = layernorm_exit,
};
