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
int kh_cloudevent_set_data(kh_cloudevent *ev, const void *data, size_t len,
                           const char *content_type, kh_error *err);

/* Required attributes present and non-empty, specversion "1.0", names of
 * extensions valid, time a valid RFC 3339 timestamp when present. */
int kh_cloudevent_validate(const kh_cloudevent *ev, kh_error *err);
/* True for a valid extension/attribute name: [a-z0-9]+. */
bool kh_cloudevent_name_valid(const char *name);

#endif
