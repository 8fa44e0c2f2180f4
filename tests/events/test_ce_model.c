/* The CloudEvents model: attributes, extensions, data, validation, and the
 * text checks behind them (UTF-8, timestamps, media types, Base64). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/base64.h"
#include "common/utf8.h"
#include "events/ce_text.h"
#include "events/cloudevent.h"
#include "test_ce_support.h"

static void set_get_and_remove_attributes(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    ce_minimal(&ev, "1");
    kh_error err = {0};
    assert_string_equal(kh_cloudevent_get(&ev, "id"), "1");
    assert_int_equal(kh_cloudevent_set(&ev, "id", "2", &err), KH_OK);
    assert_string_equal(ev.id, "2");
    assert_int_equal(kh_cloudevent_set(&ev, "subject", "s", &err), KH_OK);
    assert_int_equal(kh_cloudevent_set(&ev, "subject", NULL, &err), KH_OK);
    assert_null(ev.subject);
    assert_null(kh_cloudevent_get(&ev, "nothing"));

    /* Unknown names are extensions; order kept; replace and remove. */
    assert_int_equal(kh_cloudevent_set(&ev, "pictureid", "42", &err), KH_OK);
    assert_int_equal(kh_cloudevent_set(&ev, "traceparent", "00-x", &err),
                     KH_OK);
    assert_int_equal(kh_cloudevent_set(&ev, "pictureid", "43", &err), KH_OK);
    assert_int_equal(ev.n_extensions, 2);
    assert_string_equal(ev.extensions[0].name, "pictureid");
    assert_string_equal(kh_cloudevent_get(&ev, "pictureid"), "43");
    assert_int_equal(kh_cloudevent_set(&ev, "pictureid", NULL, &err), KH_OK);
    assert_int_equal(ev.n_extensions, 1);
    assert_string_equal(ev.extensions[0].name, "traceparent");
    assert_int_equal(kh_cloudevent_validate(&ev, &err), KH_OK);
    kh_cloudevent_free(&ev);
    kh_cloudevent_free(NULL);
    kh_cloudevents_free(NULL, 3);
}

static void extension_names_are_checked(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    ce_minimal(&ev, "1");
    kh_error err = {0};
    const char *bad[] = {"MyExtension", "my.extension", "my-ext", "",
                         "ext_1", "data", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = kh_cloudevent_set(&ev, bad[i], "v", &err);
        if (rc != KH_EINVAL)
            fail_msg("name '%s' accepted (rc %d)", bad[i], rc);
    }
    ce_assert_contains(err.message, "not a valid attribute name");
    assert_true(kh_cloudevent_name_valid("abc123"));
    assert_true(kh_cloudevent_name_valid("1abc")); /* v1.0.2: digits anywhere */
    assert_false(kh_cloudevent_name_valid(NULL));
    /* Long names: up to the bound every binding can carry. */
    char longest[KH_CLOUDEVENT_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[KH_CLOUDEVENT_NAME_MAX] = '\0';
    assert_true(kh_cloudevent_name_valid(longest));
    longest[KH_CLOUDEVENT_NAME_MAX] = 'a';
    longest[KH_CLOUDEVENT_NAME_MAX + 1] = '\0';
    assert_false(kh_cloudevent_name_valid(longest));
    assert_int_equal(kh_cloudevent_set(&ev, longest, "v", &err), KH_EINVAL);
    assert_int_equal(ev.n_extensions, 0);
    kh_cloudevent_free(&ev);
}

static void too_many_extensions_are_refused(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    ce_minimal(&ev, "1");
    kh_error err = {0};
    char name[16];
    for (int i = 0; i < KH_CLOUDEVENT_MAX_EXTENSIONS; i++) {
        snprintf(name, sizeof name, "ext%d", i);
        assert_int_equal(kh_cloudevent_set(&ev, name, "v", &err), KH_OK);
    }
    assert_int_equal(kh_cloudevent_set(&ev, "onemore", "v", &err), KH_ELIMIT);
    /* Replacing an existing one is still fine. */
    assert_int_equal(kh_cloudevent_set(&ev, "ext0", "w", &err), KH_OK);
    kh_cloudevent_free(&ev);
}

static void data_and_copy_are_deep(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    ce_minimal(&ev, "1");
    kh_error err = {0};
    assert_int_equal(kh_cloudevent_set(&ev, "ext", "v", &err), KH_OK);
    const uint8_t bytes[] = {0, 1, 2, 0xff};
    assert_int_equal(kh_cloudevent_set_data(&ev, bytes, sizeof bytes,
                                            "application/octet-stream", &err),
                     KH_OK);
    assert_string_equal(ev.datacontenttype, "application/octet-stream");
    ev.data_is_base64_in_json = true;

    kh_cloudevent copy;
    assert_int_equal(kh_cloudevent_copy(&copy, &ev, &err), KH_OK);
    ce_assert_equal(&ev, &copy);
    assert_true(copy.data_is_base64_in_json);
    assert_ptr_not_equal(copy.data, ev.data);
    assert_ptr_not_equal(copy.id, ev.id);
    kh_cloudevent_free(&ev);
    assert_string_equal(copy.extensions[0].value, "v"); /* still there */

    /* Empty but present data vs no data. */
    assert_int_equal(kh_cloudevent_set_data(&copy, "", 0, NULL, &err), KH_OK);
    assert_non_null(copy.data);
    assert_int_equal(copy.data_len, 0);
    assert_false(copy.data_is_base64_in_json);
    assert_int_equal(kh_cloudevent_set_data(&copy, NULL, 0, NULL, &err),
                     KH_OK);
    assert_null(copy.data);
    assert_int_equal(kh_cloudevent_set_data(&copy, NULL, 3, NULL, &err),
                     KH_EINVAL);
    kh_cloudevent_free(&copy);
}

typedef struct invalid_case {
    const char *attribute;
    const char *value; /* NULL: removed */
    const char *message_part;
} invalid_case;

static void validation_names_what_is_wrong(void **unused) {
    (void)unused;
    /* The conformance suite's invalid single events, on the model. */
    const invalid_case cases[] = {
        {"specversion", NULL, "missing required attribute 'specversion'"},
        {"id", NULL, "missing required attribute 'id'"},
        {"type", NULL, "missing required attribute 'type'"},
        {"source", NULL, "missing required attribute 'source'"},
        {"id", "", "'id' is empty"},
        {"type", "", "'type' is empty"},
        {"source", "", "'source' is empty"},
        {"specversion", "", "'specversion' is empty"},
        {"specversion", "0.9", "specversion '0.9' is not supported"},
        {"specversion", "1.0.2", "not supported"},
        {"time", "lunchtime", "RFC 3339"},
        {"time", "2018-04-05T18:31Z", "RFC 3339"},
        {"time", "2018-04-05T18:31:00X", "RFC 3339"},
        {"time", "2018-04-05T18:31:00+25:00", "RFC 3339"},
        {"time", "2018-04-05T18:31:00+xx:00", "RFC 3339"},
        {"time", "2018-04-05T18:31:00+05", "RFC 3339"},
        {"time", "2019-02-29T00:00:00Z", "RFC 3339"},
        {"datacontenttype", "xyz", "RFC 2046"},
        {"datacontenttype", "", "'datacontenttype' is empty"},
        {"dataschema", "", "'dataschema' is empty"},
        {"dataschema", "/relative/only", "absolute URI"},
        {"subject", "", "'subject' is empty"},
        {"subject", "line\nbreak", "not a valid CloudEvents string"},
        {"subject", "c1 control \xc2\x85", "at byte 11"},
        {"id", "bad \xc0\xa0 utf8", "not a valid CloudEvents string"},
        {"id", "surrogate \xed\xa0\x80", "not a valid CloudEvents string"},
        {"myext", "nonchar \xef\xbf\xbe", "extension 'myext'"},
        {"myext", "del \x7f", "extension 'myext'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kh_cloudevent ev;
        ce_minimal(&ev, "invalid");
        kh_error err = {0};
        assert_int_equal(
            kh_cloudevent_set(&ev, cases[i].attribute, cases[i].value, &err),
            KH_OK);
        int rc = kh_cloudevent_validate(&ev, &err);
        if (rc != KH_EINVAL)
            fail_msg("case %zu (%s=%s): validate gave %d, expected EINVAL", i,
                     cases[i].attribute,
                     cases[i].value ? cases[i].value : "(removed)", rc);
        ce_assert_contains(err.message, cases[i].message_part);
        kh_cloudevent_free(&ev);
    }
}

static void valid_values_pass(void **unused) {
    (void)unused;
    /* The conformance suite's valid single events, on the model. */
    const char *times[] = {"2018-04-05T17:31:00Z", "2018-04-05T17:31:00.000000000Z",
                           "2018-04-05T18:31:00+01:00", "2018-04-05T16:31:00-01:00",
                           "2020-02-29T23:59:60z", "2018-04-05t17:31:00.5+14:00"};
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        kh_cloudevent ev;
        ce_minimal(&ev, "ok");
        kh_error err = {0};
        kh_cloudevent_set(&ev, "time", times[i], &err);
        if (kh_cloudevent_validate(&ev, &err) != KH_OK)
            fail_msg("time '%s' refused: %s", times[i], err.message);
        kh_cloudevent_free(&ev);
    }
    kh_cloudevent ev;
    ce_build(&ev, "specversion", "1.0", "id", "allCore", "source",
             "#fragment", "type", "io.cloudevents.test", "datacontenttype",
             "text/plain; charset=\"utf-8\"", "dataschema",
             "https://cloudevents.io/dataschema", "subject",
             "Euro \xe2\x82\xac \xf0\x9f\x98\x80", "exturiref",
             "//authority/path", NULL);
    kh_error err = {0};
    if (kh_cloudevent_validate(&ev, &err) != KH_OK)
        fail_msg("valid event refused: %s", err.message);
    kh_cloudevent_free(&ev);
}

static void text_helpers(void **unused) {
    (void)unused;
    assert_true(kh_utf8_valid("\xf0\x9f\x98\x80", 4, NULL));
    assert_false(kh_utf8_valid("\xc0\xa0", 2, NULL)); /* overlong */
    assert_false(kh_utf8_valid("\xe0\x80\xaf", 3, NULL));
    assert_false(kh_utf8_valid("\xf4\x90\x80\x80", 4, NULL));
    assert_false(kh_utf8_valid("\xe2\x82", 2, NULL)); /* short */
    assert_false(kh_utf8_valid("\x80", 1, NULL));

    assert_true(kh_ce_media_type_valid("application/json"));
    assert_true(kh_ce_media_type_valid("application/json; charset=utf-8"));
    assert_true(kh_ce_media_type_valid("text/plain;charset=\"us-ascii\""));
    assert_true(kh_ce_media_type_valid("application/vnd.apache.thrift.binary"));
    assert_false(kh_ce_media_type_valid("xyz"));
    assert_false(kh_ce_media_type_valid("text/"));
    assert_false(kh_ce_media_type_valid("text/plain; charset"));
    assert_false(kh_ce_media_type_valid("text/plain; a=\"open"));
    char essence[64];
    assert_true(kh_ce_media_type_essence(" Application/JSON ; charset=x",
                                         essence, sizeof essence));
    assert_string_equal(essence, "application/json");

    const char *samples[] = {"", "M", "Ma", "Man", "light work."};
    const char *encoded[] = {"", "TQ==", "TWE=", "TWFu", "bGlnaHQgd29yay4="};
    for (size_t i = 0; i < 5; i++) {
        char *text = kh_base64_encode((const uint8_t *)samples[i],
                                         strlen(samples[i]));
        assert_string_equal(text, encoded[i]);
        uint8_t *bytes;
        size_t n;
        assert_true(kh_base64_decode(text, strlen(text), &bytes, &n));
        assert_int_equal(n, strlen(samples[i]));
        assert_memory_equal(bytes, samples[i], n);
        free(bytes);
        free(text);
    }
    uint8_t *bytes;
    size_t n;
    assert_true(kh_base64_decode("TWE", 3, &bytes, &n)); /* no padding */
    assert_int_equal(n, 2);
    free(bytes);
    assert_false(kh_base64_decode("T", 1, &bytes, &n));
    assert_false(kh_base64_decode("TW=E", 4, &bytes, &n));
    assert_false(kh_base64_decode("TW E", 4, &bytes, &n));
    assert_false(kh_base64_decode("TQ===", 5, &bytes, &n));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_get_and_remove_attributes),
        cmocka_unit_test(extension_names_are_checked),
        cmocka_unit_test(too_many_extensions_are_refused),
        cmocka_unit_test(data_and_copy_are_deep),
        cmocka_unit_test(validation_names_what_is_wrong),
        cmocka_unit_test(valid_values_pass),
        cmocka_unit_test(text_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
