/* event_data.c - reading and writing the JSON data of khappy's events.
 * Event data comes from outside (any producer may post to the broker), so
 * every field is checked before a service acts on it. */
#include "services/event_data.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/obs.h"
#include "storage/blob.h"

/* Larger event data is refused before parsing. */
#define MAX_DATA_BYTES (1u << 20)

void kh__payload_init(kh_event_payload *p) {
    memset(p, 0, sizeof *p);
    p->face_count = -1;
}

bool kh__event_is(const kh_cloudevent *ev, const char *type) {
    return ev->type && strcmp(ev->type, type) == 0;
}

/* ---- decoding ------------------------------------------------------------- */

static int copy_string(json_t *obj, const char *field, char *out, size_t size,
                       bool required, kh_error *err) {
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (required)
            return kh_error_set(err, KH_EINVAL, "event data: '%s' is missing",
                                field);
        out[0] = '\0';
        return KH_OK;
    }
    if (!json_is_string(v))
        return kh_error_set(err, KH_EINVAL, "event data: '%s' is not a string",
                            field);
    size_t len = json_string_length(v);
    if (len >= size || strlen(json_string_value(v)) != len)
        return kh_error_set(err, KH_EINVAL, "event data: '%s' is longer than "
                            "%zu bytes or holds NUL", field, size - 1);
    memcpy(out, json_string_value(v), len + 1);
    return KH_OK;
}

/* An integer in [min, max]; absent leaves *out as it is. */
static int read_int(json_t *obj, const char *field, int64_t min, int64_t max,
                    bool required, int64_t *out, kh_error *err) {
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (required)
            return kh_error_set(err, KH_EINVAL, "event data: '%s' is missing",
                                field);
        return KH_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max)
        return kh_error_set(err, KH_EINVAL, "event data: '%s' is not an "
                            "integer in %lld..%lld", field, (long long)min,
                            (long long)max);
    *out = json_integer_value(v);
    return KH_OK;
}

static int read_number(json_t *v, const char *what, float *out,
                       kh_error *err) {
    if (!json_is_number(v))
        return kh_error_set(err, KH_EINVAL, "event data: %s is not a number",
                            what);
    double d = json_number_value(v);
    if (!isfinite(d) || fabs(d) > 1e9)
        return kh_error_set(err, KH_EINVAL, "event data: %s is out of range",
                            what);
    *out = (float)d;
    return KH_OK;
}

static int decode_picture(json_t *root, kh_picture_ref *pic, kh_error *err) {
    json_t *obj = json_object_get(root, "picture");
    if (!json_is_object(obj))
        return kh_error_set(err, KH_EINVAL, "event data: 'picture' is missing "
                            "or not an object");
    char id[KH_ID_MAX];
    int rc = copy_string(obj, "id", id, sizeof id, true, err);
    if (rc != KH_OK)
        return rc;
    if (!kh_store_id_valid(id))
        return kh_error_set(err, KH_EINVAL, "event data: picture id '%.80s' is "
                            "not 1..63 characters of [A-Za-z0-9_-]", id);
    memcpy(pic->id, id, sizeof id);
    /* From here on a failure can still be reported against the picture. */
    if (json_object_get(obj, "url"))
        return kh_error_set(err, KH_EINVAL, "picture %s: picture URLs are not "
                            "read, only keys of the blob store", id);
    json_t *key = json_object_get(obj, "key");
    if (key && !json_is_null(key)) {
        if (!json_is_string(key) || !kh_blob_key_valid(json_string_value(key)))
            return kh_error_set(err, KH_EINVAL, "picture %s: key '%.100s' is "
                                "not a key of the blob store (relative, "
                                "[a-z0-9/._-], no '..')",
                                id, json_is_string(key)
                                        ? json_string_value(key) : "?");
        snprintf(pic->key, sizeof pic->key, "%s", json_string_value(key));
    }
    int64_t size = 0, width = 0, height = 0;
    if ((rc = copy_string(obj, "name", pic->name, sizeof pic->name, false,
                          err)) != KH_OK ||
        (rc = copy_string(obj, "content_type", pic->content_type,
                          sizeof pic->content_type, false, err)) != KH_OK ||
        (rc = read_int(obj, "size", 0, INT64_C(1) << 40, false, &size,
                       err)) != KH_OK ||
        (rc = read_int(obj, "width", 0, 1 << 20, false, &width, err)) !=
            KH_OK ||
        (rc = read_int(obj, "height", 0, 1 << 20, false, &height, err)) !=
            KH_OK)
        return kh_error_prefix(err, "picture %s", id);
    pic->size = size;
    pic->width = (int)width;
    pic->height = (int)height;
    return KH_OK;
}

/* Detector and model names end up in event ids and blob keys. */
static bool name_is_simple(const char *name) {
    if (!name[0])
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return false;
    return true;
}

static int decode_face(json_t *root, kh_event_payload *p, kh_error *err) {
    json_t *obj = json_object_get(root, "face");
    if (!obj || json_is_null(obj))
        return KH_OK;
    if (!json_is_object(obj))
        return kh_error_set(err, KH_EINVAL, "event data: 'face' is not an "
                            "object");
    int64_t index = 0;
    int rc = read_int(obj, "index", 0, 1000000, true, &index, err);
    if (rc != KH_OK)
        return rc;
    p->face_index = (int)index;
    json_t *box = json_object_get(obj, "box");
    if (!json_is_array(box) || json_array_size(box) != 4)
        return kh_error_set(err, KH_EINVAL, "event data: face box is not "
                            "[x, y, width, height]");
    float v[4];
    for (size_t i = 0; i < 4; i++)
        if ((rc = read_number(json_array_get(box, i), "a face box value",
                              &v[i], err)) != KH_OK)
            return rc;
    if (v[2] < 0 || v[3] < 0)
        return kh_error_set(err, KH_EINVAL, "event data: face box has a "
                            "negative size");
    p->face.box = (kh_box){v[0], v[1], v[2], v[3]};
    if ((rc = read_number(json_object_get(obj, "score"), "face score",
                          &p->face.score, err)) != KH_OK)
        return rc;
    if ((rc = copy_string(obj, "detector", p->face.detector,
                          sizeof p->face.detector, true, err)) != KH_OK)
        return rc;
    if (!name_is_simple(p->face.detector))
        return kh_error_set(err, KH_EINVAL, "event data: face detector name "
                            "'%.40s' is not 1..31 of [a-z0-9_-]",
                            p->face.detector);
    p->has_face = true;
    return KH_OK;
}

static int decode_crop(json_t *root, kh_event_payload *p, kh_error *err) {
    json_t *obj = json_object_get(root, "crop");
    if (!obj || json_is_null(obj))
        return KH_OK;
    if (!json_is_object(obj))
        return kh_error_set(err, KH_EINVAL, "event data: 'crop' is not an "
                            "object");
    int rc = copy_string(obj, "key", p->crop_key, sizeof p->crop_key, true,
                         err);
    if (rc != KH_OK)
        return rc;
    if (!kh_blob_key_valid(p->crop_key))
        return kh_error_set(err, KH_EINVAL, "event data: crop key '%.100s' is "
                            "not a key of the blob store", p->crop_key);
    int64_t w = 0, h = 0;
    if ((rc = read_int(obj, "width", 0, 1 << 20, false, &w, err)) != KH_OK ||
        (rc = read_int(obj, "height", 0, 1 << 20, false, &h, err)) != KH_OK)
        return rc;
    p->crop_width = (int)w;
    p->crop_height = (int)h;
    p->has_crop = true;
    return KH_OK;
}

static int decode_scores(json_t *root, kh_event_payload *p, kh_error *err) {
    json_t *obj = json_object_get(root, "emotions");
    if (!obj || json_is_null(obj))
        return KH_OK;
    if (!json_is_object(obj))
        return kh_error_set(err, KH_EINVAL, "event data: 'emotions' is not an "
                            "object");
    int rc = copy_string(root, "model", p->scores.model,
                         sizeof p->scores.model, true, err);
    if (rc != KH_OK)
        return rc;
    if (!name_is_simple(p->scores.model))
        return kh_error_set(err, KH_EINVAL, "event data: model name '%.40s' "
                            "is not 1..31 of [a-z0-9_-]", p->scores.model);
    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value) {
        kh_emotion e = kh_emotion_from_name(name);
        if (e == KH_EMOTION_COUNT)
            return kh_error_set(err, KH_EINVAL, "event data: '%.40s' is not "
                                "an emotion", name);
        float score;
        if ((rc = read_number(value, name, &score, err)) != KH_OK)
            return rc;
        p->scores.p[e] = score;
        p->scores.present[e] = true;
    }
    p->has_scores = true;
    return KH_OK;
}

int kh__payload_decode(const kh_cloudevent *ev, kh_event_payload *p,
                       kh_error *err) {
    kh__payload_init(p);
    if (!ev->data || ev->data_len == 0)
        return kh_error_set(err, KH_EFORMAT, "event %s: no data",
                            ev->id ? ev->id : "?");
    if (ev->data_len > MAX_DATA_BYTES)
        return kh_error_set(err, KH_ELIMIT, "event %s: data of %zu bytes, "
                            "more than %u", ev->id, ev->data_len,
                            MAX_DATA_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->data, ev->data_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return kh_error_set(err, KH_EFORMAT, "event %s: data is not a JSON "
                            "object%s%s", ev->id, root ? "" : ": ",
                            root ? "" : jerr.text);
    }
    int rc = decode_picture(root, &p->picture, err);
    int64_t count = -1;
    if (rc == KH_OK)
        rc = read_int(root, "faces", 0, 1000000, false, &count, err);
    p->face_count = (int)count;
    if (rc == KH_OK)
        rc = decode_face(root, p, err);
    if (rc == KH_OK)
        rc = decode_crop(root, p, err);
    if (rc == KH_OK)
        rc = decode_scores(root, p, err);
    if (rc == KH_OK)
        rc = copy_string(root, "detector", p->detector, sizeof p->detector,
                         false, err);
    if (rc == KH_OK)
        rc = copy_string(root, "error", p->error, sizeof p->error, false, err);
    json_decref(root);
    if (rc != KH_OK && ev->id)
        kh_error_prefix(err, "event %.100s", ev->id);
    return rc;
}

/* ---- encoding ------------------------------------------------------------- */

static int set_new(json_t *obj, const char *key, json_t *value) {
    return value ? json_object_set_new(obj, key, value) : -1;
}

static json_t *picture_json(const kh_picture_ref *pic) {
    json_t *o = json_object();
    int bad = !o || set_new(o, "id", json_string(pic->id));
    if (pic->key[0])
        bad |= set_new(o, "key", json_string(pic->key));
    if (pic->name[0])
        bad |= set_new(o, "name", json_string(pic->name));
    if (pic->content_type[0])
        bad |= set_new(o, "content_type", json_string(pic->content_type));
    if (pic->size > 0)
        bad |= set_new(o, "size", json_integer(pic->size));
    if (pic->width > 0 && pic->height > 0) {
        bad |= set_new(o, "width", json_integer(pic->width));
        bad |= set_new(o, "height", json_integer(pic->height));
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Floats go out with 9 significant digits (JSON_REAL_PRECISION at dump):
 * enough to read back the very same float, so that a box or a score is the
 * same number in every service and in the store. */
static json_t *real(float v) { return json_real((double)v); }

static json_t *payload_json(const kh_event_payload *p) {
    json_t *root = json_object();
    int bad = !root || set_new(root, "picture", picture_json(&p->picture));
    if (p->face_count >= 0)
        bad |= set_new(root, "faces", json_integer(p->face_count));
    if (p->has_face) {
        const kh_box *b = &p->face.box;
        json_t *face = json_object();
        json_t *box = json_pack("[ffff]", (double)b->x, (double)b->y,
                                (double)b->w, (double)b->h);
        bad |= !face || set_new(face, "index", json_integer(p->face_index)) ||
               set_new(face, "box", box) ||
               set_new(face, "score", real(p->face.score)) ||
               set_new(face, "detector", json_string(p->face.detector));
        bad |= set_new(root, "face", face);
    }
    if (p->has_crop) {
        json_t *crop = json_object();
        bad |= !crop || set_new(crop, "key", json_string(p->crop_key)) ||
               set_new(crop, "width", json_integer(p->crop_width)) ||
               set_new(crop, "height", json_integer(p->crop_height));
        bad |= set_new(root, "crop", crop);
    }
    if (p->has_scores) {
        json_t *emotions = json_object();
        bad |= !emotions;
        for (int e = 0; e < KH_EMOTION_COUNT && !bad; e++)
            if (p->scores.present[e])
                bad |= set_new(emotions, kh_emotion_name((kh_emotion)e),
                               real(p->scores.p[e]));
        bad |= set_new(root, "emotions", emotions);
        bad |= set_new(root, "model", json_string(p->scores.model));
    }
    if (p->detector[0])
        bad |= set_new(root, "detector", json_string(p->detector));
    if (p->error[0])
        bad |= set_new(root, "error", json_string(p->error));
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static void now_rfc3339(char out[64]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

int kh__event_build(kh_cloudevent *ev, const char *id, const char *type,
                    const char *source, const kh_cloudevent *cause,
                    const kh_span *span, const kh_event_payload *p,
                    bool face_element, kh_error *err) {
    kh_cloudevent_init(ev);
    json_t *root = payload_json(p);
    char *text =
        root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    if (!text)
        return kh_error_set(err, KH_ENOMEM, "event %s: out of memory "
                            "encoding its data", id);
    char time_text[64];
    now_rfc3339(time_text);
    int rc = kh_cloudevent_set(ev, "specversion", "1.0", err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(ev, "id", id, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(ev, "type", type, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(ev, "source", source, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(ev, "time", time_text, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set(ev, KH_EXT_PICTURE_ID, p->picture.id, err);
    if (rc == KH_OK && face_element)
        rc = kh_cloudevent_set(ev, KH_EXT_ELEMENT, "face", err);
    /* One trace from ingestion to report: the cause's context, replaced by
     * this service's span (its child) when tracing is on. */
    static const char *const carried[] = {KH_EXT_TRACEPARENT, "tracestate"};
    for (size_t i = 0; i < 2 && rc == KH_OK && cause; i++) {
        const char *value = kh_cloudevent_get(cause, carried[i]);
        if (value)
            rc = kh_cloudevent_set(ev, carried[i], value, err);
    }
    if (rc == KH_OK)
        rc = kh_obs_inject_event(ev, span, err);
    if (rc == KH_OK)
        rc = kh_cloudevent_set_data(ev, text, strlen(text), "application/json",
                                    err);
    free(text);
    return rc;
}

void kh__face_event_id(const kh_event_payload *p, const char *suffix,
                       char id[KH_EVENT_ID_MAX]) {
    snprintf(id, KH_EVENT_ID_MAX, "%s.%s.face.%d%s", p->picture.id,
             p->face.detector, p->face_index, suffix);
}

int kh__deliver_reply(kh_cloudevent *event, kh_cloudevent *reply,
                      const kh_event_sink *sink, kh_error *err) {
    int rc = KH_OK;
    if (reply) {
        kh_cloudevent_free(reply);
        *reply = *event; /* moves the members */
        kh_cloudevent_init(event);
    } else if (sink && sink->send) {
        rc = sink->send(sink->user, event, err);
        if (rc != KH_OK)
            rc = 503; /* the event is not out: have the delivery repeated */
    }
    kh_cloudevent_free(event);
    return rc;
}

int kh__reply_failed(const char *stage, const char *source,
                     const kh_cloudevent *cause, const kh_span *span,
                     const kh_event_payload *p, const char *message,
                     kh_cloudevent *reply, const kh_event_sink *sink,
                     kh_error *err) {
    kh_event_payload failed;
    kh__payload_init(&failed);
    failed.picture = p->picture;
    snprintf(failed.error, sizeof failed.error, "%s", message);
    char id[KH_EVENT_ID_MAX];
    snprintf(id, sizeof id, "%s.%s.failed", p->picture.id, stage);
    kh_cloudevent ev;
    int rc = kh__event_build(&ev, id, KH_EVENT_PICTURE_FAILED, source, cause,
                             span, &failed, false, err);
    if (rc != KH_OK) {
        kh_cloudevent_free(&ev);
        return rc;
    }
    return kh__deliver_reply(&ev, reply, sink, err);
}

void kh__event_done(kh_span *span, const char *service,
                    const kh_cloudevent *in, const kh_cloudevent *reply,
                    int rc, const kh_error *err) {
    const char *message = err && err->message[0] ? err->message : "failed";
    if (rc != KH_OK) {
        kh_span_set_error(span, message);
        kh_log_event(KH_LOG_WARN, service, in, "%s: %s %d: %s",
                     in->type ? in->type : "?",
                     rc > 0 ? "answered" : "refused", rc, message);
    } else if (reply && reply->type &&
               strcmp(reply->type, KH_EVENT_PICTURE_FAILED) == 0) {
        kh_log_event(KH_LOG_WARN, service, in, "%s: picture failed",
                     in->type ? in->type : "?");
    } else {
        kh_log_event(KH_LOG_INFO, service, in, "%s: %s%s",
                     in->type ? in->type : "?",
                     reply && reply->type ? "replied " : "done",
                     reply && reply->type ? reply->type : "");
    }
    kh_span_end(span);
}
