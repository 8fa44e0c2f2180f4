/* The process-wide facade: flags and environment, init/shutdown, the HTTP
 * wrapper (spans, /metrics, route labels, traceresponse), the metric
 * one-liners and the guarantee that every call is harmless before init. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/obs.h"

static void clear_env(void) {
    unsetenv("KHAPPY_ZIPKIN_URL");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_SDK_DISABLED");
    unsetenv("OTEL_TRACES_EXPORTER");
    unsetenv("KHAPPY_LOG_FORMAT");
    unsetenv("KHAPPY_LOG_LEVEL");
}

static void assert_str(const char *what, const char *expected,
                       const char *actual) {
    if ((expected == NULL) != (actual == NULL) ||
        (expected && strcmp(expected, actual) != 0))
        fail_msg("%s: expected '%s', got '%s'", what,
                 expected ? expected : "(null)", actual ? actual : "(null)");
}

static void flags_are_parsed_in_both_forms(void **state) {
    (void)state;
    char *argv[] = {"serve", "--port", "8080", "--zipkin",
                    "http://z:9411", "--otlp-endpoint=http://o:4318",
                    "--log-format", "json", "--log-level=debug",
                    "--log-format"};
    int argc = 10;
    kh_obs_options opts = {0};
    kh_error err = {0};
    /* The way a command's option loop uses it: other options are left to
     * the loop; the last, value-less flag fails. */
    char seen_by_loop[128] = "";
    int used = 0, i;
    for (i = 1; i < argc; i++) {
        used = kh_obs_parse_flag(&opts, argc, argv, &i, &err);
        if (used < 0)
            break;
        if (used)
            continue;
        strcat(seen_by_loop, argv[i]);
        strcat(seen_by_loop, " ");
    }
    assert_str("left to the loop", "--port 8080 ", seen_by_loop);
    assert_int_equal(i, 9);
    assert_str("zipkin", "http://z:9411", opts.zipkin_url);
    assert_str("otlp", "http://o:4318", opts.otlp_endpoint);
    assert_str("format", "json", opts.log_format);
    assert_str("level", "debug", opts.log_level);
    /* A flag without its value. */
    assert_int_equal(used, KH_EINVAL);
    assert_non_null(strstr(err.message, "--log-format"));
    char *prefix[] = {"x", "--zipkinx"};
    i = 1;
    assert_int_equal(kh_obs_parse_flag(&opts, 2, prefix, &i, &err), 0);
    assert_non_null(strstr(kh_obs_usage, "--zipkin URL"));
}

static void environment_fills_what_flags_leave_out(void **state) {
    (void)state;
    clear_env();
    char buffer[512];
    kh_tracer_options out;
    kh_obs_options opts = {.service_name = "khappy"};
    assert_int_equal(kh_obs_tracer_options(&opts, &out, buffer, sizeof buffer,
                                           NULL),
                     KH_OK);
    assert_null(out.zipkin_url);
    assert_null(out.otlp_traces_url);
    assert_str("service", "khappy", out.service_name);

    setenv("KHAPPY_ZIPKIN_URL", "http://zipkin:9411", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
    setenv("OTEL_SERVICE_NAME", "emotion", 1);
    assert_int_equal(kh_obs_tracer_options(&opts, &out, buffer, sizeof buffer,
                                           NULL),
                     KH_OK);
    assert_str("zipkin from env", "http://zipkin:9411", out.zipkin_url);
    assert_str("otlp base + path", "http://collector:4318/v1/traces",
               out.otlp_traces_url);
    assert_str("OTEL_SERVICE_NAME", "emotion", out.service_name);

    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom", 1);
    assert_int_equal(kh_obs_tracer_options(&opts, &out, buffer, sizeof buffer,
                                           NULL),
                     KH_OK);
    assert_str("traces endpoint as is", "http://c:4318/custom",
               out.otlp_traces_url);

    opts.zipkin_url = "http://flag:9411";
    opts.otlp_endpoint = "http://flag:4318/v1/traces";
    assert_int_equal(kh_obs_tracer_options(&opts, &out, buffer, sizeof buffer,
                                           NULL),
                     KH_OK);
    assert_str("flag wins", "http://flag:9411", out.zipkin_url);
    assert_str("flag wins, path kept", "http://flag:4318/v1/traces",
               out.otlp_traces_url);

    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    assert_int_equal(kh_obs_tracer_options(&opts, &out, buffer, sizeof buffer,
                                           NULL),
                     KH_OK);
    assert_null(out.zipkin_url);
    assert_null(out.otlp_traces_url);

    char tiny[8];
    opts.otlp_endpoint = "http://a-long-host:4318";
    unsetenv("OTEL_TRACES_EXPORTER");
    assert_int_equal(kh_obs_tracer_options(&opts, &out, tiny, sizeof tiny,
                                           NULL),
                     KH_ELIMIT);
    clear_env();
}

static void calls_before_init_are_harmless(void **state) {
    (void)state;
    assert_null(kh_obs_tracer());
    assert_null(kh_obs_metrics());
    assert_null(kh_obs_std()->events_received);
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    assert_null(kh_obs_event_span("x", &ev));
    assert_null(kh_obs_child_span(NULL, "y"));
    kh_obs_event_received(&ev, "t");
    kh_obs_faces_detected("pico", 3);
    kh_obs_inference("m", 0.1);
    kh_obs_picture_finished(false, 1);
    kh_obs_queue_depth("broker", 1);
    kh_obs_http_request("/", "GET", 200, 0.1);
    kh_broker_record record = {.outcome = KH_BROKER_DELIVERED};
    kh_obs_broker_record(&record);
    kh_obs_shutdown();
    /* Even without tracing, an event gets a trace context... */
    kh_error err = {0};
    assert_int_equal(kh_obs_inject_event(&ev, NULL, &err), KH_OK);
    kh_span_context first, again;
    assert_true(kh_trace_extract_event(&ev, &first));
    /* ...and keeps the one it has. */
    assert_int_equal(kh_obs_inject_event(&ev, NULL, &err), KH_OK);
    assert_true(kh_trace_extract_event(&ev, &again));
    assert_memory_equal(first.trace_id, again.trace_id, KH_TRACE_ID_BYTES);
    assert_memory_equal(first.span_id, again.span_id, KH_SPAN_ID_BYTES);
    kh_cloudevent_free(&ev);
}

static void init_refuses_bad_settings_and_twice(void **state) {
    (void)state;
    clear_env();
    kh_error err = {0};
    kh_obs_options bad_format = {.log_format = "xml"};
    assert_int_equal(kh_obs_init(&bad_format, &err), KH_EINVAL);
    assert_null(kh_obs_metrics());
    kh_obs_options bad_url = {.zipkin_url = "zipkin:9411"};
    assert_int_equal(kh_obs_init(&bad_url, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "zipkin:9411"));
    setenv("KHAPPY_LOG_LEVEL", "verbose", 1);
    assert_int_equal(kh_obs_init(NULL, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "verbose"));
    clear_env();
    kh_obs_options fine = {.version = "9.9.9", .log_level = "off"};
    assert_int_equal(kh_obs_init(&fine, &err), KH_OK);
    assert_int_equal(kh_obs_init(&fine, &err), KH_ESTATE);
    assert_true(kh_metric_value(kh_obs_std()->build_info,
                                KH_LABELS("9.9.9")) == 1);
    kh_obs_shutdown();
    assert_null(kh_obs_metrics());
}

static void default_routes_hide_ids(void **state) {
    (void)state;
    static const struct {
        const char *path;
        int status;
        const char *route;
    } cases[] = {
        {"/api/pictures", 202, "/api/pictures"},
        {"/api/pictures/123", 200, "/api/pictures/:id"},
        {"/api/pictures/abc/faces", 200, "/api/pictures/abc/faces"},
        {"/api/0f8e/faces/2", 200, "/api/:id/faces/:id"},
        {"/a/b/c/d/e/f", 200, "/a/b/c/d/..."},
        {"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 200, "/:id"},
        {"/x%y\"z", 200, "/x_y_z"},
        {"/", 200, "/"},
        {"//", 200, "/"},
        {"/anything/at/all", 404, "unmatched"},
        {"nope", 200, "other"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kh_http_request req = {.method = "GET", .path = cases[i].path};
        char route[96];
        kh_obs_default_route(&req, cases[i].status, route, sizeof route);
        assert_str(cases[i].path, cases[i].route, route);
    }
    kh_http_request req = {.method = "GET", .path = "/abcdefghijkl/abcd"};
    char small[8];
    kh_obs_default_route(&req, 200, small, sizeof small);
    assert_str("cut", "/abcdef", small);
}

static void hello_handler(void *user, const kh_http_request *req,
                          kh_http_response *res) {
    (void)user;
    /* The wrapper's span is current here. */
    if (!kh_span_current())
        kh_http_response_error(res, 500, "no current span");
    else if (strcmp(req->path, "/boom") == 0)
        kh_http_response_error(res, 503, "busy");
    else
        kh_http_response_set(res, 200, "text/plain", "hi", 2);
}

static void http_wrapper_counts_and_serves_metrics(void **state) {
    (void)state;
    clear_env();
    kh_error err = {0};
    kh_obs_options opts = {.log_level = "off"};
    assert_int_equal(kh_obs_init(&opts, &err), KH_OK);
    static kh_obs_http_wrapper wrap = {.handler = hello_handler,
                                       .service = "web",
                                       .serve_metrics = true};
    kh_http_server_options server_opts = {.bind_addr = "127.0.0.1"};
    kh_http_server *server = NULL;
    assert_int_equal(kh_http_server_start(&server_opts, kh_obs_http_handler,
                                          &wrap, &server, &err),
                     KH_OK);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d",
             kh_http_server_port(server));
    const char *paths[] = {"/hello/42", "/hello/43", "/boom"};
    for (size_t i = 0; i < 3; i++) {
        char url[128];
        snprintf(url, sizeof url, "%s%s", base, paths[i]);
        kh_http_client_request req = {.url = url};
        kh_http_response res;
        assert_int_equal(kh_http_client_do(&req, &res, &err), KH_OK);
        assert_non_null(kh_http_response_header_get(&res, "traceresponse"));
        kh_http_response_free(&res);
    }
    kh_obs_broker_record(&(kh_broker_record){
        .outcome = KH_BROKER_RETRY,
        .event_type = "dev.khappy.face.detected",
        .trigger = "default/face-extractor"});
    kh_obs_faces_detected("tinyface", 3);
    kh_obs_picture_finished(true, 2.5);

    char url[128];
    snprintf(url, sizeof url, "%s/metrics", base);
    kh_http_client_request req = {.url = url};
    kh_http_response res;
    assert_int_equal(kh_http_client_do(&req, &res, &err), KH_OK);
    assert_int_equal(res.status, 200);
    assert_str("content type", KH_METRICS_CONTENT_TYPE,
               kh_http_response_header_get(&res, "Content-Type"));
    char *text = strndup((const char *)res.body, res.body_len);
    const char *expected[] = {
        "khappy_http_requests_total{route=\"/hello/:id\",method=\"GET\","
        "status=\"200\"} 2\n",
        "khappy_http_requests_total{route=\"/boom\",method=\"GET\","
        "status=\"503\"} 1\n",
        "khappy_http_request_duration_seconds_count{route=\"/hello/:id\"} 2\n",
        "khappy_events_retried_total{type=\"dev.khappy.face.detected\","
        "trigger=\"default/face-extractor\"} 1\n",
        "khappy_faces_detected_total{detector=\"tinyface\"} 3\n",
        "khappy_pictures_processed_total{status=\"failed\"} 1\n",
        "khappy_pipeline_latency_seconds_count 1\n",
        "khappy_trace_spans_exported_total 0\n",
        "khappy_build_info{version=\"",
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        if (!strstr(text, expected[i]))
            fail_msg("missing '%s' in:\n%s", expected[i], text);
    }
    /* /metrics itself is not counted as a request. */
    assert_null(strstr(text, "route=\"/metrics\""));
    free(text);
    kh_http_response_free(&res);

    kh_http_client_request post = {.url = url, .body = "x", .body_len = 1};
    assert_int_equal(kh_http_client_do(&post, &res, &err), KH_OK);
    assert_int_equal(res.status, 405);
    kh_http_response_free(&res);
    kh_http_server_stop(server);
    kh_obs_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flags_are_parsed_in_both_forms),
        cmocka_unit_test(environment_fills_what_flags_leave_out),
        cmocka_unit_test(calls_before_init_are_harmless),
        cmocka_unit_test(init_refuses_bad_settings_and_twice),
        cmocka_unit_test(default_routes_hide_ids),
        cmocka_unit_test(http_wrapper_counts_and_serves_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
