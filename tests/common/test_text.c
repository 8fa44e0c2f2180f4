#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

static void growable_appends_and_takes(void **state) {
    (void)state;
    kh_text t = {0};
    kh_text_puts(&t, "a=");
    kh_text_printf(&t, "%d", 42);
    kh_text_putc(&t, ';');
    kh_text_append(&t, "xyz", 2);
    assert_false(t.failed);
    assert_string_equal(t.data, "a=42;xy");
    size_t len = 0;
    char *s = kh_text_take(&t, &len);
    assert_string_equal(s, "a=42;xy");
    assert_int_equal(len, 7);
    assert_null(t.data);
    free(s);
}

static void grows_past_first_capacity_and_long_printf(void **state) {
    (void)state;
    kh_text t;
    kh_text_init(&t);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 10; i++)
        kh_text_puts(&t, big);
    kh_text_printf(&t, "[%s]", big); /* longer than printf's small buffer */
    assert_false(t.failed);
    assert_int_equal(t.len, 10 * 999 + 1001);
    assert_int_equal(t.data[t.len], '\0');
    assert_int_equal(t.data[t.len - 1], ']');
    kh_text_free(&t);
    kh_text_free(&t); /* freed twice: still fine */
    kh_text_free(NULL);
}

static void empty_take_is_an_allocated_empty_string(void **state) {
    (void)state;
    kh_text t = {0};
    size_t len = 7;
    char *s = kh_text_take(&t, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

static void fixed_keeps_what_fits_and_stops(void **state) {
    (void)state;
    char buf[8];
    kh_text t;
    kh_text_init_fixed(&t, buf, sizeof buf);
    kh_text_puts(&t, "abc");
    kh_text_puts(&t, "defghij");
    assert_true(t.truncated);
    assert_false(t.failed);
    assert_string_equal(buf, "abcdefg");
    kh_text_puts(&t, "z");
    assert_string_equal(buf, "abcdefg");
    assert_null(kh_text_take(&t, NULL)); /* a fixed buffer is not handed */

    kh_text_init_fixed(&t, buf, 0);
    assert_true(t.truncated);
    kh_text_puts(&t, "x");
    assert_int_equal(t.len, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(growable_appends_and_takes),
        cmocka_unit_test(grows_past_first_capacity_and_long_printf),
        cmocka_unit_test(empty_take_is_an_allocated_empty_string),
        cmocka_unit_test(fixed_keeps_what_fits_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
