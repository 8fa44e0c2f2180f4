/* encode.c - kh_image to PNG (libpng) or JPEG (libjpeg), in memory. */
#include "vision/image.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "common/text.h"
#include "vision/jpeg_failure.h"
#include "vision/png_failure.h"

typedef struct png_sink {
    kh_text bytes; /* the PNG so far: binary, kh_text is only the growable
                      buffer; the NUL it keeps after the end lies outside
                      out_len */
    kh_png_failure failure;
} png_sink;

static void sink_write(png_structp png, png_bytep bytes, size_t n) {
    png_sink *sink = png_get_io_ptr(png);
    kh_text_append(&sink->bytes, bytes, n);
    if (sink->bytes.failed)
        png_error(png, "out of memory");
}

static void sink_flush(png_structp png) { (void)png; }

static int check_image(const kh_image *img, kh_error *err) {
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3))
        return kh_error_set(err, KH_EINVAL, "no picture to encode");
    return KH_OK;
}

int kh_image_encode_png(const kh_image *img, uint8_t **out, size_t *out_len,
                        kh_error *err) {
    return kh_image_encode_png_level(img, -1, out, out_len, err);
}

int kh_image_encode_png_level(const kh_image *img, int level, uint8_t **out,
                              size_t *out_len, kh_error *err) {
    int rc = check_image(img, err);
    if (rc)
        return rc;
    if (level < -1 || level > 9)
        return kh_error_set(err, KH_EINVAL, "PNG: compression level %d is "
                            "not -1..9", level);
    png_sink *sink = calloc(1, sizeof *sink);
    if (!sink)
        return kh_error_set(err, KH_ENOMEM, "PNG: out of memory");
    png_structp png = png_create_write_struct(
        PNG_LIBPNG_VER_STRING, &sink->failure, kh_png_fail, kh_png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        rc = kh_error_set(err, KH_ENOMEM, "PNG: out of memory");
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = kh_error_set(err, sink->bytes.failed ? KH_ENOMEM : KH_EINTERNAL,
                          "PNG: %s", sink->failure.message);
        goto done;
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    if (level >= 0)
        png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height,
                 8, img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t row = (size_t)img->width * img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + y * row);
    png_write_end(png, NULL);
    *out = (uint8_t *)kh_text_take(&sink->bytes, out_len);
    if (!*out)
        rc = kh_error_set(err, KH_ENOMEM, "PNG: out of memory");
done:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    kh_text_free(&sink->bytes);
    free(sink);
    return rc;
}

static void jpeg_encode_message(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

typedef struct jpeg_encode_job {
    struct jpeg_compress_struct cinfo;
    kh_jpeg_failure failure;
    unsigned char *buffer;
    unsigned long size;
} jpeg_encode_job;

int kh_image_encode_jpeg(const kh_image *img, int quality, uint8_t **out,
                         size_t *out_len, kh_error *err) {
    int rc = check_image(img, err);
    if (rc)
        return rc;
    jpeg_encode_job *job = calloc(1, sizeof *job);
    if (!job)
        return kh_error_set(err, KH_ENOMEM, "JPEG: out of memory");
    struct jpeg_compress_struct *cinfo = &job->cinfo;
    cinfo->err = jpeg_std_error(&job->failure.mgr);
    job->failure.mgr.error_exit = kh_jpeg_fail;
    job->failure.mgr.emit_message = jpeg_encode_message;
    if (setjmp(job->failure.jump)) {
        rc = kh_error_set(err, KH_EINTERNAL, "JPEG: %s", job->failure.message);
        goto done;
    }
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &job->buffer, &job->size);
    cinfo->image_width = (JDIMENSION)img->width;
    cinfo->image_height = (JDIMENSION)img->height;
    cinfo->input_components = img->channels;
    cinfo->in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality,
                     TRUE);
    jpeg_start_compress(cinfo, TRUE);
    const size_t row = (size_t)img->width * img->channels;
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW rows[1] = {img->pixels + cinfo->next_scanline * row};
        jpeg_write_scanlines(cinfo, rows, 1);
    }
    jpeg_finish_compress(cinfo);
    /* jpeg_mem_dest's buffer comes from malloc: hand it over as it is. */
    *out = job->buffer;
    *out_len = job->size;
    job->buffer = NULL;
done:
    jpeg_destroy_compress(cinfo);
    free(job->buffer);
    free(job);
    return rc;
}

static int ends_with_png(const char *path) {
    size_t n = strlen(path);
    if (n < 4)
        return 0;
    const char *ext = path + n - 4;
    return ext[0] == '.' && tolower((unsigned char)ext[1]) == 'p' &&
           tolower((unsigned char)ext[2]) == 'n' &&
           tolower((unsigned char)ext[3]) == 'g';
}

int kh_image_save(const kh_image *img, const char *path, kh_error *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = ends_with_png(path) ? kh_image_encode_png(img, &bytes, &len, err)
                                 : kh_image_encode_jpeg(img, 90, &bytes, &len,
                                                        err);
    if (rc)
        return kh_error_prefix(err, "%s", path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(bytes);
        return kh_error_set(err, KH_EIO, "%s: cannot create", path);
    }
    size_t written = fwrite(bytes, 1, len, f);
    int closed = fclose(f);
    free(bytes);
    if (written != len || closed != 0)
        return kh_error_set(err, KH_EIO, "%s: write failed", path);
    return KH_OK;
}
