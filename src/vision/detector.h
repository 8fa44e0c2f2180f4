/* detector.h - face detectors: one interface, several adapters.
 *
 *   kh_detector *d;  kh_error err;
 *   kh_tinyface_create("models/tinyface.onnx", NULL, &d, &err);
 *   kh_face *faces; size_t n;
 *   kh_detector_detect(d, &picture, 1.0f, &faces, &n, &err);
 *   ... free(faces); kh_detector_destroy(d);
 *
 * Adapters: "tinyface" (face-api's TinyFaceDetector on the ONNX engine) and
 * "pico" (a pixel-intensity-comparison cascade). A detector is used by one
 * thread at a time; create one per thread.
 */
#ifndef KH_VISION_DETECTOR_H
#define KH_VISION_DETECTOR_H

#include <stddef.h>

#include "common/domain.h"
#include "common/error.h"
#include "vision/image.h"

typedef struct kh_detector kh_detector;

struct kh_detector {
    const char *name; /* "tinyface", "pico" */
    /* Finds faces in `picture`. Boxes come back in pixels of the original
     * picture: picture pixels times scale_to_original (the scale that
     * kh_image_decode reported; 1 without DCT scaling). *faces is malloc'ed
     * and owned by the caller (free()); NULL when *count is 0. */
    int (*detect)(kh_detector *self, const kh_image *picture,
                  float scale_to_original, kh_face **faces, size_t *count,
                  kh_error *err);
    void (*destroy)(kh_detector *self);
    void *state;
};

/* Dispatch helpers; destroy(NULL) is a no-op. */
int kh_detector_detect(kh_detector *d, const kh_image *picture,
                       float scale_to_original, kh_face **faces,
                       size_t *count, kh_error *err);
void kh_detector_destroy(kh_detector *d);

/* ---- tinyface -------------------------------------------------------------
 * models/tinyface.onnx exactly as face-api's TinyFaceDetector runs it: pad the
 * picture to a square at the bottom/right, resize to input_size (TF bilinear),
 * run [1,3,S,S] RGB 0..255, decode the [1,25,S/32,S/32] grid with face-api's
 * five anchors, keep sigmoid(score) > score_threshold, then non-maximum
 * suppression at iou_threshold. */
typedef struct kh_tinyface_options {
    int input_size;        /* multiple of 32; 0: 416 */
    float score_threshold; /* 0: 0.5 */
    float iou_threshold;   /* 0: 0.4 */
    int threads;           /* engine threads; 0: 1 */
} kh_tinyface_options;

/* On success *out is owned by the caller (kh_detector_destroy). opts may be
 * NULL. */
int kh_tinyface_create(const char *model_path, const kh_tinyface_options *opts,
                       kh_detector **out, kh_error *err);

/* ---- pico ------------------------------------------------------------------
 * A pico cascade (e.g. models/facefinder) scanned over the gray picture at
 * every scale from min to max size; overlapping windows are clustered and a
 * cluster is a face when its summed quality reaches quality_threshold. */
typedef struct kh_pico_options {
    float min_size_fraction; /* of the shorter side; 0: 0.05 */
    int min_size;            /* pixels; > 0 overrides min_size_fraction */
    int max_size;            /* pixels; 0: the shorter side */
    float scale_factor;      /* 0: 1.1 */
    float shift_factor;      /* 0: 0.1 */
    float quality_threshold; /* 0: 5 */
    float cluster_iou;       /* windows overlapping more are joined; 0: 0.3 */
    size_t max_windows;      /* windows passing the cascade per picture before
                                KH_ELIMIT (bounds memory and the clustering
                                time); 0: 20000 */
} kh_pico_options;

int kh_pico_create(const char *cascade_path, const kh_pico_options *opts,
                   kh_detector **out, kh_error *err);

#endif
