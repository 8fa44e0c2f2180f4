/* convert.h - face-api's TensorFlow.js models as ONNX models (opset 13).
 *
 *   kh_error err;
 *   convert_summary s;
 *   if (convert_faceapi_file(CONVERT_FACEAPI_TINY,
 *           "model/tiny_face_detector_model-weights_manifest.json",
 *           "models/tinyface.onnx", &s, &err)) { report err.message; }
 *
 * faceapi-tiny: face-api's TinyFaceDetector (Tiny YOLO v2 with separable
 *   convolutions). Input 'image' float [1,3,H,W], RGB 0..255, H and W
 *   symbolic multiples of 32; output 'grid' [1,25,H/32,W/32] of raw logits
 *   (anchor a, field k at channel a*5+k: x, y, w, h, score).
 * faceapi-expression: face-api's FaceExpressionNet (feature extractor of 4
 *   dense blocks, fully connected layer, softmax). Input 'image' float
 *   [N,3,112,112] RGB 0..255; output 'probabilities' [N,7] in face-api's
 *   order neutral, happy, sad, angry, fearful, disgusted, surprised.
 * Both models subtract face-api's mean RGB and divide by 255 themselves.
 */
#ifndef KH_CONVERT_H
#define KH_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "convert/tfjs_weights.h"

typedef enum convert_kind {
    CONVERT_FACEAPI_TINY,
    CONVERT_FACEAPI_EXPRESSION,
} convert_kind;

/* "faceapi-tiny" / "faceapi-expression" -> kind; KH_EINVAL otherwise. */
int convert_kind_parse(const char *name, convert_kind *kind);
const char *convert_kind_name(convert_kind kind); /* never NULL */

typedef struct convert_summary {
    size_t nodes;
    size_t initializers;
    int64_t parameters; /* floats in all weights taken from the manifest */
    size_t bytes;       /* size of the ONNX model */
} convert_summary;

/* Builds the ONNX model from loaded weights. On success *bytes is malloc'd
 * (caller frees) with *len bytes; summary may be NULL. Weights that are
 * missing or have an unexpected shape fail with their name. */
int convert_faceapi(convert_kind kind, const tfjs_weights *weights,
                    uint8_t **bytes, size_t *len, convert_summary *summary,
                    kh_error *err);

/* Reads the manifest (and its shards next to it), converts, and writes
 * out_path atomically. summary may be NULL. */
int convert_faceapi_file(convert_kind kind, const char *manifest_path,
                         const char *out_path, convert_summary *summary,
                         kh_error *err);

#endif
