/* trace_export.c - spans, the tracer's bounded queue and its export thread
 * (Zipkin v2 JSON, OTLP/HTTP JSON). The request path only appends to the
 * queue; the network is touched by the export thread alone. */
#include "obs/trace.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/hex.h"
#include "obs/obs_text.h"

#ifndef KH_VERSION
#define KH_VERSION "dev"
#endif

#define SPAN_NAME_MAX 128
#define SPAN_MAX_TAGS 24
#define SPAN_TAG_TEXT 2048
#define SPAN_TAG_KEY_MAX 63
#define SPAN_TAG_VALUE_MAX 255
#define SPAN_ERROR_MAX 256

#define DEFAULT_QUEUE_CAPACITY 8192
#define DEFAULT_BATCH_SIZE 512
#define DEFAULT_FLUSH_INTERVAL_MS 500
#define DEFAULT_EXPORT_TIMEOUT_MS 2000
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 3000
/* A POST with less time than this left before the shutdown deadline is not
 * started: its spans are dropped instead. */
#define MIN_EXPORT_TIME_MS 5

struct kh_span {
    kh_tracer *tracer;
    kh_span *next_free; /* in the tracer's pool */
    kh_span_context context;
    uint8_t parent_span_id[KH_SPAN_ID_BYTES];
    bool has_parent;
    kh_span_kind kind;
    int64_t start_unix_ns;
    int64_t start_mono_ns;
    int64_t duration_ns;
    char name[SPAN_NAME_MAX];
    char service[SPAN_NAME_MAX];
    char error_message[SPAN_ERROR_MAX];
    bool failed;
    bool recording; /* sampled and exported: tags are worth keeping */
    uint8_t n_tags;
    uint16_t tag_key[SPAN_MAX_TAGS];   /* offsets into text */
    uint16_t tag_value[SPAN_MAX_TAGS];
    uint16_t text_used;
    char text[SPAN_TAG_TEXT];
};

struct kh_tracer {
    char service_name[SPAN_NAME_MAX];
    char *zipkin_spans_url; /* {zipkin_url}/api/v2/spans */
    char *otlp_traces_url;
    size_t batch_size;
    long flush_interval_ms;
    long export_timeout_ms;
    long shutdown_timeout_ms;

    pthread_mutex_t lock;
    pthread_cond_t wake;  /* the export thread waits on it */
    pthread_cond_t done;  /* flush waiters wait on it */
    kh_span **queue;      /* ring of ended spans */
    size_t capacity;
    size_t head;
    size_t count;
    uint64_t enqueued_total;  /* spans ever queued */
    uint64_t completed_total; /* of those, exported or dropped */
    uint64_t dequeued_total;  /* of those, taken by the export thread */
    uint64_t flush_target;    /* export at once until dequeued reaches it */
    bool stopping;
    int64_t stop_deadline_mono_ns;
    bool has_thread;
    pthread_t thread;
    bool thread_done;  /* the export thread has left its loop */
    bool abandoned;    /* destroy gave up waiting: the thread frees */
    kh_span **batch;  /* the export thread's, batch_size entries */
    /* Exported spans kept for reuse: without it, a burst of spans freed by
     * the export thread lets malloc give the heap back to the system, and
     * the next burst pays a page fault per span. */
    kh_span *pool;
    size_t pool_size;
    size_t pool_max;
    bool *scratch;

    _Atomic uint64_t started;
    _Atomic uint64_t ended;
    _Atomic uint64_t not_sampled;
    _Atomic uint64_t exported;
    _Atomic uint64_t dropped_queue;
    _Atomic uint64_t dropped_export;
    _Atomic uint64_t batches;
    _Atomic uint64_t failures;
};

static _Thread_local kh_span *current_span;

static bool tracer_exports(const kh_tracer *tracer);

static void tracer_release(kh_tracer *tracer);

const char *kh_span_kind_name(kh_span_kind kind) {
    switch (kind) {
    case KH_SPAN_INTERNAL: return "INTERNAL";
    case KH_SPAN_SERVER: return "SERVER";
    case KH_SPAN_CLIENT: return "CLIENT";
    case KH_SPAN_PRODUCER: return "PRODUCER";
    case KH_SPAN_CONSUMER: return "CONSUMER";
    }
    return NULL;
}

static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t len = src ? strlen(src) : 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
}

/* ---- spans ---- */

kh_span *kh_span_start(kh_tracer *tracer, const char *service,
                       const char *name, kh_span_kind kind,
                       const kh_span_context *parent) {
    if (!tracer)
        return NULL;
    kh_span *span = NULL;
    if (tracer->has_thread) {
        pthread_mutex_lock(&tracer->lock);
        span = tracer->pool;
        if (span) {
            tracer->pool = span->next_free;
            tracer->pool_size--;
        }
        pthread_mutex_unlock(&tracer->lock);
    }
    if (!span && !(span = malloc(sizeof *span)))
        return NULL;
    span->tracer = tracer;
    span->kind = kh_span_kind_name(kind) ? kind : KH_SPAN_INTERNAL;
    span->start_unix_ns = kh_clock_wall_ns();
    span->start_mono_ns = kh_clock_mono_ns();
    span->duration_ns = 0;
    span->failed = false;
    span->error_message[0] = '\0';
    span->n_tags = 0;
    span->text_used = 0;
    copy_cut(span->name, sizeof span->name, name ? name : "span");
    copy_cut(span->service, sizeof span->service,
             service && *service ? service : tracer->service_name);
    if (kh_span_context_valid(parent)) {
        memcpy(span->context.trace_id, parent->trace_id, KH_TRACE_ID_BYTES);
        memcpy(span->parent_span_id, parent->span_id, KH_SPAN_ID_BYTES);
        span->has_parent = true;
        span->context.flags = parent->flags & KH_TRACE_FLAG_SAMPLED;
        memcpy(span->context.tracestate, parent->tracestate,
               sizeof span->context.tracestate);
        span->context.tracestate[KH_TRACESTATE_MAX] = '\0';
    } else {
        static const uint8_t zero_trace_id[KH_TRACE_ID_BYTES];
        do
            obs_random_bytes(span->context.trace_id, KH_TRACE_ID_BYTES);
        while (memcmp(span->context.trace_id, zero_trace_id,
                      KH_TRACE_ID_BYTES) == 0);
        span->has_parent = false;
        span->context.flags = KH_TRACE_FLAG_SAMPLED;
        span->context.tracestate[0] = '\0';
    }
    span->recording = (span->context.flags & KH_TRACE_FLAG_SAMPLED) &&
                      tracer_exports(tracer);
    /* An all-zero id is invalid; the chance is 2^-64, the loop is cheap. */
    do
        obs_random_bytes(span->context.span_id, KH_SPAN_ID_BYTES);
    while (!kh_span_context_valid(&span->context));
    atomic_fetch_add_explicit(&tracer->started, 1, memory_order_relaxed);
    return span;
}

/* Copies s (cut at max characters) into the span's text; the offset, or -1
 * when there is no room. */
static int span_text_add(kh_span *span, const char *s, size_t max) {
    size_t len = strlen(s);
    if (len > max)
        len = max;
    if (len + 1 > SPAN_TAG_TEXT - (size_t)span->text_used)
        return -1;
    int offset = span->text_used;
    memcpy(span->text + offset, s, len);
    span->text[offset + len] = '\0';
    span->text_used = (uint16_t)(span->text_used + len + 1);
    return offset;
}

void kh_span_tag(kh_span *span, const char *key, const char *value) {
    if (!span || !span->recording || !key || !*key || !value ||
        span->n_tags == SPAN_MAX_TAGS)
        return;
    uint16_t saved = span->text_used;
    int key_at = span_text_add(span, key, SPAN_TAG_KEY_MAX);
    int value_at = key_at < 0 ? -1
                              : span_text_add(span, value, SPAN_TAG_VALUE_MAX);
    if (value_at < 0) {
        span->text_used = saved;
        return;
    }
    span->tag_key[span->n_tags] = (uint16_t)key_at;
    span->tag_value[span->n_tags] = (uint16_t)value_at;
    span->n_tags++;
}

void kh_span_tagf(kh_span *span, const char *key, const char *fmt, ...) {
    if (!span || !span->recording)
        return;
    char value[SPAN_TAG_VALUE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    kh_span_tag(span, key, value);
}

void kh_span_set_error(kh_span *span, const char *message) {
    if (!span)
        return;
    span->failed = true;
    copy_cut(span->error_message, sizeof span->error_message,
             message && *message ? message : "error");
}

const kh_span_context *kh_span_context_of(const kh_span *span) {
    return span ? &span->context : NULL;
}

kh_span *kh_span_current(void) {
    return current_span;
}

kh_span *kh_span_set_current(kh_span *span) {
    kh_span *previous = current_span;
    current_span = span;
    return previous;
}

static bool tracer_exports(const kh_tracer *tracer) {
    return tracer->zipkin_spans_url || tracer->otlp_traces_url;
}

void kh_span_end(kh_span *span) {
    if (!span)
        return;
    kh_tracer *tracer = span->tracer;
    if (current_span == span)
        current_span = NULL;
    span->duration_ns = kh_clock_mono_ns() - span->start_mono_ns;
    if (span->duration_ns < 0)
        span->duration_ns = 0;
    atomic_fetch_add_explicit(&tracer->ended, 1, memory_order_relaxed);
    if (!(span->context.flags & KH_TRACE_FLAG_SAMPLED) ||
        !tracer_exports(tracer)) {
        atomic_fetch_add_explicit(&tracer->not_sampled, 1,
                                  memory_order_relaxed);
        free(span);
        return;
    }
    pthread_mutex_lock(&tracer->lock);
    if (tracer->count == tracer->capacity || tracer->stopping) {
        pthread_mutex_unlock(&tracer->lock);
        atomic_fetch_add_explicit(&tracer->dropped_queue, 1,
                                  memory_order_relaxed);
        free(span);
        return;
    }
    tracer->queue[(tracer->head + tracer->count) % tracer->capacity] = span;
    tracer->count++;
    tracer->enqueued_total++;
    /* Wake the exporter only for a full batch: below that it wakes on its
     * own timer, and most span ends cost no syscall. */
    if (tracer->count == tracer->batch_size)
        pthread_cond_signal(&tracer->wake);
    pthread_mutex_unlock(&tracer->lock);
}

/* ---- encoders ---- */

static const char *span_tag_key(const kh_span *span, size_t i) {
    return span->text + span->tag_key[i];
}

static const char *span_tag_value(const kh_span *span, size_t i) {
    return span->text + span->tag_value[i];
}

/* The exporters keep the last value of a repeated key. */
static bool tag_repeated_later(const kh_span *span, size_t i) {
    for (size_t j = i + 1; j < span->n_tags; j++) {
        if (strcmp(span_tag_key(span, i), span_tag_key(span, j)) == 0)
            return true;
    }
    return false;
}

static bool span_has_tag(const kh_span *span, const char *key) {
    for (size_t i = 0; i < span->n_tags; i++) {
        if (strcmp(span_tag_key(span, i), key) == 0)
            return true;
    }
    return false;
}

static void zipkin_span(kh_text *out, const kh_span *span) {
    char trace_hex[KH_TRACE_ID_HEX_SIZE], span_hex[KH_SPAN_ID_HEX_SIZE];
    kh_trace_id_hex(&span->context, trace_hex);
    kh_span_id_hex(&span->context, span_hex);
    kh_text_printf(out, "{\"traceId\":\"%s\",\"id\":\"%s\"", trace_hex,
                  span_hex);
    if (span->has_parent) {
        char parent_hex[KH_SPAN_ID_HEX_SIZE];
        kh_hex_encode(span->parent_span_id, KH_SPAN_ID_BYTES, parent_hex);
        kh_text_printf(out, ",\"parentId\":\"%s\"", parent_hex);
    }
    kh_text_puts(out, ",\"name\":");
    obs_text_json_string(out, span->name);
    if (span->kind != KH_SPAN_INTERNAL)
        kh_text_printf(out, ",\"kind\":\"%s\"", kh_span_kind_name(span->kind));
    /* Zipkin wants microseconds, and a duration of at least 1. */
    int64_t duration_us = (span->duration_ns + 500) / 1000;
    kh_text_printf(out, ",\"timestamp\":%lld,\"duration\":%lld",
                  (long long)(span->start_unix_ns / 1000),
                  (long long)(duration_us < 1 ? 1 : duration_us));
    kh_text_puts(out, ",\"localEndpoint\":{\"serviceName\":");
    obs_text_json_string(out, span->service);
    kh_text_putc(out, '}');
    bool error_tag = span->failed && !span_has_tag(span, "error");
    if (span->n_tags > 0 || error_tag) {
        kh_text_puts(out, ",\"tags\":{");
        bool first = true;
        for (size_t i = 0; i < span->n_tags; i++) {
            if (tag_repeated_later(span, i))
                continue;
            if (!first)
                kh_text_putc(out, ',');
            first = false;
            obs_text_json_string(out, span_tag_key(span, i));
            kh_text_putc(out, ':');
            obs_text_json_string(out, span_tag_value(span, i));
        }
        if (error_tag) {
            if (!first)
                kh_text_putc(out, ',');
            kh_text_puts(out, "\"error\":");
            obs_text_json_string(out, span->error_message);
        }
        kh_text_putc(out, '}');
    }
    kh_text_putc(out, '}');
}

static void zipkin_encode(kh_text *out, kh_span *const *spans, size_t n) {
    kh_text_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            kh_text_putc(out, ',');
        zipkin_span(out, spans[i]);
    }
    kh_text_putc(out, ']');
}

static void otlp_string_attribute(kh_text *out, const char *key,
                                  const char *value) {
    kh_text_puts(out, "{\"key\":");
    obs_text_json_string(out, key);
    kh_text_puts(out, ",\"value\":{\"stringValue\":");
    obs_text_json_string(out, value);
    kh_text_puts(out, "}}");
}

static void otlp_span(kh_text *out, const kh_span *span) {
    char trace_hex[KH_TRACE_ID_HEX_SIZE], span_hex[KH_SPAN_ID_HEX_SIZE];
    kh_trace_id_hex(&span->context, trace_hex);
    kh_span_id_hex(&span->context, span_hex);
    kh_text_printf(out, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", trace_hex,
                  span_hex);
    if (span->has_parent) {
        char parent_hex[KH_SPAN_ID_HEX_SIZE];
        kh_hex_encode(span->parent_span_id, KH_SPAN_ID_BYTES, parent_hex);
        kh_text_printf(out, ",\"parentSpanId\":\"%s\"", parent_hex);
    }
    if (span->context.tracestate[0]) {
        kh_text_puts(out, ",\"traceState\":");
        obs_text_json_string(out, span->context.tracestate);
    }
    kh_text_puts(out, ",\"name\":");
    obs_text_json_string(out, span->name);
    /* 64-bit integers are strings in OTLP/JSON. */
    kh_text_printf(out,
                  ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\","
                  "\"endTimeUnixNano\":\"%lld\"",
                  (int)span->kind, (long long)span->start_unix_ns,
                  (long long)(span->start_unix_ns + span->duration_ns));
    if (span->n_tags > 0) {
        kh_text_puts(out, ",\"attributes\":[");
        bool first = true;
        for (size_t i = 0; i < span->n_tags; i++) {
            if (tag_repeated_later(span, i))
                continue;
            if (!first)
                kh_text_putc(out, ',');
            first = false;
            otlp_string_attribute(out, span_tag_key(span, i),
                                  span_tag_value(span, i));
        }
        kh_text_putc(out, ']');
    }
    if (span->failed) {
        /* STATUS_CODE_ERROR = 2 */
        kh_text_puts(out, ",\"status\":{\"code\":2,\"message\":");
        obs_text_json_string(out, span->error_message);
        kh_text_putc(out, '}');
    }
    kh_text_putc(out, '}');
}

/* One resourceSpans entry per service, so service.name stays a resource
 * attribute even when several services share a process. */
static void otlp_encode(kh_text *out, kh_span *const *spans, size_t n,
                        bool *written) {
    kh_text_puts(out, "{\"resourceSpans\":[");
    for (size_t i = 0; i < n; i++)
        written[i] = false;
    bool first_resource = true;
    for (size_t i = 0; i < n; i++) {
        if (written[i])
            continue;
        const char *service = spans[i]->service;
        if (!first_resource)
            kh_text_putc(out, ',');
        first_resource = false;
        kh_text_puts(out, "{\"resource\":{\"attributes\":[");
        otlp_string_attribute(out, "service.name", service);
        kh_text_puts(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":"
                           "\"khappy\",\"version\":");
        obs_text_json_string(out, KH_VERSION);
        kh_text_puts(out, "},\"spans\":[");
        bool first_span = true;
        for (size_t j = i; j < n; j++) {
            if (written[j] || strcmp(spans[j]->service, service) != 0)
                continue;
            if (!first_span)
                kh_text_putc(out, ',');
            first_span = false;
            otlp_span(out, spans[j]);
            written[j] = true;
        }
        kh_text_puts(out, "]}]}");
    }
    kh_text_puts(out, "]}");
}

/* ---- export thread ---- */

static int64_t remaining_ms(int64_t deadline_mono_ns) {
    return (deadline_mono_ns - kh_clock_mono_ns()) / 1000000;
}

static void post_batch(kh_tracer *tracer, const char *url, kh_text *body,
                       size_t n_spans, long timeout_ms) {
    atomic_fetch_add_explicit(&tracer->batches, 1, memory_order_relaxed);
    if (body->failed) {
        atomic_fetch_add_explicit(&tracer->failures, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&tracer->dropped_export, n_spans,
                                  memory_order_relaxed);
        return;
    }
    kh_http_header headers[] = {
        {(char *)"Content-Type", (char *)"application/json"}};
    kh_http_client_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .n_headers = 1,
        .body = body->data,
        .body_len = body->len,
        .timeout_ms = timeout_ms,
        .max_response_bytes = 64 * 1024,
    };
    kh_http_response res;
    int rc = kh_http_client_do(&req, &res, NULL);
    bool accepted = rc == KH_OK && res.status >= 200 && res.status < 300;
    if (rc == KH_OK)
        kh_http_response_free(&res);
    if (accepted) {
        atomic_fetch_add_explicit(&tracer->exported, n_spans,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&tracer->failures, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&tracer->dropped_export, n_spans,
                                  memory_order_relaxed);
    }
}

static void export_batch(kh_tracer *tracer, kh_span *const *spans, size_t n,
                         bool *scratch, bool stopping, int64_t deadline) {
    long timeout_ms = tracer->export_timeout_ms;
    if (stopping) {
        int64_t left = remaining_ms(deadline);
        if (left < MIN_EXPORT_TIME_MS) {
            atomic_fetch_add_explicit(&tracer->dropped_export,
                                      n * ((tracer->zipkin_spans_url != NULL) +
                                           (tracer->otlp_traces_url != NULL)),
                                      memory_order_relaxed);
            return;
        }
        if (left < timeout_ms)
            timeout_ms = (long)left;
    }
    if (tracer->zipkin_spans_url) {
        kh_text body;
        kh_text_init(&body);
        zipkin_encode(&body, spans, n);
        post_batch(tracer, tracer->zipkin_spans_url, &body, n, timeout_ms);
        kh_text_free(&body);
    }
    if (tracer->otlp_traces_url) {
        if (stopping) {
            int64_t left = remaining_ms(deadline);
            if (left < MIN_EXPORT_TIME_MS) {
                atomic_fetch_add_explicit(&tracer->dropped_export, n,
                                          memory_order_relaxed);
                return;
            }
            if (left < timeout_ms)
                timeout_ms = (long)left;
        }
        kh_text body;
        kh_text_init(&body);
        otlp_encode(&body, spans, n, scratch);
        post_batch(tracer, tracer->otlp_traces_url, &body, n, timeout_ms);
        kh_text_free(&body);
    }
}

static void deadline_in(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *export_thread(void *arg) {
    kh_tracer *tracer = arg;
    kh_span **batch = tracer->batch;
    pthread_mutex_lock(&tracer->lock);
    for (;;) {
        /* A flush wants the spans queued before it now; later spans wait
         * for a full batch or the interval again. */
        if (tracer->count < tracer->batch_size &&
            tracer->flush_target <= tracer->dequeued_total &&
            !tracer->stopping) {
            struct timespec until;
            deadline_in(&until, tracer->flush_interval_ms);
            while (tracer->count < tracer->batch_size &&
                   tracer->flush_target <= tracer->dequeued_total &&
                   !tracer->stopping) {
                if (pthread_cond_timedwait(&tracer->wake, &tracer->lock,
                                           &until) != 0)
                    break;
            }
        }
        if (tracer->count == 0) {
            pthread_cond_broadcast(&tracer->done);
            if (tracer->stopping)
                break;
            continue;
        }
        size_t n = tracer->count < tracer->batch_size ? tracer->count
                                                      : tracer->batch_size;
        for (size_t i = 0; i < n; i++)
            batch[i] = tracer->queue[(tracer->head + i) % tracer->capacity];
        tracer->head = (tracer->head + n) % tracer->capacity;
        tracer->count -= n;
        tracer->dequeued_total += n;
        bool stopping = tracer->stopping;
        int64_t deadline = tracer->stop_deadline_mono_ns;
        pthread_mutex_unlock(&tracer->lock);

        export_batch(tracer, batch, n, tracer->scratch, stopping, deadline);

        pthread_mutex_lock(&tracer->lock);
        size_t kept = 0;
        for (; kept < n && tracer->pool_size < tracer->pool_max; kept++) {
            batch[kept]->next_free = tracer->pool;
            tracer->pool = batch[kept];
            tracer->pool_size++;
        }
        for (size_t i = kept; i < n; i++)
            free(batch[i]);
        tracer->completed_total += n;
        pthread_cond_broadcast(&tracer->done);
    }
    tracer->thread_done = true;
    pthread_cond_broadcast(&tracer->done);
    bool abandoned = tracer->abandoned;
    pthread_mutex_unlock(&tracer->lock);
    if (abandoned)
        tracer_release(tracer);
    return NULL;
}

/* ---- tracer ---- */

static bool url_is_http(const char *url) {
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* {base}/api/v2/spans; a URL that already names the endpoint is kept. */
static char *zipkin_endpoint(const char *base) {
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    const char *suffix = ends_with(base, len, "/api/v2/spans")
                             ? ""
                             : "/api/v2/spans";
    size_t size = len + strlen(suffix) + 1;
    char *url = malloc(size);
    if (url)
        snprintf(url, size, "%.*s%s", (int)len, base, suffix);
    return url;
}

static void tracer_free(kh_tracer *tracer) {
    free(tracer->zipkin_spans_url);
    free(tracer->otlp_traces_url);
    free(tracer->queue);
    free(tracer->batch);
    free(tracer->scratch);
    free(tracer);
}

int kh_tracer_create(const kh_tracer_options *opts, kh_tracer **out,
                     kh_error *err) {
    if (!out)
        return kh_error_set(err, KH_EINVAL, "tracer: out is required");
    *out = NULL;
    kh_tracer_options defaults = {0};
    if (!opts)
        opts = &defaults;
    const char *zipkin = opts->zipkin_url && *opts->zipkin_url
                             ? opts->zipkin_url
                             : NULL;
    const char *otlp = opts->otlp_traces_url && *opts->otlp_traces_url
                           ? opts->otlp_traces_url
                           : NULL;
    if (zipkin && !url_is_http(zipkin))
        return kh_error_set(err, KH_EINVAL,
                            "tracer: Zipkin URL '%s' is not http:// or "
                            "https://",
                            zipkin);
    if (otlp && !url_is_http(otlp))
        return kh_error_set(err, KH_EINVAL,
                            "tracer: OTLP traces URL '%s' is not http:// or "
                            "https://",
                            otlp);
    kh_tracer *tracer = calloc(1, sizeof *tracer);
    if (!tracer)
        return kh_error_set(err, KH_ENOMEM, "tracer: out of memory");
    copy_cut(tracer->service_name, sizeof tracer->service_name,
             opts->service_name && *opts->service_name ? opts->service_name
                                                       : "khappy");
    tracer->capacity =
        opts->queue_capacity ? opts->queue_capacity : DEFAULT_QUEUE_CAPACITY;
    tracer->batch_size = opts->batch_size ? opts->batch_size
                                          : DEFAULT_BATCH_SIZE;
    if (tracer->batch_size > tracer->capacity)
        tracer->batch_size = tracer->capacity;
    tracer->flush_interval_ms = opts->flush_interval_ms > 0
                                    ? opts->flush_interval_ms
                                    : DEFAULT_FLUSH_INTERVAL_MS;
    tracer->export_timeout_ms = opts->export_timeout_ms > 0
                                    ? opts->export_timeout_ms
                                    : DEFAULT_EXPORT_TIMEOUT_MS;
    tracer->shutdown_timeout_ms = opts->shutdown_timeout_ms > 0
                                      ? opts->shutdown_timeout_ms
                                      : DEFAULT_SHUTDOWN_TIMEOUT_MS;
    if ((zipkin && !(tracer->zipkin_spans_url = zipkin_endpoint(zipkin))) ||
        (otlp && !(tracer->otlp_traces_url = strdup(otlp)))) {
        tracer_free(tracer);
        return kh_error_set(err, KH_ENOMEM, "tracer: out of memory");
    }
    if (!tracer_exports(tracer)) {
        *out = tracer;
        return KH_OK;
    }
    size_t capacity = tracer->capacity;
    if (capacity > SIZE_MAX / sizeof *tracer->queue) {
        tracer_free(tracer);
        return kh_error_set(err, KH_ERANGE,
                            "tracer: queue_capacity %zu is too large",
                            capacity);
    }
    tracer->queue = malloc(tracer->capacity * sizeof *tracer->queue);
    tracer->batch = malloc(tracer->batch_size * sizeof *tracer->batch);
    tracer->scratch = malloc(tracer->batch_size * sizeof *tracer->scratch);
    /* At most 512 spans (about 1.6 MiB) are kept. */
    tracer->pool_max = tracer->batch_size < 512 ? tracer->batch_size : 512;
    if (!tracer->queue || !tracer->batch || !tracer->scratch) {
        tracer_free(tracer);
        return kh_error_set(err, KH_ENOMEM,
                            "tracer: out of memory for a queue of %zu spans",
                            capacity);
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&tracer->lock, NULL);
    pthread_cond_init(&tracer->wake, &attr);
    pthread_cond_init(&tracer->done, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&tracer->thread, NULL, export_thread, tracer) != 0) {
        pthread_cond_destroy(&tracer->wake);
        pthread_cond_destroy(&tracer->done);
        pthread_mutex_destroy(&tracer->lock);
        tracer_free(tracer);
        return kh_error_set(err, KH_EINTERNAL,
                            "tracer: cannot start the export thread");
    }
    tracer->has_thread = true;
    *out = tracer;
    return KH_OK;
}

int kh_tracer_flush(kh_tracer *tracer, long timeout_ms, kh_error *err) {
    if (!tracer || !tracer->has_thread)
        return KH_OK;
    struct timespec until;
    deadline_in(&until, timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&tracer->lock);
    uint64_t target = tracer->enqueued_total;
    if (target > tracer->flush_target)
        tracer->flush_target = target;
    pthread_cond_signal(&tracer->wake);
    while (tracer->completed_total < target) {
        if (pthread_cond_timedwait(&tracer->done, &tracer->lock, &until) != 0)
            break;
    }
    bool flushed = tracer->completed_total >= target;
    size_t left = (size_t)(target - tracer->completed_total);
    pthread_mutex_unlock(&tracer->lock);
    if (!flushed)
        return kh_error_set(err, KH_ETIMEOUT,
                            "tracer: %zu spans still waiting for the "
                            "collector after %ld ms",
                            left, timeout_ms);
    return KH_OK;
}

void kh_tracer_get_stats(kh_tracer *tracer, kh_tracer_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (!tracer)
        return;
    stats->spans_started = atomic_load(&tracer->started);
    stats->spans_ended = atomic_load(&tracer->ended);
    stats->spans_not_sampled = atomic_load(&tracer->not_sampled);
    stats->spans_exported = atomic_load(&tracer->exported);
    stats->spans_dropped_queue = atomic_load(&tracer->dropped_queue);
    stats->spans_dropped_export = atomic_load(&tracer->dropped_export);
    stats->export_batches = atomic_load(&tracer->batches);
    stats->export_failures = atomic_load(&tracer->failures);
    if (tracer->has_thread) {
        pthread_mutex_lock(&tracer->lock);
        stats->queued = tracer->count;
        pthread_mutex_unlock(&tracer->lock);
    }
}

void kh_tracer_destroy(kh_tracer *tracer) {
    if (!tracer)
        return;
    if (!tracer->has_thread) {
        tracer_free(tracer);
        return;
    }
    pthread_mutex_lock(&tracer->lock);
    tracer->stopping = true;
    tracer->stop_deadline_mono_ns =
        kh_clock_mono_ns() + (int64_t)tracer->shutdown_timeout_ms * 1000000;
    pthread_cond_signal(&tracer->wake);
    /* POSTs started from now on end by the deadline; one already in flight
     * may not (its timeout is export_timeout_ms). Past the deadline, the
     * thread is left to finish that POST and free the tracer itself, so
     * shutdown never waits on a slow collector. */
    struct timespec until;
    deadline_in(&until, tracer->shutdown_timeout_ms + 50);
    while (!tracer->thread_done) {
        if (pthread_cond_timedwait(&tracer->done, &tracer->lock, &until) != 0)
            break;
    }
    bool finished = tracer->thread_done;
    pthread_t thread = tracer->thread;
    if (!finished)
        tracer->abandoned = true;
    pthread_mutex_unlock(&tracer->lock);
    if (finished) {
        pthread_join(thread, NULL);
        tracer_release(tracer);
    } else {
        /* From here the thread owns the tracer: touch nothing of it. */
        pthread_detach(thread);
    }
}

/* Frees a tracer whose export thread has ended (or never existed); spans
 * still queued are dropped. */
static void tracer_release(kh_tracer *tracer) {
    if (tracer->has_thread) {
        while (tracer->pool) {
            kh_span *next = tracer->pool->next_free;
            free(tracer->pool);
            tracer->pool = next;
        }
        for (size_t i = 0; i < tracer->count; i++)
            free(tracer->queue[(tracer->head + i) % tracer->capacity]);
        pthread_cond_destroy(&tracer->wake);
        pthread_cond_destroy(&tracer->done);
        pthread_mutex_destroy(&tracer->lock);
    }
    tracer_free(tracer);
}

/* ---- for obs.c ---- */

const char *obs_span_service(const kh_span *span) {
    return span ? span->service : NULL;
}

void obs_span_rename(kh_span *span, const char *name) {
    if (span && name)
        copy_cut(span->name, sizeof span->name, name);
}
