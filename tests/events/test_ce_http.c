/* The HTTP protocol binding without a network: header value coding, mode
 * detection, binary/structured/batched decoding (the conformance suite's
 * http-protocol-binding.feature cases among them) and encode/decode round
 * trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/ce_http.h"
#include "events/ce_json.h"
#include "events/cloudevent.h"
#include "test_ce_support.h"

#define N(array) (sizeof(array) / sizeof *(array))

static void header_value_encoding(void **unused) {
    (void)unused;
    /* The binding's own example. */
    char *encoded =
        kh_ce_http_header_value_encode("Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(encoded, "Euro%20%E2%82%AC%20%F0%9F%98%80");
    free(encoded);
    /* Only space, double quote, percent and non-printable ASCII. */
    encoded = kh_ce_http_header_value_encode("a\"b%c d/e?f=g&h'+,;:@[]{}~\x7f\t");
    assert_string_equal(encoded, "a%22b%25c%20d/e?f=g&h'+,;:@[]{}~%7F%09");
    free(encoded);
}

static void decode_header(const char *value, const char *expected) {
    char *out;
    kh_error err = {0};
    int rc = kh_ce_http_header_value_decode(value, &out, &err);
    if (rc != KH_OK)
        fail_msg("decode '%s': %s", value, err.message);
    assert_string_equal(out, expected);
    free(out);
}

static void refuse_header(const char *value, const char *message_part) {
    char *out;
    kh_error err = {0};
    int rc = kh_ce_http_header_value_decode(value, &out, &err);
    if (rc != KH_EFORMAT)
        fail_msg("'%s' decoded (rc %d), expected a refusal", value, rc);
    assert_null(out);
    ce_assert_contains(err.message, message_part);
}

static void header_value_decoding(void **unused) {
    (void)unused;
    decode_header("Euro%20%E2%82%AC%20%F0%9F%98%80",
                  "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    decode_header("%e2%82%ac", "\xe2\x82\xac"); /* lower-case hex accepted */
    decode_header("%41%42C", "ABC");             /* needless encoding ok */
    decode_header("a+b", "a+b");                 /* '+' is not a space here */
    decode_header("\"quoted value \\\"with\\\" escapes\"",
                  "quoted value \"with\" escapes");
    decode_header("\"100%25\"", "100%"); /* unquote first, then decode */
    decode_header("", "");
    refuse_header("%zz", "percent-encoding");
    refuse_header("50%", "percent-encoding");
    refuse_header("%C0%A0", "UTF-8"); /* the binding's overlong example */
    refuse_header("%FF", "UTF-8");
    refuse_header("%ED%A0%80", "UTF-8"); /* a surrogate */
    refuse_header("a%00b", "NUL");
    refuse_header("\"open", "unterminated");
    refuse_header("\"a\" b", "after the closing quote");
}

static void mode_detection(void **unused) {
    (void)unused;
    const struct {
        const char *content_type;
        bool specversion;
        kh_ce_mode mode;
    } cases[] = {
        {"application/cloudevents+json", false, KH_CE_MODE_STRUCTURED},
        {"application/cloudevents+json; charset=utf-8", true,
         KH_CE_MODE_STRUCTURED},
        {"Application/CloudEvents+JSON;charset=UTF-8", false,
         KH_CE_MODE_STRUCTURED},
        {"application/cloudevents-batch+json", false, KH_CE_MODE_BATCH},
        {"application/cloudevents-batch+json; charset=utf-8", true,
         KH_CE_MODE_BATCH},
        {"application/cloudevents+avro", true, KH_CE_MODE_UNKNOWN},
        {"application/cloudevents-batch+avro", false, KH_CE_MODE_UNKNOWN},
        {"application/json", true, KH_CE_MODE_BINARY},
        {"application/json", false, KH_CE_MODE_UNKNOWN},
        {NULL, true, KH_CE_MODE_BINARY},
        {NULL, false, KH_CE_MODE_UNKNOWN},
        {"text/plain", true, KH_CE_MODE_BINARY},
    };
    for (size_t i = 0; i < N(cases); i++) {
        kh_ce_mode mode = kh_ce_http_mode(cases[i].content_type,
                                          cases[i].specversion);
        if (mode != cases[i].mode)
            fail_msg("'%s' (ce-specversion %s): %s, expected %s",
                     cases[i].content_type ? cases[i].content_type : "(none)",
                     cases[i].specversion ? "yes" : "no",
                     kh_ce_mode_name(mode), kh_ce_mode_name(cases[i].mode));
    }
}

static int decode(const kh_http_header *headers, size_t n, const char *body,
                  kh_cloudevent **events, size_t *count, kh_ce_mode *mode,
                  kh_error *err) {
    return kh_ce_http_decode_message(headers, n, (const uint8_t *)body,
                                     body ? strlen(body) : 0, events, count,
                                     mode, err);
}

/* features/http-protocol-binding.feature: binary content mode. */
static void conformance_binary_mode(void **unused) {
    (void)unused;
    const char *types[] = {"application/json",
                           "application/json; charset=utf-8"};
    for (size_t t = 0; t < N(types); t++) {
        kh_http_header headers[] = {
            {"Host", "example.com"},
            {"ce-specversion", "1.0"},
            {"ce-type", "com.example.someevent"},
            {"ce-time", "2018-04-05T03:56:24Z"},
            {"ce-id", "1234-1234-1234"},
            {"ce-source", "/mycontext/subcontext"},
            {"Content-Type", (char *)types[t]},
            {"Content-Length", "33"},
        };
        kh_cloudevent *events;
        size_t count;
        kh_ce_mode mode;
        kh_error err = {0};
        const char *body = "{\n    \"message\": \"Hello World!\"\n}";
        if (decode(headers, N(headers), body, &events, &count, &mode, &err) !=
            KH_OK)
            fail_msg("%s: %s", types[t], err.message);
        assert_int_equal(mode, KH_CE_MODE_BINARY);
        assert_int_equal(count, 1);
        kh_cloudevent *ev = &events[0];
        assert_string_equal(ev->id, "1234-1234-1234");
        assert_string_equal(ev->specversion, "1.0");
        assert_string_equal(ev->type, "com.example.someevent");
        assert_string_equal(ev->source, "/mycontext/subcontext");
        assert_string_equal(ev->time, "2018-04-05T03:56:24Z");
        assert_string_equal(ev->datacontenttype, types[t]);
        ce_assert_data(ev, body); /* the body, byte for byte */
        assert_int_equal(ev->n_extensions, 0); /* Host is not an attribute */
        kh_cloudevents_free(events, count);
    }
}

/* features/http-protocol-binding.feature: structured content mode. */
static void conformance_structured_mode(void **unused) {
    (void)unused;
    const char *types[] = {"application/cloudevents+json",
                           "application/cloudevents+json; charset=utf-8"};
    const char *body =
        "{\n    \"specversion\": \"1.0\",\n    \"type\": "
        "\"com.example.someevent\",\n    \"time\": \"2018-04-05T03:56:24Z\",\n"
        "    \"id\": \"1234-1234-1234\",\n    \"source\": "
        "\"/mycontext/subcontext\",\n    \"datacontenttype\": "
        "\"application/json\",\n    \"data\": {\n        \"message\": \"Hello "
        "World!\"\n    }\n}";
    for (size_t t = 0; t < N(types); t++) {
        kh_http_header headers[] = {{"Content-Type", (char *)types[t]}};
        kh_cloudevent *events;
        size_t count;
        kh_ce_mode mode;
        kh_error err = {0};
        if (decode(headers, N(headers), body, &events, &count, &mode, &err) !=
            KH_OK)
            fail_msg("%s: %s", types[t], err.message);
        assert_int_equal(mode, KH_CE_MODE_STRUCTURED);
        assert_int_equal(count, 1);
        assert_string_equal(events[0].id, "1234-1234-1234");
        assert_string_equal(events[0].time, "2018-04-05T03:56:24Z");
        assert_string_equal(events[0].datacontenttype, "application/json");
        ce_assert_data(&events[0], "{\"message\":\"Hello World!\"}");
        kh_cloudevents_free(events, count);
    }
}

static void binary_mode_headers(void **unused) {
    (void)unused;
    /* Case-insensitive names, extensions, percent-encoded values, no
     * Content-Type (no datacontenttype), no body (no data). */
    kh_http_header headers[] = {
        {"CE-SpecVersion", "1.0"},
        {"Ce-Id", "42"},
        {"ce-source", "/pictures"},
        {"ce-type", "io.khappy.picture.uploaded"},
        {"ce-subject", "Euro%20%E2%82%AC"},
        {"ce-PictureId", "7"},
        {"ce-traceparent",
         "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"},
        {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    };
    kh_cloudevent *events;
    size_t count;
    kh_error err = {0};
    if (decode(headers, N(headers), NULL, &events, &count, NULL, &err) != KH_OK)
        fail_msg("%s", err.message);
    kh_cloudevent *ev = &events[0];
    assert_string_equal(ev->subject, "Euro \xe2\x82\xac");
    assert_string_equal(kh_cloudevent_get(ev, "pictureid"), "7");
    assert_string_equal(
        kh_cloudevent_get(ev, "traceparent"),
        "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01");
    assert_int_equal(ev->n_extensions, 2);
    assert_null(ev->datacontenttype);
    assert_null(ev->data);
    kh_cloudevents_free(events, count);
}

typedef struct bad_message {
    const char *name;
    kh_http_header headers[8];
    size_t n_headers;
    const char *body;
    int rc;
    const char *message_part;
} bad_message;

#define REQUIRED {"ce-specversion", "1.0"}, {"ce-id", "1"}, \
                 {"ce-source", "/s"}, {"ce-type", "t"}

static void refused_messages(void **unused) {
    (void)unused;
    const bad_message cases[] = {
        {"datacontenttype header",
         {REQUIRED, {"ce-datacontenttype", "text/plain"}}, 5, NULL, KH_EINVAL,
         "must not be present in binary mode"},
        {"bad header name", {REQUIRED, {"ce-my-ext", "x"}}, 5, NULL, KH_EINVAL,
         "'my-ext' is not a valid attribute name"},
        {"empty header name", {REQUIRED, {"ce-", "x"}}, 5, NULL, KH_EINVAL,
         "not a valid attribute name"},
        {"repeated", {REQUIRED, {"CE-ID", "2"}}, 5, NULL, KH_EINVAL,
         "repeated"},
        {"bad percent", {REQUIRED, {"ce-subject", "100%"}}, 5, NULL,
         KH_EFORMAT, "header 'ce-subject': bad percent-encoding"},
        {"invalid utf-8", {REQUIRED, {"ce-ext", "%C0%A0"}}, 5, NULL, KH_EFORMAT,
         "header 'ce-ext': not valid UTF-8"},
        {"control character", {REQUIRED, {"ce-ext", "a%0Ab"}}, 5, NULL,
         KH_EINVAL, "not a valid CloudEvents string"},
        {"bad specversion",
         {{"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "/s"},
          {"ce-type", "t"}},
         4, NULL, KH_EINVAL, "specversion '0.3' is not supported"},
        {"missing id",
         {{"ce-specversion", "1.0"}, {"ce-source", "/s"}, {"ce-type", "t"}},
         3, NULL, KH_EINVAL, "missing required attribute 'id'"},
        {"bad content type", {REQUIRED, {"Content-Type", "xyz"}}, 5, "x",
         KH_EINVAL, "RFC 2046"},
        {"plain JSON, no ce headers", {{"Content-Type", "application/json"}}, 1,
         "{}", KH_EUNSUPPORTED, "not a CloudEvent"},
        {"nothing at all", {{"Host", "x"}}, 1, NULL, KH_EUNSUPPORTED,
         "not a CloudEvent"},
        {"avro", {{"Content-Type", "application/cloudevents+avro"}}, 1, "x",
         KH_EUNSUPPORTED, "unsupported event format"},
        {"structured bad JSON",
         {{"Content-Type", "application/cloudevents+json"}}, 1, "{\"id\":",
         KH_EFORMAT, "invalid JSON"},
        {"structured empty", {{"Content-Type", "application/cloudevents+json"}},
         1, NULL, KH_EFORMAT, "invalid JSON"},
        {"structured invalid event",
         {{"Content-Type", "application/cloudevents+json"}}, 1,
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}", KH_EINVAL,
         "missing required attribute 'source'"},
        {"batch of a non-array",
         {{"Content-Type", "application/cloudevents-batch+json"}}, 1, "{}",
         KH_EFORMAT, "a batch must be a JSON array"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        kh_cloudevent *events = (kh_cloudevent *)1;
        size_t count = 99;
        kh_error err = {0};
        int rc = decode(cases[i].headers, cases[i].n_headers, cases[i].body,
                        &events, &count, NULL, &err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d (%s)", cases[i].name, rc,
                     cases[i].rc, err.message);
        ce_assert_contains(err.message, cases[i].message_part);
        assert_null(events);
        assert_int_equal(count, 0);
        int status = kh_ce_http_status_for_decode(rc);
        assert_int_equal(status, rc == KH_EUNSUPPORTED ? 415 : 400);
    }
}

static kh_cloudevent sample_event(const char *content_type, const void *data,
                                  size_t len) {
    kh_cloudevent ev;
    ce_build(&ev, "specversion", "1.0", "id", "evt-1", "source",
             "/khappy/pictures", "type", "io.khappy.picture.uploaded",
             "subject", "caf\xc3\xa9 \"100%\" done", "time",
             "2024-05-01T12:00:00.123Z", "dataschema",
             "https://khappy.example/schema", "pictureid", "42", "traceparent",
             "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01", NULL);
    kh_error err = {0};
    if (data && kh_cloudevent_set_data(&ev, data, len, content_type, &err))
        fail_msg("set_data: %s", err.message);
    return ev;
}

static void round_trip(const kh_cloudevent *ev, kh_ce_mode mode) {
    kh_http_header *headers;
    size_t n_headers;
    uint8_t *body;
    size_t body_len;
    kh_error err = {0};
    if (kh_ce_http_encode(ev, mode, &headers, &n_headers, &body, &body_len,
                          &err) != KH_OK)
        fail_msg("encode (%s): %s", kh_ce_mode_name(mode), err.message);
    /* Every header value is printable ASCII without spaces or quotes. */
    for (size_t i = 0; i < n_headers; i++) {
        if (strncmp(headers[i].name, "ce-", 3) != 0)
            continue;
        for (const char *p = headers[i].value; *p; p++) {
            if (*p <= 0x20 || *p > 0x7e || *p == '"')
                fail_msg("header %s: raw byte 0x%02x in '%s'", headers[i].name,
                         (unsigned char)*p, headers[i].value);
        }
    }
    kh_cloudevent *events;
    size_t count;
    kh_ce_mode detected;
    if (kh_ce_http_decode_message(headers, n_headers, body, body_len, &events,
                                  &count, &detected, &err) != KH_OK)
        fail_msg("decode (%s): %s", kh_ce_mode_name(mode), err.message);
    assert_int_equal(detected, mode);
    assert_int_equal(count, 1);
    ce_assert_equal(ev, &events[0]);
    kh_cloudevents_free(events, count);
    kh_ce_http_headers_free(headers, n_headers);
    free(body);
}

static void encode_decode_round_trips(void **unused) {
    (void)unused;
    const uint8_t binary[] = {0x89, 'P', 'N', 'G', 0, 0xff, 0xfe, 10};
    kh_cloudevent events[] = {
        sample_event("application/json", "{\"faces\":[1,2]}", 15),
        sample_event("text/plain; charset=utf-8", "hello \xe2\x82\xac", 9),
        sample_event("image/png", binary, sizeof binary),
        sample_event(NULL, NULL, 0),
    };
    kh_ce_mode modes[] = {KH_CE_MODE_BINARY, KH_CE_MODE_STRUCTURED,
                          KH_CE_MODE_BATCH};
    for (size_t e = 0; e < N(events); e++) {
        for (size_t m = 0; m < N(modes); m++)
            round_trip(&events[e], modes[m]);
        kh_cloudevent_free(&events[e]);
    }
}

static void large_event_round_trips(void **unused) {
    (void)unused;
    size_t len = 200 * 1024;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7);
    kh_cloudevent ev = sample_event("application/octet-stream", data, len);
    round_trip(&ev, KH_CE_MODE_BINARY);
    round_trip(&ev, KH_CE_MODE_STRUCTURED);
    kh_cloudevent_free(&ev);
    free(data);
}

static void binary_encoding_details(void **unused) {
    (void)unused;
    /* A JSON-format event without datacontenttype: the implied type is
     * made explicit. */
    kh_cloudevent ev;
    kh_error err = {0};
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"D\",\"source\":\"/s\","
                       "\"type\":\"t\",\"data\":\"I'm just a string\"}";
    assert_int_equal(kh_ce_json_decode(json, strlen(json), &ev, &err), KH_OK);
    kh_http_header *headers;
    size_t n;
    uint8_t *body;
    size_t len;
    assert_int_equal(kh_ce_http_encode(&ev, KH_CE_MODE_BINARY, &headers, &n,
                                       &body, &len, &err),
                     KH_OK);
    assert_string_equal(kh_http_headers_get(headers, n, "Content-Type"),
                        "application/json");
    assert_string_equal(kh_http_headers_get(headers, n, "ce-id"), "D");
    assert_null(kh_http_headers_get(headers, n, "ce-datacontenttype"));
    assert_int_equal(len, strlen("\"I'm just a string\""));
    assert_memory_equal(body, "\"I'm just a string\"", len);
    kh_ce_http_headers_free(headers, n);
    free(body);

    /* Structured and batch name their media types. */
    assert_int_equal(kh_ce_http_encode(&ev, KH_CE_MODE_STRUCTURED, &headers,
                                       &n, &body, &len, &err),
                     KH_OK);
    assert_string_equal(kh_http_headers_get(headers, n, "Content-Type"),
                        "application/cloudevents+json; charset=utf-8");
    assert_int_equal(n, 1);
    kh_ce_http_headers_free(headers, n);
    free(body);
    assert_int_equal(kh_ce_http_encode_batch(&ev, 1, &headers, &n, &body, &len,
                                             &err),
                     KH_OK);
    assert_string_equal(kh_http_headers_get(headers, n, "Content-Type"),
                        "application/cloudevents-batch+json; charset=utf-8");
    assert_int_equal(body[0], '[');
    kh_ce_http_headers_free(headers, n);
    free(body);

    /* Invalid events are not sent. */
    kh_cloudevent_set(&ev, "id", NULL, &err);
    assert_int_equal(kh_ce_http_encode(&ev, KH_CE_MODE_BINARY, &headers, &n,
                                       &body, &len, &err),
                     KH_EINVAL);
    assert_null(headers);
    assert_null(body);
    kh_cloudevent_free(&ev);
}

static void replies_from_responses(void **unused) {
    (void)unused;
    kh_cloudevent ev = sample_event("text/plain", "pong", 4);
    kh_http_response res;
    kh_http_response_init(&res);
    kh_error err = {0};
    assert_int_equal(kh_ce_http_response_set_event(&res, 200, &ev,
                                                   KH_CE_MODE_BINARY, &err),
                     KH_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(kh_http_response_header_get(&res, "Content-Type"),
                        "text/plain");
    kh_cloudevent reply;
    bool has_reply;
    assert_int_equal(kh_ce_http_decode_reply(&res, &reply, &has_reply, &err),
                     KH_OK);
    assert_true(has_reply);
    ce_assert_equal(&ev, &reply);
    kh_cloudevent_free(&reply);

    /* Not 2xx, or not an event: no reply. */
    res.status = 503;
    assert_int_equal(kh_ce_http_decode_reply(&res, &reply, &has_reply, &err),
                     KH_OK);
    assert_false(has_reply);
    kh_http_response_free(&res);
    kh_http_response_init(&res);
    res.status = 202;
    assert_int_equal(kh_ce_http_decode_reply(&res, &reply, &has_reply, &err),
                     KH_OK);
    assert_false(has_reply);
    /* A broken reply event is an error. */
    kh_http_response_header(&res, "ce-specversion", "1.0");
    res.status = 200;
    assert_int_equal(kh_ce_http_decode_reply(&res, &reply, &has_reply, &err),
                     KH_EINVAL);
    assert_false(has_reply);
    kh_http_response_free(&res);
    kh_cloudevent_free(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_value_encoding),
        cmocka_unit_test(header_value_decoding),
        cmocka_unit_test(mode_detection),
        cmocka_unit_test(conformance_binary_mode),
        cmocka_unit_test(conformance_structured_mode),
        cmocka_unit_test(binary_mode_headers),
        cmocka_unit_test(refused_messages),
        cmocka_unit_test(encode_decode_round_trips),
        cmocka_unit_test(large_event_round_trips),
        cmocka_unit_test(binary_encoding_details),
        cmocka_unit_test(replies_from_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
