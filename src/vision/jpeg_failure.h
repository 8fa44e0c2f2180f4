/* jpeg_failure.h - libjpeg error handling shared by the decoder and the
 * encoder (vision-internal). libjpeg's default error_exit prints and calls
 * exit(); ours keeps the message and longjmps back to the caller, which
 * frees what it holds and reports a kh_error. */
#ifndef KH_VISION_JPEG_FAILURE_H
#define KH_VISION_JPEG_FAILURE_H

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>

typedef struct kh_jpeg_failure {
    struct jpeg_error_mgr mgr; /* first: libjpeg sees only this */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} kh_jpeg_failure;

static inline void kh_jpeg_fail(j_common_ptr cinfo) {
    kh_jpeg_failure *f = (kh_jpeg_failure *)cinfo->err;
    f->mgr.format_message(cinfo, f->message);
    longjmp(f->jump, 1);
}

#endif
