/* tinyface.h - the steps of face-api's TinyFaceDetector around the network,
 * exposed for tests: grid decoding and non-maximum suppression. */
#ifndef KH_VISION_TINYFACE_H
#define KH_VISION_TINYFACE_H

#include <stddef.h>

#include "common/domain.h"

#define KH_TINYFACE_ANCHORS 5

/* face-api's BOX_ANCHORS (tinyFaceDetector/const.ts), in grid cells. */
extern const float kh_tinyface_anchors[KH_TINYFACE_ANCHORS][2];

/* face-api's computeReshapedDimensions: the picture scaled so that its longer
 * side is input_size, each side rounded (half away from zero). */
void kh_tinyface_reshaped_size(int width, int height, int input_size,
                               int *reshaped_w, int *reshaped_h);

/* Decodes a [25, cells, cells] grid (channel a*5+k: x, y, w, h, score
 * logits of anchor a). Boxes are relative to the reshaped picture (0..1
 * inside it, may extend past it); a cell/anchor is kept when
 * sigmoid(score) > score_threshold. Writes at most capacity boxes and scores
 * (cells * cells * 5 always suffices) in row, column, anchor order; returns
 * the count. */
size_t kh_tinyface_decode_grid(const float *grid, int cells, int input_size,
                               int reshaped_w, int reshaped_h,
                               float score_threshold, kh_box *boxes,
                               float *scores, size_t capacity);

/* Intersection over union (0 when either box is empty). */
float kh_box_iou(const kh_box *a, const kh_box *b);

/* face-api's nonMaxSuppression: repeatedly keeps the best remaining box
 * (the later one among equal scores) and drops every remaining box whose IoU
 * with it is above iou_threshold. Writes kept indices, best first, to keep
 * (n entries suffice); `order` is scratch for n indices. Returns the count. */
size_t kh_nms(const kh_box *boxes, const float *scores, size_t n,
              float iou_threshold, size_t *keep, size_t *order);

#endif
