/* classifier.h - emotion classifiers: one interface, adapters behind it.
 *
 *   kh_classifier *c;
 *   kh_expression_create("models/expression.onnx", 1, &c, &err);
 *   kh_emotion_scores scores[n];
 *   kh_classifier_classify(c, &picture, 1.0f, faces, n, scores, &err);
 *   kh_classifier_destroy(c);
 *
 * Adapter: "expression" (face-api's FaceExpressionNet on the ONNX engine).
 * A classifier is used by one thread at a time.
 */
#ifndef KH_VISION_CLASSIFIER_H
#define KH_VISION_CLASSIFIER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/domain.h"
#include "common/error.h"
#include "vision/image.h"

typedef struct kh_classifier kh_classifier;

struct kh_classifier {
    const char *name; /* "expression" */
    /* Scores every face of one picture. Boxes are in original pixels; the
     * picture may be smaller by scale_to_original (DCT scaling). scores has
     * count entries; a face whose box lies outside the picture gets no
     * present class. */
    int (*classify)(kh_classifier *self, const kh_image *picture,
                    float scale_to_original, const kh_face *faces,
                    size_t count, kh_emotion_scores *scores, kh_error *err);
    void (*destroy)(kh_classifier *self);
    void *state;
};

int kh_classifier_classify(kh_classifier *c, const kh_image *picture,
                           float scale_to_original, const kh_face *faces,
                           size_t count, kh_emotion_scores *scores,
                           kh_error *err);
void kh_classifier_destroy(kh_classifier *c); /* NULL is a no-op */

/* ---- expression ------------------------------------------------------------
 * models/expression.onnx: [N,3,112,112] RGB 0..255 in, [N,7] probabilities
 * out (face-api's classes neutral, happy, sad, angry, fearful, disgusted,
 * surprised; no contempt). */
#define KH_EXPRESSION_SIZE 112
#define KH_EXPRESSION_CLASSES 7

/* On success *out is owned by the caller (kh_classifier_destroy). */
int kh_expression_create(const char *model_path, int threads,
                         kh_classifier **out, kh_error *err);

/* The canonical emotion of face-api's class i (0..6). */
extern const kh_emotion kh_expression_classes[KH_EXPRESSION_CLASSES];

/* How face-api cuts a face out (extractFaceTensors + padToSquare centred):
 * the box clipped to the picture and floored, then padded with zeros to a
 * square of side max(w, h), the padding split with the larger half after
 * the face. */
typedef struct kh_face_crop {
    int x, y, w, h;          /* inside the picture */
    int side;                /* of the padded square */
    int pad_left, pad_top;   /* where the crop sits in the square */
} kh_face_crop;

/* false when the clipped box is empty. `box` in picture pixels. */
bool kh_face_crop_of(const kh_box *box, int picture_w, int picture_h,
                     kh_face_crop *crop);

/* The network input of one face: 3 x 112 x 112 floats (CHW) into out. */
int kh_expression_input(const kh_image *picture, const kh_face_crop *crop,
                        float *out, kh_error *err);

#endif
