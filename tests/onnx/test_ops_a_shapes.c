/* Shape and data-movement operators: Reshape 0/-1/allowzero, Flatten,
 * Squeeze/Unsqueeze, Transpose, Concat, Split, Slice clamping and negative
 * steps, Pad modes, Gather negative indices, Expand, Tile, Shape, Size,
 * Range, ConstantOfShape, Constant, OneHot, DepthToSpace/SpaceToDepth,
 * Trilu, NonZero, and values only known at run time (KH_EDYNAMIC). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_ops_a_fixture.h"

static const float iota24[24] = {0,  1,  2,  3,  4,  5,  6,  7,
                                 8,  9,  10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23};

static void reshape_copies_zero_and_infers_minus_one(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 3, I64(2, 3, 4), iota24);
    op_input_i64(&c, 1, I64(3), I64(0, -1, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 3, I64(2, 6, 2), iota24);
    op_case_end(&c);
}

static void reshape_allowzero_keeps_zero(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Reshape", 14);
    op_attr_int(&c, "allowzero", 1);
    op_input_f32(&c, 2, I64(0, 3), NULL);
    op_input_i64(&c, 1, I64(3), I64(3, 0, 5));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 3, I64(3, 0, 5));
    op_case_end(&c);

    /* Without allowzero the 0 copies the input's dimension 0 (which is 0),
     * and the element counts still agree. */
    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 2, I64(0, 3), NULL);
    op_input_i64(&c, 1, I64(2), I64(0, 3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 2, I64(0, 3));
    op_case_end(&c);
}

static void reshape_errors_name_shapes(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 2, I64(2, 3), NULL);
    op_input_i64(&c, 1, I64(2), I64(4, 2));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "cannot reshape [2,3] (6 elements) to [4,2]");
    op_case_end(&c);

    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 2, I64(2, 3), NULL);
    op_input_i64(&c, 1, I64(2), I64(-1, -1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "more than one -1");
    op_case_end(&c);

    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 2, I64(2, 3), NULL);
    op_input_i64(&c, 1, I64(2), I64(4, -1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "cannot reshape [2,3]");
    op_case_end(&c);
}

static void reshape_of_unknown_shape_input_is_dynamic(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Reshape", 14);
    op_input_f32(&c, 1, I64(6), iota24);
    op_input_unknown(&c, ONNX_INT64, 1, I64(2), I64(2, 3));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EDYNAMIC, "not known");
    /* Once the engine marks the value known (run-time planning) it works. */
    c.inputs[1]->flags |= ONNX_TENSOR_RUNTIME;
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 3), iota24);
    op_case_end(&c);
}

static void flatten_accepts_negative_axis(void **state) {
    (void)state;
    static const struct {
        int64_t axis, rows, cols;
    } cases[] = {{0, 1, 24}, {1, 2, 12}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, "Flatten", 13);
        op_attr_int(&c, "axis", cases[i].axis);
        op_input_f32(&c, 3, I64(2, 3, 4), iota24);
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_f32(c.outputs[0], 2, I64(cases[i].rows, cases[i].cols), iota24);
        op_case_end(&c);
    }
    op_case c;
    op_case_begin(&c, "Flatten", 13);
    op_attr_int(&c, "axis", 4);
    op_input_f32(&c, 3, I64(2, 3, 4), iota24);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "axis 4 is out of range for rank 3");
    op_case_end(&c);
}

static void squeeze_and_unsqueeze_take_axes_attr_or_input(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Squeeze", 11);
    op_attr_ints(&c, "axes", I64(-1), 1);
    op_input_f32(&c, 3, I64(1, 3, 1), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 2, I64(1, 3));
    op_case_end(&c);

    op_case_begin(&c, "Squeeze", 13);
    op_input_f32(&c, 3, I64(1, 3, 1), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c); /* no axes: every 1 goes */
    expect_shape(c.outputs[0], 1, I64(3));
    op_case_end(&c);

    op_case_begin(&c, "Squeeze", 13);
    op_input_f32(&c, 3, I64(1, 3, 1), NULL);
    op_input_i64(&c, 1, I64(1), I64(1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "cannot squeeze axis 1 of [1,3,1]");
    op_case_end(&c);

    op_case_begin(&c, "Unsqueeze", 13);
    op_input_f32(&c, 2, I64(3, 4), NULL);
    op_input_i64(&c, 1, I64(3), I64(-1, 0, 2));
    op_outputs(&c, 1);
    op_case_ok(&c); /* axes index the output of rank 5 */
    expect_shape(c.outputs[0], 5, I64(1, 3, 1, 4, 1));
    op_case_end(&c);

    op_case_begin(&c, "Unsqueeze", 11);
    op_attr_ints(&c, "axes", I64(0, 0), 2);
    op_input_f32(&c, 1, I64(3), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EINVAL, "given twice");
    op_case_end(&c);
}

static void transpose_permutes_and_reverses_by_default(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Transpose", 13);
    op_attr_ints(&c, "perm", I64(1, 2, 0), 3);
    op_input_f32(&c, 3, I64(2, 3, 4), iota24);
    op_outputs(&c, 1);
    op_case_ok(&c);
    float want[24];
    for (int j = 0, k = 0; j < 3; j++)
        for (int l = 0; l < 4; l++)
            for (int i = 0; i < 2; i++)
                want[k++] = iota24[i * 12 + j * 4 + l];
    expect_f32(c.outputs[0], 3, I64(3, 4, 2), want);
    op_case_end(&c);

    op_case_begin(&c, "Transpose", 13);
    op_input_f32(&c, 2, I64(2, 3), iota24);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(3, 2), F32(0, 3, 1, 4, 2, 5));
    op_case_end(&c);
}

/* The tiled path of the strided copy (both transposed axes >= 4) against
 * the definition, on threads. */
static void transpose_large_planes_tiles_correctly(void **state) {
    (void)state;
    enum { N = 3, C = 37, HW = 1025 };
    static float x[N * C * HW];
    for (size_t i = 0; i < N * C * HW; i++)
        x[i] = (float)i;
    op_case c;
    op_case_begin(&c, "Transpose", 13);
    op_case_threads(&c, 3);
    op_attr_ints(&c, "perm", I64(0, 2, 1), 3);
    op_input_f32(&c, 3, I64(N, C, HW), x);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 3, I64(N, HW, C));
    const float *y = c.outputs[0]->data;
    for (size_t n = 0; n < N; n++)
        for (size_t p = 0; p < HW; p++)
            for (size_t ch = 0; ch < C; ch++) {
                float want = x[(n * C + ch) * HW + p];
                float got = y[(n * HW + p) * C + ch];
                if (got != want)
                    fail_msg("y[%zu,%zu,%zu]: expected %g, got %g", n, p, ch,
                             (double)want, (double)got);
            }
    op_case_end(&c);
}

static void concat_skips_empty_inputs(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Concat", 13);
    op_attr_int(&c, "axis", -1);
    op_input_i64(&c, 2, I64(2, 1), I64(1, 2));
    op_input_i64(&c, 2, I64(2, 0), NULL);
    op_input_i64(&c, 2, I64(2, 2), I64(3, 4, 5, 6));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 3), I64(1, 3, 4, 2, 5, 6));
    op_case_end(&c);

    op_case_begin(&c, "Concat", 13);
    op_attr_int(&c, "axis", 0);
    op_input_i64(&c, 2, I64(2, 1), NULL);
    op_input_i64(&c, 2, I64(2, 2), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "input 1 [2,2] does not match input 0 [2,1]");
    op_case_end(&c);
}

static void split_by_attr_input_equal_and_num_outputs(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Split", 11);
    op_attr_ints(&c, "split", I64(1, 3), 2);
    op_input_f32(&c, 1, I64(4), F32(1, 2, 3, 4));
    op_outputs(&c, 2);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(1), F32(1));
    expect_f32(c.outputs[1], 1, I64(3), F32(2, 3, 4));
    op_case_end(&c);

    op_case_begin(&c, "Split", 13);
    op_attr_int(&c, "axis", 1);
    op_input_f32(&c, 2, I64(2, 4), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_outputs(&c, 2);
    op_case_ok(&c); /* equal halves */
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(1, 2, 5, 6));
    expect_f32(c.outputs[1], 2, I64(2, 2), F32(3, 4, 7, 8));
    op_case_end(&c);

    op_case_begin(&c, "Split", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input_i64(&c, 1, I64(3), I64(0, 2, 1));
    op_outputs(&c, 3);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 1, I64(0));
    expect_f32(c.outputs[1], 1, I64(2), F32(1, 2));
    expect_f32(c.outputs[2], 1, I64(1), F32(3));
    op_case_end(&c);

    op_case_begin(&c, "Split", 18);
    op_attr_int(&c, "num_outputs", 3);
    op_input_f32(&c, 1, I64(5), F32(1, 2, 3, 4, 5));
    op_outputs(&c, 3);
    op_case_ok(&c); /* ceil(5/3) = 2 per part, the last gets 1 */
    expect_f32(c.outputs[0], 1, I64(2), F32(1, 2));
    expect_f32(c.outputs[1], 1, I64(2), F32(3, 4));
    expect_f32(c.outputs[2], 1, I64(1), F32(5));
    op_case_end(&c);

    op_case_begin(&c, "Split", 13);
    op_input_f32(&c, 1, I64(5), NULL);
    op_outputs(&c, 2);
    op_case_fails(&c, KH_ESHAPE, "does not split into 2 equal parts");
    op_case_end(&c);
}

static void slice_clamps_out_of_range_bounds(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Slice", 13);
    op_input_f32(&c, 2, I64(2, 4), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_input_i64(&c, 1, I64(2), I64(-100, 1));
    op_input_i64(&c, 1, I64(2), I64(100, INT64_MAX));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 3), F32(2, 3, 4, 6, 7, 8));
    op_case_end(&c);

    /* Start past the end: empty. */
    op_case_begin(&c, "Slice", 13);
    op_input_f32(&c, 1, I64(4), F32(1, 2, 3, 4));
    op_input_i64(&c, 1, I64(1), I64(10));
    op_input_i64(&c, 1, I64(1), I64(20));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 1, I64(0));
    op_case_end(&c);
}

static void slice_negative_steps_walk_backwards(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Slice", 13);
    op_input_f32(&c, 2, I64(2, 4), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_input_i64(&c, 1, I64(1), I64(-1));        /* starts */
    op_input_i64(&c, 1, I64(1), I64(INT64_MIN)); /* ends: before the start */
    op_input_i64(&c, 1, I64(1), I64(-1));        /* axes */
    op_input_i64(&c, 1, I64(1), I64(-2));        /* steps */
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(4, 2, 8, 6));
    op_case_end(&c);

    op_case_begin(&c, "Slice", 13);
    op_input_f32(&c, 1, I64(4), F32(1, 2, 3, 4));
    op_input_i64(&c, 1, I64(1), I64(0));
    op_input_i64(&c, 1, I64(1), I64(4));
    op_input_i64(&c, 1, I64(1), I64(0));
    op_input_i64(&c, 1, I64(1), I64(0));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EINVAL, "steps[0] is 0");
    op_case_end(&c);
}

static void slice_attributes_before_opset_10(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Slice", 9);
    op_attr_ints(&c, "starts", I64(1), 1);
    op_attr_ints(&c, "ends", I64(-1), 1);
    op_attr_ints(&c, "axes", I64(1), 1);
    op_input_f32(&c, 2, I64(2, 4), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(2, 3, 6, 7));
    op_case_end(&c);
}

static void pad_modes(void **state) {
    (void)state;
    static const struct {
        const char *mode;
        float want[8];
    } cases[] = {{"constant", {9, 9, 1, 2, 3, 9, 9, 9}},
                 {"reflect", {3, 2, 1, 2, 3, 2, 1, 2}},
                 {"edge", {1, 1, 1, 2, 3, 3, 3, 3}},
                 {"wrap", {2, 3, 1, 2, 3, 1, 2, 3}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_case c;
        op_case_begin(&c, "Pad", 19);
        op_attr_string(&c, "mode", cases[i].mode);
        op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
        op_input_i64(&c, 1, I64(2), I64(2, 3));
        op_input_f32(&c, 0, NULL, F32(9));
        op_outputs(&c, 1);
        op_case_ok(&c);
        expect_context = cases[i].mode;
        expect_f32(c.outputs[0], 1, I64(8), cases[i].want);
        expect_context = "";
        op_case_end(&c);
    }
}

static void pad_reflect_2d_and_negative_pads_crop(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Pad", 13);
    op_attr_string(&c, "mode", "reflect");
    op_input_f32(&c, 2, I64(2, 3), F32(1, 2, 3, 4, 5, 6));
    op_input_i64(&c, 1, I64(4), I64(1, 0, 0, -1)); /* [b0, b1, e0, e1] */
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(3, 2), F32(4, 5, 1, 2, 4, 5));
    op_case_end(&c);

    /* Opset 2: pads and value as attributes; an int input. */
    op_case_begin(&c, "Pad", 2);
    op_attr_ints(&c, "pads", I64(1, 1), 2);
    op_attr_float(&c, "value", 7);
    op_input(&c, ONNX_INT32, 1, I64(1), I32(5));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(3), I64(7, 5, 7));
    op_case_end(&c);

    /* Opset 18: axes input picks the padded axes. */
    op_case_begin(&c, "Pad", 18);
    op_input_f32(&c, 2, I64(1, 2), F32(1, 2));
    op_input_i64(&c, 1, I64(2), I64(1, 0));
    op_input_none(&c);
    op_input_i64(&c, 1, I64(1), I64(-1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(1, 3), F32(0, 1, 2));
    op_case_end(&c);

    op_case_begin(&c, "Pad", 13);
    op_input_f32(&c, 1, I64(2), F32(1, 2));
    op_input_i64(&c, 1, I64(2), I64(-2, -1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "is negative");
    op_case_end(&c);
}

static void gather_negative_indices_and_range_check(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Gather", 13);
    op_attr_int(&c, "axis", 1);
    op_input_f32(&c, 2, I64(2, 3), F32(1, 2, 3, 4, 5, 6));
    op_input_i64(&c, 2, I64(2, 2), I64(-1, 0, 1, -3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 3, I64(2, 2, 2), F32(3, 1, 2, 1, 6, 4, 5, 4));
    op_case_end(&c);

    op_case_begin(&c, "Gather", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input(&c, ONNX_INT32, 0, NULL, I32(-2));
    op_outputs(&c, 1);
    op_case_ok(&c); /* scalar index: rank drops */
    expect_f32(c.outputs[0], 0, NULL, F32(2));
    op_case_end(&c);

    op_case_begin(&c, "Gather", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input_i64(&c, 1, I64(2), I64(0, 3));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "index 3 (at 1) is out of range");
    op_case_end(&c);
}

static void expand_and_tile(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Expand", 13);
    op_input_f32(&c, 2, I64(3, 1), F32(1, 2, 3));
    op_input_i64(&c, 1, I64(3), I64(2, 1, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 3, I64(2, 3, 2),
               F32(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3));
    op_case_end(&c);

    op_case_begin(&c, "Tile", 13);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 1, I64(2), I64(2, 3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(4, 6),
               F32(1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4,
                   3, 4, 3, 4));
    op_case_end(&c);

    op_case_begin(&c, "Tile", 13);
    op_input_f32(&c, 1, I64(2), NULL);
    op_input_i64(&c, 1, I64(2), I64(1, 1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "2 repeats for an input of rank 1");
    op_case_end(&c);
}

static void shape_size_and_their_ranges(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Shape", 15);
    op_attr_int(&c, "start", -2);
    op_input_f32(&c, 3, I64(2, 3, 4), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(2), I64(3, 4));
    op_case_end(&c);

    op_case_begin(&c, "Shape", 15);
    op_attr_int(&c, "start", 5);
    op_attr_int(&c, "end", -10);
    op_input_f32(&c, 3, I64(2, 3, 4), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_shape(c.outputs[0], 1, I64(0));
    op_case_end(&c);

    op_case_begin(&c, "Size", 13);
    op_input_f32(&c, 3, I64(2, 3, 4), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 0, NULL, I64(24));
    op_case_end(&c);
}

static void range_counts_like_numpy(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Range", 11);
    op_input(&c, ONNX_INT32, 0, NULL, I32(10));
    op_input(&c, ONNX_INT32, 0, NULL, I32(4));
    op_input(&c, ONNX_INT32, 0, NULL, I32(-3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 1, I64(2), I64(10, 7));
    op_case_end(&c);

    op_case_begin(&c, "Range", 11);
    op_input_f32(&c, 0, NULL, F32(1));
    op_input_f32(&c, 0, NULL, F32(2));
    op_input_f32(&c, 0, NULL, F32(0.25f));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(4), F32(1, 1.25f, 1.5f, 1.75f));
    op_case_end(&c);

    op_case_begin(&c, "Range", 11);
    op_input_i64(&c, 0, NULL, I64(0));
    op_input_i64(&c, 0, NULL, I64(5));
    op_input_i64(&c, 0, NULL, I64(0));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EINVAL, "delta must not be 0");
    op_case_end(&c);

    op_case_begin(&c, "Range", 11);
    op_input_unknown(&c, ONNX_INT64, 0, NULL, I64(0));
    op_input_i64(&c, 0, NULL, I64(5));
    op_input_i64(&c, 0, NULL, I64(1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EDYNAMIC, "start is not known");
    op_case_end(&c);
}

static void constant_of_shape_and_constant(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ConstantOfShape", 9);
    op_attr_tensor(&c, "value", ONNX_INT32, 1, I64(1), I32(7));
    op_input_i64(&c, 1, I64(2), I64(2, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 2, I64(2, 2), I64(7, 7, 7, 7));
    op_case_end(&c);

    op_case_begin(&c, "ConstantOfShape", 9);
    op_input_i64(&c, 1, I64(1), I64(3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(0, 0, 0));
    op_case_end(&c);

    op_case_begin(&c, "Constant", 13);
    op_attr_ints(&c, "value_ints", I64(4, 5), 2);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 1, I64(2), I64(4, 5));
    op_case_end(&c);

    op_case_begin(&c, "Constant", 13);
    op_attr_string(&c, "value_string", "x");
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "value_string");
    op_case_end(&c);
}

static void onehot_with_negative_indices_and_axis(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "OneHot", 11);
    op_attr_int(&c, "axis", 0);
    op_input_i64(&c, 1, I64(3), I64(0, -1, 5));
    op_input_f32(&c, 0, NULL, F32(3));
    op_input_f32(&c, 1, I64(2), F32(0, 1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    /* Column j is index j: 0 -> row 0, -1 -> row 2, 5 -> none. */
    expect_f32(c.outputs[0], 2, I64(3, 3), F32(1, 0, 0, 0, 0, 0, 0, 1, 0));
    op_case_end(&c);
}

static void depth_to_space_and_back(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "DepthToSpace", 13);
    op_attr_int(&c, "blocksize", 2);
    op_attr_string(&c, "mode", "CRD");
    op_input_f32(&c, 4, I64(1, 4, 1, 2), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 4, I64(1, 1, 2, 4), F32(1, 3, 2, 4, 5, 7, 6, 8));
    op_case_end(&c);

    /* DCR and SpaceToDepth are inverses. */
    op_case d, s;
    op_case_begin(&d, "DepthToSpace", 13);
    op_attr_int(&d, "blocksize", 2);
    op_input_f32(&d, 4, I64(1, 8, 1, 3), iota24);
    op_outputs(&d, 1);
    op_case_ok(&d);
    expect_shape(d.outputs[0], 4, I64(1, 2, 2, 6));
    op_case_begin(&s, "SpaceToDepth", 13);
    op_attr_int(&s, "blocksize", 2);
    op_input_f32(&s, 4, I64(1, 2, 2, 6), d.outputs[0]->data);
    op_outputs(&s, 1);
    op_case_ok(&s);
    expect_f32(s.outputs[0], 4, I64(1, 8, 1, 3), iota24);
    op_case_end(&d);
    op_case_end(&s);
}

static void trilu_keeps_a_triangle(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Trilu", 14);
    op_input_i64(&c, 2, I64(3, 3), I64(1, 2, 3, 4, 5, 6, 7, 8, 9));
    op_input_i64(&c, 0, NULL, I64(1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(3, 3),
                I64(0, 2, 3, 0, 0, 6, 0, 0, 0));
    op_case_end(&c);

    op_case_begin(&c, "Trilu", 14);
    op_attr_int(&c, "upper", 0);
    op_input_i64(&c, 2, I64(2, 3), I64(1, 2, 3, 4, 5, 6));
    op_input_unknown(&c, ONNX_INT64, 0, NULL, I64(-1)); /* k at run time */
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 3), I64(0, 0, 0, 4, 0, 0));
    op_case_end(&c);
}

static void nonzero_lists_coordinates(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "NonZero", 13);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 0, -0.0f, 3));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 2), I64(0, 1, 0, 1));
    op_case_end(&c);

    op_case_begin(&c, "NonZero", 13);
    op_input_unknown(&c, ONNX_FLOAT, 1, I64(2), F32(1, 0));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EDYNAMIC, "depends on the input values");
    op_case_end(&c);
}

static void dropout_is_identity_with_true_mask(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Dropout", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input_f32(&c, 0, NULL, F32(0.5f));
    op_outputs(&c, 2);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(1, 2, 3));
    expect_ints(c.outputs[1], ONNX_BOOL, 1, I64(3), I64(1, 1, 1));
    op_case_end(&c);

    op_case_begin(&c, "Dropout", 13);
    op_input_f32(&c, 1, I64(3), F32(1, 2, 3));
    op_input_f32(&c, 0, NULL, F32(0.5f));
    op_input(&c, ONNX_BOOL, 0, NULL, U8(1));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "random dropout");
    op_case_end(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reshape_copies_zero_and_infers_minus_one),
        cmocka_unit_test(reshape_allowzero_keeps_zero),
        cmocka_unit_test(reshape_errors_name_shapes),
        cmocka_unit_test(reshape_of_unknown_shape_input_is_dynamic),
        cmocka_unit_test(flatten_accepts_negative_axis),
        cmocka_unit_test(squeeze_and_unsqueeze_take_axes_attr_or_input),
        cmocka_unit_test(transpose_permutes_and_reverses_by_default),
        cmocka_unit_test(transpose_large_planes_tiles_correctly),
        cmocka_unit_test(concat_skips_empty_inputs),
        cmocka_unit_test(split_by_attr_input_equal_and_num_outputs),
        cmocka_unit_test(slice_clamps_out_of_range_bounds),
        cmocka_unit_test(slice_negative_steps_walk_backwards),
        cmocka_unit_test(slice_attributes_before_opset_10),
        cmocka_unit_test(pad_modes),
        cmocka_unit_test(pad_reflect_2d_and_negative_pads_crop),
        cmocka_unit_test(gather_negative_indices_and_range_check),
        cmocka_unit_test(expand_and_tile),
        cmocka_unit_test(shape_size_and_their_ranges),
        cmocka_unit_test(range_counts_like_numpy),
        cmocka_unit_test(constant_of_shape_and_constant),
        cmocka_unit_test(onehot_with_negative_indices_and_axis),
        cmocka_unit_test(depth_to_space_and_back),
        cmocka_unit_test(trilu_keeps_a_triangle),
        cmocka_unit_test(nonzero_lists_coordinates),
        cmocka_unit_test(dropout_is_identity_with_true_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
