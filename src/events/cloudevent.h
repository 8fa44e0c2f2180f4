/* cloudevent.h - the CloudEvents v1.0.2 event model. Formats and protocol
 * bindings (JSON, HTTP binary/structured/batched) are in their own headers.
 */
#ifndef KH_EVENTS_CLOUDEVENT_H
#define KH_EVENTS_CLOUDEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct kh_ce_extension {
    char *name;   /* lower-case a-z0-9, 1..20 chars recommended */
    char *value;  /* canonical string form */
} kh_ce_extension;

/* All strings owned by the event (kh_cloudevent_free). Optional attributes
 * are NULL when absent. */
typedef struct kh_cloudevent {
    char *id;
    char *source;       /* URI-reference */
    char *specversion;  /* "1.0" */
    char *type;
    char *datacontenttype;
    char *dataschema;
    char *subject;
    char *time;         /* RFC 3339 */
    kh_ce_extension *extensions;
    size_t n_extensions;
    uint8_t *data;      /* raw bytes; NULL when the event has no data */
    size_t data_len;
    bool data_is_base64_in_json; /* came as data_base64 (binary data) */
} kh_cloudevent;

void kh_cloudevent_init(kh_cloudevent *ev);
void kh_cloudevent_free(kh_cloudevent *ev); /* frees members; NULL-safe */
/* Deep copy into *dst (initialised by this call). */
int kh_cloudevent_copy(kh_cloudevent *dst, const kh_cloudevent *src,
                       kh_error *err);

/* Setters copy their arguments; value NULL removes an optional attribute or
 * extension. Unknown attribute names are extensions. */
int kh_cloudevent_set(kh_cloudevent *ev, const char *attribute,
                      const char *value, kh_error *err);
/* Any attribute or extension by name; NULL when absent. */
const char *kh_cloudevent_get(const kh_cloudevent *ev, const char *attribute);
/* Copies data (data NULL removes it; len 0 with non-NULL data is present
 * but empty). content_type non-NULL also sets datacontenttype. Clears
 * data_is_base64_in_json: the JSON format picks data or data_base64 from
 * the content type and the bytes. */
int kh_cloudevent_set_data(kh_cloudevent *ev, const void *data, size_t len,
                           const char *content_type, kh_error *err);

/* Required attributes present and non-empty, specversion "1.0", names of
 * extensions valid, time a valid RFC 3339 timestamp when present. Also:
 * optional attributes non-empty when present, every value a CloudEvents
 * String (UTF-8, no control characters), datacontenttype an RFC 2046 media
 * type, dataschema an absolute URI. KH_EINVAL with a message naming the
 * attribute. */
int kh_cloudevent_validate(const kh_cloudevent *ev, kh_error *err);
/* True for a valid extension/attribute name: [a-z0-9]+, at most
 * KH_CLOUDEVENT_NAME_MAX characters (the spec asks for 20 or fewer; longer
 * names are tolerated up to a bound every binding can carry). */
bool kh_cloudevent_name_valid(const char *name);

/* ---- Added ---- */

/* More extensions than this on one event are refused (KH_ELIMIT): every
 * look-up is linear, and hostile input must not make it quadratic. */
#define KH_CLOUDEVENT_MAX_EXTENSIONS 128
/* Longest attribute name accepted. */
#define KH_CLOUDEVENT_NAME_MAX 64

/* True for the eight attributes the spec defines (id, source, specversion,
 * type, datacontenttype, dataschema, subject, time). */
bool kh_cloudevent_is_core_attribute(const char *name);

/* Frees `n` events and the array itself (from the batch decoders). NULL is
 * a no-op. */
void kh_cloudevents_free(kh_cloudevent *events, size_t n);

#endif
