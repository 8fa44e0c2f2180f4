/* broker.h - khappy's embedded CloudEvents broker: the one-machine stand-in
 * for a Knative Broker, driven by the same Trigger manifests (trigger.h).
 *
 * Flow. Ingress (HTTP, kh_broker_http_handler, or in-process,
 * kh_broker_ingest) validates an event, gives it the TTL extension
 * `knativebrokerttl` (255 unless it has one; an event arriving with a TTL
 * below 1 is refused), matches it against the triggers of this broker, and
 * makes it durable together with one pending delivery per matching trigger
 * (broker_store.h) before answering 202. An event no trigger matches is
 * accepted and forgotten. Delivery threads then deliver each (event,
 * trigger) on its own, so one event's deliveries run in parallel across
 * triggers.
 *
 * Delivery. A subscriber is an HTTP URL (CloudEvents binary mode POST) or an
 * in-process function with the receiver's contract (kh_ce_event_handler in
 * ce_receiver.h: an HTTP-like status and an optional reply event). The
 * subscriber sees the event without knativebrokerttl, as in Knative. 2xx is
 * success. 404, 408, 409, 429, 5xx and network errors are retried up to
 * delivery.retry times, retry n after delivery.backoffDelay * n (linear) or
 * * 2^n (exponential); any other status fails at once. A failed delivery goes
 * to delivery.deadLetterSink (same retry policy) with the extensions
 * knativeerrordest (the subscriber's address), knativeerrorcode (the last
 * status; 500 for a network error) and knativeerrordata (Base64 of the first
 * 1024 bytes of the response body, or "dispatch error: ..." for a network
 * error; omitted when empty); without a sink, or when the sink fails too,
 * the delivery is dropped and recorded as such (KH_BROKER_DROPPED).
 *
 * Replies. A reply event from a subscriber goes back into ingress with TTL
 * one less than the event it answers; a reply whose TTL would reach 0 is
 * dropped (KH_BROKER_REPLY_DROPPED), which ends reply loops. The reply is
 * made durable before the delivery that produced it is marked done.
 *
 * Guarantees. At least once: every accepted event is delivered to every
 * trigger that matched it, also across crashes and restarts (pending
 * deliveries are reloaded from the store at start, with their attempt
 * counts, due at once). Not exactly once: a delivery can repeat when the
 * broker dies after the subscriber answered but before its completion was
 * committed, or when a subscriber times out after processing. No ordering
 * between events.
 *
 * CONSUMER CONTRACT: subscribers must be idempotent by event (source, id):
 * receiving the same event twice must have the effect of receiving it once.
 *
 * Nothing here prints: what happens to each delivery is reported through
 * the on_record observer and counted in kh_broker_stats.
 */
#ifndef KH_EVENTS_BROKER_H
#define KH_EVENTS_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "events/broker_store.h"
#include "events/ce_receiver.h"
#include "events/cloudevent.h"
#include "events/trigger.h"
#include "net/http.h"

#define KH_BROKER_TTL_EXTENSION "knativebrokerttl"
#define KH_BROKER_DEFAULT_TTL 255
#define KH_BROKER_ERROR_DATA_MAX 1024

/* A named subscriber: what a Trigger's subscriber.ref.name (or a dead-letter
 * sink's) stands for. Exactly one of url and function. */
typedef struct kh_broker_subscriber {
    const char *name;             /* ref.name, e.g. "khappy-emotion" */
    const char *url;              /* base URL; a ref's uri path is appended */
    kh_ce_event_handler function; /* in-process: called on a worker thread */
    void *function_user;
} kh_broker_subscriber;

typedef enum kh_broker_outcome {
    KH_BROKER_DELIVERED,      /* 2xx from the subscriber */
    KH_BROKER_RETRY,          /* failed attempt, retry scheduled */
    KH_BROKER_DEAD_LETTERED,  /* delivered to the dead-letter sink */
    KH_BROKER_DROPPED,        /* given up: no sink, sink failed, trigger gone */
    KH_BROKER_REPLY_ACCEPTED, /* a reply event went back into ingress */
    KH_BROKER_REPLY_DROPPED,  /* TTL exhausted, invalid reply, ingress full */
} kh_broker_outcome;

/* "delivered", "retry", ... */
const char *kh_broker_outcome_name(kh_broker_outcome outcome);

/* One thing that happened to a delivery. Strings valid during the call. */
typedef struct kh_broker_record {
    kh_broker_outcome outcome;
    int64_t seq;             /* the event's store sequence number */
    const char *event_id;
    const char *event_type;
    const char *trigger;     /* "namespace/name" */
    const char *target;      /* URL or "in-process:<name>" */
    int attempt;             /* 1 for the first attempt */
    int status;              /* HTTP status; 0 for a network error */
    int64_t retry_in_ms;     /* KH_BROKER_RETRY: the backoff chosen */
    const char *detail;      /* error message or reason; may be "" */
} kh_broker_record;

typedef struct kh_broker_options {
    const char *store_path;        /* SQLite file; required */
    kh_store_sync sync;            /* default FULL (see broker_store.h) */
    const char *name;              /* broker name; NULL: "default" */
    const char *namespace_name;    /* NULL: triggers of any namespace */
    /* Triggers, borrowed: the set must outlive the broker. Only those whose spec.broker is `name` (and
     * namespace matches when set) are used. Every subscriber and sink must
     * resolve (via `subscribers` or an absolute uri) or start fails. */
    const kh_trigger_set *triggers;
    const kh_broker_subscriber *subscribers;
    size_t n_subscribers;
    int workers;                   /* delivery threads; 0: 4 */
    long default_timeout_ms;       /* per attempt without delivery.timeout;
                                      0: 30 s (in-process calls: no limit) */
    size_t max_pending;            /* deliveries queued in memory before
                                      ingress answers 503; 0: 100000 */
    /* Called on delivery threads, possibly concurrently; keep it short. */
    void (*on_record)(void *user, const kh_broker_record *record);
    void *record_user;
} kh_broker_options;

typedef struct kh_broker_stats {
    uint64_t accepted;       /* events accepted by ingress (replies too) */
    uint64_t unmatched;      /* accepted but no trigger matched */
    uint64_t delivered;
    uint64_t retries;
    uint64_t dead_lettered;
    uint64_t dropped;
    uint64_t replies;
    uint64_t replies_dropped;
    uint64_t recovered;      /* pending deliveries reloaded at start */
    size_t pending;          /* deliveries waiting or in flight now */
} kh_broker_stats;

typedef struct kh_broker kh_broker;

/* Opens the store, resolves every trigger's subscriber and sink, reloads
 * pending deliveries and starts the delivery threads. The caller stops it
 * with kh_broker_stop. */
int kh_broker_start(const kh_broker_options *opts, kh_broker **out,
                    kh_error *err);

/* Accepts one event (copied). KH_OK means durable and will be delivered.
 * KH_EINVAL: not a valid event or a TTL below 1 (HTTP 400); KH_ELIMIT: too
 * many deliveries pending (503); KH_ESTATE: the broker is stopped (503);
 * KH_EDB: the store failed (500). Safe from any thread, also from an
 * in-process subscriber during its delivery, and while the broker drains
 * (the event then waits in the store for the next start). */
int kh_broker_ingest(kh_broker *broker, const kh_cloudevent *event,
                     kh_error *err);

/* Waits until no delivery is pending or in flight (retries included), at
 * most timeout_ms; KH_ETIMEOUT otherwise. For tests and tools. */
int kh_broker_wait_idle(kh_broker *broker, long timeout_ms, kh_error *err);

void kh_broker_get_stats(kh_broker *broker, kh_broker_stats *stats);

/* Stops taking events, lets in-flight delivery attempts finish and stops the
 * delivery threads; stats stay readable (pending: what is left for the next
 * start). Deliveries not yet attempted or waiting for a retry stay in the
 * store. kh_broker_stop must still be called. */
void kh_broker_drain(kh_broker *broker);

/* Drains (if not done yet), closes the store and frees. NULL is a no-op. */
void kh_broker_stop(kh_broker *broker);

/* The HTTP ingress, as a kh_http_handler (user = the broker), answering as
 * Knative's broker ingress does:
 *   POST / or /<namespace>/<broker>  202 accepted; 400 invalid or
 *        unparsable event, batched mode, TTL below 1; 404 another broker's
 *        path; 415 not a CloudEvent; 503 stopping or backlog full
 *   413  body over the server's max_body_bytes (the HTTP server answers)
 *   405  other methods (Allow: POST, OPTIONS); OPTIONS answers 200 with the
 *        CloudEvents webhook headers
 *   GET /healthz  200; GET /stats  200, kh_broker_stats as JSON */
void kh_broker_http_handler(void *broker, const kh_http_request *req,
                            kh_http_response *res);

#endif
