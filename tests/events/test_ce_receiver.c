/* The receiver and the sender against each other on 127.0.0.1, port 0:
 * every mode, replies, status codes, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "events/ce_receiver.h"
#include "events/ce_sender.h"
#include "events/cloudevent.h"
#include "test_ce_support.h"

#define MAX_SEEN 16

typedef struct sink {
    pthread_mutex_t lock;
    kh_cloudevent seen[MAX_SEEN];
    size_t n_seen;
    int calls;
} sink;

/* Behaviour chosen by the event's type. */
static int on_event(void *user, const kh_cloudevent *in, kh_cloudevent *reply,
                    kh_error *err) {
    sink *s = user;
    pthread_mutex_lock(&s->lock);
    s->calls++;
    if (s->n_seen < MAX_SEEN)
        kh_cloudevent_copy(&s->seen[s->n_seen++], in, NULL);
    pthread_mutex_unlock(&s->lock);

    if (strcmp(in->type, "test.fail.503") == 0) {
        kh_error_set(err, KH_EINTERNAL, "try again later");
        return 503;
    }
    if (strcmp(in->type, "test.fail.invalid") == 0)
        return kh_error_set(err, KH_EINVAL, "picture %s is not a JPEG",
                            kh_cloudevent_get(in, "pictureid"));
    if (strcmp(in->type, "test.fail.crash") == 0)
        return kh_error_set(err, KH_EIO, "disk on fire");
    if (strcmp(in->type, "test.reply") == 0 && reply) {
        kh_cloudevent_set(reply, "specversion", "1.0", err);
        kh_cloudevent_set(reply, "id", "reply-1", err);
        kh_cloudevent_set(reply, "source", "/test/receiver", err);
        kh_cloudevent_set(reply, "type", "test.replied", err);
        kh_cloudevent_set(reply, "inreplyto", in->id, err);
        kh_cloudevent_set_data(reply, "{\"ok\":true}", 11, "application/json",
                               err);
        return KH_OK;
    }
    if (strcmp(in->type, "test.reply.invalid") == 0 && reply) {
        kh_cloudevent_set(reply, "id", "no-other-attributes", err);
        return KH_OK;
    }
    return KH_OK;
}

typedef struct fixture {
    sink sink;
    kh_ce_receiver *receiver;
    char url[64];
} fixture;

static fixture *start(const kh_ce_receiver_options *opts) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->sink.lock, NULL);
    kh_ce_receiver_options defaults = {.bind_addr = "127.0.0.1"};
    kh_error err = {0};
    if (kh_ce_receiver_start(opts ? opts : &defaults, on_event, &f->sink,
                             &f->receiver, &err) != KH_OK)
        fail_msg("receiver: %s", err.message);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/",
             kh_ce_receiver_port(f->receiver));
    return f;
}

static void stop(fixture *f) {
    kh_ce_receiver_stop(f->receiver);
    for (size_t i = 0; i < f->sink.n_seen; i++)
        kh_cloudevent_free(&f->sink.seen[i]);
    pthread_mutex_destroy(&f->sink.lock);
    free(f);
}

static kh_cloudevent event_of_type(const char *type, const char *id) {
    kh_cloudevent ev;
    ce_build(&ev, "specversion", "1.0", "id", id, "source", "/test/sender",
             "type", type, "pictureid", "42", "subject", "a \"quoted\" 100%",
             "emptyext", "", NULL);
    kh_cloudevent_set_data(&ev, "\x01\x02\xff", 3, "application/octet-stream",
                           NULL);
    return ev;
}

static void send_ok(fixture *f, const kh_cloudevent *ev, kh_ce_mode mode,
                    int expected_status, kh_cloudevent *reply) {
    int status;
    kh_error err = {0};
    int rc = kh_ce_send(f->url, ev, mode, NULL, 0, 10000, &status, reply, &err);
    if (rc != KH_OK)
        fail_msg("send (%s): %s", kh_ce_mode_name(mode), err.message);
    if (status != expected_status)
        fail_msg("send (%s): status %d, expected %d", kh_ce_mode_name(mode),
                 status, expected_status);
}

static void every_mode_arrives_intact(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    kh_cloudevent ev = event_of_type("test.accept", "e1");
    kh_ce_mode modes[] = {KH_CE_MODE_BINARY, KH_CE_MODE_STRUCTURED,
                          KH_CE_MODE_BATCH};
    for (size_t m = 0; m < 3; m++) {
        kh_cloudevent reply;
        send_ok(f, &ev, modes[m], 202, &reply);
        assert_null(reply.id);
        kh_cloudevent_free(&reply);
        ce_assert_equal(&ev, &f->sink.seen[m]);
    }
    /* A batch of three, handled in order. */
    kh_cloudevent batch[3] = {event_of_type("test.accept", "b1"),
                              event_of_type("test.accept", "b2"),
                              event_of_type("test.accept", "b3")};
    int status;
    kh_error err = {0};
    assert_int_equal(kh_ce_send_batch(f->url, batch, 3, NULL, 0, 10000,
                                      &status, &err),
                     KH_OK);
    assert_int_equal(status, 202);
    assert_int_equal(f->sink.calls, 6);
    for (int i = 0; i < 3; i++) {
        ce_assert_equal(&batch[i], &f->sink.seen[3 + i]);
        kh_cloudevent_free(&batch[i]);
    }
    /* An empty batch is valid. */
    assert_int_equal(kh_ce_send_batch(f->url, NULL, 0, NULL, 0, 10000, &status,
                                      &err),
                     KH_OK);
    assert_int_equal(status, 202);
    kh_cloudevent_free(&ev);
    stop(f);
}

static void replies_come_back_as_events(void **unused) {
    (void)unused;
    kh_ce_receiver_options opts = {.bind_addr = "127.0.0.1",
                                   .no_reply_status = 204};
    fixture *f = start(&opts);
    kh_cloudevent ev = event_of_type("test.reply", "ask-1");
    kh_ce_mode modes[] = {KH_CE_MODE_BINARY, KH_CE_MODE_STRUCTURED};
    for (size_t m = 0; m < 2; m++) {
        kh_cloudevent reply;
        send_ok(f, &ev, modes[m], 200, &reply);
        assert_non_null(reply.id);
        assert_string_equal(reply.id, "reply-1");
        assert_string_equal(reply.type, "test.replied");
        assert_string_equal(kh_cloudevent_get(&reply, "inreplyto"), "ask-1");
        assert_string_equal(reply.datacontenttype, "application/json");
        ce_assert_data(&reply, "{\"ok\":true}");
        kh_cloudevent_free(&reply);
    }
    /* Batches have no reply slot: accepted with the no-reply status. */
    int status;
    kh_error err = {0};
    assert_int_equal(kh_ce_send_batch(f->url, &ev, 1, NULL, 0, 10000, &status,
                                      &err),
                     KH_OK);
    assert_int_equal(status, 204);
    kh_cloudevent_free(&ev);

    /* A handler's invalid reply is the receiver's fault: 500. */
    ev = event_of_type("test.reply.invalid", "ask-2");
    kh_cloudevent reply;
    send_ok(f, &ev, KH_CE_MODE_BINARY, 500, &reply);
    assert_null(reply.id);
    kh_cloudevent_free(&reply);
    kh_cloudevent_free(&ev);
    stop(f);
}

static kh_http_response raw_request(fixture *f, const char *method,
                                    const char *path,
                                    const kh_http_header *headers, size_t n,
                                    const char *body, size_t len) {
    char url[128];
    snprintf(url, sizeof url, "%.*s%s", (int)strlen(f->url) - 1, f->url, path);
    kh_http_client_request req = {.method = method,
                                  .url = url,
                                  .headers = headers,
                                  .n_headers = n,
                                  .body = body,
                                  .body_len = len,
                                  .timeout_ms = 10000};
    kh_http_response res;
    kh_error err = {0};
    if (kh_http_client_do(&req, &res, &err) != KH_OK)
        fail_msg("%s %s: %s", method, url, err.message);
    return res;
}

static void assert_error_body(const kh_http_response *res, int status,
                              const char *message_part) {
    if (res->status != status)
        fail_msg("status %d, expected %d (body %.*s)", res->status, status,
                 (int)res->body_len, (const char *)res->body);
    assert_string_equal(kh_http_response_header_get(res, "Content-Type"),
                        "application/json");
    char *body = strndup((const char *)res->body, res->body_len);
    ce_assert_contains(body, "{\"error\":\"");
    ce_assert_contains(body, message_part);
    free(body);
}

static void status_codes(void **unused) {
    (void)unused;
    kh_ce_receiver_options opts = {.bind_addr = "127.0.0.1",
                                   .max_body_bytes = 256 * 1024};
    fixture *f = start(&opts);
    kh_http_response res;

    res = raw_request(f, "GET", "/healthz", NULL, 0, NULL, 0);
    assert_int_equal(res.status, 200);
    kh_http_response_free(&res);

    res = raw_request(f, "GET", "/", NULL, 0, NULL, 0);
    assert_error_body(&res, 405, "method GET not allowed");
    assert_string_equal(kh_http_response_header_get(&res, "Allow"), "POST");
    kh_http_response_free(&res);
    res = raw_request(f, "PUT", "/", NULL, 0, "x", 1);
    assert_error_body(&res, 405, "PUT");
    kh_http_response_free(&res);

    kh_http_header plain[] = {{"Content-Type", "application/json"}};
    res = raw_request(f, "POST", "/", plain, 1, "{}", 2);
    assert_error_body(&res, 415, "not a CloudEvent");
    kh_http_response_free(&res);
    kh_http_header avro[] = {{"Content-Type", "application/cloudevents+avro"}};
    res = raw_request(f, "POST", "/", avro, 1, "x", 1);
    assert_error_body(&res, 415, "unsupported event format");
    kh_http_response_free(&res);

    kh_http_header structured[] = {
        {"Content-Type", "application/cloudevents+json"}};
    res = raw_request(f, "POST", "/", structured, 1, "{\"id\":", 6);
    assert_error_body(&res, 400, "invalid JSON");
    kh_http_response_free(&res);
    const char *no_source =
        "{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}";
    res = raw_request(f, "POST", "/", structured, 1, no_source,
                      strlen(no_source));
    assert_error_body(&res, 400, "missing required attribute 'source'");
    kh_http_response_free(&res);
    kh_http_header bad_binary[] = {{"ce-specversion", "1.0"},
                                   {"ce-id", "1"},
                                   {"ce-source", "/s"},
                                   {"ce-type", "t"},
                                   {"ce-bad", "%C0%A0"}};
    res = raw_request(f, "POST", "/", bad_binary, 5, NULL, 0);
    assert_error_body(&res, 400, "not valid UTF-8");
    kh_http_response_free(&res);
    assert_int_equal(f->sink.calls, 0); /* none of these reached it */

    /* The handler's verdicts. */
    kh_cloudevent ev = event_of_type("test.fail.503", "f1");
    send_ok(f, &ev, KH_CE_MODE_BINARY, 503, NULL);
    kh_cloudevent_free(&ev);
    ev = event_of_type("test.fail.invalid", "f2");
    send_ok(f, &ev, KH_CE_MODE_STRUCTURED, 400, NULL);
    kh_cloudevent_free(&ev);
    ev = event_of_type("test.fail.crash", "f3");
    send_ok(f, &ev, KH_CE_MODE_BINARY, 500, NULL);
    kh_cloudevent_free(&ev);
    /* In a batch, the first failure answers, naming the event. */
    kh_cloudevent batch[2] = {event_of_type("test.accept", "ok"),
                              event_of_type("test.fail.invalid", "bad")};
    kh_http_response batch_res;
    kh_error err = {0};
    assert_int_equal(kh_ce_send_response(f->url, batch, 2, KH_CE_MODE_BATCH,
                                         NULL, 0, 10000, &batch_res, &err),
                     KH_OK);
    assert_error_body(&batch_res, 400, "batch event 1: picture 42 is not a JPEG");
    kh_http_response_free(&batch_res);
    kh_cloudevent_free(&batch[0]);
    kh_cloudevent_free(&batch[1]);

    /* Size: 64 KiB and more accepted, over the limit 413. */
    size_t big = 200 * 1024;
    uint8_t *data = malloc(big);
    assert_non_null(data);
    memset(data, 'x', big);
    ev = event_of_type("test.accept", "big");
    kh_cloudevent_set_data(&ev, data, big, "text/plain", &err);
    send_ok(f, &ev, KH_CE_MODE_BINARY, 202, NULL);
    send_ok(f, &ev, KH_CE_MODE_STRUCTURED, 202, NULL);
    free(data);
    data = malloc(300 * 1024);
    assert_non_null(data);
    memset(data, 'y', 300 * 1024);
    kh_cloudevent_set_data(&ev, data, 300 * 1024, NULL, &err);
    free(data);
    send_ok(f, &ev, KH_CE_MODE_BINARY, 413, NULL);
    kh_cloudevent_free(&ev);
    stop(f);
}

static void sender_errors(void **unused) {
    (void)unused;
    fixture *f = start(NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", f->url);
    stop(f); /* nobody listens there any more */

    kh_cloudevent ev = event_of_type("test.accept", "n1");
    int status = -1;
    kh_cloudevent reply;
    kh_error err = {0};
    assert_int_equal(kh_ce_send(url, &ev, KH_CE_MODE_BINARY, NULL, 0, 5000,
                                &status, &reply, &err),
                     KH_ENETWORK);
    assert_int_equal(status, 0);
    ce_assert_contains(err.message, url);
    assert_null(reply.id);

    kh_http_header clash[] = {{"Content-Type", "text/plain"}};
    assert_int_equal(kh_ce_send(url, &ev, KH_CE_MODE_BINARY, clash, 1, 5000,
                                &status, NULL, &err),
                     KH_EINVAL);
    kh_http_header clash_ce[] = {{"CE-Id", "x"}};
    assert_int_equal(kh_ce_send(url, &ev, KH_CE_MODE_BINARY, clash_ce, 1, 5000,
                                &status, NULL, &err),
                     KH_EINVAL);
    kh_cloudevent_set(&ev, "type", NULL, &err);
    assert_int_equal(kh_ce_send(url, &ev, KH_CE_MODE_BINARY, NULL, 0, 5000,
                                &status, NULL, &err),
                     KH_EINVAL);
    ce_assert_contains(err.message, "missing required attribute 'type'");
    kh_cloudevent_free(&ev);
}

static void extra_headers_reach_the_handler_side(void **unused) {
    (void)unused;
    /* The W3C trace header travels beside the event's own extension. */
    fixture *f = start(NULL);
    kh_cloudevent ev = event_of_type("test.accept", "t1");
    kh_http_header extra[] = {
        {"traceparent",
         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    int status;
    kh_error err = {0};
    assert_int_equal(kh_ce_send(f->url, &ev, KH_CE_MODE_BINARY, extra, 1, 5000,
                                &status, NULL, &err),
                     KH_OK);
    assert_int_equal(status, 202);
    /* Not an attribute: only ce- headers are. */
    assert_null(kh_cloudevent_get(&f->sink.seen[0], "traceparent"));
    kh_cloudevent_free(&ev);
    stop(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_mode_arrives_intact),
        cmocka_unit_test(replies_come_back_as_events),
        cmocka_unit_test(status_codes),
        cmocka_unit_test(sender_errors),
        cmocka_unit_test(extra_headers_reach_the_handler_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
