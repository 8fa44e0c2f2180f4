#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/error.h"

static void set_returns_code_and_formats(void **state) {
    (void)state;
    kh_error err;
    int rc = kh_error_set(&err, KH_EFORMAT, "byte %d: bad", 12);
    assert_int_equal(rc, KH_EFORMAT);
    assert_int_equal(err.code, KH_EFORMAT);
    assert_string_equal(err.message, "byte 12: bad");
}

static void prefix_adds_context(void **state) {
    (void)state;
    kh_error err;
    kh_error_set(&err, KH_ESHAPE, "expected [1,3]");
    assert_int_equal(kh_error_prefix(&err, "node '%s'", "conv1"), KH_ESHAPE);
    assert_string_equal(err.message, "node 'conv1': expected [1,3]");
}

static void null_error_is_allowed(void **state) {
    (void)state;
    assert_int_equal(kh_error_set(NULL, KH_EIO, "x"), KH_EIO);
    kh_error_clear(NULL);
}

static void names_and_strings_cover_every_code(void **state) {
    (void)state;
    assert_string_equal(kh_err_name(KH_EUNSUPPORTED), "EUNSUPPORTED");
    assert_string_equal(kh_strerror(KH_ENOMEM), "out of memory");
    assert_string_equal(kh_strerror(12345), "unknown error");
#define CHECK(name, code, text) assert_string_equal(kh_strerror(code), text);
    KH_ERRNO_MAP(CHECK)
#undef CHECK
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_returns_code_and_formats),
        cmocka_unit_test(prefix_adds_context),
        cmocka_unit_test(null_error_is_allowed),
        cmocka_unit_test(names_and_strings_cover_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
