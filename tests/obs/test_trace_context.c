/* W3C traceparent/tracestate, B3 and the HTTP/CloudEvents carriers: every
 * rule of the parsers, with both values printed on a mismatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "obs/trace.h"

#define VALID_TRACEPARENT                                                     \
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void assert_str(const char *what, const char *expected,
                       const char *actual) {
    if (!actual || strcmp(expected, actual) != 0)
        fail_msg("%s: expected '%s', got '%s'", what, expected,
                 actual ? actual : "(null)");
}

static void assert_ids(const kh_span_context *ctx, const char *trace_hex,
                       const char *span_hex) {
    char trace[KH_TRACE_ID_HEX_SIZE], span[KH_SPAN_ID_HEX_SIZE];
    kh_trace_id_hex(ctx, trace);
    kh_span_id_hex(ctx, span);
    assert_str("trace id", trace_hex, trace);
    assert_str("span id", span_hex, span);
}

static void traceparent_valid_round_trips(void **state) {
    (void)state;
    kh_span_context ctx;
    kh_error err = {0};
    assert_int_equal(kh_traceparent_parse(VALID_TRACEPARENT, &ctx, &err),
                     KH_OK);
    assert_ids(&ctx, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);
    assert_string_equal(ctx.tracestate, "");
    char out[KH_TRACEPARENT_SIZE];
    kh_traceparent_format(&ctx, out);
    assert_str("formatted", VALID_TRACEPARENT, out);

    /* Not sampled; unknown flags are not propagated; OWS around is fine. */
    assert_int_equal(
        kh_traceparent_parse(
            " \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", &ctx,
            &err),
        KH_OK);
    assert_int_equal(ctx.flags, 0);
    assert_int_equal(
        kh_traceparent_parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &ctx,
            &err),
        KH_OK);
    kh_traceparent_format(&ctx, out);
    assert_str("flags masked",
               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out);
}

static void traceparent_future_versions_read_first_fields(void **state) {
    (void)state;
    kh_span_context ctx;
    kh_error err = {0};
    assert_int_equal(
        kh_traceparent_parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ctx,
            &err),
        KH_OK);
    assert_int_equal(
        kh_traceparent_parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever",
            &ctx, &err),
        KH_OK);
    assert_ids(&ctx, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    /* A later version still needs '-' after the flags. */
    assert_int_equal(
        kh_traceparent_parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", &ctx,
            &err),
        KH_EFORMAT);
}

static void traceparent_invalid_forms_are_refused(void **state) {
    (void)state;
    static const struct {
        const char *value;
        const char *why;
    } cases[] = {
        {"", "characters"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "characters"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "version "
                                                                     "00"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", "version "
                                                                     "00"},
        {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ff"},
        {"0G-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version"},
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace-id"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
         "parent-id"},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "zeros"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "zeros"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", "flags"},
        {"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "separa"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", "separa"},
        {"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", "separa"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kh_span_context ctx;
        memset(&ctx, 0x5a, sizeof ctx);
        kh_error err = {0};
        int rc = kh_traceparent_parse(cases[i].value, &ctx, &err);
        if (rc != KH_EFORMAT)
            fail_msg("'%s': expected KH_EFORMAT, got %d (%s)", cases[i].value,
                     rc, err.message);
        if (!strstr(err.message, cases[i].why))
            fail_msg("'%s': message '%s' does not mention '%s'",
                     cases[i].value, err.message, cases[i].why);
        /* The output is untouched on failure. */
        assert_int_equal(ctx.flags, 0x5a);
    }
}

static void tracestate_valid_lists_are_normalised(void **state) {
    (void)state;
    char out[KH_TRACESTATE_MAX + 1];
    kh_error err = {0};
    assert_int_equal(kh_tracestate_parse("rojo=00f067aa0ba902b7,congo="
                                         "t61rcWkgMzE",
                                         out, &err),
                     KH_OK);
    assert_str("plain", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", out);
    assert_int_equal(kh_tracestate_parse(" a=1 ,\t, b=x y ,", out, &err),
                     KH_OK);
    assert_str("OWS and empty members", "a=1,b=x y", out);
    assert_int_equal(kh_tracestate_parse("", out, &err), KH_OK);
    assert_str("empty", "", out);
    assert_int_equal(
        kh_tracestate_parse("fw529a3039@dt=d7fd,1tenant@sys_1=v,k_-*/9=!~",
                            out, &err),
        KH_OK);
    assert_str("multi-tenant keys", "fw529a3039@dt=d7fd,1tenant@sys_1=v,"
                                    "k_-*/9=!~",
               out);
}

static void tracestate_invalid_lists_are_refused(void **state) {
    (void)state;
    char long_key[300], long_value[300], long_system[40];
    memset(long_key, 'k', 257);
    strcpy(long_key + 257, "=v");
    strcpy(long_value, "k=");
    memset(long_value + 2, 'v', 257);
    long_value[259] = '\0';
    strcpy(long_system, "t@");
    memset(long_system + 2, 's', 15);
    strcpy(long_system + 17, "=v");
    const char *cases[] = {
        "novalue",        "Upper=1",    "1digit=1",   "a=1,a=2",
        "a=b=c",          "a=x,y",      "a=",         "a=\x01",
        "a=caf\xc3\xa9",  "=v",         "@sys=v",     "t@1sys=v",
        "t@=v",           long_key,     long_value,   long_system,
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[KH_TRACESTATE_MAX + 1] = "x";
        kh_error err = {0};
        int rc = kh_tracestate_parse(cases[i], out, &err);
        if (rc != KH_EFORMAT)
            fail_msg("case %zu '%.40s': expected KH_EFORMAT, got %d", i,
                     cases[i], rc);
        assert_str("output after failure", "", out);
    }
}

static void tracestate_member_limit_and_cut(void **state) {
    (void)state;
    char list[1024] = "";
    for (int i = 0; i < 32; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%sk%d=%d",
                 i ? "," : "", i, i);
    char out[KH_TRACESTATE_MAX + 1];
    kh_error err = {0};
    assert_int_equal(kh_tracestate_parse(list, out, &err), KH_OK);
    assert_str("32 members kept", list, out);
    strcat(list, ",k32=32");
    assert_int_equal(kh_tracestate_parse(list, out, &err), KH_EFORMAT);
    assert_non_null(strstr(err.message, "32"));

    /* Over 512 characters: members over 128 go first, then from the end. */
    char big[2048];
    char v200[201], v100[101];
    memset(v200, 'x', 200);
    v200[200] = '\0';
    memset(v100, 'y', 100);
    v100[100] = '\0';
    snprintf(big, sizeof big, "a=%s,b=%s,c=%s,d=%s,e=%s,f=%s", v100, v200,
             v100, v100, v100, v100);
    assert_int_equal(kh_tracestate_parse(big, out, &err), KH_OK);
    char expected[1024];
    snprintf(expected, sizeof expected, "a=%s,c=%s,d=%s,e=%s", v100, v100,
             v100, v100);
    assert_str("cut to 512", expected, out);
    assert_true(strlen(out) <= KH_TRACESTATE_MAX);
}

static void b3_single_header_forms(void **state) {
    (void)state;
    kh_span_context ctx;
    kh_error err = {0};
    assert_int_equal(
        kh_b3_parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-"
                           "1-05e3ac9a4f6e3b90",
                           &ctx, &err),
        KH_OK);
    assert_ids(&ctx, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1");
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);
    /* 64-bit trace id: left-padded; "0" not sampled. */
    assert_int_equal(kh_b3_parse_single("E457B5A2E4D86BD1-05e3ac9a4f6e3b90-0",
                                        &ctx, &err),
                     KH_OK);
    assert_ids(&ctx, "0000000000000000e457b5a2e4d86bd1", "05e3ac9a4f6e3b90");
    assert_int_equal(ctx.flags, 0);
    assert_int_equal(kh_b3_parse_single("e457b5a2e4d86bd1-05e3ac9a4f6e3b90-d",
                                        &ctx, &err),
                     KH_OK);
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);
    assert_int_equal(kh_b3_parse_single("e457b5a2e4d86bd1-05e3ac9a4f6e3b90",
                                        &ctx, &err),
                     KH_OK);
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);

    assert_int_equal(kh_b3_parse_single("0", &ctx, &err), KH_ENOTFOUND);
    const char *bad[] = {
        "",
        "e457b5a2e4d86bd1",
        "e457b5a2e4d86bd-05e3ac9a4f6e3b90",
        "e457b5a2e4d86bd1-05e3ac9a4f6e3b9",
        "e457b5a2e4d86bd1-05e3ac9a4f6e3b90-2",
        "e457b5a2e4d86bd1-05e3ac9a4f6e3b90-1-05e3ac9a",
        "e457b5a2e4d86bd1-05e3ac9a4f6e3b90-1-05e3ac9a4f6e3b90-x",
        "0000000000000000-05e3ac9a4f6e3b90-1",
        "e457b5a2e4d86bd1-0000000000000000-1",
        "e457b5a2e4d86bz1-05e3ac9a4f6e3b90",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = kh_b3_parse_single(bad[i], &ctx, &err);
        if (rc != KH_EFORMAT)
            fail_msg("b3 '%s': expected KH_EFORMAT, got %d", bad[i], rc);
    }
}

static void b3_multi_header_forms(void **state) {
    (void)state;
    kh_span_context ctx;
    kh_error err = {0};
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad", "a2fb4a1d1a96d312",
                                       "1", NULL, "0020000000000001", &ctx,
                                       &err),
                     KH_OK);
    assert_ids(&ctx, "0000000000000000463ac35c9f6413ad", "a2fb4a1d1a96d312");
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad463ac35c9f6413ad",
                                       "a2fb4a1d1a96d312", "false", NULL, NULL,
                                       &ctx, &err),
                     KH_OK);
    assert_int_equal(ctx.flags, 0);
    /* Debug forces sampling. */
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad", "a2fb4a1d1a96d312",
                                       "0", "1", NULL, &ctx, &err),
                     KH_OK);
    assert_int_equal(ctx.flags, KH_TRACE_FLAG_SAMPLED);
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad", NULL, "1", NULL,
                                       NULL, &ctx, &err),
                     KH_ENOTFOUND);
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad", "a2fb4a1d1a96d312",
                                       "yes", NULL, NULL, &ctx, &err),
                     KH_EFORMAT);
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413ad", "a2fb4a1d1a96d312",
                                       NULL, NULL, "12", &ctx, &err),
                     KH_EFORMAT);
    assert_int_equal(kh_b3_parse_multi("463ac35c9f6413a", "a2fb4a1d1a96d312",
                                       NULL, NULL, NULL, &ctx, &err),
                     KH_EFORMAT);
}

#define H(n, v) {(char *)(n), (char *)(v)}

static void http_extract_precedence_and_rules(void **state) {
    (void)state;
    kh_span_context ctx;
    kh_http_header both[] = {
        H("B3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        H("TraceParent", VALID_TRACEPARENT),
        H("tracestate", "a=1"),
        H("TRACESTATE", "b=2"),
    };
    assert_true(kh_trace_extract_http(both, 4, &ctx));
    assert_ids(&ctx, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    assert_str("joined tracestate", "a=1,b=2", ctx.tracestate);

    kh_http_header bad_state[] = {H("traceparent", VALID_TRACEPARENT),
                                  H("tracestate", "A=1")};
    assert_true(kh_trace_extract_http(bad_state, 2, &ctx));
    assert_str("invalid tracestate dropped", "", ctx.tracestate);

    kh_http_header two_parents[] = {H("traceparent", VALID_TRACEPARENT),
                                    H("traceparent", VALID_TRACEPARENT),
                                    H("b3", "80f198ee56343ba864fe8b2a57d3eff7-"
                                            "e457b5a2e4d86bd1-1")};
    assert_false(kh_trace_extract_http(two_parents, 3, &ctx));

    kh_http_header invalid_parent[] = {
        H("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-"
                         "01")};
    assert_false(kh_trace_extract_http(invalid_parent, 1, &ctx));

    kh_http_header b3_only[] = {
        H("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")};
    assert_true(kh_trace_extract_http(b3_only, 1, &ctx));
    assert_ids(&ctx, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1");
    assert_int_equal(ctx.flags, 0);

    kh_http_header multi[] = {H("x-b3-traceid", "463ac35c9f6413ad"),
                              H("X-B3-SpanId", "a2fb4a1d1a96d312"),
                              H("X-B3-Sampled", "1")};
    assert_true(kh_trace_extract_http(multi, 3, &ctx));
    assert_ids(&ctx, "0000000000000000463ac35c9f6413ad", "a2fb4a1d1a96d312");

    /* A binary-mode CloudEvent's extension is the last resort. */
    kh_http_header ce_only[] = {
        H("Ce-Traceparent", VALID_TRACEPARENT), H("ce-tracestate", "k=v")};
    assert_true(kh_trace_extract_http(ce_only, 2, &ctx));
    assert_ids(&ctx, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    assert_str("ce-tracestate", "k=v", ctx.tracestate);
    kh_http_header ce_and_w3c[] = {
        H("ce-traceparent", VALID_TRACEPARENT),
        H("traceparent", "00-11111111111111111111111111111111-2222222222222222-"
                         "01")};
    assert_true(kh_trace_extract_http(ce_and_w3c, 2, &ctx));
    assert_ids(&ctx, "11111111111111111111111111111111", "2222222222222222");
    kh_http_header ce_bad[] = {H("ce-traceparent", "00-nope")};
    assert_false(kh_trace_extract_http(ce_bad, 1, &ctx));

    kh_http_header none[] = {H("Content-Type", "image/jpeg")};
    assert_false(kh_trace_extract_http(none, 1, &ctx));
    assert_false(kh_trace_extract_http(NULL, 0, &ctx));
}

static void http_inject_writes_both_headers(void **state) {
    (void)state;
    kh_span_context ctx;
    assert_int_equal(kh_traceparent_parse(VALID_TRACEPARENT, &ctx, NULL),
                     KH_OK);
    kh_trace_headers headers;
    kh_trace_inject_http(&ctx, &headers);
    assert_int_equal(headers.n_headers, 1);
    assert_str("name", "traceparent", headers.headers[0].name);
    assert_str("value", VALID_TRACEPARENT, headers.headers[0].value);
    strcpy(ctx.tracestate, "a=1");
    kh_trace_inject_http(&ctx, &headers);
    assert_int_equal(headers.n_headers, 2);
    assert_str("tracestate", "a=1",
               kh_http_headers_get(headers.headers, headers.n_headers,
                                   "tracestate"));
    kh_trace_inject_http(NULL, &headers);
    assert_int_equal(headers.n_headers, 0);
}

static void cloudevent_extension_round_trip(void **state) {
    (void)state;
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_span_context ctx, back;
    assert_false(kh_trace_extract_event(&ev, &back));
    assert_int_equal(kh_traceparent_parse(VALID_TRACEPARENT, &ctx, NULL),
                     KH_OK);
    strcpy(ctx.tracestate, "congo=t61rcWkgMzE");
    kh_error err = {0};
    assert_int_equal(kh_trace_inject_event(&ev, &ctx, &err), KH_OK);
    assert_str("traceparent attribute", VALID_TRACEPARENT,
               kh_cloudevent_get(&ev, "traceparent"));
    assert_true(kh_trace_extract_event(&ev, &back));
    assert_memory_equal(back.trace_id, ctx.trace_id, KH_TRACE_ID_BYTES);
    assert_memory_equal(back.span_id, ctx.span_id, KH_SPAN_ID_BYTES);
    assert_str("tracestate", "congo=t61rcWkgMzE", back.tracestate);

    /* A context without tracestate removes a stale one. */
    ctx.tracestate[0] = '\0';
    assert_int_equal(kh_trace_inject_event(&ev, &ctx, &err), KH_OK);
    assert_null(kh_cloudevent_get(&ev, "tracestate"));

    /* An invalid traceparent on an event is no context. */
    assert_int_equal(kh_cloudevent_set(&ev, "traceparent", "00-zz", &err),
                     KH_OK);
    assert_false(kh_trace_extract_event(&ev, &back));
    kh_cloudevent_free(&ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent_valid_round_trips),
        cmocka_unit_test(traceparent_future_versions_read_first_fields),
        cmocka_unit_test(traceparent_invalid_forms_are_refused),
        cmocka_unit_test(tracestate_valid_lists_are_normalised),
        cmocka_unit_test(tracestate_invalid_lists_are_refused),
        cmocka_unit_test(tracestate_member_limit_and_cut),
        cmocka_unit_test(b3_single_header_forms),
        cmocka_unit_test(b3_multi_header_forms),
        cmocka_unit_test(http_extract_precedence_and_rules),
        cmocka_unit_test(http_inject_writes_both_headers),
        cmocka_unit_test(cloudevent_extension_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
