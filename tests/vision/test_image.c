/* Decoding edge cases, geometry, the TF bilinear resize, encoding, drawing.
 * Test pictures are made here with libjpeg and libpng. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>

#include "vision/image.h"

/* ---- making JPEGs ---------------------------------------------------------- */

typedef struct jpeg_spec {
    int width, height;
    int components;          /* 1 gray, 3 RGB, 4 CMYK */
    J_COLOR_SPACE stored_as; /* JCS_UNKNOWN: libjpeg's default */
    int progressive;
    const uint8_t *app1;     /* EXIF payload written as APP1, or NULL */
    size_t app1_len;
} jpeg_spec;

/* Quadrant colours of the test pictures: top-left red, top-right green,
 * bottom-left blue, bottom-right white. */
static const uint8_t quadrant_rgb[4][3] = {
    {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

static int quadrant_of(int x, int y, int w, int h) {
    return (y >= h / 2) * 2 + (x >= w / 2);
}

static uint8_t *make_jpeg(const jpeg_spec *s, size_t *len) {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    unsigned char *buf = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = (JDIMENSION)s->width;
    cinfo.image_height = (JDIMENSION)s->height;
    cinfo.input_components = s->components;
    cinfo.in_color_space = s->components == 1   ? JCS_GRAYSCALE
                           : s->components == 4 ? JCS_CMYK
                                                : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    if (s->stored_as != JCS_UNKNOWN)
        jpeg_set_colorspace(&cinfo, s->stored_as);
    jpeg_set_quality(&cinfo, 100, TRUE);
    if (s->progressive)
        jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    if (s->app1)
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, s->app1,
                          (unsigned)s->app1_len);
    uint8_t *row = malloc((size_t)s->width * s->components);
    while (cinfo.next_scanline < cinfo.image_height) {
        int y = (int)cinfo.next_scanline;
        for (int x = 0; x < s->width; x++) {
            const uint8_t *rgb = quadrant_rgb[quadrant_of(x, y, s->width,
                                                          s->height)];
            uint8_t *p = row + (size_t)x * s->components;
            if (s->components == 1) {
                p[0] = (uint8_t)(quadrant_of(x, y, s->width, s->height) * 80);
            } else if (s->components == 3) {
                memcpy(p, rgb, 3);
            } else {
                /* Adobe CMYK as Photoshop writes it: inverted ink, so the
                 * stored value is 255 - ink = the RGB level. K stored 255. */
                p[0] = rgb[0];
                p[1] = rgb[1];
                p[2] = rgb[2];
                p[3] = 255;
            }
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(row);
    *len = size;
    return buf;
}

/* An EXIF APP1 payload with one IFD0 entry: Orientation = value. */
static size_t make_exif(uint8_t *out, int orientation, int big_endian) {
    uint8_t *p = out;
    memcpy(p, "Exif\0\0", 6);
    p += 6;
    const uint8_t *tiff = p;
#define PUT16(v)                                                               \
    do {                                                                       \
        unsigned v_ = (v);                                                     \
        if (big_endian) { *p++ = (uint8_t)(v_ >> 8); *p++ = (uint8_t)v_; }     \
        else { *p++ = (uint8_t)v_; *p++ = (uint8_t)(v_ >> 8); }                \
    } while (0)
#define PUT32(v)                                                               \
    do {                                                                       \
        uint32_t w_ = (v);                                                     \
        if (big_endian) { PUT16(w_ >> 16); PUT16(w_ & 0xFFFF); }               \
        else { PUT16(w_ & 0xFFFF); PUT16(w_ >> 16); }                          \
    } while (0)
    *p++ = big_endian ? 'M' : 'I';
    *p++ = big_endian ? 'M' : 'I';
    PUT16(42);
    PUT32(8);       /* IFD0 right after the header */
    PUT16(2);       /* two entries: an unrelated one first */
    PUT16(0x010F);  /* Make, ASCII, 4 bytes inline */
    PUT16(2);
    PUT32(4);
    *p++ = 'k'; *p++ = 'h'; *p++ = 'y'; *p++ = 0;
    PUT16(0x0112);  /* Orientation, SHORT, 1 */
    PUT16(3);
    PUT32(1);
    PUT16((unsigned)orientation);
    PUT16(0);
    PUT32(0);       /* no next IFD */
#undef PUT16
#undef PUT32
    (void)tiff;
    return (size_t)(p - out);
}

static void expect_rgb_near(const kh_image *img, int x, int y,
                            const uint8_t want[3], int tolerance) {
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    for (int k = 0; k < 3; k++) {
        int diff = abs((int)p[k] - (int)want[k]);
        if (diff > tolerance)
            fail_msg("pixel (%d,%d) channel %d: got %d, want %d (+-%d)", x, y,
                     k, p[k], want[k], tolerance);
    }
}

/* Expected quadrant (TL, TR, BL, BR) after each EXIF orientation of a
 * picture whose quadrants are 0 1 / 2 3, written out from the EXIF
 * definitions rather than computed. */
static const int oriented_quadrants[9][4] = {
    {0, 0, 0, 0}, /* unused */
    {0, 1, 2, 3}, /* 1 as stored */
    {1, 0, 3, 2}, /* 2 mirrored left-right */
    {3, 2, 1, 0}, /* 3 turned 180 */
    {2, 3, 0, 1}, /* 4 mirrored top-bottom */
    {0, 2, 1, 3}, /* 5 transposed */
    {2, 0, 3, 1}, /* 6 turned 90 clockwise */
    {3, 1, 2, 0}, /* 7 transversed */
    {1, 3, 0, 2}, /* 8 turned 90 counter-clockwise */
};

/* Decodes a 32x16 picture of the four quadrant colours stored with EXIF
 * orientation o and checks that it comes out upright: its size turned, the
 * original size reported as seen upright, each quadrant's colour within
 * tolerance. */
static void expect_decoded_upright(const uint8_t *data, size_t len,
                                   const char *what, int o, int tolerance) {
    kh_image img;
    int w = 0, h = 0;
    kh_error err;
    int rc = kh_image_decode(data, len, what, NULL, &img, NULL, &w, &h, &err);
    if (rc)
        fail_msg("orientation %d: %s", o, err.message);
    const int turned = o >= 5;
    assert_int_equal(img.width, turned ? 16 : 32);
    assert_int_equal(img.height, turned ? 32 : 16);
    assert_int_equal(w, img.width);
    assert_int_equal(h, img.height);
    const int xs[2] = {img.width / 4, img.width * 3 / 4};
    const int ys[2] = {img.height / 4, img.height * 3 / 4};
    for (int q = 0; q < 4; q++)
        expect_rgb_near(&img, xs[q % 2], ys[q / 2],
                        quadrant_rgb[oriented_quadrants[o][q]], tolerance);
    kh_image_free(&img);
}

static void test_exif_orientation_all_eight(void **state) {
    (void)state;
    for (int big_endian = 0; big_endian <= 1; big_endian++)
        for (int o = 1; o <= 8; o++) {
            uint8_t exif[64];
            size_t exif_len = make_exif(exif, o, big_endian);
            assert_int_equal(kh_exif_orientation(exif, exif_len), o);
            jpeg_spec spec = {32, 16, 3, JCS_UNKNOWN, 0, exif, exif_len};
            size_t len;
            uint8_t *jpeg = make_jpeg(&spec, &len);
            expect_decoded_upright(jpeg, len, "exif.jpg", o, 8);
            free(jpeg);
        }
}

static void test_exif_malformed_means_upright(void **state) {
    (void)state;
    uint8_t exif[64];
    size_t len = make_exif(exif, 6, 0);
    assert_int_equal(kh_exif_orientation(exif, len), 6);
    assert_int_equal(kh_exif_orientation(exif, 10), 1);  /* cut header */
    assert_int_equal(kh_exif_orientation(exif, 20), 1);  /* cut entries */
    assert_int_equal(kh_exif_orientation(NULL, 0), 1);
    uint8_t bad[64];
    memcpy(bad, exif, len);
    bad[6] = 'X'; /* neither II nor MM */
    assert_int_equal(kh_exif_orientation(bad, len), 1);
    memcpy(bad, exif, len);
    bad[6 + 4] = 0xF0; /* IFD offset far past the end */
    assert_int_equal(kh_exif_orientation(bad, len), 1);
    memcpy(bad, exif, len);
    bad[6 + 8] = 0xFF; /* entry count larger than the payload */
    assert_int_equal(kh_exif_orientation(bad, len), 1);
    len = make_exif(exif, 9, 1); /* out of range */
    assert_int_equal(kh_exif_orientation(exif, len), 1);
}

static void test_progressive_jpeg_matches_baseline(void **state) {
    (void)state;
    jpeg_spec base = {48, 32, 3, JCS_UNKNOWN, 0, NULL, 0};
    jpeg_spec prog = base;
    prog.progressive = 1;
    size_t base_len, prog_len;
    uint8_t *a = make_jpeg(&base, &base_len);
    uint8_t *b = make_jpeg(&prog, &prog_len);
    assert_memory_not_equal(a, b, base_len < prog_len ? base_len : prog_len);
    kh_image ia, ib;
    kh_error err;
    assert_int_equal(kh_image_decode(a, base_len, "a", NULL, &ia, NULL, NULL,
                                     NULL, &err), KH_OK);
    assert_int_equal(kh_image_decode(b, prog_len, "b", NULL, &ib, NULL, NULL,
                                     NULL, &err), KH_OK);
    assert_int_equal(ib.width, 48);
    assert_int_equal(ib.height, 32);
    for (size_t i = 0; i < (size_t)48 * 32 * 3; i++)
        if (abs((int)ia.pixels[i] - (int)ib.pixels[i]) > 2)
            fail_msg("byte %zu: baseline %d progressive %d", i, ia.pixels[i],
                     ib.pixels[i]);
    kh_image_free(&ia);
    kh_image_free(&ib);
    free(a);
    free(b);
}

static void test_gray_jpeg_to_rgb_and_gray(void **state) {
    (void)state;
    jpeg_spec spec = {32, 32, 1, JCS_UNKNOWN, 0, NULL, 0};
    size_t len;
    uint8_t *jpeg = make_jpeg(&spec, &len);
    kh_image rgb, gray;
    kh_error err;
    assert_int_equal(kh_image_decode(jpeg, len, "g", NULL, &rgb, NULL, NULL,
                                     NULL, &err), KH_OK);
    assert_int_equal(rgb.channels, 3);
    kh_decode_options one = {.channels = 1};
    assert_int_equal(kh_image_decode(jpeg, len, "g", &one, &gray, NULL, NULL,
                                     NULL, &err), KH_OK);
    assert_int_equal(gray.channels, 1);
    /* Bottom-right quadrant was written as 3 * 80 = 240. */
    const uint8_t *p = rgb.pixels + ((size_t)24 * 32 + 24) * 3;
    assert_int_equal(p[0], p[1]);
    assert_int_equal(p[1], p[2]);
    assert_in_range(p[0], 236, 244);
    assert_in_range(gray.pixels[24 * 32 + 24], 236, 244);
    assert_in_range(gray.pixels[8 * 32 + 8], 0, 4);
    kh_image_free(&rgb);
    kh_image_free(&gray);
    free(jpeg);
}

static void test_cmyk_and_ycck_jpeg(void **state) {
    (void)state;
    const J_COLOR_SPACE stored[2] = {JCS_CMYK, JCS_YCCK};
    for (int i = 0; i < 2; i++) {
        jpeg_spec spec = {32, 32, 4, stored[i], 0, NULL, 0};
        size_t len;
        uint8_t *jpeg = make_jpeg(&spec, &len);
        kh_image img;
        kh_error err;
        int rc = kh_image_decode(jpeg, len, "cmyk.jpg", NULL, &img, NULL, NULL,
                                 NULL, &err);
        if (rc)
            fail_msg("%s: %s", i ? "YCCK" : "CMYK", err.message);
        assert_int_equal(img.channels, 3);
        for (int q = 0; q < 4; q++)
            expect_rgb_near(&img, q % 2 ? 24 : 8, q / 2 ? 24 : 8,
                            quadrant_rgb[q], 10);
        kh_image_free(&img);
        kh_decode_options one = {.channels = 1};
        assert_int_equal(kh_image_decode(jpeg, len, "cmyk.jpg", &one, &img,
                                         NULL, NULL, NULL, &err), KH_OK);
        assert_int_equal(img.channels, 1);
        assert_in_range(img.pixels[24 * 32 + 24], 245, 255); /* white */
        kh_image_free(&img);
        free(jpeg);
    }
}

static void test_dct_scaling_reports_scale(void **state) {
    (void)state;
    jpeg_spec spec = {64, 48, 3, JCS_UNKNOWN, 0, NULL, 0};
    size_t len;
    uint8_t *jpeg = make_jpeg(&spec, &len);
    kh_decode_options opts = {.min_side_hint = 12};
    kh_image img;
    float scale = 0;
    int w = 0, h = 0;
    kh_error err;
    assert_int_equal(kh_image_decode(jpeg, len, "s", &opts, &img, &scale, &w,
                                     &h, &err), KH_OK);
    assert_int_equal(img.width, 16);
    assert_int_equal(img.height, 12);
    assert_true(scale == 4.0f);
    assert_int_equal(w, 64);
    assert_int_equal(h, 48);
    kh_image_free(&img);
    opts.min_side_hint = 100; /* more than the picture has: no scaling */
    assert_int_equal(kh_image_decode(jpeg, len, "s", &opts, &img, &scale, NULL,
                                     NULL, &err), KH_OK);
    assert_int_equal(img.width, 64);
    assert_true(scale == 1.0f);
    kh_image_free(&img);
    free(jpeg);
}

/* ---- failures ------------------------------------------------------------- */

static void expect_failure(const uint8_t *data, size_t len,
                           const kh_decode_options *opts, int code,
                           const char *needle) {
    kh_image img = {0};
    kh_error err = {0};
    int rc = kh_image_decode(data, len, "bad.pic", opts, &img, NULL, NULL,
                             NULL, &err);
    if (rc != code)
        fail_msg("got %d (%s), want %d", rc, err.message, code);
    assert_null(img.pixels);
    if (!strstr(err.message, "bad.pic"))
        fail_msg("message does not name the file: %s", err.message);
    if (needle && !strstr(err.message, needle))
        fail_msg("message lacks '%s': %s", needle, err.message);
}

static void test_truncated_and_corrupt_jpeg(void **state) {
    (void)state;
    jpeg_spec spec = {64, 64, 3, JCS_UNKNOWN, 0, NULL, 0};
    size_t len;
    uint8_t *jpeg = make_jpeg(&spec, &len);
    expect_failure(jpeg, len / 2, NULL, KH_EFORMAT, "JPEG");
    expect_failure(jpeg, 40, NULL, KH_EFORMAT, "JPEG");
    expect_failure(jpeg, 3, NULL, KH_EFORMAT, "JPEG");
    uint8_t *bad = malloc(len);
    memcpy(bad, jpeg, len);
    /* A frame header claiming zero rows. */
    size_t sof = 2;
    while (sof + 8 < len && !(bad[sof] == 0xFF && bad[sof + 1] == 0xC0))
        sof++;
    assert_true(sof + 8 < len);
    bad[sof + 5] = 0;
    bad[sof + 6] = 0;
    expect_failure(bad, len, NULL, KH_EFORMAT, "JPEG");
    /* Progressive truncated in the middle of its scans. */
    spec.progressive = 1;
    size_t plen;
    uint8_t *prog = make_jpeg(&spec, &plen);
    expect_failure(prog, plen * 2 / 3, NULL, KH_EFORMAT, "JPEG");
    free(prog);
    free(bad);
    free(jpeg);
}

static void test_unknown_format_and_empty(void **state) {
    (void)state;
    const uint8_t gif[] = "GIF89a....";
    expect_failure(gif, sizeof gif, NULL, KH_EUNSUPPORTED, "not a JPEG or PNG");
    expect_failure(gif, 0, NULL, KH_EUNSUPPORTED, NULL);
}

static void test_pixel_limit_checked_from_header(void **state) {
    (void)state;
    jpeg_spec spec = {64, 64, 3, JCS_UNKNOWN, 0, NULL, 0};
    size_t len;
    uint8_t *jpeg = make_jpeg(&spec, &len);
    kh_decode_options opts = {.max_pixels = 64 * 64 - 1};
    expect_failure(jpeg, len, &opts, KH_ELIMIT, "limit");
    /* With the header alone (cut right after the start-of-scan marker)
     * the limit is what stops it: checked before any pixel data. */
    size_t sos = 2;
    while (sos + 1 < len && !(jpeg[sos] == 0xFF && jpeg[sos + 1] == 0xDA))
        sos++;
    assert_true(sos + 20 < len);
    expect_failure(jpeg, sos + 20, &opts, KH_ELIMIT, "limit");
    opts.max_pixels = 64 * 64;
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_decode(jpeg, len, "ok", &opts, &img, NULL, NULL,
                                     NULL, &err), KH_OK);
    kh_image_free(&img);
    free(jpeg);
}

/* ---- PNG ------------------------------------------------------------------- */

typedef struct png_buffer {
    uint8_t *data;
    size_t len, cap;
} png_buffer;

static void png_buffer_write(png_structp png, png_bytep bytes, size_t n) {
    png_buffer *b = png_get_io_ptr(png);
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

static void png_buffer_flush(png_structp png) { (void)png; }

/* rows: height rows of width * samples * (depth / 8) bytes each. */
static uint8_t *make_png(int width, int height, int color_type, int depth,
                         int interlace, const uint8_t *pixels,
                         const png_color *palette, int palette_n,
                         const uint8_t *trns, int trns_n, size_t *len) {
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_buffer b = {0};
    png_set_write_fn(png, &b, png_buffer_write, png_buffer_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, depth,
                 color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, palette_n);
    if (trns)
        png_set_tRNS(png, info, trns, trns_n, NULL);
    png_write_info(png, info);
    int samples = color_type == PNG_COLOR_TYPE_RGB          ? 3
                  : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                  : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                            : 1;
    size_t row_bytes = ((size_t)width * samples * depth + 7) / 8;
    png_bytep *rows = malloc(sizeof *rows * height);
    for (int y = 0; y < height; y++)
        rows[y] = (png_bytep)pixels + y * row_bytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *len = b.len;
    return b.data;
}

static kh_image decode_ok(const uint8_t *data, size_t len, int channels) {
    kh_decode_options opts = {.channels = channels};
    kh_image img = {0};
    kh_error err;
    int rc = kh_image_decode(data, len, "t.png", &opts, &img, NULL, NULL, NULL,
                             &err);
    if (rc)
        fail_msg("decode: %s", err.message);
    return img;
}

/* A 32x16 RGB PNG of the four quadrant colours with an eXIf chunk holding
 * tiff[0..tiff_len), written before the pixels or, as PNG allows, after
 * them. */
static uint8_t *make_png_with_exif(const uint8_t *tiff, size_t tiff_len,
                                   int after_pixels, size_t *len) {
    enum { W = 32, H = 16 };
    static uint8_t pixels[H][W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(&pixels[y][x * 3], quadrant_rgb[quadrant_of(x, y, W, H)],
                   3);
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_buffer b = {0};
    png_set_write_fn(png, &b, png_buffer_write, png_buffer_flush);
    png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (!after_pixels)
        png_set_eXIf_1(png, info, (png_uint_32)tiff_len, (png_bytep)tiff);
    png_write_info(png, info);
    for (int y = 0; y < H; y++)
        png_write_row(png, pixels[y]);
    if (after_pixels)
        png_set_eXIf_1(png, info, (png_uint_32)tiff_len, (png_bytep)tiff);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *len = b.len;
    return b.data;
}

/* Offset of the first chunk of that type, or -1. */
static long chunk_offset(const uint8_t *png, size_t len, const char *type) {
    for (size_t i = 8; i + 4 <= len; i++)
        if (memcmp(png + i, type, 4) == 0)
            return (long)i;
    return -1;
}

static void test_png_exif_orientation_before_and_after_pixels(void **state) {
    (void)state;
    for (int after = 0; after <= 1; after++)
        for (int big_endian = 0; big_endian <= 1; big_endian++)
            for (int o = 1; o <= 8; o++) {
                uint8_t exif[64];
                size_t exif_len = make_exif(exif, o, big_endian);
                /* The chunk holds the TIFF structure, without "Exif\0\0". */
                const uint8_t *tiff = exif + 6;
                const size_t tiff_len = exif_len - 6;
                assert_int_equal(kh_exif_tiff_orientation(tiff, tiff_len), o);
                size_t len;
                uint8_t *png = make_png_with_exif(tiff, tiff_len, after, &len);
                long exif_at = chunk_offset(png, len, "eXIf");
                long idat_at = chunk_offset(png, len, "IDAT");
                if (exif_at < 0 || idat_at < 0 || (exif_at > idat_at) != after)
                    fail_msg("eXIf at %ld, IDAT at %ld: want eXIf %s", exif_at,
                             idat_at, after ? "after" : "before");
                expect_decoded_upright(png, len, "exif.png", o, 0);
                free(png);
            }
}

static void test_png_malformed_exif_means_upright(void **state) {
    (void)state;
    uint8_t exif[64];
    size_t exif_len = make_exif(exif, 6, 1);
    uint8_t tiff[64];
    memcpy(tiff, exif + 6, exif_len - 6);
    tiff[0] = tiff[1] = 'X'; /* neither II nor MM: libpng drops the chunk */
    size_t len;
    uint8_t *png = make_png_with_exif(tiff, exif_len - 6, 0, &len);
    kh_image img = decode_ok(png, len, 3);
    assert_int_equal(img.width, 32);
    assert_int_equal(img.height, 16);
    expect_rgb_near(&img, 24, 4, quadrant_rgb[1], 0);
    kh_image_free(&img);
    free(png);
    /* Well-formed byte order, orientation cut off: upright too. */
    memcpy(tiff, exif + 6, exif_len - 6);
    png = make_png_with_exif(tiff, 12, 0, &len);
    img = decode_ok(png, len, 3);
    assert_int_equal(img.width, 32);
    expect_rgb_near(&img, 24, 4, quadrant_rgb[1], 0);
    kh_image_free(&img);
    free(png);
}

static void test_png_alpha_is_dropped(void **state) {
    (void)state;
    const uint8_t rgba[2 * 4] = {10, 20, 30, 0, 200, 100, 50, 255};
    size_t len;
    uint8_t *png = make_png(2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL,
                            0, NULL, 0, &len);
    kh_image img = decode_ok(png, len, 3);
    const uint8_t want[6] = {10, 20, 30, 200, 100, 50};
    assert_memory_equal(img.pixels, want, 6);
    kh_image_free(&img);
    free(png);
    const uint8_t gray_alpha[2 * 2] = {77, 0, 199, 128};
    png = make_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, gray_alpha, NULL, 0,
                   NULL, 0, &len);
    img = decode_ok(png, len, 3);
    const uint8_t want_gray[6] = {77, 77, 77, 199, 199, 199};
    assert_memory_equal(img.pixels, want_gray, 6);
    kh_image_free(&img);
    free(png);
}

static void test_png_palette_with_transparency(void **state) {
    (void)state;
    const png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
    const uint8_t trns[3] = {0, 128, 255};
    const uint8_t indices[4] = {2, 0, 1, 2};
    size_t len;
    uint8_t *png = make_png(4, 1, PNG_COLOR_TYPE_PALETTE, 8, 0, indices,
                            palette, 3, trns, 3, &len);
    kh_image img = decode_ok(png, len, 3);
    const uint8_t want[12] = {1, 2, 3, 255, 0, 0, 0, 255, 0, 1, 2, 3};
    assert_memory_equal(img.pixels, want, 12);
    kh_image_free(&img);
    free(png);
    /* 2-bit palette indices, packed four to a byte. */
    const uint8_t packed[1] = {0x1B}; /* 00 01 10 11 -> 0 1 2 3 */
    const png_color four[4] = {{9, 9, 9}, {8, 8, 8}, {7, 7, 7}, {6, 6, 6}};
    png = make_png(4, 1, PNG_COLOR_TYPE_PALETTE, 2, 0, packed, four, 4, NULL,
                   0, &len);
    img = decode_ok(png, len, 1);
    const uint8_t want_gray[4] = {9, 8, 7, 6};
    assert_memory_equal(img.pixels, want_gray, 4);
    kh_image_free(&img);
    free(png);
}

static void test_png_16_bit_and_interlaced(void **state) {
    (void)state;
    /* Big-endian 16-bit samples: the high byte is what remains. */
    const uint8_t rgb16[2 * 6] = {0xAB, 0x12, 0x00, 0xFF, 0xFF, 0x00,
                                  0x01, 0x80, 0x7F, 0x7F, 0x80, 0x01};
    size_t len;
    uint8_t *png = make_png(2, 1, PNG_COLOR_TYPE_RGB, 16, 0, rgb16, NULL, 0,
                            NULL, 0, &len);
    kh_image img = decode_ok(png, len, 3);
    const uint8_t want[6] = {0xAB, 0x00, 0xFF, 0x01, 0x7F, 0x80};
    assert_memory_equal(img.pixels, want, 6);
    kh_image_free(&img);
    free(png);
    /* Adam7-interlaced 8x8 gray gradient comes back in place. */
    uint8_t gray[64];
    for (int i = 0; i < 64; i++)
        gray[i] = (uint8_t)(i * 3);
    png = make_png(8, 8, PNG_COLOR_TYPE_GRAY, 8, 1, gray, NULL, 0, NULL, 0,
                   &len);
    img = decode_ok(png, len, 1);
    assert_memory_equal(img.pixels, gray, 64);
    kh_image_free(&img);
    /* 1-bit gray expands to 0 and 255. */
    const uint8_t bits[1] = {0xA0}; /* 1 0 1 0 */
    free(png);
    png = make_png(4, 1, PNG_COLOR_TYPE_GRAY, 1, 0, bits, NULL, 0, NULL, 0,
                   &len);
    img = decode_ok(png, len, 1);
    const uint8_t want_bits[4] = {255, 0, 255, 0};
    assert_memory_equal(img.pixels, want_bits, 4);
    kh_image_free(&img);
    free(png);
}

static void test_png_truncated_corrupt_and_limit(void **state) {
    (void)state;
    uint8_t pixels[16 * 16 * 3];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 7);
    size_t len;
    uint8_t *png = make_png(16, 16, PNG_COLOR_TYPE_RGB, 8, 0, pixels, NULL, 0,
                            NULL, 0, &len);
    expect_failure(png, len - 20, NULL, KH_EFORMAT, "PNG");
    expect_failure(png, 30, NULL, KH_EFORMAT, "PNG");
    expect_failure(png, 8, NULL, KH_EFORMAT, "PNG");
    uint8_t *bad = malloc(len);
    memcpy(bad, png, len);
    bad[20] ^= 0x40; /* inside IHDR: its CRC no longer matches */
    expect_failure(bad, len, NULL, KH_EFORMAT, "PNG");
    kh_decode_options opts = {.max_pixels = 255};
    expect_failure(png, len, &opts, KH_ELIMIT, "limit");
    free(bad);
    free(png);
}

/* ---- geometry ------------------------------------------------------------- */

static void test_resize_matches_hand_computed_tf_bilinear(void **state) {
    (void)state;
    /* 2x2 -> 3x3, TF resizeBilinear(alignCorners=false, halfPixel=false):
     * scale 2/3; x = 0, 1, 2 read 0, 0.667, 1.333 (the last clamps to
     * column 1). By hand:
     *   row 0 (y 0):      0        6.6667   10
     *   row 1 (y 0.667): 13.3333  20       23.3333
     *   row 2 (y 1.333): 20       26.6667  30
     * (align-corners would give 0 5 10 / 10 15 20 / 20 25 30; half-pixel
     * centres 0 3.33 10 / ...). */
    uint8_t px[4] = {0, 10, 20, 30};
    kh_image src = {2, 2, 1, px};
    float out[9];
    kh_error err;
    assert_int_equal(kh_resize_bilinear_chw(&src, 2, 2, 0, 0, 3, 3, out, &err),
                     KH_OK);
    const float want[9] = {0.0f,     6.6667f, 10.0f,    13.3333f, 20.0f,
                           23.3333f, 20.0f,   26.6667f, 30.0f};
    for (int i = 0; i < 9; i++)
        if (out[i] < want[i] - 1e-3f || out[i] > want[i] + 1e-3f)
            fail_msg("out[%d] = %f, want %f", i, out[i], want[i]);
    /* Downscaling 4 -> 2 samples pixels 0 and 2, it does not average. */
    uint8_t row[4] = {0, 100, 200, 50};
    kh_image line = {4, 1, 1, row};
    float two[2];
    assert_int_equal(kh_resize_bilinear_chw(&line, 4, 1, 0, 0, 2, 1, two, &err),
                     KH_OK);
    assert_true(two[0] == 0.0f && two[1] == 200.0f);
}

static void test_resize_on_padded_canvas_and_planes(void **state) {
    (void)state;
    /* A 1x2 RGB picture placed at (1, 0) on a 2x2 zero canvas, same size out:
     * an exact copy into planes R, G, B. */
    uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    kh_image src = {1, 2, 3, px};
    float out[12];
    kh_error err;
    assert_int_equal(kh_resize_bilinear_chw(&src, 2, 2, 1, 0, 2, 2, out, &err),
                     KH_OK);
    const float want[12] = {0, 1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6};
    for (int i = 0; i < 12; i++)
        if (out[i] != want[i])
            fail_msg("out[%d] = %f, want %f", i, out[i], want[i]);
    assert_int_equal(kh_resize_bilinear_chw(&src, 2, 2, 0, 0, 0, 2, out, &err),
                     KH_EINVAL);
}

static void test_crop_pad_gray_and_resize(void **state) {
    (void)state;
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 4, 3, 3, &err), KH_OK);
    for (int i = 0; i < 4 * 3 * 3; i++)
        img.pixels[i] = (uint8_t)i;
    kh_image crop;
    assert_int_equal(kh_image_crop(&img, 1, 1, 2, 2, &crop, &err), KH_OK);
    const uint8_t want_crop[12] = {15, 16, 17, 18, 19, 20,
                                   27, 28, 29, 30, 31, 32};
    assert_memory_equal(crop.pixels, want_crop, 12);
    assert_int_equal(kh_image_crop(&img, 3, 0, 2, 1, &crop, &err), KH_ERANGE);
    assert_int_equal(kh_image_crop(&img, -1, 0, 1, 1, &crop, &err), KH_ERANGE);
    kh_image padded;
    assert_int_equal(kh_image_pad(&crop, 1, 0, 0, 1, 9, &padded, &err), KH_OK);
    assert_int_equal(padded.width, 3);
    assert_int_equal(padded.height, 3);
    assert_int_equal(padded.pixels[0], 9);
    assert_int_equal(padded.pixels[3 * 3], 15); /* row 1, column 0 */
    assert_int_equal(padded.pixels[(3 + 2) * 3], 9);
    kh_image gray;
    kh_image rgb = {1, 1, 3, (uint8_t[]){255, 0, 0}};
    assert_int_equal(kh_image_to_gray(&rgb, &gray, &err), KH_OK);
    assert_int_equal(gray.pixels[0], (77 * 255 + 128) >> 8);
    kh_image small;
    assert_int_equal(kh_image_resize(&img, 2, 2, &small, &err), KH_OK);
    assert_int_equal(small.pixels[0], img.pixels[0]);
    kh_image_free(&small);
    kh_image_free(&gray);
    kh_image_free(&padded);
    kh_image_free(&crop);
    kh_image_free(&img);
    kh_image_free(NULL);
    assert_int_equal(kh_image_alloc(&img, 0, 3, 3, &err), KH_EINVAL);
    assert_int_equal(kh_image_alloc(&img, 3, 3, 2, &err), KH_EINVAL);
}

/* ---- loading files ---------------------------------------------------------- */

/* A file name under $TMPDIR (or /tmp) made unique by mkstemp; the file is
 * created empty. */
static void temp_path(char *out, size_t size, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(out, size, "%s/khappy-%s-XXXXXX", dir && *dir ? dir : "/tmp", tag);
    int fd = mkstemp(out);
    if (fd < 0)
        fail_msg("mkstemp %s failed", out);
    close(fd);
}

static void test_load_reads_file_and_refuses_missing_or_huge(void **state) {
    (void)state;
    kh_image img, back = {0};
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 8, 4, 3, &err), KH_OK);
    for (int i = 0; i < 8 * 4 * 3; i++)
        img.pixels[i] = (uint8_t)(i * 7);
    char path[512];
    temp_path(path, sizeof path, "load");
    /* kh_image_save picks the format from the name; the loader by content. */
    char png_path[520];
    snprintf(png_path, sizeof png_path, "%s.png", path);
    assert_int_equal(kh_image_save(&img, png_path, &err), KH_OK);
    float scale = 0;
    int w = 0, h = 0;
    int rc = kh_image_load(png_path, NULL, &back, &scale, &w, &h, &err);
    if (rc)
        fail_msg("load %s: %s", png_path, err.message);
    assert_int_equal(w, 8);
    assert_int_equal(h, 4);
    assert_true(scale == 1.0f);
    assert_memory_equal(back.pixels, img.pixels, 8 * 4 * 3);
    kh_image_free(&back);

    /* Missing: KH_EIO (image.h), the path named. */
    assert_int_equal(kh_image_load("/nonexistent/picture.jpg", NULL, &back,
                                   NULL, NULL, NULL, &err),
                     KH_EIO);
    assert_int_equal(err.code, KH_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/picture.jpg"));

    /* A limit of one pixel allows 4 bytes + 1 MiB of file: one byte more is
     * refused before decoding. */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < 4 + (1u << 20) + 1; i++)
        fputc(0, f);
    assert_int_equal(fclose(f), 0);
    kh_decode_options tiny = {.max_pixels = 1};
    assert_int_equal(kh_image_load(path, &tiny, &back, NULL, NULL, NULL, &err),
                     KH_ELIMIT);
    if (!strstr(err.message, path) || !strstr(err.message, "limit"))
        fail_msg("message '%s' does not name %s and its limit", err.message,
                 path);
    assert_null(back.pixels);
    remove(png_path);
    remove(path);
    kh_image_free(&img);
}

/* ---- encoding and drawing ------------------------------------------------- */

static void test_png_and_jpeg_encode_round_trip(void **state) {
    (void)state;
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 16, 8, 3, &err), KH_OK);
    for (int i = 0; i < 16 * 8 * 3; i++)
        img.pixels[i] = (uint8_t)(i * 5);
    uint8_t *png, *jpeg;
    size_t png_len, jpeg_len;
    assert_int_equal(kh_image_encode_png(&img, &png, &png_len, &err), KH_OK);
    kh_image back = decode_ok(png, png_len, 3);
    assert_memory_equal(back.pixels, img.pixels, 16 * 8 * 3);
    kh_image_free(&back);
    memset(img.pixels, 120, 16 * 8 * 3);
    assert_int_equal(kh_image_encode_jpeg(&img, 95, &jpeg, &jpeg_len, &err),
                     KH_OK);
    back = decode_ok(jpeg, jpeg_len, 3);
    for (int i = 0; i < 16 * 8 * 3; i++)
        assert_in_range(back.pixels[i], 118, 122);
    kh_image_free(&back);
    kh_image empty = {0};
    assert_int_equal(kh_image_encode_png(&empty, &png, &png_len, &err),
                     KH_EINVAL);
    free(png);
    free(jpeg);
    kh_image_free(&img);
}

static void test_draw_text_and_rect_clip(void **state) {
    (void)state;
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 20, 10, 3, &err), KH_OK);
    const kh_rgb white = {255, 255, 255};
    kh_image_draw_text(&img, 0, 0, "I", 1, white);
    /* 'I' is 0x0E on its top row: columns 1..3 set, 0 and 4 clear. */
    assert_int_equal(img.pixels[0], 0);
    assert_int_equal(img.pixels[1 * 3], 255);
    assert_int_equal(img.pixels[3 * 3], 255);
    assert_int_equal(img.pixels[4 * 3], 0);
    /* Row 1 of 'I' is 0x04: only column 2. */
    assert_int_equal(img.pixels[(20 + 1) * 3], 0);
    assert_int_equal(img.pixels[(20 + 2) * 3], 255);
    int w, h;
    kh_text_size("abc", 2, &w, &h);
    assert_int_equal(w, 36);
    assert_int_equal(h, 16);
    /* Off-picture and huge shapes are clipped, never written outside. */
    kh_image_draw_rect(&img, -5, -5, 1000000, 1000000, 2, white);
    kh_image_draw_rect(&img, 2147483600, 5, 100, 100, 1, white);
    kh_image_draw_text(&img, -100, 8, "\x01\xff~", 3, white);
    /* A rectangle hanging off the top-left corner shows its right and
     * bottom edges only. */
    kh_image_draw_rect(&img, -5, -5, 10, 10, 1, white);
    assert_int_equal(img.pixels[(4 * 20 + 4) * 3], 255);
    assert_int_equal(img.pixels[(0 * 20 + 4) * 3], 255);
    assert_int_equal(img.pixels[(3 * 20 + 3) * 3], 0);
    assert_int_equal(img.pixels[(9 * 20 + 19) * 3], 0);
    kh_image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exif_orientation_all_eight),
        cmocka_unit_test(test_exif_malformed_means_upright),
        cmocka_unit_test(test_progressive_jpeg_matches_baseline),
        cmocka_unit_test(test_gray_jpeg_to_rgb_and_gray),
        cmocka_unit_test(test_cmyk_and_ycck_jpeg),
        cmocka_unit_test(test_dct_scaling_reports_scale),
        cmocka_unit_test(test_truncated_and_corrupt_jpeg),
        cmocka_unit_test(test_unknown_format_and_empty),
        cmocka_unit_test(test_pixel_limit_checked_from_header),
        cmocka_unit_test(test_png_exif_orientation_before_and_after_pixels),
        cmocka_unit_test(test_png_malformed_exif_means_upright),
        cmocka_unit_test(test_png_alpha_is_dropped),
        cmocka_unit_test(test_png_palette_with_transparency),
        cmocka_unit_test(test_png_16_bit_and_interlaced),
        cmocka_unit_test(test_png_truncated_corrupt_and_limit),
        cmocka_unit_test(test_resize_matches_hand_computed_tf_bilinear),
        cmocka_unit_test(test_resize_on_padded_canvas_and_planes),
        cmocka_unit_test(test_crop_pad_gray_and_resize),
        cmocka_unit_test(test_load_reads_file_and_refuses_missing_or_huge),
        cmocka_unit_test(test_png_and_jpeg_encode_round_trip),
        cmocka_unit_test(test_draw_text_and_rect_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
