/* Random ids and the hex they are written in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/hex.h"
#include "common/random.h"

static void hex_is_lower_case_and_terminated(void **state) {
    (void)state;
    char out[9];
    memset(out, '#', sizeof out);
    kh_hex_encode("\x00\x9f\xab\xff", 4, out);
    assert_string_equal(out, "009fabff");
    kh_hex_encode("", 0, out);
    assert_string_equal(out, "");
}

static void random_hex_has_the_asked_length(void **state) {
    (void)state;
    char a[2 * 100 + 2];
    char b[2 * 100 + 2];
    kh_error err;
    /* 100 bytes: more than one internal chunk. */
    memset(a, '#', sizeof a);
    assert_int_equal(kh_random_hex(a, 100, &err), KH_OK);
    assert_int_equal(strlen(a), 200);
    assert_int_equal(a[201], '#'); /* nothing written past the NUL */
    assert_int_equal(strspn(a, "0123456789abcdef"), 200);
    assert_int_equal(kh_random_hex(b, 100, &err), KH_OK);
    assert_string_not_equal(a, b); /* 800 bits alike: not by chance */
    assert_int_equal(kh_random_hex(a, 0, &err), KH_OK);
    assert_string_equal(a, "");
}

static void random_bytes_fill_the_buffer(void **state) {
    (void)state;
    uint8_t bytes[512] = {0};
    assert_int_equal(kh_random_bytes(bytes, sizeof bytes, NULL), KH_OK);
    size_t zero = 0;
    for (size_t i = 0; i < sizeof bytes; i++)
        zero += bytes[i] == 0;
    /* About 2 of 512 are zero by chance; all of the tail untouched would
     * mean the buffer was not filled. */
    if (zero > 64)
        fail_msg("%zu of %zu bytes still zero", zero, sizeof bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_is_lower_case_and_terminated),
        cmocka_unit_test(random_hex_has_the_asked_length),
        cmocka_unit_test(random_bytes_fill_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
