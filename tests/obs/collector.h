/* collector.h - a trace collector for tests: a kh_http_server on 127.0.0.1
 * port 0 that keeps every request, can hold requests (a slow collector) or
 * answer with any status, and checks each exported span against the
 * Zipkin v2 or OTLP/HTTP JSON field rules before the test looks at it.
 * Include after cmocka.h. */
#ifndef KH_TESTS_OBS_COLLECTOR_H
#define KH_TESTS_OBS_COLLECTOR_H

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/http.h"

#define COLLECTOR_MAX_REQUESTS 256
#define COLLECTOR_MAX_SPANS 4096

typedef struct collected_request {
    char *path;
    char *content_type;
    char *body;
} collected_request;

typedef struct collector {
    kh_http_server *server;
    char base_url[64];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    collected_request requests[COLLECTOR_MAX_REQUESTS];
    int n_requests;
    int status;   /* answered; 0: 202 for Zipkin, 200 for OTLP */
    bool hold;    /* requests wait until released (a slow collector) */
    int held_now; /* requests waiting */
} collector;

static inline void collector_handler(void *user, const kh_http_request *req,
                                     kh_http_response *res) {
    collector *c = user;
    pthread_mutex_lock(&c->lock);
    if (c->n_requests < COLLECTOR_MAX_REQUESTS) {
        collected_request *r = &c->requests[c->n_requests++];
        r->path = strdup(req->path);
        const char *type = kh_http_request_header(req, "Content-Type");
        r->content_type = strdup(type ? type : "");
        r->body = strndup(req->body ? (const char *)req->body : "",
                          req->body_len);
    }
    pthread_cond_broadcast(&c->changed);
    /* Bounded, so a failing test cannot hang forever. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    c->held_now++;
    pthread_cond_broadcast(&c->changed);
    while (c->hold) {
        if (pthread_cond_timedwait(&c->changed, &c->lock, &until) != 0)
            break;
    }
    c->held_now--;
    int status = c->status;
    pthread_mutex_unlock(&c->lock);
    bool otlp = strstr(req->path, "/v1/traces") != NULL;
    if (!status)
        status = otlp ? 200 : 202;
    kh_http_response_set(res, status, "application/json", otlp ? "{}" : "",
                         otlp ? 2 : 0);
}

static inline void collector_start(collector *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    kh_http_server_options opts = {.bind_addr = "127.0.0.1",
                                   .port = 0,
                                   .thread_per_connection = true};
    kh_error err = {0};
    if (kh_http_server_start(&opts, collector_handler, c, &c->server, &err) !=
        KH_OK)
        fail_msg("collector: %s", err.message);
    snprintf(c->base_url, sizeof c->base_url, "http://127.0.0.1:%d",
             kh_http_server_port(c->server));
}

static inline void collector_set_hold(collector *c, bool hold) {
    pthread_mutex_lock(&c->lock);
    c->hold = hold;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* Waits (bounded) until at least n requests are being held. */
static inline void collector_wait_held(collector *c, int n) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&c->lock);
    while (c->held_now < n) {
        if (pthread_cond_timedwait(&c->changed, &c->lock, &until) != 0)
            break;
    }
    int held = c->held_now;
    pthread_mutex_unlock(&c->lock);
    if (held < n)
        fail_msg("collector: expected %d held requests, have %d", n, held);
}

static inline void collector_stop(collector *c) {
    collector_set_hold(c, false);
    kh_http_server_stop(c->server);
    for (int i = 0; i < c->n_requests; i++) {
        free(c->requests[i].path);
        free(c->requests[i].content_type);
        free(c->requests[i].body);
    }
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
}

/* ---- spans as seen by the collector ---- */

typedef struct seen_span {
    char format[8];     /* "zipkin" or "otlp" */
    char trace_id[33];
    char id[17];
    char parent_id[17]; /* "" for a root */
    char name[160];
    char kind[16];      /* "SERVER", ... ("INTERNAL" when Zipkin omits it) */
    char service[160];
    long long start_us;
    long long duration_us;
    json_t *tags;       /* object of strings (owned) */
    bool error;         /* Zipkin tag "error" / OTLP status code 2 */
} seen_span;

typedef struct seen_spans {
    seen_span spans[COLLECTOR_MAX_SPANS];
    int n;
} seen_spans;

static inline void seen_spans_free(seen_spans *s) {
    for (int i = 0; i < s->n; i++)
        json_decref(s->spans[i].tags);
    s->n = 0;
}

static inline bool is_lower_hex_of(const char *s, size_t len) {
    if (!s || strlen(s) != len)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

static inline long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Within an hour of now: the unit is right (µs vs ns vs ms is 1000x). */
static inline void assert_recent_us(const char *what, long long us) {
    long long delta = us - now_us();
    if (delta < -3600LL * 1000000 || delta > 3600LL * 1000000)
        fail_msg("%s %lld is not a time in microseconds near now (%lld)",
                 what, us, now_us());
}

static inline const char *require_string(json_t *obj, const char *key,
                                         const char *where) {
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v)
        fail_msg("%s: '%s' missing or not a string", where, key);
    return v;
}

static inline void copy_field(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src);
}

/* Zipkin v2: an array of spans, every field checked. */
static inline void parse_zipkin(const char *body, seen_spans *out) {
    json_error_t error;
    json_t *root = json_loads(body, 0, &error);
    if (!root || !json_is_array(root))
        fail_msg("zipkin body is not a JSON array: %s", error.text);
    size_t i;
    json_t *span;
    json_array_foreach(root, i, span) {
        char where[64];
        snprintf(where, sizeof where, "zipkin span %zu", i);
        if (!json_is_object(span))
            fail_msg("%s: not an object", where);
        if (out->n == COLLECTOR_MAX_SPANS)
            fail_msg("too many spans");
        seen_span *s = &out->spans[out->n++];
        memset(s, 0, sizeof *s);
        strcpy(s->format, "zipkin");
        const char *trace = require_string(span, "traceId", where);
        if (!is_lower_hex_of(trace, 32) && !is_lower_hex_of(trace, 16))
            fail_msg("%s: traceId '%s' is not 16/32 lower-case hex", where,
                     trace);
        copy_field(s->trace_id, sizeof s->trace_id, trace);
        const char *id = require_string(span, "id", where);
        if (!is_lower_hex_of(id, 16))
            fail_msg("%s: id '%s' is not 16 lower-case hex", where, id);
        copy_field(s->id, sizeof s->id, id);
        json_t *parent = json_object_get(span, "parentId");
        if (parent) {
            const char *p = json_string_value(parent);
            if (!is_lower_hex_of(p, 16))
                fail_msg("%s: parentId '%s' is not 16 lower-case hex", where,
                         p ? p : "(not a string)");
            copy_field(s->parent_id, sizeof s->parent_id, p);
        }
        copy_field(s->name, sizeof s->name,
                   require_string(span, "name", where));
        json_t *kind = json_object_get(span, "kind");
        if (kind) {
            const char *k = json_string_value(kind);
            if (!k || (strcmp(k, "CLIENT") && strcmp(k, "SERVER") &&
                       strcmp(k, "PRODUCER") && strcmp(k, "CONSUMER")))
                fail_msg("%s: kind '%s' is not a Zipkin kind", where,
                         k ? k : "(not a string)");
            copy_field(s->kind, sizeof s->kind, k);
        } else {
            strcpy(s->kind, "INTERNAL");
        }
        json_t *ts = json_object_get(span, "timestamp");
        json_t *duration = json_object_get(span, "duration");
        if (!json_is_integer(ts) || !json_is_integer(duration))
            fail_msg("%s: timestamp and duration must be integers", where);
        s->start_us = json_integer_value(ts);
        s->duration_us = json_integer_value(duration);
        assert_recent_us(where, s->start_us);
        if (s->duration_us < 1 || s->duration_us > 600LL * 1000000)
            fail_msg("%s: duration %lld µs out of range", where,
                     s->duration_us);
        json_t *endpoint = json_object_get(span, "localEndpoint");
        copy_field(s->service, sizeof s->service,
                   require_string(endpoint, "serviceName", where));
        if (!s->service[0])
            fail_msg("%s: empty serviceName", where);
        json_t *tags = json_object_get(span, "tags");
        s->tags = tags ? json_incref(tags) : json_object();
        if (!json_is_object(s->tags))
            fail_msg("%s: tags is not an object", where);
        const char *key;
        json_t *value;
        json_object_foreach(s->tags, key, value) {
            if (!json_is_string(value))
                fail_msg("%s: tag '%s' is not a string", where, key);
        }
        s->error = json_object_get(s->tags, "error") != NULL;
    }
    json_decref(root);
}

static inline long long parse_nanos(const char *text, const char *where) {
    if (!text || !*text)
        fail_msg("%s: time is not a string", where);
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            fail_msg("%s: time '%s' is not a decimal string", where, text);
    }
    return strtoll(text, NULL, 10);
}

/* OTLP/HTTP JSON: resourceSpans/scopeSpans/spans, every field checked. */
static inline void parse_otlp(const char *body, seen_spans *out) {
    json_error_t error;
    json_t *root = json_loads(body, 0, &error);
    if (!root || !json_is_object(root))
        fail_msg("OTLP body is not a JSON object: %s", error.text);
    json_t *resources = json_object_get(root, "resourceSpans");
    if (!json_is_array(resources))
        fail_msg("OTLP: resourceSpans is not an array");
    size_t r;
    json_t *resource_spans;
    json_array_foreach(resources, r, resource_spans) {
        const char *service = NULL;
        json_t *attributes = json_object_get(
            json_object_get(resource_spans, "resource"), "attributes");
        size_t a;
        json_t *attribute;
        json_array_foreach(attributes, a, attribute) {
            if (strcmp(require_string(attribute, "key", "resource"),
                       "service.name") == 0)
                service = require_string(json_object_get(attribute, "value"),
                                         "stringValue", "service.name");
        }
        if (!service || !*service)
            fail_msg("OTLP resource %zu has no service.name", r);
        json_t *scopes = json_object_get(resource_spans, "scopeSpans");
        if (!json_is_array(scopes))
            fail_msg("OTLP: scopeSpans is not an array");
        size_t sc;
        json_t *scope;
        json_array_foreach(scopes, sc, scope) {
            json_t *spans = json_object_get(scope, "spans");
            if (!json_is_array(spans))
                fail_msg("OTLP: spans is not an array");
            size_t i;
            json_t *span;
            json_array_foreach(spans, i, span) {
                char where[96];
                snprintf(where, sizeof where, "OTLP span %zu.%zu.%zu", r, sc,
                         i);
                if (out->n == COLLECTOR_MAX_SPANS)
                    fail_msg("too many spans");
                seen_span *s = &out->spans[out->n++];
                memset(s, 0, sizeof *s);
                strcpy(s->format, "otlp");
                copy_field(s->service, sizeof s->service, service);
                const char *trace = require_string(span, "traceId", where);
                if (!is_lower_hex_of(trace, 32))
                    fail_msg("%s: traceId '%s' is not 32 hex", where, trace);
                copy_field(s->trace_id, sizeof s->trace_id, trace);
                const char *id = require_string(span, "spanId", where);
                if (!is_lower_hex_of(id, 16))
                    fail_msg("%s: spanId '%s' is not 16 hex", where, id);
                copy_field(s->id, sizeof s->id, id);
                json_t *parent = json_object_get(span, "parentSpanId");
                if (parent) {
                    const char *p = json_string_value(parent);
                    if (!is_lower_hex_of(p, 16))
                        fail_msg("%s: parentSpanId '%s' is not 16 hex", where,
                                 p ? p : "(not a string)");
                    copy_field(s->parent_id, sizeof s->parent_id, p);
                }
                copy_field(s->name, sizeof s->name,
                           require_string(span, "name", where));
                json_t *kind = json_object_get(span, "kind");
                static const char *const kinds[] = {
                    "UNSPECIFIED", "INTERNAL", "SERVER",
                    "CLIENT",      "PRODUCER", "CONSUMER"};
                if (!json_is_integer(kind) || json_integer_value(kind) < 1 ||
                    json_integer_value(kind) > 5)
                    fail_msg("%s: kind is not an enum number 1..5", where);
                copy_field(s->kind, sizeof s->kind,
                           kinds[json_integer_value(kind)]);
                long long start = parse_nanos(
                    require_string(span, "startTimeUnixNano", where), where);
                long long end = parse_nanos(
                    require_string(span, "endTimeUnixNano", where), where);
                if (end < start)
                    fail_msg("%s: ends (%lld) before it starts (%lld)", where,
                             end, start);
                s->start_us = start / 1000;
                s->duration_us = (end - start) / 1000;
                assert_recent_us(where, s->start_us);
                s->tags = json_object();
                json_t *attrs = json_object_get(span, "attributes");
                json_array_foreach(attrs, a, attribute) {
                    const char *key = require_string(attribute, "key", where);
                    const char *value = require_string(
                        json_object_get(attribute, "value"), "stringValue",
                        where);
                    json_object_set_new(s->tags, key, json_string(value));
                }
                json_t *status = json_object_get(span, "status");
                s->error = status &&
                           json_integer_value(json_object_get(status, "code")) ==
                               2;
            }
        }
    }
    json_decref(root);
}

/* Every span the collector received, of both formats, checked. */
static inline void collector_spans(collector *c, seen_spans *out) {
    out->n = 0;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n_requests; i++) {
        collected_request *r = &c->requests[i];
        if (strncmp(r->content_type, "application/json", 16) != 0)
            fail_msg("request %d to %s: Content-Type '%s'", i, r->path,
                     r->content_type);
        if (strcmp(r->path, "/api/v2/spans") == 0)
            parse_zipkin(r->body, out);
        else if (strcmp(r->path, "/v1/traces") == 0)
            parse_otlp(r->body, out);
        else
            fail_msg("request %d to unexpected path %s", i, r->path);
    }
    pthread_mutex_unlock(&c->lock);
}

static inline const seen_span *find_span(const seen_spans *s,
                                         const char *format, const char *id) {
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->spans[i].format, format) == 0 &&
            strcmp(s->spans[i].id, id) == 0)
            return &s->spans[i];
    }
    return NULL;
}

static inline const char *tag_of(const seen_span *s, const char *key) {
    return json_string_value(json_object_get(s->tags, key));
}

#endif
