/* The embedded broker, in process: filtering end to end (HTTP and
 * in-process subscribers), retries with backoff, dead-letter sinks and
 * their extensions, drops, TTL against reply loops, restart with pending
 * deliveries, and the HTTP ingress's status codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "events/broker.h"
#include "events/ce_receiver.h"
#include "events/ce_sender.h"

#define WAIT_MS 20000

static void must(int rc, const kh_error *err, const char *what) {
    if (rc != KH_OK)
        fail_msg("%s: expected OK, got %s: %s", what, kh_err_name(rc),
                 err->message);
}

/* ----------------------------------------------------- a subscriber */

/* Records what it receives; answers by a script. */
typedef struct subscriber {
    pthread_mutex_t lock;
    int calls;
    kh_cloudevent received[64];
    int fail_first;         /* answer fail_status to the first N calls */
    int fail_status;
    int always_status;      /* when non-zero: answer it every time */
    const char *fail_message;
    bool reply;             /* answer with a reply event of the same type */
    kh_ce_receiver *http;   /* when served over HTTP */
    char url[64];
} subscriber;

static int on_event(void *user, const kh_cloudevent *in, kh_cloudevent *reply,
                    kh_error *err) {
    subscriber *s = user;
    pthread_mutex_lock(&s->lock);
    int call = s->calls++;
    if (call < 64)
        kh_cloudevent_copy(&s->received[call], in, NULL);
    pthread_mutex_unlock(&s->lock);
    if (s->always_status) {
        kh_error_set(err, KH_EIO, "%s",
                     s->fail_message ? s->fail_message : "always failing");
        return s->always_status;
    }
    if (call < s->fail_first) {
        kh_error_set(err, KH_EIO, "%s",
                     s->fail_message ? s->fail_message : "not yet");
        return s->fail_status;
    }
    if (s->reply && reply) {
        char id[32];
        snprintf(id, sizeof id, "%s-r", in->id);
        kh_cloudevent_set(reply, "id", id, NULL);
        kh_cloudevent_set(reply, "source", "/loop", NULL);
        kh_cloudevent_set(reply, "specversion", "1.0", NULL);
        kh_cloudevent_set(reply, "type", in->type, NULL);
    }
    return KH_OK;
}

static void subscriber_init(subscriber *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

static void subscriber_serve(subscriber *s) {
    kh_ce_receiver_options opts = {.bind_addr = "127.0.0.1", .port = 0};
    kh_error err = {0};
    must(kh_ce_receiver_start(&opts, on_event, s, &s->http, &err), &err,
         "receiver");
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/",
             kh_ce_receiver_port(s->http));
}

static int calls_of(subscriber *s) {
    pthread_mutex_lock(&s->lock);
    int n = s->calls;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void subscriber_free(subscriber *s) {
    kh_ce_receiver_stop(s->http);
    for (int i = 0; i < s->calls && i < 64; i++)
        kh_cloudevent_free(&s->received[i]);
    pthread_mutex_destroy(&s->lock);
}

/* --------------------------------------------------------- records */

typedef struct seen_record {
    kh_broker_outcome outcome;
    int attempt;
    int status;
    int64_t retry_in_ms;
    char trigger[64];
    char detail[160];
} seen_record;

static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;
static seen_record records[512];
static int n_records;

static void on_record(void *user, const kh_broker_record *r) {
    (void)user;
    pthread_mutex_lock(&records_lock);
    if (n_records < 512) {
        seen_record *s = &records[n_records++];
        s->outcome = r->outcome;
        s->attempt = r->attempt;
        s->status = r->status;
        s->retry_in_ms = r->retry_in_ms;
        snprintf(s->trigger, sizeof s->trigger, "%s", r->trigger);
        snprintf(s->detail, sizeof s->detail, "%s", r->detail);
    }
    pthread_mutex_unlock(&records_lock);
}

static int count_records(kh_broker_outcome outcome) {
    pthread_mutex_lock(&records_lock);
    int n = 0;
    for (int i = 0; i < n_records; i++)
        n += records[i].outcome == outcome;
    pthread_mutex_unlock(&records_lock);
    return n;
}

static void reset_records(void) {
    pthread_mutex_lock(&records_lock);
    n_records = 0;
    pthread_mutex_unlock(&records_lock);
}

/* ---------------------------------------------------------- helpers */

static char store_dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(store_dir, sizeof store_dir, "/tmp/kh-broker-XXXXXX");
    if (!mkdtemp(store_dir))
        return -1;
    reset_records();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *store_path(void) {
    static char path[128];
    snprintf(path, sizeof path, "%s/broker.db", store_dir);
    return path;
}

static kh_trigger_set *triggers_from(const char *yaml) {
    kh_trigger_set *set = NULL;
    kh_error err = {0};
    must(kh_trigger_set_create(&set, &err), &err, "set");
    must(kh_trigger_set_parse(set, yaml, strlen(yaml), "test", &err), &err,
         "triggers");
    return set;
}

static void make_event(kh_cloudevent *ev, const char *id, const char *type) {
    kh_cloudevent_init(ev);
    kh_cloudevent_set(ev, "id", id, NULL);
    kh_cloudevent_set(ev, "source", "/test", NULL);
    kh_cloudevent_set(ev, "specversion", "1.0", NULL);
    kh_cloudevent_set(ev, "type", type, NULL);
}

static void ingest(kh_broker *b, const char *id, const char *type,
                   const char *ext, const char *value) {
    kh_cloudevent ev;
    kh_error err = {0};
    make_event(&ev, id, type);
    if (ext)
        kh_cloudevent_set(&ev, ext, value, NULL);
    kh_cloudevent_set_data(&ev, "{\"n\":1}", 7, "application/json", NULL);
    must(kh_broker_ingest(b, &ev, &err), &err, id);
    kh_cloudevent_free(&ev);
}

static kh_broker *start(const kh_trigger_set *set,
                        const kh_broker_subscriber *subs, size_t n) {
    kh_broker_options opts = {.store_path = store_path(),
                              .triggers = set,
                              .subscribers = subs,
                              .n_subscribers = n,
                              .workers = 3,
                              .default_timeout_ms = 5000,
                              .on_record = on_record};
    kh_broker *b = NULL;
    kh_error err = {0};
    must(kh_broker_start(&opts, &b, &err), &err, "broker start");
    return b;
}

static void wait_idle(kh_broker *b) {
    kh_error err = {0};
    must(kh_broker_wait_idle(b, WAIT_MS, &err), &err, "wait idle");
}

#define TRIGGER(name, filter, subscriber_yaml, delivery)                       \
    "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"                     \
    "metadata: {name: " name "}\nspec:\n  broker: default\n" filter            \
    "  subscriber:\n" subscriber_yaml delivery "---\n"
#define REF(name)                                                              \
    "    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: " name \
    "}\n"

/* ------------------------------------------------------------ tests */

static void filtering_end_to_end(void **state) {
    (void)state;
    subscriber detector, extractor, report;
    subscriber_init(&detector);
    subscriber_init(&extractor);
    subscriber_init(&report);
    subscriber_serve(&extractor);
    kh_trigger_set *set = triggers_from(
        TRIGGER("detector",
                "  filters:\n    - exact: {type: dev.khappy.picture.stored}\n",
                REF("khappy-face-detector-tinyface"), "")
        TRIGGER("extractor",
                "  filter:\n    attributes:\n"
                "      type: dev.khappy.face.detected\n      element: face\n",
                REF("khappy-face-extractor"), "")
        TRIGGER("report", "  filters:\n    - prefix: {type: dev.khappy.}\n",
                REF("khappy-report"), "")
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
        "metadata: {name: elsewhere}\nspec:\n  broker: another\n"
        "  subscriber: {uri: \"http://127.0.0.1:1/never\"}\n");
    kh_broker_subscriber subs[] = {
        {.name = "khappy-face-detector-tinyface", .function = on_event,
         .function_user = &detector},
        {.name = "khappy-face-extractor", .url = extractor.url},
        {.name = "khappy-report", .function = on_event,
         .function_user = &report},
    };
    kh_broker *b = start(set, subs, 3);
    ingest(b, "p1", "dev.khappy.picture.stored", "pictureid", "1");
    ingest(b, "f1", "dev.khappy.face.detected", "element", "face");
    ingest(b, "f2", "dev.khappy.face.detected", "element", "eye");
    ingest(b, "o1", "com.example.other", NULL, NULL);
    wait_idle(b);
    assert_int_equal(calls_of(&detector), 1);
    assert_int_equal(calls_of(&extractor), 1);
    assert_int_equal(calls_of(&report), 3);
    assert_string_equal(detector.received[0].id, "p1");
    /* Over HTTP the event arrives intact, without the broker's TTL. */
    const kh_cloudevent *got = &extractor.received[0];
    assert_string_equal(got->id, "f1");
    assert_string_equal(kh_cloudevent_get(got, "element"), "face");
    assert_string_equal(got->datacontenttype, "application/json");
    assert_int_equal(got->data_len, 7);
    assert_memory_equal(got->data, "{\"n\":1}", 7);
    assert_null(kh_cloudevent_get(got, KH_BROKER_TTL_EXTENSION));
    assert_null(kh_cloudevent_get(&report.received[0],
                                  KH_BROKER_TTL_EXTENSION));
    kh_broker_stats stats;
    kh_broker_get_stats(b, &stats);
    assert_int_equal(stats.accepted, 4);
    assert_int_equal(stats.unmatched, 1);
    assert_int_equal(stats.delivered, 5);
    assert_int_equal(stats.pending, 0);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&detector);
    subscriber_free(&extractor);
    subscriber_free(&report);
}

static void retried_with_backoff_then_delivered_once(void **state) {
    (void)state;
    subscriber flaky;
    subscriber_init(&flaky);
    flaky.fail_first = 2;
    flaky.fail_status = 503;
    subscriber_serve(&flaky);
    kh_trigger_set *set = triggers_from(TRIGGER(
        "flaky", "", REF("flaky"),
        "  delivery: {retry: 3, backoffPolicy: linear, backoffDelay: "
        "PT0.05S}\n"));
    kh_broker_subscriber subs[] = {{.name = "flaky", .url = flaky.url}};
    kh_broker *b = start(set, subs, 1);
    ingest(b, "e1", "dev.khappy.picture.stored", NULL, NULL);
    wait_idle(b);
    assert_int_equal(calls_of(&flaky), 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(flaky.received[i].id, "e1");
    assert_int_equal(count_records(KH_BROKER_RETRY), 2);
    assert_int_equal(count_records(KH_BROKER_DELIVERED), 1);
    /* The backoff chosen: linear, 50 ms * n. */
    pthread_mutex_lock(&records_lock);
    int retry = 0;
    for (int i = 0; i < n_records; i++) {
        if (records[i].outcome != KH_BROKER_RETRY)
            continue;
        retry++;
        assert_int_equal(records[i].status, 503);
        assert_int_equal(records[i].attempt, retry);
        assert_int_equal(records[i].retry_in_ms, 50 * retry);
    }
    pthread_mutex_unlock(&records_lock);
    kh_broker_stats stats;
    kh_broker_get_stats(b, &stats);
    assert_int_equal(stats.delivered, 1);
    assert_int_equal(stats.retries, 2);
    assert_int_equal(stats.dead_lettered + stats.dropped, 0);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&flaky);
}

static void dead_letter_sink_gets_the_error_extensions(void **state) {
    (void)state;
    subscriber broken, not_retryable, sink;
    subscriber_init(&broken);
    subscriber_init(&not_retryable);
    subscriber_init(&sink);
    broken.always_status = 500;
    broken.fail_message = "database on fire";
    not_retryable.always_status = 400;
    subscriber_serve(&broken);
    subscriber_serve(&not_retryable);
    subscriber_serve(&sink);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             TRIGGER("broken", "  filters:\n    - exact: {type: a}\n",
                     REF("broken"),
                     "  delivery:\n    retry: 2\n    backoffPolicy: linear\n"
                     "    backoffDelay: PT0.01S\n"
                     "    deadLetterSink: {uri: \"%s\"}\n")
                 TRIGGER("strict", "  filters:\n    - exact: {type: b}\n",
                         REF("strict"),
                         "  delivery:\n    retry: 5\n"
                         "    backoffDelay: PT0.01S\n"
                         "    deadLetterSink: {uri: \"%s\"}\n"),
             sink.url, sink.url);
    kh_trigger_set *set = triggers_from(yaml);
    kh_broker_subscriber subs[] = {
        {.name = "broken", .url = broken.url},
        {.name = "strict", .url = not_retryable.url},
    };
    kh_broker *b = start(set, subs, 2);
    ingest(b, "a1", "a", "pictureid", "9");
    wait_idle(b);
    assert_int_equal(calls_of(&broken), 3); /* first try + 2 retries */
    assert_int_equal(calls_of(&sink), 1);
    const kh_cloudevent *dead = &sink.received[0];
    assert_string_equal(dead->id, "a1");
    assert_string_equal(kh_cloudevent_get(dead, "pictureid"), "9");
    assert_string_equal(kh_cloudevent_get(dead, "knativeerrordest"),
                        broken.url);
    assert_string_equal(kh_cloudevent_get(dead, "knativeerrorcode"), "500");
    const char *data = kh_cloudevent_get(dead, "knativeerrordata");
    assert_non_null(data);
    uint8_t *body = NULL;
    size_t body_len = 0;
    assert_true(kh_base64_decode(data, strlen(data), &body, &body_len));
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)body_len, (const char *)body);
    if (!strstr(text, "database on fire"))
        fail_msg("knativeerrordata decodes to \"%s\", expected the "
                 "subscriber's error body",
                 text);
    free(body);

    /* 400 is not retried: straight to the sink. */
    ingest(b, "b1", "b", NULL, NULL);
    wait_idle(b);
    assert_int_equal(calls_of(&not_retryable), 1);
    assert_int_equal(calls_of(&sink), 2);
    assert_string_equal(
        kh_cloudevent_get(&sink.received[1], "knativeerrorcode"), "400");
    assert_int_equal(count_records(KH_BROKER_DEAD_LETTERED), 2);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&broken);
    subscriber_free(&not_retryable);
    subscriber_free(&sink);
}

static void dropped_without_a_sink_and_network_errors_retried(void **state) {
    (void)state;
    subscriber down;
    subscriber_init(&down);
    down.always_status = 503;
    kh_trigger_set *set = triggers_from(
        TRIGGER("down", "  filters:\n    - exact: {type: a}\n", REF("down"),
                "  delivery: {retry: 1, backoffDelay: PT0.01S}\n")
        /* Nothing listens on port 1: a network error, retried, then the
         * sink gets knativeerrorcode 500 and "dispatch error". */
        TRIGGER("nowhere", "  filters:\n    - exact: {type: b}\n",
                "    uri: \"http://127.0.0.1:1/\"\n",
                "  delivery:\n    retry: 1\n    backoffDelay: PT0.01S\n"
                "    deadLetterSink: {ref: {apiVersion: v1, kind: Service, "
                "name: sink}}\n"));
    subscriber sink;
    subscriber_init(&sink);
    kh_broker_subscriber subs[] = {
        {.name = "down", .function = on_event, .function_user = &down},
        {.name = "sink", .function = on_event, .function_user = &sink},
    };
    kh_broker *b = start(set, subs, 2);
    ingest(b, "a1", "a", NULL, NULL);
    ingest(b, "b1", "b", NULL, NULL);
    wait_idle(b);
    assert_int_equal(calls_of(&down), 2);
    assert_int_equal(count_records(KH_BROKER_DROPPED), 1);
    pthread_mutex_lock(&records_lock);
    for (int i = 0; i < n_records; i++)
        if (records[i].outcome == KH_BROKER_DROPPED &&
            !strstr(records[i].detail, "no dead-letter sink"))
            fail_msg("drop detail \"%s\"", records[i].detail);
    pthread_mutex_unlock(&records_lock);
    assert_int_equal(calls_of(&sink), 1);
    assert_string_equal(
        kh_cloudevent_get(&sink.received[0], "knativeerrorcode"), "500");
    assert_string_equal(
        kh_cloudevent_get(&sink.received[0], "knativeerrordest"),
        "http://127.0.0.1:1/");
    const char *data =
        kh_cloudevent_get(&sink.received[0], "knativeerrordata");
    uint8_t *body = NULL;
    size_t len = 0;
    assert_true(data && kh_base64_decode(data, strlen(data), &body, &len));
    assert_true(len > 15 && memcmp(body, "dispatch error:", 15) == 0);
    free(body);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&down);
    subscriber_free(&sink);
}

static void ttl_stops_a_reply_loop(void **state) {
    (void)state;
    subscriber echo;
    subscriber_init(&echo);
    echo.reply = true; /* every event answers with one that matches again */
    kh_trigger_set *set = triggers_from(TRIGGER("loop", "", REF("echo"), ""));
    kh_broker_subscriber subs[] = {
        {.name = "echo", .function = on_event, .function_user = &echo}};
    kh_broker *b = start(set, subs, 1);
    kh_cloudevent ev;
    kh_error err = {0};
    make_event(&ev, "x", "dev.khappy.loop");
    kh_cloudevent_set(&ev, KH_BROKER_TTL_EXTENSION, "4", NULL);
    must(kh_broker_ingest(b, &ev, &err), &err, "ingest");
    wait_idle(b);
    /* TTL 4, 3, 2, 1 delivered; the reply to the last would have TTL 0. */
    assert_int_equal(calls_of(&echo), 4);
    assert_string_equal(echo.received[3].id, "x-r-r-r");
    assert_int_equal(count_records(KH_BROKER_REPLY_ACCEPTED), 3);
    assert_int_equal(count_records(KH_BROKER_REPLY_DROPPED), 1);
    kh_broker_stats stats;
    kh_broker_get_stats(b, &stats);
    assert_int_equal(stats.replies, 3);
    assert_int_equal(stats.replies_dropped, 1);

    /* Events that arrive with a spent or bogus TTL are refused. */
    kh_cloudevent_set(&ev, KH_BROKER_TTL_EXTENSION, "0", NULL);
    assert_int_equal(kh_broker_ingest(b, &ev, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "knativebrokerttl"));
    kh_cloudevent_set(&ev, KH_BROKER_TTL_EXTENSION, "many", NULL);
    assert_int_equal(kh_broker_ingest(b, &ev, &err), KH_EINVAL);
    kh_cloudevent_set(&ev, "type", NULL, NULL);
    kh_cloudevent_set(&ev, KH_BROKER_TTL_EXTENSION, NULL, NULL);
    assert_int_equal(kh_broker_ingest(b, &ev, &err), KH_EINVAL);
    kh_cloudevent_free(&ev);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&echo);
}

static void restart_delivers_what_was_pending(void **state) {
    (void)state;
    subscriber down;
    subscriber_init(&down);
    down.always_status = 503;
    const char *yaml =
        TRIGGER("keep", "", REF("svc"),
                "  delivery: {retry: 5, backoffDelay: PT30S}\n")
        TRIGGER("removed", "", REF("svc"),
                "  delivery: {retry: 5, backoffDelay: PT30S}\n");
    kh_trigger_set *set = triggers_from(yaml);
    kh_broker_subscriber first[] = {
        {.name = "svc", .function = on_event, .function_user = &down}};
    kh_broker *b = start(set, first, 1);
    ingest(b, "e1", "t", NULL, NULL);
    ingest(b, "e2", "t", NULL, NULL);
    ingest(b, "e3", "t", NULL, NULL);
    /* Every first attempt failed; the retries wait 60 s. */
    for (int i = 0; i < 2000 && calls_of(&down) < 6; i++)
        usleep(5000);
    assert_int_equal(calls_of(&down), 6);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);

    /* Restart without the "removed" trigger, with a healthy subscriber. */
    reset_records();
    subscriber up;
    subscriber_init(&up);
    set = triggers_from(TRIGGER("keep", "", REF("svc"),
                                "  delivery: {retry: 5, backoffDelay: "
                                "PT0.01S}\n"));
    kh_broker_subscriber second[] = {
        {.name = "svc", .function = on_event, .function_user = &up}};
    b = start(set, second, 1);
    kh_broker_stats stats;
    kh_broker_get_stats(b, &stats);
    assert_int_equal(stats.recovered, 3);
    assert_int_equal(stats.dropped, 3); /* the removed trigger's */
    /* Due at once after a restart, although the stored retry was 60 s
     * away. */
    wait_idle(b);
    assert_int_equal(calls_of(&up), 3);
    pthread_mutex_lock(&records_lock);
    for (int i = 0; i < n_records; i++)
        if (records[i].outcome == KH_BROKER_DELIVERED)
            assert_int_equal(records[i].attempt, 2); /* the count survived */
    pthread_mutex_unlock(&records_lock);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);

    /* Nothing is left in the store. */
    kh_broker_store *store = NULL;
    kh_error err = {0};
    must(kh_broker_store_open(store_path(), KH_STORE_SYNC_FULL, &store, &err),
         &err, "open");
    size_t events = 9, deliveries = 9;
    must(kh_broker_store_counts(store, &events, &deliveries, &err), &err,
         "counts");
    assert_int_equal(events, 0);
    assert_int_equal(deliveries, 0);
    kh_broker_store_close(store);
    subscriber_free(&down);
    subscriber_free(&up);
}

static void unresolvable_subscribers_fail_start(void **state) {
    (void)state;
    kh_trigger_set *set = triggers_from(TRIGGER("t", "", REF("ghost"), ""));
    kh_broker_options opts = {.store_path = store_path(), .triggers = set};
    kh_broker *b = NULL;
    kh_error err = {0};
    assert_int_equal(kh_broker_start(&opts, &b, &err), KH_ENOTFOUND);
    assert_null(b);
    if (!strstr(err.message, "default/t") || !strstr(err.message, "ghost"))
        fail_msg("message should name the trigger and the service: \"%s\"",
                 err.message);
    kh_trigger_set_destroy(set);
}

/* ------------------------------------------------------ HTTP ingress */

typedef struct http_case {
    const char *name;
    const char *method;
    const char *path;
    const char *content_type;
    const char *ce_headers; /* "name: value\n" lines */
    const char *body;
    size_t body_len;        /* 0: strlen(body) */
    int expect;
} http_case;

static int post(int port, const http_case *c, kh_http_response *res) {
    kh_http_header headers[16];
    size_t n = 0;
    char lines[1024] = "";
    if (c->content_type)
        headers[n++] = (kh_http_header){"Content-Type",
                                        (char *)c->content_type};
    if (c->ce_headers) {
        snprintf(lines, sizeof lines, "%s", c->ce_headers);
        for (char *line = strtok(lines, "\n"); line && n < 16;
             line = strtok(NULL, "\n")) {
            char *colon = strchr(line, ':');
            *colon = '\0';
            headers[n++] = (kh_http_header){line, colon + 2};
        }
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, c->path);
    kh_http_client_request req = {
        .method = c->method,
        .url = url,
        .headers = headers,
        .n_headers = n,
        .body = c->body,
        .body_len = c->body ? (c->body_len ? c->body_len : strlen(c->body))
                            : 0,
        .timeout_ms = 10000,
    };
    kh_error err = {0};
    int rc = kh_http_client_do(&req, res, &err);
    if (rc != KH_OK)
        fail_msg("%s: %s", c->name, err.message);
    return res->status;
}

#define CE_OK "ce-specversion: 1.0\nce-id: 1\nce-source: /t\nce-type: t\n"

static void http_ingress_answers_like_knative(void **state) {
    (void)state;
    subscriber sink;
    subscriber_init(&sink);
    kh_trigger_set *set = triggers_from(TRIGGER("all", "", REF("sink"), ""));
    kh_broker_subscriber subs[] = {
        {.name = "sink", .function = on_event, .function_user = &sink}};
    kh_broker *b = start(set, subs, 1);
    kh_http_server_options server_opts = {.bind_addr = "127.0.0.1",
                                          .max_body_bytes = 4096};
    kh_http_server *server = NULL;
    kh_error err = {0};
    must(kh_http_server_start(&server_opts, kh_broker_http_handler, b,
                              &server, &err),
         &err, "server");
    int port = kh_http_server_port(server);
    static char big[8192];
    memset(big, 'x', sizeof big);
    const http_case cases[] = {
        {"binary", "POST", "/", "application/json", CE_OK, "{}", 0, 202},
        {"binary, no body", "POST", "/", NULL, CE_OK, NULL, 0, 202},
        {"structured at /ns/broker", "POST", "/default/default",
         "application/cloudevents+json; charset=utf-8", NULL,
         "{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/t\","
         "\"type\":\"t\",\"data\":{\"a\":1}}",
         0, 202},
        {"trailing slash", "POST", "/khappy/default/", "text/plain", CE_OK,
         "hi", 0, 202},
        {"another broker", "POST", "/default/other", "text/plain", CE_OK,
         "hi", 0, 404},
        {"too deep a path", "POST", "/a/b/c", "text/plain", CE_OK, "hi", 0,
         404},
        {"missing ce-id", "POST", "/", "text/plain",
         "ce-specversion: 1.0\nce-source: /t\nce-type: t\n", "hi", 0, 400},
        {"bad specversion", "POST", "/", "text/plain",
         "ce-specversion: 0.3\nce-id: 1\nce-source: /t\nce-type: t\n", "hi",
         0, 400},
        {"bad percent-encoding", "POST", "/", "text/plain",
         CE_OK "ce-subject: 100%zz\n", "hi", 0, 400},
        {"structured, bad JSON", "POST", "/", "application/cloudevents+json",
         NULL, "{\"specversion\":", 0, 400},
        {"batched", "POST", "/", "application/cloudevents-batch+json", NULL,
         "[{\"specversion\":\"1.0\",\"id\":\"3\",\"source\":\"/t\","
         "\"type\":\"t\"}]",
         0, 400},
        {"not a CloudEvent", "POST", "/", "text/plain", NULL, "hello", 0,
         415},
        {"unknown event format", "POST", "/", "application/cloudevents+xml",
         NULL, "<e/>", 0, 415},
        {"spent TTL", "POST", "/", "text/plain",
         CE_OK "ce-knativebrokerttl: 0\n", "hi", 0, 400},
        {"oversize", "POST", "/", "text/plain", CE_OK, big, sizeof big, 413},
        {"GET", "GET", "/", NULL, NULL, NULL, 0, 405},
        {"PUT", "PUT", "/", "text/plain", CE_OK, "hi", 0, 405},
        {"OPTIONS", "OPTIONS", "/", NULL, NULL, NULL, 0, 200},
        {"health", "GET", "/healthz", NULL, NULL, NULL, 0, 200},
        {"stats", "GET", "/stats", NULL, NULL, NULL, 0, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kh_http_response res;
        int status = post(port, &cases[i], &res);
        if (status != cases[i].expect)
            fail_msg("%s: expected HTTP %d, got %d (%.*s)", cases[i].name,
                     cases[i].expect, status, (int)res.body_len,
                     res.body ? (const char *)res.body : "");
        if (strcmp(cases[i].method, "GET") == 0 &&
            strcmp(cases[i].path, "/") == 0) {
            const char *allow = kh_http_response_header_get(&res, "Allow");
            assert_non_null(allow);
            assert_string_equal(allow, "POST, OPTIONS");
        }
        kh_http_response_free(&res);
    }
    wait_idle(b);
    assert_int_equal(calls_of(&sink), 4); /* the four 202s */
    kh_http_server_stop(server);
    kh_broker_stop(b);
    kh_trigger_set_destroy(set);
    subscriber_free(&sink);
}

/* An in-process detector emits one event per face with kh_broker_ingest,
 * as `khappy serve` wires it; events emitted while the broker drains are
 * kept and delivered after the next start. */
static kh_broker *fan_out_broker;
static atomic_int fan_out_hold;     /* detector waits for draining */
static atomic_int fan_out_draining;
static atomic_int fan_out_detector_calls;
static atomic_int fan_out_ingest_failures;

static int fan_out_detector(void *user, const kh_cloudevent *in,
                            kh_cloudevent *reply, kh_error *err) {
    (void)user;
    (void)reply;
    (void)err;
    atomic_fetch_add(&fan_out_detector_calls, 1);
    for (int i = 0; atomic_load(&fan_out_hold) && i < 1000 &&
                    !atomic_load(&fan_out_draining);
         i++)
        usleep(5000);
    if (atomic_load(&fan_out_hold))
        usleep(50000); /* let the drain begin */
    for (int face = 0; face < 3; face++) {
        kh_cloudevent ev;
        char id[64];
        snprintf(id, sizeof id, "%s-face-%d", in->id, face);
        make_event(&ev, id, "dev.khappy.face.detected");
        kh_cloudevent_set(&ev, "element", "face", NULL);
        kh_cloudevent_set(&ev, "pictureid", kh_cloudevent_get(in, "pictureid"),
                          NULL);
        kh_error ingest_err;
        if (kh_broker_ingest(fan_out_broker, &ev, &ingest_err) != KH_OK)
            atomic_fetch_add(&fan_out_ingest_failures, 1);
        kh_cloudevent_free(&ev);
    }
    return KH_OK;
}

static void in_process_fan_out_survives_a_drain(void **state) {
    (void)state;
    subscriber extractor;
    subscriber_init(&extractor);
    kh_trigger_set *set = triggers_from(
        TRIGGER("detector",
                "  filters:\n    - exact: {type: dev.khappy.picture.stored}\n",
                REF("detector"), "")
        TRIGGER("extractor",
                "  filters:\n    - exact: {type: dev.khappy.face.detected}\n",
                REF("extractor"), ""));
    kh_broker_subscriber subs[] = {
        {.name = "detector", .function = fan_out_detector},
        {.name = "extractor", .function = on_event,
         .function_user = &extractor},
    };
    fan_out_broker = start(set, subs, 2);
    ingest(fan_out_broker, "p1", "dev.khappy.picture.stored", "pictureid",
           "1");
    wait_idle(fan_out_broker);
    assert_int_equal(calls_of(&extractor), 3);
    assert_string_equal(kh_cloudevent_get(&extractor.received[0],
                                          "pictureid"),
                        "1");

    /* The detector is mid-delivery when the broker starts draining. */
    atomic_store(&fan_out_hold, 1);
    ingest(fan_out_broker, "p2", "dev.khappy.picture.stored", "pictureid",
           "2");
    for (int i = 0; i < 2000 && atomic_load(&fan_out_detector_calls) < 2; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&fan_out_detector_calls), 2);
    atomic_store(&fan_out_draining, 1);
    kh_broker_drain(fan_out_broker);
    assert_int_equal(atomic_load(&fan_out_ingest_failures), 0);
    kh_broker_stop(fan_out_broker);

    atomic_store(&fan_out_hold, 0);
    fan_out_broker = start(set, subs, 2);
    wait_idle(fan_out_broker);
    /* Nothing lost: 3 faces of each picture, at least once. */
    assert_int_equal(calls_of(&extractor), 6);
    assert_int_equal(atomic_load(&fan_out_detector_calls), 2);
    kh_broker_stop(fan_out_broker);
    kh_trigger_set_destroy(set);
    subscriber_free(&extractor);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(filtering_end_to_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            retried_with_backoff_then_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            dead_letter_sink_gets_the_error_extensions, setup, teardown),
        cmocka_unit_test_setup_teardown(
            dropped_without_a_sink_and_network_errors_retried, setup,
            teardown),
        cmocka_unit_test_setup_teardown(ttl_stops_a_reply_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restart_delivers_what_was_pending,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unresolvable_subscribers_fail_start,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(http_ingress_answers_like_knative,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(in_process_fan_out_survives_a_drain,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
