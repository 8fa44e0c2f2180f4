/* Resize (opset 10+): nearest / linear / cubic resampling of any axes.
 *   10     inputs X, scales; asymmetric coordinates, nearest floors when
 *          enlarging and ceils when shrinking (as ONNX Runtime)
 *   11-12  X, roi, scales, sizes; coordinate_transformation_mode,
 *          nearest_mode, cubic_coeff_a, exclude_outside, extrapolation_value
 *   13+    roi and scales optional
 *   18+    axes, keep_aspect_ratio_policy; antialias=1 is refused
 *   19+    half_pixel_symmetric
 * Output sizes: sizes, or floor(input * scale). Scales and sizes must be
 * known when planning (constants, or values the engine computes first). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/kernels/axes.h"
#include "onnx/kernels/resize.h"
#include "onnx/op.h"

typedef enum aspect_policy { ASPECT_STRETCH, ASPECT_NOT_LARGER, ASPECT_NOT_SMALLER } aspect_policy;

typedef struct resize_state {
    resize_params params;
    int64_t axes[ONNX_MAX_RANK];
    size_t n_axes; /* 0: all */
    aspect_policy policy;
} resize_state;

static int resize_init(onnx_node *n, kh_error *err) {
    resize_state *st = calloc(1, sizeof *st);
    if (!st)
        return kh_error_set(err, KH_ENOMEM, "out of memory");
    n->state = st;
    resize_params *p = &st->params;
    int rc = resize_parse_mode(onnx_attr_string(n, "mode", "nearest"), &p->mode, err);
    if (rc)
        return rc;
    if (n->opset < 11) {
        p->coord = RESIZE_ASYMMETRIC;
        p->nearest = RESIZE_SIMPLE;
        if (p->mode == RESIZE_CUBIC)
            return kh_error_set(err, KH_EINVAL, "mode 'cubic' needs opset 11");
    } else {
        rc = resize_parse_coord(onnx_attr_string(n, "coordinate_transformation_mode", "half_pixel"),
                                &p->coord, err);
        if (!rc)
            rc = resize_parse_nearest(onnx_attr_string(n, "nearest_mode", "round_prefer_floor"),
                                      &p->nearest, err);
        if (rc)
            return rc;
        if (p->coord == RESIZE_HALF_PIXEL_SYMMETRIC && n->opset < 19)
            return kh_error_set(err, KH_EINVAL, "half_pixel_symmetric needs opset 19");
    }
    p->cubic_a = onnx_attr_float(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = onnx_attr_int(n, "exclude_outside", 0) != 0;
    p->extrapolation = onnx_attr_float(n, "extrapolation_value", 0.0f);
    if (onnx_attr_int(n, "antialias", 0) != 0 && p->mode != RESIZE_NEAREST)
        return kh_error_set(err, KH_EUNSUPPORTED, "antialias=1 is not supported");
    const char *policy = onnx_attr_string(n, "keep_aspect_ratio_policy", "stretch");
    if (!strcmp(policy, "stretch"))
        st->policy = ASPECT_STRETCH;
    else if (!strcmp(policy, "not_larger"))
        st->policy = ASPECT_NOT_LARGER;
    else if (!strcmp(policy, "not_smaller"))
        st->policy = ASPECT_NOT_SMALLER;
    else
        return kh_error_set(err, KH_EINVAL, "unknown keep_aspect_ratio_policy '%s'", policy);
    const int64_t *axes;
    st->n_axes = onnx_attr_ints(n, "axes", &axes);
    if (st->n_axes > ONNX_MAX_RANK)
        return kh_error_set(err, KH_EINVAL, "attribute 'axes' has %zu values", st->n_axes);
    if (st->n_axes)
        memcpy(st->axes, axes, st->n_axes * sizeof *axes);
    return KH_OK;
}

static void resize_exit(onnx_node *n) {
    free(n->state);
    n->state = NULL;
}

/* A tensor given but empty counts as absent (opset 11-12 placeholders). */
static const onnx_tensor *present(const onnx_tensor *t) {
    return t && t->numel ? t : NULL;
}

static int resize_reshape(onnx_node *n, kh_error *err) {
    resize_state *st = n->state;
    resize_params *p = &st->params;
    const onnx_tensor *x = onnx_node_input(n, 0);
    if (!x)
        return kh_error_set(err, KH_EINVAL, "input X is required");
    if (x->dtype != ONNX_FLOAT)
        return kh_error_set(err, KH_EUNSUPPORTED, "%s input: only float is supported",
                            onnx_dtype_name(x->dtype));
    const int rank = x->rank;
    const onnx_tensor *roi = NULL, *scales, *sizes = NULL;
    if (n->opset < 11) {
        scales = present(onnx_node_input(n, 1));
    } else {
        roi = present(onnx_node_input(n, 1));
        scales = present(onnx_node_input(n, 2));
        sizes = present(onnx_node_input(n, 3));
    }
    if (!scales == !sizes)
        return kh_error_set(err, KH_EINVAL, "exactly one of scales and sizes must be given");

    /* The axes scales/sizes/roi refer to. */
    int64_t axes[ONNX_MAX_RANK];
    size_t n_axes = st->n_axes;
    bool mask[ONNX_MAX_RANK];
    if (n_axes) {
        memcpy(axes, st->axes, n_axes * sizeof *axes);
        int rc = onnx_axes_normalize(axes, n_axes, rank, mask, err);
        if (rc)
            return rc;
    } else {
        n_axes = (size_t)rank;
        for (int i = 0; i < rank; i++)
            axes[i] = i;
    }
    const onnx_tensor *given = scales ? scales : sizes;
    if (given->numel != n_axes)
        return kh_error_set(err, KH_ESHAPE, "%s has %zu values for %zu axes",
                            scales ? "scales" : "sizes", given->numel, n_axes);
    if (!onnx_tensor_value_known(given))
        return kh_error_set(err, KH_EDYNAMIC, "%s not known yet", scales ? "scales" : "sizes");

    p->rank = rank;
    for (int i = 0; i < rank; i++) {
        p->in[i] = p->out[i] = x->dims[i];
        p->scale[i] = 1.0;
        p->roi_start[i] = 0.0;
        p->roi_end[i] = 1.0;
    }
    if (scales) {
        for (size_t i = 0; i < n_axes; i++) {
            double s = onnx_tensor_get_f64(scales, i);
            if (!(s > 0) || !isfinite(s))
                return kh_error_set(err, KH_EINVAL, "scale %g must be positive", s);
            p->scale[axes[i]] = s;
        }
    } else {
        for (size_t i = 0; i < n_axes; i++) {
            int64_t v = onnx_tensor_get_i64(sizes, i);
            if (v < 0)
                return kh_error_set(err, KH_EINVAL, "size %lld must not be negative", (long long)v);
            p->out[axes[i]] = v;
            p->scale[axes[i]] = x->dims[axes[i]] ? (double)v / (double)x->dims[axes[i]] : 1.0;
        }
        if (st->policy != ASPECT_STRETCH) {
            double s = p->scale[axes[0]];
            for (size_t i = 1; i < n_axes; i++) {
                double v = p->scale[axes[i]];
                s = st->policy == ASPECT_NOT_LARGER ? (v < s ? v : s) : (v > s ? v : s);
            }
            for (size_t i = 0; i < n_axes; i++) {
                p->scale[axes[i]] = s;
                p->out[axes[i]] = (int64_t)(s * (double)x->dims[axes[i]] + 0.5);
            }
        }
    }
    if (p->coord == RESIZE_TF_CROP_AND_RESIZE) {
        if (!roi || roi->numel != 2 * n_axes)
            return kh_error_set(err, KH_EINVAL, "tf_crop_and_resize needs roi with %zu values", 2 * n_axes);
        if (!onnx_tensor_value_known(roi))
            return kh_error_set(err, KH_EDYNAMIC, "roi not known yet");
        for (size_t i = 0; i < n_axes; i++) {
            p->roi_start[axes[i]] = onnx_tensor_get_f64(roi, i);
            p->roi_end[axes[i]] = onnx_tensor_get_f64(roi, n_axes + i);
        }
    }
    if (scales) {
        for (size_t i = 0; i < n_axes; i++) {
            int a = (int)axes[i];
            double extent = (double)x->dims[a] * p->scale[a];
            if (p->coord == RESIZE_TF_CROP_AND_RESIZE)
                extent *= p->roi_end[a] - p->roi_start[a];
            if (!(extent < 9.0e18))
                return kh_error_set(err, KH_ERANGE, "scale %g makes axis %d too large", p->scale[a], a);
            p->out[a] = (int64_t)floor(extent);
        }
    }
    n->scratch_bytes = resize_scratch_bytes(p);
    return onnx_tensor_reshape(n->outputs[0], ONNX_FLOAT, rank, p->out, err);
}

static int resize_op_run(onnx_node *n, const onnx_exec *ex, kh_error *err) {
    (void)err;
    const resize_state *st = n->state;
    if (n->outputs[0]->numel && n->inputs[0]->numel)
        resize_run(ex, &st->params, n->inputs[0]->data, n->outputs[0]->data, ex->scratch);
    return KH_OK;
}

const onnx_operator onnx_op_Resize = {
    .op_type = "Resize",
    .min_opset = 10,
    .init = resize_init,
    .reshape = resize_reshape,
    .run = resize_op_run,
    .exit = resize_exit,
};
