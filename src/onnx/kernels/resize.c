/* resize.c - see resize.h. Coordinates are computed in double, as the ONNX
 * reference does, so borderline nearest-neighbour picks agree with it. */
#include "onnx/kernels/resize.h"

#include <math.h>
#include <string.h>

#define MAX_TAPS 4

typedef struct tap {
    int64_t index; /* element offset along the axis (times the axis stride) */
    float weight;
} tap;

/* Per axis: taps[o * MAX_TAPS + t]; count[axis] taps per output; outside[o]
 * for tf_crop_and_resize. */
typedef struct axis_table {
    tap *taps;
    unsigned char *outside;
    int count;
} axis_table;

int resize_parse_mode(const char *s, resize_mode *out, kh_error *err) {
    if (!strcmp(s, "nearest"))
        *out = RESIZE_NEAREST;
    else if (!strcmp(s, "linear") || !strcmp(s, "bilinear"))
        *out = RESIZE_LINEAR;
    else if (!strcmp(s, "cubic"))
        *out = RESIZE_CUBIC;
    else
        return kh_error_set(err, KH_EUNSUPPORTED, "mode '%s' is not supported", s);
    return KH_OK;
}

int resize_parse_coord(const char *s, resize_coord *out, kh_error *err) {
    static const struct {
        const char *name;
        resize_coord coord;
    } names[] = {
        {"half_pixel", RESIZE_HALF_PIXEL},
        {"half_pixel_symmetric", RESIZE_HALF_PIXEL_SYMMETRIC},
        {"pytorch_half_pixel", RESIZE_PYTORCH_HALF_PIXEL},
        {"align_corners", RESIZE_ALIGN_CORNERS},
        {"asymmetric", RESIZE_ASYMMETRIC},
        {"tf_half_pixel_for_nn", RESIZE_TF_HALF_PIXEL_FOR_NN},
        {"tf_crop_and_resize", RESIZE_TF_CROP_AND_RESIZE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].coord;
            return KH_OK;
        }
    return kh_error_set(err, KH_EUNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", s);
}

int resize_parse_nearest(const char *s, resize_nearest *out, kh_error *err) {
    if (!strcmp(s, "round_prefer_floor"))
        *out = RESIZE_ROUND_PREFER_FLOOR;
    else if (!strcmp(s, "round_prefer_ceil"))
        *out = RESIZE_ROUND_PREFER_CEIL;
    else if (!strcmp(s, "floor"))
        *out = RESIZE_FLOOR;
    else if (!strcmp(s, "ceil"))
        *out = RESIZE_CEIL;
    else
        return kh_error_set(err, KH_EUNSUPPORTED, "nearest_mode '%s' is not supported", s);
    return KH_OK;
}

static int taps_per_output(resize_mode mode) {
    return mode == RESIZE_CUBIC ? 4 : mode == RESIZE_LINEAR ? 2 : 1;
}

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

size_t resize_scratch_bytes(const resize_params *p) {
    size_t bytes = 0;
    for (int i = 0; i < p->rank; i++) {
        size_t n = (size_t)p->out[i];
        bytes += align64(n * MAX_TAPS * sizeof(tap)) + align64(n);
    }
    return bytes;
}

/* Input coordinate of output coordinate o along an axis (ONNX reference). */
static double source_coord(const resize_params *p, int axis, int64_t o, bool *outside) {
    const double in = (double)p->in[axis], scale = p->scale[axis];
    const double out_width = scale * in; /* not rounded, as the reference */
    const double x = (double)o;
    *outside = false;
    switch (p->coord) {
    case RESIZE_ALIGN_CORNERS:
        return out_width == 1.0 ? 0.0 : x * (in - 1) / (out_width - 1);
    case RESIZE_ASYMMETRIC:
        return x / scale;
    case RESIZE_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    case RESIZE_PYTORCH_HALF_PIXEL:
        return out_width == 1.0 ? -0.5 : (x + 0.5) / scale - 0.5;
    case RESIZE_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)p->out[axis] / out_width;
        double offset = in / 2 * (1 - adjustment);
        return offset + (x + 0.5) / scale - 0.5;
    }
    case RESIZE_TF_CROP_AND_RESIZE: {
        double s = p->roi_start[axis], e = p->roi_end[axis];
        double v = out_width == 1.0 ? (e - s) * (in - 1) / 2 : x * (e - s) * (in - 1) / (out_width - 1);
        v += s * (in - 1);
        *outside = v < 0 || v > in - 1;
        return v;
    }
    case RESIZE_HALF_PIXEL:
        break;
    }
    return (x + 0.5) / scale - 0.5;
}

static int64_t clamp_index(int64_t i, int64_t n) {
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

static int64_t nearest_index(const resize_params *p, int axis, double x) {
    double f = floor(x);
    int64_t i = (int64_t)f;
    if (x == f)
        return i;
    double r = x - f;
    switch (p->nearest) {
    case RESIZE_ROUND_PREFER_FLOOR:
        return r <= 0.5 ? i : i + 1;
    case RESIZE_ROUND_PREFER_CEIL:
        return r < 0.5 ? i : i + 1;
    case RESIZE_FLOOR:
        return i;
    case RESIZE_CEIL:
        return i + 1;
    case RESIZE_SIMPLE:
        return p->scale[axis] < 1.0 ? i + 1 : i;
    }
    return i;
}

static void cubic_coeffs(double r, double a, double c[4]) {
    c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
    c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
    c[2] = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1;
    c[3] = ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a;
}

static void build_axis(const resize_params *p, int axis, int64_t stride, axis_table *t) {
    const int64_t in = p->in[axis];
    t->count = taps_per_output(p->mode);
    for (int64_t o = 0; o < p->out[axis]; o++) {
        tap *taps = t->taps + o * MAX_TAPS;
        bool outside;
        double x = source_coord(p, axis, o, &outside);
        t->outside[o] = outside;
        for (int k = 0; k < MAX_TAPS; k++)
            taps[k] = (tap){0, 0.0f};
        if (outside)
            continue;
        switch (p->mode) {
        case RESIZE_NEAREST:
            taps[0] = (tap){clamp_index(nearest_index(p, axis, x), in) * stride, 1.0f};
            break;
        case RESIZE_LINEAR: {
            double f = floor(x), r = x - f;
            int64_t i = (int64_t)f;
            taps[0] = (tap){clamp_index(i, in) * stride, (float)(1 - r)};
            taps[1] = (tap){clamp_index(i + 1, in) * stride, (float)r};
            break;
        }
        case RESIZE_CUBIC: {
            /* An integer x takes the taps x-2 .. x+1 with ratio 1. */
            double f = floor(x);
            int64_t base = (int64_t)f;
            double r = x - f;
            if (r == 0.0) {
                base -= 1;
                r = 1.0;
            }
            double c[4], sum = 0;
            cubic_coeffs(r, p->cubic_a, c);
            for (int k = 0; k < 4; k++) {
                int64_t idx = base - 1 + k;
                if (p->exclude_outside && (idx < 0 || idx >= in))
                    c[k] = 0;
                sum += c[k];
            }
            for (int k = 0; k < 4; k++) {
                double w = p->exclude_outside && sum != 0 ? c[k] / sum : c[k];
                taps[k] = (tap){clamp_index(base - 1 + k, in) * stride, (float)w};
            }
            break;
        }
        }
    }
    /* An axis that maps every output to the same input index with weight 1
     * needs one tap, whatever the mode. */
    bool identity = p->out[axis] == in && p->coord != RESIZE_TF_CROP_AND_RESIZE;
    for (int64_t o = 0; identity && o < p->out[axis]; o++) {
        const tap *taps = t->taps + o * MAX_TAPS;
        float on_self = 0.0f;
        for (int k = 0; k < t->count; k++) {
            if (taps[k].index == o * stride)
                on_self += taps[k].weight;
            else if (taps[k].weight != 0.0f)
                identity = false;
        }
        identity &= on_self == 1.0f;
    }
    if (identity) {
        for (int64_t o = 0; o < p->out[axis]; o++)
            t->taps[o * MAX_TAPS] = (tap){o * stride, 1.0f};
        t->count = 1;
    }
}

typedef struct resize_job {
    const resize_params *p;
    const axis_table *tables;
    const float *x;
    float *y;
} resize_job;

static void resize_range(void *arg, size_t begin, size_t end, int worker) {
    (void)worker;
    const resize_job *job = arg;
    const resize_params *p = job->p;
    const int rank = p->rank;
    int64_t idx[ONNX_MAX_RANK];
    size_t rest = begin;
    for (int d = rank - 1; d >= 0; d--) {
        idx[d] = (int64_t)(rest % (size_t)p->out[d]);
        rest /= (size_t)p->out[d];
    }
    for (size_t i = begin; i < end; i++) {
        bool outside = false;
        size_t combos = 1;
        for (int d = 0; d < rank; d++) {
            outside |= job->tables[d].outside[idx[d]] != 0;
            combos *= (size_t)job->tables[d].count;
        }
        float v = p->extrapolation;
        if (!outside) {
            double sum = 0;
            for (size_t c = 0; c < combos; c++) {
                size_t digits = c;
                int64_t offset = 0;
                double w = 1.0;
                for (int d = rank - 1; d >= 0; d--) {
                    const axis_table *t = &job->tables[d];
                    const tap *k = &t->taps[idx[d] * MAX_TAPS + (int64_t)(digits % (size_t)t->count)];
                    digits /= (size_t)t->count;
                    offset += k->index;
                    w *= k->weight;
                }
                if (w != 0.0)
                    sum += w * job->x[offset];
            }
            v = (float)sum;
        }
        job->y[i] = v;
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < p->out[d])
                break;
            idx[d] = 0;
        }
    }
}

void resize_run(const onnx_exec *ex, const resize_params *p, const float *x,
                float *y, void *scratch) {
    axis_table tables[ONNX_MAX_RANK];
    unsigned char *at = scratch;
    int64_t stride = 1;
    size_t total = 1;
    for (int d = p->rank - 1; d >= 0; d--) {
        size_t n = (size_t)p->out[d];
        tables[d].taps = (tap *)at;
        at += align64(n * MAX_TAPS * sizeof(tap));
        tables[d].outside = at;
        at += align64(n);
        build_axis(p, d, stride, &tables[d]);
        stride *= p->in[d];
        total *= n;
    }
    resize_job job = {p, tables, x, y};
    if (total)
        onnx_parallel_for(ex, total, resize_range, &job);
}
