/* ce_sender.h - sends CloudEvents over HTTP (POST) and reads a reply event
 * from the response, the way a Knative source or broker delivers.
 */
#ifndef KH_EVENTS_CE_SENDER_H
#define KH_EVENTS_CE_SENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "events/ce_http.h"
#include "events/cloudevent.h"
#include "net/http.h"

/* POSTs one event to url in `mode` (binary by default) with extra headers
 * (not Content-Type nor ce-*: those are the event's; KH_EINVAL otherwise)
 * and a timeout (0: 30 s). Returns KH_OK once a response came back, whatever
 * its status (*status); network failures return KH_ENETWORK / KH_ETIMEOUT
 * naming the URL, *status 0. `reply` (may be NULL) is initialised by the
 * call and holds the reply event when a 2xx response carried one (reply->id
 * non-NULL); always kh_cloudevent_free it. An invalid reply event fails
 * with kh_ce_http_decode_message's codes, *status still set. */
int kh_ce_send(const char *url, const kh_cloudevent *event, kh_ce_mode mode,
               const kh_http_header *extra_headers, size_t n_extra_headers,
               long timeout_ms, int *status, kh_cloudevent *reply,
               kh_error *err);

/* POSTs a batch (application/cloudevents-batch+json). Same contract, no
 * reply. */
int kh_ce_send_batch(const char *url, const kh_cloudevent *events, size_t n,
                     const kh_http_header *extra_headers,
                     size_t n_extra_headers, long timeout_ms, int *status,
                     kh_error *err);

/* Like kh_ce_send but hands back the whole response (status, headers,
 * body; *res initialised by the call, kh_http_response_free it) and no
 * reply decoding: for callers that need the body of a failed delivery
 * (dead-letter extensions). */
int kh_ce_send_response(const char *url, const kh_cloudevent *events,
                        size_t n, kh_ce_mode mode,
                        const kh_http_header *extra_headers,
                        size_t n_extra_headers, long timeout_ms,
                        kh_http_response *res, kh_error *err);

#endif
