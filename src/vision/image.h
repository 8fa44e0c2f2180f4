/* image.h - pictures in memory: decode (JPEG, PNG), resize, crop, pad,
 * encode. Pixels are 8-bit, interleaved, row-major, no padding between rows.
 */
#ifndef KH_VISION_IMAGE_H
#define KH_VISION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct kh_image {
    int width, height;
    int channels;  /* 1 (gray) or 3 (RGB) */
    uint8_t *pixels; /* width * height * channels bytes, owned */
} kh_image;

typedef struct kh_decode_options {
    int channels;            /* wanted: 3 (RGB, default when 0) or 1 (gray) */
    uint64_t max_pixels;     /* refuse larger pictures before allocating;
                                0: 64 MP */
    int min_side_hint;       /* >0: a JPEG may be decoded with DCT scaling to
                                no fewer than this many pixels on its shorter
                                side; *scale_out says by how much */
} kh_decode_options;

/* Decodes JPEG or PNG (by content, not name) with EXIF orientation applied.
 * `what` names the source in messages (a file name). On success the caller
 * owns img->pixels (kh_image_free). scale_out (may be NULL) receives the
 * factor from decoded to original pixels (1 without DCT scaling); original
 * width/height go to orig_w/orig_h (may be NULL). */
int kh_image_decode(const void *data, size_t len, const char *what,
                    const kh_decode_options *opts, kh_image *img,
                    float *scale_out, int *orig_w, int *orig_h,
                    kh_error *err);
int kh_image_load(const char *path, const kh_decode_options *opts,
                  kh_image *img, float *scale_out, int *orig_w, int *orig_h,
                  kh_error *err);

void kh_image_free(kh_image *img); /* frees pixels; NULL-safe */
int kh_image_alloc(kh_image *img, int width, int height, int channels,
                   kh_error *err);

#endif
