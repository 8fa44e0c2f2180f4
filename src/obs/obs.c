/* obs.c - the process-wide observability set-up (see obs.h). */
#include "obs/obs.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "obs/obs_text.h"

const char kh_obs_usage[] =
    "  --zipkin URL           export traces to Zipkin (e.g.\n"
    "                         http://localhost:9411); also KHAPPY_ZIPKIN_URL\n"
    "  --otlp-endpoint URL    export traces as OTLP/HTTP JSON to\n"
    "                         URL/v1/traces (Jaeger, OpenTelemetry Collector);\n"
    "                         also OTEL_EXPORTER_OTLP_ENDPOINT,\n"
    "                         OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\n"
    "  --log-format text|json log lines on stderr (default text); also\n"
    "                         KHAPPY_LOG_FORMAT\n"
    "  --log-level LEVEL      debug, info (default), warn, error or off;\n"
    "                         also KHAPPY_LOG_LEVEL\n";

static kh_tracer *global_tracer;
static kh_metrics *global_metrics;
static kh_std_metrics global_std; /* all NULL until init */

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static kh_broker *watched_broker;

/* ---- flags and environment ---- */

int kh_obs_parse_flag(kh_obs_options *opts, int argc, char **argv, int *i,
                      kh_error *err) {
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        {"--zipkin", offsetof(kh_obs_options, zipkin_url)},
        {"--otlp-endpoint", offsetof(kh_obs_options, otlp_endpoint)},
        {"--log-format", offsetof(kh_obs_options, log_format)},
        {"--log-level", offsetof(kh_obs_options, log_level)},
    };
    if (!opts || !argv || !i || *i < 0 || *i >= argc || !argv[*i])
        return 0;
    const char *arg = argv[*i];
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
        size_t len = strlen(flags[f].flag);
        if (strncmp(arg, flags[f].flag, len) != 0)
            continue;
        const char *value;
        if (arg[len] == '=') {
            value = arg + len + 1;
        } else if (arg[len] == '\0') {
            if (*i + 1 >= argc || !argv[*i + 1])
                return kh_error_set(err, KH_EINVAL, "%s needs a value",
                                    flags[f].flag);
            value = argv[++*i];
        } else {
            continue;
        }
        *(const char **)((char *)opts + flags[f].offset) = value;
        return 1;
    }
    return 0;
}

static const char *env_value(const char *name) {
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

int kh_obs_tracer_options(const kh_obs_options *opts, kh_tracer_options *out,
                          char *buffer, size_t buffer_size, kh_error *err) {
    kh_obs_options none = {0};
    if (!opts)
        opts = &none;
    memset(out, 0, sizeof *out);
    out->service_name = env_value("OTEL_SERVICE_NAME");
    if (!out->service_name)
        out->service_name = opts->service_name;
    out->queue_capacity = opts->trace_queue_capacity;
    out->export_timeout_ms = opts->trace_export_timeout_ms;
    out->shutdown_timeout_ms = opts->trace_shutdown_timeout_ms;
    out->flush_interval_ms = opts->trace_flush_interval_ms;

    const char *disabled = env_value("OTEL_SDK_DISABLED");
    const char *exporter = env_value("OTEL_TRACES_EXPORTER");
    bool export_off = (disabled && strcasecmp(disabled, "true") == 0) ||
                      (exporter && strcasecmp(exporter, "none") == 0);
    /* Flags first; the environment only fills what flags left out. */
    out->zipkin_url = opts->zipkin_url ? opts->zipkin_url
                                       : env_value("KHAPPY_ZIPKIN_URL");
    const char *base = opts->otlp_endpoint;
    const char *full = base ? NULL
                            : env_value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if (!base && !full)
        base = env_value("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (full) {
        out->otlp_traces_url = full;
    } else if (base) {
        size_t len = strlen(base);
        while (len > 0 && base[len - 1] == '/')
            len--;
        bool named = len >= 10 && memcmp(base + len - 10, "/v1/traces", 10) == 0;
        int n = snprintf(buffer, buffer_size, "%.*s%s", (int)len, base,
                         named ? "" : "/v1/traces");
        if (n < 0 || (size_t)n >= buffer_size)
            return kh_error_set(err, KH_ELIMIT,
                                "OTLP endpoint '%s' is too long", base);
        out->otlp_traces_url = buffer;
    }
    if (export_off) {
        out->zipkin_url = NULL;
        out->otlp_traces_url = NULL;
    }
    return KH_OK;
}

/* ---- init / shutdown ---- */

static void collect_tracer_stats(void *user, kh_metrics *registry) {
    (void)user;
    (void)registry;
    kh_tracer_stats stats;
    kh_tracer_get_stats(global_tracer, &stats);
    kh_metric_set(global_std.trace_spans_exported, NULL,
                  (double)stats.spans_exported);
    kh_metric_set(global_std.trace_spans_dropped, KH_LABELS("queue_full"),
                  (double)stats.spans_dropped_queue);
    kh_metric_set(global_std.trace_spans_dropped, KH_LABELS("export"),
                  (double)stats.spans_dropped_export);
}

static void collect_broker_depth(void *user, kh_metrics *registry) {
    (void)user;
    (void)registry;
    pthread_mutex_lock(&watch_lock);
    if (watched_broker) {
        kh_broker_stats stats;
        kh_broker_get_stats(watched_broker, &stats);
        kh_metric_set(global_std.queue_depth, KH_LABELS("broker"),
                      (double)stats.pending);
    }
    pthread_mutex_unlock(&watch_lock);
}

int kh_obs_init(const kh_obs_options *opts, kh_error *err) {
    if (global_metrics)
        return kh_error_set(err, KH_ESTATE, "observability: already set up");
    kh_obs_options none = {0};
    if (!opts)
        opts = &none;

    kh_log_format format = KH_LOG_TEXT;
    kh_log_level level = KH_LOG_INFO;
    const char *format_name =
        opts->log_format ? opts->log_format : env_value("KHAPPY_LOG_FORMAT");
    const char *level_name =
        opts->log_level ? opts->log_level : env_value("KHAPPY_LOG_LEVEL");
    if (format_name && kh_log_parse_format(format_name, &format, err) != KH_OK)
        return err ? err->code : KH_EINVAL;
    if (level_name && kh_log_parse_level(level_name, &level, err) != KH_OK)
        return err ? err->code : KH_EINVAL;

    char url_buffer[2048];
    kh_tracer_options tracer_opts;
    int rc = kh_obs_tracer_options(opts, &tracer_opts, url_buffer,
                                   sizeof url_buffer, err);
    if (rc != KH_OK)
        return rc;
    kh_tracer *tracer = NULL;
    kh_metrics *metrics = NULL;
    kh_std_metrics std;
    memset(&std, 0, sizeof std);
    rc = kh_tracer_create(&tracer_opts, &tracer, err);
    if (rc == KH_OK)
        rc = kh_metrics_create(&metrics, err);
    if (rc == KH_OK)
        rc = kh_std_metrics_register(metrics, opts->version, &std, err);
    if (rc == KH_OK)
        rc = kh_metrics_on_collect(metrics, collect_tracer_stats, NULL, err);
    if (rc == KH_OK)
        rc = kh_metrics_on_collect(metrics, collect_broker_depth, NULL, err);
    if (rc != KH_OK) {
        kh_tracer_destroy(tracer);
        kh_metrics_destroy(metrics);
        return rc;
    }
    kh_log_set_format(format);
    kh_log_set_level(level);
    kh_log_set_service(tracer_opts.service_name);
    global_tracer = tracer;
    global_metrics = metrics;
    global_std = std;
    return KH_OK;
}

void kh_obs_shutdown(void) {
    if (!global_metrics)
        return;
    kh_obs_watch_broker(NULL);
    kh_tracer *tracer = global_tracer;
    kh_metrics *metrics = global_metrics;
    global_tracer = NULL;
    global_metrics = NULL;
    memset(&global_std, 0, sizeof global_std);
    kh_tracer_destroy(tracer);
    kh_metrics_destroy(metrics);
}

kh_tracer *kh_obs_tracer(void) {
    return global_tracer;
}

kh_metrics *kh_obs_metrics(void) {
    return global_metrics;
}

const kh_std_metrics *kh_obs_std(void) {
    return &global_std;
}

/* ---- spans around events ---- */

kh_span *kh_obs_event_span_named(const char *service, const char *name,
                                 kh_span_kind kind, const kh_cloudevent *ev) {
    if (!global_tracer)
        return NULL;
    kh_span_context parent;
    bool has_parent = kh_trace_extract_event(ev, &parent);
    /* Inside the HTTP wrapper, the request's SERVER span is current: when it
     * belongs to the event's trace (or the event has none), the event span
     * nests under it instead of beside it. */
    const kh_span_context *current = kh_span_context_of(kh_span_current());
    if (current && (!has_parent || memcmp(current->trace_id, parent.trace_id,
                                          KH_TRACE_ID_BYTES) == 0)) {
        parent = *current;
        has_parent = true;
    }
    char default_name[160];
    if (!name) {
        snprintf(default_name, sizeof default_name, "%s %s",
                 service ? service : "khappy",
                 ev && ev->type ? ev->type : "event");
        name = default_name;
    }
    kh_span *span = kh_span_start(global_tracer, service, name, kind,
                                  has_parent ? &parent : NULL);
    if (ev) {
        if (ev->id)
            kh_span_tag(span, "cloudevents.event_id", ev->id);
        if (ev->type)
            kh_span_tag(span, "cloudevents.event_type", ev->type);
        if (ev->source)
            kh_span_tag(span, "cloudevents.event_source", ev->source);
        const char *picture = kh_cloudevent_get(ev, "pictureid");
        if (picture)
            kh_span_tag(span, "khappy.picture_id", picture);
    }
    return span;
}

kh_span *kh_obs_event_span(const char *service, const kh_cloudevent *ev) {
    return kh_obs_event_span_named(service, NULL, KH_SPAN_CONSUMER, ev);
}

kh_span *kh_obs_child_span(const kh_span *parent, const char *name) {
    if (!parent)
        parent = kh_span_current();
    return kh_span_start(global_tracer, parent ? obs_span_service(parent) : NULL,
                         name, KH_SPAN_INTERNAL, kh_span_context_of(parent));
}

int kh_obs_inject_event(kh_cloudevent *ev, const kh_span *span,
                        kh_error *err) {
    if (!ev)
        return kh_error_set(err, KH_EINVAL, "inject: no event");
    if (!span)
        span = kh_span_current();
    if (span)
        return kh_trace_inject_event(ev, kh_span_context_of(span), err);
    kh_span_context existing;
    if (kh_trace_extract_event(ev, &existing))
        return KH_OK;
    /* No tracing set up and no context yet: a fresh one, so the events of
     * one picture can still be followed in logs and by a later collector. */
    kh_span_context fresh;
    memset(&fresh, 0, sizeof fresh);
    static const uint8_t zero[KH_TRACE_ID_BYTES];
    do
        obs_random_bytes(fresh.trace_id, KH_TRACE_ID_BYTES);
    while (memcmp(fresh.trace_id, zero, KH_TRACE_ID_BYTES) == 0);
    do
        obs_random_bytes(fresh.span_id, KH_SPAN_ID_BYTES);
    while (memcmp(fresh.span_id, zero, KH_SPAN_ID_BYTES) == 0);
    fresh.flags = KH_TRACE_FLAG_SAMPLED;
    return kh_trace_inject_event(ev, &fresh, err);
}

/* ---- metric one-liners ---- */

static const char *or_empty(const char *s) {
    return s ? s : "";
}

void kh_obs_event_received(const kh_cloudevent *ev, const char *trigger) {
    if (!global_metrics)
        return;
    kh_metric_inc(global_std.events_received,
                  KH_LABELS(or_empty(ev ? ev->type : NULL), or_empty(trigger)));
}

void kh_obs_broker_record(const kh_broker_record *record) {
    if (!global_metrics || !record)
        return;
    kh_metric *m = NULL;
    switch (record->outcome) {
    case KH_BROKER_DELIVERED: m = global_std.events_delivered; break;
    case KH_BROKER_RETRY: m = global_std.events_retried; break;
    case KH_BROKER_DEAD_LETTERED: m = global_std.events_dead_lettered; break;
    case KH_BROKER_DROPPED: m = global_std.events_dropped; break;
    case KH_BROKER_REPLY_ACCEPTED:
    case KH_BROKER_REPLY_DROPPED: break;
    }
    kh_metric_inc(m, KH_LABELS(or_empty(record->event_type),
                               or_empty(record->trigger)));
}

void kh_obs_broker_on_record(void *user, const kh_broker_record *record) {
    (void)user;
    if (!record)
        return;
    kh_obs_broker_record(record);
    kh_log_level level = KH_LOG_DEBUG;
    if (record->outcome == KH_BROKER_RETRY ||
        record->outcome == KH_BROKER_REPLY_DROPPED)
        level = KH_LOG_WARN;
    else if (record->outcome == KH_BROKER_DEAD_LETTERED ||
             record->outcome == KH_BROKER_DROPPED)
        level = KH_LOG_ERROR;
    if (!kh_log_enabled(level))
        return;
    kh_log_fields fields = {.service = "broker",
                            .event_id = record->event_id};
    kh_log(level, &fields, "%s %s trigger %s -> %s attempt %d status %d%s%s",
           kh_broker_outcome_name(record->outcome),
           or_empty(record->event_type), or_empty(record->trigger),
           or_empty(record->target), record->attempt, record->status,
           record->detail && record->detail[0] ? ": " : "",
           or_empty(record->detail));
}

void kh_obs_watch_broker(kh_broker *broker) {
    pthread_mutex_lock(&watch_lock);
    watched_broker = broker;
    pthread_mutex_unlock(&watch_lock);
}

void kh_obs_faces_detected(const char *detector, size_t count) {
    kh_metric_add(global_std.faces_detected, KH_LABELS(or_empty(detector)),
                  (double)count);
}

void kh_obs_inference(const char *model, double seconds) {
    kh_metric_observe(global_std.inference_duration,
                      KH_LABELS(or_empty(model)), seconds);
}

void kh_obs_picture_finished(bool failed, double seconds) {
    kh_metric_inc(global_std.pictures_processed,
                  KH_LABELS(failed ? "failed" : "done"));
    if (seconds >= 0)
        kh_metric_observe(global_std.pipeline_latency, NULL, seconds);
}

void kh_obs_queue_depth(const char *queue, double depth) {
    kh_metric_set(global_std.queue_depth, KH_LABELS(or_empty(queue)), depth);
}

void kh_obs_http_request(const char *route, const char *method, int status,
                         double seconds) {
    if (!global_metrics)
        return;
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%d", status);
    kh_metric_inc(global_std.http_requests,
                  KH_LABELS(or_empty(route), or_empty(method), status_text));
    if (seconds >= 0)
        kh_metric_observe(global_std.http_request_duration,
                          KH_LABELS(or_empty(route)), seconds);
}

double kh_obs_clock(void) {
    return (double)kh_clock_mono_ns() / 1e9;
}

/* ---- HTTP ---- */

#define ROUTE_MAX_SEGMENTS 4
#define ROUTE_ID_LENGTH 24

static bool segment_is_id(const char *segment, size_t len) {
    if (len >= ROUTE_ID_LENGTH)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (isdigit((unsigned char)segment[i]))
            return true;
    }
    return false;
}

void kh_obs_default_route(const kh_http_request *req, int status, char *buf,
                          size_t cap) {
    if (!buf || cap == 0)
        return;
    kh_text route;
    kh_text_init_fixed(&route, buf, cap);
    if (status == 404 || !req || !req->path || req->path[0] != '/') {
        kh_text_puts(&route, status == 404 ? "unmatched" : "other");
        return;
    }
    const char *p = req->path;
    int segments = 0;
    while (*p == '/') {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (segments == ROUTE_MAX_SEGMENTS) {
            kh_text_puts(&route, "/...");
            break;
        }
        kh_text_putc(&route, '/');
        if (segment_is_id(p, len)) {
            kh_text_puts(&route, ":id");
        } else {
            /* Only plain characters: a label must stay readable. */
            for (size_t i = 0; i < len; i++) {
                char c = p[i];
                kh_text_putc(&route, isalnum((unsigned char)c) || c == '-' ||
                                              c == '_' || c == '.'
                                          ? c
                                          : '_');
            }
        }
        segments++;
        p += len;
    }
    if (route.len == 0)
        kh_text_putc(&route, '/');
}

void kh_obs_http_handler(void *wrapper, const kh_http_request *req,
                         kh_http_response *res) {
    kh_obs_http_wrapper *wrap = wrapper;
    if (wrap->serve_metrics && global_metrics &&
        strcmp(req->path, "/metrics") == 0) {
        kh_metrics_http_handler(global_metrics, req, res);
        return;
    }
    int64_t start = kh_clock_mono_ns();
    kh_span_context parent;
    bool has_parent = kh_trace_extract_http(req->headers, req->n_headers,
                                            &parent);
    kh_span *span = kh_span_start(global_tracer, wrap->service, req->method,
                                  KH_SPAN_SERVER, has_parent ? &parent : NULL);
    kh_span *previous = kh_span_set_current(span);
    wrap->handler(wrap->user, req, res);
    kh_span_set_current(previous);

    char route[96];
    (wrap->route ? wrap->route : kh_obs_default_route)(req, res->status, route,
                                                       sizeof route);
    route[sizeof route - 1] = '\0';
    double seconds = (double)(kh_clock_mono_ns() - start) / 1e9;
    kh_obs_http_request(route, req->method, res->status, seconds);
    if (!span)
        return;
    char name[128];
    snprintf(name, sizeof name, "%s %s", req->method, route);
    obs_span_rename(span, name);
    kh_span_tag(span, "http.method", req->method);
    kh_span_tag(span, "http.route", route);
    kh_span_tagf(span, "http.status_code", "%d", res->status);
    if (res->status >= 500)
        kh_span_set_error(span, "server error");
    char traceresponse[KH_TRACEPARENT_SIZE];
    kh_traceparent_format(kh_span_context_of(span), traceresponse);
    kh_http_response_header(res, "traceresponse", traceresponse);
    kh_span_end(span);
}
