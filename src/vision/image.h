/* image.h - pictures in memory: decode (JPEG, PNG), resize, crop, pad,
 * encode, draw. Pixels are 8-bit, interleaved, row-major, no padding between
 * rows.
 *
 * Decoding treats every byte as hostile: the pixel limit is checked from the
 * header before anything large is allocated, and libjpeg/libpng errors come
 * back as KH_EFORMAT with the file named (the libraries never print).
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

#define KH_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)64 * 1000 * 1000)

typedef struct kh_decode_options {
    int channels;            /* wanted: 3 (RGB, default when 0) or 1 (gray) */
    uint64_t max_pixels;     /* refuse larger pictures before allocating;
                                0: 64 MP */
    int min_side_hint;       /* >0: a JPEG may be decoded with DCT scaling to
                                no fewer than this many pixels on its shorter
                                side; *scale_out says by how much */
} kh_decode_options;

/* Decodes JPEG or PNG (by content, not name) with EXIF orientation applied
 * (a JPEG's APP1 segment, a PNG's eXIf chunk). `what` names the source in
 * messages (a file name). On success the caller owns img->pixels
 * (kh_image_free). scale_out (may be NULL) receives the factor from decoded
 * to original pixels (1 without DCT scaling); the original width/height, as
 * seen upright, go to orig_w/orig_h (may be NULL).
 *
 * JPEG: baseline and progressive; gray, YCbCr, RGB, CMYK and YCCK (Adobe
 * inverted CMYK recognised). A truncated file is an error, not a gray tail.
 * PNG: every bit depth and colour type; alpha and tRNS are dropped (the
 * colour under them is kept), 16-bit samples keep their high byte. */
int kh_image_decode(const void *data, size_t len, const char *what,
                    const kh_decode_options *opts, kh_image *img,
                    float *scale_out, int *orig_w, int *orig_h,
                    kh_error *err);
/* Reads the file at path and decodes it. The file may hold at most
 * 4 * max_pixels + 1 MiB bytes, KH_ELIMIT beyond (4 bytes a pixel and a
 * megabyte of metadata are more than any real picture holds). A file that
 * cannot be read, a missing one included, is KH_EIO. */
int kh_image_load(const char *path, const kh_decode_options *opts,
                  kh_image *img, float *scale_out, int *orig_w, int *orig_h,
                  kh_error *err);

void kh_image_free(kh_image *img); /* frees pixels; NULL-safe */
/* Allocates zeroed pixels; img->pixels is owned by the caller. */
int kh_image_alloc(kh_image *img, int width, int height, int channels,
                   kh_error *err);

/* EXIF orientation (1..8) from a JPEG APP1 payload ("Exif\0\0" + TIFF);
 * 1 when absent or unreadable. Exposed for tests. */
int kh_exif_orientation(const uint8_t *app1, size_t len);
/* The same from the TIFF structure alone ("II*\0" or "MM\0*" + IFDs), what
 * a PNG eXIf chunk holds. */
int kh_exif_tiff_orientation(const uint8_t *tiff, size_t len);

/* Applies EXIF orientation 1..8 in place (reallocates when needed). */
int kh_image_orient(kh_image *img, int orientation, kh_error *err);

/* --- geometry -------------------------------------------------------------
 * Functions that make a new picture fill *dst, which the caller then owns
 * (kh_image_free); *dst is untouched on failure. */

/* Copies the rectangle (x, y, w, h), which must lie inside src. */
int kh_image_crop(const kh_image *src, int x, int y, int w, int h,
                  kh_image *dst, kh_error *err);

/* Adds borders of `value` around src. */
int kh_image_pad(const kh_image *src, int top, int bottom, int left,
                 int right, uint8_t value, kh_image *dst, kh_error *err);

/* Converts to one channel: (77 R + 150 G + 29 B + 128) >> 8 (BT.601 luma,
 * what pico's cascades were trained on). A gray src is copied. */
int kh_image_to_gray(const kh_image *src, kh_image *dst, kh_error *err);

/* Bilinear resize to out_w x out_h, rounded to 8 bits (for thumbnails,
 * crops and drawings). Same sampling as kh_resize_bilinear_chw. */
int kh_image_resize(const kh_image *src, int out_w, int out_h, kh_image *dst,
                    kh_error *err);

/* Network input: places src at (left, top) on a zero canvas of
 * canvas_w x canvas_h, resizes that canvas bilinearly to out_w x out_h and
 * writes float planes (CHW: all of channel 0, then 1, ...) into out, which
 * holds src->channels * out_w * out_h floats.
 *
 * The sampling is TensorFlow's resizeBilinear without corner alignment and
 * without half-pixel centres, as face-api calls it: output pixel (x, y) reads
 * the canvas at (x * canvas_w / out_w, y * canvas_h / out_h), interpolating
 * between the floor and the next pixel (clamped to the last). When the canvas
 * already has the output size the pixels are copied exactly. */
int kh_resize_bilinear_chw(const kh_image *src, int canvas_w, int canvas_h,
                           int left, int top, int out_w, int out_h,
                           float *out, kh_error *err);

/* --- encoding ---------------------------------------------------------------
 * *out receives a malloc'ed buffer owned by the caller (free()). */
int kh_image_encode_png(const kh_image *img, uint8_t **out, size_t *out_len,
                        kh_error *err);
/* The same with zlib's compression level 0..9 (-1: zlib's default, 6, what
 * kh_image_encode_png uses). Level 1 is about 4x faster on photographs for
 * files about 15% larger: for crops written on every face. */
int kh_image_encode_png_level(const kh_image *img, int level, uint8_t **out,
                              size_t *out_len, kh_error *err);
int kh_image_encode_jpeg(const kh_image *img, int quality, uint8_t **out,
                         size_t *out_len, kh_error *err);
/* Writes PNG when path ends in ".png" (any case), JPEG (quality 90)
 * otherwise. */
int kh_image_save(const kh_image *img, const char *path, kh_error *err);

/* --- drawing (clipped to the picture; never fails) ------------------------- */
typedef struct kh_rgb {
    uint8_t r, g, b;
} kh_rgb;

/* Outline of the rectangle (x, y, w, h), `thickness` pixels inwards. */
void kh_image_draw_rect(kh_image *img, int x, int y, int w, int h,
                        int thickness, kh_rgb color);
/* Filled rectangle. */
void kh_image_fill_rect(kh_image *img, int x, int y, int w, int h,
                        kh_rgb color);
/* ASCII text from the built-in 5x7 font, each font pixel drawn as a
 * scale x scale square (scale 1..1024), top-left at (x, y); other bytes
 * draw as '?'. */
void kh_image_draw_text(kh_image *img, int x, int y, const char *text,
                        int scale, kh_rgb color);
/* Size in pixels of `text` drawn at `scale` (6 x 8 per character cell). */
void kh_text_size(const char *text, int scale, int *w, int *h);

#endif
