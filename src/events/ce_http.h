/* ce_http.h - the CloudEvents HTTP protocol binding (v1.0.2), both
 * directions, over the kh_http adapters.
 *
 * Modes, chosen by the receiver from Content-Type exactly as the binding
 * says: `application/cloudevents-batch+json` is batched,
 * `application/cloudevents+json` is structured (parameters such as charset
 * tolerated); any other `application/cloudevents...` type is a format we do
 * not read (unknown); anything else is binary when a `ce-specversion` header
 * is present, and not a CloudEvent otherwise (unknown).
 *
 * Binary mode: attributes and extensions in `ce-<name>` headers whose values
 * are percent-encoded (space, double quote, percent and every byte outside
 * printable ASCII; nothing else), Content-Type is datacontenttype, the body
 * is the data. Receiving, a header value is first unquoted when it is a
 * quoted-string, then percent-decoded once; bad escapes and invalid UTF-8
 * are refused.
 */
#ifndef KH_EVENTS_CE_HTTP_H
#define KH_EVENTS_CE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "events/cloudevent.h"
#include "net/http.h"

typedef enum kh_ce_mode {
    KH_CE_MODE_BINARY = 0, /* the default for sending */
    KH_CE_MODE_STRUCTURED,
    KH_CE_MODE_BATCH,
    KH_CE_MODE_UNKNOWN, /* not a CloudEvents message we can read */
} kh_ce_mode;

/* "binary", "structured", "batch", "unknown". */
const char *kh_ce_mode_name(kh_ce_mode mode);

/* The mode of a message from its Content-Type (may be NULL) and whether it
 * has a ce-specversion header. */
kh_ce_mode kh_ce_http_mode(const char *content_type, bool has_ce_specversion);

/* Decodes the events of a message (request or response). On success
 * *events is a malloc'd array of *count events (exactly 1 in binary and
 * structured mode, 0..n in batch mode; NULL when 0), freed with
 * kh_cloudevents_free; *mode (may be NULL) says which mode it was, also on
 * failure. Returns:
 *   KH_EUNSUPPORTED  not a CloudEvent / unknown format   (HTTP 415)
 *   KH_EFORMAT       unparsable: bad JSON, bad percent-encoding, invalid
 *                    UTF-8                               (HTTP 400)
 *   KH_EINVAL        parsed but not a valid event        (HTTP 400)
 *   KH_ELIMIT        too many extensions                 (HTTP 400)
 *   KH_ENOMEM                                            (HTTP 500)
 * kh_ce_http_status_for_decode() does that mapping. */
int kh_ce_http_decode_message(const kh_http_header *headers, size_t n_headers,
                              const uint8_t *body, size_t body_len,
                              kh_cloudevent **events, size_t *count,
                              kh_ce_mode *mode, kh_error *err);
int kh_ce_http_decode(const kh_http_request *req, kh_cloudevent **events,
                      size_t *count, kh_ce_mode *mode, kh_error *err);
int kh_ce_http_status_for_decode(int rc);

/* Encodes one event for sending: binary (default), structured, or a batch
 * of one. *headers (malloc'd array of *n_headers malloc'd name/value pairs,
 * free with kh_ce_http_headers_free) and *body (malloc'd, NULL when empty;
 * free()) belong to the caller. The event must be valid (KH_EINVAL). */
int kh_ce_http_encode(const kh_cloudevent *ev, kh_ce_mode mode,
                      kh_http_header **headers, size_t *n_headers,
                      uint8_t **body, size_t *body_len, kh_error *err);
/* Batched mode; same ownership. */
int kh_ce_http_encode_batch(const kh_cloudevent *events, size_t n,
                            kh_http_header **headers, size_t *n_headers,
                            uint8_t **body, size_t *body_len, kh_error *err);
void kh_ce_http_headers_free(kh_http_header *headers, size_t n);

/* Fills a response with an event (the receiver's reply): status, headers,
 * body as kh_ce_http_encode writes them (batch mode: a batch of one). */
int kh_ce_http_response_set_event(kh_http_response *res, int status,
                                  const kh_cloudevent *ev, kh_ce_mode mode,
                                  kh_error *err);

/* A 2xx response that carries an event (binary or structured) is a reply:
 * *reply is initialised by the call and filled then (*has_reply true; free
 * it with kh_cloudevent_free). Other responses are no reply. A response that
 * claims to be an event but is not a valid one fails like
 * kh_ce_http_decode_message. */
int kh_ce_http_decode_reply(const kh_http_response *res, kh_cloudevent *reply,
                            bool *has_reply, kh_error *err);

/* Header value coding, exposed for tests and other bindings.
 * Encode: malloc'd result (NULL when out of memory).
 * Decode: unquotes a quoted-string, percent-decodes once, requires UTF-8
 * and no NUL; *out malloc'd. KH_EFORMAT with the reason otherwise. */
char *kh_ce_http_header_value_encode(const char *value);
int kh_ce_http_header_value_decode(const char *header_value, char **out,
                                   kh_error *err);

#endif
