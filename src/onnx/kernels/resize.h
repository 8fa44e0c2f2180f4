/* resize.h - N-d resampling for Resize and Upsample: nearest, (multi)linear
 * and cubic interpolation with every ONNX coordinate transformation.
 *
 * Each axis gets a table: for each output coordinate, up to 4 input indices
 * (edge-clamped) with weights, as the ONNX reference computes them. An
 * output value is the weighted sum over the product of its axes' taps;
 * axes that are not resized contribute one tap.
 */
#ifndef KH_ONNX_KERNELS_RESIZE_H
#define KH_ONNX_KERNELS_RESIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx/op.h"

typedef enum resize_mode { RESIZE_NEAREST, RESIZE_LINEAR, RESIZE_CUBIC } resize_mode;

typedef enum resize_coord {
    RESIZE_HALF_PIXEL,
    RESIZE_HALF_PIXEL_SYMMETRIC,
    RESIZE_PYTORCH_HALF_PIXEL,
    RESIZE_ALIGN_CORNERS,
    RESIZE_ASYMMETRIC,
    RESIZE_TF_HALF_PIXEL_FOR_NN,
    RESIZE_TF_CROP_AND_RESIZE,
} resize_coord;

typedef enum resize_nearest {
    RESIZE_ROUND_PREFER_FLOOR,
    RESIZE_ROUND_PREFER_CEIL,
    RESIZE_FLOOR,
    RESIZE_CEIL,
    RESIZE_SIMPLE, /* Upsample / Resize-10: floor when enlarging, ceil when shrinking */
} resize_nearest;

typedef struct resize_params {
    resize_mode mode;
    resize_coord coord;
    resize_nearest nearest;
    float cubic_a;          /* cubic_coeff_a */
    bool exclude_outside;
    float extrapolation;    /* tf_crop_and_resize outside the image */
    int rank;
    int64_t in[ONNX_MAX_RANK], out[ONNX_MAX_RANK];
    double scale[ONNX_MAX_RANK];
    double roi_start[ONNX_MAX_RANK], roi_end[ONNX_MAX_RANK]; /* tf_crop_and_resize */
} resize_params;

/* Parses the attribute strings; KH_EUNSUPPORTED / KH_EINVAL naming the
 * value otherwise. */
int resize_parse_mode(const char *s, resize_mode *out, kh_error *err);
int resize_parse_coord(const char *s, resize_coord *out, kh_error *err);
int resize_parse_nearest(const char *s, resize_nearest *out, kh_error *err);

/* Scratch bytes for the axis tables of p (in/out/mode set). */
size_t resize_scratch_bytes(const resize_params *p);

/* y = resize(x); scratch holds resize_scratch_bytes(p). Threads over the
 * output. */
void resize_run(const onnx_exec *ex, const resize_params *p, const float *x,
                float *y, void *scratch);

#endif
