/* png_failure.h - libpng error handling shared by the decoder and the
 * encoder (vision-internal). libpng's default handlers print to stderr;
 * ours keep the error's message and longjmp back to png_jmpbuf, where the
 * caller frees what it holds and reports a kh_error, and keep warnings
 * quiet (library code never prints). Give libpng a kh_png_failure as its
 * error pointer. */
#ifndef KH_VISION_PNG_FAILURE_H
#define KH_VISION_PNG_FAILURE_H

#include <stdio.h>

#include <png.h>

typedef struct kh_png_failure {
    char message[256];
} kh_png_failure;

static inline void kh_png_fail(png_structp png, png_const_charp msg) {
    kh_png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    png_longjmp(png, 1);
}

static inline void kh_png_warn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

#endif
