#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/utf8.h"

#define U8(s) ((const uint8_t *)(s))

static void decodes_each_length_with_its_code_point(void **state) {
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(kh_utf8_decode(U8("A"), 1, &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(kh_utf8_decode(U8("\xc3\xa9"), 2, &cp), 2);
    assert_int_equal(cp, 0xe9);
    assert_int_equal(kh_utf8_decode(U8("\xe2\x82\xac"), 3, &cp), 3);
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(kh_utf8_decode(U8("\xf0\x9f\x98\x80"), 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(kh_utf8_decode(U8("\xf4\x8f\xbf\xbf"), 4, &cp), 4);
    assert_int_equal(cp, 0x10ffff);
    assert_int_equal(kh_utf8_decode(U8("\0"), 1, &cp), 1); /* NUL is text */
    assert_int_equal(cp, 0);
    assert_int_equal(kh_utf8_decode(U8("\xc3\xa9"), 2, NULL), 2);
}

static void refuses_every_malformed_kind(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {"\x80", 1, "lone continuation byte"},
        {"\xc0\xa0", 2, "overlong two bytes"},
        {"\xc1\xbf", 2, "overlong two bytes"},
        {"\xe0\x80\xaf", 3, "overlong three bytes"},
        {"\xf0\x8f\xbf\xbf", 4, "overlong four bytes"},
        {"\xed\xa0\x80", 3, "surrogate U+D800"},
        {"\xed\xbf\xbf", 3, "surrogate U+DFFF"},
        {"\xf4\x90\x80\x80", 4, "past U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, "lead byte 0xf5"},
        {"\xff", 1, "byte 0xff"},
        {"\xe2\x82", 2, "cut short by len"},
        {"\xe2\x82\0", 3, "cut short by a NUL"},
        {"\xc3\x41", 2, "continuation missing"},
        {"", 0, "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = kh_utf8_decode(U8(bad[i].bytes), bad[i].len, NULL);
        if (n != 0)
            fail_msg("%s: expected 0, got %zu", bad[i].why, n);
    }
}

static void valid_reports_first_bad_offset(void **state) {
    (void)state;
    size_t at = 99;
    assert_true(kh_utf8_valid("", 0, &at));
    assert_true(kh_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, NULL));
    assert_false(kh_utf8_valid("ab\xc3\xa9x\x80yz", 8, &at));
    assert_int_equal(at, 5);
    assert_false(kh_utf8_valid("\xe2\x82", 2, &at));
    assert_int_equal(at, 0);
    assert_false(kh_utf8_valid("ok\xe2\x82", 4, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_each_length_with_its_code_point),
        cmocka_unit_test(refuses_every_malformed_kind),
        cmocka_unit_test(valid_reports_first_bad_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
