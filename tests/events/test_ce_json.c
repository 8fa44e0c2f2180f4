/* The JSON event format: the cases of the CloudEvents conformance suite
 * (format/json valid/invalid events and batches, yaml/v1.0 minimum events)
 * re-expressed here, plus data vs data_base64 and the error cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/ce_json.h"
#include "events/cloudevent.h"
#include "test_ce_support.h"

#define BASE "\"specversion\":\"1.0\",\"type\":\"io.cloudevents.test\"," \
             "\"source\":\"https://cloudevents.io\""

static void decode_ok(const char *json, kh_cloudevent *ev) {
    kh_error err = {0};
    int rc = kh_ce_json_decode(json, strlen(json), ev, &err);
    if (rc != KH_OK)
        fail_msg("decode of %s failed (%d): %s", json, rc, err.message);
}

static void valid_conformance_events(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    decode_ok("{" BASE ",\"id\":\"minimal\"}", &ev);
    assert_string_equal(ev.id, "minimal");
    assert_string_equal(ev.specversion, "1.0");
    assert_null(ev.data);
    kh_cloudevent_free(&ev);

    decode_ok("{" BASE ",\"id\":\"minimal\",\"datacontenttype\":null,"
              "\"dataschema\":null,\"subject\":null,\"time\":null}",
              &ev);
    assert_null(ev.datacontenttype);
    assert_null(ev.time);
    kh_cloudevent_free(&ev);

    decode_ok("{" BASE ",\"id\":\"allCore\",\"datacontenttype\":\"text/plain\","
              "\"dataschema\":\"https://cloudevents.io/dataschema\","
              "\"subject\":\"tests\",\"time\":\"2018-04-05T17:31:00Z\"}",
              &ev);
    assert_string_equal(ev.datacontenttype, "text/plain");
    assert_string_equal(ev.dataschema, "https://cloudevents.io/dataschema");
    assert_string_equal(ev.subject, "tests");
    assert_string_equal(ev.time, "2018-04-05T17:31:00Z");
    kh_cloudevent_free(&ev);

    const char *times[] = {"2018-04-05T17:31:00.000000000Z",
                           "2018-04-05T18:31:00+01:00",
                           "2018-04-05T16:31:00-01:00"};
    for (size_t i = 0; i < 3; i++) {
        char json[256];
        snprintf(json, sizeof json, "{" BASE ",\"id\":\"t\",\"time\":\"%s\"}",
                 times[i]);
        decode_ok(json, &ev);
        assert_string_equal(ev.time, times[i]);
        kh_cloudevent_free(&ev);
    }

    decode_ok("{\"id\":\"rel\",\"specversion\":\"1.0\",\"type\":\"t\","
              "\"source\":\"#fragment\"}",
              &ev);
    assert_string_equal(ev.source, "#fragment");
    kh_cloudevent_free(&ev);

    decode_ok("{" BASE ",\"id\":\"simpleTextData\",\"datacontenttype\":"
              "\"text/plain\",\"data\":\"Simple text\"}",
              &ev);
    ce_assert_data(&ev, "Simple text");
    assert_false(ev.data_is_base64_in_json);
    kh_cloudevent_free(&ev);

    /* Extensions of every type, kept in canonical string form. */
    decode_ok("{" BASE ",\"id\":\"allExtensionTypes\",\"extinteger\":10,"
              "\"extboolean\":true,\"extstring\":\"text\",\"exturi\":"
              "\"https://cloudevents.io\",\"exturiref\":\"//authority/path\","
              "\"exttimestamp\":\"2023-03-31T15:12:00Z\",\"extbinary\":"
              "\"TWE=\",\"extfalse\":false,\"extnegative\":-2147483648,"
              "\"unsetextension\":null}",
              &ev);
    assert_string_equal(kh_cloudevent_get(&ev, "extinteger"), "10");
    assert_string_equal(kh_cloudevent_get(&ev, "extboolean"), "true");
    assert_string_equal(kh_cloudevent_get(&ev, "extfalse"), "false");
    assert_string_equal(kh_cloudevent_get(&ev, "extnegative"), "-2147483648");
    assert_string_equal(kh_cloudevent_get(&ev, "extbinary"), "TWE=");
    assert_string_equal(kh_cloudevent_get(&ev, "exturiref"),
                        "//authority/path");
    assert_null(kh_cloudevent_get(&ev, "unsetextension"));
    assert_int_equal(ev.n_extensions, 9);
    kh_cloudevent_free(&ev);
}

typedef struct invalid_json {
    const char *name;
    const char *json;
    int rc;
    const char *message_part;
} invalid_json;

static void invalid_conformance_events(void **unused) {
    (void)unused;
    const invalid_json cases[] = {
        {"invalidNoSpecVersion",
         "{\"id\":\"i\",\"type\":\"t\",\"source\":\"s\"}", KH_EINVAL,
         "'specversion'"},
        {"invalidNoId", "{" BASE "}", KH_EINVAL, "missing required attribute 'id'"},
        {"invalidNoType",
         "{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\"}", KH_EINVAL,
         "'type'"},
        {"invalidNoSource",
         "{\"specversion\":\"1.0\",\"id\":\"i\",\"type\":\"t\"}", KH_EINVAL,
         "'source'"},
        {"invalidTimeGarbage", "{" BASE ",\"id\":\"i\",\"time\":\"lunchtime\"}",
         KH_EINVAL, "RFC 3339"},
        {"invalidTimeToMinute",
         "{" BASE ",\"id\":\"i\",\"time\":\"2018-04-05T18:31Z\"}", KH_EINVAL,
         "RFC 3339"},
        {"invalidTimeOffsetX",
         "{" BASE ",\"id\":\"i\",\"time\":\"2018-04-05T18:31:00X\"}", KH_EINVAL,
         "RFC 3339"},
        {"invalidTimeOffsetOutOfRange",
         "{" BASE ",\"id\":\"i\",\"time\":\"2018-04-05T18:31:00+25:00\"}",
         KH_EINVAL, "RFC 3339"},
        {"invalidTimeOffsetNonInteger",
         "{" BASE ",\"id\":\"i\",\"time\":\"2018-04-05T18:31:00+xx:00\"}",
         KH_EINVAL, "RFC 3339"},
        {"invalidTimeOffsetHourOnly",
         "{" BASE ",\"id\":\"i\",\"time\":\"2018-04-05T18:31:00+05\"}",
         KH_EINVAL, "RFC 3339"},
        {"invalidEmptyId", "{" BASE ",\"id\":\"\"}", KH_EINVAL, "'id' is empty"},
        {"invalidEmptyType",
         "{\"specversion\":\"1.0\",\"id\":\"i\",\"type\":\"\",\"source\":\"s\"}",
         KH_EINVAL, "'type' is empty"},
        {"invalidEmptySource",
         "{\"specversion\":\"1.0\",\"id\":\"i\",\"type\":\"t\",\"source\":\"\"}",
         KH_EINVAL, "'source' is empty"},
        {"invalidEmptySpecVersion",
         "{\"specversion\":\"\",\"id\":\"i\",\"type\":\"t\",\"source\":\"s\"}",
         KH_EINVAL, "'specversion' is empty"},
        {"invalidUnknownSpecVersion",
         "{\"specversion\":\"0.9\",\"id\":\"i\",\"type\":\"t\",\"source\":\"s\"}",
         KH_EINVAL, "specversion '0.9' is not supported"},
        {"invalidNonRfc2046DataContentType",
         "{" BASE ",\"id\":\"i\",\"datacontenttype\":\"xyz\"}", KH_EINVAL,
         "RFC 2046"},
        {"invalidEmptyDataContentType",
         "{" BASE ",\"id\":\"i\",\"datacontenttype\":\"\"}", KH_EINVAL,
         "'datacontenttype' is empty"},
        {"invalidEmptyDataSchema", "{" BASE ",\"id\":\"i\",\"dataschema\":\"\"}",
         KH_EINVAL, "'dataschema' is empty"},
        {"invalidEmptySubject", "{" BASE ",\"id\":\"i\",\"subject\":\"\"}",
         KH_EINVAL, "'subject' is empty"},
        {"invalidNumericId", "{" BASE ",\"id\":25}", KH_EINVAL,
         "attribute 'id' is an integer; it must be a string"},
        {"invalidObjectId", "{" BASE ",\"id\":{\"xyz\":\"abc\"}}", KH_EINVAL,
         "attribute 'id' is an object"},
        {"invalidCapitalizedExtension",
         "{" BASE ",\"id\":\"i\",\"MyExtension\":\"bad\"}", KH_EINVAL,
         "'MyExtension' is not a valid attribute name"},
        {"invalidPunctuatedExtension",
         "{" BASE ",\"id\":\"i\",\"my.extension\":\"bad\"}", KH_EINVAL,
         "'my.extension' is not a valid attribute name"},
        {"invalidNonIntegerExtensionValue",
         "{" BASE ",\"id\":\"i\",\"myextension\":1.5}", KH_EINVAL,
         "a non-integer number"},
        {"invalidBothDataAndDataBase64",
         "{" BASE ",\"id\":\"i\",\"data\":\"text\",\"data_base64\":"
         "\"eyAieHl6IjogMTIzIH0=\"}",
         KH_EINVAL, "mutually exclusive"},
        /* Ours: the error cases the conformance suite does not list. */
        {"integerOutOfRange", "{" BASE ",\"id\":\"i\",\"big\":2147483648}",
         KH_EINVAL, "32-bit"},
        {"objectExtension", "{" BASE ",\"id\":\"i\",\"obj\":{}}", KH_EINVAL,
         "extension values must be strings"},
        {"badBase64", "{" BASE ",\"id\":\"i\",\"data_base64\":\"***\"}",
         KH_EINVAL, "not valid Base64"},
        {"numericBase64", "{" BASE ",\"id\":\"i\",\"data_base64\":12}",
         KH_EINVAL, "not a Base64 string"},
        {"objectDataForText",
         "{" BASE ",\"id\":\"i\",\"datacontenttype\":\"application/xml\","
         "\"data\":{\"a\":1}}",
         KH_EINVAL, "must be a string"},
        {"nulInAttribute", "{" BASE ",\"id\":\"a\\u0000b\"}", KH_EINVAL,
         "NUL"},
        {"controlInAttribute", "{" BASE ",\"id\":\"a\\u0001b\"}", KH_EINVAL,
         "not a valid CloudEvents string"},
        {"duplicateKey", "{" BASE ",\"id\":\"a\",\"id\":\"b\"}", KH_EFORMAT,
         "invalid JSON"},
        {"truncated", "{" BASE ",\"id\":\"a\"", KH_EFORMAT, "line 1"},
        {"notJson", "hello", KH_EFORMAT, "invalid JSON"},
        {"empty", "", KH_EFORMAT, "invalid JSON"},
        {"array", "[]", KH_EFORMAT, "must be a JSON object, not an array"},
        {"string", "\"event\"", KH_EFORMAT, "not a string"},
        {"badUtf8", "{" BASE ",\"id\":\"\xc0\xa0\"}", KH_EFORMAT,
         "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kh_cloudevent ev;
        kh_error err = {0};
        int rc = kh_ce_json_decode(cases[i].json, strlen(cases[i].json), &ev,
                                   &err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d (%s)", cases[i].name, rc,
                     cases[i].rc, err.message);
        ce_assert_contains(err.message, cases[i].message_part);
        /* Nothing to free after a failure: ev is zeroed. */
        assert_null(ev.id);
        assert_null(ev.extensions);
    }
}

static void batches(void **unused) {
    (void)unused;
    kh_cloudevent *events;
    size_t n;
    kh_error err = {0};
    assert_int_equal(kh_ce_json_decode_batch("[]", 2, &events, &n, &err),
                     KH_OK);
    assert_int_equal(n, 0);
    assert_null(events);

    const char *two = "[{" BASE ",\"id\":\"minimal\"},{" BASE ",\"id\":"
                      "\"allExtensionTypes\",\"extinteger\":10}]";
    assert_int_equal(kh_ce_json_decode_batch(two, strlen(two), &events, &n,
                                             &err),
                     KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(events[0].id, "minimal");
    assert_string_equal(kh_cloudevent_get(&events[1], "extinteger"), "10");

    /* Encode then decode: the same events. */
    char *json;
    size_t len;
    assert_int_equal(kh_ce_json_encode_batch(events, n, &json, &len, &err),
                     KH_OK);
    kh_cloudevent *again;
    size_t n_again;
    assert_int_equal(kh_ce_json_decode_batch(json, len, &again, &n_again,
                                             &err),
                     KH_OK);
    assert_int_equal(n_again, 2);
    ce_assert_equal(&events[0], &again[0]);
    ce_assert_equal(&events[1], &again[1]);
    free(json);
    kh_cloudevents_free(again, n_again);
    kh_cloudevents_free(events, n);

    assert_int_equal(kh_ce_json_encode_batch(NULL, 0, &json, &len, &err),
                     KH_OK);
    assert_string_equal(json, "[]");
    free(json);

    const invalid_json cases[] = {
        {"invalidBatchMixedSpecVersions",
         "[{" BASE ",\"id\":\"m1\"},{\"specversion\":\"0.9\",\"id\":\"m2\","
         "\"type\":\"t\",\"source\":\"s\"}]",
         KH_EINVAL, "batch event 1: specversion '0.9'"},
        {"invalidBatchContainingInvalidCloudEvent", "[{" BASE "}]", KH_EINVAL,
         "batch event 0: missing required attribute 'id'"},
        {"invalidBatchContainingNonObject",
         "[\"not an object\",{" BASE ",\"id\":\"m1\"}]", KH_EFORMAT,
         "batch event 0: an event must be a JSON object"},
        {"notAnArray", "{" BASE ",\"id\":\"m1\"}", KH_EFORMAT,
         "a batch must be a JSON array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = kh_ce_json_decode_batch(cases[i].json, strlen(cases[i].json),
                                         &events, &n, &err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d (%s)", cases[i].name, rc,
                     cases[i].rc, err.message);
        ce_assert_contains(err.message, cases[i].message_part);
        assert_null(events);
        assert_int_equal(n, 0);
    }
}

static void data_by_content_type(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    /* JSON content: the value itself, held as compact JSON text. */
    decode_ok("{" BASE ",\"id\":\"C\",\"datacontenttype\":\"application/json\","
              "\"data\":{ \"appinfoA\" : \"abc\", \"appinfoB\" : 123, "
              "\"appinfoC\" : true, \"real\": 0.1, \"n\": null }}",
              &ev);
    ce_assert_data(&ev, "{\"appinfoA\":\"abc\",\"appinfoB\":123,"
                        "\"appinfoC\":true,\"real\":0.1,\"n\":null}");
    kh_cloudevent_free(&ev);
    /* No datacontenttype means JSON; a string stays a JSON string. */
    decode_ok("{" BASE ",\"id\":\"D\",\"data\":\"I'm just a string\"}", &ev);
    ce_assert_data(&ev, "\"I'm just a string\"");
    assert_null(ev.datacontenttype);
    kh_cloudevent_free(&ev);
    /* +json suffix, and an explicit null payload. */
    decode_ok("{" BASE ",\"id\":\"E\",\"datacontenttype\":"
              "\"application/vnd.khappy+json; charset=utf-8\",\"data\":null}",
              &ev);
    ce_assert_data(&ev, "null");
    kh_cloudevent_free(&ev);
    /* Not JSON: the string's characters. */
    decode_ok("{" BASE ",\"id\":\"B\",\"datacontenttype\":\"application/xml\","
              "\"data\":\"<much wow=\\\"xml\\\"/>\"}",
              &ev);
    ce_assert_data(&ev, "<much wow=\"xml\"/>");
    kh_cloudevent_free(&ev);
    /* Binary: data_base64. */
    decode_ok("{" BASE ",\"id\":\"A\",\"datacontenttype\":"
              "\"application/vnd.apache.thrift.binary\",\"data_base64\":"
              "\"AAEC/w==\"}",
              &ev);
    assert_true(ev.data_is_base64_in_json);
    assert_int_equal(ev.data_len, 4);
    assert_memory_equal(ev.data, "\x00\x01\x02\xff", 4);
    kh_cloudevent_free(&ev);
    /* data_base64: null is unset and does not clash with data. */
    decode_ok("{" BASE ",\"id\":\"A\",\"data\":1,\"data_base64\":null}", &ev);
    ce_assert_data(&ev, "1");
    kh_cloudevent_free(&ev);
}

static void encode(const kh_cloudevent *ev, char **json) {
    kh_error err = {0};
    size_t len;
    if (kh_ce_json_encode(ev, json, &len, &err) != KH_OK)
        fail_msg("encode: %s", err.message);
    assert_int_equal(strlen(*json), len);
}

static void encoding_picks_data_or_data_base64(void **unused) {
    (void)unused;
    kh_cloudevent ev;
    kh_error err = {0};
    char *json;

    ce_minimal(&ev, "1");
    kh_cloudevent_set(&ev, "pictureid", "42", &err);
    kh_cloudevent_set(&ev, "subject", "Euro \xe2\x82\xac \"q\"", &err);
    kh_cloudevent_set_data(&ev, "{ \"a\" : [1, 2.5] }", 18,
                           "application/json", &err);
    encode(&ev, &json);
    /* JSON data spliced verbatim, attributes in spec order. */
    assert_string_equal(json,
                        "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":"
                        "\"/khappy/tests\",\"type\":\"io.khappy.test\","
                        "\"datacontenttype\":\"application/json\",\"subject\":"
                        "\"Euro \xe2\x82\xac \\\"q\\\"\",\"pictureid\":\"42\","
                        "\"data\":{ \"a\" : [1, 2.5] }}");
    free(json);

    /* Bytes that are not JSON under a JSON type: data_base64. */
    kh_cloudevent_set_data(&ev, "not json", 8, NULL, &err);
    encode(&ev, &json);
    ce_assert_contains(json, "\"data_base64\":\"bm90IGpzb24=\"");
    free(json);

    /* Text: a string, escaped. */
    kh_cloudevent_set_data(&ev, "line1\nline2 \"x\"", 15,
                           "text/plain; charset=utf-8", &err);
    encode(&ev, &json);
    ce_assert_contains(json, "\"data\":\"line1\\nline2 \\\"x\\\"\"");
    free(json);

    /* Binary types and invalid UTF-8 text: data_base64. */
    kh_cloudevent_set_data(&ev, "abc", 3, "application/octet-stream", &err);
    encode(&ev, &json);
    ce_assert_contains(json, "\"data_base64\":\"YWJj\"");
    free(json);
    kh_cloudevent_set_data(&ev, "\xff\xfe", 2, "text/plain", &err);
    encode(&ev, &json);
    ce_assert_contains(json, "\"data_base64\":\"//4=\"");
    free(json);

    /* Data that arrived as data_base64 stays binary even if it is text. */
    kh_cloudevent_set_data(&ev, "abc", 3, "text/plain", &err);
    ev.data_is_base64_in_json = true;
    encode(&ev, &json);
    ce_assert_contains(json, "\"data_base64\":\"YWJj\"");
    kh_cloudevent decoded;
    decode_ok(json, &decoded);
    ce_assert_equal(&ev, &decoded);
    assert_true(decoded.data_is_base64_in_json);
    kh_cloudevent_free(&decoded);
    free(json);

    /* Invalid events are not encoded. */
    kh_cloudevent_set(&ev, "time", "yesterday", &err);
    size_t len;
    assert_int_equal(kh_ce_json_encode(&ev, &json, &len, &err), KH_EINVAL);
    assert_null(json);
    ce_assert_contains(err.message, "RFC 3339");
    kh_cloudevent_free(&ev);
}

/* yaml/v1.0/v1_minimum.yaml of the conformance suite: each event goes
 * through the JSON format and back unchanged. */
static void conformance_minimum_events_round_trip(void **unused) {
    (void)unused;
    const struct {
        const char *id;
        const char *content_type;
        const char *data;
        const char *data_after; /* JSON is re-written compactly */
    } cases[] = {
        {"conformance-0001", "text/plain; charset=us-ascii",
         "Hello, World!\n", NULL},
        {"conformance-0002", "text/plain; charset=utf-8",
         "Hello, \xf0\x9f\x8c\x8e!\n", NULL},
        {"conformance-0003", "application/json; charset=utf-8",
         "\"Hello, \xf0\x9f\x8c\x8e!\"\n",
         "\"Hello, \xf0\x9f\x8c\x8e!\""},
        {"conformance-0004", "application/json; charset=utf-8",
         "{\"msg\":\"Hello, \xf0\x9f\x8c\x8e!\"}\n",
         "{\"msg\":\"Hello, \xf0\x9f\x8c\x8e!\"}"},
        {"conformance-0005", "application/json; charset=utf-8",
         "[\"Hello\",\"\xf0\x9f\x8c\x8e!\"]\n",
         "[\"Hello\",\"\xf0\x9f\x8c\x8e!\"]"},
        {"conformance-0006", "application/xml; charset=utf-8",
         "<msg>Hello, \xf0\x9f\x8c\x8e!</msg>\n", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kh_cloudevent ev;
        ce_build(&ev, "specversion", "1.0", "type", "io.cloudevents.minimum",
                 "id", cases[i].id, "source",
                 "//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
                 NULL);
        kh_error err = {0};
        assert_int_equal(kh_cloudevent_set_data(&ev, cases[i].data,
                                                strlen(cases[i].data),
                                                cases[i].content_type, &err),
                         KH_OK);
        char *json;
        encode(&ev, &json);
        /* Text and JSON stay readable: no data_base64 for these. */
        if (strstr(json, "data_base64"))
            fail_msg("%s: encoded as binary: %s", cases[i].id, json);
        kh_cloudevent back;
        decode_ok(json, &back);
        if (cases[i].data_after)
            kh_cloudevent_set_data(&ev, cases[i].data_after,
                                   strlen(cases[i].data_after), NULL, &err);
        ce_assert_equal(&ev, &back);
        free(json);
        kh_cloudevent_free(&back);
        kh_cloudevent_free(&ev);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_conformance_events),
        cmocka_unit_test(invalid_conformance_events),
        cmocka_unit_test(batches),
        cmocka_unit_test(data_by_content_type),
        cmocka_unit_test(encoding_picks_data_or_data_base64),
        cmocka_unit_test(conformance_minimum_events_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
