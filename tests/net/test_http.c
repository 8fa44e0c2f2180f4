/* The HTTP server and client against each other on 127.0.0.1, port 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/http.h"

/* ---- an echo handler: answers with what it saw ---- */

typedef struct echo_state {
    pthread_mutex_t lock;
    int calls;
    /* Concurrency proof: handlers wait until `wanted_together` of them run
     * at the same moment (bounded wait, so a failure cannot hang). */
    int wanted_together;
    int running;
    int max_running;
    pthread_cond_t changed;
} echo_state;

static void echo_handler(void *user, const kh_http_request *req,
                         kh_http_response *res) {
    echo_state *state = user;
    pthread_mutex_lock(&state->lock);
    state->calls++;
    state->running++;
    if (state->running > state->max_running)
        state->max_running = state->running;
    pthread_cond_broadcast(&state->changed);
    if (state->wanted_together > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (state->max_running < state->wanted_together) {
            if (pthread_cond_timedwait(&state->changed, &state->lock,
                                       &until) != 0)
                break;
        }
    }
    state->running--;
    pthread_mutex_unlock(&state->lock);

    if (strcmp(req->path, "/bad-header") == 0) {
        kh_http_response_header(res, "X-Bad", "line\r\nbreak");
        kh_http_response_set(res, 200, "text/plain", "x", 1);
        return;
    }
    if (strcmp(req->path, "/status/404") == 0) {
        kh_http_response_error(res, 404, "no %s here", "thing");
        return;
    }
    if (strcmp(req->path, "/sleep") == 0) {
        usleep(1500 * 1000);
        kh_http_response_set(res, 200, "text/plain", "late", 4);
        return;
    }
    if (strcmp(req->path, "/body") == 0) {
        /* Body echoed verbatim, attributes in headers. */
        kh_http_response_header(res, "X-Method", req->method);
        kh_http_response_header(res, "X-Path", req->path);
        kh_http_response_header(res, "X-Query", req->query);
        kh_http_response_set(res, 201, "application/octet-stream", req->body,
                             req->body_len);
        return;
    }
    char name[64] = "";
    bool has_name = kh_http_request_query(req, "name", name, sizeof name);
    const char *token = kh_http_request_header(req, "x-token");
    char text[512];
    int n = snprintf(text, sizeof text,
                     "method=%s path=%s query=%s name=%s token=%s len=%zu "
                     "remote=%s",
                     req->method, req->path, req->query,
                     has_name ? name : "(none)", token ? token : "(none)",
                     req->body_len, req->remote_addr);
    kh_http_response_header(res, "X-Echo", "yes");
    kh_http_response_set(res, 200, "text/plain", text, (size_t)n);
}

typedef struct fixture {
    echo_state state;
    kh_http_server *server;
    char base[64];
} fixture;

static fixture *start(const kh_http_server_options *opts) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->state.lock, NULL);
    pthread_cond_init(&f->state.changed, NULL);
    kh_http_server_options defaults = {.bind_addr = "127.0.0.1"};
    kh_error err = {0};
    int rc = kh_http_server_start(opts ? opts : &defaults, echo_handler,
                                  &f->state, &f->server, &err);
    if (rc != KH_OK)
        fail_msg("server start: %s", err.message);
    int port = kh_http_server_port(f->server);
    assert_true(port > 0);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", port);
    return f;
}

static void stop(fixture *f) {
    kh_http_server_stop(f->server);
    pthread_mutex_destroy(&f->state.lock);
    pthread_cond_destroy(&f->state.changed);
    free(f);
}

static int request(fixture *f, const char *method, const char *path_query,
                   const kh_http_header *headers, size_t n_headers,
                   const void *body, size_t len, kh_http_response *res) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path_query);
    kh_http_client_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = len,
        .timeout_ms = 20000,
    };
    kh_error err = {0};
    int rc = kh_http_client_do(&req, res, &err);
    if (rc != KH_OK)
        print_message("client: %s\n", err.message);
    return rc;
}

static void body_equals(const kh_http_response *res, const char *text) {
    char *copy = strndup((const char *)res->body, res->body_len);
    assert_non_null(copy);
    assert_string_equal(copy, text);
    free(copy);
}

/* ---- helpers ---- */

static void percent_decode_handles_escapes_and_errors(void **unused) {
    (void)unused;
    char out[32];
    size_t len;
    assert_int_equal(kh_http_percent_decode("a%20b+c", 7, true, out,
                                            sizeof out, &len),
                     KH_OK);
    assert_string_equal(out, "a b c");
    assert_int_equal(kh_http_percent_decode("a%2fb+c", 7, false, out,
                                            sizeof out, &len),
                     KH_OK);
    assert_string_equal(out, "a/b+c");
    assert_int_equal(kh_http_percent_decode("%C3%A9", 6, false, out,
                                            sizeof out, &len),
                     KH_OK);
    assert_int_equal(len, 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(kh_http_percent_decode("a%00b", 5, false, out,
                                            sizeof out, &len),
                     KH_OK);
    assert_int_equal(len, 3); /* embedded NUL reported through the length */
    assert_int_equal(kh_http_percent_decode("%4", 2, false, out, sizeof out,
                                            &len),
                     KH_EFORMAT);
    assert_int_equal(kh_http_percent_decode("%zz", 3, false, out, sizeof out,
                                            &len),
                     KH_EFORMAT);
    assert_int_equal(kh_http_percent_decode("abcdef", 6, false, out, 4, &len),
                     KH_ELIMIT);
}

static void query_param_finds_decodes_and_bounds(void **unused) {
    (void)unused;
    char out[16];
    const char *q = "a=1&name=J%C3%B6rg+M&flag&empty=&a=2&enc%5Bkey%5D=v";
    assert_true(kh_http_query_param(q, "a", out, sizeof out));
    assert_string_equal(out, "1"); /* first occurrence */
    assert_true(kh_http_query_param(q, "name", out, sizeof out));
    assert_string_equal(out, "J\xc3\xb6rg M");
    assert_true(kh_http_query_param(q, "flag", out, sizeof out));
    assert_string_equal(out, "");
    assert_true(kh_http_query_param(q, "empty", out, sizeof out));
    assert_string_equal(out, "");
    assert_true(kh_http_query_param(q, "enc[key]", out, sizeof out));
    assert_string_equal(out, "v");
    assert_false(kh_http_query_param(q, "missing", out, sizeof out));
    assert_false(kh_http_query_param(q, "nam", out, sizeof out));
    assert_false(kh_http_query_param("x=%zz", "x", out, sizeof out));
    assert_false(kh_http_query_param("x=a%00b", "x", out, sizeof out));
    assert_false(kh_http_query_param("x=0123456789abcdefXYZ", "x", out, 8));
    assert_false(kh_http_query_param("", "x", out, sizeof out));
}

static void response_error_is_json_with_escapes(void **unused) {
    (void)unused;
    kh_http_response res;
    kh_http_response_init(&res);
    assert_int_equal(kh_http_response_error(&res, 400, "bad \"%s\"\n", "x\\y"),
                     KH_OK);
    assert_int_equal(res.status, 400);
    assert_string_equal(kh_http_response_header_get(&res, "content-type"),
                        "application/json");
    body_equals(&res, "{\"error\":\"bad \\\"x\\\\y\\\"\\u000a\"}\n");
    /* Hostile bytes quoted in a message keep the body valid JSON. */
    assert_int_equal(kh_http_response_error(&res, 400, "bad '%s'",
                                            "\xc3\xa9\xff\xc0\xa0\xe2\x82"),
                     KH_OK);
    body_equals(&res, "{\"error\":\"bad '\xc3\xa9\\ufffd\\ufffd\\ufffd"
                      "\\ufffd\\ufffd'\"}\n");
    /* Setting again replaces the content type instead of adding one. */
    assert_int_equal(kh_http_response_set(&res, 200, "text/plain", "ok", 2),
                     KH_OK);
    assert_int_equal(res.n_headers, 1);
    assert_string_equal(res.headers[0].value, "text/plain");
    kh_http_response_free(&res);
    kh_http_response_free(NULL);
}

/* ---- server and client together ---- */

static void methods_path_query_and_headers_round_trip(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    kh_http_header headers[] = {{"X-Token", "s3cret value"}};
    kh_http_response res;

    assert_int_equal(request(f, NULL, "/hello%20world?name=J%C3%B6rg&x=1",
                             headers, 1, NULL, 0, &res),
                     KH_OK);
    assert_int_equal(res.status, 200);
    body_equals(&res, "method=GET path=/hello world query=name=J%C3%B6rg&x=1 "
                      "name=J\xc3\xb6rg token=s3cret value len=0 "
                      "remote=127.0.0.1");
    assert_string_equal(kh_http_response_header_get(&res, "x-echo"), "yes");
    assert_string_equal(kh_http_response_header_get(&res, "Content-Type"),
                        "text/plain");
    kh_http_response_free(&res);

    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        assert_int_equal(request(f, methods[i], "/body?q", NULL, 0, "abc", 3,
                                 &res),
                         KH_OK);
        assert_int_equal(res.status, 201);
        assert_string_equal(kh_http_response_header_get(&res, "X-Method"),
                            methods[i]);
        assert_string_equal(kh_http_response_header_get(&res, "X-Query"),
                            "q");
        body_equals(&res, "abc");
        kh_http_response_free(&res);
    }

    /* HEAD: headers, no body. */
    assert_int_equal(request(f, "HEAD", "/", NULL, 0, NULL, 0, &res), KH_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    kh_http_response_free(&res);

    /* Any status is a success for the client. */
    assert_int_equal(request(f, NULL, "/status/404", NULL, 0, NULL, 0, &res),
                     KH_OK);
    assert_int_equal(res.status, 404);
    body_equals(&res, "{\"error\":\"no thing here\"}\n");
    kh_http_response_free(&res);
    stop(f);
}

static void large_body_is_accepted_intact(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    size_t sizes[] = {64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 17};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t len = sizes[s];
        uint8_t *body = malloc(len);
        assert_non_null(body);
        for (size_t i = 0; i < len; i++)
            body[i] = (uint8_t)(i * 131 + i / 251);
        kh_http_response res;
        assert_int_equal(request(f, "POST", "/body", NULL, 0, body, len, &res),
                         KH_OK);
        assert_int_equal(res.status, 201);
        assert_int_equal(res.body_len, len);
        assert_memory_equal(res.body, body, len);
        kh_http_response_free(&res);
        free(body);
    }
    stop(f);
}

static void body_over_limit_gets_413(void **unused) {
    (void)unused;
    kh_http_server_options opts = {.bind_addr = "127.0.0.1",
                                   .max_body_bytes = 100 * 1024};
    fixture *f = start(&opts);
    size_t len = 2 * 1024 * 1024;
    uint8_t *body = calloc(1, len);
    assert_non_null(body);
    kh_http_response res;

    /* Declared length over the limit: refused before the body is sent. */
    assert_int_equal(request(f, "POST", "/body", NULL, 0, body, len, &res),
                     KH_OK);
    assert_int_equal(res.status, 413);
    assert_string_equal(kh_http_response_header_get(&res, "Content-Type"),
                        "application/json");
    kh_http_response_free(&res);

    /* Exactly the limit is fine. */
    assert_int_equal(request(f, "POST", "/body", NULL, 0, body, 100 * 1024,
                             &res),
                     KH_OK);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.body_len, 100 * 1024);
    kh_http_response_free(&res);

    /* Chunked, no declared length: the running total trips the limit. */
    kh_http_header chunked[] = {{"Transfer-Encoding", "chunked"}};
    assert_int_equal(request(f, "POST", "/body", chunked, 1, body, 300 * 1024,
                             &res),
                     KH_OK);
    assert_int_equal(res.status, 413);
    kh_http_response_free(&res);

    /* The handler never saw the refused bodies. */
    assert_int_equal(f->state.calls, 1);
    /* And the server still works afterwards. */
    assert_int_equal(request(f, NULL, "/", NULL, 0, NULL, 0, &res), KH_OK);
    assert_int_equal(res.status, 200);
    kh_http_response_free(&res);
    free(body);
    stop(f);
}

typedef struct client_thread {
    fixture *f;
    int index;
    int failures;
} client_thread;

static void *client_loop(void *arg) {
    client_thread *t = arg;
    for (int i = 0; i < 20; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "thread %d request %d", t->index,
                         i);
        kh_http_response res;
        if (request(t->f, "POST", "/body", NULL, 0, body, (size_t)n, &res) !=
                KH_OK ||
            res.status != 201 || res.body_len != (size_t)n ||
            memcmp(res.body, body, (size_t)n) != 0)
            t->failures++;
        kh_http_response_free(&res);
    }
    return NULL;
}

static void run_clients(fixture *f, int n_threads) {
    pthread_t threads[8];
    client_thread args[8];
    assert_true(n_threads <= 8);
    for (int i = 0; i < n_threads; i++) {
        args[i] = (client_thread){.f = f, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, client_loop,
                                        &args[i]),
                         0);
    }
    /* Join them all before judging: a failing assertion must not leave
     * threads running against a stopped server. */
    int failures = 0;
    for (int i = 0; i < n_threads; i++) {
        pthread_join(threads[i], NULL);
        failures += args[i].failures;
    }
    assert_int_equal(failures, 0);
}

static void concurrent_requests_on_the_pool(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    run_clients(f, 8);
    assert_int_equal(f->state.calls, 8 * 20);
    stop(f);
}

static void concurrent_handlers_with_thread_per_connection(void **unused) {
    (void)unused;
    kh_http_server_options opts = {.bind_addr = "127.0.0.1",
                                   .thread_per_connection = true};
    fixture *f = start(&opts);
    /* Every handler waits until 4 run at once: only concurrent handlers let
     * that happen (the wait is bounded, then max_running tells). */
    f->state.wanted_together = 4;
    run_clients(f, 4);
    assert_int_equal(f->state.max_running, 4);
    stop(f);
}

static void bad_handler_header_becomes_500(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    kh_http_response res;
    assert_int_equal(request(f, NULL, "/bad-header", NULL, 0, NULL, 0, &res),
                     KH_OK);
    assert_int_equal(res.status, 500);
    assert_null(kh_http_response_header_get(&res, "X-Bad"));
    kh_http_response_free(&res);
    stop(f);
}

static void bad_path_encoding_gets_400(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    kh_http_response res;
    assert_int_equal(request(f, NULL, "/a%zz", NULL, 0, NULL, 0, &res), KH_OK);
    assert_int_equal(res.status, 400);
    kh_http_response_free(&res);
    assert_int_equal(request(f, NULL, "/a%00b", NULL, 0, NULL, 0, &res),
                     KH_OK);
    assert_int_equal(res.status, 400);
    kh_http_response_free(&res);
    assert_int_equal(f->state.calls, 0);
    stop(f);
}

static void stop_while_idle_and_with_open_connection(void **unused) {
    (void)unused;
    /* Never used. */
    fixture *f = start(NULL);
    stop(f);
    kh_http_server_stop(NULL);

    /* A client connected but silent must not keep stop waiting. */
    kh_http_server_options opts = {.bind_addr = "127.0.0.1",
                                   .thread_per_connection = true};
    f = start(&opts);
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)kh_http_server_port(
                                   f->server))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal(connect(sock, (struct sockaddr *)&addr, sizeof addr), 0);
    kh_http_response res;
    assert_int_equal(request(f, NULL, "/", NULL, 0, NULL, 0, &res), KH_OK);
    kh_http_response_free(&res);
    stop(f);
    close(sock);
}

static void client_reports_network_errors_with_url(void **unused) {
    (void)unused;
    /* A port that was free a moment ago: nobody listens there now. */
    fixture *f = start(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/gone", f->base);
    stop(f);
    kh_http_client_request req = {.url = url, .timeout_ms = 5000};
    kh_http_response res;
    kh_error err = {0};
    assert_int_equal(kh_http_client_do(&req, &res, &err), KH_ENETWORK);
    assert_int_equal(err.code, KH_ENETWORK);
    if (!strstr(err.message, url))
        fail_msg("message '%s' does not name '%s'", err.message, url);
    assert_int_equal(res.status, 0);
    assert_null(res.body);

    kh_http_client_request bad = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(kh_http_client_do(&bad, &res, &err), KH_ENETWORK);
    kh_http_header injected[] = {{"X-A", "b\r\nX-Evil: 1"}};
    kh_http_client_request inject = {
        .url = "http://127.0.0.1:1/", .headers = injected, .n_headers = 1};
    assert_int_equal(kh_http_client_do(&inject, &res, &err), KH_EINVAL);
}

static void client_timeout_and_response_limit(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/sleep", f->base);
    kh_http_client_request req = {.url = url, .timeout_ms = 200};
    kh_http_response res;
    kh_error err = {0};
    assert_int_equal(kh_http_client_do(&req, &res, &err), KH_ETIMEOUT);
    if (!strstr(err.message, url))
        fail_msg("message '%s' does not name '%s'", err.message, url);

    snprintf(url, sizeof url, "%s/body", f->base);
    char body[1000] = {0};
    kh_http_client_request big = {.url = url,
                                  .body = body,
                                  .body_len = sizeof body,
                                  .max_response_bytes = 100};
    assert_int_equal(kh_http_client_do(&big, &res, &err), KH_ELIMIT);
    stop(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percent_decode_handles_escapes_and_errors),
        cmocka_unit_test(query_param_finds_decodes_and_bounds),
        cmocka_unit_test(response_error_is_json_with_escapes),
        cmocka_unit_test(methods_path_query_and_headers_round_trip),
        cmocka_unit_test(large_body_is_accepted_intact),
        cmocka_unit_test(body_over_limit_gets_413),
        cmocka_unit_test(concurrent_requests_on_the_pool),
        cmocka_unit_test(concurrent_handlers_with_thread_per_connection),
        cmocka_unit_test(bad_handler_header_becomes_500),
        cmocka_unit_test(bad_path_encoding_gets_400),
        cmocka_unit_test(stop_while_idle_and_with_open_connection),
        cmocka_unit_test(client_reports_network_errors_with_url),
        cmocka_unit_test(client_timeout_and_response_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
