/* image.c - kh_image memory, geometry and the network-input resize. */
#include "vision/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void kh_image_free(kh_image *img) {
    if (!img)
        return;
    free(img->pixels);
    img->pixels = NULL;
}

int kh_image_alloc(kh_image *img, int width, int height, int channels,
                   kh_error *err) {
    if (!img || width <= 0 || height <= 0 || (channels != 1 && channels != 3))
        return kh_error_set(err, KH_EINVAL,
                            "picture of %dx%d with %d channels", width, height,
                            channels);
    size_t bytes = (size_t)width * (size_t)height * (size_t)channels;
    if (bytes / (size_t)height / (size_t)channels != (size_t)width)
        return kh_error_set(err, KH_ELIMIT, "picture of %dx%d is too large",
                            width, height);
    uint8_t *pixels = calloc(bytes, 1);
    if (!pixels)
        return kh_error_set(err, KH_ENOMEM,
                            "out of memory for a %dx%d picture", width, height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->pixels = pixels;
    return KH_OK;
}

int kh_image_crop(const kh_image *src, int x, int y, int w, int h,
                  kh_image *dst, kh_error *err) {
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x > src->width - w ||
        y > src->height - h)
        return kh_error_set(err, KH_ERANGE,
                            "crop %d,%d %dx%d outside a %dx%d picture", x, y,
                            w, h, src->width, src->height);
    kh_image out;
    int rc = kh_image_alloc(&out, w, h, src->channels, err);
    if (rc)
        return rc;
    const size_t row = (size_t)w * src->channels;
    for (int r = 0; r < h; r++)
        memcpy(out.pixels + r * row,
               src->pixels +
                   ((size_t)(y + r) * src->width + x) * src->channels,
               row);
    *dst = out;
    return KH_OK;
}

int kh_image_pad(const kh_image *src, int top, int bottom, int left,
                 int right, uint8_t value, kh_image *dst, kh_error *err) {
    if (top < 0 || bottom < 0 || left < 0 || right < 0 ||
        left > INT32_MAX / 4 - src->width - right ||
        top > INT32_MAX / 4 - src->height - bottom)
        return kh_error_set(err, KH_ERANGE, "padding %d,%d,%d,%d", top,
                            bottom, left, right);
    kh_image out;
    int rc = kh_image_alloc(&out, src->width + left + right,
                            src->height + top + bottom, src->channels, err);
    if (rc)
        return rc;
    memset(out.pixels, value,
           (size_t)out.width * out.height * out.channels);
    const size_t row = (size_t)src->width * src->channels;
    for (int r = 0; r < src->height; r++)
        memcpy(out.pixels +
                   ((size_t)(r + top) * out.width + left) * out.channels,
               src->pixels + r * row, row);
    *dst = out;
    return KH_OK;
}

int kh_image_to_gray(const kh_image *src, kh_image *dst, kh_error *err) {
    kh_image out;
    int rc = kh_image_alloc(&out, src->width, src->height, 1, err);
    if (rc)
        return rc;
    const size_t n = (size_t)src->width * src->height;
    if (src->channels == 1) {
        memcpy(out.pixels, src->pixels, n);
    } else {
        const uint8_t *p = src->pixels;
        for (size_t i = 0; i < n; i++, p += 3)
            out.pixels[i] =
                (uint8_t)((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8);
    }
    *dst = out;
    return KH_OK;
}

/* One axis of TF's resizeBilinear (align_corners=false, half_pixel=false):
 * output index i reads canvas position i * scale, where scale = in / out.
 * lo/hi are byte offsets into the source (row or pixel), or -1 where the
 * canvas is padding. */
typedef struct sample_axis {
    long lo, hi;
    float frac; /* weight of hi */
} sample_axis;

static void plan_axis(sample_axis *axis, int out, int canvas, int offset,
                      int size, long stride) {
    const float scale = (float)canvas / (float)out;
    for (int i = 0; i < out; i++) {
        float pos = (float)i * scale;
        int lo = (int)floorf(pos);
        if (lo > canvas - 1)
            lo = canvas - 1;
        int hi = lo + 1 < canvas ? lo + 1 : canvas - 1;
        axis[i].frac = pos - (float)lo;
        lo -= offset;
        hi -= offset;
        axis[i].lo = lo >= 0 && lo < size ? lo * stride : -1;
        axis[i].hi = hi >= 0 && hi < size ? hi * stride : -1;
    }
}

int kh_resize_bilinear_chw(const kh_image *src, int canvas_w, int canvas_h,
                           int left, int top, int out_w, int out_h,
                           float *out, kh_error *err) {
    if (!src || !src->pixels || !out || out_w <= 0 || out_h <= 0 ||
        canvas_w <= 0 || canvas_h <= 0 || out_w > 1 << 15 || out_h > 1 << 15)
        return kh_error_set(err, KH_EINVAL,
                            "resize of a %dx%d canvas to %dx%d", canvas_w,
                            canvas_h, out_w, out_h);
    sample_axis *xs = malloc(sizeof *xs * ((size_t)out_w + out_h));
    if (!xs)
        return kh_error_set(err, KH_ENOMEM, "out of memory for resize");
    sample_axis *ys = xs + out_w;
    const int channels = src->channels;
    plan_axis(xs, out_w, canvas_w, left, src->width, channels);
    plan_axis(ys, out_h, canvas_h, top, src->height,
              (long)src->width * channels);
    const size_t plane = (size_t)out_w * out_h;
    for (int y = 0; y < out_h; y++) {
        const sample_axis sy = ys[y];
        const uint8_t *row_lo = sy.lo >= 0 ? src->pixels + sy.lo : NULL;
        const uint8_t *row_hi = sy.hi >= 0 ? src->pixels + sy.hi : NULL;
        float *dst = out + (size_t)y * out_w;
        for (int x = 0; x < out_w; x++) {
            const sample_axis sx = xs[x];
            for (int ch = 0; ch < channels; ch++) {
                float top_left = row_lo && sx.lo >= 0 ? row_lo[sx.lo + ch] : 0;
                float top_right = row_lo && sx.hi >= 0 ? row_lo[sx.hi + ch] : 0;
                float bottom_left =
                    row_hi && sx.lo >= 0 ? row_hi[sx.lo + ch] : 0;
                float bottom_right =
                    row_hi && sx.hi >= 0 ? row_hi[sx.hi + ch] : 0;
                /* Same operation order as TF's kernel so results agree to
                 * the last bit where float rounding allows. */
                float upper = top_left + (top_right - top_left) * sx.frac;
                float lower =
                    bottom_left + (bottom_right - bottom_left) * sx.frac;
                dst[ch * plane + x] = upper + (lower - upper) * sy.frac;
            }
        }
    }
    free(xs);
    return KH_OK;
}

int kh_image_resize(const kh_image *src, int out_w, int out_h, kh_image *dst,
                    kh_error *err) {
    kh_image out;
    int rc = kh_image_alloc(&out, out_w, out_h, src->channels, err);
    if (rc)
        return rc;
    const size_t plane = (size_t)out_w * out_h;
    float *planes = malloc(sizeof *planes * plane * src->channels);
    if (!planes) {
        kh_image_free(&out);
        return kh_error_set(err, KH_ENOMEM, "out of memory for resize");
    }
    rc = kh_resize_bilinear_chw(src, src->width, src->height, 0, 0, out_w,
                                out_h, planes, err);
    if (!rc)
        for (size_t i = 0; i < plane; i++)
            for (int ch = 0; ch < src->channels; ch++) {
                float v = planes[ch * plane + i] + 0.5f;
                out.pixels[i * src->channels + ch] =
                    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    free(planes);
    if (rc) {
        kh_image_free(&out);
        return rc;
    }
    *dst = out;
    return KH_OK;
}
