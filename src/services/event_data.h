/* event_data.h - the JSON data of khappy's events (see services.h) and the
 * helpers every service uses to read an event and build the ones it emits.
 * Internal to kh_services. */
#ifndef KH_SERVICES_EVENT_DATA_H
#define KH_SERVICES_EVENT_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/domain.h"
#include "common/error.h"
#include "events/cloudevent.h"
#include "obs/trace.h"
#include "services/services.h"
#include "storage/blob.h"
#include "storage/storage.h"

/* The picture an event is about. Strings "" when absent; numbers 0. */
typedef struct kh_picture_ref {
    char id[KH_ID_MAX];
    char key[KH_BLOB_KEY_MAX];
    char name[KH_FILE_NAME_MAX];
    char content_type[KH_CONTENT_TYPE_MAX];
    int64_t size;
    int width, height;
} kh_picture_ref;

/* Everything an event's data may hold; has_* say what it held. */
typedef struct kh_event_payload {
    kh_picture_ref picture;
    int face_count;              /* "faces"; -1 when absent */
    bool has_face;
    int face_index;
    kh_face face;
    bool has_crop;
    char crop_key[KH_BLOB_KEY_MAX];
    int crop_width, crop_height;
    bool has_scores;
    kh_emotion_scores scores;    /* scores.model is "model" */
    char detector[KH_NAME_MAX];  /* picture.detected's "detector" */
    char error[KH_STORE_MESSAGE_MAX];
} kh_event_payload;

void kh__payload_init(kh_event_payload *p);

/* Reads an event's JSON data into p. Every field is checked: the picture id
 * (kh_store_id_valid), keys (kh_blob_key_valid: no "..", no absolute path,
 * no URL), finite numbers, non-negative boxes, canonical emotion names.
 * On failure p->picture.id still holds the picture id when that much was
 * valid, so that the caller can mark the picture failed. KH_EFORMAT for
 * data that is not a JSON object, KH_EINVAL for a bad field. */
int kh__payload_decode(const kh_cloudevent *ev, kh_event_payload *p,
                       kh_error *err);

/* Builds an event: id, type, source, data (p as JSON), the pictureid
 * extension, element=face when face_element, time now, and the trace
 * context: `span`'s when there is one (kh_obs_inject_event), else the one
 * of `cause` (may be NULL), else a new trace. *ev is initialised by the
 * call; kh_cloudevent_free it, also on failure. */
int kh__event_build(kh_cloudevent *ev, const char *id, const char *type,
                    const char *source, const kh_cloudevent *cause,
                    const kh_span *span, const kh_event_payload *p,
                    bool face_element, kh_error *err);

/* "<picture>.<detector>.face.<index>" + suffix (may be ""), the stem of a
 * face's deterministic event ids. */
void kh__face_event_id(const kh_event_payload *p, const char *suffix,
                       char id[KH_EVENT_ID_MAX]);

/* Puts a service's answer where it goes: into reply when there is a reply
 * slot, else to the sink (batched requests). Takes the event (frees it). */
int kh__deliver_reply(kh_cloudevent *event, kh_cloudevent *reply,
                      const kh_event_sink *sink, kh_error *err);

/* A picture.failed answer for p's picture with the message. */
int kh__reply_failed(const char *stage, const char *source,
                     const kh_cloudevent *cause, const kh_span *span,
                     const kh_event_payload *p, const char *message,
                     kh_cloudevent *reply, const kh_event_sink *sink,
                     kh_error *err);

/* The end of one event's handling: a log line (info, warn for a failure or
 * a picture.failed answer), the span marked failed when rc is not KH_OK,
 * then ended. */
void kh__event_done(kh_span *span, const char *service,
                    const kh_cloudevent *in, const kh_cloudevent *reply,
                    int rc, const kh_error *err);

/* True when ev's type is `type`. */
bool kh__event_is(const kh_cloudevent *ev, const char *type);

#endif
