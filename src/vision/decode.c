/* decode.c - JPEG (libjpeg-turbo) and PNG (libpng) into kh_image.
 *
 * Both libraries report errors by calling a handler that must not return;
 * ours longjmp back to the decoder, which frees what it allocated and turns
 * the library's message into a kh_error naming the file. Every object that
 * is allocated after setjmp lives in a struct (not a register) so that it is
 * still known after the jump.
 */
#include "vision/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "vision/jpeg_failure.h"
#include "vision/png_failure.h"
#include "vision/read_file.h"

static uint64_t max_pixels_of(const kh_decode_options *opts) {
    return opts && opts->max_pixels ? opts->max_pixels
                                    : KH_IMAGE_DEFAULT_MAX_PIXELS;
}

static int wanted_channels(const kh_decode_options *opts) {
    return opts && opts->channels == 1 ? 1 : 3;
}

static int check_size(const char *what, const char *format, uint64_t width,
                      uint64_t height, uint64_t limit, kh_error *err) {
    if (width == 0 || height == 0)
        return kh_error_set(err, KH_EFORMAT, "%s: %s picture of %llux%llu",
                            what, format, (unsigned long long)width,
                            (unsigned long long)height);
    if (width > INT32_MAX / 4 || height > INT32_MAX / 4 ||
        width * height > limit)
        return kh_error_set(err, KH_ELIMIT,
                            "%s: %s picture of %llux%llu pixels is over the "
                            "limit of %llu pixels",
                            what, format, (unsigned long long)width,
                            (unsigned long long)height,
                            (unsigned long long)limit);
    return KH_OK;
}

/* ---- EXIF ---------------------------------------------------------------- */

static unsigned read_u16(const uint8_t *p, int big_endian) {
    return big_endian ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t read_u32(const uint8_t *p, int big_endian) {
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                            (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[1] << 8 | p[0];
}

int kh_exif_orientation(const uint8_t *app1, size_t len) {
    static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};
    if (!app1 || len < 6 || memcmp(app1, exif_id, 6) != 0)
        return 1;
    return kh_exif_tiff_orientation(app1 + 6, len - 6);
}

int kh_exif_tiff_orientation(const uint8_t *tiff, size_t tiff_len) {
    if (!tiff || tiff_len < 8)
        return 1;
    int big_endian;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        big_endian = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        big_endian = 1;
    else
        return 1;
    if (read_u16(tiff + 2, big_endian) != 42)
        return 1;
    uint32_t ifd = read_u32(tiff + 4, big_endian);
    if (ifd > tiff_len || tiff_len - ifd < 2)
        return 1;
    unsigned entries = read_u16(tiff + ifd, big_endian);
    if ((tiff_len - ifd - 2) / 12 < entries)
        return 1;
    for (unsigned i = 0; i < entries; i++) {
        const uint8_t *entry = tiff + ifd + 2 + 12 * (size_t)i;
        if (read_u16(entry, big_endian) != 0x0112)
            continue;
        unsigned type = read_u16(entry + 2, big_endian);
        uint32_t count = read_u32(entry + 4, big_endian);
        if (type != 3 || count < 1)
            return 1;
        unsigned value = read_u16(entry + 8, big_endian);
        return value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

int kh_image_orient(kh_image *img, int orientation, kh_error *err) {
    if (orientation <= 1 || orientation > 8)
        return KH_OK;
    const int w = img->width, h = img->height, c = img->channels;
    const int swaps = orientation >= 5; /* 5..8 turn the picture by 90 deg */
    kh_image out;
    int rc = kh_image_alloc(&out, swaps ? h : w, swaps ? w : h, c, err);
    if (rc)
        return rc;
    for (int y = 0; y < out.height; y++) {
        for (int x = 0; x < out.width; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            memcpy(out.pixels + ((size_t)y * out.width + x) * c,
                   img->pixels + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    }
    kh_image_free(img);
    *img = out;
    return KH_OK;
}

/* Turns a decoded picture upright. orig_w x orig_h (either may be NULL)
 * receive the stored width x height as seen upright. */
static int orient_decoded(kh_image *img, int orientation, unsigned width,
                          unsigned height, int *orig_w, int *orig_h,
                          const char *what, kh_error *err) {
    const int swaps = orientation >= 5;
    if (orig_w)
        *orig_w = (int)(swaps ? height : width);
    if (orig_h)
        *orig_h = (int)(swaps ? width : height);
    int rc = kh_image_orient(img, orientation, err);
    if (rc)
        kh_error_prefix(err, "%s", what);
    return rc;
}

/* ---- JPEG ---------------------------------------------------------------- */

/* libjpeg pads a truncated stream with an end marker and carries on, giving
 * a gray tail; that is a broken file, so this warning becomes an error. Other
 * warnings (stray bytes between markers) are common in real photos and
 * harmless. Nothing is printed either way. */
static void jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF)
            kh_jpeg_fail(cinfo);
    }
}

typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    kh_jpeg_failure failure;
    kh_image img;
    uint8_t *row; /* CMYK scanline */
} jpeg_job;

static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, int width,
                        int inverted) {
    for (int x = 0; x < width; x++) {
        int c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2],
            k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        /* Adobe stores ink inverted: stored value 255 means no ink. */
        rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
        rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        rgb[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

static int decode_jpeg(const void *data, size_t len, const char *what,
                       const kh_decode_options *opts, kh_image *img,
                       float *scale_out, int *orig_w, int *orig_h,
                       kh_error *err) {
    jpeg_job *job = calloc(1, sizeof *job);
    if (!job)
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    int rc = KH_OK;
    cinfo->err = jpeg_std_error(&job->failure.mgr);
    job->failure.mgr.error_exit = kh_jpeg_fail;
    job->failure.mgr.emit_message = jpeg_message;
    if (setjmp(job->failure.jump)) {
        rc = kh_error_set(err, KH_EFORMAT, "%s: JPEG: %s", what,
                          job->failure.message);
        goto done;
    }
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)len);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);

    rc = check_size(what, "JPEG", cinfo->image_width, cinfo->image_height,
                    max_pixels_of(opts), err);
    if (rc)
        goto done;

    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) {
            orientation = kh_exif_orientation(m->data, m->data_length);
            if (orientation != 1)
                break;
        }

    const int channels = wanted_channels(opts);
    const int cmyk = cinfo->jpeg_color_space == JCS_CMYK ||
                     cinfo->jpeg_color_space == JCS_YCCK;
    if (cmyk)
        cinfo->out_color_space = JCS_CMYK;
    else
        cinfo->out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;

    /* DCT scaling: the largest reduction (1/8 .. 1) that keeps the shorter
     * side at or above the hint. */
    unsigned denom = 1;
    if (opts && opts->min_side_hint > 0) {
        unsigned shorter = cinfo->image_width < cinfo->image_height
                               ? cinfo->image_width
                               : cinfo->image_height;
        while (denom < 8 && shorter / (denom * 2) >= (unsigned)opts->min_side_hint)
            denom *= 2;
    }
    cinfo->scale_num = 1;
    cinfo->scale_denom = denom;
    cinfo->dct_method = JDCT_ISLOW;
    jpeg_start_decompress(cinfo);

    rc = kh_image_alloc(&job->img, (int)cinfo->output_width,
                        (int)cinfo->output_height, channels, err);
    if (rc) {
        kh_error_prefix(err, "%s", what);
        goto done;
    }
    if (cmyk || (int)cinfo->output_components != channels) {
        size_t row_bytes = (size_t)cinfo->output_width * cinfo->output_components;
        job->row = malloc(row_bytes);
        if (!job->row) {
            rc = kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
            goto done;
        }
    }
    const int inverted = cinfo->saw_Adobe_marker;
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *dst = job->img.pixels + (size_t)cinfo->output_scanline *
                                             cinfo->output_width * channels;
        JSAMPROW rows[1] = {job->row ? job->row : dst};
        jpeg_read_scanlines(cinfo, rows, 1);
        if (!job->row)
            continue;
        if (cmyk && channels == 3) {
            cmyk_to_rgb(job->row, dst, (int)cinfo->output_width, inverted);
        } else if (cmyk) {
            uint8_t rgb[3];
            for (unsigned x = 0; x < cinfo->output_width; x++) {
                cmyk_to_rgb(job->row + 4 * x, rgb, 1, inverted);
                dst[x] = (uint8_t)((77 * rgb[0] + 150 * rgb[1] + 29 * rgb[2] +
                                    128) >> 8);
            }
        } else {
            /* Components differ from what we asked (never with libjpeg-turbo,
             * which converts gray<->RGB itself): refuse rather than guess. */
            rc = kh_error_set(err, KH_EUNSUPPORTED,
                              "%s: JPEG: %d colour components, wanted %d",
                              what, cinfo->output_components, channels);
            goto done;
        }
    }
    jpeg_finish_decompress(cinfo);

    if (scale_out)
        *scale_out = (float)cinfo->image_width / (float)cinfo->output_width;
    rc = orient_decoded(&job->img, orientation, cinfo->image_width,
                        cinfo->image_height, orig_w, orig_h, what, err);
    if (rc)
        goto done;
    *img = job->img;
    job->img.pixels = NULL;
done:
    jpeg_destroy_decompress(cinfo);
    kh_image_free(&job->img);
    free(job->row);
    free(job);
    return rc;
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct png_job {
    const char *what;
    const uint8_t *data;
    size_t len, pos;
    kh_png_failure failure;
    kh_image img;
    png_bytep *rows;
} png_job;

static void png_read_memory(png_structp png, png_bytep out, size_t n) {
    png_job *job = png_get_io_ptr(png);
    if (job->len - job->pos < n) {
        png_error(png, "file ends early (truncated)");
        return;
    }
    memcpy(out, job->data + job->pos, n);
    job->pos += n;
}

/* EXIF orientation from the eXIf chunk (PNG 1.2 extension, TIFF without
 * JPEG's "Exif\0\0" prefix); 1 without one. libpng drops a malformed chunk
 * with a warning, which kh_png_warn keeps quiet. */
static int png_orientation(png_structp png, png_infop info) {
    png_uint_32 len = 0;
    png_bytep exif = NULL;
    if (!(png_get_eXIf_1(png, info, &len, &exif) & PNG_INFO_eXIf))
        return 1;
    return kh_exif_tiff_orientation(exif, len);
}

static int decode_png(const void *data, size_t len, const char *what,
                      const kh_decode_options *opts, kh_image *img,
                      float *scale_out, int *orig_w, int *orig_h,
                      kh_error *err) {
    png_job *job = calloc(1, sizeof *job);
    if (!job)
        return kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
    job->what = what;
    job->data = data;
    job->len = len;
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &job->failure,
                               kh_png_fail, kh_png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = KH_OK;
    if (!png || !info) {
        rc = kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = kh_error_set(err, KH_EFORMAT, "%s: PNG: %s", what,
                          job->failure.message);
        goto done;
    }
    png_set_read_fn(png, job, png_read_memory);
    /* libpng's own ceiling sits far above ours; ours is checked below. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    rc = check_size(what, "PNG", width, height, max_pixels_of(opts), err);
    if (rc)
        goto done;

    const int channels = wanted_channels(opts);
    const int color_type = png_get_color_type(png, info);
    png_set_strip_16(png);
    png_set_packing(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
    const int is_color = (color_type & PNG_COLOR_MASK_COLOR) != 0;
    if (channels == 3 && !is_color)
        png_set_gray_to_rgb(png);
    if (channels == 1 && is_color)
        png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if ((int)png_get_channels(png, info) != channels ||
        png_get_bit_depth(png, info) != 8) {
        rc = kh_error_set(err, KH_EUNSUPPORTED,
                          "%s: PNG: %d channels of %d bits after conversion",
                          what, png_get_channels(png, info),
                          png_get_bit_depth(png, info));
        goto done;
    }
    rc = kh_image_alloc(&job->img, (int)width, (int)height, channels, err);
    if (rc) {
        kh_error_prefix(err, "%s", what);
        goto done;
    }
    job->rows = malloc(sizeof *job->rows * height);
    if (!job->rows) {
        rc = kh_error_set(err, KH_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    for (png_uint_32 y = 0; y < height; y++)
        job->rows[y] = job->img.pixels + (size_t)y * width * channels;
    png_read_image(png, job->rows);
    /* Into info, not NULL: an eXIf chunk may also follow the pixels. */
    png_read_end(png, info);
    if (scale_out)
        *scale_out = 1.0f;
    rc = orient_decoded(&job->img, png_orientation(png, info), width, height,
                        orig_w, orig_h, what, err);
    if (rc)
        goto done;
    *img = job->img;
    job->img.pixels = NULL;
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    kh_image_free(&job->img);
    free(job->rows);
    free(job);
    return rc;
}

/* ---- entry points -------------------------------------------------------- */

int kh_image_decode(const void *data, size_t len, const char *what,
                    const kh_decode_options *opts, kh_image *img,
                    float *scale_out, int *orig_w, int *orig_h,
                    kh_error *err) {
    if (!what)
        what = "picture";
    if (!data || !img)
        return kh_error_set(err, KH_EINVAL, "%s: no data", what);
    const uint8_t *bytes = data;
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G',
                                             '\r', '\n', 0x1a, '\n'};
    if (len >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        return decode_jpeg(data, len, what, opts, img, scale_out, orig_w,
                           orig_h, err);
    if (len >= 8 && memcmp(bytes, png_signature, 8) == 0)
        return decode_png(data, len, what, opts, img, scale_out, orig_w,
                          orig_h, err);
    return kh_error_set(err, KH_EUNSUPPORTED,
                        "%s: not a JPEG or PNG picture (%zu bytes)", what, len);
}

int kh_image_load(const char *path, const kh_decode_options *opts,
                  kh_image *img, float *scale_out, int *orig_w, int *orig_h,
                  kh_error *err) {
    /* A compressed picture is far smaller than its pixels: the pixel limit
     * bounds the file we are willing to read too. */
    const uint64_t max_pixels = max_pixels_of(opts);
    const uint64_t max_bytes = max_pixels < (UINT64_MAX >> 3)
                                   ? 4 * max_pixels + (1u << 20)
                                   : UINT64_MAX;
    uint8_t *bytes;
    size_t len;
    int rc = kh_vision_read_file(
        path, max_bytes < SIZE_MAX ? (size_t)max_bytes : SIZE_MAX, &bytes,
        &len, err);
    if (rc)
        return rc;
    rc = kh_image_decode(bytes, len, path, opts, img, scale_out, orig_w,
                         orig_h, err);
    free(bytes);
    return rc;
}
