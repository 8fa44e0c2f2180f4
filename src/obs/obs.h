/* obs.h - observability for the services and the CLI in one-line calls: one
 * process-wide tracer, metrics registry (with khappy's metric set) and log
 * configuration, set up from flags and the environment.
 *
 *   kh_obs_options obs = {.service_name = "khappy"};
 *   ... for each argv[i]: kh_obs_parse_flag(&obs, argc, argv, &i, &err) ...
 *   kh_obs_init(&obs, &err);            // before starting servers
 *   http handler: kh_obs_http_handler with a kh_obs_http_wrapper
 *   broker:       opts.on_record = kh_obs_broker_on_record;
 *                 kh_obs_watch_broker(broker);   (NULL before stopping it)
 *   per event:    kh_span *span = kh_obs_event_span(svc, in);
 *                 kh_obs_inject_event(&out_event, span);
 *                 kh_span_end(span);
 *   kh_obs_shutdown();                  // after servers stopped: flushes
 *
 * Every call is safe before kh_obs_init and after kh_obs_shutdown (it does
 * nothing, spans are NULL); tests and tools that never init pay nothing.
 * kh_obs_init and kh_obs_shutdown themselves are not thread-safe: call them
 * from main, with no server running.
 */
#ifndef KH_OBS_OBS_H
#define KH_OBS_OBS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "events/broker.h"
#include "events/cloudevent.h"
#include "net/http.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/trace.h"

typedef struct kh_obs_options {
    /* Default service of spans and log lines; OTEL_SERVICE_NAME overrides
     * it. NULL: "khappy". */
    const char *service_name;
    /* --zipkin URL: Zipkin base URL. NULL: $KHAPPY_ZIPKIN_URL. */
    const char *zipkin_url;
    /* --otlp-endpoint URL: OTLP/HTTP base URL (spans go to {url}/v1/traces).
     * NULL: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else
     * $OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces". */
    const char *otlp_endpoint;
    /* --log-format text|json. NULL: $KHAPPY_LOG_FORMAT, else text. */
    const char *log_format;
    /* --log-level debug|info|warn|error|off. NULL: $KHAPPY_LOG_LEVEL, else
     * info. */
    const char *log_level;
    /* khappy_build_info's version label. NULL: this build's. */
    const char *version;
    /* Export tuning; zeros: kh_tracer_options' defaults. */
    size_t trace_queue_capacity;
    long trace_export_timeout_ms;
    long trace_shutdown_timeout_ms;
    long trace_flush_interval_ms;
} kh_obs_options;

/* The flags above, for usage texts (several lines, each ending in \n). */
extern const char kh_obs_usage[];

/* If argv[*i] is one of --zipkin, --otlp-endpoint, --log-format,
 * --log-level (as "--flag VALUE" or "--flag=VALUE"), stores the value
 * (pointing into argv) in opts, leaves *i on the last argument it used (the
 * value, or the flag itself in the "=" form: a for loop's i++ moves on) and
 * returns 1; returns 0 for any other argument; KH_EINVAL when the value is
 * missing. In a `for (int i = 1; i < argc; i++)` loop:
 *   int used = kh_obs_parse_flag(&obs, argc, argv, &i, &err);
 *   if (used < 0) { report err.message; fail }
 *   if (used) continue; */
int kh_obs_parse_flag(kh_obs_options *opts, int argc, char **argv, int *i,
                      kh_error *err);

/* Resolves flags and environment into tracer options (for kh_obs_init and
 * for tests). URLs and the service name point into opts, the environment or
 * `buffer` (which must outlive the result). OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none turn export off. */
int kh_obs_tracer_options(const kh_obs_options *opts, kh_tracer_options *out,
                          char *buffer, size_t buffer_size, kh_error *err);

/* Creates the process-wide tracer and registry, registers khappy's metric
 * set, configures logs. KH_ESTATE if already initialised; KH_EINVAL for a
 * bad URL, format or level (nothing is set up then). */
int kh_obs_init(const kh_obs_options *opts, kh_error *err);
/* Flushes spans (bounded by the shutdown timeout), frees everything. Call
 * after the servers using it have stopped. No-op when not initialised. */
void kh_obs_shutdown(void);

/* The process-wide objects; NULL when not initialised. */
kh_tracer *kh_obs_tracer(void);
kh_metrics *kh_obs_metrics(void);
/* khappy's metrics; a set of NULLs when not initialised (updates on them
 * are no-ops). */
const kh_std_metrics *kh_obs_std(void);

/* ---- Spans around events ---- */

/* A CONSUMER span named "<service> <event type>" (or name when given, see
 * kh_obs_event_span_named), child of the event's traceparent (a new trace
 * when it has none; a child of this thread's current span, e.g. the HTTP
 * wrapper's request span, when that is in the same trace or the event has
 * no context), tagged with the event's id, type, source and picture id
 * (cloudevents.event_id, cloudevents.event_type, cloudevents.event_source,
 * khappy.picture_id). End it with kh_span_end. NULL before kh_obs_init. */
kh_span *kh_obs_event_span(const char *service, const kh_cloudevent *ev);
kh_span *kh_obs_event_span_named(const char *service, const char *name,
                                 kh_span_kind kind, const kh_cloudevent *ev);
/* A child of parent (NULL parent: of this thread's current span, else a new
 * trace), e.g. kh_obs_child_span(span, "inference tinyface"). Service: the
 * parent's. */
kh_span *kh_obs_child_span(const kh_span *parent, const char *name);
/* Sets ev's traceparent/tracestate from span (NULL: this thread's current
 * span). With no span at all, an existing traceparent on ev is kept and one
 * is started when it has none, so events always carry a trace context. */
int kh_obs_inject_event(kh_cloudevent *ev, const kh_span *span,
                        kh_error *err);

/* ---- Metric one-liners (no-ops before init; NULL strings count as "") ---- */

void kh_obs_event_received(const kh_cloudevent *ev, const char *trigger);
/* Counts a broker record into events_{delivered,retried,dead_lettered,
 * dropped}_total. */
void kh_obs_broker_record(const kh_broker_record *record);
/* A kh_broker_options.on_record: kh_obs_broker_record plus one log line
 * (debug for deliveries, warn for retries, error for dead letters/drops). */
void kh_obs_broker_on_record(void *user, const kh_broker_record *record);
/* Keeps khappy_queue_depth{queue="broker"} equal to the broker's pending
 * deliveries at every scrape. kh_obs_watch_broker(NULL) before
 * kh_broker_stop. */
void kh_obs_watch_broker(kh_broker *broker);
void kh_obs_faces_detected(const char *detector, size_t count);
void kh_obs_inference(const char *model, double seconds);
/* A picture finished: done (failed false) or failed, `seconds` after it was
 * received (negative: unknown, only the count moves). */
void kh_obs_picture_finished(bool failed, double seconds);
void kh_obs_queue_depth(const char *queue, double depth);
void kh_obs_http_request(const char *route, const char *method, int status,
                         double seconds);

/* Seconds since an earlier obs_clock reading (monotonic), for the
 * durations above: double t0 = kh_obs_clock(); ...; kh_obs_clock() - t0. */
double kh_obs_clock(void);

/* ---- HTTP servers ---- */

/* Writes the metrics label for a request's route into buf: "unmatched" for
 * a 404, else the path with segments that hold a digit or are long (ids)
 * replaced by ":id", at most 4 segments and cap - 1 characters. */
void kh_obs_default_route(const kh_http_request *req, int status, char *buf,
                          size_t cap);

typedef void (*kh_obs_route_fn)(const kh_http_request *req, int status,
                                char *buf, size_t cap);

/* Wraps a kh_http_handler. Use it as the server's handler with the wrapper
 * as user (it must outlive the server):
 *   static kh_obs_http_wrapper wrap = {.handler = route, .user = &app,
 *                                      .service = "khappy",
 *                                      .serve_metrics = true};
 *   kh_http_server_start(&opts, kh_obs_http_handler, &wrap, &srv, &err);
 * For each request: GET /metrics is answered from the registry when
 * serve_metrics; otherwise a SERVER span "<METHOD> <route>" is started as a
 * child of the request's traceparent/b3 headers, made this thread's current
 * span while the inner handler runs (so kh_obs_inject_event(ev, NULL) in the
 * handler links the events it creates), tagged with method, route, status;
 * khappy_http_requests_total and the duration histogram are updated; and the
 * response gets a `traceresponse` header (the trace id, so a client can find
 * its request in Zipkin/Jaeger). */
typedef struct kh_obs_http_wrapper {
    kh_http_handler handler;
    void *user;
    const char *service;     /* NULL: the default service */
    kh_obs_route_fn route;   /* NULL: kh_obs_default_route */
    bool serve_metrics;      /* answer GET /metrics itself */
} kh_obs_http_wrapper;

void kh_obs_http_handler(void *wrapper, const kh_http_request *req,
                         kh_http_response *res);

#endif
