/* ConvTranspose (opset 1+): the gradient of Conv, 1-D to 3-D, with groups,
 * strides, dilations, pads / auto_pad, output_padding and output_shape, as
 * the ONNX reference computes it. Each image and group is one matrix product
 * col = W_g^T * X_g (sgemm) scattered into Y by col2im. */
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/im2col.h"
#include "onnx/kernels/matmul.h"
#include "onnx/kernels/conv_window.h"
#include "onnx/op.h"

typedef struct convt_state {
    conv_window_attrs window;
    int64_t group;
    int64_t output_padding[CONV_MAX_SPATIAL], output_shape[CONV_MAX_SPATIAL + 2];
    size_t n_output_padding, n_output_shape;
    /* Planned by reshape. */
    conv_geometry geo; /* col2im: "in" is Y's spatial size, "out" X's */
    size_t batch, channels, outputs, m_group, c_group, n_in, n_out, ksize;
    size_t off_packed, off_col, packed_floats;
} convt_state;

static size_t align64(size_t b) { return (b + 63) / 64 * 64; }

static int read_ints(const onnx_node *n, const char *name, int64_t *out, size_t *count,
                     kh_error *err) {
    const int64_t *v;
    *count = onnx_attr_ints(n, name, &v);
    if (*count > CONV_MAX_SPATIAL)
        return kh_error_set(err, KH_EUNSUPPORTED, "attribute '%s' has %zu values: at most %d supported",
                            name, *count, CONV_MAX_SPATIAL);
    if (*count)
        memcpy(out, v, *count * sizeof *v);
    return KH_OK;
}

static int convt_init(onnx_node *n, kh_error *err) {
    convt_state *st = calloc(1, sizeof *st);
    if (!st)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = st;
    int rc = conv_window_read(n, &st->window, err);
    if (!rc)
        rc = read_ints(n, "output_padding", st->output_padding, &st->n_output_padding, err);
    if (rc)
        return rc;
    /* output_shape may list N and C too: reshape keeps the spatial tail. */
    const int64_t *v;
    st->n_output_shape = onnx_attr_ints(n, "output_shape", &v);
    if (st->n_output_shape > CONV_MAX_SPATIAL + 2)
        return kh_error_set(err, KH_EUNSUPPORTED, "output_shape has %zu values", st->n_output_shape);
    if (st->n_output_shape)
        memcpy(st->output_shape, v, st->n_output_shape * sizeof *v);
    st->group = onnx_attr_int(n, "group", 1);
    if (st->group < 1)
        return kh_error_set(err, KH_EINVAL, "group must be >= 1, got %lld", (long long)st->group);
    return KH_OK;
}

static void convt_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

static int convt_reshape(onnx_node *n, kh_error *err) {
    convt_state *st = n->state;
    const onnx_tensor *x = onnx_node_input(n, 0), *w = onnx_node_input(n, 1),
                      *b = onnx_node_input(n, 2);
    if (!x || !w)
        return kh_error_set(err, KH_EINVAL, "inputs X and W are required");
    if (x->dtype != ONNX_FLOAT || w->dtype != ONNX_FLOAT || (b && b->dtype != ONNX_FLOAT))
        return kh_error_set(err, KH_EUNSUPPORTED, "only float inputs are supported");
    char xs[96], ws[96];
    if (x->rank < 3 || x->rank > 2 + CONV_MAX_SPATIAL || w->rank != x->rank)
        return kh_error_set(err, KH_ESHAPE, "X %s and W %s: ranks 3 to %d, equal",
                            onnx_shape_str(x, xs, sizeof xs), onnx_shape_str(w, ws, sizeof ws),
                            2 + CONV_MAX_SPATIAL);
    const int spatial = x->rank - 2;
    const int64_t group = st->group;
    if (w->dims[0] != x->dims[1] || x->dims[1] % group)
        return kh_error_set(err, KH_ESHAPE, "X %s and W %s do not match with group %lld",
                            onnx_shape_str(x, xs, sizeof xs), onnx_shape_str(w, ws, sizeof ws),
                            (long long)group);
    const int64_t outputs = w->dims[1] * group;
    if (b && (b->rank != 1 || b->dims[0] != outputs))
        return kh_error_set(err, KH_ESHAPE, "B must be [%lld]", (long long)outputs);
    const conv_window_attrs *win = &st->window;
    if ((win->strides_count && win->strides_count != (size_t)spatial) ||
        (win->dilations_count && win->dilations_count != (size_t)spatial) ||
        (win->pads_count && win->pads_count != 2 * (size_t)spatial) ||
        (st->n_output_padding && st->n_output_padding != (size_t)spatial) ||
        (st->n_output_shape && st->n_output_shape != (size_t)spatial &&
         st->n_output_shape != (size_t)spatial + 2))
        return kh_error_set(err, KH_ESHAPE, "attribute lengths do not match %d spatial axes", spatial);
    const int64_t *kernel = win->kernel_count ? win->kernel : w->dims + 2;
    for (int i = 0; i < spatial; i++)
        if (kernel[i] != w->dims[2 + i])
            return kh_error_set(err, KH_ESHAPE, "kernel_shape does not match W %s",
                                onnx_shape_str(w, ws, sizeof ws));
    const int64_t *out_shape = st->output_shape + (st->n_output_shape == (size_t)spatial + 2 ? 2 : 0);

    int64_t out[CONV_MAX_SPATIAL], pb[CONV_MAX_SPATIAL];
    bool same = win->auto_pad == ONNX_AUTO_PAD_SAME_UPPER || win->auto_pad == ONNX_AUTO_PAD_SAME_LOWER;
    for (int i = 0; i < spatial; i++) {
        int64_t s = conv_window_stride(win, i), d = conv_window_dilation(win, i);
        int64_t op = st->n_output_padding ? st->output_padding[i] : 0;
        int64_t natural = s * (x->dims[2 + i] - 1) + op + (kernel[i] - 1) * d + 1;
        if (same && !win->pads_count) {
            out[i] = st->n_output_shape ? out_shape[i] : x->dims[2 + i] * s;
            int64_t total = natural - out[i];
            pb[i] = win->auto_pad == ONNX_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        } else {
            int64_t b0 = win->pads_count ? win->pads[i] : 0;
            int64_t e0 = win->pads_count ? win->pads[i + spatial] : 0;
            out[i] = st->n_output_shape ? out_shape[i] : natural - b0 - e0;
            pb[i] = b0;
        }
        if (out[i] < 0)
            return kh_error_set(err, KH_ESHAPE, "axis %d: output size %lld", i, (long long)out[i]);
    }
    int64_t ydims[ONNX_MAX_RANK] = {x->dims[0], outputs};
    memcpy(ydims + 2, out, (size_t)spatial * sizeof *out);
    int rc = onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, x->rank, ydims, err);
    if (rc)
        return rc;

    /* col2im geometry: the forward convolution from Y back to X. */
    conv_window_geometry(&st->geo, spatial, out, x->dims + 2, kernel, win, pb);
    st->batch = (size_t)x->dims[0];
    st->channels = (size_t)x->dims[1];
    st->outputs = (size_t)outputs;
    st->c_group = st->channels / (size_t)group;
    st->m_group = st->outputs / (size_t)group;
    st->geo.channels = st->m_group;
    st->ksize = conv_kernel_size(&st->geo);
    st->n_in = conv_out_size(&st->geo);  /* X positions */
    st->n_out = conv_in_size(&st->geo);  /* Y positions */
    size_t x_positions = 1;
    for (int i = 0; i < spatial; i++)
        x_positions *= (size_t)x->dims[2 + i];
    if (st->n_in != x_positions)
        return kh_error_set(err, KH_ESHAPE, "output_shape, pads and strides do not map Y back onto X %s",
                            onnx_shape_str(x, xs, sizeof xs));
    size_t rows = st->m_group * st->ksize, col_floats;
    if (__builtin_mul_overflow(rows, st->n_in, &col_floats) ||
        col_floats > ((size_t)1 << 40) / sizeof(float))
        return kh_error_set(err, KH_ELIMIT, "column buffer of %zu x %zu floats is too large",
                            rows, st->n_in);
    st->packed_floats = sgemm_packed_a_floats(rows, st->c_group);
    st->off_packed = matmul_scratch_bytes(st->c_group, st->n_in, false);
    st->off_col = st->off_packed + align64(st->packed_floats * sizeof(float));
    n->scratch_bytes = st->off_col + align64(col_floats * sizeof(float));
    return KH_OK;
}

typedef struct col2im_job {
    const convt_state *st;
    const float *col, *bias;
    float *y;
} col2im_job;

static void col2im_channels(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const col2im_job *job = arg;
    const convt_state *st = job->st;
    conv_geometry one = st->geo;
    one.channels = 1;
    for (size_t c = begin; c < end; c++) {
        float *plane = job->y + c * st->n_out;
        float b = job->bias ? job->bias[c] : 0.0f;
        for (size_t i = 0; i < st->n_out; i++)
            plane[i] = b;
        col2im_add(&one, job->col + c * st->ksize * st->n_in, plane);
    }
}

static int convt_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const convt_state *st = n->state;
    const onnx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = onnx_node_input(n, 2);
    float *y = n->outputs[0]->data;
    if (!n->outputs[0]->numel)
        return KH_OK;
    unsigned char *scratch = ex->scratch;
    float *packed = (float *)(scratch + st->off_packed), *col = (float *)(scratch + st->off_col);
    const size_t rows = st->m_group * st->ksize;
    for (size_t i = 0; i < st->batch; i++)
        for (size_t g = 0; g < (size_t)st->group; g++) {
            /* A[m][c] = W[g*cg + c][m]: W_g read transposed. */
            const float *wg = (const float *)w->data + g * st->c_group * rows;
            sgemm_pack_a(wg, 1, (ptrdiff_t)rows, rows, st->c_group, 1.0f, packed);
            const float *xg = (const float *)x->data + (i * st->channels + g * st->c_group) * st->n_in;
            sgemm_params p = {.m = rows, .n = st->n_in, .k = st->c_group, .a_packed = packed,
                              .c = col, .ldc = st->n_in};
            matmul_run(ex, &p, xg, st->n_in, false, scratch);
            col2im_job job = {st, col, b ? (const float *)b->data + g * st->m_group : NULL,
                              y + (i * st->outputs + g * st->m_group) * st->n_out};
            onnx_parallel_for(ex, st->m_group, col2im_channels, &job);
        }
    return KH_OK;
}

const onnx_operator onnx_op_ConvTranspose = {
    .op_type = "ConvTranspose",
    .min_opset = 1,
    .init = convt_init,
    .reshape = convt_reshape,
    .run = convt_run,
    .exit = convt_exit,
};
