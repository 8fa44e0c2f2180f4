/* Span export to a local collector: Zipkin v2 and OTLP/HTTP JSON field
 * rules, a multi-hop flow (ingest -> detect -> crop -> classify -> store,
 * propagated through HTTP headers and CloudEvents over real HTTP hops) that
 * must be one connected trace with the expected tree, and a collector that
 * is down, slow or overwhelmed never holding up span ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "events/ce_receiver.h"
#include "events/ce_sender.h"
#include "obs/obs.h"
#include "obs/trace.h"

static kh_tracer *new_tracer(const kh_tracer_options *opts) {
    kh_tracer *tracer = NULL;
    kh_error err = {0};
    if (kh_tracer_create(opts, &tracer, &err) != KH_OK)
        fail_msg("kh_tracer_create: %s", err.message);
    return tracer;
}

static void flush(kh_tracer *tracer) {
    kh_error err = {0};
    if (kh_tracer_flush(tracer, 20000, &err) != KH_OK)
        fail_msg("flush: %s", err.message);
}

static void assert_str(const char *what, const char *expected,
                       const char *actual) {
    if (!actual || strcmp(expected, actual) != 0)
        fail_msg("%s: expected '%s', got '%s'", what, expected,
                 actual ? actual : "(null)");
}

/* A root SERVER span with a CLIENT child that fails, exported as
 * `format`. */
static void export_two_spans_and_check(const char *format) {
    collector c;
    collector_start(&c);
    char otlp_url[96];
    snprintf(otlp_url, sizeof otlp_url, "%s/v1/traces", c.base_url);
    bool zipkin = strcmp(format, "zipkin") == 0;
    kh_tracer_options opts = {.service_name = "ingest",
                              .zipkin_url = zipkin ? c.base_url : NULL,
                              .otlp_traces_url = zipkin ? NULL : otlp_url};
    kh_tracer *tracer = new_tracer(&opts);
    long long window_start = now_us();
    kh_span *root = kh_span_start(tracer, NULL, "POST /api/pictures",
                                  KH_SPAN_SERVER, NULL);
    kh_span_tag(root, "http.method", "POST");
    kh_span_tagf(root, "picture.bytes", "%d", 1234);
    kh_span_tag(root, "repeated", "first");
    kh_span_tag(root, "repeated", "last");
    kh_span *child = kh_span_start(tracer, "storage", "blob put",
                                   KH_SPAN_CLIENT, kh_span_context_of(root));
    kh_span_set_error(child, "disk full");
    kh_span *internal = kh_span_start(tracer, NULL, "decode",
                                      KH_SPAN_INTERNAL,
                                      kh_span_context_of(root));
    char root_id[17], child_id[17], internal_id[17], trace_id[33];
    kh_span_id_hex(kh_span_context_of(root), root_id);
    kh_span_id_hex(kh_span_context_of(child), child_id);
    kh_span_id_hex(kh_span_context_of(internal), internal_id);
    kh_trace_id_hex(kh_span_context_of(root), trace_id);
    kh_span_end(internal);
    kh_span_end(child);
    kh_span_end(root);
    long long window_end = now_us();
    flush(tracer);
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    assert_int_equal(stats.spans_started, 3);
    assert_int_equal(stats.spans_exported, 3);
    assert_int_equal(stats.export_failures, 0);
    kh_tracer_destroy(tracer);

    seen_spans *seen = calloc(1, sizeof *seen);
    collector_spans(&c, seen);
    assert_int_equal(seen->n, 3);
    const seen_span *r = find_span(seen, format, root_id);
    const seen_span *ch = find_span(seen, format, child_id);
    const seen_span *in = find_span(seen, format, internal_id);
    assert_non_null(r);
    assert_non_null(ch);
    assert_non_null(in);
    assert_str("root trace", trace_id, r->trace_id);
    assert_str("child trace", trace_id, ch->trace_id);
    assert_str("root parent", "", r->parent_id);
    assert_str("child parent", root_id, ch->parent_id);
    assert_str("internal parent", root_id, in->parent_id);
    assert_str("root kind", "SERVER", r->kind);
    assert_str("child kind", "CLIENT", ch->kind);
    assert_str("internal kind", "INTERNAL", in->kind);
    assert_str("root name", "POST /api/pictures", r->name);
    assert_str("root service", "ingest", r->service);
    assert_str("child service", "storage", ch->service);
    assert_str("tag", "POST", tag_of(r, "http.method"));
    assert_str("tagf", "1234", tag_of(r, "picture.bytes"));
    assert_str("repeated tag keeps the last", "last", tag_of(r, "repeated"));
    assert_false(r->error);
    assert_true(ch->error);
    if (zipkin)
        assert_str("error tag", "disk full", tag_of(ch, "error"));
    /* Each span lies within the wall-clock window measured around it (the
     * units are right), the child within its parent. */
    for (int i = 0; i < seen->n; i++) {
        const seen_span *s = &seen->spans[i];
        if (s->start_us < window_start - 1 ||
            s->start_us + s->duration_us > window_end + 1)
            fail_msg("span '%s' [%lld, +%lld] outside [%lld, %lld]", s->name,
                     s->start_us, s->duration_us, window_start, window_end);
    }
    assert_true(ch->start_us >= r->start_us);
    assert_true(ch->start_us + ch->duration_us <=
                r->start_us + r->duration_us + 1);
    seen_spans_free(seen);
    free(seen);
    collector_stop(&c);
}

static void zipkin_export_follows_the_v2_model(void **state) {
    (void)state;
    export_two_spans_and_check("zipkin");
}

static void otlp_export_follows_the_json_mapping(void **state) {
    (void)state;
    export_two_spans_and_check("otlp");
}

static void otlp_groups_spans_by_service(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    char otlp_url[96];
    snprintf(otlp_url, sizeof otlp_url, "%s/v1/traces/", c.base_url);
    (void)otlp_url;
    snprintf(otlp_url, sizeof otlp_url, "%s/v1/traces", c.base_url);
    kh_tracer_options opts = {.otlp_traces_url = otlp_url};
    kh_tracer *tracer = new_tracer(&opts);
    const char *services[] = {"a", "b", "a", "c", "b", "a"};
    for (size_t i = 0; i < 6; i++)
        kh_span_end(kh_span_start(tracer, services[i], "s", KH_SPAN_INTERNAL,
                                  NULL));
    kh_span_end(kh_span_start(tracer, NULL, "default", KH_SPAN_INTERNAL, NULL));
    flush(tracer);
    kh_tracer_destroy(tracer);
    assert_int_equal(c.n_requests, 1);
    json_t *root = json_loads(c.requests[0].body, 0, NULL);
    json_t *resources = json_object_get(root, "resourceSpans");
    assert_int_equal(json_array_size(resources), 4); /* a, b, c, khappy */
    seen_spans *seen = calloc(1, sizeof *seen);
    collector_spans(&c, seen);
    int per_service[4] = {0};
    for (int i = 0; i < seen->n; i++) {
        const char *s = seen->spans[i].service;
        per_service[strcmp(s, "a") == 0   ? 0
                    : strcmp(s, "b") == 0 ? 1
                    : strcmp(s, "c") == 0 ? 2
                                          : 3]++;
        if (i == seen->n - 1)
            assert_str("default service", "khappy", s);
    }
    assert_int_equal(per_service[0], 3);
    assert_int_equal(per_service[1], 2);
    assert_int_equal(per_service[2], 1);
    assert_int_equal(per_service[3], 1);
    json_decref(root);
    seen_spans_free(seen);
    free(seen);
    collector_stop(&c);
}

/* ---- the multi-hop flow ---- */

typedef struct flow {
    kh_cloudevent stored;       /* made by the ingest handler */
    bool have_stored;
    pthread_mutex_t lock;
    kh_cloudevent faces[2];     /* made by the detector */
    int n_faces;
    int stored_results;         /* report calls */
} flow;

static flow the_flow;

static void ingest_handler(void *user, const kh_http_request *req,
                           kh_http_response *res) {
    flow *f = user;
    (void)req;
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_error err = {0};
    kh_cloudevent_set(&ev, "specversion", "1.0", &err);
    kh_cloudevent_set(&ev, "id", "picture-1", &err);
    kh_cloudevent_set(&ev, "source", "/khappy/ingest", &err);
    kh_cloudevent_set(&ev, "type", "dev.khappy.picture.stored", &err);
    kh_cloudevent_set(&ev, "pictureid", "1", &err);
    /* The wrapper made the SERVER span current: the event joins it. */
    if (kh_obs_inject_event(&ev, NULL, &err) != KH_OK)
        fail_msg("inject: %s", err.message);
    pthread_mutex_lock(&f->lock);
    f->stored = ev;
    f->have_stored = true;
    pthread_mutex_unlock(&f->lock);
    kh_http_response_set(res, 202, "application/json", "{\"id\":1}", 8);
}

static void simulate_inference(const kh_span *parent, const char *model) {
    kh_span *span = kh_obs_child_span(parent, "inference");
    kh_span_tag(span, "model", model);
    kh_obs_inference(model, 0.002);
    kh_span_end(span);
}

static int detector_handler(void *user, const kh_cloudevent *in,
                            kh_cloudevent *reply, kh_error *err) {
    flow *f = user;
    (void)reply;
    kh_span *span = kh_obs_event_span("face-detector", in);
    simulate_inference(span, "tinyface");
    for (int i = 0; i < 2; i++) {
        kh_cloudevent *face = &f->faces[i];
        kh_cloudevent_init(face);
        char id[32];
        snprintf(id, sizeof id, "face-%d", i);
        kh_cloudevent_set(face, "specversion", "1.0", err);
        kh_cloudevent_set(face, "id", id, err);
        kh_cloudevent_set(face, "source", "/khappy/face-detector", err);
        kh_cloudevent_set(face, "type", "dev.khappy.face.detected", err);
        kh_cloudevent_set(face, "pictureid", "1", err);
        kh_cloudevent_set(face, "element", "face", err);
        if (kh_obs_inject_event(face, span, err) != KH_OK)
            return KH_EINTERNAL;
    }
    f->n_faces = 2;
    kh_span_end(span);
    return KH_OK;
}

/* Extractor and emotion answer with a reply event in the same trace. */
static int reply_handler(const char *service, const char *reply_type,
                         const char *model, const kh_cloudevent *in,
                         kh_cloudevent *reply, kh_error *err) {
    kh_span *span = kh_obs_event_span(service, in);
    if (model)
        simulate_inference(span, model);
    char id[64];
    snprintf(id, sizeof id, "%s-%s", in->id, service);
    kh_cloudevent_set(reply, "specversion", "1.0", err);
    kh_cloudevent_set(reply, "id", id, err);
    kh_cloudevent_set(reply, "source", "/khappy/x", err);
    kh_cloudevent_set(reply, "type", reply_type, err);
    kh_cloudevent_set(reply, "pictureid", "1", err);
    int rc = kh_obs_inject_event(reply, span, err);
    kh_span_end(span);
    return rc;
}

static int extractor_handler(void *user, const kh_cloudevent *in,
                             kh_cloudevent *reply, kh_error *err) {
    (void)user;
    return reply_handler("face-extractor", "dev.khappy.face.cropped", NULL, in,
                         reply, err);
}

static int emotion_handler(void *user, const kh_cloudevent *in,
                           kh_cloudevent *reply, kh_error *err) {
    (void)user;
    return reply_handler("emotion", "dev.khappy.emotion.scored", "expression",
                         in, reply, err);
}

static int report_handler(void *user, const kh_cloudevent *in,
                          kh_cloudevent *reply, kh_error *err) {
    flow *f = user;
    (void)reply;
    (void)err;
    kh_span *span = kh_obs_event_span("report", in);
    kh_span *store = kh_obs_child_span(span, "store result");
    kh_span_end(store);
    kh_span_end(span);
    pthread_mutex_lock(&f->lock);
    f->stored_results++;
    pthread_mutex_unlock(&f->lock);
    return KH_OK;
}

static kh_ce_receiver *start_receiver(kh_ce_event_handler handler) {
    kh_ce_receiver_options opts = {.bind_addr = "127.0.0.1", .port = 0};
    kh_ce_receiver *receiver = NULL;
    kh_error err = {0};
    if (kh_ce_receiver_start(&opts, handler, &the_flow, &receiver, &err) !=
        KH_OK)
        fail_msg("receiver: %s", err.message);
    return receiver;
}

static void send_event(kh_ce_receiver *to, const kh_cloudevent *ev,
                       kh_ce_mode mode, kh_cloudevent *reply) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/",
             kh_ce_receiver_port(to));
    int status = 0;
    kh_error err = {0};
    kh_cloudevent ignored;
    if (kh_ce_send(url, ev, mode, NULL, 0, 10000, &status,
                   reply ? reply : &ignored, &err) != KH_OK)
        fail_msg("send %s to %s: %s", ev->id, url, err.message);
    if (status / 100 != 2)
        fail_msg("send %s to %s: status %d", ev->id, url, status);
    if (!reply)
        kh_cloudevent_free(&ignored);
}

typedef struct expected_edge {
    const char *child_service;
    const char *child_name;
    const char *child_kind;
    const char *parent_service; /* NULL: the root */
    int count;
} expected_edge;

static void check_flow_tree(const seen_spans *seen, const char *format,
                            const char *trace_id, const char *upload_id) {
    static const expected_edge edges[] = {
        {"ingest", "POST /api/pictures", "SERVER", "uploader", 1},
        {"face-detector", "face-detector dev.khappy.picture.stored",
         "CONSUMER", "ingest", 1},
        {"face-detector", "inference", "INTERNAL", "face-detector", 1},
        {"face-extractor", "face-extractor dev.khappy.face.detected",
         "CONSUMER", "face-detector", 2},
        {"emotion", "emotion dev.khappy.face.cropped", "CONSUMER",
         "face-extractor", 2},
        {"emotion", "inference", "INTERNAL", "emotion", 2},
        {"report", "report dev.khappy.emotion.scored", "CONSUMER", "emotion",
         2},
        {"report", "store result", "INTERNAL", "report", 2},
    };
    int counts[sizeof edges / sizeof *edges] = {0};
    int total = 0, roots = 0;
    for (int i = 0; i < seen->n; i++) {
        const seen_span *s = &seen->spans[i];
        if (strcmp(s->format, format) != 0)
            continue;
        total++;
        if (strcmp(s->trace_id, trace_id) != 0)
            fail_msg("%s span '%s' of %s is in trace %s, not %s", format,
                     s->name, s->service, s->trace_id, trace_id);
        if (!s->parent_id[0]) {
            roots++;
            assert_str("root span", upload_id, s->id);
            assert_str("root service", "uploader", s->service);
            continue;
        }
        const seen_span *parent = find_span(seen, format, s->parent_id);
        if (!parent)
            fail_msg("%s span '%s' of %s: parent %s was not exported", format,
                     s->name, s->service, s->parent_id);
        bool matched = false;
        for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
            if (strcmp(edges[e].child_service, s->service) == 0 &&
                strcmp(edges[e].child_name, s->name) == 0) {
                assert_str("kind", edges[e].child_kind, s->kind);
                if (strcmp(edges[e].parent_service, parent->service) != 0)
                    fail_msg("%s span '%s' of %s: parent is of %s, expected "
                             "%s",
                             format, s->name, s->service, parent->service,
                             edges[e].parent_service);
                counts[e]++;
                matched = true;
            }
        }
        if (!matched)
            fail_msg("%s: unexpected span '%s' of %s", format, s->name,
                     s->service);
    }
    assert_int_equal(roots, 1);
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
        if (counts[e] != edges[e].count)
            fail_msg("%s: %d spans '%s' of %s, expected %d", format, counts[e],
                     edges[e].child_name, edges[e].child_service,
                     edges[e].count);
    }
    assert_int_equal(total, 14);
}

static void multi_hop_flow_is_one_connected_trace(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    /* Both exporters at once, configured as an operator would. */
    kh_obs_options obs = {.service_name = "uploader",
                          .zipkin_url = c.base_url,
                          .otlp_endpoint = c.base_url,
                          .log_level = "off"};
    kh_error err = {0};
    if (kh_obs_init(&obs, &err) != KH_OK)
        fail_msg("kh_obs_init: %s", err.message);
    memset(&the_flow, 0, sizeof the_flow);
    pthread_mutex_init(&the_flow.lock, NULL);

    /* Hop 1, HTTP headers: an uploader's CLIENT span calls ingest. */
    static kh_obs_http_wrapper ingest_wrap = {.handler = ingest_handler,
                                              .user = &the_flow,
                                              .service = "ingest"};
    kh_http_server_options server_opts = {.bind_addr = "127.0.0.1"};
    kh_http_server *ingest = NULL;
    if (kh_http_server_start(&server_opts, kh_obs_http_handler, &ingest_wrap,
                             &ingest, &err) != KH_OK)
        fail_msg("ingest server: %s", err.message);
    kh_span *upload = kh_span_start(kh_obs_tracer(), NULL, "upload",
                                    KH_SPAN_CLIENT, NULL);
    char upload_id[17], trace_id[33];
    kh_span_id_hex(kh_span_context_of(upload), upload_id);
    kh_trace_id_hex(kh_span_context_of(upload), trace_id);
    kh_trace_headers headers;
    kh_trace_inject_http(kh_span_context_of(upload), &headers);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/pictures",
             kh_http_server_port(ingest));
    kh_http_client_request req = {.method = "POST",
                                  .url = url,
                                  .headers = headers.headers,
                                  .n_headers = headers.n_headers,
                                  .body = "jpeg",
                                  .body_len = 4};
    kh_http_response res;
    if (kh_http_client_do(&req, &res, &err) != KH_OK)
        fail_msg("upload: %s", err.message);
    assert_int_equal(res.status, 202);
    /* The answer names the trace, so a client can look it up. */
    const char *traceresponse = kh_http_response_header_get(&res,
                                                            "traceresponse");
    assert_non_null(traceresponse);
    assert_non_null(strstr(traceresponse, trace_id));
    kh_http_response_free(&res);
    kh_span_end(upload);
    assert_true(the_flow.have_stored);

    /* Hops 2-5, CloudEvents over HTTP in both modes. */
    kh_ce_receiver *detector = start_receiver(detector_handler);
    kh_ce_receiver *extractor = start_receiver(extractor_handler);
    kh_ce_receiver *emotion = start_receiver(emotion_handler);
    kh_ce_receiver *report = start_receiver(report_handler);
    send_event(detector, &the_flow.stored, KH_CE_MODE_BINARY, NULL);
    assert_int_equal(the_flow.n_faces, 2);
    for (int i = 0; i < 2; i++) {
        kh_cloudevent cropped, scored;
        send_event(extractor, &the_flow.faces[i], KH_CE_MODE_STRUCTURED,
                   &cropped);
        send_event(emotion, &cropped, KH_CE_MODE_BINARY, &scored);
        send_event(report, &scored, KH_CE_MODE_STRUCTURED, NULL);
        kh_cloudevent_free(&cropped);
        kh_cloudevent_free(&scored);
    }
    assert_int_equal(the_flow.stored_results, 2);
    kh_ce_receiver_stop(detector);
    kh_ce_receiver_stop(extractor);
    kh_ce_receiver_stop(emotion);
    kh_ce_receiver_stop(report);
    kh_http_server_stop(ingest);

    if (kh_tracer_flush(kh_obs_tracer(), 20000, &err) != KH_OK)
        fail_msg("flush: %s", err.message);
    /* Metrics moved along the way. */
    assert_true(kh_metric_value(kh_obs_std()->inference_duration,
                                KH_LABELS("tinyface")) == 1);
    assert_true(kh_metric_value(kh_obs_std()->http_requests,
                                KH_LABELS("/api/pictures", "POST", "202")) ==
                1);
    kh_obs_shutdown();

    seen_spans *seen = calloc(1, sizeof *seen);
    collector_spans(&c, seen);
    check_flow_tree(seen, "zipkin", trace_id, upload_id);
    check_flow_tree(seen, "otlp", trace_id, upload_id);
    /* Event spans carry the event's identity. */
    for (int i = 0; i < seen->n; i++) {
        const seen_span *s = &seen->spans[i];
        if (strcmp(s->kind, "CONSUMER") == 0) {
            assert_non_null(tag_of(s, "cloudevents.event_id"));
            assert_str("picture id tag", "1", tag_of(s, "khappy.picture_id"));
        }
    }
    seen_spans_free(seen);
    free(seen);
    kh_cloudevent_free(&the_flow.stored);
    kh_cloudevent_free(&the_flow.faces[0]);
    kh_cloudevent_free(&the_flow.faces[1]);
    pthread_mutex_destroy(&the_flow.lock);
    collector_stop(&c);
}

/* A service run alone (khappy service): its HTTP server is wrapped, the
 * CloudEvents receiver answers inside, and a broker delivers in binary mode
 * with the context only in ce-traceparent. The request span joins the
 * event's trace and the event span nests under it. */
static int consumer_handler(void *user, const kh_cloudevent *in,
                            kh_cloudevent *reply, kh_error *err) {
    (void)user;
    (void)reply;
    (void)err;
    kh_span_end(kh_obs_event_span("emotion", in));
    return KH_OK;
}

static void service_router(void *user, const kh_http_request *req,
                           kh_http_response *res) {
    (void)user;
    kh_ce_receiver_handle(NULL, consumer_handler, NULL, req, res);
}

static void service_over_http_nests_event_span_under_request(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    kh_obs_options obs = {.zipkin_url = c.base_url, .log_level = "off"};
    kh_error err = {0};
    if (kh_obs_init(&obs, &err) != KH_OK)
        fail_msg("kh_obs_init: %s", err.message);
    static kh_obs_http_wrapper wrap = {.handler = service_router,
                                       .service = "emotion"};
    kh_http_server_options server_opts = {.bind_addr = "127.0.0.1"};
    kh_http_server *server = NULL;
    if (kh_http_server_start(&server_opts, kh_obs_http_handler, &wrap,
                             &server, &err) != KH_OK)
        fail_msg("server: %s", err.message);
    kh_cloudevent ev;
    kh_cloudevent_init(&ev);
    kh_cloudevent_set(&ev, "specversion", "1.0", &err);
    kh_cloudevent_set(&ev, "id", "face-0-crop", &err);
    kh_cloudevent_set(&ev, "source", "/khappy/face-extractor", &err);
    kh_cloudevent_set(&ev, "type", "dev.khappy.face.cropped", &err);
    kh_cloudevent_set(&ev, "traceparent",
                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      &err);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/",
             kh_http_server_port(server));
    int status = 0;
    if (kh_ce_send(url, &ev, KH_CE_MODE_BINARY, NULL, 0, 10000, &status, NULL,
                   &err) != KH_OK)
        fail_msg("send: %s", err.message);
    assert_int_equal(status, 202);
    kh_http_server_stop(server);
    kh_obs_shutdown();
    kh_cloudevent_free(&ev);

    seen_spans *seen = calloc(1, sizeof *seen);
    collector_spans(&c, seen);
    assert_int_equal(seen->n, 2);
    const seen_span *request = NULL, *event = NULL;
    for (int i = 0; i < seen->n; i++) {
        if (strcmp(seen->spans[i].kind, "SERVER") == 0)
            request = &seen->spans[i];
        else if (strcmp(seen->spans[i].kind, "CONSUMER") == 0)
            event = &seen->spans[i];
    }
    assert_non_null(request);
    assert_non_null(event);
    assert_str("request trace", "4bf92f3577b34da6a3ce929d0e0e4736",
               request->trace_id);
    assert_str("request parent: the sender", "00f067aa0ba902b7",
               request->parent_id);
    assert_str("request name", "POST /", request->name);
    assert_str("event trace", "4bf92f3577b34da6a3ce929d0e0e4736",
               event->trace_id);
    assert_str("event span under the request", request->id, event->parent_id);
    assert_str("event service", "emotion", event->service);
    seen_spans_free(seen);
    free(seen);
    collector_stop(&c);
}

/* ---- a collector that is down, slow or overwhelmed ---- */

/* A port nothing listens on: bound, then closed. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

static void collector_down_costs_spans_not_the_pipeline(void **state) {
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    kh_tracer_options opts = {.zipkin_url = url, .batch_size = 50};
    kh_tracer *tracer = new_tracer(&opts);
    for (int i = 0; i < 1000; i++)
        kh_span_end(kh_span_start(tracer, NULL, "s", KH_SPAN_INTERNAL, NULL));
    flush(tracer);
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    assert_int_equal(stats.spans_ended, 1000);
    assert_int_equal(stats.spans_exported, 0);
    assert_int_equal(stats.spans_dropped_export, 1000);
    assert_true(stats.export_failures >= 1);
    assert_int_equal(stats.export_failures, stats.export_batches);
    kh_tracer_destroy(tracer);
}

static void slow_collector_never_blocks_span_end_or_shutdown(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    collector_set_hold(&c, true);
    kh_tracer_options opts = {.zipkin_url = c.base_url,
                              .batch_size = 10,
                              .queue_capacity = 10000,
                              .export_timeout_ms = 60000,
                              .shutdown_timeout_ms = 200};
    kh_tracer *tracer = new_tracer(&opts);
    for (int i = 0; i < 10; i++)
        kh_span_end(kh_span_start(tracer, NULL, "first", KH_SPAN_INTERNAL,
                                  NULL));
    /* The export thread is now stuck in a POST the collector holds. */
    collector_wait_held(&c, 1);
    for (int i = 0; i < 500; i++) {
        kh_span *span = kh_span_start(tracer, NULL, "while held",
                                      KH_SPAN_SERVER, NULL);
        kh_span_tag(span, "i", "x");
        kh_span_end(span);
    }
    /* Every end returned while the collector still held the POST. */
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    assert_int_equal(stats.spans_ended, 510);
    assert_int_equal(stats.spans_exported, 0);
    assert_int_equal(stats.spans_dropped_queue, 0);
    assert_int_equal(stats.queued, 500);
    kh_error err = {0};
    assert_int_equal(kh_tracer_flush(tracer, 50, &err), KH_ETIMEOUT);
    assert_non_null(strstr(err.message, "spans still waiting"));
    /* Shutdown returns by its deadline although the POST still hangs; the
     * export thread finishes it and frees the tracer afterwards. */
    kh_tracer_destroy(tracer);
    pthread_mutex_lock(&c.lock);
    int held = c.held_now;
    pthread_mutex_unlock(&c.lock);
    assert_int_equal(held, 1);
    collector_stop(&c); /* releases the POST */
}

static void full_queue_drops_and_counts(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    collector_set_hold(&c, true);
    kh_tracer_options opts = {.zipkin_url = c.base_url,
                              .batch_size = 16,
                              .queue_capacity = 16,
                              .export_timeout_ms = 60000};
    kh_tracer *tracer = new_tracer(&opts);
    for (int i = 0; i < 200; i++)
        kh_span_end(kh_span_start(tracer, NULL, "s", KH_SPAN_INTERNAL, NULL));
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    /* At most one batch in the held POST and one full queue survive. */
    if (stats.spans_dropped_queue < 200 - 32)
        fail_msg("dropped %llu, expected at least %d",
                 (unsigned long long)stats.spans_dropped_queue, 200 - 32);
    collector_set_hold(&c, false);
    flush(tracer);
    kh_tracer_get_stats(tracer, &stats);
    if (stats.spans_exported + stats.spans_dropped_queue != 200)
        fail_msg("exported %llu + dropped %llu != 200",
                 (unsigned long long)stats.spans_exported,
                 (unsigned long long)stats.spans_dropped_queue);
    kh_tracer_destroy(tracer);
    collector_stop(&c);
}

static void refused_batches_count_as_failures(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    c.status = 500;
    kh_tracer_options opts = {.zipkin_url = c.base_url};
    kh_tracer *tracer = new_tracer(&opts);
    for (int i = 0; i < 5; i++)
        kh_span_end(kh_span_start(tracer, NULL, "s", KH_SPAN_INTERNAL, NULL));
    flush(tracer);
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    assert_int_equal(stats.spans_exported, 0);
    assert_int_equal(stats.spans_dropped_export, 5);
    assert_int_equal(stats.export_failures, 1);
    kh_tracer_destroy(tracer);
    collector_stop(&c);
}

/* ---- sampling, limits, ids ---- */

static void unsampled_traces_propagate_but_are_not_exported(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    kh_tracer_options opts = {.zipkin_url = c.base_url};
    kh_tracer *tracer = new_tracer(&opts);
    kh_span_context parent;
    assert_int_equal(
        kh_traceparent_parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &parent,
            NULL),
        KH_OK);
    strcpy(parent.tracestate, "vendor=x");
    kh_span *span = kh_span_start(tracer, NULL, "s", KH_SPAN_SERVER, &parent);
    const kh_span_context *ctx = kh_span_context_of(span);
    char traceparent[KH_TRACEPARENT_SIZE];
    kh_traceparent_format(ctx, traceparent);
    assert_memory_equal(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-",
                        36);
    assert_str("flags", "-00", traceparent + 52);
    assert_str("tracestate passes through", "vendor=x", ctx->tracestate);
    kh_span_end(span);
    flush(tracer);
    kh_tracer_stats stats;
    kh_tracer_get_stats(tracer, &stats);
    assert_int_equal(stats.spans_not_sampled, 1);
    assert_int_equal(stats.export_batches, 0);
    kh_tracer_destroy(tracer);
    assert_int_equal(c.n_requests, 0);
    collector_stop(&c);
}

static void no_exporter_and_null_tracer_cost_nothing(void **state) {
    (void)state;
    kh_tracer *tracer = new_tracer(NULL);
    kh_span *span = kh_span_start(tracer, NULL, "s", KH_SPAN_SERVER, NULL);
    assert_non_null(span);
    assert_true(kh_span_context_valid(kh_span_context_of(span)));
    kh_span_end(span);
    assert_int_equal(kh_tracer_flush(tracer, 1, NULL), KH_OK);
    kh_tracer_destroy(tracer);

    assert_null(kh_span_start(NULL, NULL, "s", KH_SPAN_SERVER, NULL));
    kh_span_tag(NULL, "k", "v");
    kh_span_tagf(NULL, "k", "%d", 1);
    kh_span_set_error(NULL, "x");
    assert_null(kh_span_context_of(NULL));
    kh_span_end(NULL);
    kh_tracer_destroy(NULL);

    kh_error err = {0};
    kh_tracer_options bad = {.zipkin_url = "file:///etc/passwd"};
    assert_int_equal(kh_tracer_create(&bad, &tracer, &err), KH_EINVAL);
    assert_non_null(strstr(err.message, "file:///etc/passwd"));
}

static void tags_are_bounded(void **state) {
    (void)state;
    collector c;
    collector_start(&c);
    kh_tracer_options opts = {.zipkin_url = c.base_url};
    kh_tracer *tracer = new_tracer(&opts);
    kh_span *span = kh_span_start(tracer, NULL, "s", KH_SPAN_INTERNAL, NULL);
    char long_value[1000];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    kh_span_tag(span, "long", long_value);
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", i);
        kh_span_tag(span, key, "\"quoted\" \x01 \xff");
    }
    kh_span_end(span);
    flush(tracer);
    kh_tracer_destroy(tracer);
    seen_spans *seen = calloc(1, sizeof *seen);
    collector_spans(&c, seen);
    assert_int_equal(seen->n, 1);
    assert_int_equal(json_object_size(seen->spans[0].tags), 24);
    assert_int_equal(strlen(tag_of(&seen->spans[0], "long")), 255);
    assert_str("escaped tag", "\"quoted\" \x01 \xef\xbf\xbd",
               tag_of(&seen->spans[0], "k00"));
    seen_spans_free(seen);
    free(seen);
    collector_stop(&c);
}

static void ids_are_distinct(void **state) {
    (void)state;
    kh_tracer *tracer = new_tracer(NULL);
    enum { N = 2000 };
    static char trace_ids[N][33], span_ids[N][17];
    for (int i = 0; i < N; i++) {
        kh_span *span = kh_span_start(tracer, NULL, "s", KH_SPAN_INTERNAL,
                                      NULL);
        kh_trace_id_hex(kh_span_context_of(span), trace_ids[i]);
        kh_span_id_hex(kh_span_context_of(span), span_ids[i]);
        kh_span_end(span);
    }
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            if (!strcmp(trace_ids[i], trace_ids[j]) ||
                !strcmp(span_ids[i], span_ids[j]))
                fail_msg("ids repeat at %d and %d: %s/%s", i, j, trace_ids[i],
                         span_ids[i]);
        }
    }
    kh_tracer_destroy(tracer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zipkin_export_follows_the_v2_model),
        cmocka_unit_test(otlp_export_follows_the_json_mapping),
        cmocka_unit_test(otlp_groups_spans_by_service),
        cmocka_unit_test(multi_hop_flow_is_one_connected_trace),
        cmocka_unit_test(service_over_http_nests_event_span_under_request),
        cmocka_unit_test(collector_down_costs_spans_not_the_pipeline),
        cmocka_unit_test(slow_collector_never_blocks_span_end_or_shutdown),
        cmocka_unit_test(full_queue_drops_and_counts),
        cmocka_unit_test(refused_batches_count_as_failures),
        cmocka_unit_test(unsampled_traces_propagate_but_are_not_exported),
        cmocka_unit_test(no_exporter_and_null_tracer_cost_nothing),
        cmocka_unit_test(tags_are_bounded),
        cmocka_unit_test(ids_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
