#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/clock.h"

static void formats_utc_with_milliseconds(void **state) {
    (void)state;
    char out[KH_TIME_TEXT_SIZE];
    assert_true(kh_time_format_utc_ms(0, out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    assert_true(kh_time_format_utc_ms(1714566896789, out));
    assert_string_equal(out, "2024-05-01T12:34:56.789Z");
    assert_true(kh_time_format_utc_ms(951782400005, out)); /* leap day */
    assert_string_equal(out, "2000-02-29T00:00:00.005Z");
    assert_true(kh_time_format_utc_ms(-1, out)); /* just before 1970 */
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void clocks_agree_on_units(void **state) {
    (void)state;
    int64_t ms = kh_clock_wall_ms();
    int64_t ns = kh_clock_wall_ns();
    /* Both read the same clock: the ns reading, in ms, is not earlier and
     * (without a clock step) within a minute. */
    assert_true(ms > 1600000000000); /* after 2020 */
    int64_t diff = ns / 1000000 - ms;
    if (diff < 0 || diff > 60000)
        fail_msg("wall ms %lld vs ns %lld", (long long)ms, (long long)ns);
    int64_t a = kh_clock_mono_ns();
    int64_t b = kh_clock_mono_ns();
    assert_true(b >= a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_utc_with_milliseconds),
        cmocka_unit_test(clocks_agree_on_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
