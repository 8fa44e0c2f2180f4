#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

static void rfc4648_vectors_round_trip(void **state) {
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob",
                                        "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *text = kh_base64_encode((const uint8_t *)plain[i],
                                      strlen(plain[i]));
        assert_non_null(text);
        assert_string_equal(text, coded[i]);
        uint8_t *bytes = NULL;
        size_t n = 99;
        assert_true(kh_base64_decode(text, strlen(text), &bytes, &n));
        assert_non_null(bytes);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(bytes, plain[i], n);
        free(bytes);
        free(text);
    }
}

static void every_byte_value_round_trips(void **state) {
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char *text = kh_base64_encode(all, sizeof all);
    assert_non_null(text);
    uint8_t *back;
    size_t n;
    assert_true(kh_base64_decode(text, strlen(text), &back, &n));
    assert_int_equal(n, sizeof all);
    assert_memory_equal(back, all, sizeof all);
    free(back);
    free(text);
}

static void refuses_what_is_not_base64(void **state) {
    (void)state;
    uint8_t *bytes = NULL;
    size_t n;
    assert_true(kh_base64_decode("TWE", 3, &bytes, &n)); /* no padding */
    assert_int_equal(n, 2);
    assert_memory_equal(bytes, "Ma", 2);
    free(bytes);
    bytes = NULL;
    assert_false(kh_base64_decode("T", 1, &bytes, &n));
    assert_false(kh_base64_decode("TW=E", 4, &bytes, &n));
    assert_false(kh_base64_decode("TW E", 4, &bytes, &n));
    assert_false(kh_base64_decode("TQ===", 5, &bytes, &n));
    assert_false(kh_base64_decode("TQ-_", 4, &bytes, &n)); /* URL alphabet */
    assert_false(kh_base64_decode("TWE=A", 5, &bytes, &n));
    assert_null(bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors_round_trip),
        cmocka_unit_test(every_byte_value_round_trips),
        cmocka_unit_test(refuses_what_is_not_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
