/* ce_receiver.h - an HTTP endpoint that receives CloudEvents (a Knative
 * sink/subscriber) and answers the way Knative components expect:
 *
 *   200  the handler produced a reply event (sent back in reply_mode,
 *        binary by default)
 *   202  accepted, no reply (or 204, see no_reply_status)
 *   400  unparsable or invalid event; JSON body {"error": message}
 *   405  a method other than POST (GET /healthz answers 200)
 *   413  body over max_body_bytes (default 8 MiB)
 *   415  not a CloudEvent / an event format we do not read
 *   other  whatever the handler asked for (see kh_ce_event_handler)
 *
 * Batched requests call the handler once per event, in order, with no reply
 * slot; the first failure answers for the batch (senders retry the batch, so
 * handlers are idempotent by event source + id).
 */
#ifndef KH_EVENTS_CE_RECEIVER_H
#define KH_EVENTS_CE_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "events/ce_http.h"
#include "events/cloudevent.h"
#include "net/http.h"

/* Called for each valid event, possibly on several threads at once.
 * `reply` is an initialised, empty event (NULL for batched requests): fill
 * it (kh_cloudevent_set...) to answer 200 with it; the receiver frees it.
 * Return:
 *   KH_OK (0)          accepted (200 with the reply if one was set)
 *   100..599           answer exactly that HTTP status (e.g. 503 to make a
 *                      broker retry, 429 to slow it down); err's message,
 *                      when set, becomes the JSON error body
 *   a negative KH_E*   mapped: EINVAL/EFORMAT/ERANGE/ETYPE 400, ENOTFOUND
 *                      404, EUNSUPPORTED 415, EEXIST/ESTATE 409, ETIMEOUT
 *                      504, ENETWORK 502, anything else 500 */
typedef int (*kh_ce_event_handler)(void *user, const kh_cloudevent *in,
                                   kh_cloudevent *reply, kh_error *err);

typedef struct kh_ce_receiver_options {
    const char *bind_addr;      /* NULL: 0.0.0.0 */
    int port;                   /* 0: a free port (kh_ce_receiver_port) */
    size_t max_body_bytes;      /* 0: 8 MiB */
    int threads;                /* 0: 4 (see kh_http_server_options) */
    bool thread_per_connection; /* for handlers that block for long */
    int no_reply_status;        /* 202 (0 means 202) or 204 */
    kh_ce_mode reply_mode;      /* binary (default) or structured */
} kh_ce_receiver_options;

typedef struct kh_ce_receiver kh_ce_receiver;

int kh_ce_receiver_start(const kh_ce_receiver_options *opts,
                         kh_ce_event_handler on_event, void *user,
                         kh_ce_receiver **out, kh_error *err);
int kh_ce_receiver_port(const kh_ce_receiver *receiver);
/* Stops the server (waits for running handlers) and frees. NULL: no-op. */
void kh_ce_receiver_stop(kh_ce_receiver *receiver);

/* The receiver's answer to one request, for servers that route several
 * paths themselves (the broker ingress, a service with other endpoints).
 * The body limit is the server's business there; opts may be NULL. */
void kh_ce_receiver_handle(const kh_ce_receiver_options *opts,
                           kh_ce_event_handler on_event, void *user,
                           const kh_http_request *req, kh_http_response *res);

/* The HTTP status for a handler's return value (see kh_ce_event_handler);
 * `no_reply_status` for KH_OK. */
int kh_ce_handler_status(int rc, int no_reply_status);

#endif
