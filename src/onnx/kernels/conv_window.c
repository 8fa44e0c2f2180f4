/* conv_window.c - sliding-window attributes and output sizes (ONNX Conv/Pool). */
#include "onnx/kernels/conv_window.h"

#include <string.h>

static int read_list(const onnx_node *n, const char *name, int64_t *out,
                     size_t cap, size_t *count, int64_t min, kh_error *err) {
    const onnx_attr *a = onnx_attr_find(n, name);
    *count = 0;
    if (!a)
        return KH_OK;
    if (a->type != ONNX_ATTR_INTS)
        return kh_error_set(err, KH_EINVAL, "attribute '%s' must be a list of ints", name);
    if (a->count > cap)
        return kh_error_set(err, KH_EUNSUPPORTED,
                            "attribute '%s' has %zu values: at most %zu (3 spatial axes) supported",
                            name, a->count, cap);
    for (size_t i = 0; i < a->count; i++) {
        if (a->ints[i] < min)
            return kh_error_set(err, KH_EINVAL, "attribute '%s'[%zu] = %lld must be >= %lld",
                                name, i, (long long)a->ints[i], (long long)min);
        if (a->ints[i] > ((int64_t)1 << 31))
            return kh_error_set(err, KH_EINVAL, "attribute '%s'[%zu] = %lld is too large",
                                name, i, (long long)a->ints[i]);
        out[i] = a->ints[i];
    }
    *count = a->count;
    return KH_OK;
}

int conv_window_read(const onnx_node *n, conv_window_attrs *w, kh_error *err) {
    memset(w, 0, sizeof *w);
    int rc = read_list(n, "kernel_shape", w->kernel, CONV_MAX_SPATIAL, &w->kernel_count, 1, err);
    if (!rc)
        rc = read_list(n, "strides", w->strides, CONV_MAX_SPATIAL, &w->strides_count, 1, err);
    if (!rc)
        rc = read_list(n, "dilations", w->dilations, CONV_MAX_SPATIAL, &w->dilations_count, 1, err);
    if (!rc)
        rc = read_list(n, "pads", w->pads, 2 * CONV_MAX_SPATIAL, &w->pads_count, 0, err);
    if (rc)
        return rc;
    if (w->pads_count % 2)
        return kh_error_set(err, KH_EINVAL, "attribute 'pads' has an odd count %zu", w->pads_count);
    const char *ap = onnx_attr_string(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") || !ap[0])
        w->auto_pad = ONNX_AUTO_PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER"))
        w->auto_pad = ONNX_AUTO_PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        w->auto_pad = ONNX_AUTO_PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        w->auto_pad = ONNX_AUTO_PAD_VALID;
    else
        return kh_error_set(err, KH_EINVAL, "unknown auto_pad '%s'", ap);
    int64_t ceil_mode = onnx_attr_int(n, "ceil_mode", 0);
    if (ceil_mode != 0 && ceil_mode != 1)
        return kh_error_set(err, KH_EINVAL, "ceil_mode must be 0 or 1, got %lld",
                            (long long)ceil_mode);
    w->ceil_mode = ceil_mode == 1;
    return KH_OK;
}

static int check_count(const char *name, size_t count, size_t want, kh_error *err) {
    if (count && count != want)
        return kh_error_set(err, KH_ESHAPE, "attribute '%s' has %zu values, expected %zu",
                            name, count, want);
    return KH_OK;
}

int conv_window_output(const conv_window_attrs *w, int spatial,
                       const int64_t *in, const int64_t *kernel, bool pool,
                       int64_t *out, int64_t *pad_begin, int64_t *pad_end,
                       kh_error *err) {
    if (spatial < 1 || spatial > CONV_MAX_SPATIAL)
        return kh_error_set(err, KH_EUNSUPPORTED, "%d spatial axes: 1 to %d supported",
                            spatial, CONV_MAX_SPATIAL);
    int rc = check_count("strides", w->strides_count, (size_t)spatial, err);
    if (!rc)
        rc = check_count("dilations", w->dilations_count, (size_t)spatial, err);
    if (!rc)
        rc = check_count("pads", w->pads_count, 2 * (size_t)spatial, err);
    if (rc)
        return rc;
    for (int i = 0; i < spatial; i++) {
        int64_t s = conv_window_stride(w, i), d = conv_window_dilation(w, i);
        int64_t span = (kernel[i] - 1) * d + 1; /* window extent */
        int64_t o, pb = 0, pe = 0;
        switch (w->auto_pad) {
        case ONNX_AUTO_PAD_SAME_UPPER:
        case ONNX_AUTO_PAD_SAME_LOWER: {
            o = (in[i] + s - 1) / s;
            int64_t total = (o - 1) * s + span - in[i];
            if (total < 0)
                total = 0;
            pb = w->auto_pad == ONNX_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
            break;
        }
        case ONNX_AUTO_PAD_VALID:
            o = in[i] >= span ? (in[i] - span) / s + 1 : 0;
            break;
        default:
            if (w->pads_count) {
                pb = w->pads[i];
                pe = w->pads[i + spatial];
            }
            int64_t room = in[i] + pb + pe - span;
            if (room < 0) {
                o = 0;
            } else if (pool && w->ceil_mode) {
                o = (room + s - 1) / s + 1;
                /* The last window must start inside the input or the
                 * begin padding. */
                if ((o - 1) * s >= in[i] + pb)
                    o--;
            } else {
                o = room / s + 1;
            }
            break;
        }
        if (o <= 0 && in[i] > 0)
            return kh_error_set(err, KH_ESHAPE,
                                "axis %d: input size %lld with window %lld (kernel %lld, dilation %lld) "
                                "and pads %lld+%lld gives no output",
                                i, (long long)in[i], (long long)span, (long long)kernel[i],
                                (long long)d, (long long)pb, (long long)pe);
        out[i] = o < 0 ? 0 : o;
        pad_begin[i] = pb;
        pad_end[i] = pe;
    }
    return KH_OK;
}

void conv_window_geometry(conv_geometry *g, int spatial, const int64_t *in,
                          const int64_t *out, const int64_t *kernel,
                          const conv_window_attrs *w,
                          const int64_t *pad_begin) {
    int lead = CONV_MAX_SPATIAL - spatial;
    for (int i = 0; i < CONV_MAX_SPATIAL; i++) {
        g->in[i] = g->out[i] = g->kernel[i] = g->stride[i] = g->dilation[i] = 1;
        g->pad[i] = 0;
    }
    for (int i = 0; i < spatial; i++) {
        g->in[lead + i] = (size_t)in[i];
        g->out[lead + i] = (size_t)out[i];
        g->kernel[lead + i] = (size_t)kernel[i];
        g->stride[lead + i] = (size_t)conv_window_stride(w, i);
        g->dilation[lead + i] = (size_t)conv_window_dilation(w, i);
        g->pad[lead + i] = (ptrdiff_t)pad_begin[i];
    }
}
