/* Index-driven data movement: GatherElements, GatherND, ScatterElements
 * (with reductions), ScatterND, TopK, Compress, EyeLike, ReverseSequence.
 * Out-of-range indices are errors that leave the output unwritten. Also
 * the quantisation and window generators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_ops_a_fixture.h"

static void gather_elements_along_axis(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "GatherElements", 13);
    op_attr_int(&c, "axis", 1);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 2, I64(2, 2), I64(0, 0, -1, 0));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(1, 1, 4, 3));
    op_case_end(&c);

    op_case_begin(&c, "GatherElements", 13);
    op_input_f32(&c, 1, I64(2), F32(1, 2));
    op_input_i64(&c, 1, I64(1), I64(2));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "index 2 (at 0) is out of range");
    op_case_end(&c);
}

static void gather_nd_with_batch_dims(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "GatherND", 13);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 2, I64(2, 1), I64(1, 0));
    op_outputs(&c, 1);
    op_case_ok(&c); /* rows 1 and 0 */
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(3, 4, 1, 2));
    op_case_end(&c);

    op_case_begin(&c, "GatherND", 13);
    op_attr_int(&c, "batch_dims", 1);
    op_input_f32(&c, 3, I64(2, 2, 2), F32(1, 2, 3, 4, 5, 6, 7, 8));
    op_input_i64(&c, 2, I64(2, 1), I64(1, 0));
    op_outputs(&c, 1);
    op_case_ok(&c); /* batch 0 row 1, batch 1 row 0 */
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(3, 4, 5, 6));
    op_case_end(&c);
}

static void scatter_elements_reduces(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ScatterElements", 16);
    op_attr_string(&c, "reduction", "add");
    op_input_f32(&c, 1, I64(3), F32(1, 1, 1));
    op_input_i64(&c, 1, I64(3), I64(0, 0, -1));
    op_input_f32(&c, 1, I64(3), F32(5, 6, 7));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(3), F32(12, 1, 8));
    op_case_end(&c);

    op_case_begin(&c, "ScatterElements", 16);
    op_attr_string(&c, "reduction", "avg");
    op_input_f32(&c, 1, I64(1), NULL);
    op_input_i64(&c, 1, I64(1), I64(0));
    op_input_f32(&c, 1, I64(1), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_EUNSUPPORTED, "reduction 'avg'");
    op_case_end(&c);

    op_case_begin(&c, "ScatterElements", 13);
    op_input_f32(&c, 1, I64(2), F32(1, 2));
    op_input_i64(&c, 1, I64(2), I64(0, 9));
    op_input_f32(&c, 1, I64(2), F32(3, 4));
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ERANGE, "index 9 (at 1) is out of range");
    op_case_end(&c);
}

static void scatter_nd_writes_slices(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "ScatterND", 16);
    op_attr_string(&c, "reduction", "mul");
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input_i64(&c, 2, I64(1, 1), I64(-1));
    op_input_f32(&c, 2, I64(1, 2), F32(10, 100));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(1, 2, 30, 400));
    op_case_end(&c);

    op_case_begin(&c, "ScatterND", 13);
    op_input_f32(&c, 2, I64(2, 2), NULL);
    op_input_i64(&c, 2, I64(1, 1), I64(0));
    op_input_f32(&c, 2, I64(1, 3), NULL);
    op_outputs(&c, 1);
    op_case_fails(&c, KH_ESHAPE, "updates [1,3] do not match");
    op_case_end(&c);
}

static void topk_sorts_and_breaks_ties_by_index(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "TopK", 11);
    op_input_f32(&c, 2, I64(2, 4), F32(1, 3, 3, 2, 0, -1, 5, 5));
    op_input_i64(&c, 1, I64(1), I64(2));
    op_outputs(&c, 2);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(3, 3, 5, 5));
    expect_ints(c.outputs[1], ONNX_INT64, 2, I64(2, 2), I64(1, 2, 2, 3));
    op_case_end(&c);

    op_case_begin(&c, "TopK", 11);
    op_attr_int(&c, "largest", 0);
    op_attr_int(&c, "axis", 0);
    op_input_i64(&c, 2, I64(3, 1), I64(7, -2, 4));
    op_input_i64(&c, 1, I64(1), I64(2));
    op_outputs(&c, 2);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT64, 2, I64(2, 1), I64(-2, 4));
    expect_ints(c.outputs[1], ONNX_INT64, 2, I64(2, 1), I64(1, 2));
    op_case_end(&c);

    op_case_begin(&c, "TopK", 11);
    op_input_f32(&c, 1, I64(2), NULL);
    op_input_i64(&c, 1, I64(1), I64(3));
    op_outputs(&c, 2);
    op_case_fails(&c, KH_ERANGE, "k = 3 is outside 0..2");
    op_case_end(&c);
}

static void compress_keeps_true_slices(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "Compress", 11);
    op_attr_int(&c, "axis", 1);
    op_input_f32(&c, 2, I64(2, 3), F32(1, 2, 3, 4, 5, 6));
    op_input(&c, ONNX_BOOL, 1, I64(2), U8(0, 1)); /* shorter than the axis */
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 1), F32(2, 5));
    op_case_end(&c);

    op_case_begin(&c, "Compress", 11);
    op_input_f32(&c, 2, I64(2, 2), F32(1, 2, 3, 4));
    op_input(&c, ONNX_BOOL, 1, I64(4), U8(1, 0, 0, 1));
    op_outputs(&c, 1);
    op_case_ok(&c); /* no axis: flattened */
    expect_f32(c.outputs[0], 1, I64(2), F32(1, 4));
    op_case_end(&c);
}

static void eyelike_and_reverse_sequence(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "EyeLike", 9);
    op_attr_int(&c, "k", 1);
    op_attr_int(&c, "dtype", ONNX_INT32);
    op_input_f32(&c, 2, I64(2, 3), NULL);
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT32, 2, I64(2, 3), I64(0, 1, 0, 0, 0, 1));
    op_case_end(&c);

    op_case_begin(&c, "ReverseSequence", 10);
    op_attr_int(&c, "batch_axis", 0);
    op_attr_int(&c, "time_axis", 1);
    op_input_f32(&c, 2, I64(2, 3), F32(1, 2, 3, 4, 5, 6));
    op_input_i64(&c, 1, I64(2), I64(3, 2));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 2, I64(2, 3), F32(3, 2, 1, 5, 4, 6));
    op_case_end(&c);
}

static void quantize_rounds_half_to_even_and_saturates(void **state) {
    (void)state;
    op_case c;
    op_case_begin(&c, "QuantizeLinear", 13);
    op_input_f32(&c, 1, I64(5), F32(0.5f, 1.5f, -3, 1000, -1000));
    op_input_f32(&c, 0, NULL, F32(1));
    op_input(&c, ONNX_INT8, 0, NULL, I8(1));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_ints(c.outputs[0], ONNX_INT8, 1, I64(5), I64(1, 3, -2, 127, -128));
    op_case_end(&c);

    op_case_begin(&c, "DequantizeLinear", 13);
    op_attr_int(&c, "axis", 0);
    op_input(&c, ONNX_UINT8, 2, I64(2, 2), U8(0, 10, 20, 30));
    op_input_f32(&c, 1, I64(2), F32(0.5f, 2));
    op_input(&c, ONNX_UINT8, 1, I64(2), U8(10, 20));
    op_outputs(&c, 1);
    op_case_ok(&c); /* per row: (x - zp) * scale */
    expect_f32(c.outputs[0], 2, I64(2, 2), F32(-5, 0, 0, 20));
    op_case_end(&c);

    op_case_begin(&c, "HannWindow", 17);
    op_attr_int(&c, "periodic", 0);
    op_input_i64(&c, 0, NULL, I64(5));
    op_outputs(&c, 1);
    op_case_ok(&c);
    expect_f32(c.outputs[0], 1, I64(5), F32(0, 0.5f, 1, 0.5f, 0));
    op_case_end(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_elements_along_axis),
        cmocka_unit_test(gather_nd_with_batch_dims),
        cmocka_unit_test(scatter_elements_reduces),
        cmocka_unit_test(scatter_nd_writes_slices),
        cmocka_unit_test(topk_sorts_and_breaks_ties_by_index),
        cmocka_unit_test(compress_keeps_true_slices),
        cmocka_unit_test(eyelike_and_reverse_sequence),
        cmocka_unit_test(quantize_rounds_half_to_even_and_saturates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
