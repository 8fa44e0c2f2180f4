/* broker_store.h - the broker's durable queue: accepted events and their
 * pending deliveries, one row per (event, trigger), in SQLite.
 *
 * Durability. The database runs in WAL mode with synchronous=FULL by
 * default: a commit returns only after the WAL is fsync'ed, so an event the
 * ingress answered 202 for survives a process kill *and* a power cut or
 * kernel crash. NORMAL would only survive a process crash (the OS would
 * still hold the unsynced WAL pages); it is available for benchmarks and
 * throwaway deployments. The cost of FULL (one fsync per commit) is shared by
 * group commit: concurrent callers queue their operations and the first one
 * commits them all in one transaction (one fsync), the others wait for it.
 *
 * Completions (a delivery succeeded, or was dead-lettered or dropped) and
 * failure records do not wait for their commit: losing one to a crash only
 * means the delivery happens again, which at-least-once allows. Accepts
 * always wait.
 *
 * Every function is safe to call from several threads.
 */
#ifndef KH_EVENTS_BROKER_STORE_H
#define KH_EVENTS_BROKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "events/cloudevent.h"

typedef enum kh_store_sync {
    KH_STORE_SYNC_FULL,   /* default: durable across power loss */
    KH_STORE_SYNC_NORMAL, /* durable across process crashes only */
} kh_store_sync;

typedef struct kh_broker_store kh_broker_store;

/* Opens (creating when needed) the database at `path`. The caller closes
 * it with kh_broker_store_close. */
int kh_broker_store_open(const char *path, kh_store_sync sync,
                         kh_broker_store **out, kh_error *err);
/* Flushes queued completions, closes. NULL is a no-op. */
void kh_broker_store_close(kh_broker_store *store);

/* Makes `ev` durable with one pending delivery per trigger key
 * ("namespace/name"), all due at `due_ms`, in one transaction; returns only
 * once it is committed. *seq receives the event's sequence number (strictly
 * increasing, never reused). */
int kh_broker_store_accept(kh_broker_store *store, const kh_cloudevent *ev,
                           const char *const *trigger_keys, size_t n_triggers,
                           int64_t due_ms, int64_t *seq, kh_error *err);

/* The delivery (seq, trigger) is finished; the event row goes with its last
 * delivery. Queued, not awaited (see above). */
int kh_broker_store_complete(kh_broker_store *store, int64_t seq,
                             const char *trigger_key, kh_error *err);

/* Records a failed attempt: attempts so far, the last HTTP status (0 for a
 * network error), the start of the response body (at most
 * KH_STORE_ERROR_BODY_MAX bytes kept) and when to try next. Queued. */
#define KH_STORE_ERROR_BODY_MAX 1024
int kh_broker_store_record_failure(kh_broker_store *store, int64_t seq,
                                   const char *trigger_key, int attempts,
                                   int last_status, const uint8_t *body,
                                   size_t body_len, int64_t next_ms,
                                   kh_error *err);

/* Waits until every queued operation is committed. */
int kh_broker_store_flush(kh_broker_store *store, kh_error *err);

/* A delivery still to do, as read back at start-up. Pointers are valid only
 * during the visit. */
typedef struct kh_pending_delivery {
    int64_t seq;
    const char *trigger_key;
    int attempts;
    int last_status;
    const uint8_t *last_body;
    size_t last_body_len;
    int64_t next_ms;
} kh_pending_delivery;

/* Calls visit for every pending delivery in (seq, trigger) order; a
 * non-zero return from visit stops and is returned. */
int kh_broker_store_pending(kh_broker_store *store,
                            int (*visit)(void *user,
                                         const kh_pending_delivery *d),
                            void *user, kh_error *err);

/* Loads event `seq` into *ev (initialised by the call; the caller frees it
 * with kh_cloudevent_free). KH_ENOTFOUND when it is gone. */
int kh_broker_store_load_event(kh_broker_store *store, int64_t seq,
                               kh_cloudevent *ev, kh_error *err);

/* Rows currently stored (after flushing queued operations). */
int kh_broker_store_counts(kh_broker_store *store, size_t *events,
                           size_t *deliveries, kh_error *err);

/* The stored form of an event: a versioned, length-prefixed record
 * (little-endian). *out is malloc'd; the caller frees it. Decoding treats
 * the bytes as hostile: every length is checked, *ev is initialised by the
 * call and left empty on failure. */
int kh_broker_event_encode(const kh_cloudevent *ev, uint8_t **out,
                           size_t *len, kh_error *err);
int kh_broker_event_decode(const uint8_t *data, size_t len,
                           kh_cloudevent *ev, kh_error *err);

#endif
