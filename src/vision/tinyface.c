/* tinyface.c - the "tinyface" detector: face-api's TinyFaceDetector with the
 * network on khappy's ONNX engine. Each step follows face-api 1.7.15:
 *   NetInput.toBatchTensor(size, false): padToSquare at bottom/right, then
 *     tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false);
 *   the mean/255 normalisation is inside the ONNX model;
 *   TinyYolov2Base.extractBoxes: sigmoid, anchors, correction factors from
 *     computeReshapedDimensions;
 *   nonMaxSuppression on boxes rescaled to the input size, IoU 0.4;
 *   ObjectDetection: relative box times the picture's width and height. */
#include "vision/tinyface.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "vision/detector.h"

const float kh_tinyface_anchors[KH_TINYFACE_ANCHORS][2] = {
    {1.603231f, 2.094468f}, {6.041143f, 7.080126f}, {2.882459f, 3.518061f},
    {4.266906f, 5.178857f}, {9.041765f, 10.66308f},
};

void kh_tinyface_reshaped_size(int width, int height, int input_size,
                               int *reshaped_w, int *reshaped_h) {
    const double scale = (double)input_size / (width > height ? width : height);
    /* Math.round: half up. */
    *reshaped_w = (int)floor(width * scale + 0.5);
    *reshaped_h = (int)floor(height * scale + 0.5);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

size_t kh_tinyface_decode_grid(const float *grid, int cells, int input_size,
                               int reshaped_w, int reshaped_h,
                               float score_threshold, kh_box *boxes,
                               float *scores, size_t capacity) {
    const double correction_x = (double)input_size / reshaped_w;
    const double correction_y = (double)input_size / reshaped_h;
    const size_t plane = (size_t)cells * cells;
    size_t n = 0;
    for (int row = 0; row < cells; row++)
        for (int col = 0; col < cells; col++)
            for (int a = 0; a < KH_TINYFACE_ANCHORS; a++) {
                const float *field = grid + (size_t)a * 5 * plane +
                                     (size_t)row * cells + col;
                double score = sigmoid(field[4 * plane]);
                if (!(score > score_threshold) || n == capacity)
                    continue;
                double cx = (col + sigmoid(field[0])) / cells * correction_x;
                double cy = (row + sigmoid(field[plane])) / cells * correction_y;
                double w = exp(field[2 * plane]) * kh_tinyface_anchors[a][0] /
                           cells * correction_x;
                double h = exp(field[3 * plane]) * kh_tinyface_anchors[a][1] /
                           cells * correction_y;
                /* A network gone wrong (inf, NaN) must not become a box. */
                if (!isfinite(cx) || !isfinite(cy) || !isfinite(w) ||
                    !isfinite(h) || w > 1e6 || h > 1e6)
                    continue;
                boxes[n] = (kh_box){(float)(cx - w / 2), (float)(cy - h / 2),
                                    (float)w, (float)h};
                scores[n] = (float)score;
                n++;
            }
    return n;
}

float kh_box_iou(const kh_box *a, const kh_box *b) {
    double w = fmin((double)a->x + a->w, (double)b->x + b->w) -
               fmax(a->x, b->x);
    double h = fmin((double)a->y + a->h, (double)b->y + b->h) -
               fmax(a->y, b->y);
    if (w <= 0 || h <= 0)
        return 0.0f;
    double inter = w * h;
    double uni = (double)a->w * a->h + (double)b->w * b->h - inter;
    return uni > 0 ? (float)(inter / uni) : 0.0f;
}

size_t kh_nms(const kh_box *boxes, const float *scores, size_t n,
              float iou_threshold, size_t *keep, size_t *order) {
    /* Ascending by score, ties by index: a stable sort of the indices, as
     * face-api's Array.sort. Insertion sort: n is a few hundred at most. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && scores[order[j - 1]] > scores[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t remaining = n, kept = 0;
    while (remaining > 0) {
        const size_t best = order[--remaining];
        keep[kept++] = best;
        size_t survivors = 0;
        for (size_t i = 0; i < remaining; i++)
            if (kh_box_iou(&boxes[best], &boxes[order[i]]) <= iou_threshold)
                order[survivors++] = order[i];
        remaining = survivors;
    }
    return kept;
}

/* ---- the detector ---------------------------------------------------------- */

typedef struct tinyface_detector {
    kh_detector base;
    onnx_model *model;
    kh_tinyface_options options;
    int cells;
    float *input;    /* 3 * size * size */
    kh_box *boxes;   /* cells * cells * 5, relative */
    kh_box *scaled;  /* the same, in input pixels, for NMS */
    float *scores;
    size_t *keep, *order;
} tinyface_detector;

static int tinyface_detect(kh_detector *self, const kh_image *picture,
                           float scale_to_original, kh_face **faces,
                           size_t *count, kh_error *err) {
    tinyface_detector *d = self->state;
    const int size = d->options.input_size;
    *faces = NULL;
    *count = 0;
    if (picture->channels != 3)
        return kh_error_set(err, KH_EINVAL,
                            "tinyface: needs an RGB picture, got %d channel(s)",
                            picture->channels);
    const int side =
        picture->width > picture->height ? picture->width : picture->height;
    int rc = kh_resize_bilinear_chw(picture, side, side, 0, 0, size, size,
                                    d->input, err);
    if (rc)
        return kh_error_prefix(err, "tinyface");
    onnx_tensor_view input = {ONNX_FLOAT, 4, {1, 3, size, size}, d->input};
    onnx_tensor_view output;
    rc = onnx_model_run(d->model, &input, 1, &output, 1, err);
    if (rc)
        return kh_error_prefix(err, "tinyface");
    if (output.dtype != ONNX_FLOAT || output.rank != 4 || output.dims[0] != 1 ||
        output.dims[1] != 5 * KH_TINYFACE_ANCHORS ||
        output.dims[2] != d->cells || output.dims[3] != d->cells)
        return kh_error_set(err, KH_ESHAPE,
                            "tinyface: model output is %s rank %d "
                            "[%lld,%lld,%lld,%lld], expected float "
                            "[1,25,%d,%d]",
                            onnx_dtype_name(output.dtype), output.rank,
                            (long long)output.dims[0],
                            (long long)output.dims[1],
                            (long long)output.dims[2],
                            (long long)output.dims[3], d->cells, d->cells);
    int reshaped_w, reshaped_h;
    kh_tinyface_reshaped_size(picture->width, picture->height, size,
                              &reshaped_w, &reshaped_h);
    const size_t capacity = (size_t)d->cells * d->cells * KH_TINYFACE_ANCHORS;
    size_t n = kh_tinyface_decode_grid(output.data, d->cells, size, reshaped_w,
                                       reshaped_h,
                                       d->options.score_threshold, d->boxes,
                                       d->scores, capacity);
    for (size_t i = 0; i < n; i++)
        d->scaled[i] = (kh_box){d->boxes[i].x * size, d->boxes[i].y * size,
                                d->boxes[i].w * size, d->boxes[i].h * size};
    size_t kept = kh_nms(d->scaled, d->scores, n, d->options.iou_threshold,
                         d->keep, d->order);
    if (kept == 0)
        return KH_OK;
    *faces = calloc(kept, sizeof **faces);
    if (!*faces)
        return kh_error_set(err, KH_ENOMEM, "tinyface: out of memory");
    const float width = picture->width * scale_to_original;
    const float height = picture->height * scale_to_original;
    for (size_t i = 0; i < kept; i++) {
        const kh_box *rel = &d->boxes[d->keep[i]];
        kh_face *f = &(*faces)[i];
        f->box = (kh_box){rel->x * width, rel->y * height, rel->w * width,
                          rel->h * height};
        f->score = d->scores[d->keep[i]];
        snprintf(f->detector, sizeof f->detector, "tinyface");
    }
    *count = kept;
    return KH_OK;
}

static void tinyface_destroy(kh_detector *self) {
    tinyface_detector *d = self->state;
    onnx_model_destroy(d->model);
    free(d->input);
    free(d->boxes);
    free(d->scaled);
    free(d->scores);
    free(d->keep);
    free(d->order);
    free(d);
}

int kh_tinyface_create(const char *model_path, const kh_tinyface_options *opts,
                       kh_detector **out, kh_error *err) {
    *out = NULL;
    kh_tinyface_options o = opts ? *opts : (kh_tinyface_options){0};
    if (o.input_size == 0)
        o.input_size = 416;
    if (o.score_threshold == 0)
        o.score_threshold = 0.5f;
    if (o.iou_threshold == 0)
        o.iou_threshold = 0.4f;
    if (o.threads < 1)
        o.threads = 1;
    if (o.input_size < 32 || o.input_size > 4096 || o.input_size % 32 != 0)
        return kh_error_set(err, KH_EINVAL,
                            "tinyface: input size %d must be a multiple of 32 "
                            "in 32..4096",
                            o.input_size);
    if (!(o.score_threshold > 0 && o.score_threshold < 1) ||
        !(o.iou_threshold > 0 && o.iou_threshold <= 1))
        return kh_error_set(err, KH_EINVAL,
                            "tinyface: score threshold %g must be in (0, 1), "
                            "IoU threshold %g in (0, 1]",
                            o.score_threshold, o.iou_threshold);
    tinyface_detector *d = calloc(1, sizeof *d);
    if (!d)
        return kh_error_set(err, KH_ENOMEM, "tinyface: out of memory");
    d->options = o;
    d->cells = o.input_size / 32;
    const size_t capacity = (size_t)d->cells * d->cells * KH_TINYFACE_ANCHORS;
    d->input = malloc(sizeof *d->input * 3 * o.input_size * o.input_size);
    d->boxes = malloc(sizeof *d->boxes * capacity);
    d->scaled = malloc(sizeof *d->scaled * capacity);
    d->scores = malloc(sizeof *d->scores * capacity);
    d->keep = malloc(sizeof *d->keep * capacity);
    d->order = malloc(sizeof *d->order * capacity);
    d->base = (kh_detector){"tinyface", tinyface_detect, tinyface_destroy, d};
    if (!d->input || !d->boxes || !d->scaled || !d->scores || !d->keep ||
        !d->order) {
        tinyface_destroy(&d->base);
        return kh_error_set(err, KH_ENOMEM, "tinyface: out of memory");
    }
    onnx_load_options load = {.threads = o.threads};
    int rc = onnx_model_load(model_path, &load, &d->model, err);
    if (rc) {
        tinyface_destroy(&d->base);
        return rc;
    }
    if (onnx_model_input_count(d->model) != 1) {
        rc = kh_error_set(err, KH_ESHAPE, "%s: %zu inputs, tinyface has one",
                          model_path, onnx_model_input_count(d->model));
        tinyface_destroy(&d->base);
        return rc;
    }
    /* One run at load plans the engine's buffers for this input size, so
     * that the first picture costs what every other one does. */
    memset(d->input, 0, sizeof *d->input * 3 * o.input_size * o.input_size);
    onnx_tensor_view warm_in = {
        ONNX_FLOAT, 4, {1, 3, o.input_size, o.input_size}, d->input};
    onnx_tensor_view warm_out;
    rc = onnx_model_run(d->model, &warm_in, 1, &warm_out, 1, err);
    if (rc) {
        kh_error_prefix(err, "%s", model_path);
        tinyface_destroy(&d->base);
        return rc;
    }
    *out = &d->base;
    return KH_OK;
}

