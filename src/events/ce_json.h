/* ce_json.h - the CloudEvents JSON event format (v1.0.2), single events
 * (application/cloudevents+json) and batches
 * (application/cloudevents-batch+json).
 *
 * Data: when datacontenttype is JSON ("application/json", "x/y+json", or
 * absent, which the format says means JSON), `data` is the JSON value
 * itself and the event holds its JSON text; otherwise `data` is a string and
 * the event holds its UTF-8 bytes; `data_base64` carries binary data (the
 * event holds the decoded bytes and data_is_base64_in_json). When encoding,
 * data that cannot be written faithfully as `data` (bytes that are not JSON
 * for a JSON type, not UTF-8 text otherwise) goes out as `data_base64`.
 * Extension values are strings; integers and booleans are accepted on input
 * and kept in their canonical string form ("10", "true").
 */
#ifndef KH_EVENTS_CE_JSON_H
#define KH_EVENTS_CE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "events/cloudevent.h"

#define KH_CE_JSON_MEDIA_TYPE "application/cloudevents+json"
#define KH_CE_JSON_BATCH_MEDIA_TYPE "application/cloudevents-batch+json"

/* True when the media type declares JSON content: subtype "json" or a
 * "+json" suffix, parameters ignored. NULL (absent) is false here; callers
 * decide what absence means. */
bool kh_ce_media_type_is_json(const char *content_type);

/* True when the bytes are one complete JSON value (any type). */
bool kh_ce_json_text_valid(const void *text, size_t len);

/* One event as a JSON object. The event must be valid (checked: KH_EINVAL
 * with the reason otherwise). *out is malloc'd and NUL-terminated, *len
 * excludes the NUL; the caller frees it. */
int kh_ce_json_encode(const kh_cloudevent *ev, char **out, size_t *len,
                      kh_error *err);
/* A batch as a JSON array (possibly empty). Same ownership. */
int kh_ce_json_encode_batch(const kh_cloudevent *events, size_t n,
                            char **out, size_t *len, kh_error *err);

/* Parses and validates one event from JSON text. *ev is initialised by the
 * call; on success the caller frees it with kh_cloudevent_free, on failure
 * there is nothing to free. KH_EFORMAT for text that is not a JSON object,
 * KH_EINVAL for an object that is not a valid event (message names the
 * member), KH_ELIMIT for too many extensions. */
int kh_ce_json_decode(const void *json, size_t len, kh_cloudevent *ev,
                      kh_error *err);
/* Parses and validates a batch: *events is a malloc'd array of *n events
 * (NULL when empty) freed with kh_cloudevents_free. Any invalid member
 * fails the whole batch, the message naming its index. */
int kh_ce_json_decode_batch(const void *json, size_t len,
                            kh_cloudevent **events, size_t *n, kh_error *err);

#endif
