#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/json_text.h"

/* Escapes s[0..len) with flags and compares the whole output. */
static void expect_json(const char *s, size_t len, unsigned flags,
                        const char *want) {
    kh_text t = {0};
    kh_json_string(&t, s, len, flags);
    assert_false(t.failed);
    if (strcmp(t.data, want) != 0)
        fail_msg("flags %u: expected [%s], got [%s]", flags, want, t.data);
    kh_text_free(&t);
}

#define EXPECT(s, flags, want) expect_json(s, sizeof(s) - 1, flags, want)

static void quotes_backslashes_and_plain_text(void **state) {
    (void)state;
    EXPECT("", KH_JSON_DEFAULT, "\"\"");
    EXPECT("plain text", KH_JSON_DEFAULT, "\"plain text\"");
    EXPECT("a\"b\\c/", KH_JSON_DEFAULT, "\"a\\\"b\\\\c/\"");
    EXPECT("a\"b\\c", KH_JSON_UNICODE_ESCAPES, "\"a\\\"b\\\\c\"");
}

static void controls_short_or_unicode(void **state) {
    (void)state;
    EXPECT("\b\f\n\r\t\x01\x1f\x7f", KH_JSON_DEFAULT,
           "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
    EXPECT("\b\f\n\r\t\x01\x1f", KH_JSON_UNICODE_ESCAPES,
           "\"\\u0008\\u000c\\u000a\\u000d\\u0009\\u0001\\u001f\"");
    EXPECT("a\0b", KH_JSON_DEFAULT, "\"a\\u0000b\"");
}

static void bad_utf8_copied_or_replaced(void **state) {
    (void)state;
    /* é and 😀 are well-formed; \xff, a lone continuation byte and a cut
     * sequence are not. */
    const char mixed[] = "\xc3\xa9\xff\x80\xf0\x9f\x98\x80\xe2\x82";
    EXPECT(mixed, KH_JSON_DEFAULT, "\"\xc3\xa9\xff\x80\xf0\x9f\x98\x80\xe2\x82\"");
    EXPECT(mixed, KH_JSON_REPLACE_BAD_UTF8,
           "\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xf0\x9f\x98\x80"
           "\xef\xbf\xbd\xef\xbf\xbd\"");
    EXPECT(mixed, KH_JSON_REPLACE_BAD_UTF8 | KH_JSON_UNICODE_ESCAPES,
           "\"\xc3\xa9\\ufffd\\ufffd\xf0\x9f\x98\x80\\ufffd\\ufffd\"");
    /* A surrogate is three bad bytes, not one replacement. */
    EXPECT("\xed\xa0\x80", KH_JSON_REPLACE_BAD_UTF8,
           "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void long_input_appends_in_runs(void **state) {
    (void)state;
    char in[3000];
    memset(in, 'a', sizeof in);
    in[1500] = '\n';
    kh_text t = {0};
    kh_json_string(&t, in, sizeof in, KH_JSON_REPLACE_BAD_UTF8);
    assert_int_equal(t.len, sizeof in + 1 + 2);
    assert_memory_equal(t.data + 1501, "\\n", 2);
    kh_text_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quotes_backslashes_and_plain_text),
        cmocka_unit_test(controls_short_or_unicode),
        cmocka_unit_test(bad_utf8_copied_or_replaced),
        cmocka_unit_test(long_input_appends_in_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
