/* Conv (opset 1+): 1-D to 3-D convolution with groups, strides, dilations,
 * pads / auto_pad, optional bias; plus what the fusion pass (optimize.h)
 * hands it: residual inputs to add and an activation.
 *
 * Each group is a matrix product Y_g[m][n] = W_g[m][k] * B[k][n] (sgemm.h)
 * where B is chosen by reshape:
 *   depthwise  group == channels == outputs (2-D): depthwise.h, no GEMM
 *   pointwise  1x1, stride 1, no padding: B is the input itself
 *   rows       stride 1 along the width, wide rows: each output row reads
 *              its input rows in place (padded once into scratch if needed)
 *   packed     anything else: im2col packs B tile by tile
 * Weights that are constants are packed once at reshape.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/conv_window.h"
#include "onnx/kernels/depthwise.h"
#include "onnx/kernels/eltwise_sum.h"
#include "onnx/kernels/im2col.h"
#include "onnx/kernels/pool.h"
#include "onnx/kernels/sgemm.h"
#include "onnx/kernels/slots.h"
#include "onnx/op.h"
#include "onnx/optimize.h"

typedef enum conv_path {
    CONV_DEPTHWISE,
    CONV_POINTWISE,
    CONV_ROWS,
    CONV_PACKED,
} conv_path;

/* Row tiles narrower than this waste most of a micro-tile: pack instead. */
#define ROWS_MIN_WIDTH 24

typedef struct conv_state {
    conv_window_attrs window;
    int64_t group;

    /* Planned by reshape. */
    conv_path path;
    conv_geometry geo;          /* one group; geo.channels per group */
    size_t batch, channels, outputs, m; /* m: outputs per group */
    size_t k, n;                /* per group: k = channels/group * kernel */
    size_t tile_cols, tiles, tiles_per_row;
    bool pad_input;
    size_t padded_h, padded_w;
    /* Rows path with stride s along the width: the padded image is stored
     * as s column phases (phase p holds columns p, p + s, ...) of
     * phase_w columns each, so every tap reads contiguous columns. */
    size_t phases, phase_w;
    kernel_epilogue fused;      /* activation from the fusion pass */
    size_t n_residuals;
    const onnx_tensor *residuals[KERNEL_MAX_RESIDUALS];
    bool broadcast_residuals;   /* added after the convolution */
    int conv_rank;
    int64_t conv_dims[ONNX_MAX_RANK];
    /* A 2x2, stride-2 MaxPool fused after the epilogue (optimize.h). Rows
     * and pointwise paths pool each pair of rows from a small band buffer;
     * other paths pool a full-size result in scratch. */
    bool pooled, pool_banded;
    pool_window pool;
    size_t band_bytes, off_band, pool_rows; /* pooled rows per task */

    float *packed;              /* constant weights, packed per group */
    size_t packed_cap;          /* floats */
    size_t packed_per_group;    /* floats */
    bool pack_at_run;

    /* Scratch layout, bytes from the start. */
    size_t off_koffs, off_packed, off_padded, off_slots, slot_bytes,
        off_result;
} conv_state;

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static int conv_init(onnx_node *n, kh_error *err) {
    conv_state *st = calloc(1, sizeof *st);
    if (!st)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = st;
    int rc = conv_window_read(n, &st->window, err);
    if (rc)
        return rc;
    st->group = onnx_attr_int(n, "group", 1);
    if (st->group < 1)
        return kh_error_set(err, KH_EINVAL, "group must be >= 1, got %lld",
                            (long long)st->group);
    return KH_OK;
}

static void conv_exit(onnx_node *n) {
    conv_state *st = n->state;
    if (st)
        free(st->packed);
    free(st);
    n->state = NULL;
}

/* Output shape of conv dims broadcast with every residual (numpy rules).
 * *same: every residual has exactly the conv's shape. */
static int residual_shape(const conv_state *st, int *rank, int64_t *dims,
                          bool *same, kh_error *err) {
    *rank = st->conv_rank;
    memcpy(dims, st->conv_dims, sizeof st->conv_dims);
    *same = true;
    for (size_t r = 0; r < st->n_residuals; r++) {
        const onnx_tensor *t = st->residuals[r];
        if (t->rank != st->conv_rank ||
            memcmp(t->dims, st->conv_dims, (size_t)t->rank * sizeof *t->dims))
            *same = false;
        if (t->rank > *rank) {
            int shift = t->rank - *rank;
            memmove(dims + shift, dims, (size_t)*rank * sizeof *dims);
            for (int i = 0; i < shift; i++)
                dims[i] = 1;
            *rank = t->rank;
        }
        for (int i = 0; i < t->rank; i++) {
            int64_t *d = &dims[*rank - t->rank + i];
            int64_t e = t->dims[i];
            if (*d == e || e == 1)
                continue;
            if (*d == 1) {
                *d = e;
                continue;
            }
            return kh_error_set(err, KH_ESHAPE,
                                "fused Add: residual '%s' does not broadcast with the convolution output",
                                t->name);
        }
    }
    return KH_OK;
}

/* A MaxPool the fusion pass folded in: its attributes were copied with the
 * ONNX_FUSED_POOL_PREFIX. Sets st->pooled and st->pool, and replaces y_dims
 * (the convolution's) by the pooled shape. */
static int read_fused_pool(const onnx_node *n, conv_state *st, int64_t *y_dims, kh_error *err) {
    onnx_attr attrs[16];
    size_t count = 0;
    const size_t plen = strlen(ONNX_FUSED_POOL_PREFIX);
    for (size_t i = 0; i < n->n_attrs && count < 16; i++)
        if (!strncmp(n->attrs[i].name, ONNX_FUSED_POOL_PREFIX, plen)) {
            attrs[count] = n->attrs[i];
            attrs[count++].name += plen;
        }
    st->pooled = count > 0;
    if (!st->pooled)
        return KH_OK;
    onnx_node pool_node = {.name = n->name, .op_type = "MaxPool", .domain = "",
                           .opset = n->opset, .attrs = attrs, .n_attrs = count};
    conv_window_attrs pa;
    int rc = conv_window_read(&pool_node, &pa, err);
    if (rc)
        return rc;
    bool two = pa.kernel_count == 2 && pa.kernel[0] == 2 && pa.kernel[1] == 2 &&
               pa.strides_count == 2 && pa.strides[0] == 2 && pa.strides[1] == 2 &&
               (!pa.dilations_count || (pa.dilations[0] == 1 && pa.dilations[1] == 1)) &&
               !pa.ceil_mode;
    if (!two || st->conv_rank != 4 || st->n_residuals)
        return kh_error_set(err, KH_EINVAL, "fused MaxPool: only 2x2 windows with stride 2 on 2-D, without residuals");
    onnx_tensor conv = {.name = n->name, .dtype = ONNX_FLOAT, .rank = st->conv_rank};
    memcpy(conv.dims, st->conv_dims, sizeof conv.dims);
    return pool_plan(&pa, &conv, &st->pool, y_dims, err);
}

static bool is_constant(const onnx_tensor *t) {
    return t->data && (t->flags & (ONNX_TENSOR_CONST | ONNX_TENSOR_FOLDED));
}

static void pack_weights(const conv_state *st, const float *w, float *dst) {
    for (size_t g = 0; g < (size_t)st->group; g++)
        sgemm_pack_a(w + g * st->m * st->k, (ptrdiff_t)st->k, 1, st->m, st->k,
                     1.0f, dst + g * st->packed_per_group);
}

/* Chooses how B is formed and lays out the scratch; returns its size. */
static size_t plan_path(conv_state *st, int spatial) {
    const conv_geometry *g = &st->geo;
    /* 1x1 windows reading exactly the input: the output is the input size
     * and nothing is padded. */
    bool pointwise = true;
    for (int i = 0; i < CONV_MAX_SPATIAL; i++)
        pointwise &= g->kernel[i] == 1 && g->stride[i] == 1 && g->pad[i] == 0 &&
                     g->out[i] == g->in[i];
    /* Rows and columns the windows of the output reach (padding included). */
    const size_t oh = g->out[1] ? g->out[1] : 1, ow = g->out[2] ? g->out[2] : 1;
    size_t need_h = (oh - 1) * g->stride[1] + (g->kernel[1] - 1) * g->dilation[1] + 1;
    size_t need_w = (ow - 1) * g->stride[2] + (g->kernel[2] - 1) * g->dilation[2] + 1;
    bool no_pad = g->pad[1] == 0 && g->pad[2] == 0 && need_h <= g->in[1] && need_w <= g->in[2];

    st->pad_input = false;
    st->phases = 1;
    if ((size_t)st->group == st->channels && st->outputs == st->channels &&
        spatial <= 2) {
        st->path = CONV_DEPTHWISE;
    } else if (pointwise) {
        st->path = CONV_POINTWISE;
    } else if (spatial <= 2 && g->stride[2] <= 4 && g->out[2] >= ROWS_MIN_WIDTH) {
        st->path = CONV_ROWS;
        st->padded_h = g->in[1];
        st->padded_w = g->in[2];
        st->phases = g->stride[2];
        st->phase_w = g->in[2];
        if (!no_pad || st->phases > 1) {
            size_t ph = (size_t)g->pad[1] + g->in[1], pw = (size_t)g->pad[2] + g->in[2];
            st->padded_h = need_h > ph ? need_h : ph;
            st->padded_w = need_w > pw ? need_w : pw;
            st->phase_w = (st->padded_w + st->phases - 1) / st->phases;
            size_t plane, total;
            if (__builtin_mul_overflow(st->padded_h, st->phase_w * st->phases, &plane) ||
                __builtin_mul_overflow(plane, st->channels, &total) ||
                total > 4 * (st->channels * conv_in_size(g)) + (1u << 20))
                st->path = CONV_PACKED; /* padding dwarfs the image */
            else
                st->pad_input = true;
        }
    } else {
        st->path = CONV_PACKED;
    }

    size_t off = 0;
    st->off_koffs = off;
    if (st->path == CONV_POINTWISE || st->path == CONV_ROWS)
        off += align64(st->k * sizeof(ptrdiff_t));
    st->off_packed = off;
    if (st->pack_at_run && st->path != CONV_DEPTHWISE)
        off += align64((size_t)st->group * st->packed_per_group * sizeof(float));
    st->off_padded = off;
    if (st->pad_input)
        off += align64(st->channels * st->phases * st->padded_h * st->phase_w * sizeof(float));
    st->off_slots = off;
    st->slot_bytes = 0;
    switch (st->path) {
    case CONV_POINTWISE:
        st->tile_cols = sgemm_tile_cols(st->k);
        st->tiles = (st->n + st->tile_cols - 1) / st->tile_cols;
        break;
    case CONV_ROWS:
        st->tile_cols = sgemm_tile_cols(st->k);
        st->tiles_per_row = (g->out[2] + st->tile_cols - 1) / st->tile_cols;
        st->tiles = g->out[1] * st->tiles_per_row;
        break;
    case CONV_PACKED: {
        size_t cols = sgemm_tile_cols(st->k) / 2 / 48 * 48;
        st->tile_cols = cols < 48 ? 48 : cols;
        st->tiles = (st->n + st->tile_cols - 1) / st->tile_cols;
        st->slot_bytes = align64(sgemm_pack_buffer_floats(st->k, st->tile_cols) * sizeof(float));
        off += KERNEL_MAX_SLOTS * st->slot_bytes;
        break;
    }
    case CONV_DEPTHWISE:
        st->tiles = 0;
        off += depthwise_plan_bytes(g);
        break;
    }
    /* A fused pool: rows and pointwise paths compute two rows at a time
     * into a band per slot; the others pool a full-size result. */
    st->pool_banded = st->pooled && (st->path == CONV_POINTWISE || st->path == CONV_ROWS);
    st->off_band = off;
    st->band_bytes = 0;
    if (st->pool_banded) {
        /* Enough pooled rows per task for a few micro-tiles of columns. */
        st->pool_rows = (192 + 2 * g->out[2] - 1) / (2 * g->out[2]);
        if (st->pool_rows > st->pool.g.out[1])
            st->pool_rows = st->pool.g.out[1] ? st->pool.g.out[1] : 1;
        st->band_bytes = align64(st->outputs * 2 * st->pool_rows * g->out[2] * sizeof(float));
        off += KERNEL_MAX_SLOTS * st->band_bytes;
    }
    st->off_result = off;
    if (st->broadcast_residuals || (st->pooled && !st->pool_banded))
        off += align64(st->batch * st->outputs * st->n * sizeof(float));
    return off;
}

static int conv_reshape(onnx_node *n, kh_error *err) {
    conv_state *st = n->state;
    const onnx_tensor *x = onnx_node_input(n, 0), *w = onnx_node_input(n, 1),
                      *b = onnx_node_input(n, 2);
    if (!x || !w)
        return kh_error_set(err, KH_EINVAL, "inputs X and W are required");
    if (x->dtype != ONNX_FLOAT || w->dtype != ONNX_FLOAT || (b && b->dtype != ONNX_FLOAT))
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype != ONNX_FLOAT ? x->dtype : w->dtype));
    if (x->rank < 3 || x->rank > 2 + CONV_MAX_SPATIAL)
        return kh_error_set(err, x->rank < 3 ? KH_ESHAPE : KH_EUNSUPPORTED,
                            "X has rank %d: 3 to %d (1 to 3 spatial axes) supported",
                            x->rank, 2 + CONV_MAX_SPATIAL);
    char xs[96], ws[96];
    if (w->rank != x->rank)
        return kh_error_set(err, KH_ESHAPE, "W %s must have the rank of X %s",
                            onnx_shape_str(w, ws, sizeof ws), onnx_shape_str(x, xs, sizeof xs));
    const int spatial = x->rank - 2;
    const int64_t group = st->group;
    if (w->dims[1] * group != x->dims[1] || w->dims[0] % group)
        return kh_error_set(err, KH_ESHAPE,
                            "X %s and W %s do not match with group %lld",
                            onnx_shape_str(x, xs, sizeof xs), onnx_shape_str(w, ws, sizeof ws),
                            (long long)group);
    const int64_t *kernel = w->dims + 2;
    if (st->window.kernel_count) {
        if (st->window.kernel_count != (size_t)spatial ||
            memcmp(st->window.kernel, kernel, (size_t)spatial * sizeof *kernel))
            return kh_error_set(err, KH_ESHAPE, "kernel_shape does not match W %s",
                                onnx_shape_str(w, ws, sizeof ws));
    }
    if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
        return kh_error_set(err, KH_ESHAPE, "B %s must be [%lld]",
                            onnx_shape_str(b, xs, sizeof xs), (long long)w->dims[0]);
    for (int i = 0; i < spatial; i++)
        if (kernel[i] < 1)
            return kh_error_set(err, KH_ESHAPE, "W %s has an empty kernel axis",
                                onnx_shape_str(w, ws, sizeof ws));

    int64_t out[CONV_MAX_SPATIAL], pb[CONV_MAX_SPATIAL], pe[CONV_MAX_SPATIAL];
    int rc = conv_window_output(&st->window, spatial, x->dims + 2, kernel, false, out, pb, pe, err);
    if (rc)
        return rc;

    st->conv_rank = x->rank;
    st->conv_dims[0] = x->dims[0];
    st->conv_dims[1] = w->dims[0];
    memcpy(st->conv_dims + 2, out, (size_t)spatial * sizeof *out);
    /* The convolution's own size must be representable even when Y is
     * smaller (a fused pool) or broadcast: scratch may hold it. */
    onnx_tensor probe = {.name = n->name};
    if ((rc = onnx_tensor_reshape(&probe, ONNX_FLOAT, st->conv_rank, st->conv_dims, err)))
        return rc;

    /* What the fusion pass added. */
    if ((rc = onnx_fused_activation_read(n, &st->fused, err)))
        return rc;
    st->n_residuals = 0;
    for (size_t i = ONNX_FUSED_FIRST_RESIDUAL; i < n->n_inputs; i++) {
        const onnx_tensor *r = n->inputs[i];
        if (!r)
            continue;
        if (st->n_residuals == KERNEL_MAX_RESIDUALS)
            return kh_error_set(err, KH_EINVAL, "more than %d fused residuals", KERNEL_MAX_RESIDUALS);
        if (r->dtype != ONNX_FLOAT)
            return kh_error_set(err, KH_ETYPE, "fused residual '%s' is %s, not float",
                                r->name, onnx_dtype_name(r->dtype));
        st->residuals[st->n_residuals++] = r;
    }
    int y_rank;
    int64_t y_dims[ONNX_MAX_RANK];
    bool same;
    if ((rc = residual_shape(st, &y_rank, y_dims, &same, err)))
        return rc;
    st->broadcast_residuals = !same;
    if ((rc = read_fused_pool(n, st, y_dims, err)))
        return rc;
    if ((rc = onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, y_rank, y_dims, err)))
        return rc;

    st->batch = (size_t)x->dims[0];
    st->channels = (size_t)x->dims[1];
    st->outputs = (size_t)w->dims[0];
    st->m = st->outputs / (size_t)group;
    conv_window_geometry(&st->geo, spatial, x->dims + 2, out, kernel, &st->window, pb);
    st->geo.channels = st->channels / (size_t)group;
    st->k = st->geo.channels * conv_kernel_size(&st->geo);
    st->n = conv_out_size(&st->geo);
    st->packed_per_group = sgemm_packed_a_floats(st->m, st->k);

    /* Constant weights are packed now, others at every run. */
    st->pack_at_run = !is_constant(w);
    n->scratch_bytes = plan_path(st, spatial);
    if (st->path != CONV_DEPTHWISE && !st->pack_at_run) {
        size_t need = (size_t)group * st->packed_per_group;
        if (need > st->packed_cap) {
            float *p = realloc(st->packed, (need ? need : 1) * sizeof *p);
            if (!p)
                return kh_error_set(err, KH_ENOMEM, "packed weights: out of memory");
            st->packed = p;
            st->packed_cap = need;
        }
        pack_weights(st, w->data, st->packed);
    }
    return KH_OK;
}

/* ------------------------------------------------------------------ run */

typedef struct conv_job {
    const conv_state *st;
    const float *image;   /* this batch image: B's source (maybe padded) */
    size_t image_h, image_w;
    const float *a;       /* packed weights, all groups */
    const ptrdiff_t *koffs;
    const float *bias;
    const float *residual[KERNEL_MAX_RESIDUALS]; /* this image, or NULL */
    float *y;             /* this image */
    unsigned char *slots;
    unsigned char *band;  /* fused pool: band buffers, one per slot */
    size_t m_splits, panels_per_split;
} conv_job;

static void gemm_tasks(void *arg, size_t begin, size_t end, int slot) {
    const conv_job *job = arg;
    const conv_state *st = job->st;
    const size_t panels = sgemm_panels(st->m);
    float *pack_buffer = (float *)(job->slots + (size_t)slot * st->slot_bytes);
    for (size_t t = begin; t < end; t++) {
        size_t g = t / (st->tiles * job->m_splits);
        size_t rest = t % (st->tiles * job->m_splits);
        size_t tile = rest / job->m_splits, split = rest % job->m_splits;
        size_t p0 = split * job->panels_per_split;
        size_t p1 = p0 + job->panels_per_split < panels ? p0 + job->panels_per_split : panels;
        if (p0 >= p1)
            continue;
        kernel_epilogue ep = st->fused;
        if (st->broadcast_residuals)
            ep.activation = KERNEL_ACT_NONE;
        ep.bias = job->bias ? job->bias + g * st->m : NULL;
        for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
            ep.residual[r] = job->residual[r] ? job->residual[r] + g * st->m * st->n : NULL;
        sgemm_params p = {.m = st->m, .n = st->n, .k = st->k,
                          .a_packed = job->a + g * st->packed_per_group,
                          .c = job->y + g * st->m * st->n, .ldc = st->n,
                          .epilogue = &ep};
        const float *group_image = job->image + g * st->geo.channels * job->image_h * job->image_w;
        switch (st->path) {
        case CONV_POINTWISE: {
            size_t n0 = tile * st->tile_cols;
            size_t cols = st->n - n0 < st->tile_cols ? st->n - n0 : st->tile_cols;
            sgemm_compute_direct(&p, p0, p1, n0, cols, group_image + n0, job->koffs);
            break;
        }
        case CONV_ROWS: {
            size_t oh = tile / st->tiles_per_row;
            size_t ox0 = tile % st->tiles_per_row * st->tile_cols;
            size_t ow = st->geo.out[2];
            size_t cols = ow - ox0 < st->tile_cols ? ow - ox0 : st->tile_cols;
            const float *b = group_image + oh * st->geo.stride[1] * job->image_w + ox0;
            sgemm_compute_direct(&p, p0, p1, oh * ow + ox0, cols, b, job->koffs);
            break;
        }
        case CONV_PACKED: {
            size_t n0 = tile * st->tile_cols;
            size_t cols = st->n - n0 < st->tile_cols ? st->n - n0 : st->tile_cols;
            im2col_source src = {&st->geo, group_image};
            sgemm_compute_packed(&p, p0, p1, n0, cols, im2col_pack, &src, pack_buffer);
            break;
        }
        case CONV_DEPTHWISE:
            break;
        }
    }
}

/* Fused 2x2 / stride-2 MaxPool: task t is a run of st->pool_rows pooled
 * rows (of one row-panel split). Their convolution rows go, with the
 * epilogue, into this slot's band ([outputs][2 * pool_rows][OW]) and are
 * pooled from there, so the full convolution output is never written. */
static void pooled_tasks(void *arg, size_t begin, size_t end, int slot) {
    const conv_job *job = arg;
    const conv_state *st = job->st;
    const size_t panels = sgemm_panels(st->m);
    const size_t OH = st->geo.out[1], OW = st->geo.out[2];
    const size_t PH = st->pool.g.out[1], PW = st->pool.g.out[2];
    const ptrdiff_t pool_top = st->pool.g.pad[1], pool_left = st->pool.g.pad[2];
    const size_t band_ld = 2 * st->pool_rows * OW;
    float *band = (float *)(job->band + (size_t)slot * st->band_bytes);
    for (size_t t = begin; t < end; t++) {
        size_t run = t / job->m_splits, split = t % job->m_splits;
        size_t p0 = split * job->panels_per_split;
        size_t p1 = p0 + job->panels_per_split < panels ? p0 + job->panels_per_split : panels;
        size_t py0 = run * st->pool_rows, py1 = py0 + st->pool_rows < PH ? py0 + st->pool_rows : PH;
        if (p0 >= p1 || py0 >= py1)
            continue;
        /* Convolution rows [lo, hi) under pooled rows [py0, py1). */
        ptrdiff_t first = (ptrdiff_t)(2 * py0) - pool_top, last = (ptrdiff_t)(2 * py1) - pool_top;
        size_t lo = first < 0 ? 0 : (size_t)first;
        size_t hi = last < (ptrdiff_t)OH ? (size_t)(last > 0 ? last : 0) : OH;
        size_t rows = hi > lo ? hi - lo : 0;
        for (size_t g = 0; g < (size_t)st->group; g++) {
            kernel_epilogue ep = st->fused;
            ep.bias = job->bias ? job->bias + g * st->m : NULL;
            float *gband = band + g * st->m * band_ld;
            sgemm_params p = {.m = st->m, .n = rows * OW, .k = st->k,
                              .a_packed = job->a + g * st->packed_per_group,
                              .c = gband, .ldc = band_ld, .epilogue = &ep};
            const float *group_image = job->image + g * st->geo.channels * job->image_h * job->image_w;
            if (st->path == CONV_POINTWISE) {
                /* The rows are contiguous in the input. */
                for (size_t c0 = 0; c0 < rows * OW; c0 += st->tile_cols) {
                    size_t cols = rows * OW - c0 < st->tile_cols ? rows * OW - c0 : st->tile_cols;
                    sgemm_compute_direct(&p, p0, p1, c0, cols, group_image + lo * OW + c0, job->koffs);
                }
            } else {
                for (size_t r = lo; r < hi; r++)
                    for (size_t ox0 = 0; ox0 < OW; ox0 += st->tile_cols) {
                        size_t cols = OW - ox0 < st->tile_cols ? OW - ox0 : st->tile_cols;
                        const float *b = group_image + r * st->geo.stride[1] * job->image_w + ox0;
                        sgemm_compute_direct(&p, p0, p1, (r - lo) * OW + ox0, cols, b, job->koffs);
                    }
            }
            size_t ch_end = p1 * SGEMM_MR < st->m ? p1 * SGEMM_MR : st->m;
            for (size_t ch = p0 * SGEMM_MR; ch < ch_end; ch++)
                for (size_t py = py0; py < py1; py++) {
                    float *out = job->y + ((g * st->m + ch) * PH + py) * PW;
                    const float *win[2] = {NULL, NULL};
                    int n_win = 0;
                    for (ptrdiff_t r = (ptrdiff_t)(2 * py) - pool_top; r < (ptrdiff_t)(2 * py) - pool_top + 2; r++)
                        if (r >= (ptrdiff_t)lo && r < (ptrdiff_t)hi)
                            win[n_win++] = gband + ch * band_ld + ((size_t)r - lo) * OW;
                    if (!n_win) {
                        for (size_t px = 0; px < PW; px++)
                            out[px] = -FLT_MAX;
                        continue;
                    }
                    pool_max_2x2_row(win[0], win[1], OW, pool_left, out, PW);
                }
        }
    }
}

typedef struct pad_job {
    const conv_state *st;
    const float *x;
    float *padded;
} pad_job;

static void pad_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const pad_job *job = arg;
    const conv_state *st = job->st;
    const size_t H = st->geo.in[1], W = st->geo.in[2];
    const size_t Hp = st->padded_h, Wq = st->phase_w, s = st->phases;
    const size_t top = (size_t)st->geo.pad[1], left = (size_t)st->geo.pad[2];
    for (size_t c = begin; c < end; c++) {
        const float *src = job->x + c * H * W;
        for (size_t p = 0; p < s; p++) {
            float *dst = job->padded + (c * s + p) * Hp * Wq;
            memset(dst, 0, top * Wq * sizeof *dst);
            for (size_t y = 0; y < H; y++) {
                float *row = dst + (top + y) * Wq;
                const float *in = src + y * W;
                if (s == 1) {
                    memset(row, 0, left * sizeof *row);
                    memcpy(row + left, in, W * sizeof *row);
                    memset(row + left + W, 0, (Wq - left - W) * sizeof *row);
                    continue;
                }
                /* Phase p, column j is padded column j * s + p. */
                for (size_t j = 0; j < Wq; j++) {
                    ptrdiff_t x = (ptrdiff_t)(j * s + p) - (ptrdiff_t)left;
                    row[j] = x >= 0 && x < (ptrdiff_t)W ? in[x] : 0.0f;
                }
            }
            memset(dst + (top + H) * Wq, 0, (Hp - top - H) * Wq * sizeof *dst);
        }
    }
}

typedef struct depthwise_job {
    const conv_state *st;
    const void *plan;
    const float *x, *w, *bias;
    const float *residual[KERNEL_MAX_RESIDUALS];
    float *y;
} depthwise_job;

static void depthwise_planes(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const depthwise_job *job = arg;
    const conv_state *st = job->st;
    const size_t in_plane = conv_in_size(&st->geo), out_plane = st->n;
    const size_t ksize = conv_kernel_size(&st->geo);
    for (size_t plane = begin; plane < end; plane++) {
        size_t c = plane % st->channels;
        depthwise_epilogue ep = {.bias = job->bias ? job->bias[c] : 0.0f,
                                 .activation = st->fused.activation,
                                 .alpha = st->fused.alpha,
                                 .lo = st->fused.lo,
                                 .hi = st->fused.hi};
        if (st->broadcast_residuals)
            ep.activation = KERNEL_ACT_NONE;
        for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
            ep.residual[r] = job->residual[r] ? job->residual[r] + plane * out_plane : NULL;
        depthwise_plane(&st->geo, job->plan, job->x + plane * in_plane, job->w + c * ksize,
                        job->y + plane * out_plane, &ep);
    }
}

static int conv_run(onnx_node *n, const onnx_exec *run_ex, kh_error *err) {
    (void)err;
    const conv_state *st = n->state;
    /* Small convolutions stay on this thread (slots.h). */
    double est_ns = st->path == CONV_DEPTHWISE
                        ? 0.4 * (double)(st->batch * st->channels * st->n)
                        : 0.01 * 2.0 * (double)(st->batch * st->outputs) * (double)st->n * (double)st->k;
    onnx_exec serial;
    const onnx_exec *ex = kernel_exec_for(run_ex, est_ns, &serial);
    const onnx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = onnx_node_input(n, 2);
    onnx_tensor *y = n->outputs[0];
    if (y->numel == 0)
        return KH_OK;
    unsigned char *scratch = ex->scratch;
    const bool to_result = st->broadcast_residuals || (st->pooled && !st->pool_banded);
    float *conv_out = to_result ? (float *)(scratch + st->off_result) : y->data;
    const float *bias = b ? b->data : NULL;
    const size_t image_out = st->outputs * st->n;
    const float *residual[KERNEL_MAX_RESIDUALS] = {NULL};
    if (!st->broadcast_residuals)
        for (size_t r = 0; r < st->n_residuals; r++)
            residual[r] = st->residuals[r]->data;

    if (st->path == CONV_DEPTHWISE) {
        const void *plan = depthwise_plan_build(&st->geo, scratch + st->off_slots);
        depthwise_job job = {st, plan, x->data, w->data, bias, {NULL}, conv_out};
        memcpy(job.residual, residual, sizeof residual);
        kernel_parallel_slots(ex, st->batch * st->channels, depthwise_planes, &job);
    } else {
        const float *a = st->packed;
        if (st->pack_at_run) {
            float *packed = (float *)(scratch + st->off_packed);
            pack_weights(st, w->data, packed);
            a = packed;
        }
        ptrdiff_t *koffs = (ptrdiff_t *)(scratch + st->off_koffs);
        size_t image_h = st->geo.in[1], image_w = st->geo.in[2];
        if (st->path == CONV_ROWS) {
            /* Phases stack vertically: channel c starts at c * image_h rows. */
            image_h = st->phases * st->padded_h;
            image_w = st->phase_w;
        }
        if (st->path == CONV_POINTWISE) {
            for (size_t k = 0; k < st->k; k++)
                koffs[k] = (ptrdiff_t)(k * st->n);
        } else if (st->path == CONV_ROWS) {
            const size_t kh = st->geo.kernel[1], kw = st->geo.kernel[2];
            for (size_t k = 0; k < st->k; k++) {
                size_t c = k / (kh * kw), ky = k / kw % kh, kx = k % kw;
                size_t col = kx * st->geo.dilation[2]; /* phase col % s, index col / s */
                koffs[k] = (ptrdiff_t)(c * image_h * image_w +
                                       (col % st->phases) * st->padded_h * image_w +
                                       ky * st->geo.dilation[1] * image_w + col / st->phases);
            }
        }
        size_t panels = sgemm_panels(st->m);
        /* Banded pooling: one task per pooled row (all groups). */
        size_t tasks = st->pool_banded ? (st->pool.g.out[1] + st->pool_rows - 1) / st->pool_rows
                                       : (size_t)st->group * st->tiles;
        /* Too few column tiles to keep every thread busy: split the rows
         * (output channels) too. */
        size_t want = 4 * (size_t)(ex->threads > 1 ? ex->threads : 1);
        size_t m_splits = 1;
        if (ex->threads > 1 && tasks && tasks < want) {
            m_splits = (want + tasks - 1) / tasks;
            if (m_splits > panels)
                m_splits = panels;
        }
        const size_t image_in = st->channels * conv_in_size(&st->geo);
        for (size_t i = 0; i < st->batch; i++) {
            const float *image = (const float *)x->data + i * image_in;
            if (st->pad_input) {
                float *padded = (float *)(scratch + st->off_padded);
                pad_job pj = {st, image, padded};
                kernel_parallel_slots(ex, st->channels, pad_planes, &pj);
                image = padded;
            }
            conv_job job = {.st = st, .image = image, .image_h = image_h,
                            .image_w = image_w, .a = a, .koffs = koffs,
                            .bias = bias, .y = conv_out + i * image_out,
                            .slots = scratch + st->off_slots,
                            .band = scratch + st->off_band,
                            .m_splits = m_splits,
                            .panels_per_split = (panels + m_splits - 1) / m_splits};
            for (int r = 0; r < KERNEL_MAX_RESIDUALS; r++)
                job.residual[r] = residual[r] ? residual[r] + i * image_out : NULL;
            if (st->pool_banded) {
                job.y = y->data + i * st->outputs * conv_out_size(&st->pool.g);
                kernel_parallel_slots(ex, tasks * m_splits, pooled_tasks, &job);
            } else {
                kernel_parallel_slots(ex, tasks * m_splits, gemm_tasks, &job);
            }
        }
    }
    if (st->pooled && !st->pool_banded) {
        /* Slow path: pool the full convolution result. */
        size_t in_plane = st->n, out_plane = conv_out_size(&st->pool.g);
        for (size_t p = 0; p < st->batch * st->outputs; p++)
            pool_max_plane(&st->pool, conv_out + p * in_plane, (float *)y->data + p * out_plane,
                           NULL, 0, false);
    }
    if (st->broadcast_residuals) {
        /* Slow path: the fused Add broadcasts, so add after the fact. */
        onnx_tensor conv = {.name = n->name, .dtype = ONNX_FLOAT, .rank = st->conv_rank,
                            .numel = st->batch * image_out, .data = conv_out};
        memcpy(conv.dims, st->conv_dims, sizeof conv.dims);
        const onnx_tensor *terms[1 + KERNEL_MAX_RESIDUALS] = {&conv};
        for (size_t r = 0; r < st->n_residuals; r++)
            terms[1 + r] = st->residuals[r];
        eltwise_sum_run(ex, terms, 1 + st->n_residuals, y, &st->fused);
    }
    return KH_OK;
}

const onnx_operator onnx_op_Conv = {
    .op_type = "Conv",
    .min_opset = 1,
    .init = conv_init,
    .reshape = conv_reshape,
    .run = conv_run,
    .exit = conv_exit,
};
