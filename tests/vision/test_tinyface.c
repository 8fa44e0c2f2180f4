/* face-api's steps around the networks: grid decoding with anchors,
 * non-maximum suppression, reshaped sizes, the face crop of the expression
 * net and its class mapping. Expected numbers are worked out by hand from
 * face-api 1.7.15's source (TinyYolov2Base.extractBoxes, nonMaxSuppression,
 * computeReshapedDimensions, Box.clipAtImageBorders, padToSquare). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vision/classifier.h"
#include "vision/detector.h"
#include "vision/tinyface.h"

#define CELLS 13

static void expect_near(double got, double want, double tolerance,
                        const char *what) {
    if (fabs(got - want) > tolerance)
        fail_msg("%s: got %.6f, want %.6f (+-%g)", what, got, want, tolerance);
}

/* A grid where every score logit is -10 (sigmoid ~ 0) except those set. */
static float *empty_grid(void) {
    float *grid = calloc(25 * CELLS * CELLS, sizeof *grid);
    for (int a = 0; a < 5; a++)
        for (int i = 0; i < CELLS * CELLS; i++)
            grid[(a * 5 + 4) * CELLS * CELLS + i] = -10.0f;
    return grid;
}

static void set_field(float *grid, int anchor, int field, int row, int col,
                      float value) {
    grid[((anchor * 5 + field) * CELLS + row) * CELLS + col] = value;
}

static void test_reshaped_size_rounds_like_math_round(void **state) {
    (void)state;
    int w, h;
    kh_tinyface_reshaped_size(1920, 1280, 416, &w, &h);
    assert_int_equal(w, 416);
    assert_int_equal(h, 277); /* 1280 * 416 / 1920 = 277.33 */
    kh_tinyface_reshaped_size(1280, 1920, 416, &w, &h);
    assert_int_equal(w, 277);
    assert_int_equal(h, 416);
    kh_tinyface_reshaped_size(64, 3, 32, &w, &h);
    assert_int_equal(h, 2); /* 1.5 rounds up */
}

static void test_decode_grid_one_anchor_by_hand(void **state) {
    (void)state;
    float *grid = empty_grid();
    /* Anchor 1 (6.041143, 7.080126) at row 5, column 3: x, y logits 0
     * (sigmoid 0.5), w, h logits 0 (exp 1), score logit 2. */
    set_field(grid, 1, 4, 5, 3, 2.0f);
    kh_box boxes[5 * CELLS * CELLS];
    float scores[5 * CELLS * CELLS];
    size_t n = kh_tinyface_decode_grid(grid, CELLS, 416, 416, 277, 0.5f, boxes,
                                       scores, 5 * CELLS * CELLS);
    assert_int_equal(n, 1);
    /* correction x = 416/416 = 1, y = 416/277.
     * cx = (3 + 0.5) / 13 = 0.269231;  w = 6.041143 / 13 = 0.464703
     * cy = (5 + 0.5) / 13 * 416/277 = 0.635380
     * h = 7.080126 / 13 * 416/277 = 0.817925 */
    expect_near(scores[0], 1.0 / (1.0 + exp(-2.0)), 1e-6, "score");
    expect_near(boxes[0].w, 0.464703, 1e-5, "w");
    expect_near(boxes[0].x, 0.269231 - 0.464703 / 2, 1e-5, "x");
    expect_near(boxes[0].h, 0.817925, 1e-5, "h");
    expect_near(boxes[0].y, 0.635380 - 0.817925 / 2, 1e-5, "y");
    free(grid);
}

static void test_decode_grid_uses_each_anchor_and_strict_threshold(void **state) {
    (void)state;
    static const float anchors[5][2] = {{1.603231f, 2.094468f},
                                        {6.041143f, 7.080126f},
                                        {2.882459f, 3.518061f},
                                        {4.266906f, 5.178857f},
                                        {9.041765f, 10.66308f}};
    for (int a = 0; a < 5; a++) {
        assert_true(kh_tinyface_anchors[a][0] == anchors[a][0]);
        assert_true(kh_tinyface_anchors[a][1] == anchors[a][1]);
    }
    float *grid = empty_grid();
    set_field(grid, 4, 4, 0, 0, 3.0f);  /* anchor 4, kept */
    set_field(grid, 4, 2, 0, 0, logf(2.0f)); /* w logit: exp = 2 */
    set_field(grid, 2, 4, 12, 12, 0.0f); /* sigmoid exactly 0.5: dropped */
    kh_box boxes[8];
    float scores[8];
    size_t n = kh_tinyface_decode_grid(grid, CELLS, 416, 416, 416, 0.5f, boxes,
                                       scores, 8);
    assert_int_equal(n, 1);
    expect_near(boxes[0].w, 2.0 * 9.041765 / 13, 1e-5, "w of anchor 4");
    expect_near(boxes[0].h, 10.66308 / 13, 1e-5, "h of anchor 4");
    /* A lower threshold takes the 0.5 one too, and capacity is honoured. */
    n = kh_tinyface_decode_grid(grid, CELLS, 416, 416, 416, 0.4f, boxes,
                                scores, 8);
    assert_int_equal(n, 2);
    n = kh_tinyface_decode_grid(grid, CELLS, 416, 416, 416, 0.4f, boxes,
                                scores, 1);
    assert_int_equal(n, 1);
    free(grid);
}

static void test_iou(void **state) {
    (void)state;
    kh_box a = {0, 0, 10, 10}, b = {5, 0, 10, 10}, c = {20, 20, 5, 5};
    expect_near(kh_box_iou(&a, &a), 1.0, 1e-6, "same");
    expect_near(kh_box_iou(&a, &b), 50.0 / 150.0, 1e-6, "half");
    expect_near(kh_box_iou(&a, &c), 0.0, 0, "apart");
    kh_box empty = {0, 0, 0, 0};
    expect_near(kh_box_iou(&empty, &empty), 0.0, 0, "empty");
}

static void test_nms_keeps_best_and_drops_overlaps(void **state) {
    (void)state;
    const kh_box boxes[4] = {
        {0, 0, 10, 10},   /* 0: 0.8 */
        {1, 1, 10, 10},   /* 1: 0.9, IoU with 0 = 81/119 = 0.68 */
        {20, 20, 10, 10}, /* 2: 0.7, apart */
        {5, 0, 10, 10},   /* 3: 0.6, IoU with 1 = 54/146 = 0.37 <= 0.4 */
    };
    const float scores[4] = {0.8f, 0.9f, 0.7f, 0.6f};
    size_t keep[4], order[4];
    size_t n = kh_nms(boxes, scores, 4, 0.4f, keep, order);
    assert_int_equal(n, 3);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    assert_int_equal(keep[2], 3);
    /* Equal scores: face-api pops the later index first. */
    const kh_box same[2] = {{0, 0, 10, 10}, {0, 0, 10, 10}};
    const float tie[2] = {0.5f, 0.5f};
    n = kh_nms(same, tie, 2, 0.4f, keep, order);
    assert_int_equal(n, 1);
    assert_int_equal(keep[0], 1);
    assert_int_equal(kh_nms(boxes, scores, 0, 0.4f, keep, order), 0);
}

static void test_face_crop_like_face_api(void **state) {
    (void)state;
    kh_face_crop crop;
    /* Clipped at the left edge, then floored: x 0, y 5, w 40, h 30. Wider
     * than tall: 10 rows of padding, Math.round(5) = 5 after, 5 before. */
    kh_box box = {-10.0f, 5.5f, 50.0f, 30.0f};
    assert_true(kh_face_crop_of(&box, 100, 100, &crop));
    assert_int_equal(crop.x, 0);
    assert_int_equal(crop.y, 5);
    assert_int_equal(crop.w, 40);
    assert_int_equal(crop.h, 30);
    assert_int_equal(crop.side, 40);
    assert_int_equal(crop.pad_top, 5);
    assert_int_equal(crop.pad_left, 0);
    /* Taller than wide by 11: Math.round(5.5) = 6 after, 5 before. Width is
     * floored from right - clipped x: 30.9 - 10.7 = 20.2 -> 20. */
    box = (kh_box){10.7f, 0.0f, 20.2f, 31.0f};
    assert_true(kh_face_crop_of(&box, 100, 100, &crop));
    assert_int_equal(crop.x, 10);
    assert_int_equal(crop.w, 20);
    assert_int_equal(crop.h, 31);
    assert_int_equal(crop.pad_left, 5);
    assert_int_equal(crop.pad_top, 0);
    /* Clipped at the right and bottom edges. */
    box = (kh_box){90.0f, 95.0f, 30.0f, 30.0f};
    assert_true(kh_face_crop_of(&box, 100, 100, &crop));
    assert_int_equal(crop.w, 10);
    assert_int_equal(crop.h, 5);
    /* Entirely outside: nothing to crop. */
    box = (kh_box){-50.0f, 10.0f, 20.0f, 20.0f};
    assert_false(kh_face_crop_of(&box, 100, 100, &crop));
    box = (kh_box){120.0f, 10.0f, 20.0f, 20.0f};
    assert_false(kh_face_crop_of(&box, 100, 100, &crop));
}

static void test_expression_input_pads_centred(void **state) {
    (void)state;
    /* A 112x56 white picture, box covering it: padded to 112x112 with 28
     * zero rows above and below, no resize needed. */
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 112, 56, 3, &err), KH_OK);
    memset(img.pixels, 255, (size_t)112 * 56 * 3);
    kh_face_crop crop;
    kh_box box = {0, 0, 112, 56};
    assert_true(kh_face_crop_of(&box, 112, 56, &crop));
    float *input = malloc(sizeof *input * 3 * 112 * 112);
    assert_int_equal(kh_expression_input(&img, &crop, input, &err), KH_OK);
    for (int ch = 0; ch < 3; ch++) {
        const float *plane = input + ch * 112 * 112;
        assert_true(plane[27 * 112 + 50] == 0.0f);
        assert_true(plane[28 * 112 + 50] == 255.0f);
        assert_true(plane[83 * 112 + 50] == 255.0f);
        assert_true(plane[84 * 112 + 50] == 0.0f);
    }
    free(input);
    kh_image_free(&img);
}

static void test_expression_classes_map_to_canonical_names(void **state) {
    (void)state;
    const char *const want[KH_EXPRESSION_CLASSES] = {
        "neutral", "happiness", "sadness", "anger",
        "fear",    "disgust",   "surprise"};
    for (int i = 0; i < KH_EXPRESSION_CLASSES; i++)
        assert_string_equal(kh_emotion_name(kh_expression_classes[i]), want[i]);
}

static void test_adapters_refuse_bad_options_and_missing_models(void **state) {
    (void)state;
    kh_detector *d = (kh_detector *)1;
    kh_error err;
    kh_tinyface_options bad = {.input_size = 100};
    assert_int_equal(kh_tinyface_create("/nonexistent.onnx", &bad, &d, &err),
                     KH_EINVAL);
    assert_null(d);
    bad = (kh_tinyface_options){.score_threshold = 1.5f};
    assert_int_equal(kh_tinyface_create("/nonexistent.onnx", &bad, &d, &err),
                     KH_EINVAL);
    assert_int_not_equal(kh_tinyface_create("/nonexistent.onnx", NULL, &d,
                                            &err),
                         KH_OK);
    assert_null(d);
    assert_non_null(strstr(err.message, "/nonexistent.onnx"));
    kh_classifier *c = (kh_classifier *)1;
    assert_int_not_equal(kh_expression_create("/nonexistent.onnx", 1, &c,
                                              &err),
                         KH_OK);
    assert_null(c);
    kh_detector_destroy(NULL);
    kh_classifier_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshaped_size_rounds_like_math_round),
        cmocka_unit_test(test_decode_grid_one_anchor_by_hand),
        cmocka_unit_test(test_decode_grid_uses_each_anchor_and_strict_threshold),
        cmocka_unit_test(test_iou),
        cmocka_unit_test(test_nms_keeps_best_and_drops_overlaps),
        cmocka_unit_test(test_face_crop_like_face_api),
        cmocka_unit_test(test_expression_input_pads_centred),
        cmocka_unit_test(test_expression_classes_map_to_canonical_names),
        cmocka_unit_test(test_adapters_refuse_bad_options_and_missing_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
