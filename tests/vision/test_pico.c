/* The pico cascade: file parsing (valid, truncated, corrupt), the runtime on
 * a hand-made cascade, and clustering. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vision/detector.h"
#include "vision/pico.h"

/* ---- a hand-made cascade ---------------------------------------------------
 * Depth 1, two trees, both asking "is the point a quarter window above the
 * centre darker than (or as dark as) the point a quarter below?". Yes leads
 * to leaf 1 (+1), no to leaf 0 (-1). Thresholds: tree 0 -0.5, tree 1 0.5.
 * A window with a dark top and a bright bottom scores 1 + 1 - 0.5 = 1.5;
 * anything else is rejected by tree 0. */

typedef struct bytes {
    uint8_t data[256];
    size_t len;
} bytes;

static void put32(bytes *b, uint32_t v) {
    for (int i = 0; i < 4; i++)
        b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

static void put_float(bytes *b, float f) {
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    put32(b, v);
}

static bytes make_cascade(void) {
    bytes b = {{0}, 0};
    put32(&b, 3);          /* version */
    put32(&b, 0x7F817F81); /* learning-time data */
    put32(&b, 1);          /* depth */
    put32(&b, 2);          /* trees */
    const float thresholds[2] = {-0.5f, 0.5f};
    for (int t = 0; t < 2; t++) {
        b.data[b.len++] = (uint8_t)(int8_t)-64; /* row1: a quarter up */
        b.data[b.len++] = 0;                    /* col1 */
        b.data[b.len++] = 64;                   /* row2: a quarter down */
        b.data[b.len++] = 0;                    /* col2 */
        put_float(&b, -1.0f);                   /* leaf 0: brighter top */
        put_float(&b, 1.0f);                    /* leaf 1: darker top */
        put_float(&b, thresholds[t]);
    }
    return b;
}

static void test_parse_valid_cascade(void **state) {
    (void)state;
    bytes b = make_cascade();
    assert_int_equal(b.len, 16 + 2 * (4 + 8 + 4));
    kh_pico_cascade *c = NULL;
    kh_error err;
    assert_int_equal(kh_pico_cascade_parse(b.data, b.len, "hand", &c, &err),
                     KH_OK);
    assert_int_equal(kh_pico_cascade_depth(c), 1);
    assert_int_equal(kh_pico_cascade_trees(c), 2);
    kh_pico_cascade_destroy(c);
    kh_pico_cascade_destroy(NULL);
}

static void expect_parse_error(const uint8_t *data, size_t len,
                               const char *needle) {
    kh_pico_cascade *c = (kh_pico_cascade *)1;
    kh_error err = {0};
    int rc = kh_pico_cascade_parse(data, len, "bad.cascade", &c, &err);
    if (rc != KH_EFORMAT)
        fail_msg("got %d, want KH_EFORMAT (%d): %s", rc, KH_EFORMAT,
                 err.message);
    assert_null(c);
    if (!strstr(err.message, "bad.cascade") || !strstr(err.message, needle))
        fail_msg("message lacks the file or '%s': %s", needle, err.message);
}

static void test_truncated_and_corrupt_cascades(void **state) {
    (void)state;
    bytes b = make_cascade();
    expect_parse_error(b.data, b.len - 1, "need 48 bytes");
    expect_parse_error(b.data, 20, "need 48 bytes");
    expect_parse_error(b.data, 15, "header");
    expect_parse_error(b.data, 0, "header");
    /* One byte too many is as wrong as one too few. */
    bytes longer = b;
    longer.data[longer.len++] = 0;
    expect_parse_error(longer.data, longer.len, "need 48 bytes");
    bytes bad = b;
    bad.data[8] = 0; /* depth 0 */
    expect_parse_error(bad.data, bad.len, "byte 8: tree depth 0");
    bad = b;
    bad.data[8] = 17;
    expect_parse_error(bad.data, bad.len, "tree depth 17");
    bad = b;
    memset(bad.data + 12, 0, 4); /* no trees */
    expect_parse_error(bad.data, bad.len, "0 trees");
    bad = b;
    memset(bad.data + 12, 0xFF, 3); /* 16 million trees in 48 bytes */
    bad.data[15] = 0x00;
    expect_parse_error(bad.data, bad.len, "need");
    bad = b;
    memset(bad.data + 12, 0xFF, 4); /* -1 trees */
    expect_parse_error(bad.data, bad.len, "-1 trees");
    /* A NaN leaf in tree 1 (tree 1 starts at 16 + 16; leaves after 4 code
     * bytes). */
    bad = b;
    const uint8_t nan_bits[4] = {0x00, 0x00, 0xC0, 0x7F};
    memcpy(bad.data + 16 + 16 + 4, nan_bits, 4);
    expect_parse_error(bad.data, bad.len, "byte 36: leaf output of tree 1");
    bad = b;
    memcpy(bad.data + 16 + 12, nan_bits, 4); /* threshold of tree 0 */
    expect_parse_error(bad.data, bad.len, "threshold of tree 0");
}

static void test_load_missing_file(void **state) {
    (void)state;
    kh_pico_cascade *c;
    kh_error err;
    assert_int_equal(kh_pico_cascade_load("/nonexistent/facefinder", &c, &err),
                     KH_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/facefinder"));
}

/* 40x40 gray: dark (10) above row 20, bright (200) from row 20 on. */
static kh_image two_tone(void) {
    kh_image img;
    kh_error err;
    assert_int_equal(kh_image_alloc(&img, 40, 40, 1, &err), KH_OK);
    for (int y = 0; y < 40; y++)
        memset(img.pixels + y * 40, y < 20 ? 10 : 200, 40);
    return img;
}

static void test_classify_hand_cascade(void **state) {
    (void)state;
    bytes b = make_cascade();
    kh_pico_cascade *c;
    kh_error err;
    assert_int_equal(kh_pico_cascade_parse(b.data, b.len, "hand", &c, &err),
                     KH_OK);
    kh_image img = two_tone();
    /* Window of 16 at (20, 20): points at rows 16 (dark) and 24 (bright). */
    float q = kh_pico_classify(c, &img, 20, 20, 16.0f);
    if (fabsf(q - 1.5f) > 1e-6f)
        fail_msg("dark over bright: got %f, want 1.5", q);
    /* At (10, 20) both points are dark: equal counts as darker-or-equal. */
    q = kh_pico_classify(c, &img, 10, 20, 16.0f);
    if (fabsf(q - 1.5f) > 1e-6f)
        fail_msg("uniform: got %f, want 1.5", q);
    /* Upside down: bright over dark is rejected. */
    for (int y = 0; y < 40; y++)
        memset(img.pixels + y * 40, y < 20 ? 200 : 10, 40);
    q = kh_pico_classify(c, &img, 20, 20, 16.0f);
    if (q != -1.0f)
        fail_msg("bright over dark: got %f, want -1", q);
    kh_image_free(&img);
    kh_pico_cascade_destroy(c);
}

static void test_scan_agrees_with_classify_and_limits(void **state) {
    (void)state;
    bytes b = make_cascade();
    kh_pico_cascade *c;
    kh_error err;
    assert_int_equal(kh_pico_cascade_parse(b.data, b.len, "hand", &c, &err),
                     KH_OK);
    kh_image img = two_tone();
    /* Bright over dark everywhere except a dark band: only windows whose
     * upper point is dark and lower point bright or dark pass. */
    for (int y = 0; y < 40; y++)
        memset(img.pixels + y * 40, y < 20 ? 200 : 10, 40);
    kh_pico_scan_params p = {.min_size = 8, .max_size = 38,
                             .scale_factor = 1.5f, .shift_factor = 0.25f,
                             .max_windows = 10000};
    kh_pico_window *w;
    size_t n;
    assert_int_equal(kh_pico_scan(c, &img, &p, &w, &n, &err), KH_OK);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        float q = kh_pico_classify(c, &img, (int)w[i].row, (int)w[i].col,
                                   w[i].size);
        if (q != w[i].quality)
            fail_msg("window %zu (%g, %g, %g): scan %g, classify %g", i,
                     w[i].row, w[i].col, w[i].size, w[i].quality, q);
        /* Every point read lay inside the picture. */
        assert_true(w[i].row - w[i].size / 2 >= 0);
        assert_true(w[i].row + w[i].size / 2 < 40);
    }
    free(w);
    p.max_windows = 2;
    assert_int_equal(kh_pico_scan(c, &img, &p, &w, &n, &err), KH_ELIMIT);
    assert_null(w);
    p.scale_factor = 1.0f;
    assert_int_equal(kh_pico_scan(c, &img, &p, &w, &n, &err), KH_EINVAL);
    kh_image_free(&img);
    kh_pico_cascade_destroy(c);
}

static void test_iou_of_square_windows(void **state) {
    (void)state;
    kh_pico_window a = {50, 50, 20, 1}, b = {50, 60, 20, 1}, c = {0, 0, 4, 1};
    assert_true(fabsf(kh_pico_iou(&a, &a) - 1.0f) < 1e-6f);
    /* Half overlap along columns: 200 / (400 + 400 - 200). */
    assert_true(fabsf(kh_pico_iou(&a, &b) - 200.0f / 600.0f) < 1e-6f);
    assert_true(kh_pico_iou(&a, &c) == 0.0f);
}

static void test_cluster_connected_components(void **state) {
    (void)state;
    kh_pico_window w[6] = {
        /* A chain: 0 overlaps 1, 1 overlaps 2, 0 and 2 barely touch. */
        {100, 100, 20, 1.0f},
        {100, 108, 20, 2.0f},
        {100, 116, 20, 3.0f},
        /* Alone. */
        {300, 300, 40, 10.0f},
        /* Two nearly identical windows. */
        {200, 50, 30, 0.5f},
        {201, 50, 30, 0.25f},
    };
    assert_true(kh_pico_iou(&w[0], &w[2]) <= 0.3f);
    kh_pico_window clusters[6];
    uint32_t scratch[18];
    size_t n = kh_pico_cluster(w, 6, 0.3f, clusters, scratch);
    assert_int_equal(n, 3);
    /* By quality: the lone window (10), the chain (6), the pair (0.75). */
    assert_true(clusters[0].quality == 10.0f && clusters[0].row == 300.0f);
    assert_true(fabsf(clusters[1].quality - 6.0f) < 1e-6f);
    assert_true(fabsf(clusters[1].col - 108.0f) < 1e-4f);
    assert_true(fabsf(clusters[1].size - 20.0f) < 1e-4f);
    assert_true(fabsf(clusters[2].quality - 0.75f) < 1e-6f);
    assert_true(fabsf(clusters[2].row - 200.5f) < 1e-4f);
    /* Nothing joins at a threshold no pair reaches. */
    kh_pico_window again[6];
    memcpy(again, w, sizeof again);
    assert_int_equal(kh_pico_cluster(again, 6, 0.99f, clusters, scratch), 6);
    assert_int_equal(kh_pico_cluster(again, 0, 0.3f, clusters, scratch), 0);
}

static void test_pico_detector_maps_boxes_to_original_pixels(void **state) {
    (void)state;
    bytes b = make_cascade();
    char path[] = "/tmp/khappy-test-cascade-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    kh_detector *d = NULL;
    kh_error err;
    kh_pico_options bad = {.scale_factor = 0.9f};
    assert_int_equal(kh_pico_create(path, &bad, &d, &err), KH_EINVAL);
    assert_null(d);
    /* Every window of the hand cascade passes on a uniform picture (equal
     * points count as darker-or-equal), so the whole picture clusters into
     * faces; what matters here is where their boxes land. */
    kh_pico_options o = {.min_size = 16, .max_size = 16,
                         .quality_threshold = 1.0f};
    assert_int_equal(kh_pico_create(path, &o, &d, &err), KH_OK);
    unlink(path);
    assert_string_equal(d->name, "pico");
    kh_image gray;
    assert_int_equal(kh_image_alloc(&gray, 40, 40, 1, &err), KH_OK);
    kh_face *at1, *at2;
    size_t n1, n2;
    assert_int_equal(kh_detector_detect(d, &gray, 1.0f, &at1, &n1, &err), KH_OK);
    assert_int_equal(kh_detector_detect(d, &gray, 2.0f, &at2, &n2, &err), KH_OK);
    assert_true(n1 > 0);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++) {
        assert_string_equal(at1[i].detector, "pico");
        assert_true(at1[i].box.w == 16.0f && at1[i].box.h == 16.0f);
        assert_true(at2[i].box.x == 2 * at1[i].box.x);
        assert_true(at2[i].box.y == 2 * at1[i].box.y);
        assert_true(at2[i].box.w == 32.0f);
        assert_true(at1[i].score >= 1.0f);
    }
    assert_int_equal(kh_detector_detect(d, &gray, 0.0f, &at2, &n2, &err),
                     KH_EINVAL);
    free(at1);
    free(at2);
    kh_image_free(&gray);
    kh_detector_destroy(d);
    kh_detector_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_cascade),
        cmocka_unit_test(test_truncated_and_corrupt_cascades),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_classify_hand_cascade),
        cmocka_unit_test(test_scan_agrees_with_classify_and_limits),
        cmocka_unit_test(test_iou_of_square_windows),
        cmocka_unit_test(test_cluster_connected_components),
        cmocka_unit_test(test_pico_detector_maps_boxes_to_original_pixels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
