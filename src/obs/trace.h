/* trace.h - distributed tracing: W3C Trace Context (and B3 on ingress),
 * spans, and their export to a Zipkin v2 or OTLP/HTTP JSON collector.
 *
 * Propagation. A span context (trace id, span id, sampled flag, tracestate)
 * travels in HTTP headers (`traceparent`, `tracestate`; B3 accepted on
 * ingress) and in CloudEvents as the distributed-tracing extension (event
 * attributes `traceparent` and `tracestate`). Every parser here takes
 * outside input and validates it fully; an invalid header is treated as
 * absent (a new trace starts), as the W3C recommendation asks.
 *
 * Spans. kh_span_start makes a span (new trace or child of a parent
 * context), kh_span_tag adds string attributes, kh_span_end records its end
 * and hands it to the tracer's export queue. Ending never waits for the
 * network: a background thread drains the bounded queue in batches and POSTs
 * them with short timeouts; when the queue is full the span is dropped and
 * counted. A collector that is down or slow costs nothing on the request path.
 *
 * Threads. A tracer is used from any number of threads. One span belongs to
 * one thread at a time (start, tag and end it on one thread, or hand it
 * over with your own synchronisation).
 */
#ifndef KH_OBS_TRACE_H
#define KH_OBS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "events/cloudevent.h"
#include "net/http.h"

#define KH_TRACE_ID_BYTES 16
#define KH_SPAN_ID_BYTES 8
#define KH_TRACE_ID_HEX_SIZE 33   /* 32 hex digits + NUL */
#define KH_SPAN_ID_HEX_SIZE 17    /* 16 hex digits + NUL */
#define KH_TRACEPARENT_SIZE 56    /* "00-<32>-<16>-<2>" + NUL */
/* Longest tracestate kept (the recommendation asks to propagate at least
 * 512 characters); longer ones are cut by whole list-members. */
#define KH_TRACESTATE_MAX 512
#define KH_TRACESTATE_MAX_MEMBERS 32

#define KH_TRACE_FLAG_SAMPLED 0x01

/* What is propagated. Plain data: copy it freely. */
typedef struct kh_span_context {
    uint8_t trace_id[KH_TRACE_ID_BYTES];
    uint8_t span_id[KH_SPAN_ID_BYTES];
    uint8_t flags;                          /* KH_TRACE_FLAG_SAMPLED or 0 */
    char tracestate[KH_TRACESTATE_MAX + 1]; /* normalised; "" when none */
} kh_span_context;

/* True when both ids are non-zero (an all-zero id is invalid). */
bool kh_span_context_valid(const kh_span_context *ctx);
/* Lower-case hex of the trace id / span id. */
void kh_trace_id_hex(const kh_span_context *ctx,
                     char out[KH_TRACE_ID_HEX_SIZE]);
void kh_span_id_hex(const kh_span_context *ctx, char out[KH_SPAN_ID_HEX_SIZE]);

/* ---- W3C Trace Context ---- */

/* Parses a traceparent value: version 00 is exactly
 * "00-<32 hex>-<16 hex>-<2 hex>", lower-case hex, ids not all zero; a later
 * version (not "ff") is read by its first four fields, as the recommendation
 * asks. Leading/trailing spaces and tabs are ignored. On success out's ids
 * and flags are set and its tracestate cleared. KH_EFORMAT naming the field
 * otherwise (out untouched). */
int kh_traceparent_parse(const char *value, kh_span_context *out,
                         kh_error *err);
/* "00-<trace id>-<span id>-<flags>"; only the sampled flag is sent. */
void kh_traceparent_format(const kh_span_context *ctx,
                           char out[KH_TRACEPARENT_SIZE]);

/* Validates a tracestate value (list-members "key=value" separated by
 * commas with optional spaces/tabs; empty members allowed; at most 32
 * members; keys simple or "tenant@system" per the recommendation; values 1..
 * 256 printable ASCII characters without ',' and '=' and not ending in a
 * space; no duplicate keys) and writes it normalised (members joined by ",",
 * empty ones dropped, cut by whole members to fit KH_TRACESTATE_MAX: members
 * over 128 characters first, then from the end) into out (capacity
 * KH_TRACESTATE_MAX + 1). KH_EFORMAT naming the member otherwise (out ""). */
int kh_tracestate_parse(const char *value, char out[KH_TRACESTATE_MAX + 1],
                        kh_error *err);

/* ---- B3 (Zipkin), accepted on ingress ---- */

/* The single `b3` header: "{trace}-{span}[-{sampling}[-{parent}]]" with a
 * 16 or 32 hex digit trace id (64-bit ids are left-padded with zeros),
 * sampling "1", "0" or "d" (debug: sampled). The sampling-only forms ("0",
 * "1", "d") carry no ids and are refused (KH_ENOTFOUND). Hex digits of
 * either case are accepted (written lower-case). KH_EFORMAT otherwise. */
int kh_b3_parse_single(const char *value, kh_span_context *out,
                       kh_error *err);
/* The multi-header form: X-B3-TraceId, X-B3-SpanId (both required),
 * X-B3-Sampled ("1"/"0", also "true"/"false"), X-B3-Flags "1" (debug:
 * sampled), X-B3-ParentSpanId (validated; our parent is their span). Absent
 * sampling means sampled (we decide). NULL arguments are absent headers. */
int kh_b3_parse_multi(const char *trace_id, const char *span_id,
                      const char *sampled, const char *flags,
                      const char *parent_span_id, kh_span_context *out,
                      kh_error *err);

/* ---- Carriers ---- */

/* Context of an incoming HTTP request: `traceparent` (+ `tracestate`;
 * several tracestate headers are joined; several traceparent headers make it
 * invalid), else `b3`, else the X-B3-* headers, else `ce-traceparent` (+
 * `ce-tracestate`: a binary-mode CloudEvent's tracing extension). False when
 * none is present and valid (start a new trace then). An invalid tracestate is dropped and the
 * traceparent kept. */
bool kh_trace_extract_http(const kh_http_header *headers, size_t n_headers,
                           kh_span_context *out);

/* Headers to send a context along with an HTTP request. Fill with
 * kh_trace_inject_http and pass `headers`/`n_headers` to
 * kh_http_client_request or kh_ce_send's extra headers (they point into
 * this struct: keep it alive during the call). */
typedef struct kh_trace_headers {
    kh_http_header headers[2];
    size_t n_headers;
    char traceparent[KH_TRACEPARENT_SIZE];
    char tracestate[KH_TRACESTATE_MAX + 1];
} kh_trace_headers;
/* ctx NULL or invalid: no headers. */
void kh_trace_inject_http(const kh_span_context *ctx, kh_trace_headers *out);

/* CloudEvents distributed-tracing extension. Reads the `traceparent` (and
 * `tracestate`) attributes of ev; false when absent or invalid. */
bool kh_trace_extract_event(const kh_cloudevent *ev, kh_span_context *out);
/* Sets ev's `traceparent` and `tracestate` (removed when ctx has none) from
 * ctx. ctx NULL or invalid: nothing changes, KH_OK. Errors are
 * kh_cloudevent_set's. */
int kh_trace_inject_event(kh_cloudevent *ev, const kh_span_context *ctx,
                          kh_error *err);

/* ---- Spans and the tracer ---- */

/* Numbered as OTLP's SpanKind (1..5); Zipkin omits kind for INTERNAL. */
typedef enum kh_span_kind {
    KH_SPAN_INTERNAL = 1,
    KH_SPAN_SERVER = 2,
    KH_SPAN_CLIENT = 3,
    KH_SPAN_PRODUCER = 4,
    KH_SPAN_CONSUMER = 5,
} kh_span_kind;

/* "INTERNAL", "SERVER", ... (NULL for an unknown value). */
const char *kh_span_kind_name(kh_span_kind kind);

typedef enum kh_trace_exporter {
    KH_TRACE_EXPORT_NONE = 0,  /* spans propagate, nothing is sent */
    KH_TRACE_EXPORT_ZIPKIN,    /* POST {url}/api/v2/spans, Zipkin v2 JSON */
    KH_TRACE_EXPORT_OTLP,      /* POST {url}, OTLP/HTTP JSON */
} kh_trace_exporter;

typedef struct kh_tracer_options {
    /* service.name / localEndpoint.serviceName of spans started without one;
     * NULL: "khappy". */
    const char *service_name;
    /* Zipkin base URL ("http://localhost:9411"): spans go to
     * {zipkin_url}/api/v2/spans. NULL: no Zipkin export. */
    const char *zipkin_url;
    /* OTLP/HTTP traces URL, used as is ("http://localhost:4318/v1/traces").
     * NULL: no OTLP export. Both may be set: every batch goes to both. */
    const char *otlp_traces_url;
    size_t queue_capacity;     /* ended spans waiting; 0: 8192 */
    size_t batch_size;         /* spans per POST; 0: 512 */
    long flush_interval_ms;    /* a partial batch waits at most; 0: 500 */
    long export_timeout_ms;    /* per POST; 0: 2000 */
    long shutdown_timeout_ms;  /* kh_tracer_destroy's flush deadline; 0: 3000 */
} kh_tracer_options;

typedef struct kh_tracer_stats {
    uint64_t spans_started;
    uint64_t spans_ended;
    uint64_t spans_not_sampled;   /* ended, not exported by decision */
    uint64_t spans_exported;      /* accepted by a collector (2xx) */
    uint64_t spans_dropped_queue; /* queue full at kh_span_end */
    uint64_t spans_dropped_export;/* a batch the collector refused or missed */
    uint64_t export_batches;      /* POSTs attempted (per exporter) */
    uint64_t export_failures;     /* of those, network errors or non-2xx */
    size_t queued;                /* waiting now */
} kh_tracer_stats;

typedef struct kh_tracer kh_tracer;

/* Starts the export thread when an exporter is configured. Options are
 * copied. KH_EINVAL for an URL that is not http(s). */
int kh_tracer_create(const kh_tracer_options *opts, kh_tracer **out,
                     kh_error *err);
/* Waits until every span ended so far has been handed to the collector (or
 * dropped), at most timeout_ms: KH_ETIMEOUT otherwise. KH_OK at once without
 * an exporter. */
int kh_tracer_flush(kh_tracer *tracer, long timeout_ms, kh_error *err);
void kh_tracer_get_stats(kh_tracer *tracer, kh_tracer_stats *stats);
/* Exports what is queued until shutdown_timeout_ms has passed, drops the
 * rest, stops the thread and frees. Returns by the deadline even while a
 * POST hangs on a slow collector: the export thread then finishes that POST
 * on its own and frees the tracer. NULL is a no-op. No span of this tracer
 * may be ended afterwards. */
void kh_tracer_destroy(kh_tracer *tracer);

typedef struct kh_span kh_span;

/* Starts a span now. service NULL: the tracer's. parent NULL or invalid:
 * a new trace, sampled. A child shares its parent's trace id, flags and
 * tracestate. Returns NULL when tracer is NULL or memory is short; every span
 * function accepts NULL and does nothing, so callers need no checks. The span
 * is owned by the caller until kh_span_end. name and service are copied
 * (cut at 127 characters). */
kh_span *kh_span_start(kh_tracer *tracer, const char *service,
                       const char *name, kh_span_kind kind,
                       const kh_span_context *parent);
/* Adds a string attribute (copied; key cut at 63 and value at 255
 * characters). A span holds up to 24 attributes and 2 KiB of text; more are
 * dropped. A repeated key adds another attribute (the exporters keep the
 * last). Spans that will not be exported (no exporter, trace not sampled)
 * skip the work. */
void kh_span_tag(kh_span *span, const char *key, const char *value);
void kh_span_tagf(kh_span *span, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Marks the span failed: Zipkin tag "error" (the message), OTLP status
 * code ERROR with the message. */
void kh_span_set_error(kh_span *span, const char *message);
/* The context to propagate (this span as the parent). NULL for NULL; valid
 * until kh_span_end. */
const kh_span_context *kh_span_context_of(const kh_span *span);
/* Records the end time and queues the span for export (or drops it when the
 * queue is full or it is not sampled). The span is freed: do not use it
 * afterwards. */
void kh_span_end(kh_span *span);

/* The span the calling thread works under (set by the HTTP wrapper in obs.h
 * around a handler, or by you): lets code deep in a call chain propagate
 * without passing the span through. NULL when none. */
kh_span *kh_span_current(void);
/* Makes span the current one of this thread; returns the previous one
 * (restore it when done). */
kh_span *kh_span_set_current(kh_span *span);

#endif
