/* expression.c - the "expression" classifier: face-api's FaceExpressionNet
 * on khappy's ONNX engine. The crop follows face-api 1.7.15:
 *   extractFaceTensors: box.clipAtImageBorders (clip, then floor x, y, w, h),
 *     slice of the picture;
 *   NetInput.toBatchTensor(112, true): padToSquare centred (Math.round(d/2)
 *     after, the rest before), resizeBilinear to 112 unless already 112;
 *   the mean/255 normalisation and the softmax are inside the ONNX model.
 * face-api runs each face alone; the network treats batch items
 * independently, so one batch per picture gives the same numbers. */
#include "vision/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"

#define FACE_FLOATS (3 * KH_EXPRESSION_SIZE * KH_EXPRESSION_SIZE)
#define MAX_BATCH 16
/* Faces per picture the engine's buffers are planned for at load: most
 * pictures have no more; a larger batch grows them once, when first met.
 * (Planning for MAX_BATCH at load would cost some 150 ms per model.) */
#define WARM_BATCH 8

const kh_emotion kh_expression_classes[KH_EXPRESSION_CLASSES] = {
    KH_EMOTION_NEUTRAL, KH_EMOTION_HAPPINESS, KH_EMOTION_SADNESS,
    KH_EMOTION_ANGER,   KH_EMOTION_FEAR,      KH_EMOTION_DISGUST,
    KH_EMOTION_SURPRISE,
};

bool kh_face_crop_of(const kh_box *box, int picture_w, int picture_h,
                     kh_face_crop *crop) {
    memset(crop, 0, sizeof *crop);
    if (!isfinite(box->x) || !isfinite(box->y) || !isfinite(box->w) ||
        !isfinite(box->h))
        return false;
    double x = fmax(box->x, 0.0), y = fmax(box->y, 0.0);
    double right = (double)box->x + box->w, bottom = (double)box->y + box->h;
    double w = fmin(right - x, picture_w - x);
    double h = fmin(bottom - y, picture_h - y);
    x = floor(x);
    y = floor(y);
    w = floor(w);
    h = floor(h);
    if (!(w > 0 && h > 0) || x >= picture_w || y >= picture_h)
        return false;
    crop->x = (int)x;
    crop->y = (int)y;
    crop->w = (int)w;
    crop->h = (int)h;
    const int diff = abs(crop->w - crop->h);
    const int after = (diff + 1) / 2; /* Math.round(diff * 0.5) */
    crop->side = crop->w > crop->h ? crop->w : crop->h;
    if (crop->h > crop->w)
        crop->pad_left = diff - after;
    else
        crop->pad_top = diff - after;
    return true;
}

int kh_expression_input(const kh_image *picture, const kh_face_crop *crop,
                        float *out, kh_error *err) {
    kh_image face;
    int rc = kh_image_crop(picture, crop->x, crop->y, crop->w, crop->h, &face,
                           err);
    if (rc)
        return rc;
    rc = kh_resize_bilinear_chw(&face, crop->side, crop->side, crop->pad_left,
                                crop->pad_top, KH_EXPRESSION_SIZE,
                                KH_EXPRESSION_SIZE, out, err);
    kh_image_free(&face);
    return rc;
}

typedef struct expression_classifier {
    kh_classifier base;
    onnx_model *model;
    int batch_max; /* 1 when the model's batch dimension is fixed */
    float *input;  /* batch_max faces */
    size_t *which; /* face index of each batch item */
} expression_classifier;

static int run_batch(expression_classifier *c, size_t n,
                     kh_emotion_scores *scores, kh_error *err) {
    onnx_tensor_view input = {ONNX_FLOAT, 4,
                              {(int64_t)n, 3, KH_EXPRESSION_SIZE,
                               KH_EXPRESSION_SIZE},
                              c->input};
    onnx_tensor_view output;
    int rc = onnx_model_run(c->model, &input, 1, &output, 1, err);
    if (rc)
        return kh_error_prefix(err, "expression");
    if (output.dtype != ONNX_FLOAT || output.rank != 2 ||
        output.dims[0] != (int64_t)n ||
        output.dims[1] != KH_EXPRESSION_CLASSES)
        return kh_error_set(err, KH_ESHAPE,
                            "expression: model output is %s rank %d "
                            "[%lld,%lld], expected float [%zu,%d]",
                            onnx_dtype_name(output.dtype), output.rank,
                            (long long)output.dims[0],
                            (long long)output.dims[1], n,
                            KH_EXPRESSION_CLASSES);
    const float *p = output.data;
    for (size_t i = 0; i < n; i++) {
        kh_emotion_scores *s = &scores[c->which[i]];
        for (int k = 0; k < KH_EXPRESSION_CLASSES; k++) {
            s->p[kh_expression_classes[k]] = p[i * KH_EXPRESSION_CLASSES + k];
            s->present[kh_expression_classes[k]] = true;
        }
    }
    return KH_OK;
}

static int expression_classify(kh_classifier *self, const kh_image *picture,
                               float scale_to_original, const kh_face *faces,
                               size_t count, kh_emotion_scores *scores,
                               kh_error *err) {
    expression_classifier *c = self->state;
    if (picture->channels != 3)
        return kh_error_set(err, KH_EINVAL,
                            "expression: needs an RGB picture, got %d "
                            "channel(s)",
                            picture->channels);
    for (size_t i = 0; i < count; i++) {
        memset(&scores[i], 0, sizeof scores[i]);
        snprintf(scores[i].model, sizeof scores[i].model, "expression");
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        kh_box box = {faces[i].box.x / scale_to_original,
                      faces[i].box.y / scale_to_original,
                      faces[i].box.w / scale_to_original,
                      faces[i].box.h / scale_to_original};
        kh_face_crop crop;
        if (!kh_face_crop_of(&box, picture->width, picture->height, &crop))
            continue;
        int rc = kh_expression_input(picture, &crop, c->input + n * FACE_FLOATS,
                                     err);
        if (rc)
            return kh_error_prefix(err, "expression: face %zu", i);
        c->which[n++] = i;
        if ((int)n == c->batch_max) {
            rc = run_batch(c, n, scores, err);
            if (rc)
                return rc;
            n = 0;
        }
    }
    return n ? run_batch(c, n, scores, err) : KH_OK;
}

static void expression_destroy(kh_classifier *self) {
    expression_classifier *c = self->state;
    onnx_model_destroy(c->model);
    free(c->input);
    free(c->which);
    free(c);
}

int kh_expression_create(const char *model_path, int threads,
                         kh_classifier **out, kh_error *err) {
    *out = NULL;
    expression_classifier *c = calloc(1, sizeof *c);
    if (!c)
        return kh_error_set(err, KH_ENOMEM, "expression: out of memory");
    c->base = (kh_classifier){"expression", expression_classify,
                              expression_destroy, c};
    onnx_load_options load = {.threads = threads < 1 ? 1 : threads};
    int rc = onnx_model_load(model_path, &load, &c->model, err);
    if (rc) {
        expression_destroy(&c->base);
        return rc;
    }
    onnx_value_info info;
    if (onnx_model_input_count(c->model) != 1 ||
        onnx_model_input_info(c->model, 0, &info) != KH_OK ||
        info.rank != 4) {
        expression_destroy(&c->base);
        return kh_error_set(err, KH_ESHAPE,
                            "%s: expected one input [N,3,112,112]", model_path);
    }
    c->batch_max = info.dims[0] < 0 ? MAX_BATCH : 1;
    c->input = malloc(sizeof *c->input * FACE_FLOATS * c->batch_max);
    c->which = malloc(sizeof *c->which * c->batch_max);
    if (!c->input || !c->which) {
        expression_destroy(&c->base);
        return kh_error_set(err, KH_ENOMEM, "expression: out of memory");
    }
    /* One run at load plans the engine's buffers for batches up to
     * WARM_BATCH, so that the first picture costs what the others do. */
    const int warm_batch = c->batch_max < WARM_BATCH ? c->batch_max : WARM_BATCH;
    memset(c->input, 0, sizeof *c->input * FACE_FLOATS * warm_batch);
    onnx_tensor_view warm_in = {ONNX_FLOAT, 4,
                                {warm_batch, 3, KH_EXPRESSION_SIZE,
                                 KH_EXPRESSION_SIZE},
                                c->input};
    onnx_tensor_view warm_out;
    rc = onnx_model_run(c->model, &warm_in, 1, &warm_out, 1, err);
    if (rc) {
        kh_error_prefix(err, "%s", model_path);
        expression_destroy(&c->base);
        return rc;
    }
    *out = &c->base;
    return KH_OK;
}

int kh_classifier_classify(kh_classifier *c, const kh_image *picture,
                           float scale_to_original, const kh_face *faces,
                           size_t count, kh_emotion_scores *scores,
                           kh_error *err) {
    if (!c || !picture || !picture->pixels || (count && (!faces || !scores)))
        return kh_error_set(err, KH_EINVAL, "classify: missing argument");
    if (!(scale_to_original > 0))
        return kh_error_set(err, KH_EINVAL, "%s: scale %g to the original",
                            c->name, scale_to_original);
    return c->classify(c, picture, scale_to_original, faces, count, scores,
                       err);
}

void kh_classifier_destroy(kh_classifier *c) {
    if (c)
        c->destroy(c);
}
