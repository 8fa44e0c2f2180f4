/* broker.c - the embedded broker: ingress, matching, durable hand-off to the
 * store, delivery threads with retries, dead-letter sinks, replies and TTL.
 * See broker.h for the contract. */
#include "events/broker.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base64.h"
#include "common/clock.h"
#include "events/ce_http.h"
#include "events/ce_sender.h"

#define DEFAULT_WORKERS 4
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_MAX_PENDING 100000

/* ------------------------------------------------------------ pieces */

/* An accepted event shared by its deliveries. */
typedef struct shared_event {
    atomic_int refs;
    int64_t seq;
    int ttl;
    kh_cloudevent stored;   /* as stored: with knativebrokerttl */
    kh_cloudevent outgoing; /* as subscribers see it: without */
} shared_event;

/* Where a delivery goes. */
typedef struct target {
    char *address; /* URL or "in-process:<name>" (knativeerrordest, logs) */
    char *url;     /* NULL for in-process */
    kh_ce_event_handler function;
    void *function_user;
} target;

typedef struct broker_trigger {
    const kh_trigger *trigger;
    char *key; /* "namespace/name" */
    target subscriber;
    bool has_dead_letter_sink;
    target dead_letter_sink;
} broker_trigger;

typedef struct task {
    shared_event *event;
    size_t trigger_index;
    int attempts;            /* subscriber attempts made */
    bool dead_letter_phase;  /* the subscriber is given up on */
    int dead_letter_attempts;
    int last_status;         /* 0: network error */
    uint8_t *last_body;      /* at most KH_BROKER_ERROR_DATA_MAX bytes */
    size_t last_body_len;
    int64_t due_ms;
} task;

struct kh_broker {
    kh_broker_options opts;
    char *name;
    char *namespace_name;
    kh_broker_store *store;
    broker_trigger *triggers;
    size_t n_triggers;
    long default_timeout_ms;
    size_t max_pending;

    pthread_mutex_t lock;
    pthread_cond_t work;  /* a task is due or was added; stopping */
    pthread_cond_t idle;  /* pending dropped; an ingest ended */
    task **heap;          /* min-heap by due_ms */
    size_t heap_len, heap_cap;
    size_t pending;       /* in the heap or in flight */
    int active_ingests;   /* kh_broker_ingest calls running */
    bool stopping;        /* delivery threads: finish and exit */
    bool closed;          /* threads gone: ingest refused */
    pthread_t *threads;
    int n_threads;
    kh_broker_stats stats;
};

const char *kh_broker_outcome_name(kh_broker_outcome outcome) {
    switch (outcome) {
    case KH_BROKER_DELIVERED:
        return "delivered";
    case KH_BROKER_RETRY:
        return "retry";
    case KH_BROKER_DEAD_LETTERED:
        return "dead-lettered";
    case KH_BROKER_DROPPED:
        return "dropped";
    case KH_BROKER_REPLY_ACCEPTED:
        return "reply-accepted";
    case KH_BROKER_REPLY_DROPPED:
        return "reply-dropped";
    }
    return "unknown";
}

static struct timespec deadline_at(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    return ts;
}

static void shared_event_release(shared_event *ev) {
    if (ev && atomic_fetch_sub(&ev->refs, 1) == 1) {
        kh_cloudevent_free(&ev->stored);
        kh_cloudevent_free(&ev->outgoing);
        free(ev);
    }
}

static void task_free(task *t) {
    if (!t)
        return;
    shared_event_release(t->event);
    free(t->last_body);
    free(t);
}

static void target_free(target *t) {
    free(t->address);
    free(t->url);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------- heap */

static bool task_before(const task *a, const task *b) {
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms;
    return a->event->seq < b->event->seq;
}

/* Called with the lock held. */
static int heap_push(kh_broker *b, task *t) {
    if (b->heap_len == b->heap_cap) {
        size_t cap = b->heap_cap ? b->heap_cap * 2 : 64;
        task **grown = realloc(b->heap, cap * sizeof *grown);
        if (!grown)
            return KH_ENOMEM;
        b->heap = grown;
        b->heap_cap = cap;
    }
    size_t i = b->heap_len++;
    b->heap[i] = t;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!task_before(b->heap[i], b->heap[parent]))
            break;
        task *swap = b->heap[i];
        b->heap[i] = b->heap[parent];
        b->heap[parent] = swap;
        i = parent;
    }
    return KH_OK;
}

static task *heap_pop(kh_broker *b) {
    task *top = b->heap[0];
    b->heap[0] = b->heap[--b->heap_len];
    size_t i = 0;
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < b->heap_len && task_before(b->heap[left], b->heap[least]))
            least = left;
        if (right < b->heap_len &&
            task_before(b->heap[right], b->heap[least]))
            least = right;
        if (least == i)
            break;
        task *swap = b->heap[i];
        b->heap[i] = b->heap[least];
        b->heap[least] = swap;
        i = least;
    }
    return top;
}

/* ---------------------------------------------------------- records */

static void report(kh_broker *b, kh_broker_outcome outcome, const task *t,
                   const target *where, int attempt, int status,
                   int64_t retry_in_ms, const char *detail) {
    pthread_mutex_lock(&b->lock);
    switch (outcome) {
    case KH_BROKER_DELIVERED:
        b->stats.delivered++;
        break;
    case KH_BROKER_RETRY:
        b->stats.retries++;
        break;
    case KH_BROKER_DEAD_LETTERED:
        b->stats.dead_lettered++;
        break;
    case KH_BROKER_DROPPED:
        b->stats.dropped++;
        break;
    case KH_BROKER_REPLY_ACCEPTED:
        b->stats.replies++;
        break;
    case KH_BROKER_REPLY_DROPPED:
        b->stats.replies_dropped++;
        break;
    }
    pthread_mutex_unlock(&b->lock);
    if (!b->opts.on_record)
        return;
    const kh_cloudevent *ev = t ? &t->event->stored : NULL;
    kh_broker_record record = {
        .outcome = outcome,
        .seq = t ? t->event->seq : 0,
        .event_id = ev && ev->id ? ev->id : "",
        .event_type = ev && ev->type ? ev->type : "",
        .trigger = t ? b->triggers[t->trigger_index].key : "",
        .target = where ? where->address : "",
        .attempt = attempt,
        .status = status,
        .retry_in_ms = retry_in_ms,
        .detail = detail ? detail : "",
    };
    b->opts.on_record(b->opts.record_user, &record);
}

/* ------------------------------------------------------------ ingress */

/* Reads knativebrokerttl: -1 when absent, -2 when not a number. */
static long read_ttl(const kh_cloudevent *ev) {
    const char *text = kh_cloudevent_get(ev, KH_BROKER_TTL_EXTENSION);
    if (!text)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno == ERANGE || v > INT_MAX || v < INT_MIN)
        return -2;
    return v;
}

/* Accepts `in`. ttl > 0 forces the TTL (replies); 0 reads it from the event
 * (external ingress). */
static int accept_event(kh_broker *b, const kh_cloudevent *in, int ttl,
                        kh_error *err) {
    int rc = kh_cloudevent_validate(in, err);
    if (rc != KH_OK)
        return rc == KH_ENOMEM ? rc : KH_EINVAL;
    if (ttl <= 0) {
        long found = read_ttl(in);
        if (found == -2)
            return kh_error_set(err, KH_EINVAL,
                                "event '%s': %s must be an integer", in->id,
                                KH_BROKER_TTL_EXTENSION);
        if (found != -1 && found < 1)
            return kh_error_set(err, KH_EINVAL,
                                "event '%s': %s is %ld: the event has "
                                "travelled too far and is dropped",
                                in->id, KH_BROKER_TTL_EXTENSION, found);
        ttl = found == -1 ? KH_BROKER_DEFAULT_TTL : (int)found;
    }

    shared_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return kh_error_set(err, KH_ENOMEM, "accepting event '%s'", in->id);
    atomic_init(&ev->refs, 1);
    ev->ttl = ttl;
    char ttl_text[16];
    snprintf(ttl_text, sizeof ttl_text, "%d", ttl);
    rc = kh_cloudevent_copy(&ev->stored, in, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(&ev->stored, KH_BROKER_TTL_EXTENSION, ttl_text,
                               err);
    if (rc != KH_OK) {
        free(ev);
        return rc;
    }

    /* Which triggers want it. */
    size_t n_match = 0;
    size_t *matched = malloc((b->n_triggers ? b->n_triggers : 1) *
                             sizeof *matched);
    const char **keys = malloc((b->n_triggers ? b->n_triggers : 1) *
                               sizeof *keys);
    if (!matched || !keys) {
        rc = kh_error_set(err, KH_ENOMEM, "accepting event '%s'", in->id);
        goto done;
    }
    for (size_t i = 0; i < b->n_triggers; i++)
        if (kh_trigger_matches(b->triggers[i].trigger, &ev->stored)) {
            matched[n_match] = i;
            keys[n_match++] = b->triggers[i].key;
        }
    if (n_match == 0) {
        pthread_mutex_lock(&b->lock);
        b->stats.accepted++;
        b->stats.unmatched++;
        pthread_mutex_unlock(&b->lock);
        goto done;
    }
    pthread_mutex_lock(&b->lock);
    bool full = b->pending + n_match > b->max_pending;
    pthread_mutex_unlock(&b->lock);
    if (full) {
        rc = kh_error_set(err, KH_ELIMIT,
                          "broker backlog is full (%zu deliveries pending)",
                          b->max_pending);
        goto done;
    }
    rc = kh_cloudevent_copy(&ev->outgoing, &ev->stored, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(&ev->outgoing, KH_BROKER_TTL_EXTENSION, NULL,
                               err);
    if (rc != KH_OK)
        goto done;

    /* The one durable step: after this the event will be delivered. */
    int64_t due = kh_clock_wall_ms();
    rc = kh_broker_store_accept(b->store, &ev->stored, keys, n_match, due,
                                &ev->seq, err);
    if (rc != KH_OK)
        goto done;

    task **tasks = calloc(n_match, sizeof *tasks);
    for (size_t i = 0; tasks && i < n_match; i++) {
        tasks[i] = calloc(1, sizeof **tasks);
        if (!tasks[i])
            break;
        tasks[i]->event = ev;
        tasks[i]->trigger_index = matched[i];
        tasks[i]->due_ms = due;
        atomic_fetch_add(&ev->refs, 1);
    }
    pthread_mutex_lock(&b->lock);
    b->stats.accepted++;
    for (size_t i = 0; i < n_match; i++) {
        /* Out of memory here loses nothing: the delivery is in the store and
         * comes back at the next start. */
        if (tasks && tasks[i] && heap_push(b, tasks[i]) == KH_OK) {
            b->pending++;
        } else if (tasks && tasks[i]) {
            task_free(tasks[i]);
        }
    }
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    free(tasks);
done:
    free(matched);
    free(keys);
    shared_event_release(ev);
    return rc;
}

int kh_broker_ingest(kh_broker *b, const kh_cloudevent *event,
                     kh_error *err) {
    if (!b || !event)
        return kh_error_set(err, KH_EINVAL, "broker ingest: no event");
    pthread_mutex_lock(&b->lock);
    /* Still accepted while draining: an in-process subscriber finishing its
     * delivery may emit events, and they must not be lost. */
    if (b->closed) {
        pthread_mutex_unlock(&b->lock);
        return kh_error_set(err, KH_ESTATE, "broker '%s' is stopped",
                            b->name);
    }
    b->active_ingests++;
    pthread_mutex_unlock(&b->lock);
    int rc = accept_event(b, event, 0, err);
    pthread_mutex_lock(&b->lock);
    b->active_ingests--;
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* ----------------------------------------------------------- delivery */

typedef struct attempt_result {
    int status;               /* 0: network error */
    bool has_reply;
    kh_cloudevent reply;
    bool reply_invalid;
    char reply_error[KH_ERROR_MESSAGE_MAX];
    uint8_t body[KH_BROKER_ERROR_DATA_MAX];
    size_t body_len;
} attempt_result;

static void keep_body(attempt_result *r, const void *body, size_t len) {
    if (len > sizeof r->body)
        len = sizeof r->body;
    if (body && len)
        memcpy(r->body, body, len);
    r->body_len = body ? len : 0;
}

static void deliver(const target *to, const kh_cloudevent *ev,
                    long timeout_ms, attempt_result *r) {
    memset(r, 0, sizeof *r);
    kh_cloudevent_init(&r->reply);
    kh_error err = {0};
    if (to->function) {
        int rc = to->function(to->function_user, ev, &r->reply, &err);
        r->status = kh_ce_handler_status(rc, 202);
        if (r->status / 100 == 2 && r->reply.id) {
            r->has_reply = true;
            return;
        }
        kh_cloudevent_free(&r->reply);
        if (r->status >= 300) {
            const char *why = err.message[0] ? err.message : kh_strerror(rc);
            keep_body(r, why, strlen(why));
        }
        return;
    }
    kh_http_response res;
    int rc = kh_ce_send_response(to->url, ev, 1, KH_CE_MODE_BINARY, NULL, 0,
                                 timeout_ms, &res, &err);
    if (rc != KH_OK) {
        char why[KH_ERROR_MESSAGE_MAX + 32];
        int n = snprintf(why, sizeof why, "dispatch error: %s", err.message);
        keep_body(r, why, n > 0 ? (size_t)n : 0);
        r->status = 0;
        kh_http_response_free(&res);
        return;
    }
    r->status = res.status;
    if (res.status / 100 == 2) {
        rc = kh_ce_http_decode_reply(&res, &r->reply, &r->has_reply, &err);
        if (rc != KH_OK) {
            r->has_reply = false;
            r->reply_invalid = true;
            snprintf(r->reply_error, sizeof r->reply_error, "%s",
                     err.message);
            kh_cloudevent_free(&r->reply);
        }
    } else {
        keep_body(r, res.body, res.body_len);
    }
    kh_http_response_free(&res);
}

static bool retryable(int status) {
    return status == 0 || status == 404 || status == 408 || status == 409 ||
           status == 429 || (status >= 500 && status <= 599);
}

static void handle_reply(kh_broker *b, task *t, const target *from,
                         attempt_result *r) {
    if (r->reply_invalid) {
        report(b, KH_BROKER_REPLY_DROPPED, t, from, t->attempts + 1,
               r->status, 0, r->reply_error);
        return;
    }
    if (!r->has_reply)
        return;
    int ttl = t->event->ttl - 1;
    if (ttl < 1) {
        report(b, KH_BROKER_REPLY_DROPPED, t, from, t->attempts + 1,
               r->status, 0,
               "TTL exhausted (knativebrokerttl reached 0): reply loop?");
    } else {
        kh_error err = {0};
        int rc = accept_event(b, &r->reply, ttl, &err);
        if (rc == KH_OK)
            report(b, KH_BROKER_REPLY_ACCEPTED, t, from, t->attempts + 1,
                   r->status, 0, r->reply.type ? r->reply.type : "");
        else
            report(b, KH_BROKER_REPLY_DROPPED, t, from, t->attempts + 1,
                   r->status, 0, err.message);
    }
    kh_cloudevent_free(&r->reply);
    r->has_reply = false;
}

static void remember_failure(task *t, const attempt_result *r) {
    free(t->last_body);
    t->last_body = NULL;
    t->last_body_len = 0;
    t->last_status = r->status;
    if (r->body_len && (t->last_body = malloc(r->body_len))) {
        memcpy(t->last_body, r->body, r->body_len);
        t->last_body_len = r->body_len;
    }
}

/* The event as the dead-letter sink gets it: with the error extensions. */
static int dead_letter_event(const task *t, const broker_trigger *bt,
                             kh_cloudevent *out, kh_error *err) {
    int rc = kh_cloudevent_copy(out, &t->event->stored, err);
    if (rc != KH_OK)
        return rc;
    char code[16];
    snprintf(code, sizeof code, "%d", t->last_status ? t->last_status : 500);
    rc = kh_cloudevent_set(out, "knativeerrordest", bt->subscriber.address,
                           err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(out, "knativeerrorcode", code, err);
    if (rc == KH_OK && t->last_body_len) {
        char *data = kh_base64_encode(t->last_body, t->last_body_len);
        rc = data ? kh_cloudevent_set(out, "knativeerrordata", data, err)
                  : kh_error_set(err, KH_ENOMEM, "knativeerrordata");
        free(data);
    }
    if (rc != KH_OK)
        kh_cloudevent_free(out);
    return rc;
}

/* A response body as a one-line message for records: control characters
 * become spaces, trailing blanks go. */
static void body_detail(char *out, size_t cap, const uint8_t *body,
                        size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++)
        out[n++] = body[i] < 0x20 || body[i] == 0x7f ? ' ' : (char)body[i];
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static void finish(kh_broker *b, task *t) {
    kh_error err;
    /* Queued; if it is lost to a crash the delivery simply happens again. */
    kh_broker_store_complete(b->store, t->event->seq,
                             b->triggers[t->trigger_index].key, &err);
}

/* One step of a delivery. Returns true when the task must run again (at
 * t->due_ms), false when it is finished. */
static bool process(kh_broker *b, task *t) {
    broker_trigger *bt = &b->triggers[t->trigger_index];
    const kh_delivery *policy = &bt->trigger->delivery;
    long timeout = policy->timeout_ms > 0 ? (long)policy->timeout_ms
                                          : b->default_timeout_ms;
    attempt_result r;
    char detail[160];
    if (!t->dead_letter_phase) {
        int attempt = t->attempts + 1;
        deliver(&bt->subscriber, &t->event->outgoing, timeout, &r);
        if (r.status / 100 == 2) {
            handle_reply(b, t, &bt->subscriber, &r);
            report(b, KH_BROKER_DELIVERED, t, &bt->subscriber, attempt,
                   r.status, 0, NULL);
            finish(b, t);
            return false;
        }
        t->attempts = attempt;
        remember_failure(t, &r);
        body_detail(detail, sizeof detail, r.body, r.body_len);
        if (retryable(r.status) && attempt <= policy->retry) {
            int64_t delay = kh_delivery_backoff_ms(policy, attempt);
            t->due_ms = kh_clock_wall_ms() + delay;
            kh_error err;
            kh_broker_store_record_failure(
                b->store, t->event->seq, bt->key, t->attempts, r.status,
                t->last_body, t->last_body_len, t->due_ms, &err);
            report(b, KH_BROKER_RETRY, t, &bt->subscriber, attempt, r.status,
                   delay, detail);
            return true;
        }
        if (!bt->has_dead_letter_sink) {
            report(b, KH_BROKER_DROPPED, t, &bt->subscriber, attempt,
                   r.status, 0,
                   retryable(r.status)
                       ? "retries exhausted and no dead-letter sink"
                       : "failed (not retryable) and no dead-letter sink");
            finish(b, t);
            return false;
        }
        /* On to the sink; remembered so a restart goes there directly. */
        t->dead_letter_phase = true;
        t->dead_letter_attempts = 0;
        kh_error err;
        kh_broker_store_record_failure(b->store, t->event->seq, bt->key,
                                       policy->retry + 1, t->last_status,
                                       t->last_body, t->last_body_len,
                                       kh_clock_wall_ms(), &err);
    }

    kh_cloudevent dead;
    kh_error err = {0};
    if (dead_letter_event(t, bt, &dead, &err) != KH_OK) {
        report(b, KH_BROKER_DROPPED, t, &bt->dead_letter_sink, 0, 0, 0,
               err.message);
        finish(b, t);
        return false;
    }
    int attempt = t->dead_letter_attempts + 1;
    deliver(&bt->dead_letter_sink, &dead, timeout, &r);
    kh_cloudevent_free(&dead);
    if (r.has_reply) /* a sink's reply is not routed */
        kh_cloudevent_free(&r.reply);
    if (r.status / 100 == 2) {
        report(b, KH_BROKER_DEAD_LETTERED, t, &bt->dead_letter_sink, attempt,
               r.status, 0, NULL);
        finish(b, t);
        return false;
    }
    t->dead_letter_attempts = attempt;
    body_detail(detail, sizeof detail, r.body, r.body_len);
    if (retryable(r.status) && attempt <= policy->retry) {
        int64_t delay = kh_delivery_backoff_ms(policy, attempt);
        t->due_ms = kh_clock_wall_ms() + delay;
        report(b, KH_BROKER_RETRY, t, &bt->dead_letter_sink, attempt,
               r.status, delay, detail);
        return true;
    }
    report(b, KH_BROKER_DROPPED, t, &bt->dead_letter_sink, attempt, r.status,
           0, "the dead-letter sink failed too");
    finish(b, t);
    return false;
}

static void *worker_main(void *arg) {
    kh_broker *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stopping) {
        if (b->heap_len == 0) {
            pthread_cond_wait(&b->work, &b->lock);
            continue;
        }
        int64_t due = b->heap[0]->due_ms;
        if (due > kh_clock_wall_ms()) {
            struct timespec until = deadline_at(due);
            pthread_cond_timedwait(&b->work, &b->lock, &until);
            continue;
        }
        task *t = heap_pop(b);
        pthread_mutex_unlock(&b->lock);
        bool again = process(b, t);
        pthread_mutex_lock(&b->lock);
        if (again && heap_push(b, t) == KH_OK) {
            pthread_cond_signal(&b->work);
        } else {
            /* Done; or out of memory requeueing: the store still has it. */
            task_free(t);
            b->pending--;
            pthread_cond_broadcast(&b->idle);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* ------------------------------------------------------- start, stop */

static char *dup_printf(const char *fmt, const char *a, const char *b2) {
    size_t n = strlen(fmt) + strlen(a) + strlen(b2) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b2);
    return s;
}

static int lookup_url(void *user, const kh_destination *dest, char **url,
                      kh_error *err) {
    const kh_broker_options *opts = user;
    for (size_t i = 0; i < opts->n_subscribers; i++) {
        const kh_broker_subscriber *s = &opts->subscribers[i];
        if (s->name && s->url && strcmp(s->name, dest->ref_name) == 0) {
            *url = strdup(s->url);
            return *url ? KH_OK : kh_error_set(err, KH_ENOMEM, "url");
        }
    }
    return kh_error_set(err, KH_ENOTFOUND, "no address for %s '%s'",
                        dest->ref_kind ? dest->ref_kind : "ref",
                        dest->ref_name);
}

static int resolve_target(const kh_broker_options *opts,
                          const kh_destination *dest, target *out,
                          kh_error *err) {
    memset(out, 0, sizeof *out);
    if (dest->ref_name) {
        for (size_t i = 0; i < opts->n_subscribers; i++) {
            const kh_broker_subscriber *s = &opts->subscribers[i];
            if (s->name && s->function &&
                strcmp(s->name, dest->ref_name) == 0) {
                out->function = s->function;
                out->function_user = s->function_user;
                out->address = dup_printf("in-process:%s%s", s->name, "");
                return out->address
                           ? KH_OK
                           : kh_error_set(err, KH_ENOMEM, "subscriber");
            }
        }
    }
    int rc = kh_destination_resolve_url(dest, lookup_url, (void *)opts,
                                        &out->url, err);
    if (rc != KH_OK)
        return rc;
    out->address = strdup(out->url);
    if (!out->address) {
        target_free(out);
        return kh_error_set(err, KH_ENOMEM, "subscriber");
    }
    return KH_OK;
}

static int build_triggers(kh_broker *b, kh_error *err) {
    const kh_trigger_set *set = b->opts.triggers;
    size_t n = set ? set->count : 0;
    b->triggers = calloc(n ? n : 1, sizeof *b->triggers);
    if (!b->triggers)
        return kh_error_set(err, KH_ENOMEM, "broker triggers");
    for (size_t i = 0; i < n; i++) {
        const kh_trigger *t = &set->triggers[i];
        if (strcmp(t->broker, b->name) != 0)
            continue;
        if (b->namespace_name &&
            strcmp(t->namespace_name, b->namespace_name) != 0)
            continue;
        broker_trigger *bt = &b->triggers[b->n_triggers];
        bt->trigger = t;
        bt->key = dup_printf("%s/%s", t->namespace_name, t->name);
        if (!bt->key)
            return kh_error_set(err, KH_ENOMEM, "broker triggers");
        b->n_triggers++;
        int rc = resolve_target(&b->opts, &t->subscriber, &bt->subscriber,
                                err);
        if (rc != KH_OK)
            return kh_error_prefix(
                err,
                "trigger %s (%s:%d): subscriber (give its address with "
                "--subscriber NAME=URL)",
                bt->key, t->source_file ? t->source_file : "?",
                t->source_line);
        if (t->delivery.has_dead_letter_sink) {
            rc = resolve_target(&b->opts, &t->delivery.dead_letter_sink,
                                &bt->dead_letter_sink, err);
            if (rc != KH_OK)
                return kh_error_prefix(err,
                                       "trigger %s: dead-letter sink",
                                       bt->key);
            bt->has_dead_letter_sink = true;
        }
    }
    return KH_OK;
}

static broker_trigger *trigger_by_key(kh_broker *b, const char *key,
                                      size_t *index) {
    for (size_t i = 0; i < b->n_triggers; i++)
        if (strcmp(b->triggers[i].key, key) == 0) {
            *index = i;
            return &b->triggers[i];
        }
    return NULL;
}

/* Pending rows are read first and acted on afterwards: the store's reader
 * holds its connection while visiting. */
typedef struct pending_row {
    int64_t seq;
    char *key;
    int attempts;
    int last_status;
    uint8_t *body;
    size_t body_len;
    int64_t next_ms;
} pending_row;

typedef struct pending_rows {
    pending_row *rows;
    size_t n, cap;
    bool failed;
} pending_rows;

static int collect_pending(void *user, const kh_pending_delivery *d) {
    pending_rows *p = user;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        pending_row *grown = realloc(p->rows, cap * sizeof *grown);
        if (!grown) {
            p->failed = true;
            return 1;
        }
        p->rows = grown;
        p->cap = cap;
    }
    pending_row *row = &p->rows[p->n];
    memset(row, 0, sizeof *row);
    row->seq = d->seq;
    row->key = strdup(d->trigger_key);
    row->attempts = d->attempts;
    row->last_status = d->last_status;
    row->next_ms = d->next_ms;
    if (d->last_body_len && (row->body = malloc(d->last_body_len))) {
        memcpy(row->body, d->last_body, d->last_body_len);
        row->body_len = d->last_body_len;
    }
    if (!row->key) {
        p->failed = true;
        return 1;
    }
    p->n++;
    return 0;
}

static int recover(kh_broker *b, kh_error *err) {
    pending_rows p = {0};
    int rc = kh_broker_store_pending(b->store, collect_pending, &p, err);
    if (rc == 1 || p.failed)
        rc = kh_error_set(err, KH_ENOMEM, "reading pending deliveries");
    shared_event *current = NULL;
    for (size_t i = 0; rc == KH_OK && i < p.n; i++) {
        pending_row *row = &p.rows[i];
        if (!current || current->seq != row->seq) {
            shared_event_release(current);
            current = calloc(1, sizeof *current);
            if (!current) {
                rc = kh_error_set(err, KH_ENOMEM, "recovering deliveries");
                break;
            }
            atomic_init(&current->refs, 1);
            current->seq = row->seq;
            kh_error load_err = {0};
            int lrc = kh_broker_store_load_event(b->store, row->seq,
                                                 &current->stored, &load_err);
            if (lrc == KH_OK)
                lrc = kh_cloudevent_copy(&current->outgoing, &current->stored,
                                         &load_err);
            if (lrc == KH_OK)
                lrc = kh_cloudevent_set(&current->outgoing,
                                        KH_BROKER_TTL_EXTENSION, NULL,
                                        &load_err);
            long ttl = read_ttl(&current->stored);
            current->ttl = ttl > 0 ? (int)ttl : KH_BROKER_DEFAULT_TTL;
            if (lrc != KH_OK) {
                /* Unreadable: nothing can be delivered; say so once per
                 * delivery and clear the rows. */
                task orphan = {.event = current};
                size_t index = 0;
                for (size_t j = i; j < p.n && p.rows[j].seq == row->seq;
                     j++) {
                    if (trigger_by_key(b, p.rows[j].key, &index)) {
                        orphan.trigger_index = index;
                        report(b, KH_BROKER_DROPPED, &orphan, NULL, 0, 0, 0,
                               load_err.message);
                    }
                    kh_broker_store_complete(b->store, row->seq,
                                             p.rows[j].key, err);
                    i = j;
                }
                continue;
            }
        }
        size_t index = 0;
        broker_trigger *bt = trigger_by_key(b, row->key, &index);
        if (!bt) {
            /* The trigger was removed while this waited: nothing to deliver
             * to. */
            pthread_mutex_lock(&b->lock);
            b->stats.dropped++;
            pthread_mutex_unlock(&b->lock);
            if (b->opts.on_record) {
                kh_broker_record record = {
                    .outcome = KH_BROKER_DROPPED,
                    .seq = row->seq,
                    .event_id = current->stored.id,
                    .event_type = current->stored.type,
                    .trigger = row->key,
                    .target = "",
                    .detail = "the trigger no longer exists",
                };
                b->opts.on_record(b->opts.record_user, &record);
            }
            kh_broker_store_complete(b->store, row->seq, row->key, err);
            continue;
        }
        task *t = calloc(1, sizeof *t);
        if (!t) {
            rc = kh_error_set(err, KH_ENOMEM, "recovering deliveries");
            break;
        }
        t->event = current;
        atomic_fetch_add(&current->refs, 1);
        t->trigger_index = index;
        t->attempts = row->attempts;
        t->dead_letter_phase = row->attempts > bt->trigger->delivery.retry;
        t->last_status = row->last_status;
        t->last_body = row->body;
        t->last_body_len = row->body_len;
        row->body = NULL;
        /* Due at once: a restart often follows a fix, and the stored time
         * may be far away. The attempt count is kept. */
        t->due_ms = kh_clock_wall_ms();
        pthread_mutex_lock(&b->lock);
        if (heap_push(b, t) == KH_OK) {
            b->pending++;
            b->stats.recovered++;
        } else {
            rc = kh_error_set(err, KH_ENOMEM, "recovering deliveries");
        }
        pthread_mutex_unlock(&b->lock);
        if (rc != KH_OK)
            task_free(t);
    }
    shared_event_release(current);
    for (size_t i = 0; i < p.n; i++) {
        free(p.rows[i].key);
        free(p.rows[i].body);
    }
    free(p.rows);
    return rc;
}

static void broker_free(kh_broker *b) {
    if (!b)
        return;
    for (size_t i = 0; i < b->heap_len; i++)
        task_free(b->heap[i]);
    free(b->heap);
    kh_broker_store_close(b->store);
    for (size_t i = 0; i < b->n_triggers; i++) {
        free(b->triggers[i].key);
        target_free(&b->triggers[i].subscriber);
        target_free(&b->triggers[i].dead_letter_sink);
    }
    free(b->triggers);
    free(b->threads);
    free(b->name);
    free(b->namespace_name);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->idle);
    free(b);
}

int kh_broker_start(const kh_broker_options *opts, kh_broker **out,
                    kh_error *err) {
    *out = NULL;
    if (!opts || !opts->store_path)
        return kh_error_set(err, KH_EINVAL, "broker: a store path is needed");
    for (size_t i = 0; i < opts->n_subscribers; i++) {
        const kh_broker_subscriber *s = &opts->subscribers[i];
        if (!s->name || !*s->name || (!s->url == !s->function))
            return kh_error_set(err, KH_EINVAL,
                                "broker: subscriber %zu ('%s') needs a name "
                                "and exactly one of url and function",
                                i, s->name ? s->name : "");
    }
    kh_broker *b = calloc(1, sizeof *b);
    if (!b)
        return kh_error_set(err, KH_ENOMEM, "broker");
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->idle, NULL);
    b->opts = *opts;
    b->name = strdup(opts->name ? opts->name : "default");
    b->namespace_name = opts->namespace_name ? strdup(opts->namespace_name)
                                             : NULL;
    b->default_timeout_ms =
        opts->default_timeout_ms > 0 ? opts->default_timeout_ms
                                     : DEFAULT_TIMEOUT_MS;
    b->max_pending = opts->max_pending ? opts->max_pending
                                       : DEFAULT_MAX_PENDING;
    int rc = KH_OK;
    if (!b->name || (opts->namespace_name && !b->namespace_name))
        rc = kh_error_set(err, KH_ENOMEM, "broker");
    if (rc == KH_OK)
        rc = build_triggers(b, err);
    if (rc == KH_OK)
        rc = kh_broker_store_open(opts->store_path, opts->sync, &b->store,
                                  err);
    if (rc == KH_OK)
        rc = recover(b, err);
    int workers = opts->workers > 0 ? opts->workers : DEFAULT_WORKERS;
    if (rc == KH_OK && !(b->threads = calloc((size_t)workers,
                                             sizeof *b->threads)))
        rc = kh_error_set(err, KH_ENOMEM, "broker threads");
    for (int i = 0; rc == KH_OK && i < workers; i++) {
        if (pthread_create(&b->threads[i], NULL, worker_main, b) != 0)
            rc = kh_error_set(err, KH_EINTERNAL,
                              "broker: cannot start delivery thread %d", i);
        else
            b->n_threads++;
    }
    if (rc != KH_OK) {
        kh_broker_stop(b);
        return rc;
    }
    *out = b;
    return KH_OK;
}

void kh_broker_drain(kh_broker *b) {
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->n_threads; i++)
        pthread_join(b->threads[i], NULL);
    b->n_threads = 0;
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    while (b->active_ingests > 0)
        pthread_cond_wait(&b->idle, &b->lock);
    /* What is left waits in the store for the next start. */
    for (size_t i = 0; i < b->heap_len; i++)
        task_free(b->heap[i]);
    b->heap_len = 0;
    pthread_mutex_unlock(&b->lock);
}

void kh_broker_stop(kh_broker *b) {
    if (!b)
        return;
    kh_broker_drain(b);
    broker_free(b);
}

int kh_broker_wait_idle(kh_broker *b, long timeout_ms, kh_error *err) {
    struct timespec until = deadline_at(kh_clock_wall_ms() + timeout_ms);
    pthread_mutex_lock(&b->lock);
    int rc = KH_OK;
    while (b->pending > 0 && rc == KH_OK)
        if (pthread_cond_timedwait(&b->idle, &b->lock, &until) == ETIMEDOUT &&
            b->pending > 0)
            rc = kh_error_set(err, KH_ETIMEOUT,
                              "broker: %zu deliveries still pending after "
                              "%ld ms",
                              b->pending, timeout_ms);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void kh_broker_get_stats(kh_broker *b, kh_broker_stats *stats) {
    pthread_mutex_lock(&b->lock);
    *stats = b->stats;
    stats->pending = b->pending;
    pthread_mutex_unlock(&b->lock);
}

/* -------------------------------------------------------- HTTP ingress */

/* "/" or "/<namespace>/<broker>" (one trailing slash tolerated). */
static bool path_is_ours(const kh_broker *b, const char *path) {
    if (!path || path[0] != '/')
        return false;
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        len--;
    if (len <= 1)
        return true;
    const char *ns = path + 1;
    const char *slash = memchr(ns, '/', len - 1);
    if (!slash || slash == ns)
        return false;
    size_t ns_len = (size_t)(slash - ns);
    const char *name = slash + 1;
    size_t name_len = (size_t)(path + len - name);
    if (name_len == 0 || memchr(name, '/', name_len))
        return false;
    if (strlen(b->name) != name_len || memcmp(b->name, name, name_len) != 0)
        return false;
    if (b->namespace_name && (strlen(b->namespace_name) != ns_len ||
                              memcmp(b->namespace_name, ns, ns_len) != 0))
        return false;
    return true;
}

void kh_broker_http_handler(void *user, const kh_http_request *req,
                            kh_http_response *res) {
    kh_broker *b = user;
    const char *method = req->method ? req->method : "";
    const char *path = req->path ? req->path : "";
    if (strcmp(path, "/healthz") == 0 &&
        (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
        kh_http_response_set(res, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (strcmp(path, "/stats") == 0 && strcmp(method, "GET") == 0) {
        kh_broker_stats s;
        kh_broker_get_stats(b, &s);
        char json[512];
        int n = snprintf(
            json, sizeof json,
            "{\"accepted\":%llu,\"unmatched\":%llu,\"delivered\":%llu,"
            "\"retries\":%llu,\"dead_lettered\":%llu,\"dropped\":%llu,"
            "\"replies\":%llu,\"replies_dropped\":%llu,\"recovered\":%llu,"
            "\"pending\":%zu}\n",
            (unsigned long long)s.accepted, (unsigned long long)s.unmatched,
            (unsigned long long)s.delivered, (unsigned long long)s.retries,
            (unsigned long long)s.dead_lettered,
            (unsigned long long)s.dropped, (unsigned long long)s.replies,
            (unsigned long long)s.replies_dropped,
            (unsigned long long)s.recovered, s.pending);
        kh_http_response_set(res, 200, "application/json", json,
                             n > 0 ? (size_t)n : 0);
        return;
    }
    if (strcmp(method, "OPTIONS") == 0) {
        /* The CloudEvents webhook handshake Knative's ingress answers. */
        res->status = 200;
        kh_http_response_header(res, "Allow", "POST, OPTIONS");
        kh_http_response_header(res, "WebHook-Allowed-Origin", "*");
        kh_http_response_header(res, "WebHook-Allowed-Rate", "*");
        return;
    }
    if (strcmp(method, "POST") != 0) {
        kh_http_response_error(res, 405, "%s is not allowed: POST events",
                               method);
        kh_http_response_header(res, "Allow", "POST, OPTIONS");
        return;
    }
    if (!path_is_ours(b, path)) {
        kh_http_response_error(res, 404,
                               "no broker at %s (POST to / or /<namespace>/"
                               "%s)",
                               path, b->name);
        return;
    }
    kh_cloudevent *events = NULL;
    size_t count = 0;
    kh_ce_mode mode = KH_CE_MODE_UNKNOWN;
    kh_error err = {0};
    int rc = kh_ce_http_decode(req, &events, &count, &mode, &err);
    if (rc != KH_OK) {
        kh_http_response_error(res, kh_ce_http_status_for_decode(rc), "%s",
                               err.message);
        return;
    }
    if (mode == KH_CE_MODE_BATCH || count != 1) {
        kh_cloudevents_free(events, count);
        kh_http_response_error(res, 400,
                               "batched mode is not accepted by the broker "
                               "ingress: send one event per request");
        return;
    }
    rc = kh_broker_ingest(b, &events[0], &err);
    kh_cloudevents_free(events, count);
    switch (rc) {
    case KH_OK:
        res->status = 202;
        return;
    case KH_EINVAL:
    case KH_EFORMAT:
        kh_http_response_error(res, 400, "%s", err.message);
        return;
    case KH_ELIMIT:
    case KH_ESTATE:
        kh_http_response_error(res, 503, "%s", err.message);
        kh_http_response_header(res, "Retry-After", "1");
        return;
    default:
        kh_http_response_error(res, 500, "%s", err.message);
        return;
    }
}
